//! How a runtime plugs into a kernel: the [`Link`] trait.
//!
//! A kernel runs alone or as one of a runtime's kernels; everything that
//! differs is behind this trait, which the runtime implements: where posts
//! to other kernels go (and wait, in order, when an inbox is full), how
//! names resolve across kernels, what arrives from other kernels each
//! slice, how long the kernel may block, and the runtime-wide idle test
//! and shutdown. The kernel never names the runtime.

use std::time::Duration;

use super::Kernel;
use crate::{
    error::{Error, Result, TryPostError},
    id::SessionId,
    mailbox::{Control, Message},
    value::{Args, Str},
};

/// Work run on a kernel's own thread with the kernel in hand.
pub(crate) type Task = Box<dyn FnOnce(&mut Kernel) + Send>;

/// What a runtime hands its kernel in one slice, besides the messages the
/// kernel takes one by one with [`Link::receive`].
#[derive(Default)]
pub(crate) struct Batch {
    /// Messages from other kernels the kernel applied before `take`: the
    /// link tells their senders there is room again.
    pub received: usize,
    /// Everything left in the inbox when the shutdown stops the kernel, in
    /// arrival order.
    pub messages: Vec<Message>,
    /// Work to run with the kernel in hand.
    pub tasks: Vec<Task>,
    /// The runtime's shutdown has delivered everything accepted: stop
    /// every session now.
    pub stop: bool,
    /// Messages from this kernel's overflow queues delivered meanwhile.
    pub sent: u64,
    /// Messages from its overflow queues whose kernel had finished.
    pub undeliverable: u64,
    /// Messages left in the inbox when the batch was taken.
    pub waiting: usize,
}

/// Where a sent message went.
pub(crate) enum Delivery {
    /// Into the target kernel's inbox.
    Sent,
    /// Into this kernel's overflow queue for the target, behind earlier
    /// messages (it goes once the target has room).
    Queued,
}

/// Why a message for another kernel was not sent.
///
/// `Full` hands the message back by value: boxing it would allocate on
/// every overflow, so the functions returning this allow its size.
pub(crate) enum SendError {
    /// The target's inbox is full; the message comes back.
    Full(Message),
    /// Shutdown was asked: no new cross-kernel posts.
    Closing(Message),
    /// The target kernel does not exist or has finished.
    Gone(Message),
}

impl SendError {
    /// What a sender to `target` is told.
    pub fn into_error(self, target: SessionId) -> Error {
        match self {
            SendError::Full(_) => Error::InboxFull,
            SendError::Closing(_) => Error::ShuttingDown,
            SendError::Gone(_) => Error::NoSuchSession(target.to_string()),
        }
    }

    /// What a `try_post` to `target` is told: the arguments come back.
    pub fn into_try(self, target: SessionId) -> TryPostError<Args> {
        match self {
            SendError::Full(message) => TryPostError::Full(message.into_args()),
            SendError::Closing(message) => {
                TryPostError::Failed(Error::ShuttingDown, message.into_args())
            }
            SendError::Gone(message) => TryPostError::Failed(
                Error::NoSuchSession(target.to_string()),
                message.into_args(),
            ),
        }
    }
}

/// What the kernel does about a runtime's [`Control`] message.
pub(crate) enum Reaction {
    Nothing,
    /// Every kernel is idle: queue IDLE here if nothing is left to do, or
    /// ZOMBIE when IDLE already ran and nothing arrived since.
    Idle {
        zombie: bool,
    },
    /// Publish a snapshot now.
    Publish,
}

/// A kernel's link to the runtime it belongs to.
pub(crate) trait Link {
    /// The next message from another kernel, if one waits. The kernel
    /// applies each as it comes (a message is moved once, not gathered
    /// first), a bounded number per slice so a busy sender cannot hold it.
    fn receive(&mut self) -> Option<Message>;

    /// Takes the rest of what waits for this kernel (tasks from other
    /// threads), tells senders waiting for room that `batch.received`
    /// messages made some, and moves overflow and shutdown along. Called
    /// when the mailbox announces remote work, or while [`Link::is_busy`].
    fn take(&mut self, batch: &mut Batch);

    /// Overflow to resend or a shutdown to move along: the kernel looks at
    /// the link every slice, and is not idle.
    fn is_busy(&self) -> bool;

    /// So many posts wait in overflow queues that the kernel stops
    /// dispatching its own queue until other kernels make room: a kernel
    /// that floods another is held to the pace the other takes its posts
    /// at, and its overflow stays bounded.
    fn is_throttled(&self) -> bool;

    /// Some kernel that overflow waits for has room now: a throttled
    /// kernel looks once more after it parks, so a wake-up sent just before
    /// is not lost.
    fn has_room(&self) -> bool;

    /// How long a wait may last at most (overflow and shutdown are retried,
    /// as no wake-up announces room in another kernel's inbox).
    fn wait_cap(&self) -> Option<Duration>;

    /// Sends a message to a session of another kernel, or queues it behind
    /// earlier overflow: posts from one kernel to another arrive in order.
    #[allow(clippy::result_large_err)]
    fn send(&mut self, target: SessionId, message: Message) -> Result<Delivery, SendError>;

    /// Sends without ever waiting in an overflow queue.
    #[allow(clippy::result_large_err)]
    fn try_send(&mut self, target: SessionId, message: Message) -> Result<(), SendError>;

    /// Resolves a name that no session of this kernel holds.
    fn resolve(&self, name: &Str) -> Result<SessionId>;

    /// A session of this kernel took an alias.
    fn alias_set(&self, alias: &Str, owner: SessionId);

    /// A session of this kernel gave an alias up.
    fn alias_removed(&self, alias: &str, owner: SessionId);

    /// The slice's idle test: `true` when the kernel should send itself
    /// IDLE now (POE's rule for a lone kernel); otherwise the runtime
    /// decides, once every kernel is idle.
    fn idle(&mut self, idle: bool) -> bool;

    /// The kernel is about to block.
    fn before_block(&mut self);

    /// Something arrived for the kernel.
    fn woke(&mut self);

    /// A control message from the runtime arrived.
    fn control(&mut self, control: Control) -> Reaction;

    /// IDLE's handlers ran and left nothing to do: whether ZOMBIE follows
    /// now, or only once the whole runtime is found idle again.
    fn zombie_now(&mut self) -> bool;

    /// Posts waiting in overflow queues (for snapshots).
    fn overflowing(&self) -> usize;

    /// The kernel has finished (`failed` when with an error): the runtime
    /// takes it off its books. `leftover` drains what is still in the
    /// kernel's own channel.
    fn finish(self: Box<Self>, failed: bool, leftover: &mut dyn FnMut() -> Option<Message>);
}
