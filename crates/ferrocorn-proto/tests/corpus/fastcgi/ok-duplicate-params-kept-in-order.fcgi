description: nginx sends repeated headers as repeated params (HTTP_X_DUP twice)
expect: request id=1 keep_conn=false head_len=58
expect: param HTTP_X_DUP=a
expect: param HTTP_X_DUP=b
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=26 pad=0
\x01\x04\x00\x01\x00\x1a\x00\x00
\x0a\x01HTTP_X_DUPa
\x0a\x01HTTP_X_DUPb
# PARAMS end id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN end id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
