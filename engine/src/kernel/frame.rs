//! Re-entrant dispatch: how a handler's session stays reachable while its
//! handler runs.
//!
//! POE dispatches synchronously inside handlers: `call`, `_start`,
//! `_child`, `_parent`, `_stop` and signal handlers all run before the API
//! call that caused them returns, and they may target a session whose
//! handler is already on the stack (a parent hears `_child` while it is
//! still inside the handler that spawned the child; `stop()` stops the
//! caller itself).
//!
//! A session's heap and handlers (its [`Body`]) live in the session table
//! while idle. Dispatch moves the body out of the table, lends it to the
//! handler through the [`Context`](super::Context), and puts it back after.
//! Whenever a handler makes a dispatching call, its `Context` pushes a
//! [`Frame`] that lends the running session's body to the nested dispatch;
//! frames link to the frames of the handlers further up the stack. A
//! dispatch to a busy session finds its body in that chain and borrows it
//! for the nested handler, with the rest of the chain (minus that frame)
//! still reachable. All of it is ordinary borrowing: no `unsafe`, no
//! `RefCell`.

use std::{any::Any, panic};

use super::core::{Body, Frames, Lent, Outcome};
use crate::{error::Error, id::SessionId};

/// One handler on the stack: its session's body, lent for nested dispatch.
pub(crate) struct Frame<'a> {
    pub id: SessionId,
    pub body: Option<&'a mut (dyn Body + 'a)>,
    pub prev: Option<&'a mut (dyn Frames + 'a)>,
}

impl Frames for Frame<'_> {
    fn lend(&mut self, id: SessionId, f: &mut Lent<'_>) -> Option<Outcome> {
        if self.id == id
            && let Some(body) = self.body.take()
        {
            let outcome = f(&mut *body, Some(&mut *self));
            self.body = Some(body);
            return Some(outcome);
        }
        self.prev.as_deref_mut()?.lend(id, f)
    }
}

/// Runs `f`, turning a panic into [`Error::Panicked`] with the panic's
/// text, as POE's `eval` turns a `die`.
#[inline]
pub(crate) fn trap<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    panic::catch_unwind(panic::AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(Error::Panicked(panic_message(payload.as_ref()))))
}

/// The text of a panic, as `die`'s message.
#[cold]
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a handler panicked".to_owned()
    }
}
