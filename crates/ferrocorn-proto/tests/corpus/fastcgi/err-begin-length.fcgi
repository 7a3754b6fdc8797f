description: a BEGIN_REQUEST body of 7 bytes
expect: error BEGIN_REQUEST body of 7 bytes (must be 8)
---
# BEGIN_REQUEST id=1 len=7 pad=0
\x01\x01\x00\x01\x00\x07\x00\x00
\x00\x01\x00\x00\x00\x00\x00
