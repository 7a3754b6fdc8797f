//! When the items of an app's iterable are held back to leave in one `writev`.
//!
//! Each write wakes the client, and on a VM a wake-up (an inter-processor interrupt, a hypervisor
//! exit) costs more than copying 64 KiB: a 1 MiB body yielded as 16 items of 64 KiB took 16
//! writes and ran at a third of the speed of the same body in 2 writes. So items that the app
//! produces quickly are held and sent together — but only where no one waits on a single item:
//!
//! - only a body with a Content-Length (the client waits for all of it anyway; a body without
//!   one may be a live stream, such as server-sent events, whose items must not wait);
//! - never the first item, which leaves at once with the head;
//! - only an item that came within [`HOLD_WAIT`] of the previous one: an app that pauses between
//!   items is sent item by item;
//! - the item that completes the body releases everything, so the response ends no later than
//!   without holding.
//!
//! Held items also leave at [`HOLD_BYTES`] or [`HOLD_ITEMS`], when the next item finds the oldest
//! has waited `HOLD_WAIT`, and (the caller's part) when the iterable ends or fails and before
//! any other write. An item waits at most `HOLD_WAIT` plus the time the app takes to produce one
//! more. This module decides; the caller owns the held items (Python objects, in ferrocorn-py).

use std::time::{Duration, Instant};

/// Held items leave once they reach this many bytes...
pub const HOLD_BYTES: usize = 1024 * 1024;
/// ...or this many items (far below `IOV_MAX`)...
pub const HOLD_ITEMS: usize = 128;
/// ...or once the oldest has waited this long when the next item comes. Also the longest gap
/// between two items for the second to be held at all.
pub const HOLD_WAIT: Duration = Duration::from_millis(1);

/// What to do with an item offered to [`Holding::offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Not held: send it now, as usual (nothing is held at this point).
    SendNow,
    /// Keep it with the held items.
    Keep,
    /// Keep it, then send all held items (this one last) in one write.
    KeepAndRelease,
}

/// The holding state of one response.
#[derive(Debug, Default)]
pub struct Holding {
    bytes: usize,
    items: usize,
    /// When the oldest held item came.
    since: Option<Instant>,
    /// When the previous item came (held or not).
    last_item: Option<Instant>,
}

impl Holding {
    /// Offer the next non-empty item of `len` bytes, come at `now`. `body_left`: the body bytes
    /// the response still owes by its Content-Length, not counting held ones; `None` when the
    /// response cannot hold (no Content-Length, head not yet committed).
    pub fn offer(&mut self, now: Instant, len: usize, body_left: Option<u64>) -> Hold {
        let quick = self
            .last_item
            .is_some_and(|t| now.saturating_duration_since(t) < HOLD_WAIT);
        self.last_item = Some(now);
        let Some(left) = body_left.filter(|&n| n > 0) else {
            return Hold::SendNow;
        };
        let completes = (self.bytes + len) as u64 >= left;
        if self.items == 0 && (completes || !quick) {
            return Hold::SendNow;
        }
        let since = *self.since.get_or_insert(now);
        self.bytes += len;
        self.items += 1;
        if completes
            || self.bytes >= HOLD_BYTES
            || self.items >= HOLD_ITEMS
            || now.saturating_duration_since(since) >= HOLD_WAIT
        {
            Hold::KeepAndRelease
        } else {
            Hold::Keep
        }
    }

    /// The held items were sent (or dropped): start afresh.
    pub fn released(&mut self) {
        self.bytes = 0;
        self.items = 0;
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);
    /// The first item sent with the head, three held, the fourth released with them.
    const THREE_HELD_THEN_RELEASE: &[Hold] = &[
        Hold::SendNow,
        Hold::Keep,
        Hold::Keep,
        Hold::Keep,
        Hold::KeepAndRelease,
    ];

    /// Offer items of `len` bytes `gap` apart to a response owing `total` body bytes, the first
    /// sent with the head (as the caller does: not yet committed, so `None`).
    fn run(total: u64, len: usize, gap: Duration, n: usize) -> Vec<Hold> {
        let mut h = Holding::default();
        let t0 = Instant::now();
        let mut sent = 0u64;
        let mut out = Vec::new();
        for i in 0..n {
            let now = t0 + gap * i as u32;
            let left = if i == 0 { None } else { Some(total - sent) };
            let step = h.offer(now, len, left);
            match step {
                Hold::SendNow => sent += len as u64,
                Hold::Keep => {}
                Hold::KeepAndRelease => {
                    sent = (i as u64 + 1) * len as u64;
                    h.released();
                }
            }
            out.push(step);
        }
        out
    }

    #[test]
    fn quick_items_are_held_and_the_last_releases_them() {
        // 16 x 64 KiB produced 10 us apart: first with the head, 14 held, the 16th sends them.
        let steps = run(16 * 65536, 65536, 10 * US, 16);
        assert_eq!(steps[0], Hold::SendNow);
        assert!(steps[1..15].iter().all(|s| *s == Hold::Keep), "{steps:?}");
        assert_eq!(steps[15], Hold::KeepAndRelease);
    }

    #[test]
    fn slow_items_go_out_one_by_one() {
        let steps = run(10 * 100, 100, 5 * HOLD_WAIT, 10);
        assert!(steps.iter().all(|s| *s == Hold::SendNow), "{steps:?}");
    }

    #[test]
    fn the_oldest_waits_at_most_hold_wait_when_items_keep_coming() {
        // Items 400 us apart: each is quick, but the held ones leave once the oldest is 1 ms old.
        let steps = run(1_000_000, 100, 400 * US, 12);
        assert_eq!(&steps[..5], THREE_HELD_THEN_RELEASE);
    }

    #[test]
    fn bytes_and_item_limits_release() {
        let steps = run(64 << 20, HOLD_BYTES / 4, US, 6);
        assert_eq!(&steps[..5], THREE_HELD_THEN_RELEASE);
        let steps = run(1 << 30, 10, US, HOLD_ITEMS + 2);
        assert_eq!(steps[HOLD_ITEMS], Hold::KeepAndRelease);
        assert!(steps[1..HOLD_ITEMS].iter().all(|s| *s == Hold::Keep));
    }

    #[test]
    fn an_item_that_completes_the_body_with_nothing_held_goes_at_once() {
        // Two items: the second completes the body; nothing to gather it with.
        assert_eq!(run(200, 100, US, 2), vec![Hold::SendNow, Hold::SendNow]);
    }

    #[test]
    fn no_length_or_nothing_owed_never_holds() {
        let mut h = Holding::default();
        let t = Instant::now();
        assert_eq!(h.offer(t, 10, None), Hold::SendNow);
        assert_eq!(h.offer(t + US, 10, None), Hold::SendNow);
        assert_eq!(h.offer(t + 2 * US, 10, Some(0)), Hold::SendNow);
        // Nothing was kept: a quick item now starts holding afresh (no held bytes counted).
        assert_eq!(h.offer(t + 3 * US, 10, Some(100)), Hold::Keep);
    }
}
