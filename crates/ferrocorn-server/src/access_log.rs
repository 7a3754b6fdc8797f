//! The access log: gunicorn's `--access-logformat` atoms (or one JSON object per line), formatted
//! on the request thread into a reused buffer and handed to this process's log writer thread
//! (`log_writer`), which writes whole lines, so lines from many threads and workers never
//! interleave and a slow disk never holds a request for long.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::log::civil_from_days;
use crate::log_writer::{LogWriter, Target};

/// gunicorn's default format.
pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

use ferrocorn_config::access_format::{parse as parse_format, Atom, Piece};

/// What one finished request looks like to the access log.
pub struct Entry<'a> {
    pub remote_addr: &'a str,
    pub method: &'a [u8],
    pub raw_uri: &'a [u8],
    pub path: &'a [u8],
    pub query: &'a [u8],
    pub protocol: &'a str,
    pub status: u16,
    pub body_bytes: u64,
    pub started: SystemTime,
    pub duration: Duration,
    /// Request header fields in arrival order.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The names in `headers` are CGI variables (`HTTP_USER_AGENT`), as uwsgi and FastCGI send.
    pub cgi_names: bool,
    /// The response head as sent (status line and headers), when a format needs `{x}o`.
    pub response_head: &'a [u8],
    pub server_name: &'a str,
    pub server_port: &'a str,
    pub remote_port: &'a str,
    /// `wsgi.url_scheme` of the request.
    pub scheme: &'a str,
    /// The `{KEY}e` values the host read from the environ after the app ran.
    pub app_env: Option<&'a crate::app::LoggedEnv>,
}

impl Entry<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.headers
            .iter()
            .find(|(n, _)| {
                if self.cgi_names {
                    crate::app::cgi_name_is(n, name)
                } else {
                    n.eq_ignore_ascii_case(name)
                }
            })
            .map(|(_, v)| *v)
    }

    fn response_header(&self, name: &str) -> Option<&[u8]> {
        self.response_head
            .split(|&b| b == b'\n')
            .skip(1)
            .find_map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line.iter().position(|&b| b == b':')?;
                line[..colon]
                    .eq_ignore_ascii_case(name.as_bytes())
                    .then(|| line[colon + 1..].trim_ascii())
            })
    }

    /// The user name of HTTP basic authentication, if any.
    fn user(&self) -> Option<String> {
        let auth = self.header("authorization")?;
        // The scheme name is case-insensitive (RFC 9110 11.1).
        let (scheme, b64) = auth.split_at_checked(6)?;
        if !scheme.eq_ignore_ascii_case(b"basic ") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim_ascii())
            .ok()?;
        let user = raw.split(|&b| b == b':').next()?;
        Some(String::from_utf8_lossy(user).into_owned())
    }

    /// `{KEY}e`: the request's CGI/WSGI variables the server knows, looked up case-insensitively
    /// like gunicorn. The server's own process environment is never exposed.
    fn env(&self, key: &str) -> Option<String> {
        // The environ as the app left it, when the host read it.
        if let Some(env) = self.app_env.filter(|e| e.values.len() == e.keys.len()) {
            if let Some(i) = env.keys.iter().position(|k| k.eq_ignore_ascii_case(key)) {
                return env.values.get(i).cloned().flatten();
            }
        }
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let upper = key.to_ascii_uppercase();
        match upper.as_str() {
            "REMOTE_ADDR" => Some(self.remote_addr.to_string()),
            "REMOTE_PORT" => Some(self.remote_port.to_string()),
            "REQUEST_METHOD" => Some(s(self.method)),
            "RAW_URI" => Some(s(self.raw_uri)),
            "PATH_INFO" => Some(s(self.path)),
            "QUERY_STRING" => Some(s(self.query)),
            "SERVER_PROTOCOL" => Some(self.protocol.to_string()),
            "SERVER_NAME" => Some(self.server_name.to_string()),
            "SERVER_PORT" => Some(self.server_port.to_string()),
            "SERVER_SOFTWARE" => Some(concat!("ferrocorn/", env!("CARGO_PKG_VERSION")).to_string()),
            "WSGI.URL_SCHEME" => Some(self.scheme.to_string()),
            "CONTENT_TYPE" => self.header("content-type").map(s),
            "CONTENT_LENGTH" => self.header("content-length").map(s),
            _ => upper
                .strip_prefix("HTTP_")
                .and_then(|h| self.header(&h.replace('_', "-")).map(s)),
        }
    }
}

/// An open access log.
pub struct AccessLog {
    pieces: Vec<Piece>,
    json: bool,
    memory_report: bool,
    writer: LogWriter,
    /// Whether a format needs the response head kept (`{x}o` atoms).
    pub wants_response_head: bool,
    /// The environ keys of the format's `{KEY}e` atoms, for the host to read after the app ran.
    pub env_keys: std::sync::Arc<[String]>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("writer", &self.writer)
            .field("json", &self.json)
            .finish()
    }
}

/// `[24/Nov/2026:21:15:00 +0000]`, in local time like gunicorn's `%(t)s`.
fn clf_time(t: SystemTime) -> String {
    let utc = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let offset = crate::clock::utc_offset(utc);
    clf_time_at(utc + offset, &crate::clock::format_offset(offset))
}

/// CLF time for `secs` already shifted into the zone named by `zone`.
fn clf_time_at(secs: i64, zone: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let mon = MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "[{d:02}/{mon}/{y}:{:02}:{:02}:{:02} {zone}]",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl AccessLog {
    /// `path` `-` is stdout.
    pub fn new(
        path: &str,
        format: &str,
        json: bool,
        memory_report: bool,
    ) -> Result<AccessLog, String> {
        let pieces = parse_format(format).map_err(|e| format!("access_log_format: {}", e.0))?;
        let (target, label) = match path {
            "-" => (Target::Stdout, "access log (stdout)".to_string()),
            p => (Target::File(p.to_string()), format!("access log {p}")),
        };
        let writer = LogWriter::open(target, label, Box::new(crate::log::warning))
            .map_err(|e| format!("cannot open access log {path:?}: {e}"))?;
        let wants_response_head = pieces
            .iter()
            .any(|p| matches!(p, Piece::Atom(Atom::RespHeader(_))));
        let env_keys = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Atom(Atom::Env(k)) => Some(k.clone()),
                _ => None,
            })
            .collect();
        Ok(AccessLog {
            env_keys,
            pieces,
            json,
            memory_report,
            writer,
            wants_response_head,
        })
    }

    /// Reopen the file after logrotate moved it, in order with the queued lines (see `log::reopen`).
    pub fn reopen(&self) -> std::io::Result<()> {
        self.writer.reopen()
    }

    /// Format `e` into `buf` (cleared first), newline-terminated.
    pub fn format(&self, e: &Entry<'_>, buf: &mut String) {
        buf.clear();
        if self.json {
            self.format_json(e, buf);
        } else {
            for p in &self.pieces {
                match p {
                    Piece::Lit(s) => buf.push_str(s),
                    Piece::Atom(a) => self.atom(a, e, buf),
                }
            }
            if self.memory_report {
                if let Some(rss) = crate::worker::current_rss() {
                    let _ = write!(buf, " {{rss: {:.1} MB}}", rss as f64 / 1048576.0);
                }
            }
        }
        buf.push('\n');
    }

    /// Render one atom, escaping `"` like gunicorn so a header value cannot forge a field.
    fn atom(&self, a: &Atom, e: &Entry<'_>, buf: &mut String) {
        let start = buf.len();
        self.atom_raw(a, e, buf);
        if buf[start..].contains('"') {
            let escaped = buf[start..].replace('"', "\\\"");
            buf.truncate(start);
            buf.push_str(&escaped);
        }
    }

    fn atom_raw(&self, a: &Atom, e: &Entry<'_>, buf: &mut String) {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let or_dash = |v: Option<String>| v.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into());
        match a {
            Atom::RemoteAddr => buf.push_str(if e.remote_addr.is_empty() {
                "-"
            } else {
                e.remote_addr
            }),
            Atom::Dash => buf.push('-'),
            Atom::User => buf.push_str(&or_dash(e.user())),
            Atom::Time => buf.push_str(&clf_time(e.started)),
            Atom::RequestLine => {
                let _ = write!(
                    buf,
                    "{} {} {}",
                    lossy(e.method),
                    lossy(e.raw_uri),
                    e.protocol
                );
            }
            Atom::Method => buf.push_str(&lossy(e.method)),
            Atom::UrlPath => buf.push_str(&lossy(e.path)),
            Atom::Query => buf.push_str(&lossy(e.query)),
            Atom::Protocol => buf.push_str(e.protocol),
            Atom::Status => {
                let _ = write!(buf, "{}", e.status);
            }
            Atom::BodyBytes => {
                let _ = write!(buf, "{}", e.body_bytes);
            }
            // gunicorn prints the number for `b` too ('-' only when unknown, which it never is here).
            Atom::BodyBytesOrDash => {
                let _ = write!(buf, "{}", e.body_bytes);
            }
            Atom::Referer => buf.push_str(&or_dash(e.header("referer").map(lossy))),
            Atom::UserAgent => buf.push_str(&or_dash(e.header("user-agent").map(lossy))),
            Atom::Seconds => {
                let _ = write!(buf, "{}", e.duration.as_secs());
            }
            Atom::Micros => {
                let _ = write!(buf, "{}", e.duration.as_micros());
            }
            Atom::Millis => {
                let _ = write!(buf, "{}", e.duration.as_millis());
            }
            Atom::DecimalSeconds => {
                let _ = write!(buf, "{:.6}", e.duration.as_secs_f64());
            }
            Atom::Pid => {
                let _ = write!(buf, "<{}>", std::process::id());
            }
            Atom::ReqHeader(h) => buf.push_str(&or_dash(e.header(h).map(lossy))),
            Atom::RespHeader(h) => buf.push_str(&or_dash(e.response_header(h).map(lossy))),
            Atom::Env(k) => buf.push_str(&or_dash(e.env(k))),
        }
    }

    fn format_json(&self, e: &Entry<'_>, buf: &mut String) {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let fields: [(&str, String); 8] = [
            ("remote_addr", e.remote_addr.to_string()),
            (
                "time",
                clf_time(e.started).trim_matches(['[', ']']).to_string(),
            ),
            ("method", lossy(e.method)),
            ("path", lossy(e.path)),
            ("query", lossy(e.query)),
            ("protocol", e.protocol.to_string()),
            (
                "referer",
                e.header("referer").map(lossy).unwrap_or_default(),
            ),
            (
                "user_agent",
                e.header("user-agent").map(lossy).unwrap_or_default(),
            ),
        ];
        buf.push('{');
        for (k, v) in &fields {
            json_str(buf, k);
            buf.push(':');
            json_str(buf, v);
            buf.push(',');
        }
        let _ = write!(
            buf,
            "\"status\":{},\"bytes\":{},\"duration_ms\":{:.3},\"pid\":{}",
            e.status,
            e.body_bytes,
            e.duration.as_secs_f64() * 1000.0,
            std::process::id()
        );
        if let Some(u) = e.user() {
            buf.push_str(",\"user\":");
            json_str(buf, &u);
        }
        if self.memory_report {
            if let Some(rss) = crate::worker::current_rss() {
                let _ = write!(buf, ",\"rss_bytes\":{rss}");
            }
        }
        buf.push('}');
    }

    /// Queue one formatted line for the log writer (dropped and counted if the log is stalled).
    pub fn write_line(&self, line: &str) {
        self.writer.send(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(headers: &'a [(&'a [u8], &'a [u8])], head: &'a [u8]) -> Entry<'a> {
        Entry {
            remote_addr: "10.0.0.1",
            method: b"GET",
            raw_uri: b"/a%20b?x=1",
            path: b"/a b",
            query: b"x=1",
            protocol: "HTTP/1.1",
            status: 200,
            body_bytes: 14,
            started: UNIX_EPOCH + Duration::from_secs(1_795_554_900),
            duration: Duration::from_micros(1500),
            headers,
            cgi_names: false,
            app_env: None,
            response_head: head,
            server_name: "127.0.0.1",
            server_port: "8000",
            remote_port: "5555",
            scheme: "http",
        }
    }

    #[test]
    fn default_format_matches_gunicorn() {
        let log = AccessLog::new("-", DEFAULT_FORMAT, false, false).expect("fmt");
        let h: [(&[u8], &[u8]); 3] = [
            (b"User-Agent", b"curl/8"),
            (b"Referer", b"http://r/"),
            (b"Authorization", b"Basic YWxpY2U6c2VjcmV0"),
        ];
        let mut s = String::new();
        log.format(&entry(&h, b""), &mut s);
        assert_eq!(s, "10.0.0.1 - alice [24/Nov/2026:21:15:00 +0000] \"GET /a%20b?x=1 HTTP/1.1\" 200 14 \"http://r/\" \"curl/8\"\n");
    }

    #[test]
    fn every_atom_renders() {
        let fmt = "%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(T)s|%(D)s|%(M)s|%(L)s|%({x-id}i)s|%({content-type}o)s|%(REMOTE_ADDR)s|%%";
        // `%(REMOTE_ADDR)s` is not an atom: refused with its name.
        assert!(AccessLog::new("-", fmt, false, false).is_err());
        let fmt = "%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(T)s|%(D)s|%(M)s|%(L)s|%({x-id}i)s|%({content-type}o)s|%({REMOTE_ADDR}e)s|%(p)s|%%";
        let log = AccessLog::new("-", fmt, false, false).expect("fmt");
        assert!(log.wants_response_head);
        let h: [(&[u8], &[u8]); 1] = [(b"X-Id", b"abc")];
        let mut s = String::new();
        log.format(
            &entry(&h, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"),
            &mut s,
        );
        let pid = std::process::id();
        assert_eq!(s, format!("GET|/a b|x=1|HTTP/1.1|200|14|14|0|1500|1|0.001500|abc|text/plain|10.0.0.1|<{pid}>|%\n"));
    }

    #[test]
    fn json_lines_are_objects() {
        let log = AccessLog::new("-", DEFAULT_FORMAT, true, false).expect("fmt");
        let h: [(&[u8], &[u8]); 1] = [(b"User-Agent", b"a \"quoted\" agent")];
        let mut s = String::new();
        log.format(&entry(&h, b""), &mut s);
        assert!(s.starts_with("{\"remote_addr\":\"10.0.0.1\""));
        assert!(s.contains("\"user_agent\":\"a \\\"quoted\\\" agent\""));
        assert!(s.contains("\"status\":200"));
        assert!(s.ends_with("}\n"));
    }

    #[test]
    fn bad_formats_name_the_problem() {
        assert!(AccessLog::new("-", "%(zz)s", false, false)
            .err()
            .is_some_and(|e| e.contains("zz")));
        assert!(AccessLog::new("-", "%(h", false, false)
            .err()
            .is_some_and(|e| e.contains("unterminated")));
        assert!(AccessLog::new("-", "100%", false, false).is_err());
    }
}
