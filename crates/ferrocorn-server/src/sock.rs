//! Socket I/O used while a thread owns a connection: non-blocking attempts first, and when the
//! kernel says "would block", a `poll()` with the application lock released and a deadline.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::app::Unlocker;

/// Which readiness to wait for.
#[derive(Clone, Copy, Debug)]
pub enum Ready {
    Read,
    Write,
}

/// Wait until `fd` is ready or `timeout` passes (`TimedOut`), with the app lock released.
pub fn wait<F: AsFd + Sync>(
    fd: &F,
    ready: Ready,
    timeout: Duration,
    u: &dyn Unlocker,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let flags = match ready {
        Ready::Read => PollFlags::POLLIN,
        Ready::Write => PollFlags::POLLOUT,
    };
    let mut result: io::Result<()> = Ok(());
    u.unlocked(&mut || {
        result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client I/O timed out",
                ));
            }
            let ms = PollTimeout::try_from(left.as_millis().clamp(1, i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(fd.as_fd(), flags)];
            match nix::poll::poll(&mut fds, ms) {
                Ok(0) => continue,
                Ok(_) => break Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => break Err(e.into()),
            }
        };
    });
    result
}

/// One non-blocking `read`; `WouldBlock` when nothing is there, `Ok(0)` at end of stream.
pub fn read_some<F: AsFd>(fd: &F, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd.as_fd(), buf) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Read at least one byte (or end of stream), waiting up to `timeout` with the lock released.
pub fn read_wait<F: AsFd + Sync>(
    fd: &F,
    buf: &mut [u8],
    timeout: Duration,
    u: &dyn Unlocker,
) -> io::Result<usize> {
    loop {
        match read_some(fd, buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(fd, Ready::Read, timeout, u)?,
            other => return other,
        }
    }
}

/// The most buffers one `writev` takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// Write all of `bufs` (gathered), waiting for the socket to drain when needed.
pub fn write_all_vectored<F: AsFd + Sync>(
    fd: &F,
    bufs: &[&[u8]],
    timeout: Duration,
    u: &dyn Unlocker,
) -> io::Result<()> {
    let mut idx = 0usize;
    let mut off = 0usize;
    while idx < bufs.len() {
        let first = bufs[idx].get(off..).unwrap_or(&[]);
        if first.is_empty() {
            idx += 1;
            off = 0;
            continue;
        }
        let res = if idx + 1 == bufs.len() {
            nix::unistd::write(fd.as_fd(), first)
        } else {
            // writev takes at most IOV_MAX (1024 on Linux) buffers; the rest go in the next call.
            let n = (bufs.len() - idx).min(IOV_MAX);
            let mut iov = Vec::with_capacity(n);
            iov.push(io::IoSlice::new(first));
            iov.extend(bufs[idx + 1..idx + n].iter().map(|b| io::IoSlice::new(b)));
            nix::sys::uio::writev(fd.as_fd(), &iov)
        };
        match res {
            Ok(mut n) => {
                while n > 0 && idx < bufs.len() {
                    let avail = bufs[idx].len() - off;
                    if n >= avail {
                        n -= avail;
                        idx += 1;
                        off = 0;
                    } else {
                        off += n;
                        n = 0;
                    }
                }
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => wait(fd, Ready::Write, timeout, u)?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Write all of `data`.
pub fn write_all<F: AsFd + Sync>(
    fd: &F,
    data: &[u8],
    timeout: Duration,
    u: &dyn Unlocker,
) -> io::Result<()> {
    write_all_vectored(fd, &[data], timeout, u)
}

/// Send `len` bytes of `file` starting at `offset` with `sendfile(2)`: the kernel copies, Python never
/// sees the data. Returns the bytes sent (fewer than `len` if the file was shorter).
pub fn sendfile_all<S: AsFd + Sync, F: AsFd>(
    sock: &S,
    file: &F,
    mut offset: i64,
    len: u64,
    timeout: Duration,
    u: &dyn Unlocker,
) -> io::Result<u64> {
    let mut sent = 0u64;
    while sent < len {
        let want = (len - sent).min(1 << 30) as usize;
        let mut off: libc::off_t = offset;
        match nix::sys::sendfile::sendfile(sock.as_fd(), file.as_fd(), Some(&mut off), want) {
            Ok(0) => break,
            Ok(n) => {
                sent += n as u64;
                offset = off;
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => wait(sock, Ready::Write, timeout, u)?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(sent)
}
