//! Listening sockets: parse bind addresses (gunicorn's forms) and bind them once, before any worker
//! exists, so workers inherit them.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// A bound, listening socket and how to describe it.
pub struct Listener {
    pub sock: Socket,
    /// `http://127.0.0.1:8000` — what the "Listening at" line shows.
    pub url: String,
    /// `SERVER_NAME` for connections accepted here.
    pub server_name: String,
    /// `SERVER_PORT` for connections accepted here.
    pub server_port: String,
}

/// Why an address could not be used.
#[derive(Debug)]
pub struct BindError {
    pub address: String,
    pub message: String,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {:?}: {}", self.address, self.message)
    }
}

/// Parse `HOST:PORT`, `[IPv6]:PORT`, `:PORT`, `HOST` (port 8000) into socket addresses.
pub fn parse_tcp(addr: &str) -> Result<Vec<SocketAddr>, String> {
    let addr = addr.trim();
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or("missing ']' after IPv6 address")?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p,
            None if tail.is_empty() => "8000",
            None => return Err("expected ':PORT' after ']'".into()),
        };
        (h.to_string(), port)
    } else {
        match addr.rsplit_once(':') {
            Some((h, p)) => (
                if h.is_empty() {
                    "0.0.0.0".to_string()
                } else {
                    h.to_string()
                },
                p,
            ),
            None => (addr.to_string(), "8000"),
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number (0-65535)"))?;
    if host.is_empty() {
        return Err("empty host".into());
    }
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host {host:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("host {host:?} has no address"));
    }
    Ok(addrs)
}

fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_tcp_nodelay(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Adopt an inherited listening socket: from a master that re-executed itself on USR2
/// (`FERROCORN_FDS`) or from systemd socket activation (`LISTEN_FDS`).
pub fn inherit(fd: std::os::fd::RawFd) -> Result<Listener, BindError> {
    use std::os::fd::FromRawFd;
    let err = |message: String| BindError {
        address: format!("fd://{fd}"),
        message,
    };
    if nix::fcntl::fcntl(
        // SAFETY: only used for this fcntl call, while `fd` is open (checked by the call itself).
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        nix::fcntl::FcntlArg::F_GETFD,
    )
    .is_err()
    {
        return Err(err("not an open file descriptor".into()));
    }
    // SAFETY: the fd is open (checked above) and was handed to this process to own; nothing else
    // here wraps it.
    let sock = unsafe { Socket::from_raw_fd(fd) };
    sock.set_cloexec(true).map_err(|e| err(e.to_string()))?;
    sock.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
    let local = sock.local_addr().map_err(|e| err(e.to_string()))?;
    match local.as_socket() {
        Some(a) => {
            let host = match a {
                SocketAddr::V4(v4) => v4.ip().to_string(),
                SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            };
            Ok(Listener {
                url: format!("http://{host}:{}", a.port()),
                server_name: a.ip().to_string(),
                server_port: a.port().to_string(),
                sock,
            })
        }
        None => Err(err("inherited socket is not a TCP socket".into())),
    }
}

/// Bind one `--bind` value (every address a host name resolves to).
pub fn bind(address: &str, backlog: i32) -> Result<Vec<Listener>, BindError> {
    let err = |message: String| BindError {
        address: address.to_string(),
        message,
    };
    let addrs = parse_tcp(address).map_err(err)?;
    let mut out = Vec::with_capacity(addrs.len());
    for a in addrs {
        let sock = bind_tcp(a, backlog).map_err(|e| err(e.to_string()))?;
        let local = sock
            .local_addr()
            .ok()
            .and_then(|s| s.as_socket())
            .unwrap_or(a);
        let host = match local {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        out.push(Listener {
            url: format!("http://{host}:{}", local.port()),
            server_name: local.ip().to_string(),
            server_port: local.port().to_string(),
            sock,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        assert_eq!(parse_tcp("127.0.0.1:9000").expect("ok")[0].port(), 9000);
        assert_eq!(
            parse_tcp(":9001").expect("ok")[0].to_string(),
            "0.0.0.0:9001"
        );
        assert_eq!(
            parse_tcp("[::1]:9002").expect("ok")[0].to_string(),
            "[::1]:9002"
        );
        assert_eq!(parse_tcp("127.0.0.1").expect("ok")[0].port(), 8000);
        assert!(parse_tcp("127.0.0.1:http").is_err());
        assert!(parse_tcp("[::1").is_err());
    }

    #[test]
    fn port_zero_reports_the_real_port() {
        let l = bind("127.0.0.1:0", 16).expect("bind");
        assert_ne!(l[0].server_port, "0");
        assert!(l[0].url.starts_with("http://127.0.0.1:"));
    }
}
