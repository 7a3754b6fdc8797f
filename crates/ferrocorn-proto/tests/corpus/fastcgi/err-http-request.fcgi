description: an HTTP request on a FastCGI socket: the version byte is 'G'
expect: error record with protocol version 71 (only FastCGI 1 exists)
---
GET / HTTP/1.1\x0d\x0aHost: x\x0d\x0a\x0d\x0a
