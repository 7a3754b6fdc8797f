#!/usr/bin/env python3
"""Records what a FastCGI client sends: the capture- files of this corpus were made with it.

    python3 capture.py PORTFILE OUTPREFIX [CONNECTIONS]

Listens on 127.0.0.1 (a free port, written to PORTFILE), and for each of CONNECTIONS accepted
connections writes every byte received to OUTPREFIX-<n>.bin. Each request is answered with a
tiny response (STDOUT, empty STDOUT, END_REQUEST) once its empty STDIN record arrived; without
KEEP_CONN the connection is closed then, otherwise it is recorded until 5 s of silence.

Point a client at it, for example nginx:

    location / { include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:PORT; }

or `printf hello | env -i REQUEST_METHOD=POST CONTENT_LENGTH=5 ... cgi-fcgi -bind -connect 127.0.0.1:PORT`.
"""
import socket
import struct
import sys


def main():
    port_file, out_prefix = sys.argv[1], sys.argv[2]
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    with open(port_file, "w") as f:
        f.write(str(srv.getsockname()[1]))
    for n in range(conns):
        c, _ = srv.accept()
        c.settimeout(5)
        data, pos, keep = b"", 0, False
        while True:
            try:
                chunk = c.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            answered = False
            while len(data) - pos >= 8:
                _v, kind, rid, clen, plen, _r = struct.unpack(">BBHHBB", data[pos:pos + 8])
                if len(data) - pos < 8 + clen + plen:
                    break
                content = data[pos + 8:pos + 8 + clen]
                if kind == 1:
                    keep = bool(content[2] & 1)
                pos += 8 + clen + plen
                if kind == 5 and clen == 0:
                    body = b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
                    c.sendall(struct.pack(">BBHHBB", 1, 6, rid, len(body), 0, 0) + body
                              + struct.pack(">BBHHBB", 1, 6, rid, 0, 0, 0)
                              + struct.pack(">BBHHBB", 1, 3, rid, 8, 0, 0) + bytes(8))
                    answered = True
            if answered and not keep:
                break
        with open(f"{out_prefix}-{n}.bin", "wb") as f:
            f.write(data)
        c.close()


if __name__ == "__main__":
    main()
