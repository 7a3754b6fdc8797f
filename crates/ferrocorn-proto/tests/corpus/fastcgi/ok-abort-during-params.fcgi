description: ABORT_REQUEST before the params end; KEEP_CONN, so the next request follows
expect: control abort 1
expect: request id=2 keep_conn=false head_len=129
expect: param REQUEST_METHOD=GET
expect: param SCRIPT_NAME=/app
expect: param QUERY_STRING=a=1
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=1 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=1 len=4 pad=0
\x01\x04\x00\x01\x00\x04\x00\x00
\x01\x01A1
# ABORT_REQUEST id=1 len=0 pad=0
\x01\x02\x00\x01\x00\x00\x00\x00
# PARAMS end of the aborted request: ignored id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# BEGIN_REQUEST role=1 flags=0 id=2 len=8 pad=0
\x01\x01\x00\x02\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=2 len=53 pad=0
\x01\x04\x00\x02\x00\x35\x00\x00
\x0e\x03REQUEST_METHODGET
\x0b\x04SCRIPT_NAME/app
\x0c\x03QUERY_STRINGa=1
# PARAMS end id=2 len=0 pad=0
\x01\x04\x00\x02\x00\x00\x00\x00
# STDIN end id=2 len=0 pad=0
\x01\x05\x00\x02\x00\x00\x00\x00
