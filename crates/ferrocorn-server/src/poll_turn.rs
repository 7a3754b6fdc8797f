//! Which of a worker's request threads waits for new work (`--threads` > 1).
//!
//! Only the thread whose turn it is polls for new work, so at most one thread at a time queues
//! for the GIL with a connection in hand (CPython wakes an arbitrary waiter when the GIL is
//! dropped; with several queued, one connection could lose that race again and again). While its requests are short and use the
//! CPU (the worker measures that), the thread that serves keeps the turn: it finds the next ready
//! request itself, so one thread serves a whole poll round with the GIL and can gather the
//! round's responses, as `--threads 1` does. The other threads sleep. Two things pass the turn on:
//!
//! - the owner lets go ([`PollTurn::release`]): it is about to block on a client outside the
//!   app, or its requests wait on I/O (then the turn passes at every app call, so an idle
//!   thread picks up new work while the app waits);
//! - the owner has been inside one app call for [`TAKE_OVER_AFTER`] (blocked on I/O, or slow): a
//!   waiting thread takes the turn over ([`Took::From`]), so new work is never left waiting
//!   long for a busy thread.
//!
//! When another thread has waited for the GIL with a request in hand (it took the turn over and
//! found work), the owner hands both over at its next request boundary ([`PollTurn::hand_over`]):
//! the turn is kept for the thread that gets the GIL next, which claims it in
//! [`PollTurn::serving`].
//!
//! One waiting thread (the watcher) wakes up while an app call runs, to check for a take-over;
//! the others sleep until the turn is free. With no app call for `DOZE_AFTER` (20 ms), the watcher
//! sleeps too, until the next app call begins.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// An app call this long lets a waiting thread take the turn over.
pub const TAKE_OVER_AFTER: Duration = Duration::from_millis(1);

/// With no app call for this long the watcher stops checking and sleeps until one begins.
const DOZE_AFTER: Duration = Duration::from_millis(20);

#[derive(Default)]
pub struct PollTurn {
    state: Mutex<State>,
    /// Signalled when the turn is freed (for the waiters that are not watching).
    freed: Condvar,
    /// Signalled for the watcher: the turn is freed, or an app call began while it dozed.
    watch: Condvar,
}

#[derive(Default)]
struct State {
    /// The thread (index) whose turn it is.
    owner: Option<usize>,
    /// With an owner: since when it has been inside an app call. Without: since when the turn has
    /// been kept for the thread about to get the GIL (a hand-over).
    busy_since: Option<Instant>,
    /// When the last app call by an owner ended.
    last_busy: Option<Instant>,
    /// A waiter is watching (see module docs).
    watched: bool,
    /// The watcher sleeps until an app call begins.
    dozing: bool,
}

/// What [`PollTurn::take`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Took {
    /// The turn, which was free (or already this thread's).
    Yes,
    /// The turn, taken over from this thread, stuck in an app call.
    From(usize),
    /// Nothing within the timeout.
    No,
}

impl PollTurn {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether it is thread `me`'s turn.
    pub fn owned_by(&self, me: usize) -> bool {
        self.lock().owner == Some(me)
    }

    /// Wait (at most `timeout`) for the turn: free, or held by a thread that has been inside one
    /// app call (or a hand-over nobody claimed) for [`TAKE_OVER_AFTER`].
    pub fn take(&self, me: usize, timeout: Duration) -> Took {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        let mut watcher = false;
        let took = loop {
            let now = Instant::now();
            match (st.owner, st.busy_since) {
                (Some(o), _) if o == me => break Took::Yes,
                (None, None) => {
                    st.owner = Some(me);
                    break Took::Yes;
                }
                (owner, Some(since)) if now.duration_since(since) >= TAKE_OVER_AFTER => {
                    st.owner = Some(me);
                    st.busy_since = None;
                    break owner.map_or(Took::Yes, Took::From);
                }
                _ => {}
            }
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                break Took::No;
            }
            if !st.watched {
                st.watched = true;
                watcher = true;
            }
            if watcher {
                let wait = match (st.busy_since, st.last_busy) {
                    (Some(since), _) => (since + TAKE_OVER_AFTER).saturating_duration_since(now),
                    (None, Some(t)) if now.duration_since(t) < DOZE_AFTER => TAKE_OVER_AFTER,
                    _ => {
                        st.dozing = true;
                        left
                    }
                };
                st = match self.watch.wait_timeout(st, wait.min(left)) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
                st.dozing = false;
            } else {
                st = match self.freed.wait_timeout(st, left) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
            }
        };
        if watcher {
            // Another waiter takes up the watch.
            st.watched = false;
            st.dozing = false;
            drop(st);
            self.freed.notify_one();
        }
        took
    }

    /// Thread `me` lets go of its turn (if it has it).
    pub fn release(&self, me: usize) {
        let mut st = self.lock();
        if st.owner == Some(me) {
            st.owner = None;
            st.busy_since = None;
            drop(st);
            self.freed.notify_one();
            self.watch.notify_one();
        }
    }

    /// Thread `me` lets go of the GIL for a thread waiting for it: the turn is kept for whichever
    /// thread calls [`PollTurn::serving`] first (or taken over after [`TAKE_OVER_AFTER`]).
    pub fn hand_over(&self, me: usize) {
        let mut st = self.lock();
        if st.owner == Some(me) {
            st.owner = None;
            st.busy_since = Some(Instant::now());
            self.wake_dozing_watcher(st);
        }
    }

    /// Thread `me` has the GIL and calls the app: it keeps (or claims a free or handed-over)
    /// turn while the call lasts.
    pub fn serving(&self, me: usize) {
        let mut st = self.lock();
        if st.owner.is_none() {
            st.owner = Some(me);
        }
        if st.owner == Some(me) {
            st.busy_since = Some(Instant::now());
            self.wake_dozing_watcher(st);
        }
    }

    /// A call (or hand-over) began: a watcher sleeping until then starts looking.
    fn wake_dozing_watcher(&self, mut st: MutexGuard<'_, State>) {
        if st.dozing {
            st.dozing = false;
            drop(st);
            self.watch.notify_one();
        }
    }

    /// Thread `me`'s app call is over.
    pub fn served(&self, me: usize) {
        let mut st = self.lock();
        if st.owner == Some(me) {
            let now = Instant::now();
            st.busy_since = None;
            st.last_busy = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_free_turn_is_taken_at_once_and_kept_by_its_owner() {
        let t = PollTurn::default();
        assert_eq!(t.take(0, Duration::ZERO), Took::Yes);
        assert!(t.owned_by(0));
        assert_eq!(t.take(0, Duration::ZERO), Took::Yes);
        assert_eq!(t.take(1, Duration::from_millis(5)), Took::No);
        t.release(1); // not its turn: nothing happens
        assert!(t.owned_by(0));
        t.release(0);
        assert_eq!(t.take(1, Duration::ZERO), Took::Yes);
    }

    #[test]
    fn an_owner_between_app_calls_keeps_the_turn() {
        let t = PollTurn::default();
        assert_eq!(t.take(0, Duration::ZERO), Took::Yes);
        t.serving(0);
        t.served(0);
        assert_eq!(t.take(1, TAKE_OVER_AFTER * 5), Took::No);
        assert!(t.owned_by(0));
    }

    #[test]
    fn a_long_app_call_lets_a_waiter_take_the_turn_over() {
        let t = Arc::new(PollTurn::default());
        assert_eq!(t.take(0, Duration::ZERO), Took::Yes);
        t.serving(0);
        let t2 = t.clone();
        let started = Instant::now();
        let waiter = std::thread::spawn(move || t2.take(1, Duration::from_secs(5)));
        assert_eq!(waiter.join().expect("waiter"), Took::From(0));
        let waited = started.elapsed();
        assert!(waited >= TAKE_OVER_AFTER, "{waited:?}");
        assert!(waited < Duration::from_millis(500), "{waited:?}");
        assert!(t.owned_by(1));
        t.served(0); // the old owner's call ends: nothing changes
        assert!(t.owned_by(1));
    }

    #[test]
    fn a_watcher_dozing_while_idle_wakes_when_an_app_call_begins() {
        let t = Arc::new(PollTurn::default());
        assert_eq!(t.take(0, Duration::ZERO), Took::Yes);
        let t2 = t.clone();
        let waiter = std::thread::spawn(move || t2.take(1, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(50)); // the waiter dozes: no app call yet
        let began = Instant::now();
        t.serving(0);
        assert_eq!(waiter.join().expect("waiter"), Took::From(0));
        assert!(began.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn a_hand_over_goes_to_the_next_thread_that_serves() {
        let t = PollTurn::default();
        assert_eq!(t.take(0, Duration::ZERO), Took::Yes);
        t.hand_over(0);
        assert!(!t.owned_by(0));
        // Kept for the thread getting the GIL: a plain waiter does not get it at once.
        assert_eq!(t.take(2, Duration::ZERO), Took::No);
        t.serving(1);
        assert!(t.owned_by(1));
    }

    #[test]
    fn an_unclaimed_hand_over_is_taken_over_by_a_waiter() {
        let t = PollTurn::default();
        assert_eq!(t.take(0, Duration::ZERO), Took::Yes);
        t.hand_over(0);
        assert_eq!(t.take(2, Duration::from_secs(5)), Took::Yes);
        assert!(t.owned_by(2));
    }

    #[test]
    fn every_waiter_gets_the_turn_as_it_is_passed_on() {
        let t = Arc::new(PollTurn::default());
        assert_eq!(t.take(0, Duration::ZERO), Took::Yes);
        let waiters: Vec<_> = (1..=3)
            .map(|i| {
                let t = t.clone();
                std::thread::spawn(move || {
                    let took = t.take(i, Duration::from_secs(5));
                    t.release(i);
                    took
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        t.release(0);
        for w in waiters {
            assert_eq!(w.join().expect("waiter"), Took::Yes);
        }
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
