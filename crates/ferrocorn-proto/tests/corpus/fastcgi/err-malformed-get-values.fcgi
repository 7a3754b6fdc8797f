description: a GET_VALUES whose content is not name-value pairs
expect: error malformed GET_VALUES: truncated length
---
# GET_VALUES id=0 len=1 pad=0
\x01\x09\x00\x00\x00\x01\x00\x00
\x0e
