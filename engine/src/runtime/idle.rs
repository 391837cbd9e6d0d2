//! Knowing when a whole runtime is idle, with no shared counter touched per
//! message.
//!
//! POE sends IDLE when its kernel has nothing to do. In a runtime, a kernel
//! with nothing to do may still get work from another, so IDLE waits until
//! every *party* is idle and nothing is in flight. The parties are the
//! kernels, threads outside the runtime while they send to it, and
//! `RuntimeIdle` messages not yet taken. Messages in flight are already
//! counted per target (each kernel's `remote_pending`, which the wake-up
//! protocol needs anyway), so this only counts parties, and a busy kernel
//! exchanging messages with others never touches it.
//!
//! The count shares one word with an epoch that every `enter` bumps. The
//! party whose `leave` brings the count to zero looks at every kernel's
//! in-flight count and then claims the broadcast with a compare-and-swap on
//! the word it saw: if any party entered meanwhile (say, a kernel that took
//! a message after the look began), the epoch differs and the claim fails;
//! that party will look again when it leaves. So exactly one party claims
//! each idle moment, and only a true one.

use std::sync::atomic::{AtomicU64, Ordering};

/// One party in the low half of the word.
const PARTY: u64 = 1;
/// One epoch in the high half.
const EPOCH: u64 = 1 << 32;

/// The count of busy parties and the epoch (see the module's docs).
pub(crate) struct Idleness {
    state: AtomicU64,
}

/// What a `leave` that brought the count to zero saw, to claim with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen(u64);

impl Idleness {
    /// `parties` busy parties to begin with (the kernels, at start).
    pub fn new(parties: usize) -> Idleness {
        Idleness {
            state: AtomicU64::new(parties as u64),
        }
    }

    /// A party starts work.
    pub fn enter(&self) {
        self.state.fetch_add(PARTY + EPOCH, Ordering::SeqCst);
    }

    /// `n` parties stop. `Some` when no party is left busy: the caller
    /// then checks that nothing is in flight and [`claim`](Self::claim)s.
    pub fn leave(&self, n: usize) -> Option<Seen> {
        let n = n as u64;
        let now = self.state.fetch_sub(n * PARTY, Ordering::SeqCst) - n * PARTY;
        (now & (EPOCH - 1) == 0).then_some(Seen(now))
    }

    /// Claims the idle moment `seen`, counting `messages` RuntimeIdle
    /// messages as busy parties until their kernels take them. `false`
    /// when a party entered since.
    pub fn claim(&self, seen: Seen, messages: usize) -> bool {
        let claimed = seen.0 + EPOCH + messages as u64 * PARTY;
        self.state
            .compare_exchange(seen.0, claimed, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_leave_sees_zero_and_an_enter_spoils_its_claim() {
        let idle = Idleness::new(2);
        assert!(idle.leave(1).is_none());
        let seen = idle.leave(1).expect("no party left");
        idle.enter();
        assert!(!idle.claim(seen, 2), "a party entered since");
        let seen = idle.leave(1).expect("no party left again");
        assert!(idle.claim(seen, 2));
        // The two messages count as parties until taken.
        assert!(idle.leave(1).is_none());
        assert!(idle.leave(1).is_some());
    }

    #[test]
    fn an_enter_and_leave_in_between_also_spoils_the_claim() {
        let idle = Idleness::new(1);
        let seen = idle.leave(1).unwrap();
        idle.enter();
        let again = idle.leave(1).unwrap();
        assert!(!idle.claim(seen, 1), "the epoch moved");
        assert!(idle.claim(again, 1), "the later leave claims");
    }
}
