description: ABORT_REQUEST during the body with KEEP_CONN: the next request is served
expect: request id=1 keep_conn=true head_len=24
expect: body part
expect: control abort 1
expect: request id=1 keep_conn=false head_len=93
expect: param REQUEST_METHOD=GET
expect: param SCRIPT_NAME=/app
expect: param QUERY_STRING=a=1
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=1 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=4 pad=0
\x01\x05\x00\x01\x00\x04\x00\x00
part
# ABORT_REQUEST id=1 len=0 pad=0
\x01\x02\x00\x01\x00\x00\x00\x00
# STDIN end of the aborted request: ignored id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=53 pad=0
\x01\x04\x00\x01\x00\x35\x00\x00
\x0e\x03REQUEST_METHODGET
\x0b\x04SCRIPT_NAME/app
\x0c\x03QUERY_STRINGa=1
# PARAMS end id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN end id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
