description: BEGIN_REQUEST with the management id 0
expect: error BEGIN_REQUEST with request id 0
---
# BEGIN_REQUEST role=1 flags=0 id=0 len=8 pad=0
\x01\x01\x00\x00\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
