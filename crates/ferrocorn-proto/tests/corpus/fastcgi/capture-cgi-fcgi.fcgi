description: cgi-fcgi -bind -connect (libfcgi 2.4.2) with a controlled environment (env -i) and 'hello' on stdin
expect: request id=1 keep_conn=false head_len=224
expect: param REQUEST_METHOD=POST
expect: param CONTENT_LENGTH=5
expect: param CONTENT_TYPE=text/plain
expect: param SCRIPT_NAME=/cgi
expect: param PATH_INFO=/x
expect: param QUERY_STRING=a=b
expect: param SERVER_NAME=localhost
expect: param SERVER_PORT=80
expect: param SERVER_PROTOCOL=HTTP/1.1
expect: param REMOTE_ADDR=127.0.0.1
expect: body hello
expect: end
expect: close
---
# BEGIN_REQUEST id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=192 pad=0
\x01\x04\x00\x01\x00\xc0\x00\x00
\x0e\x04REQUEST_METHODPOST
\x0e\x01CONTENT_LENGTH5
\x0c\x0aCONTENT_TYPEtext/plain
\x0b\x04SCRIPT_NAME/cgi
\x09\x02PATH_INFO/x
\x0c\x03QUERY_STRINGa=b
\x0b\x09SERVER_NAMElocalhost
\x0b\x02SERVER_PORT80
\x0f\x08SERVER_PROTOCOLHTTP/1.1
\x0b\x09REMOTE_ADDR127.0.0.1
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=5 pad=0
\x01\x05\x00\x01\x00\x05\x00\x00
hello
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
