description: an undefined record type for the active request
expect: error record of unknown type 12
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# type 12 id=1 len=1 pad=0
\x01\x0c\x00\x01\x00\x01\x00\x00
?
