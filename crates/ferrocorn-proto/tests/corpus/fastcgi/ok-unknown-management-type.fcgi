description: a management record of an unknown type is answered UNKNOWN_TYPE
expect: control unknown_type 200
expect: control unknown_type 0
expect: partial head
---
# type 200 id=0 len=8 pad=1
\x01\xc8\x00\x00\x00\x08\x01\x00
whatever
\xaa
# type 0 id=0 len=0 pad=0
\x01\x00\x00\x00\x00\x00\x00\x00
