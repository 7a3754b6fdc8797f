//! ferrocorn's server: listening sockets, the worker event loop and the protocol front ends.
//!
//! It knows the [`app::App`] trait, not Python: the `ferrocorn-py` crate plugs the WSGI host in.
//! See ARCHITECTURE.md for the life of a request.

pub mod access_log;
pub mod app;
pub mod body;
pub mod cgi;
pub mod clock;
pub mod conn_info;
pub mod fastcgi;
pub mod front;
pub mod hold;
pub mod http1;
pub mod listener;
pub mod log;
pub mod log_writer;
pub mod master;
pub mod poll_turn;
pub mod proxy;
pub mod reloader;
pub mod response;
pub mod scoreboard;
pub mod signals;
pub mod sock;
pub mod static_files;
pub mod uwsgi;
pub mod worker;

pub use app::{App, Exchange, Handler, Outcome, Request, Unlocker};
