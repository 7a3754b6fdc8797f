description: five bytes of a record header
expect: partial head
---
\x01\x01\x00\x00\x00
