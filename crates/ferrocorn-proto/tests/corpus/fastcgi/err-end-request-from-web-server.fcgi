description: END_REQUEST for the active request, in the body
expect: request id=1 keep_conn=false head_len=24
expect: error END_REQUEST record from the web server (only applications send it)
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# END_REQUEST id=1 len=8 pad=0
\x01\x03\x00\x01\x00\x08\x00\x00
\x00\x00\x00\x00\x00\x00\x00\x00
