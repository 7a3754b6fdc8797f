//! Trusted front ends: who may tell us the client's address and scheme.
//!
//! Two questions, each answered once per connection when it is accepted (see
//! [`ConnInfo::accepted`]): may the peer speak for the client in headers (`forwarded_allow_ips`:
//! scheme headers, X-Forwarded-For, underscore forwarder headers), and may it open the connection
//! with a PROXY protocol header (`proxy_allow_ips`)? An untrusted connection never looks at those
//! headers: they reach the app untouched, as plain `HTTP_*` keys.
//!
//! The parsing is sans-I/O in `ferrocorn_proto::proxy`; this module holds the policy.

use std::net::IpAddr;

use ferrocorn_config::{AllowList, Config, ProxyProtocol};
use ferrocorn_proto::http1::{HttpError, RequestHead};
use ferrocorn_proto::proxy::{parse_forwarded_for, ProxyHeader, ProxyVersions};

use crate::conn_info::{ConnInfo, ProxyInfo};

/// The proxy settings the connection drivers need, copied out of the config once.
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    /// Peers trusted to set the scheme and client address in headers.
    pub forwarded_allow: AllowList,
    /// The header naming the client chain (`x_forwarded_for_header`); empty: none is read.
    pub forwarded_for_header: Vec<u8>,
    /// `(name, value)`: a trusted request with this header set to exactly this value is https.
    pub secure_scheme_headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// PROXY header versions accepted at the start of a connection; `None`: the protocol is off.
    pub protocol: Option<ProxyVersions>,
    /// Peers allowed to send a PROXY header.
    pub proxy_allow: AllowList,
}

impl ProxySettings {
    pub fn from_config(cfg: &Config) -> Self {
        ProxySettings {
            forwarded_allow: cfg.forwarded_allow_ips.clone(),
            forwarded_for_header: cfg.x_forwarded_for_header.trim().as_bytes().to_vec(),
            secure_scheme_headers: cfg
                .secure_scheme_headers
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            protocol: match cfg.proxy_protocol {
                ProxyProtocol::Off => None,
                ProxyProtocol::V1 => Some(ProxyVersions::V1),
                ProxyProtocol::V2 => Some(ProxyVersions::V2),
                ProxyProtocol::Auto => Some(ProxyVersions::Any),
            },
            proxy_allow: cfg.proxy_allow_ips.clone(),
        }
    }

    /// Whether a trusted request has any header to look at.
    pub fn reads_headers(&self) -> bool {
        !self.forwarded_for_header.is_empty() || !self.secure_scheme_headers.is_empty()
    }
}

/// The PROXY header is cut off the connection: its client becomes the connection's
/// `REMOTE_ADDR`/`REMOTE_PORT` for every request on it, and X-Forwarded-For is only followed if
/// that client is itself a trusted front end.
pub fn adopt_proxy_header(info: &mut ConnInfo, h: &ProxyHeader, s: &ProxySettings) {
    let mut proxy = ProxyInfo {
        protocol: h.protocol,
        ..ProxyInfo::default()
    };
    if let Some((client, dest)) = h.addrs {
        let ip = client.ip().to_canonical();
        info.remote_addr = ip.to_string();
        info.remote_port = client.port().to_string();
        info.follow_forwarded_for = info.trusted && s.forwarded_allow.allows(ip);
        proxy.proxy_addr = dest.ip().to_canonical().to_string();
        proxy.proxy_port = dest.port().to_string();
        info.host_cache = Default::default();
    }
    info.proxy = Some(proxy);
}

/// What a trusted front end's headers say about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// `(REMOTE_ADDR, REMOTE_PORT)` from X-Forwarded-For; `None`: the connection's own.
    pub client: Option<(String, String)>,
    /// `wsgi.url_scheme`.
    pub scheme: &'static str,
}

/// Contradictory scheme headers (gunicorn's `InvalidSchemeHeaders`).
const CONTRADICTORY: HttpError = HttpError::new(400, "Contradictory scheme headers");

/// Read a trusted request's forwarding headers (only call this for trusted connections).
///
/// Scheme, as gunicorn: each secure-scheme header present says https when its value matches
/// exactly and http otherwise; if two say different things the request is refused.
///
/// Client: X-Forwarded-For is walked from the right (its last line's last entry first): the
/// first entry that is not itself a trusted front end is the client; if all are trusted, the
/// left-most. An entry that is not an IP address ends the walk at the hop to its right (such a
/// value cannot be checked, so it never becomes `REMOTE_ADDR`). The port is the entry's, else
/// 80 (what gunicorn did while it honoured this header).
pub fn read_forwarded(
    s: &ProxySettings,
    follow_forwarded_for: bool,
    conn_scheme: &'static str,
    head: &RequestHead,
    buf: &[u8],
) -> Result<Forwarded, HttpError> {
    let mut scheme = None;
    for h in &head.headers {
        let name = h.name.get(buf);
        let Some((_, want)) = s
            .secure_scheme_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        else {
            continue;
        };
        let says = if h.value.get(buf) == want.as_slice() {
            "https"
        } else {
            "http"
        };
        match scheme {
            Some(prev) if prev != says => return Err(CONTRADICTORY),
            _ => scheme = Some(says),
        }
    }
    let mut client: Option<(IpAddr, Option<u16>)> = None;
    if follow_forwarded_for && !s.forwarded_for_header.is_empty() {
        let lines = head.headers.iter().rev().filter(|h| {
            h.name
                .get(buf)
                .eq_ignore_ascii_case(&s.forwarded_for_header)
        });
        'walk: for h in lines {
            for entry in h.value.get(buf).rsplit(|&b| b == b',') {
                if entry.trim_ascii().is_empty() {
                    continue;
                }
                let Some(hop) = parse_forwarded_for(entry) else {
                    break 'walk;
                };
                client = Some(hop);
                if !s.forwarded_allow.allows(hop.0) {
                    break 'walk;
                }
            }
        }
    }
    Ok(Forwarded {
        client: client.map(|(ip, port)| {
            (
                ip.to_canonical().to_string(),
                port.unwrap_or(80).to_string(),
            )
        }),
        scheme: scheme.unwrap_or(conn_scheme),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocorn_proto::http1::{parse_head, Limits, Parsed};

    fn settings(allow: &[&str]) -> ProxySettings {
        let entries: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        ProxySettings {
            forwarded_allow: AllowList::from_entries(&entries).unwrap_or_default(),
            forwarded_for_header: b"X-FORWARDED-FOR".to_vec(),
            secure_scheme_headers: vec![
                (b"X-FORWARDED-PROTOCOL".to_vec(), b"ssl".to_vec()),
                (b"X-FORWARDED-PROTO".to_vec(), b"https".to_vec()),
                (b"X-FORWARDED-SSL".to_vec(), b"on".to_vec()),
            ],
            protocol: None,
            proxy_allow: AllowList::default(),
        }
    }

    fn read(s: &ProxySettings, headers: &str) -> Result<Forwarded, HttpError> {
        let mut buf = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes();
        let mut head = RequestHead::default();
        assert_eq!(
            parse_head(&mut buf, &Limits::default(), &mut head),
            Ok(Parsed::Complete)
        );
        read_forwarded(s, true, "http", &head, &buf)
    }

    fn client(s: &ProxySettings, headers: &str) -> Option<(String, String)> {
        read(s, headers).ok().and_then(|f| f.client)
    }

    fn pair(a: &str, p: &str) -> Option<(String, String)> {
        Some((a.to_string(), p.to_string()))
    }

    #[test]
    fn walks_from_the_right_to_the_first_untrusted_hop() {
        let s = settings(&["127.0.0.1", "10.0.0.0/8"]);
        let h = "X-Forwarded-For: 203.0.113.1, 198.51.100.7, 10.1.2.3\r\n";
        assert_eq!(client(&s, h), pair("198.51.100.7", "80"));
        let h = "X-Forwarded-For: 203.0.113.1:4711, 10.1.2.3\r\n";
        assert_eq!(client(&s, h), pair("203.0.113.1", "4711"));
        // All trusted: the left-most.
        let h = "X-Forwarded-For: 10.9.9.9, 10.1.2.3\r\n";
        assert_eq!(client(&s, h), pair("10.9.9.9", "80"));
        // Several lines are one list, in order.
        let h = "X-Forwarded-For: 203.0.113.1\r\nX-Forwarded-For: 10.1.2.3, 10.0.0.9\r\n";
        assert_eq!(client(&s, h), pair("203.0.113.1", "80"));
        let h = "x-forwarded-for: [2001:db8::5]:443,,\r\n";
        assert_eq!(client(&s, h), pair("2001:db8::5", "443"));
        let h = "X-Forwarded-For: ::ffff:192.0.2.1\r\n";
        assert_eq!(client(&s, h), pair("192.0.2.1", "80"));
        // Garbage ends the walk at the hop to its right; never becomes REMOTE_ADDR.
        let h = "X-Forwarded-For: 203.0.113.1, <script>, 10.1.2.3\r\n";
        assert_eq!(client(&s, h), pair("10.1.2.3", "80"));
        assert_eq!(client(&s, "X-Forwarded-For: unknown\r\n"), None);
        assert_eq!(client(&s, ""), None);
        // `*`: everyone is trusted, so the left-most entry wins.
        let h = "X-Forwarded-For: 203.0.113.1, 198.51.100.7\r\n";
        assert_eq!(client(&settings(&["*"]), h), pair("203.0.113.1", "80"));
    }

    #[test]
    fn not_followed_when_off() {
        let mut s = settings(&["127.0.0.1"]);
        let mut buf = b"GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n".to_vec();
        let mut head = RequestHead::default();
        let _ = parse_head(&mut buf, &Limits::default(), &mut head);
        let f = read_forwarded(&s, false, "http", &head, &buf);
        assert_eq!(f.map(|f| f.client), Ok(None));
        s.forwarded_for_header.clear();
        let f = read_forwarded(&s, true, "http", &head, &buf);
        assert_eq!(f.map(|f| f.client), Ok(None));
    }

    #[test]
    fn scheme_headers() {
        let s = settings(&["127.0.0.1"]);
        let scheme = |h: &str| read(&s, h).map(|f| f.scheme);
        assert_eq!(scheme(""), Ok("http"));
        assert_eq!(scheme("X-Forwarded-Proto: https\r\n"), Ok("https"));
        assert_eq!(scheme("x-forwarded-ssl: on\r\n"), Ok("https"));
        assert_eq!(scheme("X-Forwarded-Proto: HTTPS\r\n"), Ok("http"));
        assert_eq!(
            scheme("X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: on\r\n"),
            Ok("https")
        );
        assert_eq!(
            scheme("X-Forwarded-Proto: http\r\nX-Forwarded-Ssl: off\r\n"),
            Ok("http")
        );
        assert_eq!(
            scheme("X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n"),
            Err(CONTRADICTORY)
        );
        assert_eq!(
            scheme("X-Forwarded-Proto: https\r\nX-Forwarded-Proto: http\r\n"),
            Err(CONTRADICTORY)
        );
    }
}
