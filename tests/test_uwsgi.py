"""The uwsgi protocol front end (issue 5): packets as nginx's stock ``uwsgi_params`` sends them,
mapped into the environ; bodies; close-delimited responses; the mount point; garbage that closes
cleanly while the worker keeps serving; and real nginx ``uwsgi_pass`` in front of the Django
example (TCP and Unix socket, uploads, chunked client bodies, streaming, repeated headers, HEAD)."""
from __future__ import annotations

import http.client
import json
import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

import uwsgiclient as uw  # noqa: E402
from djcheck import check_django_through, djsite_with_static  # noqa: E402
from frontends import NGINX, Apache, Nginx, apache_has  # noqa: E402
from proctools import wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.ferrocorn_only
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is installed by scripts/test.sh")


def uwsgi_server(start_server, *args, **kw):
    """A server with only a uwsgi socket on a free TCP port; returns (server, (host, port))."""
    srv = start_server("--uwsgi-socket", "127.0.0.1:0", *args, bind=None, **kw)
    return srv, (srv.host, srv.port)


def environ_of(addr, vars, body=b"", **kw) -> dict:
    status, headers, raw = uw.call(addr, vars, body, **kw)
    assert status == 200, raw[:500]
    return {k: v.get("value") for k, v in json.loads(raw).items()}


def test_environ_from_nginx_uwsgi_params(start_server):
    srv, addr = uwsgi_server(start_server, "wsgi_apps:environ_app")
    srv.wait_for_log(r"Listening at: uwsgi://127\.0\.0\.1:\d+")
    v = uw.request_vars("GET", "/caf\xe9 x", "a=1&b=%20", extra={
        "REQUEST_URI": "/caf%C3%A9%20x?a=1&b=%20",
        "HTTPS": "on",
        "HTTP_USER_AGENT": "test-agent",
    })
    env = environ_of(addr, v)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/caf\xe9 x"  # as the front end decoded it, not decoded twice
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["RAW_URI"] == "/caf%C3%A9%20x?a=1&b=%20"
    assert env["SCRIPT_NAME"] == ""
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    # The front end's view of the client and of itself is the truth on this protocol.
    assert env["REMOTE_ADDR"] == "198.51.100.7" and env["REMOTE_PORT"] == "50123"
    assert env["SERVER_NAME"] == "example.test" and env["SERVER_PORT"] == "80"
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "example.test" and env["HTTP_USER_AGENT"] == "test-agent"
    assert env["DOCUMENT_ROOT"] == "/usr/share/nginx/html"
    assert env["CONTENT_LENGTH"] == ""
    assert "wsgi.input" in env and env["wsgi.version"] is not None


def test_repeated_headers_are_joined_and_cookies_with_semicolons(start_server):
    srv, addr = uwsgi_server(start_server, "wsgi_apps:environ_app")
    v = list(uw.request_vars().items()) + [
        ("HTTP_X_MULTI", "a"), ("HTTP_X_MULTI", "b"),
        ("HTTP_COOKIE", "x=1"), ("HTTP_COOKIE", "y=2"),
    ]
    env = environ_of(addr, v)
    assert env["HTTP_X_MULTI"] == "a, b"
    assert env["HTTP_COOKIE"] == "x=1; y=2"


def test_request_body_and_close_delimited_responses(start_server):
    srv, addr = uwsgi_server(start_server, "wsgi_apps:echo")
    body = os.urandom(300_000)
    status, headers, raw = uw.call(addr, uw.request_vars("POST", "/echo", body=body), body)
    assert status == 200 and raw == body
    assert headers["x-content-length"] == str(len(body))
    # A response without Content-Length is never chunked here: the body ends at the close.
    srv, addr = uwsgi_server(start_server, "wsgi_apps:no_content_length")
    status, headers, raw = uw.call(addr, uw.request_vars("GET", "/"))
    assert status == 200 and "transfer-encoding" not in headers
    assert raw == b"hello world"
    # HEAD: the head only, with the app's Content-Length.
    srv, addr = uwsgi_server(start_server, "wsgi_apps:hello")
    status, headers, raw = uw.call(addr, uw.request_vars("HEAD", "/"))
    assert status == 200 and raw == b"" and headers["content-length"] == "5"


def test_mount_point_and_modifier_30(start_server):
    srv, addr = uwsgi_server(start_server, "--script-name", "/app", "wsgi_apps:environ_app")
    env = environ_of(addr, uw.request_vars("GET", "/app/x/y"))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/x/y")
    srv2, addr2 = uwsgi_server(start_server, "wsgi_apps:environ_app")
    # nginx `uwsgi_param SCRIPT_NAME /app; uwsgi_modifier1 30;`: cut SCRIPT_NAME from PATH_INFO.
    v = uw.request_vars("GET", "/app/x", extra={"SCRIPT_NAME": "/app"})
    env = environ_of(addr2, v, modifier1=30)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/x")


def test_garbage_closes_cleanly_and_the_worker_keeps_serving(start_server):
    srv, addr = uwsgi_server(start_server, "--log-level", "debug", "wsgi_apps:hello")
    good = uw.packet(uw.request_vars("GET", "/hello"))
    assert uw.parse_response(uw.send(addr, good))[0] == 200
    bad = [
        b"\x00\x03\x00\x00\x01\x00K",  # a var running past the block
        b"\x00\x04\x00\x00\x00\x00\x00\x00",  # empty key
        uw.packet({"PATH_INFO": "/"}),  # no REQUEST_METHOD
        uw.packet(uw.request_vars(), modifier1=5),  # PSGI: not ours
        uw.packet(uw.request_vars(extra={"CONTENT_LENGTH": "12x"})),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # HTTP on a uwsgi socket
    ]
    rng = random.Random(5)
    # Random packets; those that start like a uwsgi header announce a block that never comes, and
    # are closed at the header timeout, so they are sent with a valid-looking start avoided.
    for _ in range(20):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(4, 200)))
        bad.append(junk if junk[0] not in (0, 30) else b"\x07" + junk[1:])
    for b in bad:
        out = uw.send(addr, b, timeout=5)
        assert out == b"" or out.startswith(b"HTTP/1.1 "), (b, out[:100])
    srv.wait_for_log(r"uwsgi: modifier1 5 requested by 127\.0\.0\.1: only 0 \(WSGI\) and 30")
    srv.wait_for_log(r"uwsgi: packet without REQUEST_METHOD")
    srv.wait_for_log(r"modifier1 71 .*this looks like HTTP: serve HTTP with -b / http-socket")
    assert uw.parse_response(uw.send(addr, good))[0] == 200
    assert "Traceback" not in srv.log


def test_vars_block_over_limit_request_head_is_refused(start_server):
    srv, addr = uwsgi_server(start_server, "--limit-request-head", "4096", "wsgi_apps:hello")
    big = uw.request_vars(extra={"HTTP_X_BIG": "x" * 5000})
    assert uw.send(addr, uw.packet(big)) == b""
    srv.wait_for_log(r"vars block larger than buffer-size")
    # nginx's largest block (64 KiB) passes with the default.
    srv2, addr2 = uwsgi_server(start_server, "wsgi_apps:hello")
    big = uw.request_vars(extra={"HTTP_X_BIG": "x" * 60000})
    assert uw.call(addr2, big)[0] == 200


def test_body_over_limit_request_body_gets_413(start_server):
    srv, addr = uwsgi_server(start_server, "--limit-request-body", "1000", "wsgi_apps:echo")
    body = b"x" * 2000
    status, _, _ = uw.call(addr, uw.request_vars("POST", "/", body=body), body)
    assert status == 413


def test_unix_and_abstract_uwsgi_sockets(start_server, tmp_path):
    path = tmp_path / "app.sock"
    name = f"ferrocorn-test-{os.getpid()}"
    srv = start_server("--uwsgi-socket", str(path), "--uwsgi-socket", f"@{name}", "-b", "127.0.0.1:0",
                       "wsgi_apps:hello", bind=None)
    srv.wait_for_log(rf"Listening at: unix:{path} \(uwsgi\)")
    srv.wait_for_log(rf"Listening at: unix:@{name} \(uwsgi\)")
    assert uw.call(str(path), uw.request_vars())[0] == 200
    assert uw.call("\0" + name, uw.request_vars())[0] == 200
    # HTTP next to them on the same server
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    c.request("GET", "/")
    assert c.getresponse().status == 200


def test_access_log_names_the_front_ends_client(start_server, tmp_path):
    log = tmp_path / "access.log"
    srv, addr = uwsgi_server(start_server, "--access-logfile", str(log), "--access-logformat",
                             '%(h)s "%(r)s" %(s)s %(b)s "%(a)s" %({x-multi}i)s', "wsgi_apps:hello")
    v = list(uw.request_vars("GET", "/p", "q=1", extra={"HTTP_USER_AGENT": "ua/1"}).items())
    v.append(("HTTP_X_MULTI", "m"))
    assert uw.call(addr, v)[0] == 200
    wait_for(lambda: log.exists() and log.read_text().strip(), 5, message="access log line")
    line = log.read_text().strip().splitlines()[-1]
    assert line.startswith('198.51.100.7 "GET /p?q=1 HTTP/1.1" 200 '), line
    assert line.endswith('"ua/1" m'), line


# ---- real nginx in front ------------------------------------------------------------------------

UWSGI_PARAMS = Path("/etc/nginx/uwsgi_params")


@needs_nginx
def test_django_behind_real_nginx_uwsgi_pass_tcp(start_server, tmp_path):
    djsite, static_root, env = djsite_with_static(tmp_path)
    srv = start_server("--uwsgi-socket", "127.0.0.1:0", "--chdir", str(djsite), "djsite.wsgi:application",
                       cwd=djsite, env=env, bind=None)
    with Nginx(tmp_path, f"""
location /static {{ alias {static_root}/; }}
location / {{
  include {UWSGI_PARAMS};
  uwsgi_pass 127.0.0.1:{srv.port};
}}
""") as port:
        check_django_through(port)


@needs_nginx
def test_repeated_headers_and_client_address_through_nginx(start_server, tmp_path):
    srv, addr = uwsgi_server(start_server, "wsgi_apps:environ_app")
    with Nginx(tmp_path, f"""
location / {{
  include {UWSGI_PARAMS};
  uwsgi_pass 127.0.0.1:{srv.port};
}}
""") as port:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.putrequest("GET", "/r%C3%A9sum%C3%A9?x=%2F", skip_host=True)
        for k, v in [("Host", "h.test"), ("X-Multi", "a"), ("X-Multi", "b"), ("Cookie", "a=1"),
                     ("Cookie", "b=2")]:
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        status, body = r.status, r.read()
        c.close()
        env = {k: v.get("value") for k, v in json.loads(body).items()}
        assert status == 200
        assert env["HTTP_X_MULTI"] == "a, b"
        assert env["HTTP_COOKIE"] == "a=1; b=2"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["PATH_INFO"] == "/r\xc3\xa9sum\xc3\xa9"  # UTF-8 bytes as latin-1, per PEP 3333
        assert env["QUERY_STRING"] == "x=%2F"
        assert env["REQUEST_METHOD"] == "GET" and env["SERVER_NAME"] == "localhost"


@needs_nginx
def test_django_behind_real_nginx_uwsgi_pass_unix_socket(start_server, tmp_path):
    djsite, static_root, env = djsite_with_static(tmp_path)
    sock = tmp_path / "uwsgi.sock"
    os.chmod(tmp_path, 0o755)
    start_server("--uwsgi-socket", str(sock), "--chmod-socket=666", "-b", "127.0.0.1:0",
                 "--chdir", str(djsite), "djsite.wsgi:application", cwd=djsite, env=env, bind=None)
    wait_for(sock.exists, 20, message="the uwsgi socket")
    with Nginx(tmp_path, f"""
location /static {{ alias {static_root}/; }}
location / {{
  include {UWSGI_PARAMS};
  uwsgi_pass unix:{sock};
}}
""") as port:
        check_django_through(port)


# ---- real Apache httpd in front -----------------------------------------------------------------

@pytest.mark.skipif(not apache_has("mod_proxy", "mod_proxy_uwsgi"),
                    reason="apache2 is installed by scripts/test.sh")
def test_behind_real_apache_mod_proxy_uwsgi(start_server, tmp_path):
    srv, addr = uwsgi_server(start_server, "--script-name", "/app", "wsgi_apps:environ_app")
    echo, echo_addr = uwsgi_server(start_server, "wsgi_apps:echo")
    with Apache(tmp_path, f"""
ProxyPass /app uwsgi://127.0.0.1:{srv.port}/app
ProxyPass /echo uwsgi://127.0.0.1:{echo.port}/
""", modules=["mod_proxy", "mod_proxy_uwsgi"]) as port:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.putrequest("GET", "/app/some/where?x=1")
        c.putheader("X-Multi", "a")
        c.putheader("X-Multi", "b")
        c.endheaders()
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, body[:300]
        env = {k: v.get("value") for k, v in json.loads(body).items()}
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/some/where")
        assert env["QUERY_STRING"] == "x=1"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["HTTP_X_MULTI"] == "a, b"
        data = os.urandom(2 * 1024 * 1024)
        c.request("POST", "/echo/", body=data, headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        assert r.status == 200 and r.read() == data
        c.close()


@pytest.mark.skipif(not apache_has("mod_proxy", "mod_proxy_uwsgi"),
                    reason="apache2 is installed by scripts/test.sh")
def test_django_behind_real_apache_mod_proxy_uwsgi_with_its_static_files(start_server, tmp_path):
    """The example Django project behind Apache ``mod_proxy_uwsgi``; its collected static files are
    served by ferrocorn itself (``--static``), so they reach the browser through Apache too."""
    djsite, static_root, env = djsite_with_static(tmp_path)
    srv = start_server("--uwsgi-socket", "127.0.0.1:0", "--static", f"/static={static_root}",
                       "--chdir", str(djsite), "djsite.wsgi:application", cwd=djsite, env=env, bind=None)
    with Apache(tmp_path, f"""
ProxyPass / uwsgi://127.0.0.1:{srv.port}/
""", modules=["mod_proxy", "mod_proxy_uwsgi"]) as port:
        check_django_through(port, chunked_upload=False)
    assert "Traceback" not in srv.log
