description: DATA records (Filter role only) of the active request are ignored
expect: request id=1 keep_conn=false head_len=36
expect: param A=b
expect: body in
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=4 pad=0
\x01\x04\x00\x01\x00\x04\x00\x00
\x01\x01Ab
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# DATA id=1 len=11 pad=0
\x01\x08\x00\x01\x00\x0b\x00\x00
filter data
# STDIN id=1 len=2 pad=0
\x01\x05\x00\x01\x00\x02\x00\x00
in
# DATA id=1 len=0 pad=0
\x01\x08\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
