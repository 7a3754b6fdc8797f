description: a body over the max_body option, refused on the record header
option: max_body=5
expect: request id=1 keep_conn=false head_len=24
expect: body 123
expect: error request body larger than the limit of 5 bytes
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=3 pad=0
\x01\x05\x00\x01\x00\x03\x00\x00
123
# STDIN id=1 len=3 pad=0
\x01\x05\x00\x01\x00\x03\x00\x00
456
