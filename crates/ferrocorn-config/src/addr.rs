//! Listening addresses in gunicorn's and uWSGI's spellings, and address allow lists.
//!
//! Why parse here rather than when binding: a typo in an address is a config error (exit 64,
//! naming the file and line), while an address that parses but cannot be bound is an environment
//! problem the binding code reports. Resolving host names is left to binding for the same reason.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// Which spelling an address is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// gunicorn's `bind`: `HOST` alone means port 8000; Unix sockets are `unix:PATH`.
    Gunicorn,
    /// uWSGI's `socket`/`http-socket`: a value without `:` is a Unix socket path.
    Uwsgi,
}

/// A parsed listening address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// `host` is a name or an IP (IPv6 without brackets); empty `HOST` became `0.0.0.0`.
    Tcp { host: String, port: u16 },
    /// A Unix socket file.
    Unix(PathBuf),
    /// A Linux abstract Unix socket (`@name`); the name excludes the `@`.
    Abstract(String),
    /// An inherited, already listening file descriptor (`fd://N`).
    Fd(i32),
}

impl ListenAddr {
    /// Parse one address.
    pub fn parse(s: &str, dialect: Dialect) -> Result<ListenAddr, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("expected an address, got an empty string".into());
        }
        if t.contains(char::is_whitespace) {
            return Err(format!("expected an address without spaces, got {s:?}"));
        }
        if let Some(fd) = t.strip_prefix("fd://") {
            return fd
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 0)
                .map(ListenAddr::Fd)
                .ok_or_else(|| {
                    format!("expected fd://N with a file descriptor number, got {s:?}")
                });
        }
        if let Some(path) = t.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return unix(path, s);
        }
        if t.starts_with('@') || t.starts_with('/') || t.starts_with("./") || t.starts_with("../") {
            return unix(t, s);
        }
        if let Some(rest) = t.strip_prefix('[') {
            let (host, tail) = rest
                .split_once(']')
                .ok_or_else(|| format!("missing ']' after the IPv6 address in {s:?}"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{host:?} is not an IPv6 address (in {s:?})"));
            }
            let port = match tail.strip_prefix(':') {
                Some(p) => port(p, s)?,
                None if tail.is_empty() => 8000,
                None => return Err(format!("expected :PORT after ']' in {s:?}")),
            };
            return Ok(ListenAddr::Tcp {
                host: host.to_string(),
                port,
            });
        }
        match t.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => Err(format!(
                "put an IPv6 address in brackets, as in [::1]:8000, got {s:?}"
            )),
            Some((host, p)) => Ok(ListenAddr::Tcp {
                host: if host.is_empty() { "0.0.0.0" } else { host }.to_string(),
                port: port(p, s)?,
            }),
            None => match dialect {
                Dialect::Gunicorn => Ok(ListenAddr::Tcp {
                    host: t.to_string(),
                    port: 8000,
                }),
                Dialect::Uwsgi => unix(t, s),
            },
        }
    }

    /// The address in gunicorn's spelling; TCP addresses keep the user's text (`:8000` stays so),
    /// which is what the binding code and messages show.
    pub fn spec(&self, original: &str) -> String {
        match self {
            ListenAddr::Tcp { .. } if original.trim().contains(':') => original.trim().to_string(),
            other => other.to_string(),
        }
    }

    /// The address in uWSGI's spelling (for `--print-config=ini`).
    pub fn uwsgi_spec(&self) -> String {
        match self {
            ListenAddr::Unix(p) => p.display().to_string(),
            ListenAddr::Abstract(n) => format!("@{n}"),
            other => other.to_string(),
        }
    }
}

fn unix(path: &str, original: &str) -> Result<ListenAddr, String> {
    if let Some(name) = path.strip_prefix('@') {
        if name.is_empty() {
            return Err(format!(
                "expected @NAME for an abstract socket, got {original:?}"
            ));
        }
        return Ok(ListenAddr::Abstract(name.to_string()));
    }
    if path.is_empty() {
        return Err(format!("expected a socket path, got {original:?}"));
    }
    Ok(ListenAddr::Unix(PathBuf::from(path)))
}

fn port(p: &str, original: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .map_err(|_| format!("{p:?} is not a port number (0-65535) in {original:?}"))
}

impl fmt::Display for ListenAddr {
    /// gunicorn's spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            ListenAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            ListenAddr::Abstract(n) => write!(f, "unix:@{n}"),
            ListenAddr::Fd(n) => write!(f, "fd://{n}"),
        }
    }
}

/// A set of peer addresses: `*`, single IPs and CIDR networks (gunicorn's forwarded_allow_ips).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    /// `*` was listed: everyone is allowed.
    pub any: bool,
    /// Networks as (address, prefix length).
    pub nets: Vec<(IpAddr, u8)>,
}

impl AllowList {
    /// Parse one entry; `None` for `*`.
    pub fn parse_entry(s: &str) -> Result<Option<(IpAddr, u8)>, String> {
        if s == "*" {
            return Ok(None);
        }
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (s, None),
        };
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("expected an IP address, a CIDR network or *, got {s:?}"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("{l:?} is not a prefix length for {ip} (0-{max})")),
            },
        };
        Ok(Some((ip, len)))
    }

    /// Build from validated entries.
    pub fn from_entries(entries: &[String]) -> Result<AllowList, String> {
        let mut out = AllowList::default();
        for e in entries {
            match AllowList::parse_entry(e.trim())? {
                None => out.any = true,
                Some(net) => out.nets.push(net),
            }
        }
        Ok(out)
    }

    /// Whether a peer address is allowed (IPv4-mapped IPv6 peers match IPv4 entries).
    pub fn allows(&self, peer: IpAddr) -> bool {
        if self.any {
            return true;
        }
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
            v4 => v4,
        };
        self.nets.iter().any(|(net, len)| in_net(peer, *net, *len))
    }
}

fn in_net(peer: IpAddr, net: IpAddr, len: u8) -> bool {
    match (peer, net) {
        (IpAddr::V4(p), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(p) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(p), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(p) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> ListenAddr {
        ListenAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn gunicorn_forms() {
        let p = |s| ListenAddr::parse(s, Dialect::Gunicorn);
        assert_eq!(p("127.0.0.1:9000"), Ok(tcp("127.0.0.1", 9000)));
        assert_eq!(p(":80"), Ok(tcp("0.0.0.0", 80)));
        assert_eq!(p("[::1]:8001"), Ok(tcp("::1", 8001)));
        assert_eq!(p("localhost"), Ok(tcp("localhost", 8000)));
        assert_eq!(
            p("unix:/tmp/a.sock"),
            Ok(ListenAddr::Unix("/tmp/a.sock".into()))
        );
        assert_eq!(p("unix:@abs"), Ok(ListenAddr::Abstract("abs".into())));
        assert_eq!(p("fd://3"), Ok(ListenAddr::Fd(3)));
        // The seed's address parses; binding it fails later, as an environment problem.
        assert_eq!(p("0.1:8000"), Ok(tcp("0.1", 8000)));
        assert!(p("127.0.0.1:http").is_err());
        assert!(p("::1:80").is_err());
        assert!(p("[::1").is_err());
        assert!(p("").is_err());
    }

    #[test]
    fn uwsgi_forms() {
        let p = |s| ListenAddr::parse(s, Dialect::Uwsgi);
        assert_eq!(p("0.0.0.0:8000"), Ok(tcp("0.0.0.0", 8000)));
        assert_eq!(p("app.sock"), Ok(ListenAddr::Unix("app.sock".into())));
        assert_eq!(
            p("/run/app.sock"),
            Ok(ListenAddr::Unix("/run/app.sock".into()))
        );
        assert_eq!(p("@app"), Ok(ListenAddr::Abstract("app".into())));
        assert_eq!(
            p("@app").map(|a| a.to_string()),
            Ok("unix:@app".to_string())
        );
        assert_eq!(p("/x.sock").map(|a| a.uwsgi_spec()), Ok("/x.sock".into()));
    }

    #[test]
    fn allow_lists_match_networks() {
        let l = AllowList::from_entries(&["10.0.0.0/8".into(), "::1".into()]).expect("valid");
        assert!(l.allows("10.1.2.3".parse().expect("ip")));
        assert!(l.allows("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(l.allows("::1".parse().expect("ip")));
        assert!(!l.allows("11.0.0.1".parse().expect("ip")));
        assert!(AllowList::from_entries(&["*".into()])
            .expect("valid")
            .allows("1.2.3.4".parse().expect("ip")));
        assert!(AllowList::parse_entry("10.0.0.0/33").is_err());
        assert!(AllowList::parse_entry("example.com").is_err());
    }
}
