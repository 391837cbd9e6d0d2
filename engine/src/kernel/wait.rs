//! The first half of a timeslice: the idle test, and the wait for I/O,
//! messages or the next timer.
//!
//! POE waits in `select()` every slice. A busy roe kernel does not: while
//! posted events are queued it looks at its descriptors and its clock only
//! once every [`POLL_EVERY`] dispatches (tokio polls its driver every 61
//! tasks), so a busy kernel pays no system call and no clock read per
//! event. The rule, and why nothing POE specifies changes, is in
//! docs/architecture.md ("When the kernel looks at I/O and the clock").

use std::{
    panic::Location,
    time::{Duration, Instant},
};

use super::{core::Core, io::POLL_EVERY};
use crate::{event::Event, queue::item::Kind, value::Args};

/// How long a kernel in a conversation (with other kernels, or over its
/// descriptors) looks for the next message or readiness before it blocks:
/// the next one usually comes sooner than a blocked thread can be woken.
pub(super) const SPIN: Duration = Duration::from_micros(20);

impl Core {
    /// Whether this slice can skip the idle test and the wait: posted
    /// events are queued (so neither IDLE nor a blocking wait can happen),
    /// nothing waits in the inbox, no session that watches descriptors ran
    /// since the last look at them, and the periodic look at the
    /// descriptors and the clock is not due yet.
    #[inline]
    pub fn is_busy(&self) -> bool {
        !self.queue.is_fifo_empty()
            && self.acct.counters.dispatched < self.io.poll_at
            && !self.io.poll_next
            && !self.inbox.has_pending()
    }

    /// POE's `_test_if_kernel_is_idle`: nothing queued, watched or held
    /// means IDLE. In a runtime the kernel reports to the runtime instead,
    /// which sends IDLE once every kernel is idle.
    pub fn idle_check(&mut self) {
        self.fold();
        let idle = self.is_idle();
        let now = match &mut self.link {
            Some(link) => link.idle(idle),
            None => idle,
        };
        if now {
            let root = self.root();
            self.push_now(
                root,
                root,
                Event::IDLE,
                Kind::Signal,
                Args::new(),
                Location::caller(),
            );
        }
    }

    /// Nothing queued, watched or held, nothing waiting to go to another
    /// kernel, and sessions to tell.
    pub fn is_idle(&self) -> bool {
        self.queue.len() == 0
            && !self.sessions.holding_extrefs()
            && !self.io.is_watching()
            && !self.link.as_ref().is_some_and(|link| link.is_busy())
            && !self.sessions.is_empty()
    }

    /// After IDLE's watchers ran: still nothing to do means ZOMBIE. In a
    /// runtime, what IDLE's handlers sent to other kernels may still bring
    /// work back, so ZOMBIE waits for the runtime to be idle once more.
    pub fn zombie_if_still_idle(&mut self) {
        if self.queue.len() != 0 || self.io.reactor.has_watchers() {
            return;
        }
        let now = match &mut self.link {
            Some(link) => link.zombie_now(),
            None => true,
        };
        if now {
            let root = self.root();
            self.enqueue(
                root,
                root,
                Event::ZOMBIE,
                Kind::Signal,
                Args::new(),
                Location::caller(),
            );
        }
    }

    /// The wait before the next slice: none if something is due, until the
    /// next timer otherwise, and without limit when only outside events can
    /// bring work.
    pub fn wait_timeout(&mut self) -> Option<Duration> {
        if !self.queue.is_fifo_empty() {
            return Some(Duration::ZERO);
        }
        let until_timer = self.queue.next_timer().map(|due| self.clock.until(due));
        [
            until_timer,
            self.link.as_ref().and_then(|link| link.wait_cap()),
            self.publish_wait_cap(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Waits for I/O, a message or `timeout` (`None`: until something
    /// happens). With nothing watched and nothing to wait for, it returns at
    /// once, without a system call.
    pub fn wait(&mut self, timeout: Option<Duration>) {
        self.io.poll_at = self.acct.counters.dispatched + POLL_EVERY;
        self.io.poll_next = false;
        let zero = timeout.is_some_and(|t| t.is_zero());
        self.acct.sampler.time_every(!zero);
        if zero && !self.io.reactor.has_watchers() {
            self.clock.now();
            return;
        }
        let timeout = if zero {
            timeout
        } else if self.spin_for_messages(timeout) {
            // No system call: sample handler times as in a busy slice.
            self.acct.sampler.time_every(false);
            if !self.io.reactor.has_watchers() {
                self.fold();
                self.clock.now();
                return;
            }
            Some(Duration::ZERO)
        } else if self.spin_for_io(timeout) {
            // The readiness (or message) found is the wait's result.
            self.acct.sampler.time_every(false);
            self.fold();
            self.clock.now();
            return;
        } else {
            if let Some(link) = &mut self.link {
                link.before_block();
            }
            // Park, then look once more: a sender either sees us parked and
            // wakes us, or we see its message (docs/architecture.md).
            self.inbox.waker().park();
            if self.inbox.has_any() {
                Some(Duration::ZERO)
            } else {
                timeout
            }
        };
        let blocking = !timeout.is_some_and(|t| t.is_zero());
        self.reactor_wait(timeout);
        self.inbox.waker().unpark();
        self.io.since_block = self.io.reactor.found_ready() || (self.io.since_block && !blocking);
        self.fold();
        self.clock.now();
    }

    /// A throttled kernel's wait (see `Link::is_throttled`): until another
    /// kernel makes room, a message or readiness arrives, or the link's
    /// retry time passes. Its own queue waits meanwhile; ready I/O does not.
    pub fn wait_for_room(&mut self) {
        let Some(link) = &self.link else {
            return;
        };
        let retry = link.wait_cap();
        // Park, then look once more, as `wait` does: the kernel that makes
        // room either sees us parked and wakes us, or we see the room.
        self.inbox.waker().park();
        let timeout = if self.inbox.has_any() || link.has_room() {
            Some(Duration::ZERO)
        } else {
            retry
        };
        self.reactor_wait(timeout);
        self.inbox.waker().unpark();
        self.fold();
        self.clock.now();
    }

    /// One wait on the reactor.
    fn reactor_wait(&mut self, timeout: Option<Duration>) {
        if let Err(error) = self.io.reactor.wait(timeout) {
            // The reactor cannot fail on valid descriptors; if it does, the
            // slice goes on and the next wait tries again.
            tracing::error!(kernel = %self.id, %error, "waiting for I/O failed");
        }
    }

    /// A kernel that found a descriptor ready since it last blocked is in a
    /// conversation over it, and the next readiness usually comes sooner
    /// than a blocked thread can be woken. So it polls its descriptors
    /// without blocking, for up to [`SPIN`] or `limit`, before it blocks;
    /// `true` when readiness or a message came, the readiness then being the
    /// reactor's current result. A kernel that found nothing ready never
    /// spins.
    fn spin_for_io(&mut self, limit: Option<Duration>) -> bool {
        if !self.io.since_block {
            return false;
        }
        let budget = limit.map_or(SPIN, |limit| limit.min(SPIN));
        let started = Instant::now();
        loop {
            // A failed poll is left to the blocking wait that follows.
            if self.io.reactor.wait(Some(Duration::ZERO)).is_err() {
                return false;
            }
            if self.io.reactor.found_ready() || self.inbox.has_any() {
                return true;
            }
            if started.elapsed() >= budget {
                return false;
            }
            std::hint::spin_loop();
        }
    }

    /// A kernel that took messages from other kernels since it last waited
    /// is in a conversation, and the next message usually comes sooner than
    /// a blocked thread can be woken (a few microseconds on this machine
    /// kind, tens in some of its scheduling regimes). So it looks for one,
    /// for up to [`SPIN`] or `limit`, before blocking; `true` when one came.
    /// A kernel that received nothing never spins.
    fn spin_for_messages(&mut self, limit: Option<Duration>) -> bool {
        let received = self.acct.counters.received_remote;
        if received == self.acct.received_at_wait {
            return false;
        }
        self.acct.received_at_wait = received;
        let budget = limit.map_or(SPIN, |limit| limit.min(SPIN));
        let started = Instant::now();
        loop {
            for _ in 0..64 {
                if self.inbox.has_any() {
                    return true;
                }
                std::hint::spin_loop();
            }
            if started.elapsed() >= budget {
                return false;
            }
        }
    }
}
