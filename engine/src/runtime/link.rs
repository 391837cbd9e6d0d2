//! A kernel's link to its runtime: what the runtime keeps per kernel, and
//! how the kernel reaches the others through it.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use crossbeam_channel::Receiver;

use super::Shared;
use crate::{
    error::{Error, Result},
    id::{KernelId, SessionId},
    kernel::{Batch, Delivery, Link, Reaction, SendError, Task},
    mailbox::{Control, Message},
    value::Str,
};

/// How soon a kernel with posts waiting in an overflow queue tries again.
const OVERFLOW_RETRY: Duration = Duration::from_millis(1);

/// Where a kernel is in a runtime's shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Running,
    /// Shutdown asked: emptying this kernel's overflow queues.
    Draining,
    /// Overflow empty; waiting for every kernel to get there.
    Drained,
    /// Everything accepted is queued here; the stop is queued after it.
    Stopping,
}

/// One kernel's link to its runtime.
pub(super) struct Attached {
    pub shared: Arc<Shared>,
    pub me: KernelId,
    remote: Receiver<Message>,
    tasks: Receiver<Task>,
    /// Posts to each kernel that found its inbox full, in order.
    overflow: Vec<VecDeque<Message>>,
    /// How many posts wait in `overflow`.
    overflowing: usize,
    /// Overflow at which the kernel stops dispatching until room is made:
    /// one inbox's worth.
    throttle_at: usize,
    /// The kernel told the runtime it had nothing to do.
    pub reported_idle: bool,
    /// This slice's idle check found nothing to do; told the runtime if
    /// the kernel then blocks.
    wants_idle: bool,
    /// IDLE ran here and left nothing to do; if the runtime is found idle
    /// again with nothing arrived since, ZOMBIE follows.
    idled: bool,
    pub phase: Phase,
}

impl Attached {
    pub fn new(
        shared: Arc<Shared>,
        me: KernelId,
        remote: Receiver<Message>,
        tasks: Receiver<Task>,
    ) -> Attached {
        let overflow = (0..shared.kernels()).map(|_| VecDeque::new()).collect();
        let throttle_at = remote.capacity().unwrap_or(usize::MAX);
        Attached {
            shared,
            me,
            remote,
            tasks,
            overflow,
            overflowing: 0,
            throttle_at,
            reported_idle: false,
            wants_idle: false,
            idled: false,
            phase: Phase::Running,
        }
    }

    /// Resends overflow, in order, while the targets have room. These
    /// posts were accepted, so they go even once shutdown was asked; the
    /// target takes them before it stops.
    fn flush_overflow(&mut self, batch: &mut Batch) {
        if self.overflowing == 0 {
            return;
        }
        for (index, queue) in self.overflow.iter_mut().enumerate() {
            let kernel = KernelId(u16::try_from(index).expect("kernel numbers fit u16"));
            while !queue.is_empty() {
                if !self.shared.has_room(kernel) {
                    self.shared.await_room(kernel, self.me);
                    break;
                }
                let Some(message) = queue.pop_front() else {
                    break;
                };
                match self.shared.deliver(kernel, message) {
                    Ok(()) => batch.sent += 1,
                    Err(SendError::Full(message)) => {
                        queue.push_front(message);
                        self.shared.await_room(kernel, self.me);
                        break;
                    }
                    // The kernel finished: its sessions are gone.
                    Err(SendError::Gone(_) | SendError::Closing(_)) => batch.undeliverable += 1,
                }
            }
        }
        self.overflowing = self.overflow.iter().map(VecDeque::len).sum();
    }

    /// Moves the shutdown along: empty the overflow, wait for every kernel
    /// to have done so, then take everything accepted and stop.
    fn advance_shutdown(&mut self, batch: &mut Batch) {
        match self.phase {
            Phase::Running | Phase::Stopping => {}
            Phase::Draining => {
                if self.overflow.iter().all(VecDeque::is_empty) {
                    self.phase = Phase::Drained;
                    self.shared.drained();
                }
            }
            Phase::Drained => {
                if self.shared.all_drained() {
                    self.phase = Phase::Stopping;
                    batch.messages.extend(self.remote.try_iter());
                    batch.stop = true;
                }
            }
        }
    }
}

impl Link for Attached {
    fn receive(&mut self) -> Option<Message> {
        self.remote.try_recv().ok()
    }

    fn take(&mut self, batch: &mut Batch) {
        batch.tasks.extend(self.tasks.try_iter());
        batch.waiting = self.remote.len();
        if batch.received > 0 {
            self.shared.room_made(self.me);
        }
        self.flush_overflow(batch);
        self.advance_shutdown(batch);
    }

    fn is_busy(&self) -> bool {
        self.overflowing != 0 || matches!(self.phase, Phase::Draining | Phase::Drained)
    }

    fn is_throttled(&self) -> bool {
        self.overflowing >= self.throttle_at
    }

    fn has_room(&self) -> bool {
        self.overflow.iter().enumerate().any(|(index, queue)| {
            !queue.is_empty()
                && self.shared.has_room(KernelId(
                    u16::try_from(index).expect("kernel numbers fit u16"),
                ))
        })
    }

    /// Overflow is retried. A shutdown just asked moves along at once; one
    /// waiting for the other kernels waits for `Control::Drained` (the last
    /// kernel to drain sends it), not on a timer.
    fn wait_cap(&self) -> Option<Duration> {
        let can_move = match self.phase {
            Phase::Draining => true,
            Phase::Drained => self.shared.all_drained(),
            Phase::Running | Phase::Stopping => false,
        };
        if can_move {
            Some(Duration::ZERO)
        } else if self.overflowing != 0 {
            Some(OVERFLOW_RETRY)
        } else {
            None
        }
    }

    fn send(&mut self, target: SessionId, message: Message) -> Result<Delivery, SendError> {
        let index = usize::from(target.kernel().0);
        let Some(queue) = self.overflow.get_mut(index) else {
            return Err(SendError::Gone(message));
        };
        if !queue.is_empty() {
            if self.shared.is_closing() {
                return Err(SendError::Closing(message));
            }
            queue.push_back(message);
            self.overflowing += 1;
            return Ok(Delivery::Queued);
        }
        match self.shared.send(target.kernel(), message) {
            Ok(()) => Ok(Delivery::Sent),
            Err(SendError::Full(message)) => {
                queue.push_back(message);
                self.overflowing += 1;
                self.shared.await_room(target.kernel(), self.me);
                Ok(Delivery::Queued)
            }
            Err(error) => Err(error),
        }
    }

    fn try_send(&mut self, target: SessionId, message: Message) -> Result<(), SendError> {
        let index = usize::from(target.kernel().0);
        if self.overflow.get(index).is_some_and(|q| !q.is_empty()) {
            return Err(SendError::Full(message));
        }
        self.shared.send(target.kernel(), message)
    }

    /// Once shutdown was asked, a name no kernel holds any more (its
    /// session may have stopped for the shutdown) is the shutdown's doing.
    fn resolve(&self, name: &Str) -> Result<SessionId> {
        match self.shared.resolve(name) {
            Err(Error::NoSuchSession(_)) if self.shared.is_closing() => Err(Error::ShuttingDown),
            resolved => resolved,
        }
    }

    fn alias_set(&self, alias: &Str, owner: SessionId) {
        self.shared.directory.insert(alias, owner);
    }

    fn alias_removed(&self, alias: &str, owner: SessionId) {
        self.shared.directory.remove(alias, owner);
    }

    /// In a runtime, a kernel with nothing to do tells the runtime instead of
    /// sending itself IDLE (when it is about to block: see `before_block`);
    /// when every kernel is idle and nothing is in flight, the runtime sends
    /// IDLE to all of them. `true` when an idle kernel should send itself
    /// IDLE now: one whose sessions the shutdown has stopped. While a
    /// shutdown delivers what was accepted, nobody idles.
    fn idle(&mut self, idle: bool) -> bool {
        match self.phase {
            Phase::Running => {
                self.wants_idle = idle;
                false
            }
            Phase::Draining | Phase::Drained => {
                // An idleness noted while running must not be reported
                // while a shutdown delivers what was accepted.
                self.wants_idle = false;
                false
            }
            Phase::Stopping => idle,
        }
    }

    /// Right before blocking: a kernel that found itself idle in this
    /// slice tells the runtime now. Reporting only when about to block
    /// keeps kernels that trade messages faster than they block off the
    /// runtime's shared count.
    fn before_block(&mut self) {
        if std::mem::take(&mut self.wants_idle) && !self.reported_idle {
            self.reported_idle = true;
            self.shared.leave(1);
        }
    }

    /// Something arrived: work again, if the kernel had told the runtime it
    /// had none.
    fn woke(&mut self) {
        self.idled = false;
        if self.reported_idle {
            self.reported_idle = false;
            self.shared.idle.enter();
        }
    }

    fn control(&mut self, control: Control) -> Reaction {
        match control {
            Control::Idle => {
                let zombie = std::mem::take(&mut self.idled);
                if self.reported_idle {
                    // The message counted as a busy party; now this kernel
                    // does.
                    self.reported_idle = false;
                } else {
                    self.shared.leave(1);
                }
                Reaction::Idle { zombie }
            }
            Control::Shutdown => {
                self.woke();
                if self.phase == Phase::Running {
                    self.phase = Phase::Draining;
                }
                Reaction::Nothing
            }
            // A reader asked (snapshot/ask.rs); the kernel builds what readers
            // asked for, within its budget.
            Control::Snapshot => Reaction::Publish,
            // The next slice's `take` moves the shutdown along.
            Control::Drained => Reaction::Nothing,
        }
    }

    /// ZOMBIE follows an IDLE that left nothing to do at once for a kernel
    /// shutting down; otherwise only when the runtime is found idle once
    /// more (what IDLE's handlers sent to other kernels may bring work
    /// back).
    fn zombie_now(&mut self) -> bool {
        if self.phase == Phase::Stopping {
            return true;
        }
        self.idled = true;
        false
    }

    fn overflowing(&self) -> usize {
        self.overflowing
    }

    /// A finished kernel stays idle for good; a failure shuts the runtime
    /// down, so the error reaches `join` instead of leaving the other
    /// kernels running.
    fn finish(self: Box<Self>, failed: bool, leftover: &mut dyn FnMut() -> Option<Message>) {
        if failed {
            self.shared.shutdown();
        }
        // A finished kernel has nothing more to send: a shutdown need not
        // wait for it to drain.
        if matches!(self.phase, Phase::Running | Phase::Draining) {
            self.shared.drained();
        }
        // No more idle notices from here on; those already sent are in the
        // kernel's channel, and their counts go with this kernel's own.
        self.shared.finish(self.me);
        let mut parties = usize::from(!self.reported_idle);
        while let Some(message) = leftover() {
            if matches!(message, Message::Control(Control::Idle)) {
                parties += 1;
            }
        }
        if parties > 0 {
            self.shared.leave(parties);
        }
    }
}
