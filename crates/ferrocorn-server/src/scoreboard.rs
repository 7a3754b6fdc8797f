//! The scoreboard: a small shared-memory table the master maps before forking, through which
//! workers report liveness and what each request thread is doing — without any syscall on the
//! request path (two relaxed atomic stores per request).
//!
//! The master reads it once a tick to enforce `--timeout` (whole worker silent), `--harakiri`
//! (one request too long, even when other threads are healthy) and to count idle workers for
//! dynamic scaling.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

/// Most workers the table can hold (TTIN beyond this is refused).
pub const MAX_WORKERS: usize = 1024;
/// Bytes of the request description kept per thread (for the harakiri log line).
const DESC_WORDS: usize = 16;

/// Milliseconds on the system's monotonic clock: the same in master and workers.
pub fn now_ms() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC_COARSE) {
        Ok(ts) => (ts.tv_sec() as u64) * 1000 + (ts.tv_nsec() as u64) / 1_000_000,
        Err(_) => 0,
    }
}

/// One request thread.
#[repr(C)]
pub struct ThreadSlot {
    /// When the current request started (ms), 0 when idle.
    busy_since: AtomicU64,
    /// `METHOD TARGET` of the current request, truncated (words of 8 bytes, zero padded).
    desc: [AtomicU64; DESC_WORDS],
}

/// One worker.
#[repr(C)]
pub struct WorkerSlot {
    pub pid: AtomicI32,
    /// Set once the worker has loaded the app and entered its loop.
    pub booted: AtomicBool,
    /// Last sign of life from the worker's loop (ms).
    pub last_beat: AtomicU64,
    /// Requests served.
    pub requests: AtomicU64,
    /// The worker decided to leave (max-requests, reload-on-rss): the master starts its
    /// replacement now instead of when it exits.
    pub retiring: AtomicBool,
}

/// The whole table: `MAX_WORKERS` worker slots, then `MAX_WORKERS * threads` thread slots.
pub struct Scoreboard {
    workers: &'static [WorkerSlot],
    threads: &'static [ThreadSlot],
    per_worker: usize,
}

impl Scoreboard {
    /// Map a shared anonymous region (inherited by every forked worker).
    pub fn new(threads_per_worker: usize) -> std::io::Result<Scoreboard> {
        let per_worker = threads_per_worker.max(1);
        let wbytes = MAX_WORKERS * std::mem::size_of::<WorkerSlot>();
        let tbytes = MAX_WORKERS * per_worker * std::mem::size_of::<ThreadSlot>();
        let len =
            std::num::NonZeroUsize::new(wbytes + tbytes).ok_or(std::io::ErrorKind::InvalidInput)?;
        // SAFETY: a fresh anonymous shared mapping; no existing memory is aliased.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                len,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
            )
        }
        .map_err(std::io::Error::from)?;
        let base = ptr.as_ptr().cast::<u8>();
        // SAFETY: the mapping is page-aligned, zero-filled (a valid state for atomics), large enough
        // for both arrays, and never unmapped, so 'static slices over it are sound. WorkerSlot is a
        // multiple of 8 bytes, so the thread array that follows stays 8-aligned.
        let (workers, threads) = unsafe {
            (
                std::slice::from_raw_parts(base.cast::<WorkerSlot>(), MAX_WORKERS),
                std::slice::from_raw_parts(
                    base.add(wbytes).cast::<ThreadSlot>(),
                    MAX_WORKERS * per_worker,
                ),
            )
        };
        Ok(Scoreboard {
            workers,
            threads,
            per_worker,
        })
    }

    pub fn worker(&self, idx: usize) -> Option<&'static WorkerSlot> {
        self.workers.get(idx)
    }

    /// The thread slots of worker `idx`.
    pub fn threads_of(&self, idx: usize) -> &'static [ThreadSlot] {
        self.threads
            .get(idx * self.per_worker..(idx + 1) * self.per_worker)
            .unwrap_or(&[])
    }

    /// Reset a slot for a new worker (master, before fork).
    pub fn claim(&self, idx: usize, now: u64) {
        if let Some(w) = self.worker(idx) {
            w.pid.store(0, Ordering::Relaxed);
            w.booted.store(false, Ordering::Relaxed);
            w.retiring.store(false, Ordering::Relaxed);
            w.last_beat.store(now, Ordering::Relaxed);
            w.requests.store(0, Ordering::Relaxed);
        }
        for t in self.threads_of(idx) {
            t.busy_since.store(0, Ordering::Relaxed);
        }
    }

    /// The worker-side handle for slot `idx`.
    pub fn handle(&self, idx: usize) -> Option<WorkerHandle> {
        Some(WorkerHandle {
            slot: self.worker(idx)?,
            threads: self.threads_of(idx),
        })
    }
}

impl ThreadSlot {
    /// Milliseconds the current request has been running (None when idle).
    pub fn busy_for(&self, now: u64) -> Option<u64> {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => None,
            t => Some(now.saturating_sub(t)),
        }
    }

    /// The description of the current request (best effort: it may be mid-update).
    pub fn describe(&self) -> String {
        let mut bytes = Vec::with_capacity(DESC_WORDS * 8);
        for w in &self.desc {
            bytes.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    }
}

/// What a worker writes into its slot.
#[derive(Clone, Copy)]
pub struct WorkerHandle {
    pub slot: &'static WorkerSlot,
    threads: &'static [ThreadSlot],
}

impl WorkerHandle {
    pub fn beat(&self) {
        self.slot.last_beat.store(now_ms(), Ordering::Relaxed);
    }

    pub fn thread(&self, i: usize) -> Option<&'static ThreadSlot> {
        self.threads.get(i)
    }
}

impl ThreadSlot {
    /// Mark a request as started; `desc` is e.g. `GET /path`.
    pub fn start(&self, desc: &[u8]) {
        let mut words = [0u64; DESC_WORDS];
        for (i, chunk) in desc.chunks(8).take(DESC_WORDS).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            words[i] = u64::from_le_bytes(b);
        }
        for (slot, w) in self.desc.iter().zip(words) {
            slot.store(w, Ordering::Relaxed);
        }
        self.busy_since.store(now_ms().max(1), Ordering::Relaxed);
    }

    pub fn end(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_shared_and_describe_requests() {
        let sb = Scoreboard::new(2).expect("mmap");
        sb.claim(3, 1000);
        let h = sb.handle(3).expect("slot");
        let t = h.thread(1).expect("thread");
        assert_eq!(t.busy_for(5000), None);
        t.start(b"GET /a-rather-long-path-that-goes-on-and-on-beyond-the-limit-of-one-hundred-and-twenty-eight-bytes/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert!(t.busy_for(now_ms() + 10).is_some());
        assert!(t.describe().starts_with("GET /a-rather-long-path"));
        assert_eq!(t.describe().len(), 128);
        t.end();
        assert_eq!(t.busy_for(now_ms()), None);
        assert_eq!(sb.threads_of(3).len(), 2);
    }
}
