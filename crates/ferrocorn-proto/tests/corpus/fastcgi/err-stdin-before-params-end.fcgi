description: STDIN for the active request before the empty PARAMS record
expect: error STDIN record before the empty PARAMS record
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=4 pad=0
\x01\x04\x00\x01\x00\x04\x00\x00
\x01\x01Ab
# STDIN id=1 len=5 pad=0
\x01\x05\x00\x01\x00\x05\x00\x00
early
