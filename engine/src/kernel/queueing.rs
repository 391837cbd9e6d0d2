//! Queueing: what an item holds on its sessions while it waits (POE's
//! event reference counts), and the calls that queue without dispatching:
//! `post`, `yield`, `signal`, timers, and their cleanup.

use std::panic::Location;

use super::{core::Core, dest::Dest, link::Delivery, sessions::Side};
use crate::{
    error::{Error, Result, TryPostError},
    event::Event,
    id::{SessionId, TimerId},
    mailbox::{Message, Origin},
    queue::{
        Entry,
        item::{Item, Kind},
    },
    value::Args,
};

impl Core {
    /// Counts and queues an item due now for `target`; `false` when the
    /// target is not a live session of this kernel. Never applies the
    /// inbox: what applies the inbox queues through here, so messages are
    /// queued in the order they arrived.
    #[inline]
    pub fn push_now(
        &mut self,
        target: SessionId,
        sender: SessionId,
        event: Event,
        kind: Kind,
        args: Args,
        location: &'static Location<'static>,
    ) -> bool {
        if target.kernel() != self.id || !self.hold(target, sender, 1) {
            return false;
        }
        let mut entry = self.entry(target, sender, event, kind);
        entry.location = location;
        self.queue.push(entry, args);
        true
    }

    /// An item due now, from the running dispatch.
    #[inline]
    pub(super) fn entry(
        &mut self,
        target: SessionId,
        sender: SessionId,
        event: Event,
        kind: Kind,
    ) -> Entry {
        Entry {
            due: self.clock.cached(),
            target,
            sender,
            event,
            kind,
            caller_state: self.active.event,
            location: Location::caller(),
        }
    }

    /// Queues an item due now, after applying what other threads sent
    /// before it (a postback called earlier in the running handler is
    /// queued first, as POE orders them).
    #[inline]
    pub fn enqueue(
        &mut self,
        target: SessionId,
        sender: SessionId,
        event: Event,
        kind: Kind,
        args: Args,
        location: &'static Location<'static>,
    ) -> bool {
        self.fold();
        self.push_now(target, sender, event, kind, args, location)
    }

    /// `yield` on behalf of `session`.
    #[inline]
    pub fn post_self(
        &mut self,
        session: SessionId,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) {
        self.enqueue(session, session, event, Kind::Post, args, location);
    }

    /// `post`: resolve, then queue from the active session.
    #[inline]
    pub fn post(
        &mut self,
        dest: &Dest,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        self.fold();
        let target = match dest {
            Dest::Session(id) if id.known_slot().is_some() || id.kernel() != self.id => *id,
            _ => self.resolve_anywhere(dest)?,
        };
        let sender = self.active.session;
        if target.kernel() != self.id {
            let message = Message::Post {
                target,
                sender: Origin::Session(sender),
                event,
                args,
            };
            return self.send_remote(target, message);
        }
        if self.push_now(target, sender, event, Kind::Post, args, location) {
            Ok(())
        } else {
            Err(Error::NoSuchSession(dest.to_string()))
        }
    }

    /// Sends `message` to a session of another kernel of the runtime.
    pub fn send_remote(&mut self, target: SessionId, message: Message) -> Result<()> {
        let Some(link) = &mut self.link else {
            return Err(Error::NoSuchSession(target.to_string()));
        };
        match link.send(target, message) {
            Ok(Delivery::Sent) => self.acct.counters.sent_remote += 1,
            Ok(Delivery::Queued) => {
                let counters = &mut self.acct.counters;
                counters.overflowed += 1;
                counters.overflow_high_water = counters.overflow_high_water.max(link.overflowing());
            }
            Err(error) => return Err(error.into_error(target)),
        }
        Ok(())
    }

    /// Sends `message` to another kernel only if its inbox has room now
    /// and nothing of this kernel's waits ahead of it.
    #[allow(clippy::result_large_err)] // The arguments come back by value.
    pub fn try_send_remote(
        &mut self,
        target: SessionId,
        message: Message,
    ) -> Result<(), TryPostError> {
        let Some(link) = &mut self.link else {
            return Err(TryPostError::Failed(
                Error::NoSuchSession(target.to_string()),
                message.into_args(),
            ));
        };
        link.try_send(target, message)
            .map_err(|error| error.into_try(target))?;
        self.acct.counters.sent_remote += 1;
        Ok(())
    }

    /// `signal`: queue a signal item for `dest`.
    pub fn signal(
        &mut self,
        dest: &Dest,
        signal: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        let target = self.resolve_or_err(dest)?;
        let sender = self.active.session;
        self.enqueue(target, sender, signal, Kind::Signal, args, location);
        Ok(())
    }

    /// Queues a timer for `target`, due at `due`.
    pub fn enqueue_timer(
        &mut self,
        target: SessionId,
        event: Event,
        kind: Kind,
        args: Args,
        due: i64,
        location: &'static Location<'static>,
    ) -> TimerId {
        self.fold();
        self.sessions.hold(target, 1, Side::To);
        let entry = Entry {
            due,
            target,
            sender: target,
            event,
            kind,
            caller_state: self.active.event,
            location,
        };
        let (slot, seq) = self.queue.push_timer(entry, args);
        TimerId::new(self.id, slot, seq)
    }

    /// Removes `session`'s timer `timer` if it is still pending.
    pub fn cancel_timer(&mut self, session: SessionId, timer: TimerId) {
        let owned = self
            .queue
            .timer(timer.slot(), timer.number())
            .is_some_and(|item| item.target == session);
        if owned && let Some((item, _)) = self.queue.remove_timer(timer.slot(), timer.number()) {
            self.dequeued(&item);
        }
    }

    /// Takes the holds a queued item has on its target and sender (a sender
    /// of another kernel, or a session gone, holds nothing).
    #[inline]
    pub(super) fn hold(&mut self, target: SessionId, sender: SessionId, delta: i32) -> bool {
        if target.is_kernel() {
            if !self.sessions.contains(target) {
                return false;
            }
        } else if !self.sessions.hold(target, delta, Side::To) {
            return false;
        }
        if sender != target && sender.kernel() == self.id && !sender.is_kernel() {
            self.sessions.hold(sender, delta, Side::From);
        }
        true
    }

    /// Releases what a queued item held, once it leaves the queue.
    #[inline(always)]
    pub fn dequeued(&mut self, item: &Item) {
        if !item.target.is_kernel() {
            self.sessions.hold(item.target, -1, Side::To);
        }
        if item.sender != item.target && item.sender.kernel() == self.id && !item.sender.is_kernel()
        {
            self.sessions.hold(item.sender, -1, Side::From);
        }
    }

    /// Removes every queued item to or from `id` (a stopping session), and
    /// releases what those items held on the other side. A call from
    /// another kernel among them is answered: its target is gone.
    pub fn purge_session(&mut self, id: SessionId) {
        let Some(record) = self.sessions.get(id) else {
            return;
        };
        if record.events_to == 0 && record.events_from == 0 {
            return;
        }
        for (item, reply) in self.queue.purge(id) {
            self.dequeued(&item);
            if let Some(reply) = reply {
                let answer = super::answer::gone(item.target);
                self.reply(item.target, item.sender, reply, answer);
            }
        }
    }

    /// Sends a call's answer back to the caller's session as `reply`.
    pub fn reply(&mut self, from: SessionId, to: SessionId, reply: Event, args: Args) {
        let message = Message::Reply {
            target: to,
            sender: from,
            event: reply,
            args,
        };
        if to.kernel() == self.id {
            self.apply(message);
        } else {
            // A caller's kernel that finished has nobody to tell.
            let _ = self.send_remote(to, message);
        }
    }

    /// Queued items in all (POE's `get_event_count`).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}
