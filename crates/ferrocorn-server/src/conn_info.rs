//! Facts about a connection that the environ needs (addresses, scheme), computed once per connection.

/// Addresses of one accepted connection, already formatted for `REMOTE_ADDR`, `SERVER_NAME`, ...
#[derive(Debug, Default)]
pub struct ConnInfo {
    /// `REMOTE_ADDR`: the peer's IP (empty for Unix sockets).
    pub remote_addr: String,
    /// `REMOTE_PORT` (empty for Unix sockets).
    pub remote_port: String,
    /// `SERVER_NAME`: the host the listener was bound to (may be overridden by `Host` by the app).
    pub server_name: String,
    /// `SERVER_PORT`.
    pub server_port: String,
    /// `wsgi.url_scheme`.
    pub scheme: &'static str,
    /// Index of the listener that accepted the connection.
    pub listener: usize,
    /// Values the app host derives once per connection (for Python: the address strings).
    pub host_cache: std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>,
}
