//! Chunked transfer-coding decoder (RFC 9112 §7.1), sans-I/O.
//!
//! A byte-at-a-time state machine for the framing and bulk ranges for the data, so it works on
//! whatever the socket returned: every framing byte is consumed as it is seen, nothing needs to
//! be buffered between calls except unread data the caller already owns.
//!
//! Strict where leniency enables request smuggling: chunk lines, data and trailers must end
//! in CRLF. A bare LF is refused rather than tolerated because proxies disagree on it, which
//! is a known request-smuggling vector; a bare CR likewise. Chunk extensions are skipped but
//! bounded, trailers are read and discarded with a size bound.

use std::ops::Range;

use super::chars::{hex_val, is_ows};
use super::error::HttpError;

/// Most bytes of chunk extensions on one chunk line.
const MAX_EXT_LINE: usize = 4096;
/// Most bytes of chunk extensions over a whole body: extensions carry nothing we use, and
/// unbounded ones let a client make us parse far more than the body (hyper bounds them too).
const MAX_EXT_TOTAL: usize = 16 * 1024;
/// Most bytes of trailer section (all lines, CRLFs included).
const MAX_TRAILERS: usize = 16 * 1024;
/// Most hex digits in a chunk size, leading zeros included.
const MAX_SIZE_DIGITS: u32 = 32;

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input used up (framing and data); drop them before the next call.
    pub consumed: usize,
    /// Body data found, as a range of the input (possibly empty); always ends at `consumed`.
    pub data: Range<usize>,
    /// The last chunk and trailer section have been read; bytes after `consumed` belong to
    /// the next request.
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size,
    /// Whitespace after the size, allowed only before `;` (RFC 9112 §7.1.1 BWS).
    SizeSpace,
    /// Inside chunk extensions, until CR.
    Ext,
    /// Expecting the LF of a chunk-size line.
    SizeLf,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line, until CR.
    Trailer,
    /// Expecting the LF of a trailer field line.
    TrailerLf,
    /// Expecting the LF of the final empty line.
    EndLf,
    /// Finished.
    Done,
}

/// Decoder for one chunked request body.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_body: u64,
    size: u64,
    digits: u32,
    body_len: u64,
    ext_line: usize,
    ext_total: usize,
    trailers: usize,
    failed: Option<HttpError>,
}

impl ChunkedDecoder {
    /// A decoder refusing bodies over `max_body` bytes with 413 (`0` = unlimited).
    pub fn new(max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            max_body,
            size: 0,
            digits: 0,
            body_len: 0,
            ext_line: 0,
            ext_total: 0,
            trailers: 0,
            failed: None,
        }
    }

    /// Whether the whole body, trailers included, has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes announced by the chunks read so far (counted when a chunk size is read).
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Decode as much of `input` as possible, up to and including at most one data range.
    ///
    /// Call again with the unconsumed rest (plus new bytes) until `done`. Once an error is
    /// returned, every later call returns it again.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, HttpError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let mut pos = 0;
        while let Some(&byte) = input.get(pos) {
            match self.state {
                State::Done => break,
                State::Data(left) => {
                    let avail = input.len() - pos;
                    let n = usize::try_from(left).map_or(avail, |l| l.min(avail));
                    // n <= left, so this cannot underflow.
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                    return Ok(Step {
                        consumed: pos + n,
                        data: pos..pos + n,
                        done: false,
                    });
                }
                _ => {
                    if let Err(err) = self.framing_byte(byte) {
                        self.failed = Some(err);
                        return Err(err);
                    }
                    pos += 1;
                }
            }
        }
        Ok(Step {
            consumed: pos,
            data: pos..pos,
            done: self.is_done(),
        })
    }

    fn framing_byte(&mut self, b: u8) -> Result<(), HttpError> {
        const BAD_SIZE: HttpError = HttpError::bad_request("invalid chunk size");
        const NO_CRLF: HttpError = HttpError::bad_request("chunk framing not terminated by CRLF");
        const BAD_EXT: HttpError = HttpError::bad_request("invalid chunk extension");
        self.state = match (self.state, b) {
            (State::Size, _) if hex_val(b).is_some() => {
                let digit = u64::from(hex_val(b).unwrap_or(0));
                self.digits += 1;
                if self.digits > MAX_SIZE_DIGITS {
                    return Err(BAD_SIZE);
                }
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(HttpError::bad_request("chunk size overflow"))?;
                State::Size
            }
            (State::Size, _) if self.digits == 0 => return Err(BAD_SIZE),
            (State::Size, b';') | (State::SizeSpace, b';') => State::Ext,
            (State::Size, _) | (State::SizeSpace, _) if is_ows(b) => {
                self.count_ext()?;
                State::SizeSpace
            }
            (State::Size, b'\r') => State::SizeLf,
            (State::Size, _) | (State::SizeSpace, _) => return Err(BAD_SIZE),
            (State::Ext, b'\r') => State::SizeLf,
            (State::Ext, _) if b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80 => {
                self.count_ext()?;
                State::Ext
            }
            (State::Ext, _) => return Err(BAD_EXT),
            (State::SizeLf, b'\n') => self.start_chunk()?,
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.size = 0;
                self.digits = 0;
                self.ext_line = 0;
                State::Size
            }
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart, b'\n') | (State::Trailer, b'\n') => return Err(NO_CRLF),
            (State::TrailerStart, _) | (State::Trailer, _) => {
                self.trailers += 1;
                if self.trailers > MAX_TRAILERS {
                    return Err(HttpError::fields_too_large("trailer section too large"));
                }
                if b == b'\r' {
                    State::TrailerLf
                } else if b == 0 {
                    return Err(HttpError::bad_request("NUL byte in trailer"));
                } else {
                    State::Trailer
                }
            }
            (State::TrailerLf, b'\n') => {
                self.trailers += 1;
                State::TrailerStart
            }
            (State::EndLf, b'\n') => State::Done,
            (
                State::SizeLf | State::DataCr | State::DataLf | State::TrailerLf | State::EndLf,
                _,
            ) => return Err(NO_CRLF),
            // Data and Done never reach here (decode handles them); stay put if they do.
            (State::Data(_) | State::Done, _) => self.state,
        };
        Ok(())
    }

    fn count_ext(&mut self) -> Result<(), HttpError> {
        self.ext_line += 1;
        self.ext_total += 1;
        if self.ext_line > MAX_EXT_LINE || self.ext_total > MAX_EXT_TOTAL {
            return Err(HttpError::bad_request("chunk extensions too long"));
        }
        Ok(())
    }

    /// A chunk-size line ended: the last chunk, or data to come (checked against max_body
    /// before any of it is read).
    fn start_chunk(&mut self) -> Result<State, HttpError> {
        if self.size == 0 {
            return Ok(State::TrailerStart);
        }
        const TOO_LARGE: HttpError = HttpError::too_large("chunked body above limit");
        let total = self.body_len.checked_add(self.size).ok_or(TOO_LARGE)?;
        if self.max_body != 0 && total > self.max_body {
            return Err(TOO_LARGE);
        }
        self.body_len = total;
        Ok(State::Data(self.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `input` fed in pieces of at most `piece` bytes, as a server would: keep the
    /// unconsumed tail, append the next piece. Returns (body, bytes left after done, done).
    fn run(input: &[u8], piece: usize, max_body: u64) -> Result<(Vec<u8>, Vec<u8>, bool), u16> {
        let mut dec = ChunkedDecoder::new(max_body);
        let mut body = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            let step = dec.decode(&pending).map_err(|e| e.status)?;
            assert!(step.consumed <= pending.len());
            assert_eq!(step.data.end, step.consumed);
            body.extend_from_slice(&pending[step.data.clone()]);
            pending.drain(..step.consumed);
            if step.done {
                assert!(dec.is_done());
                let mut rest = pending.clone();
                rest.extend_from_slice(&input[fed..]);
                return Ok((body, rest, true));
            }
            if step.consumed == 0 || step.data.is_empty() {
                if fed == input.len() {
                    return Ok((body, pending, false));
                }
                let next = (fed + piece).min(input.len());
                pending.extend_from_slice(&input[fed..next]);
                fed = next;
            }
        }
    }

    /// Every split point (two pieces) and every piece size gives the same result.
    fn check(input: &[u8], max_body: u64, expect: Result<(&[u8], &[u8], bool), u16>) {
        let expect = expect.map(|(b, r, d)| (b.to_vec(), r.to_vec(), d));
        for piece in 1..=input.len().max(1) {
            assert_eq!(
                run(input, piece, max_body),
                expect,
                "piece {piece} of {input:?}"
            );
        }
        for split in 0..=input.len() {
            let mut dec = ChunkedDecoder::new(max_body);
            let mut body = Vec::new();
            let (a, b) = input.split_at(split);
            let mut buf = a.to_vec();
            let mut result = None;
            for round in 0..2 {
                loop {
                    match dec.decode(&buf) {
                        Err(e) => {
                            result = Some(Err(e.status));
                            break;
                        }
                        Ok(step) => {
                            body.extend_from_slice(&buf[step.data.clone()]);
                            buf.drain(..step.consumed);
                            if step.done {
                                let mut rest = buf.clone();
                                if round == 0 {
                                    rest.extend_from_slice(b);
                                }
                                result = Some(Ok((body.clone(), rest, true)));
                                break;
                            }
                            if step.data.is_empty() {
                                break;
                            }
                        }
                    }
                }
                if result.is_some() {
                    break;
                }
                if round == 0 {
                    buf.extend_from_slice(b);
                }
            }
            let result = result.unwrap_or(Ok((body, buf, false)));
            assert_eq!(result, expect, "split at {split} of {input:?}");
        }
    }

    #[test]
    fn simple_body() {
        check(
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            0,
            Ok((b"hello world", b"", true)),
        );
    }

    #[test]
    fn pipelined_rest_is_not_consumed() {
        check(
            b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
            0,
            Ok((b"abc", b"GET / HTTP/1.1\r\n", true)),
        );
    }

    #[test]
    fn hex_sizes_and_leading_zeros() {
        check(
            b"A\r\n0123456789\r\n00\r\n\r\n",
            0,
            Ok((b"0123456789", b"", true)),
        );
        check(
            b"0000a\r\n0123456789\r\n0\r\n\r\n",
            0,
            Ok((b"0123456789", b"", true)),
        );
    }

    #[test]
    fn extensions_are_skipped() {
        check(
            b"3;name=value;x=\"q\"\r\nabc\r\n0;last\r\n\r\n",
            0,
            Ok((b"abc", b"", true)),
        );
        check(b"3 \t;ext\r\nabc\r\n0\r\n\r\n", 0, Ok((b"abc", b"", true)));
        // Whitespace after the size only before an extension.
        check(b"3 \r\nabc\r\n0\r\n\r\n", 0, Err(400));
        // Control bytes and bare CR in extensions.
        check(b"3;a\x01\r\nabc\r\n0\r\n\r\n", 0, Err(400));
        check(b"3;a\rb\r\nabc\r\n0\r\n\r\n", 0, Err(400));
        check(b"3;a\nabc\r\n0\r\n\r\n", 0, Err(400));
    }

    #[test]
    fn extension_bounds() {
        let mut long = b"1;".to_vec();
        long.extend_from_slice(&[b'x'; MAX_EXT_LINE + 1]);
        long.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert_eq!(run(&long, 4096, 0), Err(400));
        // Many chunks with moderate extensions add up.
        let mut many = Vec::new();
        for _ in 0..(MAX_EXT_TOTAL / 1000 + 1) {
            many.extend_from_slice(b"1;");
            many.extend_from_slice(&[b'x'; 1000]);
            many.extend_from_slice(b"\r\na\r\n");
        }
        many.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(run(&many, 512, 0), Err(400));
    }

    #[test]
    fn trailers_are_discarded() {
        check(
            b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\nnext",
            0,
            Ok((b"abc", b"next", true)),
        );
        check(b"0\r\nX: 1\n\r\n", 0, Err(400));
        check(b"0\r\nX: \x00\r\n\r\n", 0, Err(400));
        check(b"0\r\nX: 1\r\r\n\r\n", 0, Err(400));
        let mut big = b"0\r\n".to_vec();
        for _ in 0..(MAX_TRAILERS / 10 + 1) {
            big.extend_from_slice(b"X: 123456\r\n");
        }
        big.extend_from_slice(b"\r\n");
        assert_eq!(run(&big, 1024, 0), Err(431));
    }

    #[test]
    fn framing_errors() {
        check(b"", 0, Ok((b"", b"", false)));
        check(b"\r\n", 0, Err(400)); // no size
        check(b"g\r\n", 0, Err(400));
        check(b"-1\r\n", 0, Err(400));
        check(b"+1\r\n", 0, Err(400));
        check(b"0x5\r\nhello\r\n0\r\n\r\n", 0, Err(400));
        check(b"5\nhello\r\n0\r\n\r\n", 0, Err(400)); // bare LF after size
        check(b"5\r\nhelloX\r\n0\r\n\r\n", 0, Err(400)); // data longer than announced
        check(b"5\r\nhello\n0\r\n\r\n", 0, Err(400)); // bare LF after data
        check(b"5\r\nhello\r\r\n", 0, Err(400));
        check(b"0\r\n\n", 0, Err(400)); // bare LF to end
        check(b"0\r\n\rx", 0, Err(400));
        check(b"5\r\nhel", 0, Ok((b"hel", b"", false)));
    }

    #[test]
    fn size_overflow() {
        check(b"ffffffffffffffff\r\n", 0, Ok((b"", b"", false)));
        check(b"10000000000000000\r\n", 0, Err(400));
        let mut zeros = vec![b'0'; MAX_SIZE_DIGITS as usize];
        zeros.extend_from_slice(b"1\r\na\r\n0\r\n\r\n");
        assert_eq!(run(&zeros, 7, 0), Err(400));
    }

    #[test]
    fn max_body() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        check(body, 11, Ok((b"hello world", b"", true)));
        check(body, 10, Err(413));
        check(body, 5, Err(413));
        check(b"5\r\nhello\r\n0\r\n\r\n", 4, Err(413));
        // Refused on the size line, before the data arrives.
        assert_eq!(run(b"ffffffff\r\n", 1, 100), Err(413));
        // Unlimited, a huge chunk is fine until its data runs out...
        assert_eq!(run(b"ffffffffffffffff\r\n", 100, 0).map(|r| r.2), Ok(false));
        // ...but cumulative sizes that would overflow u64 are refused.
        let mut dec = ChunkedDecoder::new(0);
        dec.body_len = u64::MAX - 1;
        assert_eq!(dec.decode(b"2\r\n").map_err(|e| e.status), Err(413));
    }

    #[test]
    fn errors_are_sticky_and_done_is_stable() {
        let mut dec = ChunkedDecoder::new(0);
        assert!(dec.decode(b"z").is_err());
        assert_eq!(dec.decode(b"0\r\n\r\n").map_err(|e| e.status), Err(400));
        let mut dec = ChunkedDecoder::new(0);
        let step = dec.decode(b"0\r\n\r\nabc").unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 5,
                data: 5..5,
                done: true
            }
        );
        assert_eq!(
            dec.decode(b"abc").unwrap(),
            Step {
                consumed: 0,
                data: 0..0,
                done: true
            }
        );
        assert_eq!(dec.body_len(), 0);
    }

    #[test]
    fn one_data_range_per_call() {
        let mut dec = ChunkedDecoder::new(0);
        let input = b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
        let s1 = dec.decode(input).unwrap();
        assert_eq!((s1.consumed, s1.data.clone(), s1.done), (5, 3..5, false));
        let s2 = dec.decode(&input[5..]).unwrap();
        assert_eq!(&input[5..][s2.data.clone()], b"cd");
        let s3 = dec.decode(&input[5 + s2.consumed..]).unwrap();
        assert!(s3.done && s3.data.is_empty());
        assert_eq!(5 + s2.consumed + s3.consumed, input.len());
        assert_eq!(dec.body_len(), 4);
    }
}
