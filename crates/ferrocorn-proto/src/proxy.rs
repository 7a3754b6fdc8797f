//! What front ends tell us about the client, sans-I/O: the HAProxy PROXY protocol header (v1 text
//! and v2 binary) that may open a connection, and the entries of an `X-Forwarded-For` header.
//!
//! Like the HTTP parser, [`parse_proxy_header`] gives the same answer however the bytes are split:
//! a prefix of a header is [`ProxyParse::Partial`] or fails with the same status as the whole.
//! Which peers may send any of this is the server's decision, not this module's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::http1::HttpError;

/// The 12 bytes that open a v2 header (chosen by the spec never to start an HTTP request).
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 line, CRLF included (spec §2.1: 107 bytes).
pub const V1_MAX_LEN: usize = 107;
/// Longest v2 header: 16 fixed bytes plus a 16-bit length.
pub const V2_MAX_LEN: usize = 16 + u16::MAX as usize;

const V1_PREFIX: &[u8] = b"PROXY ";

/// Which header versions a listener accepts (`--proxy-protocol v1|v2|auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyVersions {
    /// Text headers only.
    V1,
    /// Binary headers only.
    V2,
    /// Either, told apart by their first bytes.
    Any,
}

impl ProxyVersions {
    fn v1(self) -> bool {
        self != ProxyVersions::V2
    }
    fn v2(self) -> bool {
        self != ProxyVersions::V1
    }
}

/// What the start of a connection holds, before any parsing ([`sniff_proxy_header`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxySniff {
    /// Too few bytes to tell.
    Partial,
    /// Not a PROXY header: the connection starts with its first request.
    Absent,
    /// A PROXY header starts here (complete or not, valid or not).
    Present,
}

/// A complete, valid PROXY header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// Bytes the header takes at the start of the buffer; the first request starts here.
    pub len: usize,
    /// What it announced, spelled as gunicorn's `PROXY_PROTOCOL`: `TCP4`, `TCP6`, `UNKNOWN` (v1),
    /// `LOCAL`, `UNSPEC`, `UNIX` (v2).
    pub protocol: &'static str,
    /// (client, proxy) addresses when the header carries TCP addresses; otherwise the
    /// connection's own addresses stand.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
}

/// Outcome of [`parse_proxy_header`] when the bytes are acceptable so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyParse {
    /// More bytes are needed; call again with the same bytes plus more.
    Partial,
    /// No PROXY header: the buffer starts with the first request.
    Absent,
    /// A header, to be cut off the front of the buffer.
    Header(ProxyHeader),
}

const fn bad(reason: &'static str) -> HttpError {
    HttpError::new(400, reason)
}

/// Whether `buf` starts with a PROXY header of an accepted version. Cheap (a prefix compare),
/// so a server can refuse a header from a peer that may not send one before parsing it.
pub fn sniff_proxy_header(buf: &[u8], versions: ProxyVersions) -> ProxySniff {
    let mut partial = false;
    for (on, magic) in [
        (versions.v2(), &V2_SIGNATURE[..]),
        (versions.v1(), V1_PREFIX),
    ] {
        if !on {
            continue;
        }
        let n = buf.len().min(magic.len());
        if buf.get(..n) == magic.get(..n) {
            if n == magic.len() {
                return ProxySniff::Present;
            }
            partial = true;
        }
    }
    if partial {
        ProxySniff::Partial
    } else {
        ProxySniff::Absent
    }
}

/// Parse the PROXY header at the start of `buf`, if there is one.
///
/// Errors are all `400`: a header that is present but malformed means the connection cannot be
/// trusted to be framed the way we think.
pub fn parse_proxy_header(buf: &[u8], versions: ProxyVersions) -> Result<ProxyParse, HttpError> {
    match sniff_proxy_header(buf, versions) {
        ProxySniff::Partial => Ok(ProxyParse::Partial),
        ProxySniff::Absent => Ok(ProxyParse::Absent),
        ProxySniff::Present if buf.starts_with(V2_SIGNATURE) => parse_v2(buf),
        ProxySniff::Present => parse_v1(buf),
    }
}

/// `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN[ anything]\r\n`.
fn parse_v1(buf: &[u8]) -> Result<ProxyParse, HttpError> {
    // Find the CRLF (its LF at most at byte 107), refusing bytes no valid line has as soon as they show.
    let mut end = None;
    for (i, &b) in buf
        .iter()
        .enumerate()
        .take(V1_MAX_LEN - 1)
        .skip(V1_PREFIX.len())
    {
        match b {
            b'\r' => match buf.get(i + 1) {
                Some(b'\n') => {
                    end = Some(i);
                    break;
                }
                Some(_) => return Err(bad("PROXY v1: CR without LF")),
                None => return Ok(ProxyParse::Partial),
            },
            b' '..=b'~' => {}
            _ => return Err(bad("PROXY v1: invalid byte in the header line")),
        }
    }
    let Some(end) = end else {
        if buf.len() >= V1_MAX_LEN {
            return Err(bad("PROXY v1: header line too long"));
        }
        return Ok(ProxyParse::Partial);
    };
    let line = buf.get(V1_PREFIX.len()..end).unwrap_or_default();
    let len = end + 2;
    let mut fields = line.split(|&b| b == b' ');
    let protocol = match fields.next() {
        // The spec: a receiver ignores whatever follows UNKNOWN.
        Some(b"UNKNOWN") => {
            return Ok(ProxyParse::Header(ProxyHeader {
                len,
                protocol: "UNKNOWN",
                addrs: None,
            }))
        }
        Some(b"TCP4") => "TCP4",
        Some(b"TCP6") => "TCP6",
        _ => return Err(bad("PROXY v1: unsupported protocol")),
    };
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(bad("PROXY v1: wrong number of fields"));
    };
    let ip = |s: &[u8]| -> Result<IpAddr, HttpError> {
        let text = std::str::from_utf8(s).map_err(|_| bad("PROXY v1: invalid address"))?;
        let parsed = if protocol == "TCP4" {
            text.parse::<Ipv4Addr>().map(IpAddr::V4)
        } else {
            text.parse::<Ipv6Addr>().map(IpAddr::V6)
        };
        parsed.map_err(|_| bad("PROXY v1: invalid address"))
    };
    let port = |s: &[u8]| parse_port(s).ok_or(bad("PROXY v1: invalid port"));
    let client = SocketAddr::new(ip(src)?, port(sport)?);
    let proxy = SocketAddr::new(ip(dst)?, port(dport)?);
    Ok(ProxyParse::Header(ProxyHeader {
        len,
        protocol,
        addrs: Some((client, proxy)),
    }))
}

/// 12-byte signature, version/command, family/transport, 16-bit length, then the addresses and
/// TLVs (skipped).
fn parse_v2(buf: &[u8]) -> Result<ProxyParse, HttpError> {
    let Some(&ver_cmd) = buf.get(12) else {
        return Ok(ProxyParse::Partial);
    };
    if ver_cmd >> 4 != 2 {
        return Err(bad("PROXY v2: unsupported version"));
    }
    let command = ver_cmd & 0x0f;
    if command > 1 {
        return Err(bad("PROXY v2: unsupported command"));
    }
    let Some(&fam_proto) = buf.get(13) else {
        return Ok(ProxyParse::Partial);
    };
    let (family, transport) = (fam_proto >> 4, fam_proto & 0x0f);
    if family > 3 || transport > 2 {
        return Err(bad("PROXY v2: invalid address family or transport"));
    }
    let (Some(&hi), Some(&lo)) = (buf.get(14), buf.get(15)) else {
        return Ok(ProxyParse::Partial);
    };
    let body_len = usize::from(u16::from_be_bytes([hi, lo]));
    let len = 16 + body_len;
    let Some(body) = buf.get(16..len) else {
        return Ok(ProxyParse::Partial);
    };
    let header = |protocol, addrs| {
        Ok(ProxyParse::Header(ProxyHeader {
            len,
            protocol,
            addrs,
        }))
    };
    // LOCAL: the proxy's own connection (a health check); the real endpoints stand.
    if command == 0 {
        return header("LOCAL", None);
    }
    if family == 0 {
        return header("UNSPEC", None);
    }
    if transport != 1 {
        return Err(bad("PROXY v2: only TCP is supported"));
    }
    let min = match family {
        1 => 12,
        2 => 36,
        _ => 216,
    };
    if body.len() < min {
        return Err(bad("PROXY v2: address block too short"));
    }
    let port = |at: usize| bytes::<2>(body, at).map_or(0, u16::from_be_bytes);
    match family {
        1 => {
            let src = bytes::<4>(body, 0).unwrap_or_default();
            let dst = bytes::<4>(body, 4).unwrap_or_default();
            let client = SocketAddr::new(IpAddr::V4(src.into()), port(8));
            let proxy = SocketAddr::new(IpAddr::V4(dst.into()), port(10));
            header("TCP4", Some((client, proxy)))
        }
        2 => {
            let src = bytes::<16>(body, 0).unwrap_or_default();
            let dst = bytes::<16>(body, 16).unwrap_or_default();
            let client = SocketAddr::new(IpAddr::V6(src.into()), port(32));
            let proxy = SocketAddr::new(IpAddr::V6(dst.into()), port(34));
            header("TCP6", Some((client, proxy)))
        }
        // AF_UNIX paths are no IP address: keep the real endpoints, as for UNSPEC.
        _ => header("UNIX", None),
    }
}

/// `N` bytes of `b` from `at`, if there are that many.
fn bytes<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// A decimal port, 0-65535, without sign or leading zeros.
fn parse_port(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || (s.len() > 1 && s.first() == Some(&b'0')) {
        return None;
    }
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// One entry of an `X-Forwarded-For` list: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:80` (surrounding spaces allowed). `None` for anything else
/// (`unknown`, obfuscated names, garbage): the caller must not trust such an entry or what lies
/// beyond it.
pub fn parse_forwarded_for(entry: &[u8]) -> Option<(IpAddr, Option<u16>)> {
    let entry = entry.trim_ascii();
    let text = std::str::from_utf8(entry).ok()?;
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(parse_port(p.strip_prefix(':')?.as_bytes())?),
        };
        return Some((IpAddr::V6(ip), port));
    }
    match text.split_once(':') {
        // One colon: IPv4 with a port (a bare IPv6 address has at least two).
        Some((ip, port)) if !port.contains(':') => Some((
            IpAddr::V4(ip.parse().ok()?),
            Some(parse_port(port.as_bytes())?),
        )),
        _ => Some((text.parse().ok()?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_entries() {
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            parse_forwarded_for(b" 1.2.3.4 "),
            Some((v4("1.2.3.4"), None))
        );
        assert_eq!(
            parse_forwarded_for(b"1.2.3.4:8080"),
            Some((v4("1.2.3.4"), Some(8080)))
        );
        assert_eq!(
            parse_forwarded_for(b"2001:db8::1"),
            Some((v4("2001:db8::1"), None))
        );
        assert_eq!(
            parse_forwarded_for(b"[2001:db8::1]:443"),
            Some((v4("2001:db8::1"), Some(443)))
        );
        assert_eq!(
            parse_forwarded_for(b"[2001:db8::1]"),
            Some((v4("2001:db8::1"), None))
        );
        for bad in [
            &b"unknown"[..],
            b"",
            b"1.2.3.4:",
            b"1.2.3.4:99999",
            b"1.2.3.4:0080",
            b"[1.2.3.4]",
            b"[::1]x",
            b"01.2.3.4",
            b"fe80::1%eth0",
            b"_hidden",
            b"\xff",
        ] {
            assert_eq!(parse_forwarded_for(bad), None, "{:?}", bad.escape_ascii());
        }
    }

    #[test]
    fn sniffing_needs_only_a_prefix() {
        use ProxySniff::*;
        assert_eq!(sniff_proxy_header(b"", ProxyVersions::Any), Partial);
        assert_eq!(sniff_proxy_header(b"PRO", ProxyVersions::Any), Partial);
        assert_eq!(sniff_proxy_header(b"PRO", ProxyVersions::V2), Absent);
        assert_eq!(sniff_proxy_header(b"\r\n\r\n", ProxyVersions::Any), Partial);
        assert_eq!(sniff_proxy_header(b"\r\n\r\n", ProxyVersions::V1), Absent);
        assert_eq!(sniff_proxy_header(b"POST /", ProxyVersions::Any), Absent);
        assert_eq!(sniff_proxy_header(b"PROXY ", ProxyVersions::V1), Present);
        assert_eq!(sniff_proxy_header(b"PROXY ", ProxyVersions::V2), Absent);
        assert_eq!(sniff_proxy_header(V2_SIGNATURE, ProxyVersions::V2), Present);
    }
}
