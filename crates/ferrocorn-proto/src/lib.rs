//! Wire formats spoken by ferrocorn, sans-I/O: bytes in, parsed structures out (HTTP/1 in
//! [`http1`], the PROXY protocol and `X-Forwarded-For` in [`proxy`], the uwsgi
//! protocol in [`uwsgi`], FastCGI in [`fastcgi`]).
//!
//! Nothing here touches a socket, a thread or Python, and nothing here panics on input.
//! The lints below make the second promise checkable: no `unsafe`, and outside tests no
//! slice indexing, `unwrap` or `expect` that hostile bytes could turn into a panic.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo
    )
)]

pub mod fastcgi;
pub mod http1;
pub mod proxy;
pub mod uwsgi;
