description: version 0
expect: error record with protocol version 0 (only FastCGI 1 exists)
---
# BEGIN_REQUEST id=1 len=8 pad=0
\x00\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
