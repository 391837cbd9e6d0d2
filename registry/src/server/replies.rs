//! With an etcd backend: the source that wakes the server's kernel when the
//! backend has something to say, and hands it to the core.

use std::cell::RefCell;
use std::rc::Rc;

use roe_engine::{Io, Mode, Readiness, Source, SourceRef};

use super::core::Core;

/// Watches the backend's wake-up socket.
pub(super) struct Replies {
    me: SourceRef,
    core: Rc<RefCell<Core>>,
}

impl Replies {
    /// Starts watching, if the core has a backend.
    ///
    /// # Errors
    ///
    /// The socket cannot be watched.
    pub(super) fn start(
        io: &mut Io<'_>,
        core: Rc<RefCell<Core>>,
    ) -> roe_engine::Result<Option<Rc<Replies>>> {
        let waker = match core.borrow().shared() {
            Some(shared) => shared.backend().waker()?,
            None => return Ok(None),
        };
        let replies = io.add(|me| Replies { me, core });
        io.watch(&replies.me, Rc::new(waker) as Rc<_>, Mode::Read)?;
        // Replies sent before the watch began wait in the queue.
        replies.core.borrow_mut().take_replies();
        Ok(Some(replies))
    }
}

impl Source for Replies {
    fn ready(self: Rc<Self>, _: &mut Io<'_>, _: Readiness) -> roe_engine::Result<()> {
        self.core.borrow_mut().take_replies();
        Ok(())
    }
}

impl Drop for Replies {
    fn drop(&mut self) {
        self.me.remove();
    }
}
