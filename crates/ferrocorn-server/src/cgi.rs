//! CGI variables to the protocol-neutral [`Head`]: the one mapping shared by the front ends whose
//! web server sends CGI variables (uwsgi vars, FastCGI params).
//!
//! The variables the server interprets (method, URI, path, query, protocol, body length, the
//! client's and the server's addresses, the scheme) fill the head and the connection info; every
//! other variable goes to the environ as it is, except `HTTP_CONTENT_TYPE` and
//! `HTTP_CONTENT_LENGTH` (nginx sends the client's headers under those names too; PEP 3333 has
//! only the bare `CONTENT_TYPE`/`CONTENT_LENGTH`, and `wsgiref.validate` refuses the others).

use std::sync::Arc;

use ferrocorn_proto::http1::{Span, Version};

use crate::app::{Field, Head, HeaderStyle};
use crate::conn_info::ConnInfo;

/// What the driver needs beyond the head.
#[derive(Debug, Clone, Copy)]
pub struct Mapped {
    /// `REQUEST_METHOD` is `HEAD`.
    pub is_head: bool,
    /// The HTTP version the response head speaks.
    pub version: Version,
    /// `CONTENT_LENGTH`, when given and not empty.
    pub content_length: Option<u64>,
}

/// Why a request's variables cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgiError {
    /// `REQUEST_METHOD` is missing.
    NoMethod,
    /// `CONTENT_LENGTH` is not a number (the value, for the log).
    BadContentLength(String),
}

impl std::fmt::Display for CgiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CgiError::NoMethod => write!(f, "no REQUEST_METHOD"),
            CgiError::BadContentLength(v) => write!(f, "bad CONTENT_LENGTH {v:?}"),
        }
    }
}

/// The vars the server itself interprets, found in one pass.
#[derive(Default)]
struct Known {
    method: Option<Span>,
    uri: Option<Span>,
    path: Option<Span>,
    query: Option<Span>,
    script: Option<Span>,
    protocol: Option<Span>,
    content_length: Option<Span>,
    remote_addr: Option<Span>,
    remote_port: Option<Span>,
    server_name: Option<Span>,
    server_port: Option<Span>,
    https: Option<Span>,
    scheme: Option<Span>,
    request_scheme: Option<Span>,
}

fn span(s: Span) -> (u32, u32) {
    (s.start, s.end)
}

/// `SERVER_PROTOCOL` as a static string (the head keeps no owned strings).
fn protocol_name(v: &[u8]) -> &'static str {
    match v {
        b"HTTP/1.0" => "HTTP/1.0",
        b"HTTP/2.0" => "HTTP/2.0",
        b"HTTP/2" => "HTTP/2",
        b"HTTP/3.0" => "HTTP/3.0",
        b"HTTP/3" => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// Fill `head` and the connection's `info` from the CGI variables `vars` (name and value ranges
/// of `buf`). `manage_path_info`: `PATH_INFO` still starts with `SCRIPT_NAME`, cut it off (uWSGI's
/// modifier 30).
pub fn map_vars(
    buf: &[u8],
    vars: impl Iterator<Item = (Span, Span)>,
    manage_path_info: bool,
    head: &mut Head,
    info: &mut Arc<ConnInfo>,
) -> Result<Mapped, CgiError> {
    let mut k = Known::default();
    head.fields.clear();
    for (key, value) in vars {
        let slot = match key.get(buf) {
            b"REQUEST_METHOD" => &mut k.method,
            b"REQUEST_URI" => &mut k.uri,
            b"PATH_INFO" => &mut k.path,
            b"QUERY_STRING" => &mut k.query,
            b"SCRIPT_NAME" => &mut k.script,
            b"SERVER_PROTOCOL" => &mut k.protocol,
            b"REMOTE_ADDR" => &mut k.remote_addr,
            b"REMOTE_PORT" => &mut k.remote_port,
            b"UWSGI_SCHEME" => &mut k.scheme,
            b"HTTP_CONTENT_TYPE" | b"HTTP_CONTENT_LENGTH" => continue,
            // Also passed on to the environ as they are.
            name @ (b"CONTENT_LENGTH" | b"SERVER_NAME" | b"SERVER_PORT" | b"HTTPS"
            | b"REQUEST_SCHEME") => {
                let slot = match name {
                    b"CONTENT_LENGTH" => &mut k.content_length,
                    b"SERVER_NAME" => &mut k.server_name,
                    b"SERVER_PORT" => &mut k.server_port,
                    b"HTTPS" => &mut k.https,
                    _ => &mut k.request_scheme,
                };
                *slot = Some(value);
                head.fields.push(Field {
                    name: span(key),
                    value: span(value),
                });
                continue;
            }
            _ => {
                head.fields.push(Field {
                    name: span(key),
                    value: span(value),
                });
                continue;
            }
        };
        *slot = Some(value);
    }
    let method = k.method.ok_or(CgiError::NoMethod)?;
    let get = |s: Option<Span>| s.map(|s| s.get(buf)).unwrap_or_default();
    // The URI as sent: REQUEST_URI, else what the path variables give.
    let uri = k.uri.or(k.path).or(k.script).unwrap_or_default();
    let uri_bytes = uri.get(buf);
    let uri_query = uri_bytes.iter().position(|&b| b == b'?');
    let mut script = k.script.unwrap_or_default();
    // The path: PATH_INFO (decoded by the front end); without one, a SCRIPT_NAME that is the
    // whole path (nginx's stock fastcgi_params, Apache mod_proxy_fcgi) leaves it empty;
    // otherwise the path part of REQUEST_URI, still encoded.
    let (mut path, decoded) = match k.path {
        Some(p) => (p, true),
        None if !script.is_empty() => (Span::new(script.end as usize, script.end as usize), true),
        None => {
            let end = uri.start as usize + uri_query.unwrap_or(uri_bytes.len());
            (Span::new(uri.start as usize, end), false)
        }
    };
    let query = match (k.query, uri_query) {
        (Some(q), _) => q,
        (None, Some(i)) => Span::new(uri.start as usize + i + 1, uri.end as usize),
        (None, None) => Span::default(),
    };
    if manage_path_info {
        // PATH_INFO still starts with SCRIPT_NAME: cut it off.
        if decoded && path.get(buf).starts_with(script.get(buf)) {
            path = Span::new(path.start as usize + script.len(), path.end as usize);
        } else {
            script = Span::default();
        }
    }
    let protocol = protocol_name(get(k.protocol));
    let content_length = match k.content_length.map(|c| c.get(buf).trim_ascii()) {
        None | Some(b"") => None,
        Some(v) => Some(
            std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    CgiError::BadContentLength(String::from_utf8_lossy(v).into_owned())
                })?,
        ),
    };
    let scheme: &'static str = match get(k.scheme) {
        b"https" => "https",
        b"http" => "http",
        _ if matches!(get(k.https), b"on" | b"ON" | b"1") => "https",
        _ if get(k.request_scheme) == b"https" => "https",
        _ => "http",
    };
    // The front end's view of the client and of itself is the truth on these protocols.
    let lossy = |s: Span| String::from_utf8_lossy(s.get(buf));
    let changed = |old: &str, new: Option<Span>| new.is_some_and(|n| lossy(n) != old);
    let differs = changed(&info.remote_addr, k.remote_addr)
        || (k.remote_addr.is_some()
            && lossy(k.remote_port.unwrap_or_default()) != info.remote_port)
        || changed(&info.server_name, k.server_name)
        || changed(&info.server_port, k.server_port)
        || info.scheme != scheme
        || info.url_scheme != scheme;
    if differs {
        let info = Arc::make_mut(info);
        if let Some(a) = k.remote_addr {
            info.remote_addr = lossy(a).into_owned();
            info.remote_port = lossy(k.remote_port.unwrap_or_default()).into_owned();
        }
        if let Some(n) = k.server_name {
            info.server_name = lossy(n).into_owned();
        }
        if let Some(p) = k.server_port {
            info.server_port = lossy(p).into_owned();
        }
        info.scheme = scheme;
        info.url_scheme = scheme;
        // The host derives strings from these fields once per connection: a connection that
        // carries several requests (FastCGI KEEP_CONN) may bring other values each time.
        info.host_cache = Default::default();
    }
    head.method = span(method);
    head.raw_uri = span(uri);
    head.path = span(path);
    head.query = span(query);
    head.protocol = protocol;
    head.style = Some(HeaderStyle::Cgi);
    head.path_decoded = decoded;
    head.script_name = span(script);
    head.content_length = content_length;
    Ok(Mapped {
        is_head: method.get(buf) == b"HEAD",
        version: if protocol == "HTTP/1.0" {
            Version::Http10
        } else {
            Version::Http11
        },
        content_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{app_paths, Request};

    /// Vars as one buffer of `name=value` pieces and their spans.
    fn vars(list: &[(&str, &str)]) -> (Vec<u8>, Vec<(Span, Span)>) {
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for (n, v) in list {
            let n0 = buf.len();
            buf.extend_from_slice(n.as_bytes());
            let v0 = buf.len();
            buf.extend_from_slice(v.as_bytes());
            spans.push((Span::new(n0, v0), Span::new(v0, buf.len())));
        }
        (buf, spans)
    }

    fn map(list: &[(&str, &str)], mount: &str) -> (String, String, Head, Arc<ConnInfo>) {
        let (buf, spans) = vars(list);
        let mut head = Head::default();
        let mut info = Arc::new(ConnInfo::default());
        map_vars(&buf, spans.into_iter(), false, &mut head, &mut info).expect("maps");
        let mut out = Vec::new();
        let at = app_paths(&Request::new(&buf, &head), mount.as_bytes(), &mut out);
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (s(&out[..at]), s(&out[at..]), head, info)
    }

    #[test]
    fn nginx_fastcgi_params_script_name_is_the_whole_path() {
        let list = [
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", "/page/x"),
            ("REQUEST_URI", "/page/x?a=1"),
            ("QUERY_STRING", "a=1"),
        ];
        let (script, path, head, _) = map(&list, "");
        assert_eq!((script.as_str(), path.as_str()), ("", "/page/x"));
        assert_eq!(head.raw_uri, (head.raw_uri.0, head.raw_uri.0 + 11));
        let (script, path, _, _) = map(&list, "/page");
        assert_eq!((script.as_str(), path.as_str()), ("/page", "/x"));
        // fastcgi_split_path_info: both parts, kept.
        let list = [
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", "/app"),
            ("PATH_INFO", "/x"),
        ];
        let (script, path, _, _) = map(&list, "");
        assert_eq!((script.as_str(), path.as_str()), ("/app", "/x"));
        // Only REQUEST_URI: its path, decoded once.
        let list = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/a%20b?q")];
        let (script, path, head, _) = map(&list, "");
        assert_eq!((script.as_str(), path.as_str()), ("", "/a b"));
        assert!(!head.path_decoded);
    }

    #[test]
    fn http_content_type_and_length_are_dropped() {
        let list = [
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_TYPE", "text/plain"),
            ("CONTENT_LENGTH", "3"),
            ("HTTP_CONTENT_TYPE", "text/plain"),
            ("HTTP_CONTENT_LENGTH", "3"),
            ("HTTP_X_A", "1"),
        ];
        let (buf, spans) = vars(&list);
        let mut head = Head::default();
        let mut info = Arc::new(ConnInfo::default());
        let m = map_vars(&buf, spans.into_iter(), false, &mut head, &mut info).expect("maps");
        assert_eq!(m.content_length, Some(3));
        let names: Vec<&[u8]> = Request::new(&buf, &head).fields().map(|f| f.0).collect();
        assert_eq!(
            names,
            [&b"CONTENT_TYPE"[..], b"CONTENT_LENGTH", b"HTTP_X_A"]
        );
    }

    #[test]
    fn addresses_replace_the_connections_and_reset_the_cache() {
        let list = [
            ("REQUEST_METHOD", "GET"),
            ("REMOTE_ADDR", "203.0.113.5"),
            ("REMOTE_PORT", "4000"),
            ("HTTPS", "on"),
        ];
        let (_, _, _, info) = map(&list, "");
        assert_eq!(info.remote_addr, "203.0.113.5");
        assert_eq!(info.remote_port, "4000");
        assert_eq!(info.url_scheme, "https");
        let (buf, spans) = vars(&list);
        let mut head = Head::default();
        let mut info = Arc::new(ConnInfo::default());
        let _ = info.host_cache.set(Box::new(1u8));
        map_vars(&buf, spans.into_iter(), false, &mut head, &mut info).expect("maps");
        assert!(info.host_cache.get().is_none());
        // Unchanged values keep the cache.
        let _ = info.host_cache.set(Box::new(1u8));
        map_vars(&buf, vars(&list).1.into_iter(), false, &mut head, &mut info).expect("maps");
        assert!(info.host_cache.get().is_some());
    }

    #[test]
    fn refusals() {
        let (buf, spans) = vars(&[("PATH_INFO", "/")]);
        let mut head = Head::default();
        let mut info = Arc::new(ConnInfo::default());
        assert_eq!(
            map_vars(&buf, spans.into_iter(), false, &mut head, &mut info).expect_err("refused"),
            CgiError::NoMethod
        );
        let (buf, spans) = vars(&[("REQUEST_METHOD", "GET"), ("CONTENT_LENGTH", "1x")]);
        assert_eq!(
            map_vars(&buf, spans.into_iter(), false, &mut head, &mut info)
                .expect_err("refused")
                .to_string(),
            "bad CONTENT_LENGTH \"1x\""
        );
    }
}
