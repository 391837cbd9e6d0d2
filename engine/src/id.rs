//! Identifiers: kernels, sessions and timers.

use std::fmt;

/// Names one kernel of a process (one per thread in a runtime).
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, KernelId};
///
/// // A lone kernel is kernel 0; a runtime numbers its kernels from 0.
/// let kernel = Kernel::new()?;
/// assert_eq!(kernel.id(), KernelId(0));
/// assert_eq!(KernelId(3).to_string(), "3");
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct KernelId(pub u16);

impl fmt::Display for KernelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Names a session: its kernel and POE's session number.
///
/// Numbers count from 1 per kernel and are never reused, as POE's are; the
/// kernel itself is session 0. The ID also remembers the table slot the
/// session lives in, so a lookup is an index, and a reused slot cannot be
/// mistaken for the dead session (the number differs).
///
/// Displays as POE's number (`7`), with the kernel after an `@` when it is
/// not kernel 0 (`7@2`).
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, KernelId, Session, SessionId};
///
/// let mut kernel = Kernel::new()?;
/// let id = kernel.spawn(Session::new(()).on("_start", |cx, _| {
///     assert_eq!(cx.session().number(), 1); // POE's first session is 1
/// }))?;
/// assert_eq!(id.number(), 1);
/// assert_eq!(id.kernel(), KernelId(0));
/// assert_eq!(id.to_string(), "1");
/// // The same session, as a peer that knows only its number names it.
/// assert_eq!(SessionId::from_number(KernelId(0), 1), id);
/// assert_eq!(SessionId::from_number(KernelId(2), 7).to_string(), "7@2");
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SessionId {
    seq: u64,
    slot: u32,
    kernel: KernelId,
}

impl SessionId {
    pub(crate) const fn new(kernel: KernelId, slot: u32, seq: u64) -> SessionId {
        SessionId { seq, slot, kernel }
    }

    /// Names a session by its kernel and POE number, as a peer in another
    /// process or a path in the fs view knows it; the kernel finds it by
    /// number.
    pub const fn from_number(kernel: KernelId, number: u64) -> SessionId {
        if number == 0 {
            SessionId::kernel_root(kernel)
        } else {
            SessionId::new(kernel, SessionId::UNKNOWN_SLOT, number)
        }
    }

    /// The slot of an ID made from a number alone.
    const UNKNOWN_SLOT: u32 = u32::MAX;

    /// The kernel's own session (POE's kernel acts as the root session).
    pub const fn kernel_root(kernel: KernelId) -> SessionId {
        SessionId::new(kernel, 0, 0)
    }

    /// POE's session number (`$session->ID`); 0 for the kernel.
    pub const fn number(self) -> u64 {
        self.seq
    }

    /// The kernel this session lives on.
    pub const fn kernel(self) -> KernelId {
        self.kernel
    }

    /// Whether this names a kernel rather than a session inside one.
    pub const fn is_kernel(self) -> bool {
        self.seq == 0
    }

    /// Its table slot, `None` for an ID made from a number alone.
    #[inline]
    pub(crate) const fn known_slot(self) -> Option<usize> {
        if self.slot == SessionId::UNKNOWN_SLOT {
            None
        } else {
            Some(self.slot as usize)
        }
    }

    pub(crate) const fn slot(self) -> usize {
        self.slot as usize
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &SessionId) -> bool {
        self.seq == other.seq && self.kernel == other.kernel
    }
}

impl Eq for SessionId {}

impl std::hash::Hash for SessionId {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.seq.hash(state);
        self.kernel.hash(state);
    }
}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &SessionId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SessionId {
    /// Kernel first, then POE's number: the ascending-ID order roe uses
    /// where POE leaves siblings to Perl's hash order.
    fn cmp(&self, other: &SessionId) -> std::cmp::Ordering {
        (self.kernel, self.seq).cmp(&(other.kernel, other.seq))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kernel.0 == 0 {
            write!(f, "{}", self.seq)
        } else {
            write!(f, "{}@{}", self.seq, self.kernel)
        }
    }
}

/// Names a pending timer, as returned by `alarm_set` and `delay_set`.
///
/// POE draws timer IDs from the counter every queued item uses, so they
/// increase but have gaps; roe does the same.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on("_start", |cx, _| {
///     let first = cx.delay_set("tick", Duration::from_secs(60), ())?;
///     let second = cx.delay_set("tick", Duration::from_secs(60), ())?;
///     assert!(second.number() > first.number());
///     assert_eq!(first.kernel(), cx.kernel_id());
///     // Removing both leaves nothing to wait for, so the kernel ends.
///     cx.alarm_remove(first)?;
///     cx.alarm_remove(second)?;
///     Ok::<_, roe_engine::Error>(())
/// }))?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TimerId {
    seq: u64,
    slot: u32,
    kernel: KernelId,
}

impl TimerId {
    pub(crate) const fn new(kernel: KernelId, slot: u32, seq: u64) -> TimerId {
        TimerId { seq, slot, kernel }
    }

    /// The number POE would have returned.
    pub const fn number(self) -> u64 {
        self.seq
    }

    /// The kernel that issued this ID.
    pub const fn kernel(self) -> KernelId {
        self.kernel
    }

    pub(crate) const fn slot(self) -> usize {
        self.slot as usize
    }
}

impl PartialEq for TimerId {
    fn eq(&self, other: &TimerId) -> bool {
        self.seq == other.seq && self.kernel == other.kernel
    }
}

impl Eq for TimerId {}

impl fmt::Display for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seq)
    }
}
