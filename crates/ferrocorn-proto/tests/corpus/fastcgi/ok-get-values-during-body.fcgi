description: a GET_VALUES between STDIN records is surfaced there
expect: request id=1 keep_conn=false head_len=24
expect: body ab
expect: control get_values max_conns
expect: body cd
expect: end
expect: close
---
# BEGIN_REQUEST role=1 flags=0 id=1 len=8 pad=0
\x01\x01\x00\x01\x00\x08\x00\x00
\x00\x01\x00\x00\x00\x00\x00\x00
# PARAMS id=1 len=0 pad=0
\x01\x04\x00\x01\x00\x00\x00\x00
# STDIN id=1 len=2 pad=0
\x01\x05\x00\x01\x00\x02\x00\x00
ab
# GET_VALUES id=0 len=16 pad=0
\x01\x09\x00\x00\x00\x10\x00\x00
\x0e\x00FCGI_MAX_CONNS
# STDIN id=1 len=2 pad=0
\x01\x05\x00\x01\x00\x02\x00\x00
cd
# STDIN id=1 len=0 pad=0
\x01\x05\x00\x01\x00\x00\x00\x00
