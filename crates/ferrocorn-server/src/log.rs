//! The error log: gunicorn's line format (`[time] [pid] [LEVEL] message`). Messages are formatted
//! on the calling thread and written by this process's log writer thread (`log_writer`), whole, so
//! lines from several threads or processes never interleave and a slow disk never blocks the caller
//! for long.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::log_writer::{self, LogWriter, Target};

pub use ferrocorn_config::LogLevel;

struct ErrorLog {
    level: LogLevel,
    writer: LogWriter,
}

static LOG: OnceLock<ErrorLog> = OnceLock::new();

/// How long `flush` waits for the log writers at most (a stalled disk must not stop an exit).
pub const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Set up the error log (`-` = stderr). Only the first call counts.
pub fn init(path: &str, level: LogLevel) -> std::io::Result<()> {
    let (target, label) = match path {
        "-" => (Target::Stderr, "error log (stderr)".to_string()),
        p => (Target::File(p.to_string()), format!("error log {p}")),
    };
    let writer = LogWriter::open(target, label, Box::new(warning))?;
    let _ = LOG.set(ErrorLog { level, writer });
    Ok(())
}

/// Reopen the log file (after logrotate moved it), in order with the lines already queued. The new
/// file takes over the old descriptor number (dup2), so anything holding that number (faulthandler's
/// stack dumps) follows.
pub fn reopen() -> std::io::Result<()> {
    match LOG.get() {
        Some(log) => {
            log.writer.reopen()?;
            if CAPTURING.load(std::sync::atomic::Ordering::Relaxed) {
                // stdout/stderr follow the error log to its new file (like gunicorn): once the
                // queued reopen is done, point them at the descriptor again.
                log.writer.flush(std::time::Duration::from_millis(500));
                point_stdio_at_log();
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// `--capture-output` is on: stdout and stderr are the error log file.
static CAPTURING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--capture-output`: send the process's stdout and stderr (the app's `print()`, stray C-level
/// writes) to the error log file, now and again after every reopen. Only meaningful when the
/// error log is a file; does nothing when it is stderr. Returns whether output is captured.
pub fn capture_output() -> bool {
    if fd() == 2 {
        return false;
    }
    CAPTURING.store(true, std::sync::atomic::Ordering::Relaxed);
    point_stdio_at_log();
    true
}

fn point_stdio_at_log() {
    for target in [1, 2] {
        // SAFETY: dup2 of our open error-log descriptor onto stdout/stderr; no memory involved.
        unsafe {
            libc::dup2(fd(), target);
        }
    }
}

/// The error log's file descriptor (2 when it is stderr).
pub fn fd() -> i32 {
    LOG.get().map(|l| l.writer.fd()).unwrap_or(2)
}

/// Wait (at most [`FLUSH_WAIT`]) until every log line this process queued so far — error log and
/// access logs — is written. Called before every `exit` and before `fork`.
pub fn flush() {
    log_writer::flush_all(FLUSH_WAIT);
}

/// Whether messages of `level` are written.
pub fn enabled(level: LogLevel) -> bool {
    level >= LOG.get().map(|l| l.level).unwrap_or(LogLevel::Info)
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2026-11-24 21:15:00 +0000`, in local time like gunicorn.
pub fn timestamp(now: SystemTime) -> String {
    let utc = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let offset = crate::clock::utc_offset(utc);
    let secs = utc + offset;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} {}",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        crate::clock::format_offset(offset)
    )
}

/// Write one message (may span lines, e.g. a traceback) at `level`.
pub fn log(level: LogLevel, msg: &str) {
    if !enabled(level) {
        return;
    }
    let mut line = format!(
        "[{}] [{}] [{}] {}",
        timestamp(SystemTime::now()),
        std::process::id(),
        level.name(),
        msg
    );
    if !line.ends_with('\n') {
        line.push('\n');
    }
    write_raw(line.as_bytes());
}

/// Write bytes to the error log as they are (whole, in one write).
pub fn write_raw(bytes: &[u8]) {
    match LOG.get() {
        Some(log) => {
            log.writer.send(bytes);
        }
        None => {
            let _ = log_writer::write_stderr(bytes);
        }
    }
}

pub fn debug(msg: &str) {
    log(LogLevel::Debug, msg)
}
pub fn info(msg: &str) {
    log(LogLevel::Info, msg)
}
pub fn warning(msg: &str) {
    log(LogLevel::Warning, msg)
}
pub fn error(msg: &str) {
    log(LogLevel::Error, msg)
}
pub fn critical(msg: &str) {
    log(LogLevel::Critical, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00 +0000");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_554_900);
        assert_eq!(timestamp(t), "2026-11-24 21:15:00 +0000");
        let leap = UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "2000-02-29 00:00:00 +0000");
    }
}
