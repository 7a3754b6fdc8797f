//! Signals through a self-pipe: the handler only writes the signal number to a pipe; the master's
//! or worker's loop reads it and acts outside signal context.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use nix::sys::signal::{self, SigHandler, Signal};

/// Write end of the current self-pipe (-1 = none).
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

/// An async-signal-safe function called after the pipe write for INT and QUIT (0 = none): lets
/// the app host interrupt a request that keeps busy the only thread that would read the pipe.
static INTERRUPT_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Set (or clear) the INT/QUIT hook. It runs in signal context: it must be async-signal-safe.
/// Signals whose default action would kill or stop a master that has announced its addresses but
/// not yet installed its handlers (USR2, HUP, USR1 terminate; TTIN, TTOU stop). Held pending from
/// just before the listeners are announced until [`release_startup_signals`].
pub const STARTUP_HELD: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGWINCH,
];

/// Block [`STARTUP_HELD`] on this thread: one sent while the master starts waits for its handlers.
pub fn hold_startup_signals() {
    let set: signal::SigSet = STARTUP_HELD.iter().copied().collect();
    let _ = signal::pthread_sigmask(signal::SigmaskHow::SIG_BLOCK, Some(&set), None);
}

/// Unblock [`STARTUP_HELD`] once the handlers are in place; pending ones are delivered now.
pub fn release_startup_signals() {
    let set: signal::SigSet = STARTUP_HELD.iter().copied().collect();
    let _ = signal::pthread_sigmask(signal::SigmaskHow::SIG_UNBLOCK, Some(&set), None);
}

pub fn set_interrupt_hook(hook: Option<extern "C" fn(libc::c_int)>) {
    INTERRUPT_HOOK.store(hook.map_or(0, |f| f as usize), Ordering::Release);
}

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; `b` lives for the call; errors are ignored on purpose.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
    if sig == libc::SIGINT || sig == libc::SIGQUIT {
        let hook = INTERRUPT_HOOK.load(Ordering::Acquire);
        if hook != 0 {
            // SAFETY: the only non-zero values stored are `extern "C" fn(c_int)` pointers
            // (`set_interrupt_hook`), which stay valid for the life of the process.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(hook) };
            f(sig);
        }
    }
}

/// The process's signal pipe. Only one is active at a time (a forked worker replaces the master's).
pub struct SignalPipe {
    rx: OwnedFd,
    _tx: OwnedFd,
}

/// Set the disposition of `sigs` (catch into the pipe, ignore, or default).
fn set(sigs: &[Signal], handler: SigHandler) -> io::Result<()> {
    let action = signal::SigAction::new(
        handler,
        signal::SaFlags::SA_RESTART,
        signal::SigSet::empty(),
    );
    for &sig in sigs {
        // SAFETY: the only handler we install (`on_signal`) is async-signal-safe; SIG_IGN/SIG_DFL run no code.
        unsafe { signal::sigaction(sig, &action) }.map_err(io::Error::from)?;
    }
    Ok(())
}

impl SignalPipe {
    /// Catch `catch` into a new pipe, ignore `ignore`, restore the default for `default`.
    pub fn install(
        catch: &[Signal],
        ignore: &[Signal],
        default: &[Signal],
    ) -> io::Result<SignalPipe> {
        let flags = nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC;
        let (rx, tx) = nix::unistd::pipe2(flags).map_err(io::Error::from)?;
        SIGNAL_FD.store(tx.as_raw_fd(), Ordering::Relaxed);
        set(catch, SigHandler::Handler(on_signal))?;
        set(ignore, SigHandler::SigIgn)?;
        set(default, SigHandler::SigDfl)?;
        Ok(SignalPipe { rx, _tx: tx })
    }

    /// Restore default dispositions (e.g. in a freshly forked child before it sets its own).
    pub fn reset(sigs: &[Signal]) -> io::Result<()> {
        SIGNAL_FD.store(-1, Ordering::Relaxed);
        set(sigs, SigHandler::SigDfl)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }

    /// Signals received since the last call, in order.
    pub fn drain(&self) -> Vec<i32> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n) = nix::unistd::read(self.rx.as_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            out.extend(buf[..n].iter().map(|&b| i32::from(b)));
            if n < buf.len() {
                break;
            }
        }
        out
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        SIGNAL_FD.store(-1, Ordering::Relaxed);
    }
}
