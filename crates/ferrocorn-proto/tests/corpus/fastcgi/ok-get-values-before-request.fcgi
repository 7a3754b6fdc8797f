description: a GET_VALUES for the three spec variables, then a request
expect: control get_values max_conns,max_reqs,mpxs_conns
expect: request id=1 keep_conn=false head_len=141
expect: param REQUEST_METHOD=GET
expect: param SCRIPT_NAME=/app
expect: param QUERY_STRING=a=1
expect: end
expect: close
---
# GET_VALUES id=0 len=48 pad=0
\x01\x09\x00\x00\x00\x30\x00\x00
\x0e\x00FCGI_MAX_CONNS
\x0d\x00FCGI_MAX_REQS
\x0f\x00FCGI_MPXS_CONNS
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
