//! Queueing: what an item holds on its sessions while it waits (POE's
//! event reference counts), and the calls that queue without dispatching:
//! `post`, `yield`, `signal`, timers, and their cleanup.

use std::panic::Location;

use super::{core::Core, dest::Dest, link::Delivery, router::Unrouted, sessions::Side};
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

/// The entries a session's list of items sent to others starts with.
const SENT_LIST: usize = 32;

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
        if target.kernel() != self.id {
            return false;
        }
        let Some(link) = self.hold(target, sender) else {
            return false;
        };
        let mut entry = self.entry(target, sender, event, kind);
        entry.location = location;
        self.queue.push(entry, args, link);
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
        let sender = self.active.session;
        self.post_from(sender, dest, event, args, location)
    }

    /// `post` from `sender`, a live session of this kernel (the active one,
    /// or an I/O source's, whose SENDER it is).
    #[inline]
    pub fn post_from(
        &mut self,
        sender: SessionId,
        dest: &Dest,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        self.fold();
        let target = match dest {
            Dest::Session(id) if id.known_slot().is_some() || id.kernel() != self.id => *id,
            _ => match self.resolve_anywhere(dest) {
                Ok(target) => target,
                Err(error) => {
                    return self.route_post(sender, dest, event, args, location, error);
                }
            },
        };
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

    /// A post nothing resolves: the router's to carry, if it knows the
    /// name; otherwise `error`, the resolution's failure.
    #[cold]
    fn route_post(
        &mut self,
        sender: SessionId,
        dest: &Dest,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
        error: Error,
    ) -> Result<()> {
        let (Dest::Name(name), Some(router)) = (dest, self.router.clone()) else {
            return Err(error);
        };
        match router.post(name, event, args) {
            Ok(routed) => self.post_from(
                sender,
                &Dest::Session(routed.session),
                routed.event,
                routed.args,
                location,
            ),
            Err(Unrouted::Unknown) => Err(error),
            Err(Unrouted::Refused(refusal)) => Err(refusal),
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

    /// Takes the holds an item about to be queued in the FIFO has on its
    /// target and sender (a sender of another kernel, or a session gone,
    /// holds nothing), and notes it where a purge of either finds it;
    /// returns its link (see `queue/fifo.rs`), or `None` when the target
    /// does not live here.
    #[inline]
    pub(super) fn hold(&mut self, target: SessionId, sender: SessionId) -> Option<u32> {
        let at = self.queue.next_position();
        let link = if target.is_kernel() {
            // The kernel's own session is never purged: no chain.
            if !self.sessions.contains(target) {
                return None;
            }
            0
        } else {
            self.sessions.hold_to(target, at)?
        };
        if sender != target
            && sender.kernel() == self.id
            && !sender.is_kernel()
            && self.sessions.hold_from(sender, at)
        {
            self.list_sent(sender, at);
        }
        Some(link)
    }

    /// Lists the item at FIFO position `at` among those `id` sent, its
    /// list being full: first the items that left the queue go, which
    /// are the list's first (positions rise along it, and items leave in
    /// order). The list doubles only when over half of it is still
    /// queued, so listing costs O(1) a post, amortized; it starts at
    /// [`SENT_LIST`] entries, so a session that keeps one post in flight
    /// comes here once every few dozen posts.
    #[cold]
    fn list_sent(&mut self, id: SessionId, at: u32) {
        let front = self.queue.front_position();
        let queued = self.queue.ring_len();
        if let Some(record) = self.sessions.get_mut(id) {
            let sent = &mut record.sent;
            let left = sent.partition_point(|&p| p.wrapping_sub(front) as usize >= queued);
            sent.drain(..left);
            if sent.len() > sent.capacity() / 2 || sent.capacity() < SENT_LIST {
                sent.reserve(sent.capacity().max(SENT_LIST));
            }
            sent.push(at);
        }
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
    /// another kernel among them is answered: its target is gone. The cost
    /// is `id`'s own items, found through their links, however many others
    /// are queued.
    pub fn purge_session(&mut self, id: SessionId) {
        let Some(record) = self.sessions.get_mut(id) else {
            return;
        };
        if record.events_to == 0 && record.events_from == 0 {
            return;
        }
        let to = record.queued_to;
        let sent = std::mem::take(&mut record.sent);
        for (item, reply) in self.queue.purge(id, to, &sent) {
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

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc};

    use crate::{Kernel, Session, SessionId};

    /// Stopping a session purges what it has queued and what was queued
    /// for it, and nothing else: the work is the stopping session's own
    /// items, however long the queue is around them.
    #[test]
    fn a_purge_costs_the_purged_sessions_items_not_the_queue() {
        const OTHERS: u32 = 10_000;
        let mut kernel = Kernel::new().unwrap();
        let a_got = Rc::new(Cell::new(0));
        let got = Rc::clone(&a_got);
        // Each slice, A queues an event to itself and one to B.
        let a = kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| cx.yield_("again", ()))
                    .on("again", |cx, _| {
                        cx.yield_("again", ());
                        if let Some(b) = cx.resolve("b") {
                            cx.post(b, "from_a", ())?;
                        }
                        Ok::<_, crate::Error>(())
                    })
                    .on("to_a", move |_, _| got.set(got.get() + 1)),
            )
            .unwrap();
        let b_got = Rc::new(Cell::new((0, 0)));
        let (own, from_a) = (Rc::clone(&b_got), Rc::clone(&b_got));
        kernel
            .spawn(
                Session::new(a)
                    .on("_start", |cx, _| {
                        cx.alias_set("b")?;
                        cx.yield_("go", ());
                        Ok::<_, crate::Error>(())
                    })
                    // A is killed at the next slice; B's own events and two
                    // for A wait behind the KILL, and so do the two A queues
                    // in that slice before it is killed.
                    .on("go", |cx, _| {
                        let a: SessionId = *cx.heap;
                        cx.signal(a, "KILL", ())?;
                        for _ in 0..OTHERS {
                            cx.yield_("own", ());
                        }
                        cx.post(a, "to_a", ())?;
                        cx.post(a, "to_a", ())
                    })
                    .on("own", move |cx, _| {
                        own.set((own.get().0 + 1, own.get().1));
                        if own.get().0 == OTHERS {
                            cx.alias_remove("b")?;
                        }
                        Ok::<_, crate::Error>(())
                    })
                    .on("from_a", move |_, _| {
                        from_a.set((from_a.get().0, from_a.get().1 + 1))
                    }),
            )
            .unwrap();
        kernel.run().unwrap();
        // POE's behaviour: what A sent before the KILL's slice arrived, the
        // rest went with A, and none of B's events for A ran.
        assert_eq!(a_got.get(), 0);
        assert_eq!(b_got.get(), (OTHERS, 1));
        // A's 4: its last event to itself, its last one to B, and B's two.
        // (Scanning the queue looked at all 10,004.)
        let visits = kernel.core.queue.purge_visits();
        assert_eq!(visits, 4, "purging A looked at {visits} queued items");
    }

    /// Two sessions killed in one slice with events queued to and from
    /// each other: the first purge takes them all, the second passes over
    /// what the first took, nothing runs or is released twice, and the
    /// event count drops at once, as POE's does.
    #[test]
    fn purged_items_are_neither_counted_nor_dispatched_nor_released_twice() {
        let ran = Rc::new(Cell::new(0));
        let counted = Rc::new(Cell::new(None));
        let mut kernel = Kernel::new().unwrap();
        let peer = |alias: &'static str, other: &'static str, ran: Rc<Cell<u32>>| {
            Session::new(())
                .on("_start", move |cx, _| cx.alias_set(alias))
                .on("ping", move |cx, _| {
                    cx.post(other, "cross", ())?;
                    cx.post(other, "cross", ())?;
                    cx.yield_("own", ());
                    Ok::<_, crate::Error>(())
                })
                .on("cross", {
                    let ran = Rc::clone(&ran);
                    move |_, _| ran.set(ran.get() + 1)
                })
                .on("own", move |_, _| ran.set(ran.get() + 1))
        };
        kernel.spawn(peer("a", "b", Rc::clone(&ran))).unwrap();
        kernel.spawn(peer("b", "a", Rc::clone(&ran))).unwrap();
        let seen = Rc::clone(&counted);
        kernel
            .spawn(
                Session::new(())
                    // The KILLs are queued before the pings run, so what
                    // the pings queue waits behind them.
                    .on("_start", |cx, _| {
                        cx.yield_("go", ());
                        cx.post("a", "ping", ())?;
                        cx.post("b", "ping", ())?;
                        Ok::<_, crate::Error>(())
                    })
                    .on("go", |cx, _| {
                        cx.signal("a", "KILL", ())?;
                        cx.signal("b", "KILL", ())?;
                        cx.yield_("count", ());
                        Ok::<_, crate::Error>(())
                    })
                    .on("count", move |cx, _| seen.set(Some(cx.event_count()))),
            )
            .unwrap();
        kernel.run().unwrap();
        assert_eq!(ran.get(), 0, "no purged event ran");
        // Only `count` itself had been queued behind the KILLs and left.
        assert_eq!(counted.get(), Some(0));
        // A's purge looked at its five (two to it, two from it, its own);
        // B's at its own and, passing over them, the two A had sent it.
        assert_eq!(kernel.core.queue.purge_visits(), 8);
    }
}
