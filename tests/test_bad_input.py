"""Malformed or dangerous requests: each must get the right status, the connection closed, and must
never reach the application; afterwards the same server still answers a good request.

The app (``wsgi_apps:echo``) appends ``METHOD RAW_URI`` to the file in $FERRO_TEST_CALLS on entry, so
"never reached the app" is checked by the calls file holding only the follow-up good request.
Also here: the header-name/method/folding/whitespace options that turn some of these into
accepted requests.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from rawhttp import Conn, send_and_collect, server_args, status_of  # noqa: E402

ferrocorn_only = pytest.mark.ferrocorn_only

GOOD_HOST = b"Host: localhost\r\n"


def req(head: bytes, body: bytes = b"") -> bytes:
    """``head`` is the request line plus header lines, without the final blank line."""
    return head + b"\r\n\r\n" + body


def get_with(*header_lines: bytes) -> bytes:
    return req(b"GET / HTTP/1.1\r\nHost: localhost" + b"".join(b"\r\n" + h for h in header_lines))


def post_with(*header_lines: bytes, body: bytes = b"") -> bytes:
    return req(b"POST / HTTP/1.1\r\nHost: localhost" + b"".join(b"\r\n" + h for h in header_lines), body)


@pytest.fixture
def serve_recorded(start_server, tmp_path):
    """Start ``wsgi_apps:APP`` recording its calls; returns (server, calls_path)."""
    calls = tmp_path / "calls.txt"

    def _serve(*args, app="echo"):
        srv = start_server(*server_args(*args), "wsgi_apps:" + app, env={"FERRO_TEST_CALLS": str(calls)})
        return srv, calls
    return _serve


def _calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _assert_rejected_and_server_fine(srv, data: bytes, status: int, calls: Path | None):
    got, closed = send_and_collect(srv, data, timeout=5)
    assert status_of(got) == status, got[:300]
    assert closed, "connection left open after a %d" % status
    head, _, rest = got.partition(b"\r\n\r\n")
    length = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")[1:]
              if line.lower().startswith(b"content-length:")]
    if length:  # nothing may follow the one error response
        assert len(rest) == int(length[0]), "extra bytes after the error response: %r" % got[:500]
    with Conn(srv) as c:
        r = c.request("GET", "/good")
        assert r.status == 200
    srv.assert_worker_not_replaced()
    if calls is not None:
        assert _calls(calls) == ["GET /good"], "a rejected request reached the app"


def case(name, *values, marks=()):
    return pytest.param(*values, id=name, marks=marks)


# case(id, request bytes, expected status, extra server args)
REJECTED = [
    # request line
    case("missing-http-version", req(b"GET /\r\nHost: localhost"), 400, ()),
    case("double-space-in-request-line", req(b"GET  / HTTP/1.1\r\nHost: localhost"), 400, ()),
    case("space-in-target", req(b"GET /a b HTTP/1.1\r\nHost: localhost"), 400, ()),
    case("lowercase-http-version", req(b"GET / http/1.1\r\nHost: localhost"), 400, ()),
    case("version-without-minor", req(b"GET / HTTP/1\r\nHost: localhost"), 400, ()),
    case("binary-garbage", req(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400, ()),
    case("nul-in-target", req(b"GET /a\x00b HTTP/1.1\r\nHost: localhost"), 400, ()),
    case("bare-cr-in-target", req(b"GET /a\rb HTTP/1.1\r\nHost: localhost"), 400, ()),
    # method
    case("bad-token-char-in-method", req(b"GE(T / HTTP/1.1\r\nHost: localhost"), 400, ()),
    case("lowercase-method", req(b"get / HTTP/1.1\r\nHost: localhost"), 400, ()),
    # header fields
    case("header-without-colon", get_with(b"NoColonHere"), 400, ()),
    case("empty-header-name", get_with(b": value"), 400, ()),
    case("bad-token-char-in-header-name", get_with(b"Bad(Name: v"), 400, ()),
    case("space-inside-header-name", get_with(b"Bad Name: v"), 400, ()),
    case("space-before-colon", get_with(b"X-Foo : bar"), 400, ()),
    case("tab-before-colon", get_with(b"X-Foo\t: bar"), 400, ()),
    case("bare-cr-in-header-value", get_with(b"X-A: a\rb"), 400, ()),
    case("nul-in-header-value", get_with(b"X-A: a\x00b"), 400, ()),
    case("obs-fold", get_with(b"X-A: a", b" b"), 400, ()),
    case("obs-fold-tab", get_with(b"X-A: a", b"\tb"), 400, ()),
    case("underscore-header-refused", get_with(b"X_Auth_User: alice"), 400, ("--header-map", "refuse")),
    # message framing
    case("content-length-and-transfer-encoding",
        post_with(b"Content-Length: 5", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400, ()),
    case("transfer-encoding-and-content-length",
        post_with(b"Transfer-Encoding: chunked", b"Content-Length: 5", body=b"0\r\n\r\n"), 400, ()),
    case("duplicate-content-length", post_with(b"Content-Length: 3", b"Content-Length: 3", body=b"abc"), 400, ()),
    case("conflicting-content-length", post_with(b"Content-Length: 3", b"Content-Length: 4", body=b"abcd"), 400, ()),
    case("content-length-list", post_with(b"Content-Length: 3, 3", body=b"abc"), 400, ()),
    case("non-numeric-content-length", post_with(b"Content-Length: abc", body=b"abc"), 400, ()),
    case("plus-signed-content-length", post_with(b"Content-Length: +3", body=b"abc"), 400, ()),
    case("negative-content-length", post_with(b"Content-Length: -3", body=b"abc"), 400, ()),
    case("hex-content-length", post_with(b"Content-Length: 0x3", body=b"abc"), 400, ()),
    case("chunked-not-last", post_with(b"Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"), 400, ()),
    case("chunked-then-gzip-in-two-headers",
        post_with(b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip", body=b"0\r\n\r\n"), 400, ()),
    case("chunked-applied-twice", post_with(b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n"), 400, ()),
    case("chunked-in-http10",
        req(b"POST / HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked", b"3\r\nabc\r\n0\r\n\r\n"), 400, ()),
    # unsupported transfer-codings
    case("unknown-transfer-coding", post_with(b"Transfer-Encoding: foo", body=b"abc"), 501, ()),
    case("unknown-coding-then-chunked", post_with(b"Transfer-Encoding: foo, chunked", body=b"0\r\n\r\n"), 501, ()),
    # gunicorn answers 400 here (it knows gzip but refuses a request body that is not chunked-last)
    case("gzip-alone", post_with(b"Transfer-Encoding: gzip", body=b"abc"), 501, (), marks=ferrocorn_only),
    # gunicorn accepts this and hands the still-gzipped bytes to the app
    case("gzip-then-chunked", post_with(b"Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"), 501, (), marks=ferrocorn_only),
    # unsupported versions: gunicorn answers 400 for HTTP/2.0 and serves HTTP/1.2 as if it were 1.x
    case("http-2.0", req(b"GET / HTTP/2.0\r\nHost: localhost"), 505, (), marks=ferrocorn_only),
    case("http-1.2", req(b"GET / HTTP/1.2\r\nHost: localhost"), 505, (), marks=ferrocorn_only),
]


@pytest.mark.parametrize("data,status,args", REJECTED)
def test_rejected_before_the_app(serve_recorded, data, status, args):
    srv, calls = serve_recorded(*args)
    _assert_rejected_and_server_fine(srv, data, status, calls)


# Errors in a chunked body.  gunicorn parses the body lazily while the app reads wsgi.input, so
# there the app has already been entered; the generic test checks status + close + recovery, and a
# ferrocorn-only test checks that the app was never called.
BAD_CHUNKED = [
    case("bad-chunk-size", b"zz\r\nhello\r\n0\r\n\r\n"),
    case("negative-chunk-size", b"-5\r\nhello\r\n0\r\n\r\n"),
    case("chunk-data-longer-than-size", b"3\r\nhello\r\n0\r\n\r\n"),
    case("chunk-size-with-space-inside", b"1 0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"),
    # gunicorn parses the size as an unbounded Python int and waits for 2**80 bytes: it never answers
    case("chunk-size-overflow", b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", marks=ferrocorn_only),
]


@pytest.mark.parametrize("body", BAD_CHUNKED)
def test_bad_chunked_body_is_400(serve_recorded, body):
    srv, _ = serve_recorded()
    _assert_rejected_and_server_fine(srv, post_with(b"Transfer-Encoding: chunked", body=body), 400, None)


@ferrocorn_only  # gunicorn only notices a bad chunk while the app reads wsgi.input
@pytest.mark.parametrize("body", BAD_CHUNKED)
def test_bad_chunked_body_never_reaches_the_app(serve_recorded, body):
    srv, calls = serve_recorded()
    _assert_rejected_and_server_fine(srv, post_with(b"Transfer-Encoding: chunked", body=body), 400, calls)


# ---------------------------------------------------------------------------------------------
# header names with "_" (--header-map), methods, folding, whitespace before the colon
# ---------------------------------------------------------------------------------------------

def _environ_of(srv, data: bytes) -> dict:
    with Conn(srv) as c:
        c.send(data)
        r = c.read_response()
    assert r.status == 200, r.raw[:300]
    return {k: v["value"] for k, v in json.loads(r.body).items() if "value" in v}


def test_underscore_header_is_dropped_by_default(serve_recorded):
    srv, calls = serve_recorded(app="environ_app")
    env = _environ_of(srv, get_with(b"X_Auth_User: alice"))
    assert "HTTP_X_AUTH_USER" not in env
    # and it cannot smuggle a value into the dash-spelled header either
    env = _environ_of(srv, get_with(b"X-Auth-User: bob", b"X_Auth_User: alice"))
    assert env["HTTP_X_AUTH_USER"] == "bob"
    assert len(_calls(calls)) == 2


def test_underscore_header_is_passed_with_header_map_dangerous(serve_recorded):
    srv, _ = serve_recorded("--header-map", "dangerous", app="environ_app")
    env = _environ_of(srv, get_with(b"X_Auth_User: alice"))
    assert env["HTTP_X_AUTH_USER"] == "alice"


def test_header_map_refuse_still_accepts_dash_headers(serve_recorded):
    srv, _ = serve_recorded("--header-map", "refuse", app="environ_app")
    env = _environ_of(srv, get_with(b"X-Auth-User: bob"))
    assert env["HTTP_X_AUTH_USER"] == "bob"


def test_casefold_alone_does_not_admit_lowercase_methods(serve_recorded):
    # gunicorn's rule, kept for drop-in compatibility: lowercase letters are unconventional, so
    # --casefold-http-method only uppercases methods that --permit-unconventional-http-method let in.
    srv, calls = serve_recorded("--casefold-http-method", app="environ_app")
    _assert_rejected_and_server_fine(srv, req(b"get / HTTP/1.1\r\nHost: localhost"), 400, None)


def test_casefold_wins_over_permit_unconventional(serve_recorded):
    srv, _ = serve_recorded("--casefold-http-method", "--permit-unconventional-http-method", app="environ_app")
    env = _environ_of(srv, req(b"get / HTTP/1.1\r\nHost: localhost"))
    assert env["REQUEST_METHOD"] == "GET"


def test_lowercase_method_is_kept_with_permit_unconventional(serve_recorded):
    srv, _ = serve_recorded("--permit-unconventional-http-method", app="environ_app")
    env = _environ_of(srv, req(b"get / HTTP/1.1\r\nHost: localhost"))
    assert env["REQUEST_METHOD"] == "get"


def test_unknown_uppercase_method_reaches_the_app(serve_recorded):
    srv, _ = serve_recorded(app="environ_app")
    env = _environ_of(srv, req(b"PROPFIND / HTTP/1.1\r\nHost: localhost"))
    assert env["REQUEST_METHOD"] == "PROPFIND"


def test_obs_fold_is_unfolded_with_permit_obsolete_folding(serve_recorded):
    srv, _ = serve_recorded("--permit-obsolete-folding", app="environ_app")
    env = _environ_of(srv, get_with(b"X-Folded: first", b"  second", b"X-After: yes"))
    assert env["HTTP_X_FOLDED"] == "first second"
    assert env["HTTP_X_AFTER"] == "yes"


def test_space_before_colon_is_stripped_with_strip_header_spaces(serve_recorded):
    srv, _ = serve_recorded("--strip-header-spaces", app="environ_app")
    env = _environ_of(srv, get_with(b"X-Foo : bar"))
    assert env["HTTP_X_FOO"] == "bar"


def test_header_value_whitespace_is_trimmed_but_inner_kept(serve_recorded):
    srv, _ = serve_recorded(app="environ_app")
    env = _environ_of(srv, get_with(b"X-Spaces: \t a  b \t "))
    assert env["HTTP_X_SPACES"] == "a  b"
