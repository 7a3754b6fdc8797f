description: a body in one STDIN record; KEEP_CONN set
expect: request id=1 keep_conn=true head_len=70
expect: param REQUEST_METHOD=POST
expect: param CONTENT_LENGTH=11
expect: body hello world
expect: end
---
# BEGIN_REQUEST role=1 flags=1 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x01\x00\x00\x00\x00\x00
# PARAMS id=1 len=38 pad=0
\x01\x04\x00\x01\x00\x26\x00\x00
\x0e\x04REQUEST_METHODPOST
\x0e\x02CONTENT_LENGTH11
# PARAMS end id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=11 pad=0
\x01\x05\x00\x01\x00\x0b\x00\x00
hello world
# STDIN end id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
