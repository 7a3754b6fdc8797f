description: a body exactly at the max_body option
option: max_body=5
expect: request id=1 keep_conn=false head_len=85
expect: param REQUEST_METHOD=GET
expect: param SCRIPT_NAME=/app
expect: param QUERY_STRING=a=1
expect: body 12345
expect: end
expect: close
---
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
# STDIN id=1 len=5 pad=0
\x01\x05\x00\x01\x00\x05\x00\x00
12345
# STDIN end id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
