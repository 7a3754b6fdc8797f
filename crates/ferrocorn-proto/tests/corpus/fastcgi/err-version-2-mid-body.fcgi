description: a bad version in the middle of the body
expect: request id=1 keep_conn=false head_len=24
expect: body ok
expect: error record with protocol version 2 (only FastCGI 1 exists)
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=2 pad=0
\x01\x05\x00\x01\x00\x02\x00\x00
ok
# STDIN id=1 len=3 pad=0
\x02\x05\x00\x01\x00\x03\x00\x00
bad
