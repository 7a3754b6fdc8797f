//! The uwsgi binary protocol (nginx `uwsgi_pass`, Apache `mod_proxy_uwsgi`), request side.
//!
//! A request is a 4-byte header — `modifier1`, the vars block size as a little-endian `u16`,
//! `modifier2` — then the vars block: `key_len` (LE `u16`), key, `val_len` (LE `u16`), value,
//! repeated. The request body (exactly `CONTENT_LENGTH` bytes) follows the block. The response is
//! a plain HTTP response and the connection closes after it.
//!
//! [`parse_packet`] works on whatever prefix of the connection's bytes has arrived and returns the
//! vars as byte ranges into that buffer, so nothing is copied.

use crate::http1::Span;

/// Size of the packet header.
pub const HEADER_LEN: usize = 4;
/// The largest vars block the header can announce (nginx's own limit too).
pub const MAX_VARS: usize = u16::MAX as usize;
/// `modifier1` of a WSGI request (the only one served).
pub const MODIFIER_WSGI: u8 = 0;

/// The packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// Selects the request handler in uWSGI; 0 is WSGI/Python.
    pub modifier1: u8,
    /// Size of the vars block that follows the header.
    pub datasize: u16,
    /// Sub-handler; 0 for ordinary requests.
    pub modifier2: u8,
}

/// One variable: key and value as byte ranges into the buffer given to [`parse_packet`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Var {
    /// The key (`REQUEST_METHOD`, `HTTP_HOST`, ...).
    pub key: Span,
    /// The value (may be empty).
    pub value: Span,
}

/// Why a packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UwsgiError {
    /// A key or value length runs past the end of the vars block.
    Truncated,
    /// A var with an empty key.
    EmptyKey,
    /// The vars block is larger than the configured buffer.
    TooLarge,
}

impl UwsgiError {
    /// A short description for the log line.
    pub fn reason(self) -> &'static str {
        match self {
            UwsgiError::Truncated => "uwsgi: a var runs past the end of the vars block",
            UwsgiError::EmptyKey => "uwsgi: a var with an empty key",
            UwsgiError::TooLarge => "uwsgi: vars block larger than buffer-size",
        }
    }
}

impl std::fmt::Display for UwsgiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for UwsgiError {}

/// What [`parse_packet`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Partial,
    /// The header and the whole vars block are there; the body starts at `body_start`.
    Complete {
        /// The packet header.
        header: PacketHeader,
        /// Offset of the first body byte in the buffer.
        body_start: usize,
    },
}

/// Read the packet header from the start of `buf`, if 4 bytes are there.
pub fn parse_header(buf: &[u8]) -> Option<PacketHeader> {
    match buf {
        [m1, lo, hi, m2, ..] => Some(PacketHeader {
            modifier1: *m1,
            datasize: u16::from_le_bytes([*lo, *hi]),
            modifier2: *m2,
        }),
        _ => None,
    }
}

fn read_u16(buf: &[u8], at: usize) -> Option<usize> {
    match buf.get(at..at + 2) {
        Some([lo, hi]) => Some(usize::from(u16::from_le_bytes([*lo, *hi]))),
        _ => None,
    }
}

/// Parse the packet at the start of `buf`: the header, then the vars block into `out` (cleared
/// first). `max_vars` caps the vars block (uWSGI's `buffer-size`); a larger one is refused as
/// soon as the header is seen, before it is buffered.
pub fn parse_packet(buf: &[u8], max_vars: usize, out: &mut Vec<Var>) -> Result<Parsed, UwsgiError> {
    out.clear();
    let Some(header) = parse_header(buf) else {
        return Ok(Parsed::Partial);
    };
    let size = usize::from(header.datasize);
    if size > max_vars {
        return Err(UwsgiError::TooLarge);
    }
    let end = HEADER_LEN + size;
    if buf.len() < end {
        return Ok(Parsed::Partial);
    }
    let mut pos = HEADER_LEN;
    while pos < end {
        let klen = read_u16(buf, pos)
            .filter(|_| pos + 2 <= end)
            .ok_or(UwsgiError::Truncated)?;
        let kstart = pos + 2;
        if klen == 0 {
            return Err(UwsgiError::EmptyKey);
        }
        let vpos = kstart + klen;
        let vlen = read_u16(buf, vpos)
            .filter(|_| vpos + 2 <= end)
            .ok_or(UwsgiError::Truncated)?;
        let vstart = vpos + 2;
        let vend = vstart + vlen;
        if vend > end {
            return Err(UwsgiError::Truncated);
        }
        out.push(Var {
            key: Span::new(kstart, vpos),
            value: Span::new(vstart, vend),
        });
        pos = vend;
    }
    Ok(Parsed::Complete {
        header,
        body_start: end,
    })
}

/// Encode a request packet (for tests and tools): header plus vars block.
pub fn encode_packet(modifier1: u8, modifier2: u8, vars: &[(&[u8], &[u8])]) -> Option<Vec<u8>> {
    let mut block = Vec::new();
    for (k, v) in vars {
        block.extend_from_slice(&u16::try_from(k.len()).ok()?.to_le_bytes());
        block.extend_from_slice(k);
        block.extend_from_slice(&u16::try_from(v.len()).ok()?.to_le_bytes());
        block.extend_from_slice(v);
    }
    let size = u16::try_from(block.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + block.len());
    out.push(modifier1);
    out.extend_from_slice(&size.to_le_bytes());
    out.push(modifier2);
    out.extend_from_slice(&block);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars_of<'a>(buf: &'a [u8], vars: &[Var]) -> Vec<(&'a [u8], &'a [u8])> {
        vars.iter()
            .map(|v| (v.key.get(buf), v.value.get(buf)))
            .collect()
    }

    #[test]
    fn round_trip_and_every_prefix() {
        let pkt = encode_packet(
            0,
            0,
            &[
                (b"REQUEST_METHOD", b"GET"),
                (b"HTTP_X", b""),
                (b"PATH_INFO", b"/a"),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        for n in 0..pkt.len() {
            assert_eq!(
                parse_packet(&pkt[..n], MAX_VARS, &mut out),
                Ok(Parsed::Partial)
            );
        }
        let mut full = pkt.clone();
        full.extend_from_slice(b"body");
        match parse_packet(&full, MAX_VARS, &mut out).unwrap() {
            Parsed::Complete { header, body_start } => {
                assert_eq!(header.modifier1, 0);
                assert_eq!(&full[body_start..], b"body");
            }
            p => panic!("{p:?}"),
        }
        assert_eq!(
            vars_of(&full, &out),
            vec![
                (&b"REQUEST_METHOD"[..], &b"GET"[..]),
                (b"HTTP_X", b""),
                (b"PATH_INFO", b"/a")
            ]
        );
    }

    #[test]
    fn refuses_bad_blocks() {
        let mut out = Vec::new();
        // Block of 3 bytes: a key length of 1 and one key byte, no value length.
        assert_eq!(
            parse_packet(b"\x00\x03\x00\x00\x01\x00K", MAX_VARS, &mut out),
            Err(UwsgiError::Truncated)
        );
        assert_eq!(
            parse_packet(b"\x00\x04\x00\x00\x00\x00\x00\x00", MAX_VARS, &mut out),
            Err(UwsgiError::EmptyKey)
        );
        assert_eq!(
            parse_packet(b"\x00\xff\x10\x00", 4096, &mut out),
            Err(UwsgiError::TooLarge)
        );
        // A value length pointing past the block (but inside the buffer) is still refused.
        assert_eq!(
            parse_packet(
                b"\x00\x05\x00\x00\x01\x00K\x05\x00VVVVV",
                MAX_VARS,
                &mut out
            ),
            Err(UwsgiError::Truncated)
        );
    }
}
