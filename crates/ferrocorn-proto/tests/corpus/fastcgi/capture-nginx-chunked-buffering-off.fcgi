description: nginx 1.22.1, fastcgi_request_buffering off, a small chunked body (arrived at once, so nginx knew its length)
expect: request id=1 keep_conn=false head_len=616
expect: param QUERY_STRING=
expect: param REQUEST_METHOD=POST
expect: param CONTENT_TYPE=application/x-www-form-urlencoded
expect: param CONTENT_LENGTH=12
expect: param SCRIPT_NAME=/stream/up
expect: param REQUEST_URI=/stream/up
expect: param DOCUMENT_URI=/stream/up
expect: param DOCUMENT_ROOT=/tmp/fcgi-cap/html
expect: param SERVER_PROTOCOL=HTTP/1.1
expect: param REQUEST_SCHEME=http
expect: param GATEWAY_INTERFACE=CGI/1.1
expect: param SERVER_SOFTWARE=nginx/1.22.1
expect: param REMOTE_ADDR=127.0.0.1
expect: param REMOTE_PORT=45258
expect: param REMOTE_USER=
expect: param SERVER_ADDR=127.0.0.1
expect: param SERVER_PORT=18931
expect: param SERVER_NAME=localhost
expect: param REDIRECT_STATUS=200
expect: param HTTP_HOST=127.0.0.1
expect: param HTTP_ACCEPT=*/*
expect: param HTTP_USER_AGENT=capture
expect: param HTTP_TRANSFER_ENCODING=chunked
expect: param HTTP_CONTENT_TYPE=application/x-www-form-urlencoded
expect: body chunked-body
expect: end
expect: close
---
# BEGIN_REQUEST id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=580 pad=4
\x01\x04\x00\x01\x02\x44\x04\x00
\x0c\x00QUERY_STRING
\x0e\x04REQUEST_METHODPOST
\x0c\x21CONTENT_TYPEapplication/x-www-form-urlencoded
\x0e\x02CONTENT_LENGTH12
\x0b\x0aSCRIPT_NAME/stream/up
\x0b\x0aREQUEST_URI/stream/up
\x0c\x0aDOCUMENT_URI/stream/up
\x0d\x12DOCUMENT_ROOT/tmp/fcgi-cap/html
\x0f\x08SERVER_PROTOCOLHTTP/1.1
\x0e\x04REQUEST_SCHEMEhttp
\x11\x07GATEWAY_INTERFACECGI/1.1
\x0f\x0cSERVER_SOFTWAREnginx/1.22.1
\x0b\x09REMOTE_ADDR127.0.0.1
\x0b\x05REMOTE_PORT45258
\x0b\x00REMOTE_USER
\x0b\x09SERVER_ADDR127.0.0.1
\x0b\x05SERVER_PORT18931
\x0b\x09SERVER_NAMElocalhost
\x0f\x03REDIRECT_STATUS200
\x09\x09HTTP_HOST127.0.0.1
\x0b\x03HTTP_ACCEPT*/*
\x0f\x07HTTP_USER_AGENTcapture
\x16\x07HTTP_TRANSFER_ENCODINGchunked
\x11\x21HTTP_CONTENT_TYPEapplication/x-www-form-urlencoded
\xaa\xaa\xaa\xaa
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=12 pad=4
\x01\x05\x00\x01\x00\x0c\x04\x00
chunked-body
\xaa\xaa\xaa\xaa
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
