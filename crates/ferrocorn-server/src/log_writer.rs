//! Asynchronous log writing, shared by the error log and the access log.
//!
//! A request thread formats its line and hands it to [`LogWriter::send`], which queues it for this
//! process's writer thread (one per log); the writer does the `write(2)` calls. So a slow disk, or
//! a pipe nobody reads, never holds a request thread for more than [`SEND_WAIT`].
//!
//! - **Whole lines.** An item (a line, or a multi-line message such as a traceback) is never split
//!   between writes. The writer joins queued items into writes of at most `PIPE_BUF` bytes (4 KiB):
//!   such a write is atomic on a pipe, and with `O_APPEND` on a regular file, so lines from several
//!   threads and worker processes sharing one file or pipe never tear or interleave. A longer item is
//!   written alone in one `write`, as before (whole on a regular file; a pipe guarantees atomicity
//!   only up to `PIPE_BUF`).
//! - **Full queue.** The queue holds [`CAPACITY`] bytes. When it is full the sender waits at most
//!   [`SEND_WAIT`] for room, then drops its line and counts it. After one sender has given up, the
//!   next ones drop at once until the writer gets a write through again, so a stalled disk costs one
//!   request a short wait, not every request. Once the writer gets through it reports
//!   `ferrocorn: N log lines dropped (log file too slow): LOG` through the owner's `report`
//!   function (the error log). Waiting longer, or without bound, would let a stalled disk stop the
//!   server; writing synchronously would block the request thread for the whole stall.
//! - **Fork.** Threads do not survive `fork(2)`, and the parent's writer may hold the queue's lock at
//!   that moment. So a queue belongs to one process: a `pthread_atfork` child handler bumps a
//!   generation counter, and the first send in the child installs a fresh queue and starts its
//!   writer. The child never touches the parent's queue or its lock, and never writes the parent's
//!   queued lines a second time; the parent's writer still writes them.
//! - **Reopen** (USR1, logrotate): the caller opens the new file (so it gets the error) and queues it;
//!   the writer `dup2`s it over the old descriptor in queue order: lines queued before the reopen go
//!   to the old file, later ones to the new one. The descriptor number never changes, so whatever
//!   holds it (faulthandler's stack dumps) follows, as before.
//! - **Exit.** [`flush_all`] waits, with a bound, until what this process queued so far is written.
//!   Call it before `exit` and before `fork`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, Weak};
use std::time::{Duration, Instant};

/// Bytes a queue holds before senders wait (each item also counts [`ITEM_COST`]).
pub const CAPACITY: usize = 256 * 1024;
/// How long a sender waits for room before it drops its line: long enough for a writer that was
/// merely not scheduled (a busy machine), short enough that a stalled disk is not a stalled request.
pub const SEND_WAIT: Duration = Duration::from_millis(50);
/// Bookkeeping cost of one queued item, so many tiny items cannot grow the queue without bound.
const ITEM_COST: usize = 64;
/// Largest batch of items joined into one write: atomic on pipes (POSIX `PIPE_BUF`).
const BATCH: usize = libc::PIPE_BUF;

/// Where a log goes.
pub enum Target {
    Stdout,
    Stderr,
    /// A file opened for appending (created if missing).
    File(String),
}

enum Sink {
    Stdout,
    Stderr,
    File { path: String, file: File },
}

impl Sink {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            // Not `stdout().lock()`: the writer must not hold std's stdio locks across a fork.
            Sink::Stdout => write_all_fd(&io::stdout(), buf),
            Sink::Stderr => write_all_fd(&io::stderr(), buf),
            Sink::File { file, .. } => write_all_fd(file, buf),
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            Sink::Stdout => 1,
            Sink::Stderr => 2,
            Sink::File { file, .. } => file.as_raw_fd(),
        }
    }

    /// Point our descriptor number at `new` (reopen after logrotate).
    fn replace(&self, new: &File) -> io::Result<()> {
        if let Sink::File { file, .. } = self {
            // SAFETY: both descriptors are open files this process owns; dup2 atomically re-points
            // the old number at the new file (no memory is involved). `new`'s own number is closed
            // when it is dropped; the old number stays ours.
            if unsafe { libc::dup2(new.as_raw_fd(), file.as_raw_fd()) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// `write(2)` until `buf` is out (retrying after signals and short writes).
fn write_all_fd(fd: &impl AsFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Write straight to stderr, on the calling thread (for messages before any log is set up).
pub fn write_stderr(buf: &[u8]) -> io::Result<()> {
    write_all_fd(&io::stderr(), buf)
}

fn open_append(path: &str) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

// -- fork generations ------------------------------------------------------------------------------

/// Bumped in every child right after `fork`: a queue made in another generation is not ours.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();
/// `pthread_atfork` failed: no way to tell a child from its parent, so write synchronously.
static SYNC_ONLY: AtomicBool = AtomicBool::new(false);

extern "C" fn after_fork_child() {
    // Async-signal-safe: one atomic add, no lock, no allocation.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn register_atfork() {
    ATFORK.call_once(|| {
        // SAFETY: registers a child handler that only does an atomic add (safe in a forked child of
        // a multi-threaded process); the function lives in this library, which is never unloaded.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
        if rc != 0 {
            SYNC_ONLY.store(true, Ordering::Relaxed);
        }
    });
}

thread_local! {
    /// Set on writer threads: they never wait for room in a queue (theirs or another's).
    static IN_WRITER: Cell<bool> = const { Cell::new(false) };
}

// -- the queue -------------------------------------------------------------------------------------

enum Item {
    Bytes(Vec<u8>),
    Reopen(File),
}

#[derive(Default)]
struct State {
    items: VecDeque<Item>,
    /// Bytes (plus per-item cost) in `items`.
    cost: usize,
    /// Items queued and items finished (written, or failed to write), for `flush`.
    sent: u64,
    done: u64,
    /// Lines dropped since the last report.
    dropped: u64,
    /// A sender gave up waiting; later ones drop at once until the writer finishes a write.
    stalled: bool,
    /// The writer is waiting for work (senders wake it only then).
    writer_idle: bool,
    /// The `LogWriter` was dropped: the writer writes what is left and ends.
    closed: bool,
    /// No writer thread: senders write themselves.
    direct: bool,
}

/// One process's queue. Never freed: it lives as long as its process (one per log per process).
struct Queue {
    generation: u64,
    state: Mutex<State>,
    /// To the writer: there is work.
    work: Condvar,
    /// To senders and flushers: room was made, items were finished.
    progress: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait on `cv` once, at most until `deadline`; `Err` once the deadline has passed.
    fn wait_until<'a>(
        cv: &Condvar,
        st: MutexGuard<'a, State>,
        deadline: Instant,
    ) -> Result<MutexGuard<'a, State>, MutexGuard<'a, State>> {
        let now = Instant::now();
        if now >= deadline {
            return Err(st);
        }
        Ok(cv
            .wait_timeout(st, deadline - now)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0))
    }
}

struct Inner {
    sink: Sink,
    /// Names the log in reports (`error log /var/log/x.log`).
    label: String,
    /// Where drop counts and reopen failures are reported (the error log).
    report: Box<dyn Fn(&str) + Send + Sync>,
    capacity: usize,
    wait: Duration,
    /// This process's queue (see `queue`).
    queue: AtomicPtr<Queue>,
}

/// Every writer, so `flush_all` can reach the access logs too.
static WRITERS: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());

impl Inner {
    /// `p` if it is a queue made in this process.
    fn ours(p: *mut Queue) -> Option<&'static Queue> {
        // SAFETY: non-null pointers in `Inner::queue` come from `Box::into_raw` in `queue()` and
        // are never freed (a queue lives as long as its process), so they are valid for 'static.
        let q: &'static Queue = unsafe { p.as_ref() }?;
        (q.generation == GENERATION.load(Ordering::Relaxed)).then_some(q)
    }

    /// This process's queue, if one was made here.
    fn current(&self) -> Option<&'static Queue> {
        Inner::ours(self.queue.load(Ordering::Acquire))
    }

    /// This process's queue: made, with its writer thread, on first use in each process.
    fn queue(self: &Arc<Self>) -> &'static Queue {
        loop {
            let old = self.queue.load(Ordering::Acquire);
            if let Some(q) = Inner::ours(old) {
                return q;
            }
            // `old` is null or the parent's queue: leave it alone (its lock may be held forever).
            let fresh = Box::into_raw(Box::new(Queue {
                generation: GENERATION.load(Ordering::Relaxed),
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                progress: Condvar::new(),
            }));
            match self
                .queue
                .compare_exchange(old, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // SAFETY: `fresh` came from `Box::into_raw` just above and, now published, is
                    // never freed.
                    let q: &'static Queue = unsafe { &*fresh };
                    self.start_writer(q);
                    return q;
                }
                // SAFETY: another thread installed a queue first; `fresh` was never published, so
                // this is its only owner.
                Err(_) => drop(unsafe { Box::from_raw(fresh) }),
            }
        }
    }

    fn start_writer(self: &Arc<Self>, q: &'static Queue) {
        let spawned = !SYNC_ONLY.load(Ordering::Relaxed) && {
            use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
            // The writer runs with every signal blocked: handlers run on the other threads, and
            // its writes are not interrupted.
            let mut old = SigSet::empty();
            let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut old));
            let inner = Arc::clone(self);
            let res = std::thread::Builder::new()
                .name("ferrocorn-log".into())
                .spawn(move || inner.run_writer(q));
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            res.is_ok()
        };
        if !spawned {
            // No thread: write synchronously, including anything a racing sender queued already.
            let items = {
                let mut st = q.lock();
                st.direct = true;
                std::mem::take(&mut st.items)
            };
            self.write_items(items, &mut Vec::new());
        }
    }

    /// The writer thread: take everything queued, write it in order, report drops, repeat.
    fn run_writer(&self, q: &Queue) {
        IN_WRITER.with(|w| w.set(true));
        let mut batch = VecDeque::new();
        let mut out = Vec::with_capacity(BATCH);
        loop {
            {
                let mut st = q.lock();
                while st.items.is_empty() && !st.closed {
                    st.writer_idle = true;
                    st = q.work.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                st.writer_idle = false;
                if st.items.is_empty() {
                    return; // closed and drained
                }
                std::mem::swap(&mut st.items, &mut batch);
                st.cost = 0;
            }
            q.progress.notify_all(); // room for waiting senders
            let n = batch.len() as u64;
            self.write_items(std::mem::take(&mut batch), &mut out);
            let dropped = {
                let mut st = q.lock();
                st.done += n;
                st.stalled = false;
                std::mem::take(&mut st.dropped)
            };
            q.progress.notify_all(); // flushers
            if dropped > 0 {
                (self.report)(&format!(
                    "ferrocorn: {dropped} log lines dropped (log file too slow): {}",
                    self.label
                ));
            }
        }
    }

    /// Write `items` in order: whole items joined into writes of at most `BATCH` bytes, a longer
    /// item alone, reopens applied between writes. Write errors drop the batch (as a synchronous
    /// write would have); there is nowhere better to report them.
    fn write_items(&self, items: VecDeque<Item>, out: &mut Vec<u8>) {
        let flush = |out: &mut Vec<u8>| {
            if !out.is_empty() {
                let _ = self.sink.write_all(out);
                out.clear();
            }
        };
        for item in items {
            match item {
                Item::Bytes(b) => {
                    if out.len() + b.len() > BATCH {
                        flush(out);
                    }
                    if b.len() > BATCH {
                        let _ = self.sink.write_all(&b);
                    } else {
                        out.extend_from_slice(&b);
                    }
                }
                Item::Reopen(file) => {
                    flush(out);
                    if let Err(e) = self.sink.replace(&file) {
                        (self.report)(&format!("cannot reopen the {}: {e}", self.label));
                    }
                }
            }
        }
        flush(out);
    }

    fn push(&self, q: &Queue, mut st: MutexGuard<'_, State>, item: Item, cost: usize) {
        st.items.push_back(item);
        st.cost += cost;
        st.sent += 1;
        if st.writer_idle {
            q.work.notify_one();
        }
    }

    /// Wait (until `deadline`) for everything this process queued so far to be finished.
    fn flush(&self, deadline: Instant) -> bool {
        let Some(q) = self.current() else {
            return true; // nothing was queued in this process
        };
        if IN_WRITER.with(|w| w.get()) {
            return false; // a writer waiting for writers could wait for itself
        }
        let mut st = q.lock();
        let target = st.sent;
        while st.done < target && !st.direct {
            st = match Queue::wait_until(&q.progress, st, deadline) {
                Ok(st) => st,
                Err(_) => return false,
            };
        }
        true
    }
}

/// One log's writer (the file or stream, and this process's queue and thread).
pub struct LogWriter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("label", &self.inner.label)
            .finish()
    }
}

impl LogWriter {
    /// Open `target` (files for appending). `label` names it in reports, which go to `report`.
    pub fn open(
        target: Target,
        label: String,
        report: Box<dyn Fn(&str) + Send + Sync>,
    ) -> io::Result<LogWriter> {
        LogWriter::with_limits(target, label, report, CAPACITY, SEND_WAIT)
    }

    /// [`LogWriter::open`] with a queue of `capacity` bytes and senders waiting at most `wait`.
    pub fn with_limits(
        target: Target,
        label: String,
        report: Box<dyn Fn(&str) + Send + Sync>,
        capacity: usize,
        wait: Duration,
    ) -> io::Result<LogWriter> {
        register_atfork();
        let sink = match target {
            Target::Stdout => Sink::Stdout,
            Target::Stderr => Sink::Stderr,
            Target::File(path) => Sink::File {
                file: open_append(&path)?,
                path,
            },
        };
        let inner = Arc::new(Inner {
            sink,
            label,
            report,
            capacity,
            wait,
            queue: AtomicPtr::new(std::ptr::null_mut()),
        });
        if let Ok(mut all) = WRITERS.lock() {
            all.retain(|w| w.strong_count() > 0);
            all.push(Arc::downgrade(&inner));
        }
        Ok(LogWriter { inner })
    }

    /// The descriptor the log writes to (1 or 2 for stdout/stderr). It stays the same across
    /// reopens.
    pub fn fd(&self) -> RawFd {
        self.inner.sink.fd()
    }

    /// Queue `bytes` (one or more whole lines) for writing. `false`: the queue stayed full for the
    /// whole wait (or the writer is stalled) and the line was dropped (and counted).
    pub fn send(&self, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let inner = &self.inner;
        let q = inner.queue();
        let item = Item::Bytes(bytes.to_vec());
        let cost = bytes.len() + ITEM_COST;
        let mut st = q.lock();
        if st.direct {
            drop(st);
            return inner.sink.write_all(bytes).is_ok();
        }
        // An item larger than the whole queue still goes in when the queue is empty.
        let full = |st: &State| !st.items.is_empty() && st.cost + cost > inner.capacity;
        if full(&st) {
            if !st.stalled && !IN_WRITER.with(|w| w.get()) {
                let deadline = Instant::now() + inner.wait;
                while full(&st) {
                    match Queue::wait_until(&q.progress, st, deadline) {
                        Ok(g) => st = g,
                        Err(mut g) => {
                            g.stalled = true;
                            st = g;
                            break;
                        }
                    }
                }
            }
            if full(&st) {
                st.dropped += 1;
                return false;
            }
        }
        inner.push(q, st, item, cost);
        true
    }

    /// Reopen the file at its path (logrotate moved it). The new file is opened now (errors are
    /// returned) and takes over in queue order.
    pub fn reopen(&self) -> io::Result<()> {
        let Sink::File { path, .. } = &self.inner.sink else {
            return Ok(());
        };
        let new = open_append(path)?;
        let q = self.inner.queue();
        let st = q.lock();
        if st.direct {
            drop(st);
            return self.inner.sink.replace(&new);
        }
        self.inner.push(q, st, Item::Reopen(new), 0);
        Ok(())
    }

    /// Wait at most `timeout` until what this process queued so far is written.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.flush(Instant::now() + timeout)
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // Let this process's writer finish what is queued and end (it holds the file until then).
        if let Some(q) = self.inner.current() {
            q.lock().closed = true;
            q.work.notify_one();
        }
    }
}

/// Wait, `timeout` at most in all, until every log line this process queued so far is written.
/// Returns `false` if some log could not be flushed in time.
pub fn flush_all(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let writers: Vec<Arc<Inner>> = match WRITERS.lock() {
        Ok(all) => all.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return false,
    };
    // Every writer gets its turn (no short-circuit): one stalled log must not keep the others'
    // last lines from being written.
    let mut ok = true;
    for w in &writers {
        ok &= w.flush(deadline);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::AtomicUsize;

    /// A fresh, empty directory for one test.
    fn temp_dir(name: &str) -> std::path::PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "ferrocorn-logw-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    type Reports = Arc<Mutex<Vec<String>>>;

    fn writer(target: Target, capacity: usize, wait: Duration) -> (LogWriter, Reports) {
        let reports: Reports = Arc::default();
        let r = Arc::clone(&reports);
        let w = LogWriter::with_limits(
            target,
            "test log".into(),
            Box::new(move |m| r.lock().expect("reports").push(m.to_string())),
            capacity,
            wait,
        )
        .expect("open");
        (w, reports)
    }

    /// A file log whose senders wait as long as it takes (these tests are not about dropping: on a
    /// loaded machine the writer thread can go unscheduled for longer than `SEND_WAIT`).
    fn file_writer(path: &std::path::Path) -> (LogWriter, Reports) {
        let t = Target::File(path.to_string_lossy().into_owned());
        writer(t, CAPACITY, Duration::from_secs(30))
    }

    /// `t<thread> <seq> <padding>`; some lines are longer than a batch.
    fn line(t: usize, i: usize) -> String {
        let pad = if i % 50 == 7 {
            5000
        } else {
            (t * 31 + i * 7) % 300
        };
        format!("t{t} {i} {}\n", "x".repeat(pad))
    }

    #[test]
    fn lines_from_many_threads_stay_whole_and_in_each_threads_order() {
        let dir = temp_dir("order");
        let path = dir.join("log");
        let (w, reports) = file_writer(&path);
        let (threads, per) = (8, 500);
        std::thread::scope(|s| {
            for t in 0..threads {
                let w = &w;
                s.spawn(move || {
                    for i in 0..per {
                        assert!(w.send(line(t, i).as_bytes()), "dropped on a healthy file");
                    }
                });
            }
        });
        assert!(w.flush(Duration::from_secs(10)));
        let text = std::fs::read_to_string(&path).expect("read");
        let mut next = vec![0; threads];
        for l in text.lines() {
            let mut parts = l.splitn(3, ' ');
            let t: usize = parts.next().and_then(|t| t[1..].parse().ok()).expect(l);
            let i: usize = parts.next().and_then(|i| i.parse().ok()).expect(l);
            assert_eq!(format!("{l}\n"), line(t, i), "torn line");
            assert_eq!(i, next[t], "thread {t}'s lines out of order");
            next[t] += 1;
        }
        assert_eq!(next, vec![per; threads], "every line written once");
        assert!(reports.lock().expect("reports").is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_blocked_sink_drops_lines_quickly_counts_them_and_reports_when_it_catches_up() {
        let dir = temp_dir("fifo");
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        // A reader that exists (so opening for writing succeeds) but does not read yet: once the
        // pipe's 64 KiB are full, the writer thread blocks in write(2).
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .expect("open reader");
        let t = Target::File(fifo.to_string_lossy().into_owned());
        let (w, reports) = writer(t, 8 * 1024, Duration::from_millis(10));

        let n = 3000; // 300 KB of lines: the pipe and the queue several times over
        let started = Instant::now();
        let mut accepted = Vec::new();
        let mut slowest = Duration::ZERO;
        for i in 0..n {
            let l = format!("line {i:05} {}\n", "y".repeat(88));
            let t0 = Instant::now();
            if w.send(l.as_bytes()) {
                accepted.push(l);
            }
            slowest = slowest.max(t0.elapsed());
        }
        let dropped = n - accepted.len();
        assert!(dropped > 0, "nothing dropped: the sink never blocked?");
        assert!(
            slowest < Duration::from_secs(1),
            "a send waited {slowest:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{n} sends took {:?}",
            started.elapsed()
        );
        assert!(
            !w.flush(Duration::from_millis(50)),
            "flush of a stalled log"
        );

        // Now read: everything accepted arrives whole and in order, then the report.
        let want: String = accepted.concat();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 65536];
        while got.len() < want.len() && Instant::now() < deadline {
            match reader.read(&mut buf) {
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        assert!(got == want.as_bytes(), "lines lost, torn or reordered");
        assert!(w.flush(Duration::from_secs(5)));
        let expected =
            format!("ferrocorn: {dropped} log lines dropped (log file too slow): test log");
        assert_eq!(*reports.lock().expect("reports"), vec![expected]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reopen_takes_over_in_queue_order() {
        let dir = temp_dir("reopen");
        let path = dir.join("log");
        let (w, _) = file_writer(&path);
        let fd = w.fd();
        w.send(b"before 1\n");
        w.send(b"before 2\n");
        std::fs::rename(&path, dir.join("log.1")).expect("rename");
        w.reopen().expect("reopen");
        w.send(b"after\n");
        assert!(w.flush(Duration::from_secs(5)));
        assert_eq!(w.fd(), fd, "same descriptor number");
        let old = std::fs::read_to_string(dir.join("log.1")).expect("old");
        assert_eq!(old, "before 1\nbefore 2\n");
        assert_eq!(std::fs::read_to_string(&path).expect("new"), "after\n");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_forked_child_gets_its_own_queue_even_if_the_parent_held_the_lock() {
        let dir = temp_dir("fork");
        let path = dir.join("log");
        let (w, _) = file_writer(&path);
        w.send(b"parent before\n");
        assert!(w.flush(Duration::from_secs(5)));
        let q = w.inner.queue();
        // Fork while this process's queue is locked and holds an unwritten line: the child must
        // neither wait for that lock nor write that line.
        let guard = q.lock();
        // SAFETY: the child only queues a line, waits for its own writer thread and `_exit`s; it
        // never touches locks other threads of the test harness might hold (it reports by status).
        let child = match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let ok = w.send(b"child\n") && w.flush(Duration::from_secs(5));
                // SAFETY: ends the forked child at once, running nothing else of the harness.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => child,
        };
        let mut st = guard;
        st.items.push_back(Item::Bytes(b"parent queued\n".to_vec()));
        st.sent += 1;
        drop(st);
        q.work.notify_one();
        assert!(w.flush(Duration::from_secs(5)));
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            match nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    panic!("the child hung (on the parent's queue lock?)");
                }
                other => break other,
            }
        };
        assert_eq!(status, Ok(nix::sys::wait::WaitStatus::Exited(child, 0)));
        let mut lines: Vec<String> = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        assert_eq!(lines, ["child", "parent before", "parent queued"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
