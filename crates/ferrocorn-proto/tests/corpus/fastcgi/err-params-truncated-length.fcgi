description: the params end inside a 4-byte length
expect: error malformed params: truncated 4-byte length
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=3 pad=0
\x01\x04\x00\x01\x00\x03\x00\x00
\x01\x80\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
