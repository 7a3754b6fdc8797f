description: empty names and values are pairs like any other
expect: request id=1 keep_conn=false head_len=44
expect: param =
expect: param EMPTY=
expect: param =v
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=12 pad=0
\x01\x04\x00\x01\x00\x0c\x00\x00
\x00\x00
\x05\x00EMPTY
\x00\x01v
# PARAMS end id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN end id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
