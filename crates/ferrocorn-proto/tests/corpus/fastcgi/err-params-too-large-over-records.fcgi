description: params over the limit only once the second record is counted
option: max_params=10
expect: error params larger than the limit of 10 bytes
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=4 pad=0
\x01\x04\x00\x01\x00\x04\x00\x00
\x01\x01Ab
# PARAMS id=1 len=7 pad=0
\x01\x04\x00\x01\x00\x07\x00\x00
\x02\x03CDefg
