//! The stand-in for a peer's session (IKC's "thunk"): the SENDER of the
//! requests that session makes here, so that posting back to SENDER
//! reaches it across the link.
//!
//! A responder keeps one thunk per connection and peer session, on its own
//! kernel, so that a call runs as an ordinary local call there
//! ([`Thunks`]). A thunk holds itself alive (a reference count its
//! responder releases when the connection closes or the thunk is let go
//! for a newer one), and every event posted to it other than its own is
//! sent back to the peer session as a post of that event.

use std::{
    cell::Cell,
    collections::{HashMap, VecDeque},
};

use roe_engine::{Answer, Args, Context, Result, Session, SessionId, Value};

use crate::{
    native::{SessionRef, Target},
    request::{Invoke, Outgoing, PostKind, SEND, Sender, is_kernel_event},
};

thread_local! {
    /// The calling context of the peer's call being run, while it runs.
    static WANTARRAY: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Perl's `wantarray` for a handler running a call from another process:
/// `Some(true)` when a Perl caller wants a list, `Some(false)` when it
/// wants one value, `None` otherwise (a roe caller, whose calls have no
/// context, or no remote call at all).
///
/// A Perl handler decides by its context what to return (`return @list`
/// is the list to a list-context caller and its length to a scalar one);
/// a roe handler that serves Perl peers can do the same with this.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
///
/// // What a handler of `list` returns to a Perl caller, as Perl's
/// // `return @$list` would.
/// fn answer(list: Vec<Value>) -> Value {
///     match roe_ikc::wantarray() {
///         Some(false) => Value::from(list.len()),
///         _ => Value::List(list),
///     }
/// }
/// assert_eq!(answer(vec![Value::Int(1)]), Value::List(vec![Value::Int(1)]));
/// ```
pub fn wantarray() -> Option<bool> {
    WANTARRAY.with(Cell::get)
}

/// A thunk's event: carry out this [`Invoke`].
pub(crate) const DELIVER: &str = "roe-ikc:deliver";

/// The reference count tag a thunk holds itself alive by.
pub(crate) const HELD: &str = "roe-ikc:thunk";

pub(crate) struct Thunk {
    channel: SessionId,
    origin: Option<SessionRef<'static>>,
}

/// A thunk for `origin` (none: the peer did not say who sent it) on the
/// connection `channel`.
pub(crate) fn session(channel: SessionId, origin: Option<SessionRef<'static>>) -> Session<Thunk> {
    Session::new(Thunk { channel, origin })
        .on("_start", |cx, _| {
            let me = cx.session();
            cx.refcount_increment(me, HELD).map(drop)
        })
        .on(DELIVER, |cx, mut args| {
            let invoke: Invoke = args.take(0).take_local()?;
            deliver(cx, invoke)
        })
        .on("_default", send_back)
}

/// Runs the request as the peer's session would here: a post, or a call
/// whose answer goes back on the connection.
fn deliver(cx: &mut Context<'_, Thunk>, invoke: Invoke) -> Result<()> {
    let channel = cx.heap.channel;
    let outgoing = match invoke.call {
        Some(id) => {
            let before = WANTARRAY.with(|w| w.replace(invoke.wants_list));
            let answer = cx.call_answer(invoke.target, invoke.state, invoke.args);
            WANTARRAY.with(|w| w.set(before));
            // The peer waits for an answer, whatever became of the call.
            let answer = answer.unwrap_or_else(|error| Answer::Died(error.to_string()));
            Outgoing::Reply { id, answer }
        }
        None => match cx.post(invoke.target, invoke.state, invoke.args) {
            Ok(()) => return Ok(()),
            Err(error) => Outgoing::Error {
                op: "local-invocation",
                message: error.to_string(),
            },
        },
    };
    // The connection may be gone; then there is no one to tell.
    let _ = cx.post(channel, SEND, (Value::local(outgoing),));
    Ok(())
}

/// An event posted to the thunk (ARG0 its name, ARG1 its arguments): a
/// post back to the peer's session.
fn send_back(cx: &mut Context<'_, Thunk>, mut args: Args) -> Result<()> {
    let event = args[0].as_str().unwrap_or_default().to_owned();
    if is_kernel_event(&event) {
        return Ok(());
    }
    let Some(origin) = cx.heap.origin.clone() else {
        tracing::debug!(
            thunk = %cx.session(),
            "a post to the stand-in of a peer session that did not say who it is is dropped"
        );
        return Ok(());
    };
    let posted: Args = match args.take(1) {
        Value::List(list) => list.into(),
        _ => Args::new(),
    };
    let outgoing = Outgoing::Post {
        to: Target {
            session: origin,
            state: event.into(),
        },
        args: posted,
        from: Sender::Session(cx.sender()),
        kind: PostKind::Back,
    };
    let channel = cx.heap.channel;
    let _ = cx.post(channel, SEND, (Value::local(outgoing),));
    Ok(())
}

/// A thunk's key: the connection, and the peer session it stands for.
pub(crate) type Key = (SessionId, Option<SessionRef<'static>>);

/// Thunks kept per connection: past this, the connection's oldest goes, so
/// a peer that names ever new senders costs others nothing.
pub(crate) const MAX_PER_CHANNEL: usize = 256;

/// Thunks kept per responder, over all its connections: past this, the
/// oldest goes.
pub(crate) const MAX_THUNKS: usize = 4096;

/// A responder's thunks, by connection and peer session.
///
/// Past [`MAX_PER_CHANNEL`] of one connection, that connection's oldest
/// is let go; past [`MAX_THUNKS`] in all, the oldest of all. Either is
/// found in constant time (amortized): each thunk is queued in the order
/// it came, on its connection's queue and on the responder's, and an entry
/// whose thunk was let go another way is skipped (its number no longer
/// matches) and, once such entries are as many as the live ones, swept.
///
/// # Invariants
///
/// Every thunk in `map` has one entry on its connection's queue and one on
/// `order` with its number; a connection's `live` counts its thunks in
/// `map`.
pub(crate) struct Thunks {
    map: HashMap<Key, (SessionId, u64)>,
    channels: HashMap<SessionId, Queue>,
    order: VecDeque<(Key, u64)>,
    next: u64,
    per_channel: usize,
    max: usize,
}

/// One connection's thunks, oldest first.
#[derive(Default)]
struct Queue {
    order: VecDeque<(Option<SessionRef<'static>>, u64)>,
    live: usize,
}

impl Default for Thunks {
    fn default() -> Thunks {
        Thunks::with_limits(MAX_PER_CHANNEL, MAX_THUNKS)
    }
}

impl Thunks {
    fn with_limits(per_channel: usize, max: usize) -> Thunks {
        debug_assert!(per_channel > 0 && max > 0);
        Thunks {
            map: HashMap::new(),
            channels: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
            per_channel,
            max,
        }
    }

    /// The thunk for `key`, if there is one.
    pub fn get(&self, key: &Key) -> Option<SessionId> {
        self.map.get(key).map(|(thunk, _)| *thunk)
    }

    /// How many thunks there are.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }

    /// Keeps `thunk` for `key` (which has none); returns the thunks let go
    /// to make room, for the responder to release.
    pub fn insert(&mut self, key: Key, thunk: SessionId) -> Vec<SessionId> {
        debug_assert!(!self.map.contains_key(&key));
        let mut gone = Vec::new();
        let channel = key.0;
        let full = self
            .channels
            .get(&channel)
            .is_some_and(|q| q.live >= self.per_channel);
        if full {
            gone.extend(self.pop_channel(channel));
        }
        if self.map.len() >= self.max {
            gone.extend(self.pop_oldest());
        }
        let number = self.next;
        self.next += 1;
        let queue = self.channels.entry(channel).or_default();
        queue.order.push_back((key.1.clone(), number));
        queue.live += 1;
        if queue.order.len() > 2 * queue.live.max(self.per_channel) {
            let map = &self.map;
            queue
                .order
                .retain(|(origin, n)| is_current(map, &(channel, origin.clone()), *n));
        }
        self.order.push_back((key.clone(), number));
        self.map.insert(key, (thunk, number));
        if self.order.len() > 2 * self.map.len().max(self.max) {
            let map = &self.map;
            self.order.retain(|(key, n)| is_current(map, key, *n));
        }
        gone
    }

    /// Lets go of `channel`'s thunks (its connection closed).
    pub fn remove_channel(&mut self, channel: SessionId) -> Vec<SessionId> {
        let Some(queue) = self.channels.remove(&channel) else {
            return Vec::new();
        };
        queue
            .order
            .into_iter()
            .filter_map(|(origin, number)| {
                let key = (channel, origin);
                is_current(&self.map, &key, number)
                    .then(|| self.map.remove(&key))
                    .flatten()
                    .map(|(thunk, _)| thunk)
            })
            .collect()
    }

    /// The connections that have thunks.
    pub fn channels(&self) -> Vec<SessionId> {
        self.channels.keys().copied().collect()
    }

    /// Lets go of `channel`'s oldest thunk.
    fn pop_channel(&mut self, channel: SessionId) -> Option<SessionId> {
        let queue = self.channels.get_mut(&channel)?;
        while let Some((origin, number)) = queue.order.pop_front() {
            let key = (channel, origin);
            if is_current(&self.map, &key, number) {
                queue.live -= 1;
                return self.map.remove(&key).map(|(thunk, _)| thunk);
            }
        }
        None
    }

    /// Lets go of the oldest thunk of all.
    fn pop_oldest(&mut self) -> Option<SessionId> {
        while let Some((key, number)) = self.order.pop_front() {
            if is_current(&self.map, &key, number) {
                if let Some(queue) = self.channels.get_mut(&key.0) {
                    queue.live -= 1;
                    if queue.live == 0 {
                        self.channels.remove(&key.0);
                    }
                }
                return self.map.remove(&key).map(|(thunk, _)| thunk);
            }
        }
        None
    }
}

/// Whether a queue's entry `(key, number)` is still the thunk kept.
fn is_current(map: &HashMap<Key, (SessionId, u64)>, key: &Key, number: u64) -> bool {
    map.get(key).is_some_and(|(_, n)| *n == number)
}

#[cfg(test)]
mod tests {
    use roe_engine::KernelId;

    use super::*;

    fn id(n: u64) -> SessionId {
        SessionId::from_number(KernelId(0), n)
    }

    fn key(channel: u64, origin: u64) -> Key {
        (id(channel), Some(SessionRef::Number(origin)))
    }

    #[test]
    fn a_connection_that_names_ever_new_senders_lets_its_own_go() {
        let mut thunks = Thunks::with_limits(3, 10);
        thunks.insert(key(1, 0), id(100));
        for origin in 0..50 {
            let gone = thunks.insert(key(2, origin), id(200 + origin));
            // Its oldest, never the other connection's.
            let expected: Vec<SessionId> = origin
                .checked_sub(3)
                .map(|o| id(200 + o))
                .into_iter()
                .collect();
            assert_eq!(gone, expected);
        }
        assert_eq!(thunks.get(&key(1, 0)), Some(id(100)));
        assert_eq!(thunks.len(), 4);
        // Its queue keeps no more than its share.
        assert!(thunks.channels[&id(2)].order.len() <= 6);
        assert!(thunks.order.len() <= 20);
    }

    #[test]
    fn past_the_responders_limit_the_oldest_of_all_goes() {
        let mut thunks = Thunks::with_limits(3, 4);
        for (n, channel) in [1, 2, 3, 4].into_iter().enumerate() {
            assert!(thunks.insert(key(channel, 0), id(n as u64)).is_empty());
        }
        assert_eq!(thunks.insert(key(5, 0), id(9)), [id(0)]);
        assert_eq!(thunks.get(&key(1, 0)), None);
        assert_eq!(thunks.insert(key(1, 0), id(10)), [id(1)]);
        assert_eq!(thunks.len(), 4);
    }

    #[test]
    fn a_closed_connections_thunks_go_and_stale_entries_are_skipped() {
        let mut thunks = Thunks::with_limits(2, 3);
        thunks.insert(key(1, 0), id(10));
        thunks.insert(key(1, 1), id(11));
        // The first goes for the connection's limit; a third for the
        // responder's would otherwise find its stale entry first.
        assert_eq!(thunks.insert(key(1, 2), id(12)), [id(10)]);
        thunks.insert(key(2, 0), id(20));
        assert_eq!(thunks.insert(key(3, 0), id(30)), [id(11)]);
        let mut gone = thunks.remove_channel(id(1));
        gone.sort();
        assert_eq!(gone, [id(12)]);
        assert_eq!(thunks.len(), 2);
        assert!(thunks.remove_channel(id(1)).is_empty());
        // A key let go and kept again is one thunk, not two.
        thunks.insert(key(1, 0), id(40));
        assert_eq!(thunks.insert(key(4, 0), id(41)), [id(20)]);
        assert_eq!(thunks.get(&key(1, 0)), Some(id(40)));
        let mut channels = thunks.channels();
        channels.sort();
        assert_eq!(channels, [id(1), id(3), id(4)]);
    }
}
