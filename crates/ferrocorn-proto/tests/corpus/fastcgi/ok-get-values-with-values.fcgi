description: values in a GET_VALUES query are ignored; id 0 required
expect: control get_values mpxs_conns
expect: partial head
---
# GET_VALUES id=0 len=18 pad=3
\x01\x09\x00\x00\x00\x12\x03\x00
\x0f\x01FCGI_MPXS_CONNS1
\xaa\xaa\xaa
# GET_VALUES with a request id: not management, ignored id=4 len=18 pad=0
\x01\x09\x00\x04\x00\x12\x00\x00
\x0f\x01FCGI_MPXS_CONNS1
