description: KEEP_CONN: the next request may use another id
expect: request id=1 keep_conn=true head_len=85
expect: param REQUEST_METHOD=GET
expect: param SCRIPT_NAME=/app
expect: param QUERY_STRING=a=1
expect: body one
expect: end
expect: request id=2 keep_conn=true head_len=85
expect: param REQUEST_METHOD=GET
expect: param SCRIPT_NAME=/app
expect: param QUERY_STRING=a=1
expect: body two
expect: end
---
# BEGIN_REQUEST role=1 flags=1 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=1 len=53 pad=0
\x01\x04\x00\x01\x00\x35\x00\x00
\x0e\x03REQUEST_METHODGET
\x0b\x04SCRIPT_NAME/app
\x0c\x03QUERY_STRINGa=1
# PARAMS end id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=3 pad=0
\x01\x05\x00\x01\x00\x03\x00\x00
one
# STDIN end id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
# BEGIN_REQUEST role=1 flags=1 id=2 len=8 pad=0
\x01\x01\x00\x02\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=2 len=53 pad=0
\x01\x04\x00\x02\x00\x35\x00\x00
\x0e\x03REQUEST_METHODGET
\x0b\x04SCRIPT_NAME/app
\x0c\x03QUERY_STRINGa=1
# PARAMS end id=2 len=0 pad=0
\x01\x04\x00\x02\x00\x00\x00\x00
# STDIN id=2 len=3 pad=0
\x01\x05\x00\x02\x00\x03\x00\x00
two
# STDIN end id=2 len=0 pad=0
\x01\x05\x00\x02\x00\x00\x00\x00
