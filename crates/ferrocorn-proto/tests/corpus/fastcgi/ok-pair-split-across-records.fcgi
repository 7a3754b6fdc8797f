description: a pair cut in the middle of its value, the rest in the next PARAMS record
expect: request id=1 keep_conn=false head_len=70
expect: param SCRIPT_NAME=/split/here
expect: param X=y
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=8 pad=2
\x01\x04\x00\x01\x00\x08\x02\x00
\x0b\x0bSCRIPT
\xaa\xaa
# PARAMS id=1 len=20 pad=0
\x01\x04\x00\x01\x00\x14\x00\x00
_NAME/split/here\x01\x01Xy
# PARAMS end id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
