//! Listening sockets: parse bind addresses (gunicorn's forms) and bind them once, before any worker
//! exists, so workers inherit them.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::front::Front;
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
    /// The socket file of a Unix listener and its inode, so `--vacuum` removes only our own file.
    pub unix_file: Option<(PathBuf, u64)>,
    /// The protocol spoken on it (HTTP unless configured as a uwsgi or FastCGI socket).
    pub front: Front,
}

impl Listener {
    /// This listener speaking `front` instead of HTTP (the "Listening at" URL says so too).
    pub fn with_front(mut self, front: Front) -> Self {
        if front != Front::Http1 {
            self.url = match self.url.strip_prefix("http://") {
                Some(rest) => format!("{}://{rest}", front.name()),
                None => format!("{} ({})", self.url, front.name()),
            };
        }
        self.front = front;
        self
    }
}

/// How a Unix socket file is set up (uWSGI's chmod-socket / chown-socket).
#[derive(Debug, Clone, Default)]
pub struct UnixOptions {
    /// File mode, e.g. 0o666.
    pub mode: Option<u32>,
    /// Owner and group ids.
    pub owner: Option<(Option<u32>, Option<u32>)>,
}

/// Bind a Unix socket file. A stale file left by a dead server (nothing accepts on it) is replaced;
/// a live one is an error, so two servers never share a path by accident.
pub fn bind_unix(path: &Path, backlog: i32, opts: &UnixOptions) -> Result<Listener, BindError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let err = |message: String| BindError {
        address: format!("unix:{}", path.display()),
        message,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(err("the path exists and is not a socket".into()));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(err("another server is listening on it".into())),
            Err(_) => std::fs::remove_file(path)
                .map_err(|e| err(format!("cannot remove the stale socket: {e}")))?,
        }
    }
    let sock =
        Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None).map_err(|e| err(e.to_string()))?;
    let addr = socket2::SockAddr::unix(path).map_err(|e| err(e.to_string()))?;
    sock.bind(&addr).map_err(|e| err(e.to_string()))?;
    sock.listen(backlog).map_err(|e| err(e.to_string()))?;
    sock.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
    if let Some(mode) = opts.mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| err(format!("chmod: {e}")))?;
    }
    if let Some((uid, gid)) = opts.owner {
        std::os::unix::fs::chown(path, uid, gid).map_err(|e| err(format!("chown: {e}")))?;
    }
    let ino = std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0);
    Ok(Listener {
        url: format!("unix:{}", path.display()),
        server_name: path.display().to_string(),
        server_port: String::new(),
        sock,
        unix_file: Some((path.to_path_buf(), ino)),
        front: Front::Http1,
    })
}

/// Bind an abstract Unix socket (`@NAME`, Linux): no file, so no stale-file handling or vacuum;
/// the kernel refuses a name that is already taken.
pub fn bind_abstract(name: &str, backlog: i32) -> Result<Listener, BindError> {
    use std::os::unix::ffi::OsStrExt;
    let err = |message: String| BindError {
        address: format!("@{name}"),
        message,
    };
    let mut raw = vec![0u8];
    raw.extend_from_slice(name.as_bytes());
    let sock =
        Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None).map_err(|e| err(e.to_string()))?;
    let addr = socket2::SockAddr::unix(std::ffi::OsStr::from_bytes(&raw))
        .map_err(|e| err(e.to_string()))?;
    sock.bind(&addr).map_err(|e| err(e.to_string()))?;
    sock.listen(backlog).map_err(|e| err(e.to_string()))?;
    sock.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
    Ok(Listener {
        url: format!("unix:@{name}"),
        server_name: format!("@{name}"),
        server_port: String::new(),
        sock,
        unix_file: None,
        front: Front::Http1,
    })
}

/// Remove a Unix socket file we created, if it is still ours (same inode).
pub fn vacuum(l: &Listener) {
    use std::os::unix::fs::MetadataExt;
    if let Some((path, ino)) = &l.unix_file {
        if std::fs::metadata(path).is_ok_and(|m| m.ino() == *ino) {
            let _ = std::fs::remove_file(path);
        }
    }
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
                unix_file: None,
                front: Front::Http1,
            })
        }
        None => match local.as_pathname() {
            Some(path) => {
                use std::os::unix::fs::MetadataExt;
                let ino = std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0);
                Ok(Listener {
                    url: format!("unix:{}", path.display()),
                    server_name: path.display().to_string(),
                    server_port: String::new(),
                    unix_file: Some((path.to_path_buf(), ino)),
                    sock,
                    front: Front::Http1,
                })
            }
            None => match local.as_abstract_namespace() {
                Some(name) => {
                    let name = String::from_utf8_lossy(name).into_owned();
                    Ok(Listener {
                        url: format!("unix:@{name}"),
                        server_name: format!("@{name}"),
                        server_port: String::new(),
                        unix_file: None,
                        sock,
                        front: Front::Http1,
                    })
                }
                None => Err(err(
                    "inherited socket is neither TCP nor a Unix socket".into()
                )),
            },
        },
    }
}

/// Whether fd 0 is a listening socket: how a web server that starts its FastCGI application
/// itself (Apache mod_fcgid, the spec's `FCGI_LISTENSOCK_FILENO`) hands over the listener. The
/// test is flup's — `getpeername` fails with `ENOTCONN` — plus `SO_ACCEPTCONN`, so an unconnected
/// socket that does not listen is not taken for one.
pub fn stdin_is_listener() -> bool {
    // SAFETY: fd 0 is only borrowed for these two calls; if it is closed they fail with EBADF.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
    let not_connected = matches!(
        nix::sys::socket::getpeername::<nix::sys::socket::SockaddrStorage>(
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ),
        Err(nix::errno::Errno::ENOTCONN)
    );
    not_connected
        && nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::AcceptConn).unwrap_or(false)
}

/// Move a listening socket off fd 0 (onto a new close-on-exec descriptor, returned) and put
/// `/dev/null` on fd 0, so nothing that reads stdin or closes it (daemonizing, the app) touches
/// the listener.
pub fn move_off_stdin() -> Result<std::os::fd::RawFd, BindError> {
    let err = |message: String| BindError {
        address: "fd://0".into(),
        message,
    };
    let fd = nix::fcntl::fcntl(
        // SAFETY: fd 0 is borrowed for this call only; if it is closed the call fails.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(0) },
        nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3),
    )
    .map_err(|e| err(format!("not an open file descriptor ({e})")))?;
    let null = std::fs::File::open("/dev/null").map_err(|e| err(format!("/dev/null: {e}")))?;
    // SAFETY: dup2 onto fd 0, whose listener now lives on as `fd`; `null` is open for the call.
    if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) } < 0 {
        return Err(err(format!(
            "cannot reopen stdin: {}",
            io::Error::last_os_error()
        )));
    }
    Ok(fd)
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
            unix_file: None,
            front: Front::Http1,
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
