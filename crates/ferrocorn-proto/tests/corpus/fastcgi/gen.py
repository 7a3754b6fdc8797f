#!/usr/bin/env python3
"""Writes the synthetic cases of this corpus (and, given capture files, the capture cases).

    python3 gen.py                      # rewrite the synthetic *.fcgi files
    python3 gen.py --captures DIR       # also rewrite capture-*.fcgi from DIR/<name>.bin

Each case is built from records and its expected transcript is written next to it by
construction (what the bytes mean), not by running the Rust code. Hand-written files are fine
too: the format is in README.md. The capture files were made with capture.py (see there).
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, DATA, GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = range(1, 12)
NAMES = {1: "BEGIN_REQUEST", 2: "ABORT_REQUEST", 3: "END_REQUEST", 4: "PARAMS", 5: "STDIN", 6: "STDOUT",
         7: "STDERR", 8: "DATA", 9: "GET_VALUES", 10: "GET_VALUES_RESULT", 11: "UNKNOWN_TYPE"}


def esc_hex(b: bytes) -> str:
    return "".join(f"\\x{c:02x}" for c in b)


def esc_text(b: bytes) -> str:
    out = []
    for c in b:
        ch = chr(c)
        if c == 0x5C:
            out.append("\\\\")
        elif 0x21 <= c <= 0x7E:
            out.append(ch)
        elif c == 0x20:
            out.append(" ")
        else:
            out.append(f"\\x{c:02x}")
    s = "".join(out)
    if s.endswith(" "):
        s = s[:-1] + "\\s"
    if s.startswith(" "):
        s = "\\s" + s[1:]
    if s.startswith("#"):
        s = "\\x23" + s[1:]
    return s


def length(n: int, four: bool = False) -> bytes:
    if n < 128 and not four:
        return bytes([n])
    return struct.pack(">I", n | 0x80000000)


def pair(name: bytes, value: bytes, four: bool = False) -> bytes:
    return length(len(name), four) + length(len(value), four) + name + value


class Wire:
    """Records plus their text rendering (one line per header, content on its own lines)."""

    def __init__(self):
        self.raw = b""
        self.lines: list[str] = []

    def bytes_(self, b: bytes, note: str | None = None, text: bool = False):
        if note:
            self.lines.append(f"# {note}")
        if b:
            self.lines.append(esc_text(b) if text else esc_hex(b))
        self.raw += b
        return self

    def rec(self, kind: int, rid: int, content: bytes = b"", pad: int = 0, *, clen: int | None = None,
            version: int = 1, pairs: list[bytes] | None = None, note: str | None = None):
        clen = len(content) if clen is None else clen
        hdr = struct.pack(">BBHHBB", version, kind, rid, clen, pad, 0)
        label = NAMES.get(kind, f"type {kind}")
        self.lines.append(f"# {note or label} id={rid} len={clen} pad={pad}")
        self.lines.append(esc_hex(hdr))
        self.raw += hdr
        if pairs is not None:
            for p in pairs:
                self._pair_line(p)
            assert b"".join(pairs) == content
        elif content:
            if kind in (BEGIN, END, UNKNOWN_TYPE):
                self.lines.append(esc_hex(content))
            else:
                self.lines.append(esc_text(content))
        self.raw += content
        if pad:
            self.lines.append(esc_hex(b"\xaa" * pad))
            self.raw += b"\xaa" * pad
        return self

    def _pair_line(self, p: bytes):
        # length bytes in hex, name and value as text
        i = 0
        lens = []
        for _ in range(2):
            if i >= len(p):
                break
            if p[i] < 128:
                lens.append(p[i])
                i += 1
            else:
                lens.append(struct.unpack(">I", p[i:i + 4])[0] & 0x7FFFFFFF)
                i += 4
        self.lines.append(esc_hex(p[:i]) + esc_text(p[i:]) if i < len(p) else esc_hex(p))

    def begin(self, rid: int, role: int = 1, flags: int = 0, pad: int = 0):
        body = struct.pack(">HB5x", role, flags)
        return self.rec(BEGIN, rid, body, pad, note=f"BEGIN_REQUEST role={role} flags={flags}")

    def params(self, rid: int, plist: list[bytes], pad: int = 0):
        return self.rec(PARAMS, rid, b"".join(plist), pad, pairs=plist)

    def get_values(self, names: list[bytes], rid: int = 0):
        plist = [pair(n, b"") for n in names]
        return self.rec(GET_VALUES, rid, b"".join(plist), pairs=plist)


def request_lines(rid: int, keep: bool, head_len: int, params: list[tuple[bytes, bytes]]) -> list[str]:
    out = [f"request id={rid} keep_conn={'true' if keep else 'false'} head_len={head_len}"]
    out += [f"param {esc_text(n)}={esc_text(v)}" for n, v in params]
    return out


class Case:
    def __init__(self, name: str, description: str):
        self.name = name
        self.description = description
        self.options: list[str] = []
        self.expect: list[str] = []
        self.w = Wire()

    def write(self):
        text = [f"description: {self.description}"]
        text += [f"option: {o}" for o in self.options]
        text += [f"expect: {e}" for e in self.expect]
        text.append("---")
        text += self.w.lines
        (HERE / f"{self.name}.fcgi").write_text("\n".join(text) + "\n")


CASES: list[Case] = []


def case(name: str, description: str) -> Case:
    c = Case(name, description)
    CASES.append(c)
    return c


P_GET = [(b"REQUEST_METHOD", b"GET"), (b"SCRIPT_NAME", b"/app"), (b"QUERY_STRING", b"a=1")]


def simple(c: Case, rid: int = 1, flags: int = 0, params=P_GET, body: bytes = b"", pad: int = 0):
    """A whole request; returns the request's expected lines."""
    start = len(c.w.raw)
    c.w.begin(rid, 1, flags, pad)
    c.w.params(rid, [pair(n, v) for n, v in params], pad)
    c.w.rec(PARAMS, rid, b"", pad, note="PARAMS end")
    head_len = len(c.w.raw) - start
    if body:
        c.w.rec(STDIN, rid, body, pad)
    c.w.rec(STDIN, rid, b"", pad, note="STDIN end")
    lines = request_lines(rid, bool(flags & 1), head_len, params)
    if body:
        lines.append(f"body {esc_text(body)}")
    lines.append("end")
    if not flags & 1:
        lines.append("close")
    return lines


def build():
    # ---- valid requests -------------------------------------------------------------------
    c = case("ok-simple-get", "BEGIN, one PARAMS record, the empty PARAMS and STDIN records; no KEEP_CONN")
    c.expect = simple(c)

    c = case("ok-post-body-keep-conn", "a body in one STDIN record; KEEP_CONN set")
    c.expect = simple(c, rid=1, flags=1, params=[(b"REQUEST_METHOD", b"POST"), (b"CONTENT_LENGTH", b"11")],
                      body=b"hello world")

    c = case("ok-padding-everywhere", "every record padded, the empty end records too; padding is skipped")
    c.expect = simple(c, rid=3, params=P_GET, body=b"data", pad=7)

    c = case("ok-padding-255", "the largest padding on params and body")
    c.expect = simple(c, rid=1, params=P_GET, body=b"x", pad=255)

    c = case("ok-request-id-65535", "the largest request id")
    c.expect = simple(c, rid=65535)

    c = case("ok-no-params", "an empty PARAMS stream: no params at all")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"", note="PARAMS end")
    c.w.rec(STDIN, 1, b"", note="STDIN end")
    c.expect = ["request id=1 keep_conn=false head_len=24", "end", "close"]

    c = case("ok-empty-name-and-value", "empty names and values are pairs like any other")
    c.expect = simple(c, params=[(b"", b""), (b"EMPTY", b""), (b"", b"v")])

    c = case("ok-duplicate-params-kept-in-order", "nginx sends repeated headers as repeated params (HTTP_X_DUP twice)")
    c.expect = simple(c, params=[(b"HTTP_X_DUP", b"a"), (b"HTTP_X_DUP", b"b")])

    c = case("ok-four-byte-lengths", "4-byte lengths, for a 200-byte value and (allowed) for a short name")
    plist = [pair(b"LONG", b"v" * 200), pair(b"N", b"short", four=True)]
    c.w.begin(1)
    c.w.params(1, plist)
    c.w.rec(PARAMS, 1, b"", note="PARAMS end")
    head_len = len(c.w.raw)
    c.w.rec(STDIN, 1, b"")
    c.expect = request_lines(1, False, head_len, [(b"LONG", b"v" * 200), (b"N", b"short")]) + ["end", "close"]

    c = case("ok-pair-split-across-records", "a pair cut in the middle of its value, the rest in the next PARAMS record")
    p = pair(b"SCRIPT_NAME", b"/split/here") + pair(b"X", b"y")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, p[:8], 2)
    c.w.rec(PARAMS, 1, p[8:], 0)
    c.w.rec(PARAMS, 1, b"", note="PARAMS end")
    head_len = len(c.w.raw)
    c.w.rec(STDIN, 1, b"")
    c.expect = request_lines(1, False, head_len, [(b"SCRIPT_NAME", b"/split/here"), (b"X", b"y")]) + ["end", "close"]

    c = case("ok-length-split-across-records", "a 4-byte value length cut after its second byte")
    p = pair(b"BIG", b"z" * 130)
    c.w.begin(1)
    c.w.rec(PARAMS, 1, p[:3], 5)
    c.w.rec(PARAMS, 1, p[3:], 0)
    c.w.rec(PARAMS, 1, b"", note="PARAMS end")
    head_len = len(c.w.raw)
    c.w.rec(STDIN, 1, b"")
    c.expect = request_lines(1, False, head_len, [(b"BIG", b"z" * 130)]) + ["end", "close"]

    c = case("ok-one-byte-params-records", "every params byte in a record of its own")
    p = pair(b"A", b"1") + pair(b"BB", b"22")
    c.w.begin(1)
    for b in p:
        c.w.rec(PARAMS, 1, bytes([b]), 1)
    c.w.rec(PARAMS, 1, b"", note="PARAMS end")
    head_len = len(c.w.raw)
    c.w.rec(STDIN, 1, b"")
    c.expect = request_lines(1, False, head_len, [(b"A", b"1"), (b"BB", b"22")]) + ["end", "close"]

    c = case("ok-body-in-many-records", "the body in several STDIN records of different sizes")
    c.w.begin(1)
    c.w.params(1, [pair(b"CONTENT_LENGTH", b"10")])
    c.w.rec(PARAMS, 1, b"")
    head_len = len(c.w.raw)
    for piece, pad in [(b"0", 0), (b"123", 5), (b"456789", 2)]:
        c.w.rec(STDIN, 1, piece, pad)
    c.w.rec(STDIN, 1, b"")
    c.expect = request_lines(1, False, head_len, [(b"CONTENT_LENGTH", b"10")]) + ["body 0123456789", "end", "close"]

    c = case("ok-binary-body", "body bytes are data, whatever they look like (record headers included)")
    body = bytes([1, 5, 0, 1, 0, 0, 0, 0]) + bytes(range(256))
    c.expect = simple(c, body=body)

    c = case("ok-keep-conn-two-requests", "KEEP_CONN: a second request on the same connection, same id reused")
    c.expect = simple(c, rid=1, flags=1) + simple(c, rid=1, flags=0, params=[(b"REQUEST_METHOD", b"HEAD")])

    c = case("ok-keep-conn-new-id", "KEEP_CONN: the next request may use another id")
    c.expect = simple(c, rid=1, flags=1, body=b"one") + simple(c, rid=2, flags=1, body=b"two")

    c = case("ok-data-stream-skipped", "DATA records (Filter role only) of the active request are ignored")
    c.w.begin(1)
    c.w.params(1, [pair(b"A", b"b")])
    c.w.rec(PARAMS, 1, b"")
    head_len = len(c.w.raw)
    c.w.rec(DATA, 1, b"filter data")
    c.w.rec(STDIN, 1, b"in")
    c.w.rec(DATA, 1, b"")
    c.w.rec(STDIN, 1, b"")
    c.expect = request_lines(1, False, head_len, [(b"A", b"b")]) + ["body in", "end", "close"]

    c = case("ok-inactive-id-records-ignored", "records of ids that are not active are ignored (spec 3.3)")
    c.w.rec(PARAMS, 9, pair(b"X", b"y"), note="PARAMS for inactive id")
    c.w.rec(STDIN, 9, b"zzz")
    c.w.rec(ABORT, 9, b"")
    c.w.rec(STDOUT, 9, b"odd")
    c.w.rec(40, 9, b"unknown type, inactive id")
    c.w.begin(1)
    c.w.params(1, [pair(b"A", b"b")])
    c.w.rec(STDIN, 7, b"other")
    c.w.rec(PARAMS, 1, b"")
    head_len = len(c.w.raw)
    c.w.rec(PARAMS, 7, b"")
    c.w.rec(STDIN, 1, b"mine")
    c.w.rec(ABORT, 5, b"")
    c.w.rec(STDIN, 1, b"")
    c.expect = request_lines(1, False, head_len, [(b"A", b"b")]) + ["body mine", "end", "close"]

    # ---- management and control records ------------------------------------------------------
    c = case("ok-get-values-before-request", "a GET_VALUES for the three spec variables, then a request")
    c.w.get_values([b"FCGI_MAX_CONNS", b"FCGI_MAX_REQS", b"FCGI_MPXS_CONNS"])
    mgmt = len(c.w.raw)
    c.expect = ["control get_values max_conns,max_reqs,mpxs_conns"] + fix_head_len(simple(c), mgmt)

    c = case("ok-get-values-unknown-names", "names the spec does not define are left out of the answer")
    c.w.get_values([b"FCGI_MAX_REQS", b"PHP_VALUE", b"FCGI_MAX_CONNSX"])
    c.w.get_values([])
    c.expect = ["control get_values max_reqs", "control get_values none", "partial head"]

    c = case("ok-get-values-with-values", "values in a GET_VALUES query are ignored; id 0 required")
    plist = [pair(b"FCGI_MPXS_CONNS", b"1")]
    c.w.rec(GET_VALUES, 0, b"".join(plist), 3, pairs=plist)
    c.w.rec(GET_VALUES, 4, b"".join(plist), pairs=plist, note="GET_VALUES with a request id: not management, ignored")
    c.expect = ["control get_values mpxs_conns", "partial head"]

    c = case("ok-unknown-management-type", "a management record of an unknown type is answered UNKNOWN_TYPE")
    c.w.rec(200, 0, b"whatever", 1)
    c.w.rec(0, 0, b"")
    c.expect = ["control unknown_type 200", "control unknown_type 0", "partial head"]

    c = case("ok-get-values-during-body", "a GET_VALUES between STDIN records is surfaced there")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"ab")
    c.w.get_values([b"FCGI_MAX_CONNS"])
    c.w.rec(STDIN, 1, b"cd")
    c.w.rec(STDIN, 1, b"")
    c.expect = ["request id=1 keep_conn=false head_len=24", "body ab", "control get_values max_conns",
                "body cd", "end", "close"]

    c = case("ok-begin-while-active-cant-mpx", "a BEGIN_REQUEST for another id while busy: CANT_MPX_CONN, its records ignored")
    c.w.begin(1)
    c.w.begin(2, flags=1)
    c.w.params(2, [pair(b"OTHER", b"x")])
    c.w.params(1, [pair(b"MINE", b"y")])
    c.w.rec(PARAMS, 2, b"")
    c.w.rec(PARAMS, 1, b"")
    head_len = len(c.w.raw)
    c.w.begin(3)
    c.w.rec(STDIN, 1, b"body")
    c.w.rec(STDIN, 1, b"")
    c.expect = (["control refuse 2 cant_mpx_conn"] + request_lines(1, False, head_len, [(b"MINE", b"y")])
                + ["control refuse 3 cant_mpx_conn", "body body", "end", "close"])

    c = case("ok-unknown-role", "Authorizer and Filter roles are refused with UNKNOWN_ROLE; then a Responder request")
    c.w.begin(1, role=2)
    c.w.params(1, [pair(b"AUTH", b"x")])
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"")
    c.w.begin(2, role=3)
    c.w.begin(3, role=0)
    mgmt = len(c.w.raw)
    c.expect = (["control refuse 1 unknown_role", "control refuse 2 unknown_role", "control refuse 3 unknown_role"]
                + fix_head_len(simple(c, rid=4), mgmt))

    c = case("ok-abort-during-params", "ABORT_REQUEST before the params end; KEEP_CONN, so the next request follows")
    c.w.begin(1, flags=1)
    c.w.params(1, [pair(b"A", b"1")])
    c.w.rec(ABORT, 1, b"")
    c.w.rec(PARAMS, 1, b"", note="PARAMS end of the aborted request: ignored")
    # An abort before the head is complete leaves the aborted request's records in the buffer
    # (the head parser goes on after them), so they count towards the next head_len.
    mgmt = len(c.w.raw)
    c.expect = ["control abort 1"] + fix_head_len(simple(c, rid=2), mgmt)

    c = case("ok-abort-during-body", "ABORT_REQUEST between STDIN records ends the request; no KEEP_CONN: close")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"part")
    c.w.rec(ABORT, 1, b"", 4)
    c.w.rec(STDIN, 1, b"never read")
    c.expect = ["request id=1 keep_conn=false head_len=24", "body part", "control abort 1", "close"]

    c = case("ok-abort-during-body-keep-conn", "ABORT_REQUEST during the body with KEEP_CONN: the next request is served")
    c.w.begin(1, flags=1)
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"part")
    c.w.rec(ABORT, 1, b"")
    c.w.rec(STDIN, 1, b"", note="STDIN end of the aborted request: ignored")
    c.expect = (["request id=1 keep_conn=true head_len=24", "body part", "control abort 1"]
                + fix_head_len(simple(c, rid=1), 8))

    c = case("ok-abort-other-id-ignored", "ABORT_REQUEST for an id that is not active is ignored")
    c.w.begin(1)
    c.w.rec(ABORT, 2, b"")
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"")
    c.expect = ["request id=1 keep_conn=false head_len=32", "end", "close"]

    c = case("ok-max-params-exact", "params exactly at the max_params option")
    c.options = ["max_params=10"]
    c.expect = simple(c, params=[(b"ABC", b"defgh")])  # 1 + 1 + 3 + 5 = 10

    c = case("ok-max-body-exact", "a body exactly at the max_body option")
    c.options = ["max_body=5"]
    c.expect = simple(c, body=b"12345")

    c = case("ok-get-values-result-and-unknown-type-ignored", "answer records sent to us (GET_VALUES_RESULT, UNKNOWN_TYPE) need no answer")
    c.w.rec(GET_VALUES_RESULT, 0, b"")
    c.w.rec(UNKNOWN_TYPE, 0, bytes(8))
    c.w.rec(END, 0, bytes(8))
    c.expect = ["partial head"]

    # ---- partial input -------------------------------------------------------------------------
    c = case("partial-empty", "no bytes at all: nothing to report")
    c.expect = []

    c = case("partial-header", "five bytes of a record header")
    c.w.bytes_(struct.pack(">BBHHBB", 1, 1, 0, 1, 8, 0)[:5])
    c.expect = ["partial head"]

    c = case("partial-begin-body", "a BEGIN_REQUEST body cut short")
    c.w.begin(1)
    c.w.raw = c.w.raw[:-3]
    c.w.lines[-1] = esc_hex(c.w.raw[8:])
    c.expect = ["partial head"]

    c = case("partial-params-no-end", "params complete but no empty PARAMS record yet")
    c.w.begin(1)
    c.w.params(1, [pair(b"A", b"b")])
    c.expect = ["partial head"]

    c = case("partial-padding-of-params-end", "the empty PARAMS record's padding has not all arrived")
    c.w.begin(1)
    c.w.params(1, [pair(b"A", b"b")])
    c.w.rec(PARAMS, 1, b"", 4)
    c.w.raw = c.w.raw[:-2]
    c.w.lines[-1] = esc_hex(b"\xaa" * 2)
    c.expect = ["partial head"]

    c = case("partial-body-no-end", "a body record, no empty STDIN record yet")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"some")
    c.expect = ["request id=1 keep_conn=false head_len=24", "body some", "partial body"]

    c = case("partial-body-record-cut", "a STDIN record cut inside its content: the part that came is data")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"abcdef")
    c.w.raw = c.w.raw[:-3]
    c.w.lines[-1] = "abc"
    c.expect = ["request id=1 keep_conn=false head_len=24", "body abc", "partial body"]

    # ---- errors --------------------------------------------------------------------------------
    c = case("err-http-request", "an HTTP request on a FastCGI socket: the version byte is 'G'")
    c.w.bytes_(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", text=True)
    c.expect = ["error record with protocol version 71 (only FastCGI 1 exists)"]

    c = case("err-version-0", "version 0")
    c.w.rec(BEGIN, 1, struct.pack(">HB5x", 1, 0), version=0)
    c.expect = ["error record with protocol version 0 (only FastCGI 1 exists)"]

    c = case("err-version-2-mid-body", "a bad version in the middle of the body")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"ok")
    c.w.rec(STDIN, 1, b"bad", version=2)
    c.expect = ["request id=1 keep_conn=false head_len=24", "body ok",
                "error record with protocol version 2 (only FastCGI 1 exists)"]

    c = case("err-begin-length", "a BEGIN_REQUEST body of 7 bytes")
    c.w.rec(BEGIN, 1, struct.pack(">HB4x", 1, 0))
    c.expect = ["error BEGIN_REQUEST body of 7 bytes (must be 8)"]

    c = case("err-begin-null-id", "BEGIN_REQUEST with the management id 0")
    c.w.begin(0)
    c.expect = ["error BEGIN_REQUEST with request id 0"]

    c = case("err-duplicate-begin", "a second BEGIN_REQUEST for the active id")
    c.w.begin(1)
    c.w.begin(1)
    c.expect = ["error BEGIN_REQUEST for request 1, which is already active"]

    c = case("err-params-too-large", "params over the max_params option, refused on the record header")
    c.options = ["max_params=10"]
    c.w.begin(1)
    c.w.params(1, [pair(b"ABC", b"defghi")])
    c.expect = ["error params larger than the limit of 10 bytes"]

    c = case("err-params-too-large-over-records", "params over the limit only once the second record is counted")
    c.options = ["max_params=10"]
    c.w.begin(1)
    c.w.params(1, [pair(b"A", b"b")])
    c.w.params(1, [pair(b"CD", b"efg")])
    c.expect = ["error params larger than the limit of 10 bytes"]

    c = case("err-head-too-large", "skipped records before the end of the params count: over 2 * max_params + 16 KiB")
    c.options = ["max_params=1"]
    c.w.begin(1)
    for _ in range(66):
        c.w.rec(STDIN, 2, b"", 255, note="STDIN of an inactive id, padded")
    c.expect = ["error more than 16386 bytes of records before the end of the params"]

    c = case("err-params-truncated-length", "the params end inside a 4-byte length")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"\x01\x80\x00", pairs=None)
    c.w.rec(PARAMS, 1, b"")
    c.expect = ["error malformed params: truncated 4-byte length"]

    c = case("err-params-value-too-long", "a value length past the end of the params")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"\x01\x05Ab")
    c.w.rec(PARAMS, 1, b"")
    c.expect = ["error malformed params: value longer than the params"]

    c = case("err-params-name-too-long", "a name length past the end of the params")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"\x09\x00AB")
    c.w.rec(PARAMS, 1, b"")
    c.expect = ["error malformed params: name longer than the params"]

    c = case("err-params-missing-value-length", "a name length and nothing else")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, pair(b"A", b"b") + b"\x01")
    c.w.rec(PARAMS, 1, b"")
    c.expect = ["error malformed params: truncated length"]

    c = case("err-stdin-before-params-end", "STDIN for the active request before the empty PARAMS record")
    c.w.begin(1)
    c.w.params(1, [pair(b"A", b"b")])
    c.w.rec(STDIN, 1, b"early")
    c.expect = ["error STDIN record before the empty PARAMS record"]

    c = case("err-params-after-end", "PARAMS for the active request after its empty PARAMS record")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"")
    c.w.params(1, [pair(b"A", b"b")])
    c.expect = ["request id=1 keep_conn=false head_len=24",
                "error PARAMS record after the end of the PARAMS stream"]

    c = case("err-stdout-from-web-server", "STDOUT for the active request (only applications send it)")
    c.w.begin(1)
    c.w.rec(STDOUT, 1, b"Status: 200\r\n")
    c.expect = ["error STDOUT record from the web server (only applications send it)"]

    c = case("err-end-request-from-web-server", "END_REQUEST for the active request, in the body")
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(END, 1, bytes(8))
    c.expect = ["request id=1 keep_conn=false head_len=24",
                "error END_REQUEST record from the web server (only applications send it)"]

    c = case("err-unknown-type-active-request", "an undefined record type for the active request")
    c.w.begin(1)
    c.w.rec(12, 1, b"?")
    c.expect = ["error record of unknown type 12"]

    c = case("err-malformed-get-values", "a GET_VALUES whose content is not name-value pairs")
    c.w.rec(GET_VALUES, 0, b"\x0e")
    c.expect = ["error malformed GET_VALUES: truncated length"]

    c = case("err-body-too-large", "a body over the max_body option, refused on the record header")
    c.options = ["max_body=5"]
    c.w.begin(1)
    c.w.rec(PARAMS, 1, b"")
    c.w.rec(STDIN, 1, b"123")
    c.w.rec(STDIN, 1, b"456")
    c.expect = ["request id=1 keep_conn=false head_len=24", "body 123",
                "error request body larger than the limit of 5 bytes"]


def fix_head_len(lines: list[str], extra: int) -> list[str]:
    n = int(lines[0].split("head_len=")[1])
    return [lines[0].replace(f"head_len={n}", f"head_len={n + extra}")] + lines[1:]


def decode_pairs(content: bytes) -> list[tuple[bytes, bytes]]:
    out, i = [], 0

    def ln(i):
        if content[i] < 128:
            return content[i], i + 1
        return struct.unpack(">I", content[i:i + 4])[0] & 0x7FFFFFFF, i + 4

    while i < len(content):
        n, i = ln(i)
        v, i = ln(i)
        out.append((content[i:i + n], content[i + n:i + n + v]))
        i += n + v
    return out


def split_pairs(content: bytes) -> list[bytes]:
    return [pair(n, v, four=False) for n, v in decode_pairs(content)]


CAPTURES = {
    "capture-nginx-get": "nginx 1.22.1 fastcgi_pass with the stock /etc/nginx/fastcgi_params: "
                         "GET /hello/w%C3%B6rld?x=1&y=%20 (SCRIPT_NAME is the whole decoded path, no PATH_INFO)",
    "capture-nginx-post-keep-conn": "nginx 1.22.1, fastcgi_keep_conn on + upstream keepalive: a form POST with a "
                                    "repeated X-Dup header (HTTP_CONTENT_TYPE/HTTP_CONTENT_LENGTH are sent too)",
    "capture-nginx-chunked-buffering-off": "nginx 1.22.1, fastcgi_request_buffering off, a small chunked body "
                                           "(arrived at once, so nginx knew its length)",
    "capture-nginx-chunked-streamed": "nginx 1.22.1, fastcgi_request_buffering off, a chunked PUT sent in "
                                      "pieces: empty CONTENT_LENGTH, one STDIN record per piece",
    "capture-cgi-fcgi": "cgi-fcgi -bind -connect (libfcgi 2.4.2) with a controlled environment "
                        "(env -i) and 'hello' on stdin",
    "capture-apache-mod-proxy-fcgi": "Apache 2.4.71 mod_proxy_fcgi, ProxyPass /app fcgi://.../ "
                                     "enablereuse=on (KEEP_CONN; a GET then a POST on the same "
                                     "connection; SCRIPT_NAME is the whole decoded path); Apache "
                                     "ran with PATH=/usr/sbin:/usr/bin:/bin, which it passes on",
}


def captures(src: Path):
    for name, desc in CAPTURES.items():
        raw = (src / f"{name}.bin").read_bytes()
        c = case(name, desc)
        pos = start = 0
        params: list[tuple[bytes, bytes]] = []
        body = b""
        keep = False
        head_len = 0
        while pos + 8 <= len(raw):
            v, t, rid, clen, plen, _ = struct.unpack(">BBHHBB", raw[pos:pos + 8])
            content = raw[pos + 8:pos + 8 + clen]
            assert len(raw) >= pos + 8 + clen + plen
            if t == BEGIN:
                keep = bool(content[2] & 1)
            if t == PARAMS and clen:
                params += decode_pairs(content)
                c.w.rec(t, rid, content, plen, pairs=split_pairs(content))
            else:
                c.w.rec(t, rid, content, plen)
            pos += 8 + clen + plen
            if t == PARAMS and clen == 0:
                head_len = pos - start
            if t == STDIN:
                body += content
            if t == STDIN and clen == 0:
                # One request done; the next starts here (a KEEP_CONN connection).
                c.expect += request_lines(rid, keep, head_len, params)
                if body:
                    c.expect.append(f"body {esc_text(body)}")
                c.expect.append("end")
                if not keep:
                    c.expect.append("close")
                start, params, body = pos, [], b""
        assert pos == len(raw)


def main():
    build()
    if "--captures" in sys.argv:
        captures(Path(sys.argv[sys.argv.index("--captures") + 1]))
    for c in CASES:
        c.write()
    print(f"wrote {len(CASES)} cases")


if __name__ == "__main__":
    main()
