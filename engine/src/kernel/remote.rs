//! The kernel's inbox, and the postbacks and callbacks that use it.

use std::{fmt, time::Duration};

use crossbeam_channel::{Receiver, Sender};

use super::{core::RUNNING, Context};
use crate::{
    error::{Error, Result},
    event::Event,
    id::SessionId,
    value::{Args, Str, Value},
};

/// What reaches a kernel from outside its own dispatch: postbacks called
/// anywhere, postbacks dropped anywhere, and (with a runtime) other threads.
pub(crate) enum Message {
    Post {
        target: SessionId,
        sender: SessionId,
        event: Event,
        args: Args,
    },
    /// A public refcount tag to decrement (a dropped postback or callback).
    Release { session: SessionId, tag: Str },
}

/// An unbounded channel into one kernel. The kernel applies messages at
/// every enqueue, before each garbage-collection sweep and at each slice, so
/// a postback called inside a handler is ordered with that handler's own
/// posts as POE orders them.
pub(crate) struct Inbox {
    tx: Sender<Message>,
    rx: Receiver<Message>,
}

impl Inbox {
    pub fn new() -> Inbox {
        let (tx, rx) = crossbeam_channel::unbounded();
        Inbox { tx, rx }
    }

    pub fn sender(&self) -> Sender<Message> {
        self.tx.clone()
    }

    pub fn try_recv(&self) -> Option<Message> {
        if self.rx.is_empty() {
            None
        } else {
            self.rx.try_recv().ok()
        }
    }

    /// Blocks for a message, for at most `timeout` if given.
    pub fn recv(&self, timeout: Option<Duration>) -> Option<Message> {
        match timeout {
            Some(timeout) => self.rx.recv_timeout(timeout).ok(),
            None => self.rx.recv().ok(),
        }
    }
}

/// The tag postbacks and callbacks hold on their session, as POE's do.
const ANON_EVENT: &str = "anon_event";

/// Posts an event back to a session when called (POE's `postback`).
///
/// While it exists it keeps its session alive (a public refcount tagged
/// `anon_event`); dropping it lets the session go. It can be called from any
/// thread: the post goes through the kernel's inbox, and the event carries
/// `ARG0` = the list given at creation and `ARG1` = the list given to the
/// call, as POE's do. Made by [`Context::postback`].
pub struct Postback {
    tx: Sender<Message>,
    session: SessionId,
    event: Event,
    context: Vec<Value>,
}

impl Postback {
    pub(crate) fn new(tx: Sender<Message>, session: SessionId, event: Event, context: Args) -> Postback {
        Postback {
            tx,
            session,
            event,
            context: context.into_vec(),
        }
    }

    /// Posts the event with `args` as `ARG1`. SENDER is the session whose
    /// handler is running on this thread, or the kernel.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when the session's kernel no longer runs.
    pub fn post(&self, args: impl Into<Args>) -> Result<()> {
        let sender = RUNNING
            .get()
            .filter(|running| running.kernel() == self.session.kernel())
            .unwrap_or(SessionId::kernel_root(self.session.kernel()));
        let args = Args::from((Value::List(self.context.clone()), Value::List(args.into().into_vec())));
        self.tx
            .send(Message::Post {
                target: self.session,
                sender,
                event: self.event,
                args,
            })
            .map_err(|_| Error::NoSuchSession(self.session.to_string()))
    }

    /// The session it posts to.
    pub fn session(&self) -> SessionId {
        self.session
    }
}

impl Drop for Postback {
    fn drop(&mut self) {
        // A kernel that is gone holds nothing to release.
        let _ = self.tx.send(Message::Release {
            session: self.session,
            tag: Str::new(ANON_EVENT),
        });
    }
}

impl fmt::Debug for Postback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Postback({} -> {})", self.session, self.event)
    }
}

/// Calls a session's handler synchronously when called (POE's `callback`).
///
/// Like a [`Postback`] it keeps its session alive until dropped; calling it
/// needs the `Context` of the handler that calls it, because a call runs the
/// handler at once. Made by [`Context::callback`].
pub struct Callback {
    tx: Sender<Message>,
    session: SessionId,
    event: Event,
    context: Vec<Value>,
}

impl Callback {
    pub(crate) fn new(tx: Sender<Message>, session: SessionId, event: Event, context: Args) -> Callback {
        Callback {
            tx,
            session,
            event,
            context: context.into_vec(),
        }
    }

    /// Calls the handler with `ARG0` = the creation list and `ARG1` =
    /// `args`, and returns its value.
    ///
    /// # Errors
    ///
    /// As [`Context::call`].
    #[track_caller]
    pub fn call<H: 'static>(&self, cx: &mut Context<'_, H>, args: impl Into<Args>) -> Result<Value> {
        let args = Args::from((Value::List(self.context.clone()), Value::List(args.into().into_vec())));
        cx.call(self.session, self.event, args)
    }

    /// The session it calls.
    pub fn session(&self) -> SessionId {
        self.session
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        let _ = self.tx.send(Message::Release {
            session: self.session,
            tag: Str::new(ANON_EVENT),
        });
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Callback({} -> {})", self.session, self.event)
    }
}

pub(crate) fn anon_event_tag() -> &'static str {
    ANON_EVENT
}
