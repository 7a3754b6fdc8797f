description: nginx 1.22.1, fastcgi_request_buffering off, a chunked PUT sent in pieces: empty CONTENT_LENGTH, one STDIN record per piece
expect: request id=1 keep_conn=false head_len=560
expect: param QUERY_STRING=
expect: param REQUEST_METHOD=PUT
expect: param CONTENT_TYPE=application/octet-stream
expect: param CONTENT_LENGTH=
expect: param SCRIPT_NAME=/stream/slow
expect: param REQUEST_URI=/stream/slow
expect: param DOCUMENT_URI=/stream/slow
expect: param DOCUMENT_ROOT=/tmp/fcgi-cap/html
expect: param SERVER_PROTOCOL=HTTP/1.1
expect: param REQUEST_SCHEME=http
expect: param GATEWAY_INTERFACE=CGI/1.1
expect: param SERVER_SOFTWARE=nginx/1.22.1
expect: param REMOTE_ADDR=127.0.0.1
expect: param REMOTE_PORT=59978
expect: param REMOTE_USER=
expect: param SERVER_ADDR=127.0.0.1
expect: param SERVER_PORT=18931
expect: param SERVER_NAME=localhost
expect: param REDIRECT_STATUS=200
expect: param HTTP_HOST=localhost
expect: param HTTP_TRANSFER_ENCODING=chunked
expect: param HTTP_CONTENT_TYPE=application/octet-stream
expect: body firstsecond
expect: end
expect: close
---
# BEGIN_REQUEST id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=525 pad=3
\x01\x04\x00\x01\x02\x0d\x03\x00
\x0c\x00QUERY_STRING
\x0e\x03REQUEST_METHODPUT
\x0c\x18CONTENT_TYPEapplication/octet-stream
\x0e\x00CONTENT_LENGTH
\x0b\x0cSCRIPT_NAME/stream/slow
\x0b\x0cREQUEST_URI/stream/slow
\x0c\x0cDOCUMENT_URI/stream/slow
\x0d\x12DOCUMENT_ROOT/tmp/fcgi-cap/html
\x0f\x08SERVER_PROTOCOLHTTP/1.1
\x0e\x04REQUEST_SCHEMEhttp
\x11\x07GATEWAY_INTERFACECGI/1.1
\x0f\x0cSERVER_SOFTWAREnginx/1.22.1
\x0b\x09REMOTE_ADDR127.0.0.1
\x0b\x05REMOTE_PORT59978
\x0b\x00REMOTE_USER
\x0b\x09SERVER_ADDR127.0.0.1
\x0b\x05SERVER_PORT18931
\x0b\x09SERVER_NAMElocalhost
\x0f\x03REDIRECT_STATUS200
\x09\x09HTTP_HOSTlocalhost
\x16\x07HTTP_TRANSFER_ENCODINGchunked
\x11\x18HTTP_CONTENT_TYPEapplication/octet-stream
\xaa\xaa\xaa
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=5 pad=3
\x01\x05\x00\x01\x00\x05\x03\x00
first
\xaa\xaa\xaa
# STDIN id=1 len=6 pad=2
\x01\x05\x00\x01\x00\x06\x02\x00
second
\xaa\xaa
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
