//! Byte classes from RFC 9110/9112/3986, written as `matches!` so they compile to range
//! checks and need no table indexing.

/// `tchar` (RFC 9110 §5.6.2): what methods, header names and transfer codings are made of.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// A non-empty run of `tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Optional whitespace (SP / HTAB).
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `field-value` bytes (RFC 9110 §5.5): VCHAR, obs-text, SP and HTAB; no other control byte.
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Bytes allowed in a `Host` value or an absolute-form authority: reg-name, IP-literal and
/// port characters (RFC 3986 §3.2.2). Userinfo (`@`) is deliberately not among them.
pub(crate) fn is_authority_byte(b: u8) -> bool {
    matches!(b,
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z'
        | b'-' | b'.' | b'_' | b'~' | b'%'
        | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        | b':' | b'[' | b']')
}

/// Strip SP/HTAB from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Value of a hex digit.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Iterate the elements of a comma-separated list field (RFC 9110 §5.6.1), OWS-trimmed,
/// skipping empty elements as the RFC requires recipients to.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_token(b"GET"));
        assert!(is_token(b"X-Forwarded_For"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"\xff"));
        assert!(is_field_value_byte(b'\t'));
        assert!(is_field_value_byte(0xff));
        assert!(!is_field_value_byte(0x7f));
        assert!(!is_field_value_byte(0));
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"  "), b"");
        assert_eq!(hex_val(b'F'), Some(15));
        assert_eq!(hex_val(b'g'), None);
        let v: Vec<&[u8]> = list_elements(b" gzip ,, chunked,").collect();
        assert_eq!(v, vec![&b"gzip"[..], &b"chunked"[..]]);
    }
}
