description: PARAMS for the active request after its empty PARAMS record
expect: request id=1 keep_conn=false head_len=24
expect: error PARAMS record after the end of the PARAMS stream
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# PARAMS id=1 len=4 pad=0
\x01\x04\x00\x01\x00\x04\x00\x00
\x01\x01Ab
