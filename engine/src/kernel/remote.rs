//! The kernel's inbox, and the postbacks and callbacks that use it.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread::{self, ThreadId},
};

use crossbeam_channel::{Receiver, Sender};

use super::Context;
use crate::reactor::Waker;
use crate::{
    error::{Error, Result},
    event::Event,
    id::{KernelId, SessionId},
    value::{Args, Str, Value},
};

/// What reaches a kernel from outside its own dispatch: postbacks called
/// anywhere, postbacks dropped anywhere, and (with a runtime) other threads.
pub(crate) enum Message {
    Post {
        target: SessionId,
        sender: Origin,
        event: Event,
        args: Args,
    },
    /// A public refcount tag to decrement (a dropped postback or callback).
    Release { session: SessionId, tag: Str },
    /// An OS signal caught by the process's signal owner.
    Signal(i32),
    /// A wheel wants one of its watchers paused or resumed.
    Pause {
        session: SessionId,
        fd: std::os::fd::RawFd,
        mode: crate::reactor::Mode,
        paused: bool,
    },
    /// A wheel closed some of its descriptors: their watchers go.
    Unwatch {
        session: SessionId,
        fds: Vec<std::os::fd::RawFd>,
    },
    /// A dropped wheel's timer goes.
    CancelTimer {
        session: SessionId,
        timer: crate::id::TimerId,
    },
    /// A call from another kernel: the handler's value goes back to
    /// `sender` as `reply`.
    Call {
        target: SessionId,
        sender: SessionId,
        event: Event,
        args: Args,
        reply: Event,
    },
    /// The value of a [`Message::Call`], posted back to the caller, which
    /// the call held alive until now.
    Reply {
        target: SessionId,
        sender: SessionId,
        event: Event,
        args: Args,
    },
    /// Every kernel of the runtime is idle: run POE's IDLE.
    RuntimeIdle,
    /// The runtime is shutting down.
    Shutdown,
    /// Publish a snapshot now.
    Snapshot,
    /// A wheel was dropped: its watchers go.
    WheelGone {
        session: SessionId,
        wheel: u64,
        fds: Vec<std::os::fd::RawFd>,
    },
}

impl Message {
    /// The arguments a post or call carried (none for other messages).
    pub fn into_args(self) -> Args {
        match self {
            Message::Post { args, .. }
            | Message::Call { args, .. }
            | Message::Reply { args, .. } => args,
            _ => Args::new(),
        }
    }
}

/// Who sent a message's event.
pub(crate) enum Origin {
    /// Whichever session is active when the kernel applies the message: a
    /// postback called on the kernel's own thread, inside a handler (the
    /// kernel applies such messages before that handler's dispatch ends).
    Active,
    /// A session, or a kernel's own session for other threads.
    Session(SessionId),
}

/// An unbounded channel into one kernel. The kernel applies messages at
/// every enqueue, before each garbage-collection sweep and at each slice, so
/// a postback called inside a handler is ordered with that handler's own
/// posts as POE orders them. A count of undelivered messages makes those
/// frequent checks one atomic load.
pub(crate) struct Inbox {
    mailbox: Mailbox,
    rx: Receiver<Message>,
}

/// The sending side of a kernel's inbox.
#[derive(Clone)]
pub(crate) struct Mailbox {
    tx: Sender<Message>,
    pending: Arc<AtomicUsize>,
    /// Messages waiting on the runtime's cross-kernel channel.
    remote_pending: Arc<AtomicUsize>,
    /// Wakes the kernel when it waits for I/O.
    waker: Arc<Waker>,
    /// The kernel's thread.
    owner: ThreadId,
}

impl Mailbox {
    /// SENDER for an event sent from the calling thread.
    fn origin(&self, kernel: KernelId) -> Origin {
        if thread::current().id() == self.owner {
            Origin::Active
        } else {
            Origin::Session(SessionId::kernel_root(kernel))
        }
    }

    /// Sends, waking the kernel if it is parked; fails when the kernel is
    /// gone.
    pub fn send(&self, message: Message) -> std::result::Result<(), ()> {
        self.tx.send(message).map_err(drop)?;
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.waker.wake_if_parked();
        Ok(())
    }

    /// Counts a message about to go on one of the runtime's channels (posts
    /// from other kernels, tasks). Counting before the send keeps the count
    /// at or above what waits, so the kernel never blocks with one waiting.
    pub fn announce_remote(&self) {
        self.remote_pending.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether a message announced on the runtime's channels waits.
    pub fn remote_waiting(&self) -> bool {
        self.remote_pending.load(Ordering::SeqCst) != 0
    }

    /// The announced message was not sent after all.
    pub fn withdraw_remote(&self) {
        self.remote_pending.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes the kernel if it is parked (after a send it was announced to).
    pub fn wake_if_parked(&self) {
        self.waker.wake_if_parked();
    }

    /// Sends an OS signal (from the signal owner's thread).
    pub fn send_signal(&self, number: i32) -> std::result::Result<(), ()> {
        self.send(Message::Signal(number))
    }
}

impl Inbox {
    pub fn new(waker: Arc<Waker>) -> Inbox {
        let (tx, rx) = crossbeam_channel::unbounded();
        Inbox {
            mailbox: Mailbox {
                tx,
                pending: Arc::new(AtomicUsize::new(0)),
                remote_pending: Arc::new(AtomicUsize::new(0)),
                waker,
                owner: thread::current().id(),
            },
            rx,
        }
    }

    pub fn mailbox(&self) -> Mailbox {
        self.mailbox.clone()
    }

    /// Whether a message may be waiting on the kernel's own channel (one
    /// atomic load).
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending() != 0
    }

    /// How many messages from postbacks and other threads wait.
    pub fn pending(&self) -> usize {
        self.mailbox.pending.load(Ordering::SeqCst)
    }

    /// Whether a message may wait on the runtime's channels.
    #[inline]
    pub fn has_remote(&self) -> bool {
        self.mailbox.remote_pending.load(Ordering::SeqCst) != 0
    }

    /// Whether anything waits, on any channel: the kernel must not block.
    pub fn has_any(&self) -> bool {
        self.has_pending() || self.has_remote()
    }

    /// `n` messages were taken from the cross-kernel channel.
    pub fn taken_remote(&self, n: usize) {
        self.mailbox.remote_pending.fetch_sub(n, Ordering::SeqCst);
    }

    pub fn try_recv(&self) -> Option<Message> {
        let message = self.rx.try_recv().ok()?;
        self.mailbox.pending.fetch_sub(1, Ordering::Relaxed);
        Some(message)
    }
}

/// The tag postbacks and callbacks hold on their session, as POE's do.
const ANON_EVENT: &str = "anon_event";

/// The tag a cross-kernel `call_reply` holds on its caller until the reply
/// arrives, so the continuation has a session to run in.
pub(crate) const AWAITING_REPLY: &str = "awaiting_reply";

/// Posts an event back to a session when called (POE's `postback`).
///
/// While it exists it keeps its session alive (a public refcount tagged
/// `anon_event`); dropping it lets the session go. It can be called from any
/// thread: the post goes through the kernel's inbox, and the event carries
/// `ARG0` = the list given at creation and `ARG1` = the list given to the
/// call, as POE's do. Made by [`Context::postback`].
pub struct Postback {
    mailbox: Mailbox,
    session: SessionId,
    event: Event,
    context: Vec<Value>,
}

impl Postback {
    pub(crate) fn new(
        mailbox: Mailbox,
        session: SessionId,
        event: Event,
        context: Args,
    ) -> Postback {
        Postback {
            mailbox,
            session,
            event,
            context: context.into_vec(),
        }
    }

    /// Posts the event with `args` as `ARG1`. SENDER is the session whose
    /// handler called it, or the kernel when called outside handlers or
    /// from another thread.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when the session's kernel no longer runs.
    pub fn post(&self, args: impl Into<Args>) -> Result<()> {
        let sender = self.mailbox.origin(self.session.kernel());
        let args = Args::from((
            Value::List(self.context.clone()),
            Value::List(args.into().into_vec()),
        ));
        self.mailbox
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
        let _ = self.mailbox.send(Message::Release {
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
    mailbox: Mailbox,
    session: SessionId,
    event: Event,
    context: Vec<Value>,
}

impl Callback {
    pub(crate) fn new(
        mailbox: Mailbox,
        session: SessionId,
        event: Event,
        context: Args,
    ) -> Callback {
        Callback {
            mailbox,
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
    pub fn call<H: 'static>(
        &self,
        cx: &mut Context<'_, H>,
        args: impl Into<Args>,
    ) -> Result<Value> {
        let args = Args::from((
            Value::List(self.context.clone()),
            Value::List(args.into().into_vec()),
        ));
        cx.call(self.session, self.event, args)
    }

    /// The session it calls.
    pub fn session(&self) -> SessionId {
        self.session
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        let _ = self.mailbox.send(Message::Release {
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
