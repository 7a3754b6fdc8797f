description: a STDIN record cut inside its content: the part that came is data
expect: request id=1 keep_conn=false head_len=24
expect: body abc
expect: partial body
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=6 pad=0
\x01\x05\x00\x01\x00\x06\x00\x00
abc
