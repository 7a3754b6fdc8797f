//! Facts about a connection that the environ needs (addresses, scheme, trust), computed once per
//! connection; plus the few per-request facts a trusted front end's headers may change.

use std::net::SocketAddr;

use crate::proxy::ProxySettings;

/// Addresses of one accepted connection, already formatted for `REMOTE_ADDR`, `SERVER_NAME`, ...
#[derive(Debug, Default)]
pub struct ConnInfo {
    /// `REMOTE_ADDR`: the peer's IP, or the client a PROXY header named (empty for Unix sockets).
    pub remote_addr: String,
    /// `REMOTE_PORT` (empty for Unix sockets).
    pub remote_port: String,
    /// `SERVER_NAME`: the host the listener was bound to (may be overridden by `Host` by the app).
    pub server_name: String,
    /// `SERVER_PORT`.
    pub server_port: String,
    /// `wsgi.url_scheme` of the connection itself.
    pub scheme: &'static str,
    /// Index of the listener that accepted the connection.
    pub listener: usize,
    /// Values the app host derives once per connection (for Python: the address strings).
    pub host_cache: std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>,
    /// The socket peer is a trusted front end (`forwarded_allow_ips`; Unix-socket peers always
    /// are): its scheme headers, X-Forwarded-For and underscore forwarder headers count. Decided
    /// at accept so untrusted connections never look at those headers.
    pub trusted: bool,
    /// Walk X-Forwarded-For: the peer is trusted, and so is the client a PROXY header named (the
    /// chain is only as good as its right-most untrusted hop).
    pub follow_forwarded_for: bool,
    /// The socket peer may open the connection with a PROXY header (`proxy_allow_ips`).
    pub proxy_allowed: bool,
    /// What the connection's PROXY header said, if one came.
    pub proxy: Option<ProxyInfo>,
    /// This request's client (`REMOTE_ADDR`, `REMOTE_PORT`) as a trusted front end's
    /// X-Forwarded-For names it; `None`: the connection's own.
    pub forwarded: Option<(String, String)>,
    /// This request's `wsgi.url_scheme` (a trusted front end's scheme headers may change it).
    pub url_scheme: &'static str,
}

/// A PROXY protocol header's facts, for the environ (`PROXY_PROTOCOL`, `PROXY_ADDR`, `PROXY_PORT`).
#[derive(Debug, Clone, Default)]
pub struct ProxyInfo {
    /// `TCP4`, `TCP6`, `UNKNOWN`, `LOCAL`, `UNSPEC` or `UNIX`.
    pub protocol: &'static str,
    /// The address the client connected to at the proxy (empty when the header had none).
    pub proxy_addr: String,
    pub proxy_port: String,
}

impl ConnInfo {
    /// A connection accepted from `peer` (`None`: a Unix socket). Trust is decided here, once.
    pub fn accepted(
        peer: Option<SocketAddr>,
        server_name: String,
        server_port: String,
        listener: usize,
        s: &ProxySettings,
    ) -> Self {
        let (remote_addr, remote_port, trusted, proxy_allowed) = match peer {
            Some(sa) => {
                let ip = sa.ip().to_canonical();
                (
                    ip.to_string(),
                    sa.port().to_string(),
                    s.forwarded_allow.allows(ip),
                    s.protocol.is_some() && s.proxy_allow.allows(ip),
                )
            }
            // A Unix-socket peer is on this machine and was let in by the socket's permissions.
            None => (String::new(), String::new(), true, true),
        };
        ConnInfo {
            remote_addr,
            remote_port,
            server_name,
            server_port,
            scheme: "http",
            listener,
            host_cache: Default::default(),
            trusted,
            follow_forwarded_for: trusted,
            proxy_allowed,
            proxy: None,
            forwarded: None,
            url_scheme: "http",
        }
    }

    /// `REMOTE_ADDR` for the current request.
    pub fn client_addr(&self) -> &str {
        self.forwarded.as_ref().map_or(&self.remote_addr, |f| &f.0)
    }

    /// `REMOTE_PORT` for the current request.
    pub fn client_port(&self) -> &str {
        self.forwarded.as_ref().map_or(&self.remote_port, |f| &f.1)
    }
}

/// For `Arc::make_mut`: a copy without the host's cache (it is derived from the fields, and the
/// host rebuilds it on first use).
impl Clone for ConnInfo {
    fn clone(&self) -> Self {
        ConnInfo {
            remote_addr: self.remote_addr.clone(),
            remote_port: self.remote_port.clone(),
            server_name: self.server_name.clone(),
            server_port: self.server_port.clone(),
            scheme: self.scheme,
            listener: self.listener,
            host_cache: Default::default(),
            trusted: self.trusted,
            follow_forwarded_for: self.follow_forwarded_for,
            proxy_allowed: self.proxy_allowed,
            proxy: self.proxy.clone(),
            forwarded: self.forwarded.clone(),
            url_scheme: self.url_scheme,
        }
    }
}
