description: params complete but no empty PARAMS record yet
expect: partial head
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=4 pad=0
\x01\x04\x00\x01\x00\x04\x00\x00
\x01\x01Ab
