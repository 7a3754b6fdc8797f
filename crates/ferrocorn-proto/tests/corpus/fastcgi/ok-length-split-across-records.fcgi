description: a 4-byte value length cut after its second byte
expect: request id=1 keep_conn=false head_len=183
expect: param BIG=zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=3 pad=5
\x01\x04\x00\x01\x00\x03\x05\x00
\x03\x80\x00
\xaa\xaa\xaa\xaa\xaa
# PARAMS id=1 len=135 pad=0
\x01\x04\x00\x01\x00\x87\x00\x00
\x00\x82BIGzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz
# PARAMS end id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
