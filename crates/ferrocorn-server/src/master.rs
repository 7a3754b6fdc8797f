//! The master: binds nothing itself (the caller did), forks workers, reaps them, replaces the dead,
//! enforces timeouts, scales, and turns signals into actions. Its loop runs on one thread (the only
//! other one is the error log's writer, see `log_writer`) and only ever blocks in `poll()` on its
//! signal pipe, with a short tick, or in the bounded `log::flush()` before a fork.
//!
//! Signals (gunicorn's table): HUP rolling reload, TTIN/TTOU one worker more/less, USR1 reopen
//! logs, USR2 re-exec a new master on the same sockets, WINCH stop the workers (after USR2),
//! TERM graceful stop, INT/QUIT quick stop. See docs/signals.md.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::app::App;
use crate::listener::Listener;
use crate::log;
use crate::scoreboard::{now_ms, Scoreboard, MAX_WORKERS};
use crate::signals::SignalPipe;
use crate::worker::{self, WorkerCtl, WorkerSettings};

/// Worker exit status meaning "could not load the app" (gunicorn's WORKER_BOOT_ERROR).
pub const WORKER_BOOT_ERROR: i32 = 3;
/// Master exit status when workers cannot load the app (gunicorn's APP_LOAD_ERROR).
pub const APP_LOAD_ERROR: i32 = 4;
/// The env var through which a re-executed master (USR2) learns its inherited listener fds.
pub const INHERIT_ENV: &str = "FERROCORN_FDS";

/// php-fpm style dynamic worker counts.
#[derive(Debug, Clone, Copy)]
pub struct Dynamic {
    pub min: u32,
    pub max: u32,
    pub min_spare: u32,
    pub max_spare: u32,
}

/// The master's settings.
#[derive(Debug, Clone)]
pub struct MasterSettings {
    pub workers: u32,
    pub threads: u32,
    /// Kill a worker whose loop has been silent this long (0 = never).
    pub timeout: Duration,
    pub graceful_timeout: Duration,
    /// Recycle a worker when one request runs this long (uWSGI's harakiri).
    pub harakiri: Option<Duration>,
    pub max_requests: u64,
    pub max_requests_jitter: u64,
    /// Bytes; 0 = off.
    pub reload_on_rss: u64,
    pub dynamic: Option<Dynamic>,
    pub pidfile: Option<PathBuf>,
    /// Shown in process titles: `ferrocorn: master [NAME]`.
    pub proc_name: String,
    /// Daemonized (WINCH is honoured only then or after USR2, as in gunicorn).
    pub daemon: bool,
    /// Workers switch to this uid/gid after fork (the master keeps its privileges for re-exec).
    pub user: Option<u32>,
    pub group: Option<u32>,
    /// The program and arguments to exec on USR2 (captured at start: titles overwrite argv).
    pub reexec_argv: Vec<std::ffi::OsString>,
    /// Set in a master started by USR2: once the old master is gone, move our `<pidfile>.2` here.
    pub promote_pidfile_to: Option<PathBuf>,
    /// Remove our Unix socket files on exit (uWSGI's vacuum).
    pub vacuum: bool,
}

/// What the master needs from the application host (Python): forking with the runtime's
/// bookkeeping, booting a worker, and process titles.
pub trait Host {
    /// Fork; `Ok(None)` in the child, `Ok(Some(pid))` in the parent.
    fn fork(&self) -> io::Result<Option<i32>>;
    /// In a new worker: load the app (unless preloaded). `None`: it failed, and said why in the log.
    fn boot(&self) -> Option<Arc<dyn App>>;
    /// In a worker about to exit (atexit handlers).
    fn worker_exit(&self);
    /// HUP: read the configuration again; `None` keeps the current one (the reason is logged).
    fn reload_settings(&self) -> Option<(MasterSettings, WorkerSettings)>;
    /// Set the process title.
    fn set_title(&self, title: &str);
    /// A server hook point (gunicorn's names); the host runs the user's hook if one is set.
    /// `num_workers` is the master's current target.
    fn hook(&self, event: Hook, num_workers: u32);
}

/// Server hook points, with what they describe (see docs/hooks.md).
#[derive(Debug, Clone, Copy)]
pub enum Hook {
    /// Master: the workers are being started for the first time.
    WhenReady { workers: u32 },
    /// Master, before forking a worker.
    PreFork { slot: usize },
    /// Worker, just after fork.
    PostFork { slot: usize },
    /// Worker, after the app is loaded.
    PostWorkerInit { slot: usize },
    /// Worker, about to exit.
    WorkerExit { slot: usize },
    /// Master, after reaping a worker.
    ChildExit { pid: i32, slot: usize },
    /// Master, in the child about to exec a new master (USR2).
    PreExec,
    /// Master: the number of workers changed (TTIN, TTOU, dynamic scaling).
    NworkersChanged { new: u32, old: u32 },
    /// Master: HUP.
    OnReload,
    /// Master, about to exit.
    OnExit,
}

struct Worker {
    pid: Pid,
    slot: usize,
    spawned: Instant,
    generation: u64,
    /// Sent TERM (retiring, reloading or stopping).
    retiring: bool,
    /// After a timeout: SIGKILL at this moment (the stack dump was asked for first).
    kill_at: Option<Instant>,
    /// When the master last saw all its threads idle (for dynamic scale-down).
    idle_since: Option<Instant>,
}

enum Stop {
    Graceful(Instant),
    Quick(Instant),
}

struct Master<'a> {
    s: MasterSettings,
    wsettings: WorkerSettings,
    listeners: Vec<Listener>,
    host: &'a dyn Host,
    board: Scoreboard,
    workers: Vec<Worker>,
    target: u32,
    generation: u64,
    stop: Option<Stop>,
    exit_code: i32,
    backoff: Duration,
    next_spawn: Instant,
    /// Consecutive ticks short of spare workers (spawn 1, 2, 4, ... per tick like php-fpm).
    short_ticks: u32,
    last_scale: Instant,
    /// A new master we exec'd on USR2.
    reexec_child: Option<Pid>,
    pipe: Option<SignalPipe>,
    pid: u32,
}

const CAUGHT: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGCHLD,
];

/// Run the master until it stops; returns the process exit status.
pub fn run(
    s: MasterSettings,
    wsettings: WorkerSettings,
    listeners: Vec<Listener>,
    host: &dyn Host,
) -> i32 {
    let board = match Scoreboard::new(s.threads as usize) {
        Ok(b) => b,
        Err(e) => {
            log::critical(&format!("cannot map the worker scoreboard: {e}"));
            return 1;
        }
    };
    let pipe = match SignalPipe::install(CAUGHT, &[Signal::SIGPIPE], &[]) {
        Ok(p) => p,
        Err(e) => {
            log::critical(&format!("cannot install signal handlers: {e}"));
            return 1;
        }
    };
    // Anything sent since the listeners were announced is handled from here on.
    crate::signals::release_startup_signals();
    let target = match s.dynamic {
        Some(d) => s.workers.clamp(d.min.max(1), d.max.max(1)),
        None => s.workers.max(1),
    };
    let mut m = Master {
        s,
        wsettings,
        listeners,
        host,
        board,
        workers: Vec::new(),
        target,
        generation: 0,
        stop: None,
        exit_code: 0,
        backoff: Duration::ZERO,
        next_spawn: Instant::now(),
        short_ticks: 0,
        last_scale: Instant::now(),
        reexec_child: None,
        pipe: Some(pipe),
        pid: std::process::id(),
    };
    m.host
        .set_title(&format!("ferrocorn: master [{}]", m.s.proc_name));
    m.host.hook(Hook::WhenReady { workers: m.target }, m.target);
    m.run_loop();
    m.host.hook(Hook::OnExit, m.target);
    // A new master started by USR2 serves on the same socket files: leave them to it.
    if m.s.vacuum && m.reexec_child.is_none() {
        for l in &m.listeners {
            crate::listener::vacuum(l);
        }
    }
    if let Some(p) = &m.s.pidfile {
        remove_pidfile_if_ours(p, m.pid);
    }
    log::info(&format!(
        "Shutting down: Master (exit status {})",
        m.exit_code
    ));
    m.exit_code
}

/// Write `pid` to `path` atomically (temp file + rename). The master removes it on exit.
pub fn write_pidfile(path: &std::path::Path, pid: u32) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{pid}"));
    std::fs::write(&tmp, format!("{pid}\n"))?;
    std::fs::rename(&tmp, path)
}

fn remove_pidfile_if_ours(path: &std::path::Path, pid: u32) {
    if let Ok(s) = std::fs::read_to_string(path) {
        if s.trim() == pid.to_string() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Become `group` then `user` (supplementary groups reduced to `group`).
fn drop_privileges(user: Option<u32>, group: Option<u32>) -> nix::Result<()> {
    if let Some(g) = group {
        let gid = nix::unistd::Gid::from_raw(g);
        nix::unistd::setgroups(&[gid])?;
        nix::unistd::setgid(gid)?;
    }
    if let Some(u) = user {
        nix::unistd::setuid(nix::unistd::Uid::from_raw(u))?;
    }
    Ok(())
}

/// A random-ish number in `0..=n` without a RNG dependency (jitter only needs spread).
fn jitter(n: u64, salt: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut x = now_ms() ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(std::process::id());
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x % (n + 1)
}

impl Master<'_> {
    /// A master started by USR2 takes over the plain pidfile once the old master has exited.
    fn maybe_promote(&mut self, ppid: Pid) {
        let Some(target) = self.s.promote_pidfile_to.clone() else {
            return;
        };
        if nix::unistd::getppid() == ppid {
            return;
        }
        if let Some(cur) = &self.s.pidfile {
            if std::fs::rename(cur, &target).is_ok() {
                log::info(&format!(
                    "The old master is gone: pidfile is now {}",
                    target.display()
                ));
                self.s.pidfile = Some(target);
            }
        }
        self.s.promote_pidfile_to = None;
    }

    fn run_loop(&mut self) {
        let ppid = nix::unistd::getppid();
        let tick = Duration::from_millis(200);
        loop {
            self.reap();
            if let Some(stop) = &self.stop {
                if self.workers.is_empty() {
                    return;
                }
                let deadline = match stop {
                    Stop::Graceful(d) | Stop::Quick(d) => *d,
                };
                if Instant::now() >= deadline {
                    for w in &self.workers {
                        let _ = kill(w.pid, Signal::SIGKILL);
                    }
                }
            } else {
                self.check_timeouts();
                self.scale();
                self.maintain();
                self.maybe_promote(ppid);
            }
            self.wait(tick);
            let sigs = self.pipe.as_ref().map(|p| p.drain()).unwrap_or_default();
            for sig in sigs {
                self.on_signal(sig);
            }
        }
    }

    fn wait(&self, timeout: Duration) {
        let Some(pipe) = &self.pipe else { return };
        let mut fds = [PollFd::new(pipe.fd(), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(timeout.as_millis() as i32).unwrap_or(PollTimeout::MAX);
        match nix::poll::poll(&mut fds, ms) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => log::error(&format!("master poll failed: {e}")),
        }
    }

    fn on_signal(&mut self, sig: i32) {
        let Ok(sig) = Signal::try_from(sig) else {
            return;
        };
        match sig {
            Signal::SIGCHLD => {}
            Signal::SIGTERM => self.begin_stop(true),
            Signal::SIGINT | Signal::SIGQUIT => self.begin_stop(false),
            Signal::SIGHUP => self.reload(),
            Signal::SIGTTIN | Signal::SIGTTOU => {
                let old = self.target;
                self.resize(sig);
                self.target_changed(old);
            }
            Signal::SIGUSR1 => {
                log::info("Handling signal: usr1: reopening log files");
                if let Err(e) = log::reopen() {
                    log::error(&format!("cannot reopen the error log: {e}"));
                }
                for w in &self.workers {
                    let _ = kill(w.pid, Signal::SIGUSR1);
                }
            }
            Signal::SIGUSR2 => self.reexec(),
            Signal::SIGWINCH => {
                if self.s.daemon || self.reexec_child.is_some() {
                    log::info("Handling signal: winch: stopping all workers gracefully");
                    self.target = 0;
                    for w in &mut self.workers {
                        if !w.retiring {
                            w.retiring = true;
                            let _ = kill(w.pid, Signal::SIGTERM);
                        }
                    }
                } else {
                    log::debug("SIGWINCH ignored: not daemonized");
                }
            }
            _ => {}
        }
    }

    /// Tell the `nworkers_changed` hook when the target moved away from `old`.
    fn target_changed(&self, old: u32) {
        if self.target != old {
            self.host.hook(
                Hook::NworkersChanged {
                    new: self.target,
                    old,
                },
                self.target,
            );
        }
    }

    /// TTIN/TTOU: one worker more or fewer, within the limits.
    fn resize(&mut self, sig: Signal) {
        match sig {
            Signal::SIGTTIN => {
                let max = self
                    .s
                    .dynamic
                    .map(|d| d.max)
                    .unwrap_or(MAX_WORKERS as u32)
                    .min(MAX_WORKERS as u32);
                if self.target < max {
                    self.target += 1;
                    log::info(&format!(
                        "Handling signal: ttin: now {} workers",
                        self.target
                    ));
                } else {
                    log::warning(&format!(
                        "Handling signal: ttin: already at the maximum of {max} workers"
                    ));
                }
            }
            Signal::SIGTTOU => {
                let min = self.s.dynamic.map(|d| d.min).unwrap_or(1).max(1);
                if self.target > min {
                    self.target -= 1;
                    log::info(&format!(
                        "Handling signal: ttou: now {} workers",
                        self.target
                    ));
                } else {
                    log::warning(&format!(
                        "Handling signal: ttou: already at the minimum of {min} workers"
                    ));
                }
            }
            _ => {}
        }
    }

    fn begin_stop(&mut self, graceful: bool) {
        if graceful {
            if self.stop.is_none() {
                log::info("Handling signal: term: stopping gracefully");
                self.stop = Some(Stop::Graceful(Instant::now() + self.s.graceful_timeout));
                for w in &self.workers {
                    let _ = kill(w.pid, Signal::SIGTERM);
                }
            }
        } else {
            log::info("Handling signal: quick stop");
            self.stop = Some(Stop::Quick(Instant::now() + Duration::from_secs(1)));
            for w in &self.workers {
                let _ = kill(w.pid, Signal::SIGQUIT);
            }
        }
    }

    /// HUP: a new generation of workers; the old one is retired once the new one has booted.
    fn reload(&mut self) {
        self.generation += 1;
        if let Some((ms, ws)) = self.host.reload_settings() {
            self.apply_settings(ms, ws);
        }
        self.host.hook(Hook::OnReload, self.target);
        log::info(&format!(
            "Handling signal: hup: reloading (generation {})",
            self.generation
        ));
        if self.target == 0 {
            // After WINCH stopped every worker, HUP brings the configured number back.
            self.target = self.s.workers.max(1);
        }
        for _ in 0..self.target {
            self.spawn();
        }
    }

    /// Take over re-read settings. Sockets, the pidfile, daemon mode, user/group and the
    /// scoreboard size stay as they were (changing them needs a restart or USR2).
    fn apply_settings(&mut self, mut ms: MasterSettings, ws: WorkerSettings) {
        ms.pidfile = self.s.pidfile.take();
        ms.promote_pidfile_to = self.s.promote_pidfile_to.take();
        ms.reexec_argv = std::mem::take(&mut self.s.reexec_argv);
        ms.daemon = self.s.daemon;
        ms.user = self.s.user;
        ms.group = self.s.group;
        ms.vacuum = self.s.vacuum;
        if ms.threads > self.s.threads {
            log::warning("HUP: more threads than at start: the extra threads are not watched by --harakiri until a restart");
        }
        ms.threads = self.s.threads.max(ms.threads);
        if ms.dynamic.is_none() && ms.workers != self.s.workers {
            self.target = ms.workers.max(1);
        }
        log::info(&format!(
            "Configuration reloaded: {} workers x {} threads",
            self.target, ws.threads
        ));
        self.s = ms;
        self.wsettings = ws;
    }

    /// USR2: exec a new master that inherits our listening sockets; we keep running (WINCH then
    /// QUIT/TERM on us completes the upgrade).
    fn reexec(&mut self) {
        if self.reexec_child.is_some() {
            log::warning("USR2 ignored: a new master is already running");
            return;
        }
        let fds: Vec<RawFd> = self.listeners.iter().map(|l| l.sock.as_raw_fd()).collect();
        let args: Vec<CString> = self
            .s
            .reexec_argv
            .iter()
            .filter_map(|a| CString::new(a.clone().into_encoded_bytes()).ok())
            .collect();
        let Some(exe_c) = args.first().cloned() else {
            log::error("USR2: no command line to re-execute");
            return;
        };
        match self.fork_clean() {
            Ok(None) => {
                // Child: keep the listeners across exec, tell the new master where they are.
                for &fd in &fds {
                    let _ = nix::fcntl::fcntl(
                        // SAFETY: `fd` is one of our listeners, open in this process.
                        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
                        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                    );
                }
                // `FD:PROTOCOL` per listener, so uwsgi sockets stay uwsgi in the new master.
                let list = self
                    .listeners
                    .iter()
                    .map(|l| format!("{}:{}", l.sock.as_raw_fd(), l.front.name()))
                    .collect::<Vec<_>>()
                    .join(",");
                let mut env: Vec<CString> = std::env::vars_os()
                    .filter(|(k, _)| k != INHERIT_ENV && k != "FERROCORN_PIDFILE_SUFFIX")
                    .filter_map(|(k, v)| {
                        let mut kv = k.into_encoded_bytes();
                        kv.push(b'=');
                        kv.extend(v.into_encoded_bytes());
                        CString::new(kv).ok()
                    })
                    .collect();
                env.extend(CString::new(format!("{INHERIT_ENV}={list}")).ok());
                env.extend(CString::new("FERROCORN_PIDFILE_SUFFIX=.2").ok());
                let _ = SignalPipe::reset(CAUGHT);
                self.host.hook(Hook::PreExec, self.target);
                log::flush();
                let err = nix::unistd::execve(&exe_c, &args, &env);
                log::critical(&format!("USR2: exec failed: {err:?}"));
                log::flush();
                std::process::exit(1);
            }
            Ok(Some(pid)) => {
                log::info(&format!(
                    "Handling signal: usr2: started a new master (pid {pid})"
                ));
                self.reexec_child = Some(Pid::from_raw(pid));
                // As in gunicorn, <pidfile> keeps naming this (old) master until it exits; the new
                // one writes <pidfile>.2 and takes the plain name over then.
            }
            Err(e) => log::error(&format!("USR2: fork failed: {e}")),
        }
    }

    /// Fork with every signal blocked across the fork. The child drops the master's signal
    /// handling (default dispositions, pipe closed) before unblocking, so a signal meant for the
    /// new process can never run the master's handler there and land in the master's pipe (a TERM
    /// sent to a just-forked worker once stopped the whole server).
    ///
    /// The log lines queued so far are written first, so they come before anything the child logs
    /// (and a pending USR1 reopen has happened before the child inherits the descriptor).
    fn fork_clean(&mut self) -> io::Result<Option<i32>> {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
        log::flush();
        let mut old = SigSet::empty();
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut old));
        let res = self.host.fork();
        if let Ok(None) = res {
            let _ = SignalPipe::reset(CAUGHT);
            self.pipe = None;
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        res
    }

    fn free_slot(&self) -> Option<usize> {
        (0..MAX_WORKERS).find(|i| !self.workers.iter().any(|w| w.slot == *i))
    }

    fn spawn(&mut self) {
        let Some(slot) = self.free_slot() else {
            log::error("no free worker slot");
            return;
        };
        self.board.claim(slot, now_ms());
        self.host.hook(Hook::PreFork { slot }, self.target);
        match self.fork_clean() {
            Ok(None) => {
                let code = self.worker_main(slot);
                self.host.hook(Hook::WorkerExit { slot }, self.target);
                self.host.worker_exit();
                log::flush();
                std::process::exit(code);
            }
            Ok(Some(pid)) => {
                log::info(&format!("Booting worker with pid: {pid}"));
                if let Some(w) = self.board.worker(slot) {
                    w.pid.store(pid, std::sync::atomic::Ordering::Relaxed);
                }
                self.workers.push(Worker {
                    pid: Pid::from_raw(pid),
                    slot,
                    spawned: Instant::now(),
                    generation: self.generation,
                    retiring: false,
                    kill_at: None,
                    idle_since: None,
                });
            }
            Err(e) => {
                log::error(&format!("fork failed: {e}"));
                self.next_spawn = Instant::now() + Duration::from_secs(1);
            }
        }
    }

    /// The forked child's whole life as a worker; returns its exit status.
    fn worker_main(&mut self, slot: usize) -> i32 {
        // Drop the master's signal pipe; the worker installs its own handlers.
        let _ = SignalPipe::reset(CAUGHT);
        self.pipe = None;
        self.host
            .set_title(&format!("ferrocorn: worker [{}]", self.s.proc_name));
        if let Err(e) = drop_privileges(self.s.user, self.s.group) {
            log::critical(&format!("cannot switch user/group: {e}"));
            return WORKER_BOOT_ERROR;
        }
        self.host.hook(Hook::PostFork { slot }, self.target);
        let Some(app) = self.host.boot() else {
            return WORKER_BOOT_ERROR;
        };
        self.host.hook(Hook::PostWorkerInit { slot }, self.target);
        let Some(handle) = self.board.handle(slot) else {
            return 1;
        };
        let mut settings = self.wsettings.clone();
        settings.ctl = Some(WorkerCtl {
            handle,
            max_requests: if self.s.max_requests > 0 {
                self.s.max_requests + jitter(self.s.max_requests_jitter, slot as u64)
            } else {
                0
            },
            reload_on_rss: self.s.reload_on_rss,
            parent: self.pid as i32,
            slot,
        });
        let listeners = std::mem::take(&mut self.listeners);
        log::info(&format!("Worker booted (pid: {})", std::process::id()));
        match worker::run(settings, listeners, app) {
            Ok(()) => {
                log::info(&format!("Worker exiting (pid: {})", std::process::id()));
                0
            }
            Err(e) => {
                log::error(&format!("worker failed: {e}"));
                1
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let (pid, code, how) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    (pid, Some(code), format!("exited with code {code}"))
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    (pid, None, format!("was killed by {sig}"))
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    log::error(&format!("waitpid failed: {e}"));
                    return;
                }
            };
            if Some(pid) == self.reexec_child {
                log::warning(&format!("The new master (pid {pid}) {how}"));
                self.reexec_child = None;
                continue;
            }
            let Some(i) = self.workers.iter().position(|w| w.pid == pid) else {
                continue;
            };
            let w = self.workers.swap_remove(i);
            self.host.hook(
                Hook::ChildExit {
                    pid: pid.as_raw(),
                    slot: w.slot,
                },
                self.target,
            );
            if code == Some(WORKER_BOOT_ERROR) && self.stop.is_none() {
                log::critical(&format!("Worker (pid:{pid}) failed to boot: the application could not be loaded; shutting down"));
                self.exit_code = APP_LOAD_ERROR;
                self.begin_stop(false);
                continue;
            }
            if w.retiring || self.stop.is_some() {
                log::info(&format!("Worker (pid:{pid}) {how}"));
                continue;
            }
            if code == Some(0) {
                // Recycled itself (max-requests, reload-on-rss): replace it at once.
                log::info(&format!("Worker (pid:{pid}) recycled"));
                continue;
            }
            log::error(&format!("Worker (pid:{pid}) {how}; starting a replacement"));
            if w.spawned.elapsed() < Duration::from_secs(1) {
                // Crashing right after start: back off so a broken app cannot spin the CPU.
                self.backoff =
                    (self.backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(10));
                self.next_spawn = Instant::now() + self.backoff;
                log::warning(&format!(
                    "Worker died during start-up; next start in {:?}",
                    self.backoff
                ));
            } else {
                self.backoff = Duration::ZERO;
            }
        }
    }

    /// Timeout (whole worker silent) and harakiri (one request too long): ask for a stack dump,
    /// then kill a second later.
    fn check_timeouts(&mut self) {
        let now = now_ms();
        let timeout_ms = self.s.timeout.as_millis() as u64;
        let harakiri_ms = self.s.harakiri.map(|h| h.as_millis() as u64);
        for w in &mut self.workers {
            if let Some(at) = w.kill_at {
                if Instant::now() >= at {
                    let _ = kill(w.pid, Signal::SIGKILL);
                    w.kill_at = Some(at + Duration::from_secs(5));
                }
                continue;
            }
            let Some(slot) = self.board.worker(w.slot) else {
                continue;
            };
            let booted = slot.booted.load(std::sync::atomic::Ordering::Relaxed);
            let silent =
                now.saturating_sub(slot.last_beat.load(std::sync::atomic::Ordering::Relaxed));
            let mut reason = None;
            if timeout_ms > 0 && silent > timeout_ms {
                reason = Some(format!(
                    "WORKER TIMEOUT (pid:{}): silent for {:.1}s",
                    w.pid,
                    silent as f64 / 1000.0
                ));
            } else if let Some(limit) = harakiri_ms {
                for t in self.board.threads_of(w.slot) {
                    if let Some(busy) = t.busy_for(now) {
                        if busy > limit {
                            reason = Some(format!(
                                "HARAKIRI (pid:{}): request \"{}\" running for {:.1}s",
                                w.pid,
                                t.describe(),
                                busy as f64 / 1000.0
                            ));
                            break;
                        }
                    }
                }
            }
            if let Some(r) = reason {
                log::critical(&format!("{r}; dumping stacks and killing the worker"));
                // SIGUSR2 makes a booted worker write every Python thread's stack to the error log.
                let sig = if booted {
                    Signal::SIGUSR2
                } else {
                    Signal::SIGKILL
                };
                let _ = kill(w.pid, sig);
                w.retiring = true;
                w.kill_at = Some(Instant::now() + Duration::from_millis(1000));
                // The replacement can start now; the slot stays taken until the old one is reaped.
            }
        }
    }

    /// Dynamic workers: keep between min_spare and max_spare idle workers, checked once a second.
    fn scale(&mut self) {
        let Some(d) = self.s.dynamic else { return };
        if self.last_scale.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_scale = Instant::now();
        let old = self.target;
        self.scale_dynamic(d);
        self.target_changed(old);
    }

    fn scale_dynamic(&mut self, d: Dynamic) {
        let now = now_ms();
        let mut idle = 0u32;
        for w in &mut self.workers {
            if w.retiring {
                continue;
            }
            let booted = self
                .board
                .worker(w.slot)
                .is_some_and(|s| s.booted.load(std::sync::atomic::Ordering::Relaxed));
            let busy = self
                .board
                .threads_of(w.slot)
                .iter()
                .any(|t| t.busy_for(now).is_some());
            if booted && !busy {
                idle += 1;
                w.idle_since.get_or_insert_with(Instant::now);
            } else {
                w.idle_since = None;
            }
        }
        let active = self.workers.iter().filter(|w| !w.retiring).count() as u32;
        if idle < d.min_spare && active < d.max {
            self.short_ticks += 1;
            let add = (1u32 << (self.short_ticks - 1).min(5)).min(d.max - active);
            self.target = (active + add).min(d.max);
            log::info(&format!(
                "dynamic: {idle} idle worker(s) < min_spare {}: going to {} workers",
                d.min_spare, self.target
            ));
        } else {
            self.short_ticks = 0;
            if idle > d.max_spare && active > d.min.max(1) {
                self.target = active - 1;
                if let Some(w) = self
                    .workers
                    .iter_mut()
                    .filter(|w| !w.retiring && w.idle_since.is_some())
                    .min_by_key(|w| w.idle_since)
                {
                    log::info(&format!(
                        "dynamic: {idle} idle worker(s) > max_spare {}: retiring pid {}",
                        d.max_spare, w.pid
                    ));
                    w.retiring = true;
                    let _ = kill(w.pid, Signal::SIGTERM);
                }
            }
        }
    }

    /// Keep `target` live workers of the current generation; retire the old generation once the
    /// new one is up; retire surplus workers (oldest first).
    fn maintain(&mut self) {
        for w in &mut self.workers {
            if !w.retiring
                && self
                    .board
                    .worker(w.slot)
                    .is_some_and(|s| s.retiring.load(std::sync::atomic::Ordering::Relaxed))
            {
                w.retiring = true;
            }
        }
        let gen = self.generation;
        let current: Vec<usize> = (0..self.workers.len())
            .filter(|&i| !self.workers[i].retiring && self.workers[i].generation == gen)
            .collect();
        let booted_current = current
            .iter()
            .filter(|&&i| {
                self.board
                    .worker(self.workers[i].slot)
                    .is_some_and(|s| s.booted.load(std::sync::atomic::Ordering::Relaxed))
            })
            .count() as u32;
        // Old generation: retire once the new one has booted (rolling reload, no gap in service).
        if booted_current >= self.target.min(current.len() as u32) {
            for w in &mut self.workers {
                if w.generation != gen && !w.retiring {
                    w.retiring = true;
                    let _ = kill(w.pid, Signal::SIGTERM);
                }
            }
        }
        let live = current.len() as u32;
        if live < self.target && Instant::now() >= self.next_spawn {
            for _ in live..self.target {
                self.spawn();
            }
        } else if live > self.target {
            let mut surplus = live - self.target;
            let mut order: Vec<usize> = current;
            order.sort_by_key(|&i| self.workers[i].spawned);
            for i in order {
                if surplus == 0 {
                    break;
                }
                let w = &mut self.workers[i];
                w.retiring = true;
                let _ = kill(w.pid, Signal::SIGTERM);
                surplus -= 1;
            }
        }
    }
}
