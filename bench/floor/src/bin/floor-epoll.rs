//! `floor-epoll HOST:PORT`: a minimal single-threaded mio (epoll) event loop answering every
//! request with "Hello, World!".
//!
//! It exists as a reference row in bench/run.py's *hello* table: the floor of one `read` and one
//! `write` per request through this machine's kernel TCP path, with no Python and no framework.
//! Requests are parsed with httparse; pipelined requests in one read are answered in order with
//! a single `write`; a parse error, EOF or `Connection: close` closes the connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);
const BODY: &[u8] = b"Hello, World!";

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The response head up to the Date value, then the Date value (refreshed once a second).
struct Response {
    bytes: Vec<u8>,
    date_at: usize,
    second: u64,
}

impl Response {
    fn new() -> Self {
        let mut bytes =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: ".to_vec();
        let date_at = bytes.len();
        bytes.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
        bytes.extend_from_slice(b"\r\n\r\n");
        bytes.extend_from_slice(BODY);
        Response {
            bytes,
            date_at,
            second: 0,
        }
    }

    fn refresh(&mut self) {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            let date = httpdate::fmt_http_date(now); // always 29 bytes
            self.bytes[self.date_at..self.date_at + date.len()].copy_from_slice(date.as_bytes());
        }
    }
}

/// Answer every complete request at the start of `buf` into `out`; drop them from `buf`.
/// Ok(false) after a request with `Connection: close`; Err on a malformed request.
fn answer(buf: &mut Vec<u8>, response: &[u8], out: &mut Vec<u8>) -> Result<bool, httparse::Error> {
    let mut start = 0;
    let mut keep = true;
    while keep {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[start..])? {
            httparse::Status::Complete(len) => {
                out.extend_from_slice(response);
                start += len;
                keep = !req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("connection")
                        && h.value.eq_ignore_ascii_case(b"close")
                });
            }
            httparse::Status::Partial => break,
        }
    }
    buf.drain(..start);
    Ok(keep)
}

/// Read what is there, answer it with one write. Ok(false): the connection is to be closed.
fn serve(conn: &mut Conn, response: &[u8], out: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 16384];
    out.clear();
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                conn.buf.extend_from_slice(&chunk[..n]);
                match answer(&mut conn.buf, response, out) {
                    Ok(true) if conn.buf.len() <= 65536 => {}
                    Ok(false) => return conn.stream.write_all(out).map(|()| false),
                    _ => return Ok(false),
                }
                if n < chunk.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    // A response this small fits the socket buffer; a short write means the client is gone.
    if !out.is_empty() && conn.stream.write(out)? != out.len() {
        return Ok(false);
    }
    Ok(true)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .expect("usage: floor-epoll HOST:PORT")
        .parse()
        .expect("HOST:PORT");
    let mut listener = TcpListener::bind(addr).expect("bind HOST:PORT");
    let mut poll = Poll::new().expect("epoll");
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register listener");
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut response = Response::new();
    let mut out = Vec::with_capacity(65536);
    loop {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_secs(1))) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            panic!("epoll_wait: {e}");
        }
        response.refresh();
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    // The fd is unique among open connections, so it serves as the token.
                    let id = stream.as_raw_fd() as usize;
                    if poll
                        .registry()
                        .register(&mut stream, Token(id), Interest::READABLE)
                        .is_ok()
                    {
                        conns.insert(
                            id,
                            Conn {
                                stream,
                                buf: Vec::new(),
                            },
                        );
                    }
                }
                continue;
            }
            let id = event.token().0;
            let keep = match conns.get_mut(&id) {
                Some(conn) => matches!(serve(conn, &response.bytes, &mut out), Ok(true)),
                None => continue,
            };
            if !keep {
                if let Some(mut conn) = conns.remove(&id) {
                    let _ = poll.registry().deregister(&mut conn.stream);
                }
            }
        }
    }
}
