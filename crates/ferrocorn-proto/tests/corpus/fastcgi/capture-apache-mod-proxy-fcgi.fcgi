description: Apache 2.4.71 mod_proxy_fcgi, ProxyPass /app fcgi://.../ enablereuse=on (KEEP_CONN; a GET then a POST on the same connection; SCRIPT_NAME is the whole decoded path); Apache ran with PATH=/usr/sbin:/usr/bin:/bin, which it passes on
expect: request id=1 keep_conn=true head_len=638
expect: param HTTP_HOST=127.0.0.1:45611
expect: param HTTP_ACCEPT_ENCODING=identity
expect: param HTTP_X_MULTI=a
expect: param PATH=/usr/sbin:/usr/bin:/bin
expect: param SERVER_SIGNATURE=
expect: param SERVER_SOFTWARE=Apache/2.4.71 (Debian)
expect: param SERVER_NAME=127.0.0.1
expect: param SERVER_ADDR=127.0.0.1
expect: param SERVER_PORT=45611
expect: param REMOTE_ADDR=127.0.0.1
expect: param DOCUMENT_ROOT=/var/www/html
expect: param REQUEST_SCHEME=http
expect: param CONTEXT_PREFIX=
expect: param CONTEXT_DOCUMENT_ROOT=/var/www/html
expect: param SERVER_ADMIN=[no address given]
expect: param SCRIPT_FILENAME=proxy:fcgi://127.0.0.1:40269//some/wh%C3%A9re
expect: param REMOTE_PORT=46764
expect: param GATEWAY_INTERFACE=CGI/1.1
expect: param SERVER_PROTOCOL=HTTP/1.1
expect: param REQUEST_METHOD=GET
expect: param QUERY_STRING=x=1
expect: param REQUEST_URI=/app/some/wh%C3%A9re?x=1
expect: param SCRIPT_NAME=/app/some/wh\xc3\xa9re
expect: end
expect: request id=1 keep_conn=true head_len=629
expect: param HTTP_HOST=127.0.0.1:45611
expect: param HTTP_ACCEPT_ENCODING=identity
expect: param CONTENT_LENGTH=5
expect: param CONTENT_TYPE=text/plain
expect: param PATH=/usr/sbin:/usr/bin:/bin
expect: param SERVER_SIGNATURE=
expect: param SERVER_SOFTWARE=Apache/2.4.71 (Debian)
expect: param SERVER_NAME=127.0.0.1
expect: param SERVER_ADDR=127.0.0.1
expect: param SERVER_PORT=45611
expect: param REMOTE_ADDR=127.0.0.1
expect: param DOCUMENT_ROOT=/var/www/html
expect: param REQUEST_SCHEME=http
expect: param CONTEXT_PREFIX=
expect: param CONTEXT_DOCUMENT_ROOT=/var/www/html
expect: param SERVER_ADMIN=[no address given]
expect: param SCRIPT_FILENAME=proxy:fcgi://127.0.0.1:40269//post
expect: param REMOTE_PORT=46764
expect: param GATEWAY_INTERFACE=CGI/1.1
expect: param SERVER_PROTOCOL=HTTP/1.1
expect: param REQUEST_METHOD=POST
expect: param QUERY_STRING=
expect: param REQUEST_URI=/app/post
expect: param SCRIPT_NAME=/app/post
expect: body hello
expect: end
---
# BEGIN_REQUEST id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=1 len=606 pad=0
\x01\x04\x00\x01\x02\x5e\x00\x00
\x09\x0fHTTP_HOST127.0.0.1:45611
\x14\x08HTTP_ACCEPT_ENCODINGidentity
\x0c\x01HTTP_X_MULTIa
\x04\x17PATH/usr/sbin:/usr/bin:/bin
\x10\x00SERVER_SIGNATURE
\x0f\x16SERVER_SOFTWAREApache/2.4.71 (Debian)
\x0b\x09SERVER_NAME127.0.0.1
\x0b\x09SERVER_ADDR127.0.0.1
\x0b\x05SERVER_PORT45611
\x0b\x09REMOTE_ADDR127.0.0.1
\x0d\x0dDOCUMENT_ROOT/var/www/html
\x0e\x04REQUEST_SCHEMEhttp
\x0e\x00CONTEXT_PREFIX
\x15\x0dCONTEXT_DOCUMENT_ROOT/var/www/html
\x0c\x12SERVER_ADMIN[no address given]
\x0f\x2dSCRIPT_FILENAMEproxy:fcgi://127.0.0.1:40269//some/wh%C3%A9re
\x0b\x05REMOTE_PORT46764
\x11\x07GATEWAY_INTERFACECGI/1.1
\x0f\x08SERVER_PROTOCOLHTTP/1.1
\x0e\x03REQUEST_METHODGET
\x0c\x03QUERY_STRINGx=1
\x0b\x18REQUEST_URI/app/some/wh%C3%A9re?x=1
\x0b\x10SCRIPT_NAME/app/some/wh\xc3\xa9re
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
# BEGIN_REQUEST id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=1 len=597 pad=0
\x01\x04\x00\x01\x02\x55\x00\x00
\x09\x0fHTTP_HOST127.0.0.1:45611
\x14\x08HTTP_ACCEPT_ENCODINGidentity
\x0e\x01CONTENT_LENGTH5
\x0c\x0aCONTENT_TYPEtext/plain
\x04\x17PATH/usr/sbin:/usr/bin:/bin
\x10\x00SERVER_SIGNATURE
\x0f\x16SERVER_SOFTWAREApache/2.4.71 (Debian)
\x0b\x09SERVER_NAME127.0.0.1
\x0b\x09SERVER_ADDR127.0.0.1
\x0b\x05SERVER_PORT45611
\x0b\x09REMOTE_ADDR127.0.0.1
\x0d\x0dDOCUMENT_ROOT/var/www/html
\x0e\x04REQUEST_SCHEMEhttp
\x0e\x00CONTEXT_PREFIX
\x15\x0dCONTEXT_DOCUMENT_ROOT/var/www/html
\x0c\x12SERVER_ADMIN[no address given]
\x0f\x22SCRIPT_FILENAMEproxy:fcgi://127.0.0.1:40269//post
\x0b\x05REMOTE_PORT46764
\x11\x07GATEWAY_INTERFACECGI/1.1
\x0f\x08SERVER_PROTOCOLHTTP/1.1
\x0e\x04REQUEST_METHODPOST
\x0c\x00QUERY_STRING
\x0b\x09REQUEST_URI/app/post
\x0b\x09SCRIPT_NAME/app/post
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=5 pad=0
\x01\x05\x00\x01\x00\x05\x00\x00
hello
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
