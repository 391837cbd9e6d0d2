//! The engine's only `unsafe`: registering descriptors with the poller.
//!
//! `polling::Poller::add` is unsafe because a registered source must be
//! removed from the poller before it is closed. [`Registration`] keeps its
//! descriptor open (a duplicate of the caller's it owns, or a shared
//! [`Descriptor`]) and removes it in `Drop`, before letting go of it, which
//! turns that rule into a type invariant.

#![allow(unsafe_code)]

use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    rc::Rc,
};

use polling::{Event, PollMode, Poller};

use super::Descriptor;

/// A descriptor watched for the kernel, level-triggered, kept open.
///
/// # Invariants
///
/// When `polled`, `fd` is registered with `poller` from `new` until `drop`,
/// and stays open until it has been removed: the registration holds a
/// strong reference to what owns it, and a [`Descriptor`] cannot close its
/// descriptor while it lives. When not `polled` (a regular file, which
/// epoll refuses), nothing is registered.
pub(crate) struct Registration {
    poller: Rc<Poller>,
    fd: Rc<dyn Descriptor>,
    polled: bool,
}

impl Registration {
    /// Duplicates `fd` and registers the duplicate under `key` with
    /// `interest`, in `mode` (for POE's `select_*`, whose caller may close
    /// its descriptor at any time).
    pub fn duplicate(
        poller: &Rc<Poller>,
        fd: BorrowedFd<'_>,
        key: usize,
        interest: Event,
        mode: PollMode,
    ) -> io::Result<Registration> {
        let fd: Rc<OwnedFd> = Rc::new(fd.try_clone_to_owned()?);
        Registration::shared(poller, fd, key, interest, mode)
    }

    /// Registers the descriptor `fd` owns, keeping `fd` alive meanwhile.
    /// A descriptor epoll refuses because it is always ready (a regular
    /// file, `EPERM`) is kept unpolled: the reactor reports it ready itself.
    pub fn shared(
        poller: &Rc<Poller>,
        fd: Rc<dyn Descriptor>,
        key: usize,
        interest: Event,
        mode: PollMode,
    ) -> io::Result<Registration> {
        // SAFETY: `fd` is kept by the `Registration` returned below, whose
        // `Drop` deletes it from this poller before releasing `fd`; a
        // `Descriptor` keeps its descriptor open while it lives. On error
        // nothing stays registered.
        let added = unsafe { poller.add_with_mode(&fd.as_fd(), with_key(interest, key), mode) };
        let polled = match added {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => false,
            Err(e) => return Err(e),
        };
        Ok(Registration {
            poller: Rc::clone(poller),
            fd,
            polled,
        })
    }

    /// Whether the poller watches it (`false`: always ready).
    pub fn is_polled(&self) -> bool {
        self.polled
    }

    /// Changes the registered interest.
    pub fn modify(&self, key: usize, interest: Event, mode: PollMode) -> io::Result<()> {
        if !self.polled {
            return Ok(());
        }
        self.poller
            .modify_with_mode(self.fd.as_fd(), with_key(interest, key), mode)
    }
}

impl AsFd for Registration {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The descriptor is still open here (this holds what owns it);
        // deleting can only fail if it was never added.
        if self.polled {
            let _ = self.poller.delete(self.fd.as_fd());
        }
    }
}

fn with_key(mut interest: Event, key: usize) -> Event {
    interest.key = key;
    interest
}
