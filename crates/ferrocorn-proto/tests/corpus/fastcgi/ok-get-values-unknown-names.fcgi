description: names the spec does not define are left out of the answer
expect: control get_values max_reqs
expect: control get_values none
expect: partial head
---
# GET_VALUES id=0 len=43 pad=0
\x01\x09\x00\x00\x00\x2b\x00\x00
\x0d\x00FCGI_MAX_REQS
\x09\x00PHP_VALUE
\x0f\x00FCGI_MAX_CONNSX
# GET_VALUES id=0 len=0 pad=0
\x01\x09\x00\x00\x00\x00\x00\x00
