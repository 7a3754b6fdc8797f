description: STDOUT for the active request (only applications send it)
expect: error STDOUT record from the web server (only applications send it)
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# STDOUT id=1 len=13 pad=0
\x01\x06\x00\x01\x00\x0d\x00\x00
Status: 200\x0d\x0a
