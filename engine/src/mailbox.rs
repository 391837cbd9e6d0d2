//! What other threads send a kernel: its inbox, the mailbox that sends to
//! it, and the waker that gets it out of a blocking wait.
//!
//! A kernel applies its inbox at every slice, before each garbage-collection
//! sweep and at the end of each handler, so a postback called inside a
//! handler is ordered with that handler's own posts as POE orders them. A
//! count of undelivered messages makes those frequent checks one atomic
//! load. A runtime's cross-kernel channel is separate (it is bounded and
//! owned by the runtime); its messages are announced in the same mailbox, so
//! one load tells the kernel whether anything waits anywhere.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::{self, ThreadId},
};

use crossbeam_channel::{Receiver, Sender};
use rustix::event::{EventfdFlags, eventfd};

use crate::{
    event::Event,
    id::{KernelId, SessionId},
    value::{Args, Str},
};

/// What reaches a kernel from outside its own dispatch.
pub(crate) enum Message {
    /// A post from a postback, another thread or another kernel.
    Post {
        target: SessionId,
        sender: Origin,
        event: Event,
        args: Args,
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
    /// The answer to a [`Message::Call`], posted back to the caller, which
    /// the call held alive until now.
    Reply {
        target: SessionId,
        sender: SessionId,
        event: Event,
        args: Args,
    },
    /// A public refcount tag to decrement (a dropped postback or callback).
    Release { session: SessionId, tag: Str },
    /// An OS signal caught by the process's signal owner.
    Signal(i32),
    /// Something for the runtime the kernel belongs to.
    Control(Control),
}

/// What a runtime tells one of its kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    /// Every kernel of the runtime is idle.
    Idle,
    /// The runtime is shutting down.
    Shutdown,
    /// Every kernel has emptied its overflow queues since the shutdown.
    Drained,
    /// Publish a snapshot now.
    Snapshot,
}

impl Message {
    /// The arguments a post, call or reply carried (none for the others).
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

/// Wakes a kernel blocked in its reactor's wait, from any thread.
///
/// The kernel marks itself parked before it blocks; a waker writes the
/// eventfd only then, so messages to a busy kernel cost no system call.
/// Both sides use sequentially consistent operations on `parked` and on the
/// message counters, so either the kernel sees the message before blocking
/// or the sender sees the kernel parked (docs/architecture.md, "Wake-ups").
/// The reactor registers the eventfd edge-triggered and never reads it.
pub(crate) struct Waker {
    fd: OwnedFd,
    parked: AtomicBool,
}

impl Waker {
    pub fn new() -> std::io::Result<Waker> {
        Ok(Waker {
            fd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            parked: AtomicBool::new(false),
        })
    }

    /// Wakes the kernel if it is parked (or about to be).
    pub fn wake_if_parked(&self) {
        // Loading first keeps the flag's cache line shared while the kernel
        // is busy; only a parked kernel's is written.
        if self.parked.load(Ordering::SeqCst) && self.parked.swap(false, Ordering::SeqCst) {
            self.wake();
        }
    }

    /// Wakes the kernel's next or current wait.
    pub fn wake(&self) {
        // A full counter (2^64 - 2 writes) means a wake-up is pending anyway.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Marks the kernel parked; the caller must look for work again before
    /// blocking.
    pub fn park(&self) {
        self.parked.store(true, Ordering::SeqCst);
    }

    pub fn unpark(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The receiving side: an unbounded channel into one kernel.
pub(crate) struct Inbox {
    mailbox: Mailbox,
    rx: Receiver<Message>,
}

/// The sending side of a kernel's inbox.
#[derive(Clone)]
pub(crate) struct Mailbox {
    tx: Sender<Message>,
    counts: Arc<Counts>,
    /// Wakes the kernel when it waits for I/O.
    waker: Arc<Waker>,
    /// The kernel's thread.
    owner: ThreadId,
}

/// Undelivered messages, in two counts a kernel reads with one load each.
struct Counts {
    /// On the kernel's own channel.
    pending: AtomicUsize,
    /// Announced on the runtime's channels (posts from other kernels, tasks).
    remote: AtomicUsize,
}

impl Mailbox {
    /// SENDER for an event sent from the calling thread.
    pub fn origin(&self, kernel: KernelId) -> Origin {
        if thread::current().id() == self.owner {
            Origin::Active
        } else {
            Origin::Session(SessionId::kernel_root(kernel))
        }
    }

    /// Sends, waking the kernel if it is parked; fails, handing the
    /// message back, when the kernel is gone.
    #[allow(clippy::result_large_err)]
    pub fn send(&self, message: Message) -> Result<(), Message> {
        self.tx.send(message).map_err(|e| e.into_inner())?;
        self.counts.pending.fetch_add(1, Ordering::SeqCst);
        self.waker.wake_if_parked();
        Ok(())
    }

    /// Counts a message about to go on one of the runtime's channels.
    /// Counting before the send keeps the count at or above what waits, so
    /// the kernel never blocks with one waiting.
    pub fn announce_remote(&self) {
        self.counts.remote.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether a message announced on the runtime's channels waits.
    pub fn remote_waiting(&self) -> bool {
        self.counts.remote.load(Ordering::SeqCst) != 0
    }

    /// The announced message was not sent after all.
    pub fn withdraw_remote(&self) {
        self.counts.remote.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes the kernel if it is parked (after a send it was announced to).
    pub fn wake_if_parked(&self) {
        self.waker.wake_if_parked();
    }
}

impl Inbox {
    pub fn new(waker: Arc<Waker>) -> Inbox {
        let (tx, rx) = crossbeam_channel::unbounded();
        Inbox {
            mailbox: Mailbox {
                tx,
                counts: Arc::new(Counts {
                    pending: AtomicUsize::new(0),
                    remote: AtomicUsize::new(0),
                }),
                waker,
                owner: thread::current().id(),
            },
            rx,
        }
    }

    pub fn mailbox(&self) -> Mailbox {
        self.mailbox.clone()
    }

    /// The waker of this inbox's kernel.
    pub fn waker(&self) -> &Waker {
        &self.mailbox.waker
    }

    /// Whether a message may be waiting on the kernel's own channel (one
    /// atomic load).
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending() != 0
    }

    /// How many messages from postbacks and other threads wait.
    pub fn pending(&self) -> usize {
        self.mailbox.counts.pending.load(Ordering::SeqCst)
    }

    /// Whether a message may wait on the runtime's channels.
    #[inline]
    pub fn has_remote(&self) -> bool {
        self.mailbox.counts.remote.load(Ordering::SeqCst) != 0
    }

    /// Whether anything waits, on any channel: the kernel must not block.
    pub fn has_any(&self) -> bool {
        self.has_pending() || self.has_remote()
    }

    /// `n` messages were taken from the runtime's channels.
    pub fn taken_remote(&self, n: usize) {
        self.mailbox.counts.remote.fetch_sub(n, Ordering::SeqCst);
    }

    pub fn try_recv(&self) -> Option<Message> {
        let message = self.rx.try_recv().ok()?;
        self.mailbox.counts.pending.fetch_sub(1, Ordering::Relaxed);
        Some(message)
    }
}
