//! Local time for log lines: gunicorn writes both logs in the server's local time zone (`%z`),
//! so ferrocorn does too. The zone comes from the C library (`TZ`, `/etc/localtime`).

/// Offset of local time from UTC at `secs` since the epoch, in seconds (0 if unknown).
pub fn utc_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain data filled by localtime_r, which is thread-safe and only reads `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r writes only into `tm`.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        tm.tm_gmtoff
    } else {
        0
    }
}

/// `+HHMM` / `-HHMM` for an offset in seconds.
pub fn format_offset(offset: i64) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let m = offset.unsigned_abs() / 60;
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_format_like_strftime_z() {
        assert_eq!(format_offset(0), "+0000");
        assert_eq!(format_offset(3600), "+0100");
        assert_eq!(format_offset(-(5 * 3600 + 30 * 60)), "-0530");
        // Whatever the machine's zone, the offset is within a day.
        assert!(utc_offset(1_700_000_000).abs() < 86_400);
    }
}
