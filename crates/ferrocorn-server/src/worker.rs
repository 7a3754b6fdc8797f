//! A worker process's request loop: `--threads N` threads share one epoll set (leader/follower).
//!
//! The thread whose poll turn it is ([`crate::poll_turn`]) waits in `epoll_wait`; the thread that
//! gets a connection's event reads, parses, calls the app and writes the response itself — no
//! hand-off between threads. With more than one thread, connections are registered
//! `EPOLLONESHOT` so exactly one thread owns a connection at a time and re-arms it when done;
//! with one thread, that re-arm is skipped. Only a thread that is not serving accepts, so a busy
//! worker leaves new connections to its siblings.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::Signal;

use crate::app::{App, Busy, Handler, Unlocker};
use crate::conn_info::ConnInfo;
use crate::front::{After, Conn, ServeSettings, ThreadCtx};
use crate::listener::Listener;
use crate::log;
use crate::poll_turn::{PollTurn, Took};
use crate::scoreboard::WorkerHandle;
use crate::signals::SignalPipe;

/// Worker settings.
#[derive(Clone)]
pub struct WorkerSettings {
    pub threads: u32,
    pub serve: ServeSettings,
    /// How long TERM waits for in-flight requests.
    pub graceful_timeout: Duration,
    /// Supervision by a master (None when the worker runs on its own, e.g. in tests).
    pub ctl: Option<WorkerCtl>,
    /// Called with the worker's slot when INT/QUIT makes it exit at once (hooks, atexit).
    pub on_quick_exit: Option<Arc<dyn Fn(usize) + Send + Sync>>,
}

/// What a supervised worker reports and obeys.
#[derive(Clone, Copy)]
pub struct WorkerCtl {
    pub handle: WorkerHandle,
    /// Recycle (gracefully) after this many requests; 0 = never.
    pub max_requests: u64,
    /// Recycle after a request leaves the RSS above this many bytes; 0 = never.
    pub reload_on_rss: u64,
    /// The master's pid: if our parent changes, the master died and we leave.
    pub parent: i32,
    /// The worker's slot in the master's table (gunicorn's `worker.age` in hooks).
    pub slot: usize,
}

/// Resident set size of this process in bytes (from /proc/self/statm).
pub fn current_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).unwrap_or(4096))
}

/// Event tokens: listeners use their index, connections set `CONN_BIT` (with slot generation and
/// index); the two pipes use values no listener index reaches and are checked first.
const TOKEN_SIGNAL: u64 = (1 << 62) + 1;
const TOKEN_WAKE: u64 = (1 << 62) + 2;
const CONN_BIT: u64 = 1 << 63;
/// How often idle connections are checked against their deadlines.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Idle,
    Busy,
}

struct Slot {
    gen: u32,
    state: SlotState,
    conn: Option<Box<Conn>>,
    fd: RawFd,
    deadline: Instant,
}

/// The connection table: a slab indexed by token, with generations so a stale event for a reused
/// slot is ignored.
#[derive(Default)]
struct Slots {
    v: Vec<Slot>,
    free: Vec<u32>,
}

fn token(idx: u32, gen: u32) -> u64 {
    CONN_BIT | (u64::from(gen) << 32) | u64::from(idx)
}

fn untoken(t: u64) -> (u32, u32) {
    ((t & 0xffff_ffff) as u32, ((t >> 32) & 0x7fff_ffff) as u32)
}

impl Slots {
    fn insert(&mut self, conn: Box<Conn>, fd: RawFd, deadline: Instant) -> u64 {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.v.push(Slot {
                    gen: 0,
                    state: SlotState::Free,
                    conn: None,
                    fd: -1,
                    deadline,
                });
                (self.v.len() - 1) as u32
            }
        };
        let s = &mut self.v[idx as usize];
        s.state = SlotState::Idle;
        s.conn = Some(conn);
        s.fd = fd;
        s.deadline = deadline;
        token(idx, s.gen)
    }

    fn take(&mut self, t: u64) -> Option<Box<Conn>> {
        let (idx, gen) = untoken(t);
        let s = self.v.get_mut(idx as usize)?;
        if s.gen != gen || s.state != SlotState::Idle {
            return None;
        }
        s.state = SlotState::Busy;
        s.conn.take()
    }

    fn put(&mut self, t: u64, conn: Box<Conn>, deadline: Instant) {
        let (idx, _) = untoken(t);
        if let Some(s) = self.v.get_mut(idx as usize) {
            s.state = SlotState::Idle;
            s.conn = Some(conn);
            s.deadline = deadline;
        }
    }

    fn remove(&mut self, t: u64) -> Option<Box<Conn>> {
        let (idx, gen) = untoken(t);
        let s = self.v.get_mut(idx as usize)?;
        if s.gen != gen || s.state == SlotState::Free {
            return None;
        }
        s.state = SlotState::Free;
        s.gen = (s.gen + 1) & 0x7fff_ffff;
        s.fd = -1;
        self.free.push(idx);
        s.conn.take()
    }

    /// Remove idle connections whose deadline passed, or (with `all`, for a graceful stop) every
    /// idle connection that has already been answered at least once: one accepted but still
    /// waiting for its first request keeps its chance until its header deadline. The boxes move
    /// out as they are, to be dropped (closing their sockets) outside the lock.
    #[allow(clippy::vec_box)]
    fn expire(&mut self, now: Instant, all: bool) -> Vec<Box<Conn>> {
        let mut out = Vec::new();
        for idx in 0..self.v.len() {
            let s = &self.v[idx];
            let answered = s.conn.as_ref().is_some_and(|c| c.requests() > 0);
            if s.state == SlotState::Idle && ((all && answered) || s.deadline <= now) {
                let t = token(idx as u32, s.gen);
                if let Some(c) = self.remove(t) {
                    out.push(c);
                }
            }
        }
        out
    }

    /// Connections still open (idle or being served).
    fn live(&self) -> usize {
        self.v.iter().filter(|s| s.state != SlotState::Free).count()
    }
}

/// This thread's view of the [`PollTurn`], shared with the handler's on-busy callback.
struct TurnHold {
    turn: Arc<PollTurn>,
    me: usize,
    /// The thread is about to wait for work itself: the handler's `Blocking` keeps the turn.
    polling: AtomicBool,
    /// Keep the turn while serving (CPU-bound requests, see [`Pace`]).
    keep: AtomicBool,
}

impl TurnHold {
    fn on_busy(&self, b: Busy) {
        match b {
            Busy::Serving if self.keep.load(Ordering::Relaxed) => self.turn.serving(self.me),
            Busy::Serving => self.turn.release(self.me),
            Busy::Blocking if !self.polling.load(Ordering::Relaxed) => self.turn.release(self.me),
            Busy::Blocking => {}
        }
    }
}

struct Shared {
    settings: WorkerSettings,
    epoll: Epoll,
    listeners: Vec<Listener>,
    slots: Mutex<Slots>,
    oneshot: bool,
    stopping: AtomicBool,
    started: Instant,
    next_sweep_ms: AtomicU64,
    signals: SignalPipe,
    wake: OwnedFd,
    wake_tx: OwnedFd,
    turn: Arc<PollTurn>,
    /// Each thread's finished responses not yet written (another thread that takes the turn over
    /// from a thread stuck in the app writes them).
    deferred: Vec<Mutex<Deferred>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn conn_flags(&self) -> EpollFlags {
        let f = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        if self.oneshot {
            f | EpollFlags::EPOLLONESHOT
        } else {
            f
        }
    }

    fn since_start_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// Serve until a stop signal: TERM finishes in-flight requests (up to the graceful timeout), INT and
/// QUIT exit at once. The calling thread is one of the `threads` request threads.
pub fn run(
    settings: WorkerSettings,
    listeners: Vec<Listener>,
    app: Arc<dyn App>,
) -> io::Result<()> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(io::Error::from)?;
    // TERM/INT/QUIT/HUP/USR1 come through the pipe (replacing Python's handlers); PIPE and the
    // signals only a master acts on are ignored (TTIN/TTOU would otherwise stop the process).
    let signals = SignalPipe::install(
        &[
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGQUIT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
        ],
        &[
            Signal::SIGPIPE,
            Signal::SIGTTIN,
            Signal::SIGTTOU,
            Signal::SIGWINCH,
        ],
        &[Signal::SIGCHLD],
    )?;
    let (wake, wake_tx) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(io::Error::from)?;
    for (i, l) in listeners.iter().enumerate() {
        // EPOLLEXCLUSIVE: of several workers waiting on the same listener, wake one per connection.
        epoll
            .add(
                l.sock.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, i as u64),
            )
            .map_err(io::Error::from)?;
    }
    epoll
        .add(
            signals.fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_SIGNAL),
        )
        .map_err(io::Error::from)?;
    epoll
        .add(
            wake.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_WAKE),
        )
        .map_err(io::Error::from)?;
    let threads = settings.threads.max(1);
    let shared = Arc::new(Shared {
        oneshot: threads > 1,
        settings,
        epoll,
        listeners,
        slots: Mutex::new(Slots::default()),
        stopping: AtomicBool::new(false),
        started: Instant::now(),
        next_sweep_ms: AtomicU64::new(0),
        signals,
        wake,
        wake_tx,
        turn: Arc::default(),
        deferred: (0..threads).map(|_| Mutex::default()).collect(),
    });
    let mut handles = Vec::new();
    if let Some(ctl) = shared.settings.ctl {
        ctl.handle.beat();
        ctl.handle.slot.booted.store(true, Ordering::Relaxed);
    }
    for i in 1..threads {
        let sh = shared.clone();
        let app = app.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("ferrocorn-req-{i}"))
                .spawn(move || app.run_thread(&mut |h| thread_loop(&sh, h, i as usize)))?,
        );
    }
    app.run_thread(&mut |h| thread_loop(&shared, h, 0));
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

fn thread_loop(sh: &Shared, h: &mut dyn Handler, index: usize) {
    let ctl = sh.settings.ctl;
    let mut ctx = ThreadCtx::new(ctl.and_then(|c| c.handle.thread(index)));
    let mut pace = Pace::default();
    let mine = &sh.deferred[index];
    let mut events = vec![EpollEvent::empty(); 64];
    let hold = Arc::new(TurnHold {
        turn: sh.turn.clone(),
        me: index,
        polling: AtomicBool::new(false),
        keep: AtomicBool::new(false),
    });
    if sh.oneshot {
        let h2 = hold.clone();
        h.set_on_busy(Box::new(move |b| h2.on_busy(b)));
    }
    // With several threads, take one event at a time so the others get the rest.
    let max_events = if sh.oneshot { 1 } else { events.len() };
    loop {
        // A stopping worker leaves once every connection it holds is answered or expired.
        if sh.stopping() && sh.lock().live() == 0 {
            break;
        }
        let keep = sh.oneshot && pace.keep_turn();
        hold.keep.store(keep, Ordering::Relaxed);
        // With several threads, look for ready work first without letting go of the GIL: under
        // load the thread holding it goes on serving instead of handing it over on every request
        // (a futex round trip and two context switches each time). While turns are kept only the
        // thread whose turn it is looks (so one thread serves the round). A thread that has
        // waited for the GIL for a while gets it at this request boundary (`Handler::contended`),
        // well before CPython's 5 ms forced switch would take it mid-request; the turn goes with
        // it. Only when nothing is ready does the thread let go and block.
        let mut n = 0;
        if sh.oneshot {
            if h.contended() {
                sh.turn.hand_over(index);
            } else if !keep || sh.turn.owned_by(index) {
                n = sh
                    .epoll
                    .wait(&mut events[..max_events], EpollTimeout::ZERO)
                    .unwrap_or(0);
            }
        }
        if n == 0 {
            // About to block: what this round finished goes out first.
            flush_deferred(mine, sh, h);
            let mut took_from = None;
            hold.polling.store(true, Ordering::Relaxed);
            h.unlocked(&mut || {
                // One thread at a time waits for new work; the others wait for their turn.
                if sh.oneshot && !sh.turn.owned_by(index) {
                    match sh.turn.take(index, SWEEP_EVERY) {
                        Took::No => return,
                        Took::Yes => {}
                        Took::From(other) => {
                            // Its responses may be waiting for it: write them first.
                            took_from = Some(other);
                            return;
                        }
                    }
                }
                n = match sh.epoll.wait(
                    &mut events[..max_events],
                    EpollTimeout::from(SWEEP_EVERY.as_millis() as u16),
                ) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR) => 0,
                    Err(e) => {
                        log::error(&format!("epoll_wait failed: {e}"));
                        0
                    }
                };
            });
            hold.polling.store(false, Ordering::Relaxed);
            if let Some(other) = took_from.and_then(|o| sh.deferred.get(o)) {
                flush_deferred(other, sh, h);
            }
        }
        for ev in &events[..n] {
            let t = ev.data();
            if t == TOKEN_SIGNAL {
                on_signal_pipe(sh);
            } else if t == TOKEN_WAKE {
                // Stopping. If connections remain, stop listening to the (level-triggered) wake
                // pipe so waiting for them does not spin; the loop check ends the thread later.
                if sh.lock().live() > 0 {
                    let _ = sh.epoll.delete(sh.wake.as_fd());
                }
            } else if t & CONN_BIT != 0 {
                on_conn(sh, h, &mut ctx, (index, t), mine, &mut pace);
                if overdue(mine) {
                    flush_deferred(mine, sh, h);
                }
            } else if let Some(l) = sh.listeners.get(t as usize) {
                on_listener(sh, h, &mut ctx, t as usize, l);
                if sh.oneshot {
                    sh.turn.served(index);
                }
            }
            if ctx.finished > 0 {
                after_requests(sh, &mut ctx);
            }
        }
        if !sh.oneshot {
            // One thread: the poll round is over.
            flush_deferred(mine, sh, h);
        }
        if let Some(c) = ctl {
            c.handle.beat();
        }
        maybe_sweep(sh);
    }
    flush_deferred(mine, sh, h);
    sh.turn.release(index);
}

/// Count finished requests and recycle the worker when max-requests or reload-on-rss says so.
fn after_requests(sh: &Shared, ctx: &mut ThreadCtx) {
    let done = std::mem::take(&mut ctx.finished);
    let Some(ctl) = sh.settings.ctl else { return };
    let total = ctl.handle.slot.requests.fetch_add(done, Ordering::Relaxed) + done;
    if sh.stopping() {
        return;
    }
    if ctl.max_requests > 0 && total >= ctl.max_requests {
        log::info(&format!(
            "Autorestarting worker after {total} requests (max_requests)"
        ));
        begin_graceful(sh);
    } else if ctl.reload_on_rss > 0 {
        if let Some(rss) = current_rss() {
            if rss > ctl.reload_on_rss {
                log::warning(&format!(
                    "Recycling worker: RSS {} MB is above reload_on_rss {} MB",
                    rss >> 20,
                    ctl.reload_on_rss >> 20
                ));
                begin_graceful(sh);
            }
        }
    }
}

fn begin_graceful(sh: &Shared) {
    if let Some(ctl) = sh.settings.ctl {
        ctl.handle.slot.retiring.store(true, Ordering::Relaxed);
    }
    if !sh.stopping.swap(true, Ordering::AcqRel) {
        graceful_stop(sh);
    }
}

fn maybe_sweep(sh: &Shared) {
    let now_ms = sh.since_start_ms();
    let next = sh.next_sweep_ms.load(Ordering::Relaxed);
    if now_ms < next {
        return;
    }
    if sh
        .next_sweep_ms
        .compare_exchange(
            next,
            now_ms + SWEEP_EVERY.as_millis() as u64,
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return;
    }
    let expired = sh.lock().expire(Instant::now(), false);
    drop(expired); // closes the sockets (and removes them from epoll) outside the lock
    if let Some(ctl) = sh.settings.ctl {
        if nix::unistd::getppid().as_raw() != ctl.parent && !sh.stopping() {
            log::warning("Master process is gone: worker shutting down");
            begin_graceful(sh);
        }
    }
}

fn on_listener(sh: &Shared, h: &mut dyn Handler, ctx: &mut ThreadCtx, idx: usize, l: &Listener) {
    // Accept a bounded batch: each accepted connection is served at once by this thread, and
    // leaving the rest in the backlog lets idle siblings take them.
    for _ in 0..16 {
        if sh.stopping() {
            return;
        }
        let (sock, addr) = match l.sock.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
            Ok(v) => v,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e)
                if e.raw_os_error() == Some(libc::EMFILE)
                    || e.raw_os_error() == Some(libc::ENFILE) =>
            {
                log::error(&format!("accept: {e} (raise the open-files limit)"));
                return;
            }
            Err(e)
                if e.kind() == io::ErrorKind::Interrupted
                    || e.kind() == io::ErrorKind::ConnectionAborted =>
            {
                continue
            }
            Err(e) => {
                log::error(&format!("accept failed: {e}"));
                return;
            }
        };
        let _ = sock.set_tcp_nodelay(true);
        // Trust (forwarded_allow_ips, proxy_allow_ips) is decided here, once per connection.
        let info = ConnInfo::accepted(
            addr.as_socket(),
            l.server_name.clone(),
            l.server_port.clone(),
            idx,
            &sh.settings.serve.proxy,
        );
        let fd = sock.as_raw_fd();
        let mut conn = Box::new(Conn::new(l.front, sock, info, &sh.settings.serve));
        let stopping = || sh.stopping();
        let mut after = conn.drive(h, ctx, &sh.settings.serve, &stopping);
        if ctx.finished > 0 {
            after_requests(sh, ctx);
        }
        // A response to a request that came with the connection goes out at once: the connection
        // is not in the table yet, so it cannot join the poll round's deferred writes.
        let u: &dyn Unlocker = h;
        if conn.flush_deferred(u).is_err() {
            after = After::Close;
        }
        match after {
            After::Close => {}
            After::Wait(deadline) => {
                let t = sh.lock().insert(conn, fd, deadline);
                // SAFETY: `fd` belongs to the connection just stored in the table, which keeps it open.
                let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
                if let Err(e) = sh.epoll.add(bfd, EpollEvent::new(sh.conn_flags(), t)) {
                    log::error(&format!("epoll add failed: {e}"));
                    drop(sh.lock().remove(t));
                }
            }
        }
    }
}

/// Finished responses not yet written, with their connections (out of the table meanwhile), in
/// the order they finished.
#[derive(Default)]
struct Deferred {
    conns: Vec<(u64, Box<Conn>, Instant)>,
    /// When the oldest of them finished.
    since: Option<Instant>,
}

/// The longest a finished response waits for the rest of its poll round.
const MAX_DEFER: Duration = Duration::from_millis(1);

/// Gather responses only while a connection's turn usually takes less than this: with a slower
/// app a round holds few responses, and each would wait longer for the others.
const DEFER_BELOW_NS: u64 = 500_000;

/// With several threads, keep the poll turn while serving only when requests spend at least
/// this share (percent) of their time on the CPU: an app that waits on I/O needs the other
/// threads to pick up new work meanwhile.
const KEEP_TURN_CPU_PCT: u64 = 75;

/// One in this many connection turns also reads the thread's CPU clock (a syscall) for [`Pace`].
const CPU_SAMPLE_EVERY: u32 = 8;

/// How long this thread's connection turns take (mostly the app), and how much of it is CPU.
struct Pace {
    /// Moving average of a turn's duration, in ns.
    turn_ns: u64,
    /// Moving average of the CPU share of sampled turns, in percent.
    cpu_pct: u64,
    turns: u32,
}

impl Default for Pace {
    fn default() -> Self {
        // Optimistic until measured: short and CPU-bound.
        Pace {
            turn_ns: 0,
            cpu_pct: 100,
            turns: 0,
        }
    }
}

impl Pace {
    /// Whether the responses of the coming turn may wait for the end of the round.
    fn gather(&self) -> bool {
        self.turn_ns < DEFER_BELOW_NS
    }

    /// Whether a thread serving keeps the poll turn (several threads). Long CPU-bound requests
    /// too: a waiting thread takes the turn over after `TAKE_OVER_AFTER` anyway.
    fn keep_turn(&self) -> bool {
        self.cpu_pct >= KEEP_TURN_CPU_PCT
    }

    /// Whether this turn's CPU time is sampled.
    fn sample(&mut self) -> bool {
        self.turns = self.turns.wrapping_add(1);
        self.turns.is_multiple_of(CPU_SAMPLE_EVERY)
    }

    /// Fold one turn in (weight 1/8: a few slow turns turn gathering off).
    fn record(&mut self, took: Duration, cpu: Option<Duration>) {
        let ns = took.as_nanos().min(u64::MAX as u128) as u64;
        self.turn_ns = self.turn_ns - self.turn_ns / 8 + ns / 8;
        if let Some(cpu) = cpu {
            let pct = (cpu.as_nanos() * 100 / took.as_nanos().max(1)).min(100) as u64;
            self.cpu_pct = self.cpu_pct - self.cpu_pct / 4 + pct / 4;
        }
    }
}

/// This thread's CPU time.
fn thread_cpu() -> Option<Duration> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}

fn lock_deferred(d: &Mutex<Deferred>) -> MutexGuard<'_, Deferred> {
    d.lock().unwrap_or_else(|p| p.into_inner())
}

fn defer(d: &Mutex<Deferred>, t: u64, conn: Box<Conn>, deadline: Instant) {
    let mut d = lock_deferred(d);
    if d.since.is_none() {
        d.since = Some(Instant::now());
    }
    d.conns.push((t, conn, deadline));
}

fn overdue(d: &Mutex<Deferred>) -> bool {
    lock_deferred(d)
        .since
        .is_some_and(|t| t.elapsed() >= MAX_DEFER)
}

/// Write every waiting response of `d` and give the connections back to the poller.
fn flush_deferred(d: &Mutex<Deferred>, sh: &Shared, h: &mut dyn Handler) {
    let conns = {
        let mut d = lock_deferred(d);
        if d.conns.is_empty() {
            return;
        }
        d.since = None;
        std::mem::take(&mut d.conns)
    };
    for (t, mut conn, deadline) in conns {
        let u: &dyn Unlocker = h;
        if conn.flush_deferred(u).is_err() || sh.stopping() {
            drop(sh.lock().remove(t));
            drop(conn);
        } else {
            put_back(sh, t, conn, deadline);
        }
    }
}

fn on_conn(
    sh: &Shared,
    h: &mut dyn Handler,
    ctx: &mut ThreadCtx,
    (index, t): (usize, u64),
    mine: &Mutex<Deferred>,
    pace: &mut Pace,
) {
    let Some(mut conn) = sh.lock().take(t) else {
        return;
    };
    let stopping = || sh.stopping();
    // With several threads, gathering needs the turn kept (else the round is one request).
    ctx.defer_writes = pace.gather() && (!sh.oneshot || pace.keep_turn());
    // The CPU share only matters for the turn (several threads).
    let cpu0 = if sh.oneshot && pace.sample() {
        thread_cpu()
    } else {
        None
    };
    let started = Instant::now();
    let after = conn.drive(h, ctx, &sh.settings.serve, &stopping);
    let cpu = cpu0.and_then(|c0| Some(thread_cpu()?.saturating_sub(c0)));
    pace.record(started.elapsed(), cpu);
    if sh.oneshot {
        sh.turn.served(index);
    }
    match after {
        After::Close => {
            let u: &dyn Unlocker = h;
            let _ = conn.flush_deferred(u);
            drop(sh.lock().remove(t));
            drop(conn);
        }
        After::Wait(deadline) if conn.has_deferred() => defer(mine, t, conn, deadline),
        After::Wait(deadline) => put_back(sh, t, conn, deadline),
    }
}

/// Return a connection to the table and the poller, to wait for its next request.
fn put_back(sh: &Shared, t: u64, conn: Box<Conn>, deadline: Instant) {
    let fd = {
        let mut slots = sh.lock();
        slots.put(t, conn, deadline);
        slots
            .v
            .get(untoken(t).0 as usize)
            .map(|s| s.fd)
            .unwrap_or(-1)
    };
    if sh.oneshot && fd >= 0 {
        // SAFETY: the connection owning `fd` is in the table; a sweeper that closes it would
        // make this re-arm fail with EBADF/ENOENT, which is harmless.
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        let mut ev = EpollEvent::new(sh.conn_flags(), t);
        let _ = sh.epoll.modify(bfd, &mut ev);
    }
}

fn on_signal_pipe(sh: &Shared) {
    for sig in sh.signals.drain() {
        if sig == libc::SIGINT || sig == libc::SIGQUIT {
            if let Some(f) = &sh.settings.on_quick_exit {
                f(sh.settings.ctl.map_or(0, |c| c.slot));
            }
            log::info("Quick shutdown: exiting now");
            log::flush();
            std::process::exit(0);
        }
        if sig == libc::SIGTERM || sig == libc::SIGHUP {
            begin_graceful(sh);
        }
        if sig == libc::SIGUSR1 {
            if let Err(e) = log::reopen() {
                log::error(&format!("cannot reopen the error log: {e}"));
            }
            if let Some(a) = &sh.settings.serve.access {
                if let Err(e) = a.reopen() {
                    log::error(&format!("cannot reopen the access log: {e}"));
                }
            }
        }
    }
}

/// Stop accepting, close idle connections, let in-flight requests finish, and make sure the
/// process ends by the graceful timeout.
fn graceful_stop(sh: &Shared) {
    log::info("Graceful shutdown: finishing in-flight requests");
    for l in &sh.listeners {
        let _ = sh.epoll.delete(l.sock.as_fd());
    }
    drop(sh.lock().expire(Instant::now(), true));
    // Wake every thread (the pipe stays readable, so all of them see it).
    let _ = nix::unistd::write(sh.wake_tx.as_fd(), b"x");
    let timeout = sh.settings.graceful_timeout;
    let _ = std::thread::Builder::new()
        .name("ferrocorn-graceful".into())
        .spawn(move || {
            std::thread::sleep(timeout);
            log::warning("Graceful timeout reached: exiting with requests still running");
            log::flush();
            std::process::exit(0);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_fresh_thread_keeps_the_turn_and_gathers() {
        let p = Pace::default();
        assert!(p.keep_turn());
        assert!(p.gather());
    }

    #[test]
    fn turns_that_wait_on_io_pass_the_turn_on() {
        let mut p = Pace::default();
        // 1 ms turns of which 0.1 ms is CPU (a database call), sampled.
        for _ in 0..8 {
            p.record(us(1000), Some(us(100)));
        }
        assert!(!p.keep_turn());
        assert!(!p.gather(), "1 ms turns are too slow to gather");
        // Back to short CPU-bound turns: the turn is kept again.
        for _ in 0..16 {
            p.record(us(100), Some(us(95)));
        }
        assert!(p.keep_turn());
        assert!(p.gather());
    }

    #[test]
    fn long_cpu_bound_turns_keep_the_turn_without_gathering() {
        let mut p = Pace::default();
        for _ in 0..16 {
            p.record(us(600), Some(us(590)));
        }
        assert!(p.keep_turn());
        assert!(!p.gather());
    }

    #[test]
    fn one_turn_in_eight_is_sampled() {
        let mut p = Pace::default();
        let sampled = (0..64).filter(|_| p.sample()).count();
        assert_eq!(sampled, 64 / CPU_SAMPLE_EVERY as usize);
    }
}
