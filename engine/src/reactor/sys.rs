//! The engine's only `unsafe`: registering descriptors with the poller.
//!
//! `polling::Poller::add` is unsafe because a registered source must be
//! removed from the poller before it is closed. [`Registration`] owns its
//! descriptor (a duplicate of the caller's) and removes it in `Drop`, before
//! the descriptor closes, which turns that rule into a type invariant.

#![allow(unsafe_code)]

use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    rc::Rc,
};

use polling::{Event, PollMode, Poller};

/// A descriptor registered with a poller, level-triggered, owned.
///
/// # Invariants
///
/// `fd` is registered with `poller` from `new` until `drop`, and is closed
/// only after it has been removed.
pub(crate) struct Registration {
    poller: Rc<Poller>,
    fd: OwnedFd,
}

impl Registration {
    /// Duplicates `fd` and registers the duplicate under `key` with
    /// `interest`, in `mode`.
    pub fn new(
        poller: &Rc<Poller>,
        fd: BorrowedFd<'_>,
        key: usize,
        interest: Event,
        mode: PollMode,
    ) -> io::Result<Registration> {
        let fd = fd.try_clone_to_owned()?;
        // SAFETY: `fd` is owned by the `Registration` returned below, whose
        // `Drop` deletes it from this poller before the `OwnedFd` field is
        // dropped and closes it; on error nothing stays registered.
        unsafe { poller.add_with_mode(&fd, with_key(interest, key), mode)? };
        Ok(Registration {
            poller: Rc::clone(poller),
            fd,
        })
    }

    /// Changes the registered interest.
    pub fn modify(&self, key: usize, interest: Event, mode: PollMode) -> io::Result<()> {
        self.poller
            .modify_with_mode(&self.fd, with_key(interest, key), mode)
    }
}

impl AsFd for Registration {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The descriptor is still open here (fields drop after this body);
        // deleting can only fail if it was never added, which `new` rules out.
        let _ = self.poller.delete(&self.fd);
    }
}

fn with_key(mut interest: Event, key: usize) -> Event {
    interest.key = key;
    interest
}
