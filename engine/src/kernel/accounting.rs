//! Accounting: the kernel's counters, and which dispatches are timed.
//!
//! Accounting is always on, so it has to be nearly free: counters are
//! plain integers the kernel owns, and handler time is measured for every
//! dispatch only in slices that followed a real wait (where a clock read is
//! cheap beside the system call); in a busy loop one dispatch in
//! [`Sampler::ONE_IN`] is timed, counted that many times over
//! (docs/architecture.md, "Accounting").

use crate::snapshot::Counters;

/// The kernel's counters and its sampler.
pub(crate) struct Accounting {
    pub counters: Counters,
    pub sampler: Sampler,
    /// Messages received from other kernels when the kernel last waited
    /// (a kernel that received some since spins briefly before blocking).
    pub received_at_wait: u64,
}

impl Accounting {
    pub fn new() -> Accounting {
        Accounting {
            counters: Counters::default(),
            sampler: Sampler::new(),
            received_at_wait: 0,
        }
    }

    /// Everything that changes what a snapshot shows comes with a dispatch
    /// or a message, so this sum moves whenever a snapshot would differ.
    pub fn activity(&self) -> u64 {
        let c = &self.counters;
        c.dispatched + c.received_remote + c.sent_remote + c.overflowed + c.undeliverable
    }
}

/// Picks the dispatches whose handler time is measured: all of them in a
/// slice that followed a real wait, and one in [`Sampler::ONE_IN`] on
/// average otherwise.
pub(crate) struct Sampler {
    /// Time every dispatch of this slice.
    every: bool,
    /// Dispatches to skip before the next measured one.
    countdown: u32,
    /// xorshift state for the gaps: random gaps do not alias with periodic
    /// event patterns as a fixed stride would.
    state: u32,
}

impl Sampler {
    pub const ONE_IN: u64 = 32;

    pub fn new() -> Sampler {
        Sampler {
            every: true,
            countdown: 0,
            state: 0x9e37_79b9,
        }
    }

    /// The weight of this dispatch's measurement, or `None` to skip it.
    /// (While `every` is set, `countdown` stays zero.)
    #[inline]
    pub fn pick(&mut self) -> Option<u64> {
        if self.countdown > 0 {
            self.countdown -= 1;
            return None;
        }
        Some(self.measure())
    }

    /// This dispatch is measured: its weight, and the gap to the next, of
    /// 0 to `2 * ONE_IN - 2` skipped dispatches, uniformly: one measured
    /// dispatch in `ONE_IN` on average.
    #[inline(never)]
    fn measure(&mut self) -> u64 {
        if self.every {
            return 1;
        }
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        self.countdown = x % (2 * Sampler::ONE_IN as u32 - 1);
        Sampler::ONE_IN
    }

    /// Whether to time every dispatch from now on (after a real wait) or to
    /// sample (in a busy loop).
    #[inline]
    pub fn time_every(&mut self, every: bool) {
        self.every = every;
        if every {
            self.countdown = 0;
        }
    }
}
