description: nginx 1.22.1 fastcgi_pass with the stock /etc/nginx/fastcgi_params: GET /hello/w%C3%B6rld?x=1&y=%20 (SCRIPT_NAME is the whole decoded path, no PATH_INFO)
expect: request id=1 keep_conn=false head_len=528
expect: param QUERY_STRING=x=1&y=%20
expect: param REQUEST_METHOD=GET
expect: param CONTENT_TYPE=
expect: param CONTENT_LENGTH=
expect: param SCRIPT_NAME=/hello/w\xc3\xb6rld
expect: param REQUEST_URI=/hello/w%C3%B6rld?x=1&y=%20
expect: param DOCUMENT_URI=/hello/w\xc3\xb6rld
expect: param DOCUMENT_ROOT=/tmp/fcgi-cap/html
expect: param SERVER_PROTOCOL=HTTP/1.1
expect: param REQUEST_SCHEME=http
expect: param GATEWAY_INTERFACE=CGI/1.1
expect: param SERVER_SOFTWARE=nginx/1.22.1
expect: param REMOTE_ADDR=127.0.0.1
expect: param REMOTE_PORT=45236
expect: param REMOTE_USER=
expect: param SERVER_ADDR=127.0.0.1
expect: param SERVER_PORT=18931
expect: param SERVER_NAME=localhost
expect: param REDIRECT_STATUS=200
expect: param HTTP_HOST=127.0.0.1
expect: param HTTP_USER_AGENT=capture
expect: param HTTP_ACCEPT=*/*
expect: end
expect: close
---
# BEGIN_REQUEST id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=493 pad=3
\x01\x04\x00\x01\x01\xed\x03\x00
\x0c\x09QUERY_STRINGx=1&y=%20
\x0e\x03REQUEST_METHODGET
\x0c\x00CONTENT_TYPE
\x0e\x00CONTENT_LENGTH
\x0b\x0dSCRIPT_NAME/hello/w\xc3\xb6rld
\x0b\x1bREQUEST_URI/hello/w%C3%B6rld?x=1&y=%20
\x0c\x0dDOCUMENT_URI/hello/w\xc3\xb6rld
\x0d\x12DOCUMENT_ROOT/tmp/fcgi-cap/html
\x0f\x08SERVER_PROTOCOLHTTP/1.1
\x0e\x04REQUEST_SCHEMEhttp
\x11\x07GATEWAY_INTERFACECGI/1.1
\x0f\x0cSERVER_SOFTWAREnginx/1.22.1
\x0b\x09REMOTE_ADDR127.0.0.1
\x0b\x05REMOTE_PORT45236
\x0b\x00REMOTE_USER
\x0b\x09SERVER_ADDR127.0.0.1
\x0b\x05SERVER_PORT18931
\x0b\x09SERVER_NAMElocalhost
\x0f\x03REDIRECT_STATUS200
\x09\x09HTTP_HOST127.0.0.1
\x0f\x07HTTP_USER_AGENTcapture
\x0b\x03HTTP_ACCEPT*/*
\xaa\xaa\xaa
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
