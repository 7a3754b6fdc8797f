//! Request-target handling: splitting it into path and query, percent-decoding `PATH_INFO`,
//! and turning header names into WSGI `environ` keys.
//!
//! Ranges returned here are relative to the slice passed in, so callers can offset them into
//! their own buffer without copying.

use std::ops::Range;

use super::chars::{hex_val, is_authority_byte};

/// Which of the four request-target forms of RFC 9112 §3.2 a target has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`: the usual case.
    Origin,
    /// `http://host:port/path?query`: sent to proxies, and by some clients anyway.
    Absolute,
    /// `*`: only with `OPTIONS`.
    Asterisk,
}

/// A request target split into its parts (ranges into the target).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetParts {
    /// The form the target has.
    pub form: TargetForm,
    /// `host[:port]` of an absolute-form target; empty otherwise.
    pub authority: Range<usize>,
    /// Path: from the first `/` up to `?` or `#`. Empty for an absolute-form target without a
    /// path (`http://h?q`), which is what gunicorn's `urlsplit` gives too. `*` for asterisk-form.
    pub path: Range<usize>,
    /// Query without the `?`; empty when there is none.
    pub query: Range<usize>,
}

/// Split a request target, or `None` if it is none of the forms a WSGI server can serve.
///
/// Rejected: empty targets; authority-form (`host:port`, only meaningful for `CONNECT`,
/// which a WSGI app cannot tunnel); absolute-form with a bad scheme, an empty authority, a
/// userinfo part (`user@host`, RFC 9110 §4.2.4 says to treat it as an error) or bytes that are
/// not authority characters. A fragment (`#...`), which clients must not send, is cut off
/// path and query like `urlsplit` does; it stays in the raw target.
pub fn split_target(target: &[u8]) -> Option<TargetParts> {
    let len = target.len();
    match target.first()? {
        b'/' => {
            let (path, query) = split_path_query(target, 0);
            Some(TargetParts {
                form: TargetForm::Origin,
                authority: 0..0,
                path,
                query,
            })
        }
        b'*' if len == 1 => Some(TargetParts {
            form: TargetForm::Asterisk,
            authority: 0..0,
            path: 0..1,
            query: 1..1,
        }),
        _ => {
            let scheme_len = scheme_len(target)?;
            let auth_start = scheme_len.checked_add(3)?;
            if target.get(scheme_len..auth_start)? != b"://" {
                return None;
            }
            let rest = target.get(auth_start..)?;
            let auth_len = rest
                .iter()
                .position(|&b| b == b'/' || b == b'?' || b == b'#')
                .unwrap_or(rest.len());
            let authority = rest.get(..auth_len)?;
            if authority.is_empty() || !authority.iter().all(|&b| is_authority_byte(b)) {
                return None;
            }
            let auth_end = auth_start + auth_len;
            let (path, query) = split_path_query(target, auth_end);
            Some(TargetParts {
                form: TargetForm::Absolute,
                authority: auth_start..auth_end,
                path,
                query,
            })
        }
    }
}

/// Length of a URI scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`) at the start.
fn scheme_len(target: &[u8]) -> Option<usize> {
    if !target.first()?.is_ascii_alphabetic() {
        return None;
    }
    Some(
        target
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.'))
            .unwrap_or(target.len()),
    )
}

/// Path and query ranges of `target[from..]`, cutting at the first `?` and at a `#`.
fn split_path_query(target: &[u8], from: usize) -> (Range<usize>, Range<usize>) {
    let len = target.len();
    let tail = target.get(from..).unwrap_or_default();
    let end = tail
        .iter()
        .position(|&b| b == b'#')
        .map_or(len, |i| from + i);
    let before_fragment = target.get(from..end).unwrap_or_default();
    match memchr::memchr(b'?', before_fragment) {
        Some(q) => (from..from + q, from + q + 1..end),
        None => (from..end, end..end),
    }
}

/// Append `src` to `out` with `%XX` escapes decoded.
///
/// An escape that is not two hex digits is kept literally (like `urllib.parse.unquote`), and
/// `+` stays `+`: this is `PATH_INFO` decoding, not form decoding. The result is raw bytes;
/// the WSGI layer decodes them as latin-1 per PEP 3333.
pub fn percent_decode_into(src: &[u8], out: &mut Vec<u8>) {
    out.reserve(src.len());
    let mut rest = src;
    while let Some(i) = memchr::memchr(b'%', rest) {
        let (before, at) = rest.split_at(i);
        out.extend_from_slice(before);
        match at {
            [_, h, l, tail @ ..] => match (hex_val(*h), hex_val(*l)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    rest = tail;
                }
                _ => {
                    out.push(b'%');
                    rest = at.get(1..).unwrap_or_default();
                }
            },
            _ => {
                out.extend_from_slice(at);
                rest = &[];
            }
        }
    }
    out.extend_from_slice(rest);
}

/// Append the WSGI `environ` key of a header name to `out`: `X-Forwarded-For` becomes
/// `HTTP_X_FORWARDED_FOR` (ASCII uppercase, `-` to `_`).
///
/// `Content-Type` and `Content-Length` map to keys without the `HTTP_` prefix in WSGI; the
/// caller handles those two, as it also must decide what to do with repeated names.
pub fn environ_key_into(name: &[u8], out: &mut Vec<u8>) {
    out.reserve(name.len() + 5);
    out.extend_from_slice(b"HTTP_");
    out.extend(name.iter().map(|&b| {
        if b == b'-' {
            b'_'
        } else {
            b.to_ascii_uppercase()
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(t: &str) -> Option<(TargetForm, &str, &str, &str)> {
        let p = split_target(t.as_bytes())?;
        Some((p.form, &t[p.authority], &t[p.path], &t[p.query]))
    }

    #[test]
    fn origin_form() {
        assert_eq!(parts("/"), Some((TargetForm::Origin, "", "/", "")));
        assert_eq!(
            parts("/a/b?x=1&y"),
            Some((TargetForm::Origin, "", "/a/b", "x=1&y"))
        );
        assert_eq!(parts("/a?"), Some((TargetForm::Origin, "", "/a", "")));
        assert_eq!(parts("/a?b?c"), Some((TargetForm::Origin, "", "/a", "b?c")));
        assert_eq!(
            parts("//double"),
            Some((TargetForm::Origin, "", "//double", ""))
        );
        assert_eq!(parts("/p#frag"), Some((TargetForm::Origin, "", "/p", "")));
        assert_eq!(
            parts("/p?q#frag?x"),
            Some((TargetForm::Origin, "", "/p", "q"))
        );
        assert_eq!(parts("/p#f?x"), Some((TargetForm::Origin, "", "/p", "")));
    }

    #[test]
    fn absolute_form() {
        assert_eq!(
            parts("http://h:8080/p?q"),
            Some((TargetForm::Absolute, "h:8080", "/p", "q"))
        );
        assert_eq!(
            parts("https://h"),
            Some((TargetForm::Absolute, "h", "", ""))
        );
        assert_eq!(
            parts("http://h?q=1"),
            Some((TargetForm::Absolute, "h", "", "q=1"))
        );
        assert_eq!(
            parts("http://[::1]:80/"),
            Some((TargetForm::Absolute, "[::1]:80", "/", ""))
        );
        assert_eq!(
            parts("coap+tcp://h/"),
            Some((TargetForm::Absolute, "h", "/", ""))
        );
        assert_eq!(parts("http:///p"), None);
        assert_eq!(parts("http://u@h/"), None);
        assert_eq!(parts("http:/h/"), None);
        assert_eq!(parts("1http://h/"), None);
        assert_eq!(parts("http://h\"/"), None);
    }

    #[test]
    fn other_forms() {
        assert_eq!(parts("*"), Some((TargetForm::Asterisk, "", "*", "")));
        assert_eq!(parts("**"), None);
        assert_eq!(parts("example.com:443"), None);
        assert_eq!(parts(""), None);
        assert_eq!(parts("a"), None);
    }

    fn dec(s: &[u8]) -> Vec<u8> {
        let mut out = b"keep:".to_vec();
        percent_decode_into(s, &mut out);
        out
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(dec(b"/a%20b"), b"keep:/a b");
        assert_eq!(dec(b"%2f%2F"), b"keep://");
        assert_eq!(dec(b"%e2%82%ac"), b"keep:\xe2\x82\xac");
        assert_eq!(dec(b"a+b"), b"keep:a+b");
        assert_eq!(dec(b"%"), b"keep:%");
        assert_eq!(dec(b"%4"), b"keep:%4");
        assert_eq!(dec(b"%zz%41"), b"keep:%zzA");
        assert_eq!(dec(b"%%41"), b"keep:%A");
        assert_eq!(dec(b"100%"), b"keep:100%");
        assert_eq!(dec(b"%00"), b"keep:\0");
        assert_eq!(dec(b""), b"keep:");
    }

    #[test]
    fn environ_keys() {
        let mut out = Vec::new();
        environ_key_into(b"X-Forwarded-For", &mut out);
        assert_eq!(out, b"HTTP_X_FORWARDED_FOR");
        out.clear();
        environ_key_into(b"accept", &mut out);
        assert_eq!(out, b"HTTP_ACCEPT");
    }
}
