description: params over the max_params option, refused on the record header
option: max_params=10
expect: error params larger than the limit of 10 bytes
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=11 pad=0
\x01\x04\x00\x01\x00\x0b\x00\x00
\x03\x06ABCdefghi
