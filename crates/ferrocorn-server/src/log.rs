//! The error log: gunicorn's line format (`[time] [pid] [LEVEL] message`), one `write` per message
//! so lines from several threads or processes never interleave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use ferrocorn_config::LogLevel;

struct ErrorLog {
    level: LogLevel,
    /// `None` = stderr.
    path: Option<String>,
    file: RwLock<Option<File>>,
}

static LOG: OnceLock<ErrorLog> = OnceLock::new();

/// Set up the error log (`-` = stderr). Only the first call counts.
pub fn init(path: &str, level: LogLevel) -> std::io::Result<()> {
    let path = (path != "-").then(|| path.to_string());
    let file = match &path {
        Some(p) => Some(OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    let _ = LOG.set(ErrorLog {
        level,
        path,
        file: RwLock::new(file),
    });
    Ok(())
}

/// Reopen the log file (after logrotate moved it). The new file takes over the old descriptor
/// number (dup2), so anything holding that number (faulthandler's stack dumps) follows.
pub fn reopen() -> std::io::Result<()> {
    if let Some(log) = LOG.get() {
        if let Some(p) = &log.path {
            let new = OpenOptions::new().create(true).append(true).open(p)?;
            if let Ok(mut slot) = log.file.write() {
                match slot.as_ref() {
                    Some(old) => {
                        use std::os::fd::AsRawFd;
                        // SAFETY: both descriptors are open files this process owns; dup2 atomically
                        // re-points the old number at the new file (no memory is involved).
                        if unsafe { libc::dup2(new.as_raw_fd(), old.as_raw_fd()) } < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        // `new` (its own number) is closed when dropped; `old`'s number stays.
                    }
                    None => *slot = Some(new),
                }
            }
        }
    }
    Ok(())
}

/// The error log's file descriptor (2 when it is stderr).
pub fn fd() -> i32 {
    use std::os::fd::AsRawFd;
    LOG.get()
        .and_then(|l| {
            l.file
                .read()
                .ok()
                .and_then(|f| f.as_ref().map(|f| f.as_raw_fd()))
        })
        .unwrap_or(2)
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

/// Write bytes to the error log as they are (one write call).
pub fn write_raw(bytes: &[u8]) {
    if let Some(log) = LOG.get() {
        if let Ok(slot) = log.file.read() {
            if let Some(mut f) = slot.as_ref() {
                let _ = f.write_all(bytes);
                return;
            }
        }
    }
    let _ = std::io::stderr().lock().write_all(bytes);
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
