//! The kernel's side of a runtime: cross-kernel posts and calls, the
//! inbox batch, overflow queues, idleness across kernels, shutdown, and
//! snapshots.

use std::{
    collections::VecDeque,
    panic::Location,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use crossbeam_channel::Receiver;
use rustc_hash::FxHashMap;

use super::{
    Kernel,
    core::Core,
    frame::trap,
    remote::{Mailbox, Message, Origin},
};
use crate::{
    error::{Error, Result},
    event::Event,
    id::{KernelId, SessionId},
    queue::Kind,
    runtime::{RuntimeHandle, SendError, Shared, Task},
    snapshot::{Counters, QueuedSnapshot, SessionSnapshot, Snapshot, SnapshotReader},
    value::Args,
};

/// Cross-kernel messages a kernel takes per slice, so one busy sender
/// cannot hold another kernel's slices.
const REMOTE_BATCH: usize = 1024;

/// How soon a kernel with posts waiting in an overflow queue tries again.
const OVERFLOW_RETRY: Duration = Duration::from_millis(1);

/// How long a kernel in a conversation (with other kernels, or over its
/// descriptors) looks for the next message or readiness before it blocks
/// (see [`Core::spin_for_messages`] and [`Core::spin_for_io`]).
pub(super) const SPIN: Duration = Duration::from_micros(20);

/// Where a kernel is in a runtime's shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    /// Shutdown asked: emptying this kernel's overflow queues.
    Draining,
    /// Overflow empty; waiting for every kernel to get there.
    Drained,
    /// Everything accepted is queued here; the stop is queued after it.
    Stopping,
}

/// A kernel's link to its runtime.
pub(crate) struct Attached {
    pub shared: Arc<Shared>,
    remote: Receiver<Message>,
    tasks: Receiver<Task>,
    /// Posts to each kernel that found its inbox full, in order.
    overflow: Vec<VecDeque<Message>>,
    /// How many posts wait in `overflow`.
    overflowing: usize,
    /// `received_remote` when the kernel last waited.
    received_at_wait: u64,
    /// The kernel told the runtime it had nothing to do.
    reported_idle: bool,
    /// This slice's idle check found nothing to do; told the runtime if
    /// the kernel then blocks.
    wants_idle: bool,
    /// IDLE ran here and left nothing to do; if the runtime is found idle
    /// again with nothing arrived since, ZOMBIE follows.
    idled: bool,
    phase: Phase,
}

/// Snapshot publishing.
pub(crate) struct Publisher {
    reader: SnapshotReader,
    interval: i64,
    next: i64,
    generation: u64,
    /// The activity count (see [`Core::activity`]) the last snapshot saw.
    seen: u64,
}

impl Kernel {
    /// The kernel's mailbox, for the runtime's peer table.
    pub(crate) fn mailbox(&self) -> Mailbox {
        self.core.inbox.mailbox()
    }

    /// Publishes this kernel's snapshot every `interval` (and on request);
    /// returns the reader observers use. Asked again, it changes the
    /// interval and returns the same reader, so observers that hold one
    /// (a runtime's handle among them) keep seeing new snapshots.
    pub fn snapshots(&mut self, interval: Duration) -> SnapshotReader {
        let interval = i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX);
        if let Some(publisher) = &mut self.core.publisher {
            publisher.interval = interval;
            publisher.next = 0;
            let reader = publisher.reader.clone();
            self.core.publish_snapshot();
            return reader;
        }
        let reader = SnapshotReader::new();
        self.core.publisher = Some(Publisher {
            reader: reader.clone(),
            interval,
            next: 0,
            generation: 0,
            seen: u64::MAX,
        });
        self.core.publish_snapshot();
        reader
    }

    pub(crate) fn attach(
        &mut self,
        shared: Arc<Shared>,
        remote: Receiver<Message>,
        tasks: Receiver<Task>,
    ) {
        let overflow = (0..shared.kernels()).map(|_| VecDeque::new()).collect();
        self.core.runtime = Some(Attached {
            shared,
            remote,
            tasks,
            overflow,
            overflowing: 0,
            received_at_wait: 0,
            reported_idle: false,
            wants_idle: false,
            idled: false,
            phase: Phase::Running,
        });
    }

    /// The runtime's part of a slice: tasks, the inbox batch, overflow
    /// queues, shutdown. One atomic load when there is nothing to do.
    #[inline]
    pub(crate) fn runtime_slice(&mut self) {
        if let Some(runtime) = &self.core.runtime
            && (self.core.inbox.has_remote() || runtime.busy())
        {
            self.runtime_work();
        }
    }

    #[cold]
    fn runtime_work(&mut self) {
        let Some(runtime) = &self.core.runtime else {
            return;
        };
        let tasks: Vec<Task> = runtime.tasks.try_iter().collect();
        if !tasks.is_empty() {
            // Busy first, then the tasks stop counting as in flight: the
            // runtime never looks idle in between.
            self.core.woke();
            self.core.inbox.taken_remote(tasks.len());
            for task in tasks {
                // A panicking task fails the kernel as an unhandled DIE
                // does: its error ends the runtime and reaches `join`.
                if let Err(error) = trap(|| {
                    task(self);
                    Ok(())
                }) {
                    self.core.unhandled_die(error.to_string());
                    self.stop();
                }
            }
        }
        self.core.take_remote(REMOTE_BATCH);
        self.core.flush_overflow();
        self.core.advance_shutdown();
    }

    /// The kernel finished: it stays idle for good; a failure shuts the
    /// runtime down, so the error reaches `join` instead of leaving the
    /// other kernels running.
    pub(crate) fn detach(&mut self, failed: bool) {
        // Observers see the kernel as it ended.
        self.core.publish_snapshot();
        let Some(runtime) = self.core.runtime.take() else {
            return;
        };
        if failed {
            runtime.shared.shutdown();
        }
        // A finished kernel has nothing more to send: a shutdown need not
        // wait for it to drain.
        if matches!(runtime.phase, Phase::Running | Phase::Draining) {
            runtime.shared.drained();
        }
        // No more RuntimeIdle from here on; those already sent are in the
        // mailbox, and their counts go with this kernel's own.
        runtime.shared.finish(self.core.id());
        let mut parties = usize::from(!runtime.reported_idle);
        while let Some(message) = self.core.inbox.try_recv() {
            if matches!(message, Message::RuntimeIdle) {
                parties += 1;
            }
        }
        if parties > 0 {
            runtime.shared.leave(parties);
        }
    }
}

impl Attached {
    /// Overflow to resend or a shutdown to move along.
    fn busy(&self) -> bool {
        self.overflowing != 0 || matches!(self.phase, Phase::Draining | Phase::Drained)
    }
}

impl Core {
    /// A handle on the runtime this kernel belongs to.
    pub(crate) fn runtime_handle(&self) -> Option<RuntimeHandle> {
        self.runtime
            .as_ref()
            .map(|runtime| RuntimeHandle::new(Arc::clone(&runtime.shared)))
    }

    /// Whether posts wait in overflow queues.
    #[inline]
    pub(crate) fn has_overflow(&self) -> bool {
        self.runtime.as_ref().is_some_and(|r| r.overflowing != 0)
    }

    /// `post` to a session of another kernel of the runtime.
    pub(crate) fn post_remote(
        &mut self,
        target: SessionId,
        sender: SessionId,
        event: Event,
        args: Args,
    ) -> Result<()> {
        let message = Message::Post {
            target,
            sender: Origin::Session(sender),
            event,
            args,
        };
        self.send_remote(target, message)
    }

    /// Sends `message` to `target`'s kernel, or queues it behind earlier
    /// overflow: posts from here to one kernel always arrive in order.
    pub(crate) fn send_remote(&mut self, target: SessionId, message: Message) -> Result<()> {
        let me = self.id();
        let Some(runtime) = &mut self.runtime else {
            return Err(Error::NoSuchSession(target.to_string()));
        };
        let index = usize::from(target.kernel().0);
        let Some(queue) = runtime.overflow.get_mut(index) else {
            return Err(Error::NoSuchSession(target.to_string()));
        };
        if !queue.is_empty() {
            if runtime.shared.is_closing() {
                return Err(Error::ShuttingDown);
            }
            queue.push_back(message);
            runtime.overflowing += 1;
            self.counters.overflowed += 1;
            return Ok(());
        }
        match runtime.shared.send(target.kernel(), message) {
            Ok(()) => {
                self.counters.sent_remote += 1;
                Ok(())
            }
            Err(SendError::Full(message)) => {
                queue.push_back(message);
                runtime.overflowing += 1;
                self.counters.overflowed += 1;
                runtime.shared.await_room(target.kernel(), me);
                Ok(())
            }
            Err(error) => Err(error.into_error(target)),
        }
    }

    /// Sends `message` to `kernel` only if its inbox has room now and
    /// nothing of this kernel's waits ahead of it.
    pub(crate) fn try_send_remote(&mut self, target: SessionId, message: Message) -> Result<()> {
        let Some(runtime) = &mut self.runtime else {
            return Err(Error::NoSuchSession(target.to_string()));
        };
        let index = usize::from(target.kernel().0);
        if runtime.overflow.get(index).is_some_and(|q| !q.is_empty()) {
            return Err(Error::InboxFull(message.into_args()));
        }
        runtime
            .shared
            .send(target.kernel(), message)
            .map_err(|error| error.into_error(target))?;
        self.counters.sent_remote += 1;
        Ok(())
    }

    /// Resends overflow, in order, while the targets have room. These
    /// posts were accepted, so they go even once shutdown was asked; the
    /// target takes them before it stops.
    fn flush_overflow(&mut self) {
        let me = self.id();
        let Some(runtime) = &mut self.runtime else {
            return;
        };
        if runtime.overflowing == 0 {
            return;
        }
        for (index, queue) in runtime.overflow.iter_mut().enumerate() {
            let kernel = KernelId(u16::try_from(index).expect("kernel numbers fit u16"));
            while !queue.is_empty() {
                if !runtime.shared.has_room(kernel) {
                    runtime.shared.await_room(kernel, me);
                    break;
                }
                let Some(message) = queue.pop_front() else {
                    break;
                };
                match runtime.shared.deliver(kernel, message) {
                    Ok(()) => self.counters.sent_remote += 1,
                    Err(SendError::Full(message)) => {
                        queue.push_front(message);
                        runtime.shared.await_room(kernel, me);
                        break;
                    }
                    // The kernel finished: its sessions are gone.
                    Err(SendError::Gone | SendError::Closing) => {
                        self.counters.undeliverable += 1;
                    }
                }
            }
        }
        runtime.overflowing = runtime.overflow.iter().map(VecDeque::len).sum();
    }

    /// Takes up to `limit` messages from the cross-kernel inbox.
    fn take_remote(&mut self, limit: usize) {
        let me = self.id();
        let Some(runtime) = &self.runtime else {
            return;
        };
        let waiting = runtime.remote.len();
        self.counters.inbox_high_water = self.counters.inbox_high_water.max(waiting);
        if waiting == 0 {
            return;
        }
        // A second handle on the channel (one atomic increment per batch)
        // lets each message move from its slot straight into the queue.
        let remote = runtime.remote.clone();
        // Busy first; the messages stop counting as in flight only once
        // applied: the runtime never looks idle in between.
        self.woke();
        let mut taken = 0;
        for message in remote.try_iter().take(limit) {
            taken += 1;
            self.apply(message);
        }
        self.inbox.taken_remote(taken);
        self.counters.received_remote += taken as u64;
        if let Some(runtime) = &self.runtime {
            runtime.shared.room_made(me);
        }
    }

    /// Sends a call's result back to the caller's session as `reply`.
    pub(crate) fn reply(
        &mut self,
        from: SessionId,
        to: SessionId,
        reply: Event,
        args: Args,
    ) -> Result<()> {
        let message = Message::Reply {
            target: to,
            sender: from,
            event: reply,
            args,
        };
        if to.kernel() == self.id() {
            self.apply(message);
            Ok(())
        } else {
            self.send_remote(to, message)
        }
    }

    /// Something arrived: work again, if the kernel had told the runtime it
    /// had none.
    pub(crate) fn woke(&mut self) {
        if let Some(runtime) = &mut self.runtime {
            runtime.idled = false;
            if runtime.reported_idle {
                runtime.reported_idle = false;
                runtime.shared.idle.enter();
            }
        }
    }

    /// Right before blocking: a kernel that found itself idle in this
    /// slice tells the runtime now. Reporting only when about to block
    /// keeps kernels that trade messages faster than they block off the
    /// runtime's shared count.
    pub(crate) fn report_idle(&mut self) {
        if let Some(runtime) = &mut self.runtime
            && std::mem::take(&mut runtime.wants_idle)
            && !runtime.reported_idle
        {
            runtime.reported_idle = true;
            runtime.shared.leave(1);
        }
    }

    /// In a runtime, a kernel with nothing to do tells the runtime instead of
    /// sending itself IDLE (when it is about to block: see
    /// [`Core::report_idle`]); when every kernel is idle and nothing is in
    /// flight, the runtime sends IDLE to all of them. `true` when an `idle`
    /// kernel should send itself IDLE now: a lone kernel, or one whose
    /// sessions the shutdown has stopped. While a shutdown delivers what was
    /// accepted, nobody idles.
    pub(crate) fn idle_alone(&mut self, idle: bool) -> bool {
        let Some(runtime) = &mut self.runtime else {
            return idle;
        };
        match runtime.phase {
            Phase::Running => {
                runtime.wants_idle = idle;
                false
            }
            Phase::Draining | Phase::Drained => {
                // An idleness noted while running must not be reported
                // while a shutdown delivers what was accepted.
                runtime.wants_idle = false;
                false
            }
            Phase::Stopping => idle,
        }
    }

    /// The runtime found every kernel idle: IDLE, as POE sends it, or
    /// ZOMBIE when IDLE already ran here and nothing arrived since.
    pub(crate) fn runtime_idle(&mut self) {
        let Some(runtime) = &mut self.runtime else {
            return;
        };
        let idled = std::mem::take(&mut runtime.idled);
        if runtime.reported_idle {
            // The message counted as a busy party; now this kernel does.
            runtime.reported_idle = false;
        } else {
            runtime.shared.leave(1);
        }
        if self.is_idle() {
            let root = self.root();
            let signal = if idled { Event::ZOMBIE } else { Event::IDLE };
            self.enqueue(
                root,
                root,
                signal,
                Kind::Signal,
                Args::new(),
                Location::caller(),
            );
        }
    }

    /// Whether ZOMBIE follows an IDLE that left nothing to do: at once for a
    /// lone kernel (POE's rule) or one shutting down; in a runtime, only
    /// when the runtime is found idle once more (what IDLE's handlers sent
    /// to other kernels may bring work back).
    pub(crate) fn zombie_now(&mut self) -> bool {
        match &mut self.runtime {
            None => true,
            Some(runtime) if runtime.phase == Phase::Stopping => true,
            Some(runtime) => {
                runtime.idled = true;
                false
            }
        }
    }

    /// Shutdown was asked of the runtime.
    pub(crate) fn begin_shutdown(&mut self) {
        self.woke();
        if let Some(runtime) = &mut self.runtime
            && runtime.phase == Phase::Running
        {
            runtime.phase = Phase::Draining;
        }
    }

    /// Moves the shutdown along: empty the overflow, wait for every kernel
    /// to have done so, then take everything accepted and queue the stop.
    fn advance_shutdown(&mut self) {
        let Some(runtime) = &mut self.runtime else {
            return;
        };
        match runtime.phase {
            Phase::Running | Phase::Stopping => {}
            Phase::Draining => {
                if runtime.overflow.iter().all(VecDeque::is_empty) {
                    runtime.phase = Phase::Drained;
                    runtime.shared.drained();
                }
            }
            Phase::Drained => {
                if runtime.shared.all_drained() {
                    runtime.phase = Phase::Stopping;
                    self.take_remote(usize::MAX);
                    let root = self.root();
                    self.enqueue(
                        root,
                        root,
                        Event::new("_roe_stop"),
                        Kind::Stop,
                        Args::new(),
                        Location::caller(),
                    );
                }
            }
        }
    }

    /// A kernel that took messages from other kernels since it last waited
    /// is in a conversation, and the next message usually comes sooner than
    /// a blocked thread can be woken (a few microseconds on this machine
    /// kind, tens in some of its scheduling regimes). So it looks for one,
    /// for up to [`SPIN`] or `limit`, before blocking; `true` when one came.
    /// A kernel that received nothing never spins.
    pub(crate) fn spin_for_messages(&mut self, limit: Option<Duration>) -> bool {
        let Some(runtime) = &mut self.runtime else {
            return false;
        };
        let received = self.counters.received_remote;
        if received == runtime.received_at_wait {
            return false;
        }
        runtime.received_at_wait = received;
        let budget = limit.map_or(SPIN, |limit| limit.min(SPIN));
        let started = Instant::now();
        loop {
            for _ in 0..64 {
                if self.inbox.has_any() {
                    return true;
                }
                std::hint::spin_loop();
            }
            if started.elapsed() >= budget {
                return false;
            }
        }
    }

    /// How long the wait may last at most: overflow to resend and a
    /// shutdown to move along are retried, as no wake-up announces room in
    /// another kernel's inbox.
    pub(crate) fn runtime_wait_cap(&self) -> Option<Duration> {
        self.runtime
            .as_ref()
            .filter(|runtime| runtime.busy())
            .map(|_| OVERFLOW_RETRY)
    }

    // ----- snapshots ----------------------------------------------------------

    /// Everything that changes what a snapshot shows comes with a dispatch
    /// or a message, so this sum moves whenever a snapshot would differ.
    fn activity(&self) -> u64 {
        let c = &self.counters;
        c.dispatched + c.received_remote + c.sent_remote + c.overflowed + c.undeliverable
    }

    /// Publishes a snapshot at the end of a slice if the interval has passed
    /// and something happened; two compares otherwise.
    #[inline]
    pub(crate) fn maybe_publish(&mut self) {
        if let Some(publisher) = &self.publisher
            && self.clock.cached() >= publisher.next
            && publisher.seen != self.activity()
        {
            self.publish_snapshot();
        }
    }

    /// How long the wait may last at most so that what happened since the
    /// last snapshot is published within one interval, even if nothing
    /// wakes the kernel after it.
    pub(crate) fn publish_wait_cap(&mut self) -> Option<Duration> {
        let publisher = self.publisher.as_ref()?;
        if publisher.seen == self.activity() {
            return None;
        }
        Some(self.clock.until(publisher.next))
    }

    /// Builds and publishes a snapshot now.
    pub(crate) fn publish_snapshot(&mut self) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        let generation = publisher.generation + 1;
        let snapshot = self.snapshot(generation);
        let now = self.clock.now();
        let seen = self.activity();
        if let Some(publisher) = &mut self.publisher {
            publisher.reader.publish(snapshot);
            publisher.generation = generation;
            publisher.next = now.saturating_add(publisher.interval);
            publisher.seen = seen;
        }
    }

    fn snapshot(&mut self, generation: u64) -> Snapshot {
        let mut sessions: Vec<SessionSnapshot> = self
            .sessions
            .iter()
            .map(|record| SessionSnapshot {
                id: record.id,
                aliases: record.aliases.clone(),
                parent: record.parent,
                children: record.children.values().copied().collect(),
                handlers: record
                    .body
                    .as_ref()
                    .map(|b| b.handler_names())
                    .unwrap_or_default(),
                events_to: record.events_to,
                events_from: record.events_from,
                timers: 0,
                watchers: 0,
                refcount: record.refcount,
                handled: record.handled,
                handler_time: Duration::from_nanos(record.handler_time),
                handler_max: Duration::from_nanos(record.handler_max),
                last_event: record.last_event,
            })
            .collect();
        sessions.sort_by_key(|s| s.id.number());
        // One pass over timers and watchers each, not one per session.
        let mut held: FxHashMap<SessionId, (usize, usize)> = FxHashMap::default();
        for item in self.timers.items() {
            held.entry(item.target).or_default().0 += 1;
        }
        for session in self.reactor.watcher_sessions() {
            held.entry(session).or_default().1 += 1;
        }
        for session in &mut sessions {
            (session.timers, session.watchers) = held.get(&session.id).copied().unwrap_or_default();
        }
        let clock = &self.clock;
        let queued = |item: &crate::queue::Item| QueuedSnapshot {
            seq: item.seq,
            due: clock.to_wall_time(item.due),
            target: item.target,
            sender: item.sender,
            event: item.event,
            kind: item.kind.name(),
        };
        let queue = self
            .fifo
            .items()
            .take(Snapshot::LISTED)
            .map(queued)
            .collect();
        // The first LISTED timers by due time, without sorting them all.
        let mut soonest: Vec<&crate::queue::Item> = self.timers.items().collect();
        if soonest.len() > Snapshot::LISTED {
            soonest.select_nth_unstable_by_key(Snapshot::LISTED, |item| (item.due, item.seq));
            soonest.truncate(Snapshot::LISTED);
        }
        soonest.sort_unstable_by_key(|item| (item.due, item.seq));
        let timers = soonest.into_iter().map(queued).collect();
        let overflow_waiting = self.runtime.as_ref().map_or(0, |r| r.overflowing);
        Snapshot {
            kernel: self.id(),
            name: self.name().to_owned(),
            taken: Some(SystemTime::now()),
            generation,
            counters: Counters {
                queued: self.fifo.len(),
                timers: self.timers.len(),
                watched: self.reactor.watched(),
                sessions: self.sessions.len(),
                overflow_waiting,
                ..self.counters
            },
            sessions,
            queue,
            timers,
        }
    }
}
