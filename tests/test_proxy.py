"""Behind a proxy: trusted front ends (``--forwarded-allow-ips``: X-Forwarded-For, secure scheme
headers, forwarder headers) and the PROXY protocol (``--proxy-protocol``, ``--proxy-allow-from``).

Everything goes over real sockets with raw bytes. The test client connects from 127.0.0.1, which
the defaults trust; ``--forwarded-allow-ips 10.9.9.9`` / ``--proxy-allow-from 10.9.9.9`` make it
an untrusted peer.
"""
from __future__ import annotations

import ipaddress
import json
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from rawhttp import Conn, build_request, send_and_collect, server_args, status_of  # noqa: E402

ferrocorn_only = pytest.mark.ferrocorn_only

APP = "wsgi_apps:environ_app"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


@pytest.fixture
def serve(start_server, tmp_path):
    """Start ``environ_app`` (records its calls); returns (server, calls_path)."""
    calls = tmp_path / "calls.txt"

    def _serve(*args):
        srv = start_server(*server_args(*args), APP, env={"FERRO_TEST_CALLS": str(calls)})
        return srv, calls
    return _serve


def environ(resp) -> dict:
    assert resp.status == 200, resp.raw[:300]
    return {k: v.get("value") for k, v in json.loads(resp.body).items()}


def get(srv, *headers, target="/") -> dict:
    with Conn(srv) as c:
        return environ(c.request("GET", target, headers=list(headers)))


def calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def refused(srv, data: bytes, status: int = 400) -> None:
    """``data`` gets ``status`` and a closed connection; the server still answers afterwards."""
    got, closed = send_and_collect(srv, data, timeout=5)
    assert status_of(got) == status, got[:300]
    assert closed, "connection left open after a %d" % status
    assert srv.alive()
    with Conn(srv) as c:
        assert c.request("GET", "/after").status == 200


def v2_header(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack(">H", len(body)) + body


def v2_tcp(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    family = 0x11 if s.version == 4 else 0x21
    return v2_header(1, family, s.packed + d.packed + struct.pack(">HH", sport, dport) + tlvs)


# ---------------------------------------------------------------------------------------------
# X-Forwarded-For from trusted front ends
# ---------------------------------------------------------------------------------------------

@ferrocorn_only
def test_trusted_peer_forwarded_for_gives_rightmost_untrusted_address(serve):
    srv, _ = serve()
    env = get(srv, ("X-Forwarded-For", "203.0.113.9, 198.51.100.20, 127.0.0.1"))
    assert env["REMOTE_ADDR"] == "198.51.100.20"
    assert env["REMOTE_PORT"] == "80"  # gunicorn's choice when the entry names no port
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 198.51.100.20, 127.0.0.1"
    env = get(srv, ("X-Forwarded-For", "203.0.113.9:4711"))
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("203.0.113.9", "4711")
    env = get(srv, ("X-Forwarded-For", "[2001:db8::5]:8443"))
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("2001:db8::5", "8443")
    # Every hop trusted: the left-most one.
    env = get(srv, ("X-Forwarded-For", "::1, 127.0.0.1"))
    assert env["REMOTE_ADDR"] == "::1"
    # Two header lines are one list.
    env = get(srv, ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "127.0.0.1"))
    assert env["REMOTE_ADDR"] == "203.0.113.9"


@ferrocorn_only
def test_unparseable_forwarded_for_entry_never_becomes_remote_addr(serve):
    srv, _ = serve()
    env = get(srv, ("X-Forwarded-For", "<script>"))
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    env = get(srv, ("X-Forwarded-For", "203.0.113.9, unknown, 127.0.0.1"))
    assert env["REMOTE_ADDR"] == "127.0.0.1"


@ferrocorn_only
def test_forwarded_for_applies_per_request_on_a_keepalive_connection(serve):
    srv, _ = serve()
    with Conn(srv) as c:
        a = environ(c.request("GET", "/1", headers=[("X-Forwarded-For", "203.0.113.1")]))
        b = environ(c.request("GET", "/2"))
        d = environ(c.request("GET", "/3", headers=[("X-Forwarded-For", "203.0.113.3")]))
    assert a["REMOTE_ADDR"] == "203.0.113.1"
    assert b["REMOTE_ADDR"] == "127.0.0.1" and b["REMOTE_PORT"] != "80"
    assert d["REMOTE_ADDR"] == "203.0.113.3"


def test_untrusted_peer_forwarding_headers_change_nothing(serve):
    srv, _ = serve("--forwarded-allow-ips", "10.9.9.9")
    with Conn(srv) as c:
        port = str(c.sock.getsockname()[1])
        env = environ(c.request("GET", "/", headers=[
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Ssl", "on"),
        ]))
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == port
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    assert env["HTTP_X_FORWARDED_PROTO"] == "https"


def test_untrusted_peer_contradictory_scheme_headers_are_not_refused(serve):
    srv, _ = serve("--forwarded-allow-ips", "10.9.9.9")
    env = get(srv, ("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "off"))
    assert env["wsgi.url_scheme"] == "http"


def test_forwarded_allow_ips_star_trusts_everyone(serve):
    srv, _ = serve("--forwarded-allow-ips", "*")
    assert get(srv, ("X-Forwarded-Proto", "https"))["wsgi.url_scheme"] == "https"


def test_forwarded_allow_ips_cidr(serve):
    srv, _ = serve("--forwarded-allow-ips", "127.0.0.0/8")
    assert get(srv, ("X-Forwarded-Proto", "https"))["wsgi.url_scheme"] == "https"


# ---------------------------------------------------------------------------------------------
# Secure scheme headers
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,value,scheme", [
    ("X-Forwarded-Proto", "https", "https"),
    ("X-Forwarded-Protocol", "ssl", "https"),
    ("X-Forwarded-Ssl", "on", "https"),
    ("x-forwarded-proto", "https", "https"),
    ("X-Forwarded-Proto", "http", "http"),
    ("X-Forwarded-Proto", "HTTPS", "http"),  # gunicorn compares the value exactly
])
def test_secure_scheme_headers(serve, name, value, scheme):
    srv, _ = serve()
    assert get(srv, (name, value))["wsgi.url_scheme"] == scheme


def test_no_scheme_header_keeps_http(serve):
    srv, _ = serve()
    assert get(srv)["wsgi.url_scheme"] == "http"


def test_agreeing_scheme_headers(serve):
    srv, _ = serve()
    env = get(srv, ("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on"))
    assert env["wsgi.url_scheme"] == "https"


def test_scheme_is_decided_per_request_on_a_keepalive_connection(serve):
    srv, _ = serve()
    with Conn(srv) as c:
        a = environ(c.request("GET", "/1", headers=[("X-Forwarded-Proto", "https")]))
        b = environ(c.request("GET", "/2"))
    assert (a["wsgi.url_scheme"], b["wsgi.url_scheme"]) == ("https", "http")


@pytest.mark.parametrize("headers", [
    [("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "off")],
    [("X-Forwarded-Protocol", "ssl"), ("X-Forwarded-Proto", "http")],
    [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")],
])
def test_contradictory_scheme_headers_are_400(serve, headers):
    srv, path = serve()
    refused(srv, build_request("GET", "/bad", headers=headers))
    assert calls(path) == ["GET /after"], "a refused request reached the app"


@ferrocorn_only
def test_custom_secure_scheme_headers_from_config(serve, tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text("secure_scheme_headers = {'X-Scheme': 'https'}\n")
    srv, _ = serve("-c", str(conf))
    assert get(srv, ("X-Scheme", "https"))["wsgi.url_scheme"] == "https"
    # The defaults are replaced, not extended.
    assert get(srv, ("X-Forwarded-Proto", "https"))["wsgi.url_scheme"] == "http"


# ---------------------------------------------------------------------------------------------
# x_forwarded_for_header and forwarder_headers from a config file
# ---------------------------------------------------------------------------------------------

@ferrocorn_only
def test_seed_style_config_forwarded_for_header(serve, tmp_path):
    conf = tmp_path / "gunicorn_conf.py"
    conf.write_text("x_forwarded_for_header = 'X-FORWARDED-FOR'  # nginx in front\n")
    srv, _ = serve("-c", str(conf))
    assert "no effect" not in srv.log
    env = get(srv, ("x-forwarded-for", "203.0.113.50"))
    assert env["REMOTE_ADDR"] == "203.0.113.50"


@ferrocorn_only
def test_custom_forwarded_for_header_from_config(serve, tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text("x_forwarded_for_header = 'X-Real-IP'\n")
    srv, _ = serve("-c", str(conf))
    env = get(srv, ("X-Real-IP", "203.0.113.51"), ("X-Forwarded-For", "203.0.113.99"))
    assert env["REMOTE_ADDR"] == "203.0.113.51"
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.99"
    env = get(srv, ("X-Forwarded-For", "203.0.113.99"))
    assert env["REMOTE_ADDR"] == "127.0.0.1"


def test_forwarder_headers_only_for_trusted_peers(serve):
    srv, _ = serve("--forwarder-headers", "X_TENANT")
    assert get(srv, ("X_Tenant", "blue"))["HTTP_X_TENANT"] == "blue"
    assert "HTTP_X_OTHER" not in get(srv, ("X_Other", "x"))
    srv, _ = serve("--forwarder-headers", "X_TENANT", "--forwarded-allow-ips", "10.9.9.9")
    assert "HTTP_X_TENANT" not in get(srv, ("X_Tenant", "blue"))


# ---------------------------------------------------------------------------------------------
# PROXY protocol
# ---------------------------------------------------------------------------------------------

def _three_requests(c) -> list[dict]:
    return [environ(c.request("GET", "/r%d" % i)) for i in range(3)]


@ferrocorn_only
def test_proxy_v1_addresses_hold_for_every_keepalive_request(serve):
    srv, _ = serve("--proxy-protocol")
    with Conn(srv) as c:
        c.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n")
        envs = _three_requests(c)
    for env in envs:
        assert env["REMOTE_ADDR"] == "203.0.113.7"
        assert env["REMOTE_PORT"] == "51000"
        assert env["PROXY_PROTOCOL"] == "TCP4"
        assert (env["PROXY_ADDR"], env["PROXY_PORT"]) == ("192.0.2.1", "443")
    assert [e["PATH_INFO"] for e in envs] == ["/r0", "/r1", "/r2"]


@ferrocorn_only
def test_proxy_v1_with_pipelined_requests_in_the_same_packet(serve):
    srv, _ = serve("--proxy-protocol=v1")
    with Conn(srv) as c:
        c.send(b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 80\r\n"
               + build_request("GET", "/a") + build_request("GET", "/b"))
        envs = [environ(c.read_response()) for _ in range(2)]
        envs.append(environ(c.request("GET", "/c")))
    assert [e["REMOTE_ADDR"] for e in envs] == ["2001:db8::7"] * 3
    assert [e["REMOTE_PORT"] for e in envs] == ["40000"] * 3


@ferrocorn_only
def test_proxy_v2_addresses_hold_for_every_keepalive_request(serve):
    srv, _ = serve("--proxy-protocol=v2")
    tlvs = b"\x04\x00\x03abc" + b"\x05\x00\x02id"  # NOOP and UNIQUE_ID, skipped
    with Conn(srv) as c:
        c.send(v2_tcp("198.51.100.8", "10.0.0.1", 61000, 8080, tlvs))
        envs = _three_requests(c)
    for env in envs:
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("198.51.100.8", "61000")
        assert (env["PROXY_PROTOCOL"], env["PROXY_ADDR"], env["PROXY_PORT"]) == ("TCP4", "10.0.0.1", "8080")


@ferrocorn_only
def test_proxy_v2_ipv6(serve):
    srv, _ = serve("--proxy-protocol")
    with Conn(srv) as c:
        c.send(v2_tcp("2001:db8::42", "2001:db8::1", 1234, 443) + build_request("GET", "/"))
        env = environ(c.read_response())
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("2001:db8::42", "1234")
    assert env["PROXY_PROTOCOL"] == "TCP6"


@ferrocorn_only
def test_proxy_header_sent_byte_by_byte(serve):
    srv, _ = serve("--proxy-protocol")
    with Conn(srv) as c:
        for b in v2_tcp("198.51.100.9", "10.0.0.1", 5000, 80):
            c.send(bytes([b]))
        env = environ(c.request("GET", "/"))
    assert env["REMOTE_ADDR"] == "198.51.100.9"


@ferrocorn_only
@pytest.mark.parametrize("header,protocol", [
    (b"PROXY UNKNOWN\r\n", "UNKNOWN"),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "UNKNOWN"),
    (v2_header(0, 0x00, b""), "LOCAL"),
    (v2_header(1, 0x00, b""), "UNSPEC"),
])
def test_proxy_header_without_addresses_keeps_the_real_ones(serve, header, protocol):
    srv, _ = serve("--proxy-protocol")
    with Conn(srv) as c:
        port = str(c.sock.getsockname()[1])
        c.send(header)
        envs = _three_requests(c)
    for env in envs:
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", port)
        assert env["PROXY_PROTOCOL"] == protocol
        assert "PROXY_ADDR" not in env


@ferrocorn_only
def test_proxy_protocol_listener_still_serves_plain_requests(serve):
    srv, _ = serve("--proxy-protocol")
    env = get(srv)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "PROXY_PROTOCOL" not in env
    # POST starts like PROXY: told apart after two bytes.
    with Conn(srv) as c:
        r = c.request("POST", "/", headers=[("Content-Length", "0")])
    assert r.status == 200


@ferrocorn_only
def test_proxy_header_from_a_peer_not_allowed_is_400(serve):
    srv, path = serve("--proxy-protocol", "--proxy-allow-from", "10.9.9.9")
    refused(srv, b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n" + build_request("GET", "/spoof"))
    refused(srv, v2_tcp("203.0.113.7", "192.0.2.1", 51000, 443) + build_request("GET", "/spoof"))
    assert calls(path) == ["GET /after", "GET /after"]


@ferrocorn_only
@pytest.mark.parametrize("data", [
    b"PROXY TCP4 203.0.113.7 192.0.2.1 51000\r\n",
    b"PROXY TCP4 ::1 ::1 1 2\r\n",
    b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 99999\r\n",
    b"PROXY TCP5 203.0.113.7 192.0.2.1 1 2\r\n",
    b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\n",
    b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
    V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\x00" * 12,  # version 1
    V2_SIGNATURE + b"\x21\x12\x00\x0c" + b"\x00" * 12,  # UDP
    V2_SIGNATURE + b"\x21\x21\x00\x0c" + b"\x00" * 12,  # IPv6 with an IPv4-sized block
], ids=["v1-fields", "v1-family", "v1-port", "v1-proto", "v1-lf", "v1-long",
        "v2-version", "v2-udp", "v2-short"])
def test_malformed_proxy_header_is_400_and_the_worker_lives(serve, data):
    srv, path = serve("--proxy-protocol")
    refused(srv, data + build_request("GET", "/bad"))
    refused(srv, data + build_request("GET", "/bad"))
    assert calls(path) == ["GET /after", "GET /after"]
    assert srv.log.count("Booting worker") == 1, "the worker was replaced"


@ferrocorn_only
def test_proxy_header_without_proxy_protocol_is_a_bad_request(serve):
    srv, _ = serve()
    refused(srv, b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n" + build_request("GET", "/"))


@ferrocorn_only
def test_proxy_header_only_at_the_start_of_a_connection(serve):
    srv, _ = serve("--proxy-protocol")
    with Conn(srv) as c:
        assert environ(c.request("GET", "/"))["REMOTE_ADDR"] == "127.0.0.1"
        c.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n")
        assert c.read_response().status == 400


@ferrocorn_only
def test_forwarded_for_behind_proxy_header_needs_a_trusted_proxied_client(serve):
    srv, _ = serve("--proxy-protocol")
    # The PROXY header names an outside client: what it claims in X-Forwarded-For is not followed.
    with Conn(srv) as c:
        c.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n")
        env = environ(c.request("GET", "/", headers=[("X-Forwarded-For", "198.51.100.66")]))
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    # The PROXY header names a trusted front end (an nginx on this host): its chain counts.
    with Conn(srv) as c:
        c.send(b"PROXY TCP4 127.0.0.1 192.0.2.1 51000 443\r\n")
        env = environ(c.request("GET", "/", headers=[("X-Forwarded-For", "198.51.100.66")]))
    assert env["REMOTE_ADDR"] == "198.51.100.66"


# ---------------------------------------------------------------------------------------------
# Access log
# ---------------------------------------------------------------------------------------------

@ferrocorn_only
def test_access_log_shows_the_proxied_client(serve):
    srv, _ = serve("--proxy-protocol", "--access-logfile", "-", "--access-logformat", "%(h)s %(r)s")
    with Conn(srv) as c:
        c.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n")
        for i in range(3):
            assert c.request("GET", "/proxied%d" % i).status == 200
    for i in range(3):
        srv.wait_for_log(r"203\.0\.113\.7 GET /proxied%d HTTP/1\.1" % i)
    with Conn(srv) as c:
        assert c.request("GET", "/xff", headers=[("X-Forwarded-For", "198.51.100.5")]).status == 200
        assert c.request("GET", "/direct").status == 200
    srv.wait_for_log(r"198\.51\.100\.5 GET /xff HTTP/1\.1")
    srv.wait_for_log(r"127\.0\.0\.1 GET /direct HTTP/1\.1")
