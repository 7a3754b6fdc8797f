description: the body in several STDIN records of different sizes
expect: request id=1 keep_conn=false head_len=50
expect: param CONTENT_LENGTH=10
expect: body 0123456789
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=18 pad=0
\x01\x04\x00\x01\x00\x12\x00\x00
\x0e\x02CONTENT_LENGTH10
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=1 pad=0
\x01\x05\x00\x01\x00\x01\x00\x00
0
# STDIN id=1 len=3 pad=5
\x01\x05\x00\x01\x00\x03\x05\x00
123
\xaa\xaa\xaa\xaa\xaa
# STDIN id=1 len=6 pad=2
\x01\x05\x00\x01\x00\x06\x02\x00
456789
\xaa\xaa
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
