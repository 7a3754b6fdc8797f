description: nginx 1.22.1, fastcgi_keep_conn on + upstream keepalive: a form POST with a repeated X-Dup header (HTTP_CONTENT_TYPE/HTTP_CONTENT_LENGTH are sent too)
expect: request id=1 keep_conn=true head_len=632
expect: param QUERY_STRING=
expect: param REQUEST_METHOD=POST
expect: param CONTENT_TYPE=application/x-www-form-urlencoded
expect: param CONTENT_LENGTH=7
expect: param SCRIPT_NAME=/keep/form
expect: param REQUEST_URI=/keep/form
expect: param DOCUMENT_URI=/keep/form
expect: param DOCUMENT_ROOT=/tmp/fcgi-cap/html
expect: param SERVER_PROTOCOL=HTTP/1.1
expect: param REQUEST_SCHEME=http
expect: param GATEWAY_INTERFACE=CGI/1.1
expect: param SERVER_SOFTWARE=nginx/1.22.1
expect: param REMOTE_ADDR=127.0.0.1
expect: param REMOTE_PORT=45248
expect: param REMOTE_USER=
expect: param SERVER_ADDR=127.0.0.1
expect: param SERVER_PORT=18931
expect: param SERVER_NAME=localhost
expect: param REDIRECT_STATUS=200
expect: param HTTP_HOST=127.0.0.1
expect: param HTTP_ACCEPT=*/*
expect: param HTTP_USER_AGENT=capture
expect: param HTTP_X_DUP=a
expect: param HTTP_X_DUP=b
expect: param HTTP_CONTENT_TYPE=application/x-www-form-urlencoded
expect: param HTTP_CONTENT_LENGTH=7
expect: body a=1&b=2
expect: end
---
# BEGIN_REQUEST id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=1 len=596 pad=4
\x01\x04\x00\x01\x02\x54\x04\x00
\x0c\x00QUERY_STRING
\x0e\x04REQUEST_METHODPOST
\x0c\x21CONTENT_TYPEapplication/x-www-form-urlencoded
\x0e\x01CONTENT_LENGTH7
\x0b\x0aSCRIPT_NAME/keep/form
\x0b\x0aREQUEST_URI/keep/form
\x0c\x0aDOCUMENT_URI/keep/form
\x0d\x12DOCUMENT_ROOT/tmp/fcgi-cap/html
\x0f\x08SERVER_PROTOCOLHTTP/1.1
\x0e\x04REQUEST_SCHEMEhttp
\x11\x07GATEWAY_INTERFACECGI/1.1
\x0f\x0cSERVER_SOFTWAREnginx/1.22.1
\x0b\x09REMOTE_ADDR127.0.0.1
\x0b\x05REMOTE_PORT45248
\x0b\x00REMOTE_USER
\x0b\x09SERVER_ADDR127.0.0.1
\x0b\x05SERVER_PORT18931
\x0b\x09SERVER_NAMElocalhost
\x0f\x03REDIRECT_STATUS200
\x09\x09HTTP_HOST127.0.0.1
\x0b\x03HTTP_ACCEPT*/*
\x0f\x07HTTP_USER_AGENTcapture
\x0a\x01HTTP_X_DUPa
\x0a\x01HTTP_X_DUPb
\x11\x21HTTP_CONTENT_TYPEapplication/x-www-form-urlencoded
\x13\x01HTTP_CONTENT_LENGTH7
\xaa\xaa\xaa\xaa
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=7 pad=1
\x01\x05\x00\x01\x00\x07\x01\x00
a=1&b=2
\xaa
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
