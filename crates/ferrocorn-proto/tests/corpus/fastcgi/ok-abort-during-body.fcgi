description: ABORT_REQUEST between STDIN records ends the request; no KEEP_CONN: close
expect: request id=1 keep_conn=false head_len=24
expect: body part
expect: control abort 1
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=4 pad=0
\x01\x05\x00\x01\x00\x04\x00\x00
part
# ABORT_REQUEST id=1 len=0 pad=4
\x01\x02\x00\x01\x00\x00\x04\x00
\xaa\xaa\xaa\xaa
# STDIN id=1 len=10 pad=0
\x01\x05\x00\x01\x00\x0a\x00\x00
never read
