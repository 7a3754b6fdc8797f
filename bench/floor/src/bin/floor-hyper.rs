//! `floor-hyper HOST:PORT`: hyper 1.x (HTTP/1 only) on a single-threaded tokio runtime, answering
//! every request with "Hello, World!".
//!
//! It exists as a reference row in bench/run.py's *hello* table: what a well-known Rust HTTP
//! server costs on this machine with no Python at all (the "hyper server with no Python at all"
//! figure quoted in the issue, measured here). hyper adds the Date header itself.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .expect("usage: floor-hyper HOST:PORT");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(&addr).await.expect("bind HOST:PORT");
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::task::spawn_local(async move {
                        // A client error just ends this connection.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service_fn(hello))
                            .await;
                    });
                }
            })
            .await;
    });
}
