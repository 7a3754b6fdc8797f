description: Authorizer and Filter roles are refused with UNKNOWN_ROLE; then a Responder request
expect: control refuse 1 unknown_role
expect: control refuse 2 unknown_role
expect: control refuse 3 unknown_role
expect: request id=4 keep_conn=false head_len=164
expect: param REQUEST_METHOD=GET
expect: param SCRIPT_NAME=/app
expect: param QUERY_STRING=a=1
expect: end
expect: close
---
# BEGIN_REQUEST role=2 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x02\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=7 pad=0
\x01\x04\x00\x01\x00\x07\x00\x00
\x04\x01AUTHx
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
# BEGIN_REQUEST role=3 flags=0 id=2 len=8 pad=0
\x01\x01\x00\x02\x00\x08\x00\x00
\x00\x03\x00\x00\x00\x00\x00\x00
# BEGIN_REQUEST role=0 flags=0 id=3 len=8 pad=0
\x01\x01\x00\x03\x00\x08\x00\x00
\x00\x00\x00\x00\x00\x00\x00\x00
# BEGIN_REQUEST role=1 flags=0 id=4 len=8 pad=0
\x01\x01\x00\x04\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=4 len=53 pad=0
\x01\x04\x00\x04\x00\x35\x00\x00
\x0e\x03REQUEST_METHODGET
\x0b\x04SCRIPT_NAME/app
\x0c\x03QUERY_STRINGa=1
# PARAMS end id=4 len=0 pad=0
\x01\x04\x00\x04\x00\x00\x00\x00
# STDIN end id=4 len=0 pad=0
\x01\x05\x00\x04\x00\x00\x00\x00
