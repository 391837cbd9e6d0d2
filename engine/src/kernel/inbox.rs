//! Applying what arrived from outside the kernel's own dispatch: messages
//! from postbacks, other threads and other kernels, and the requests of I/O
//! sources.
//!
//! Applying a message only ever queues (never applies the inbox again), so
//! messages are queued in the order they arrived.

use std::panic::Location;

use super::{
    answer::{self, Answer},
    core::Core,
    link::Reaction,
    postback::AWAITING_REPLY,
};
use crate::{
    event::Event,
    id::SessionId,
    mailbox::{Message, Origin},
    queue::item::Kind,
    value::Args,
};

impl Core {
    /// Applies what waits: the inbox's messages, then the sources'
    /// requests. Two loads when nothing does.
    #[inline]
    pub fn fold(&mut self) {
        if self.inbox.has_pending() {
            self.fold_pending();
        }
        self.apply_requests();
    }

    /// Applies the messages waiting now, not those that arrive meanwhile:
    /// a thread posting faster than the kernel applies cannot hold it
    /// here. The rest wait for the next fold (the kernel does not block
    /// while any do).
    #[cold]
    fn fold_pending(&mut self) {
        for _ in 0..self.inbox.pending() {
            let Some(message) = self.inbox.try_recv() else {
                break;
            };
            if let Some(link) = &mut self.link {
                link.woke();
            }
            self.apply(message);
        }
    }

    /// Applies one message from another thread or kernel.
    pub fn apply(&mut self, message: Message) {
        match message {
            Message::Post {
                target,
                sender,
                event,
                args,
            } => {
                let sender = self.sender_of(sender);
                if !self.deliver(target, sender, event, Kind::Post, args) {
                    self.acct.counters.undeliverable += 1;
                }
            }
            Message::Call {
                target,
                sender,
                event,
                args,
                reply,
            } => match self.sessions.find(target) {
                Some(found) => {
                    if let Some(link) = self.hold(found, sender) {
                        let entry = self.entry(found, sender, event, Kind::Call);
                        self.queue.push_call(entry, args, link, reply);
                    }
                }
                None => self.reply(target, sender, reply, answer::gone(target)),
            },
            Message::Reply {
                target,
                sender,
                event,
                args,
            } => {
                if self.deliver(target, sender, event, Kind::Post, args) {
                    self.sessions.extref_dec(target, AWAITING_REPLY);
                } else {
                    self.acct.counters.undeliverable += 1;
                }
            }
            Message::Release { session, tag } => {
                // The session may be gone already; nothing is held then.
                self.sessions.extref_dec(session, &tag);
            }
            Message::Signal(number) => self.os_signal(number),
            Message::Control(control) => {
                let reaction = match &mut self.link {
                    Some(link) => link.control(control),
                    None => Reaction::Nothing,
                };
                match reaction {
                    Reaction::Nothing => {}
                    Reaction::Idle { zombie } => self.runtime_idle(zombie),
                    Reaction::Publish => self.publish_snapshot(),
                }
            }
        }
    }

    /// Queues a message's event for its target, found by number if need
    /// be; `false` when the target is gone.
    fn deliver(
        &mut self,
        target: SessionId,
        sender: SessionId,
        event: Event,
        kind: Kind,
        args: Args,
    ) -> bool {
        match self.sessions.find(target) {
            Some(found) => self.push_now(found, sender, event, kind, args, Location::caller()),
            None => false,
        }
    }

    /// SENDER for a message's event: a session of another kernel stays
    /// itself (a reply goes back to it); one of this kernel that is gone
    /// becomes the kernel.
    fn sender_of(&self, origin: Origin) -> SessionId {
        match origin {
            Origin::Active => self.active.session,
            Origin::Session(id) if id.kernel() != self.id || self.sessions.contains(id) => id,
            Origin::Session(_) => self.root(),
        }
    }

    /// The runtime found every kernel idle: IDLE, as POE sends it, or
    /// ZOMBIE when IDLE already ran here and nothing arrived since.
    fn runtime_idle(&mut self, zombie: bool) {
        if self.is_idle() {
            let root = self.root();
            let signal = if zombie { Event::ZOMBIE } else { Event::IDLE };
            self.push_now(
                root,
                root,
                signal,
                Kind::Signal,
                Args::new(),
                Location::caller(),
            );
        }
    }

    /// The answer a call from another kernel sends back, from how its
    /// dispatch ended.
    pub fn answer(outcome: super::core::Outcome, target: SessionId) -> Args {
        Answer::of(outcome, target).into_args()
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, rc::Rc};

    use crate::{Kernel, Session, mailbox::Message, mailbox::Origin};

    /// Applying a message used to apply the inbox again when it queued, so
    /// a post that arrived after an OS signal was queued before it.
    #[test]
    fn messages_are_queued_in_the_order_they_arrived() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut kernel = Kernel::new().unwrap();
        let (seen, after) = (Rc::clone(&log), Rc::clone(&log));
        let session = kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| cx.sig("USR2", "got_usr2", ()))
                    .on("got_usr2", move |cx, _| {
                        seen.borrow_mut().push("USR2");
                        cx.sig_remove("USR2");
                    })
                    .on("after", move |_, _| after.borrow_mut().push("after")),
            )
            .unwrap();
        let mailbox = kernel.core.inbox.mailbox();
        let usr2 = signal_hook::consts::SIGUSR2;
        assert!(mailbox.send(Message::Signal(usr2)).is_ok());
        assert!(
            mailbox
                .send(Message::Post {
                    target: session,
                    sender: Origin::Session(session),
                    event: "after".into(),
                    args: ().into(),
                })
                .is_ok()
        );
        kernel.run().unwrap();
        assert_eq!(*log.borrow(), ["USR2", "after"]);
    }

    /// An OS SIGPIPE arrives while A runs, just after A sent a PIPE of its
    /// own to B. B's `_signal` hears A's PIPE (it used to lose it: the sent
    /// PIPE took the OS one's target), and only A hears the OS one.
    #[test]
    fn a_sent_pipe_and_an_os_sigpipe_reach_their_own_sessions() {
        let log = Rc::new(RefCell::new(Vec::<String>::new()));
        let mut kernel = Kernel::new().unwrap();
        let b_log = Rc::clone(&log);
        let b = kernel
            .spawn(
                Session::new(())
                    .on("_start", |_, _| {})
                    .on("_signal", move |_, args| {
                        let line = format!("B heard {} {}", args[0], args[1]);
                        b_log.borrow_mut().push(line);
                    }),
            )
            .unwrap();
        let mailbox = kernel.core.inbox.mailbox();
        let a_log = Rc::clone(&log);
        kernel
            .spawn(
                Session::new(())
                    .on("_start", move |cx, _| {
                        cx.signal(b, "PIPE", ("from A",))?;
                        // As the OS signal owner forwards a caught SIGPIPE;
                        // applied as this handler returns, while A is active.
                        let pipe = signal_hook::consts::SIGPIPE;
                        assert!(mailbox.send(Message::Signal(pipe)).is_ok());
                        Ok::<_, crate::Error>(())
                    })
                    .on("_signal", move |_, args| {
                        let line = format!("A heard {} {}", args[0], args[1]);
                        a_log.borrow_mut().push(line);
                    }),
            )
            .unwrap();
        kernel.run().unwrap();
        assert_eq!(*log.borrow(), ["B heard PIPE from A", "A heard PIPE undef"]);
    }
}
