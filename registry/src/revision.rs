//! [`Revision`]: the registry's change counter.

use std::fmt;

/// The registry's change counter: 0 when a store starts, one more for every
/// change (a registration, an accepted update, a removal).
///
/// This is registry(4)'s `rootvers`, the number its `event` file gives
/// out, and the revision that roe's detailed watch lines carry and resume
/// from. Revisions only grow.
///
/// # Examples
///
/// ```
/// use roe_registry::Revision;
///
/// let r = Revision::new(41).next();
/// assert_eq!(r.get(), 42);
/// assert_eq!(r.to_string(), "42");
/// assert_eq!(r.counter().to_string(), "00000042");
/// assert!(Revision::ZERO < r);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(u64);

impl Revision {
    /// The revision of a store before any change.
    pub const ZERO: Revision = Revision(0);

    /// The revision numbered `n`.
    pub const fn new(n: u64) -> Revision {
        Revision(n)
    }

    /// Its number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The revision after this one.
    ///
    /// # Panics
    ///
    /// When the counter would pass `u64::MAX` (a change a nanosecond would
    /// take five centuries to get there).
    pub fn next(self) -> Revision {
        Revision(
            self.0
                .checked_add(1)
                .expect("the revision counter overflowed"),
        )
    }

    /// The revision as registry(4)'s `event` file writes it: at least eight
    /// digits, zero-padded (`%08d`).
    pub fn counter(self) -> Counter {
        Counter(self)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<Revision> for u64 {
    fn from(revision: Revision) -> u64 {
        revision.0
    }
}

/// A [`Revision`] displayed as at least eight zero-padded digits; see
/// [`Revision::counter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter(Revision);

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08}", self.0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_has_at_least_eight_digits() {
        assert_eq!(Revision::ZERO.counter().to_string(), "00000000");
        assert_eq!(Revision::new(3).counter().to_string(), "00000003");
        assert_eq!(
            Revision::new(123_456_789).counter().to_string(),
            "123456789"
        );
        assert_eq!(
            Revision::new(u64::MAX).counter().to_string(),
            u64::MAX.to_string()
        );
    }
}
