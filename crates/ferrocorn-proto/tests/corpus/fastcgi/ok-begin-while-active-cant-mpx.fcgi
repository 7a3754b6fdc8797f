description: a BEGIN_REQUEST for another id while busy: CANT_MPX_CONN, its records ignored
expect: control refuse 2 cant_mpx_conn
expect: request id=1 keep_conn=false head_len=79
expect: param MINE=y
expect: control refuse 3 cant_mpx_conn
expect: body body
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# BEGIN_REQUEST role=1 flags=1 id=2 len=8 pad=0
\x01\x01\x00\x02\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=2 len=8 pad=0
\x01\x04\x00\x02\x00\x08\x00\x00
\x05\x01OTHERx
# PARAMS id=1 len=7 pad=0
\x01\x04\x00\x01\x00\x07\x00\x00
\x04\x01MINEy
# PARAMS id=2 len=0 pad=0
\x01\x04\x00\x02\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# BEGIN_REQUEST role=1 flags=0 id=3 len=8 pad=0
\x01\x01\x00\x03\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# STDIN id=1 len=4 pad=0
\x01\x05\x00\x01\x00\x04\x00\x00
body
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
