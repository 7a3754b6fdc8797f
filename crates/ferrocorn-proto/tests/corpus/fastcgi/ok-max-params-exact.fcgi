description: params exactly at the max_params option
option: max_params=10
expect: request id=1 keep_conn=false head_len=42
expect: param ABC=defgh
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=10 pad=0
\x01\x04\x00\x01\x00\x0a\x00\x00
\x03\x05ABCdefgh
# PARAMS end id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN end id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
