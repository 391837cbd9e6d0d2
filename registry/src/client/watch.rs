//! [`Subscription`]: a session that watches the registry's event port and
//! tells another session what it hears, connecting again by itself.
//!
//! In registry(4)'s counter mode it reads `READY`, then a counter line
//! after changes. In roe's detailed mode it sends `watch <query>` after
//! `READY` and keeps a copy of the services that match: the first time,
//! and whenever it has to start afresh, it reads the registry's listing up
//! to its `sync`, then tells what differs from the copy (so a session that
//! applies the changes it is told keeps a copy equal to the registry's);
//! after that it tells each change as it comes. It remembers the revision
//! of the last line it read, and after a lost connection asks to resume
//! with `since` that revision; a registry that no longer holds the changes
//! since then (or never gave out that revision: it restarted) says so, and
//! the subscription starts afresh. It starts afresh too when the registry
//! closed the connection itself, or an attempt to connect failed: the
//! registry was stopping or gone, and may come back without a state file,
//! its revisions counting from 0 again, where an old revision could pass
//! for a new one. So a watch resumes after its connection failed while the
//! registry went on (a network's failure), and starts afresh after a
//! restart.
//!
//! Every connection goes through the backoff, starting afresh included:
//! only the first attempt after a success is made at once, so a registry
//! that answers every watch with `revision too old` sees connections at the
//! backoff's pace, not a storm. And every wait is timed: `READY`, then (in
//! the detailed mode) the listing up to its `sync`, each within the
//! client's timeout of the last line heard.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use roe_engine::{
    Context, Event, ReadWrite, Result, Retries, Session, SessionId, SocketFactory, Spawner, Value,
};

use super::RegistryClient;
use super::error::ClientError;
use super::event::WatchEvent;
use super::lines::{self, CONNECT_FAILED, CONNECTED, INPUT, IO_ERROR, LineFilter};
use crate::change::{ChangeKind, Notice};
use crate::line::{EventLine, Port, READY, Watch};
use crate::query::Query;
use crate::revision::Revision;
use crate::service::Service;

/// The session's event: the backoff's wait is over.
const RETRY: &str = "roe-registry:watch-retry";
/// The session's event: the connection's timer, while it waits for `READY`
/// or, in the detailed mode, for its first `sync`.
const LATE: &str = "roe-registry:watch-late";

/// A connection that lasted this long was a success: the next failure
/// starts the backoff afresh.
const STABLE: Duration = Duration::from_secs(1);

/// The refusals of a `since` that starting afresh answers.
const START_AFRESH: [&str; 3] = ["revision too old", "revision not reached", "bad revision"];

/// A running watch of the registry: the session that tells another what
/// the event port says. Made by [`RegistryClient::watch`] (roe's detailed
/// mode) or [`RegistryClient::counter`] (registry(4)'s counter mode).
///
/// It posts a [`WatchEvent`] for each thing it hears, and goes on, across
/// lost connections and restarts of the registry, until it is stopped
/// ([`STOP`](Subscription::STOP)) or the session it tells is gone.
///
/// # Examples
///
/// ```no_run
/// use roe_engine::{Kernel, Session};
/// use roe_registry::{ChangeKind, Query, RegistryClient, WatchEvent};
///
/// let client = RegistryClient::new("127.0.0.1".parse()?);
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(())
///         .on_start(move |cx, _| {
///             let me = cx.session();
///             client.watch(cx, Query::new([("proto", "ikc")]), me, "heard").map(drop)
///         })
///         .on("heard", |_, mut args| {
///             if let Some(WatchEvent::Change(notice)) = WatchEvent::from_args(&mut args) {
///                 match notice.kind {
///                     ChangeKind::Add => println!("+ {}", notice.service),
///                     ChangeKind::Update => println!("~ {}", notice.service),
///                     ChangeKind::Remove => println!("- {}", notice.service.name()),
///                 }
///             }
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    session: SessionId,
}

impl Subscription {
    /// The event that stops the subscription.
    pub const STOP: &'static str = "stop";

    /// The subscription's session.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// Stops the subscription: its connection closes and its session ends.
    ///
    /// # Errors
    ///
    /// As [`Context::post`]: the subscription has ended.
    pub fn stop<H: 'static>(&self, cx: &mut Context<'_, H>) -> Result<()> {
        cx.post(self.session, Subscription::STOP, ())
    }
}

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Connecting, or waiting to.
    Down,
    /// Connected, waiting for `READY`.
    Ready,
    /// Detailed: reading the listing, up to its `sync`.
    Listing,
    /// Hearing changes.
    Live,
}

/// The subscription session's heap.
pub(super) struct Watching {
    client: RegistryClient,
    /// The detailed mode's query; `None` in the counter mode.
    query: Option<Query>,
    reply: SessionId,
    event: Event,
    connector: Option<SocketFactory>,
    wheel: Option<ReadWrite<LineFilter>>,
    retries: Retries,
    connected_at: Option<Instant>,
    /// When the connection last heard a line (or was made).
    heard_at: Instant,
    /// The connection waits for `READY` or its first `sync`, under the
    /// client's timeout.
    awaiting: bool,
    phase: Phase,
    /// The revision of the last line read: where to resume.
    since: Option<Revision>,
    /// The services that match, as told.
    known: BTreeMap<String, Service>,
    known_bytes: usize,
    /// A listing being read.
    listing: BTreeMap<String, Service>,
    listing_bytes: usize,
    /// The registry has begun answering the watch line: counter lines,
    /// which it writes until it reads that line, are over.
    switched: bool,
    stopped: bool,
}

pub(super) fn spawn(
    client: RegistryClient,
    query: Option<Query>,
    reply: SessionId,
    event: Event,
    spawner: &mut impl Spawner,
) -> Result<Subscription> {
    let retries = Retries::new(client.backoff, reply.number().wrapping_mul(31) ^ 0x5eed);
    let session = spawner.spawn_session(session(Watching {
        client,
        query,
        reply,
        event,
        connector: None,
        wheel: None,
        retries,
        connected_at: None,
        heard_at: Instant::now(),
        awaiting: false,
        phase: Phase::Down,
        since: None,
        known: BTreeMap::new(),
        known_bytes: 0,
        listing: BTreeMap::new(),
        listing_bytes: 0,
        switched: false,
        stopped: false,
    }))?;
    Ok(Subscription { session })
}

fn session(watching: Watching) -> Session<Watching> {
    Session::new(watching)
        .on("_start", |cx, _| connect(cx))
        .on(RETRY, |cx, _| connect(cx))
        .on(CONNECTED, |cx, mut args| {
            cx.heap.connector = None;
            let client = cx.heap.client.clone();
            match lines::open(cx, &mut args, &client, true) {
                Ok(wheel) => {
                    let now = Instant::now();
                    cx.heap.wheel = Some(wheel);
                    cx.heap.phase = Phase::Ready;
                    cx.heap.connected_at = Some(now);
                    cx.heap.heard_at = now;
                    cx.heap.awaiting = true;
                    cx.delay(LATE, client.timeout, ())
                }
                Err(error) => lost(cx, &format!("the connection could not start: {error}")),
            }
        })
        .on(CONNECT_FAILED, |cx, args| {
            cx.heap.connector = None;
            // The registry was not there: it may have restarted, and a
            // registry without a state file starts its revisions again
            // from 0, so an old revision could pass for a new one. The
            // next watch starts afresh.
            cx.heap.since = None;
            let error = lines::connect_failure(&cx.heap.client, Port::Event, &args);
            lost(cx, &error.to_string())
        })
        .on(INPUT, |cx, mut args| {
            let line = lines::line_of(&mut args);
            heard(cx, &line)
        })
        .on(IO_ERROR, |cx, args| {
            let why = match lines::failure(Port::Event, &args) {
                Some(error) => error.to_string(),
                None => {
                    // The registry closed the connection itself: it is
                    // stopping (or died), and may come back without a
                    // state file, its revisions counting from 0 again.
                    // The next watch starts afresh.
                    cx.heap.since = None;
                    "the registry closed the connection".to_owned()
                }
            };
            lost(cx, &why)
        })
        .on(LATE, |cx, _| {
            if cx.heap.phase == Phase::Down || !cx.heap.awaiting {
                return Ok(());
            }
            let timeout = cx.heap.client.timeout;
            let quiet = cx.heap.heard_at.elapsed();
            if quiet < timeout {
                return cx.delay(LATE, timeout - quiet, ()).map(drop);
            }
            let error = ClientError::Timeout {
                port: Port::Event,
                waited: timeout,
            };
            lost(cx, &error.to_string())
        })
        .on(Subscription::STOP, |cx, _| stop(cx))
        .on("shutdown", |cx, _| stop(cx))
}

fn connect(cx: &mut Context<'_, Watching>) -> Result<()> {
    if cx.heap.stopped || cx.heap.connector.is_some() || cx.heap.wheel.is_some() {
        return Ok(());
    }
    let client = cx.heap.client.clone();
    let connector = lines::dial(cx, &client, Port::Event)?;
    cx.heap.connector = Some(connector);
    Ok(())
}

/// Tells the session that asked; a session that is gone stops the
/// subscription.
fn tell(cx: &mut Context<'_, Watching>, event: WatchEvent) -> Result<()> {
    let (reply, name) = (cx.heap.reply, cx.heap.event);
    if cx.post(reply, name, (Value::local(event),)).is_err() {
        tracing::debug!("registry client: the watcher's session is gone; stopping");
        return stop(cx);
    }
    Ok(())
}

/// One line of the event port.
fn heard(cx: &mut Context<'_, Watching>, line: &[u8]) -> Result<()> {
    let line = match EventLine::parse(line) {
        Ok(line) => line,
        Err(error) => {
            return lost(
                cx,
                &format!("the registry's event port sent a bad line: {error}"),
            );
        }
    };
    let detailed = cx.heap.query.is_some();
    cx.heap.heard_at = Instant::now();
    if matches!(
        line,
        EventLine::Change(_) | EventLine::Sync(_) | EventLine::Error(_)
    ) {
        cx.heap.switched = true;
    }
    if matches!(line, EventLine::Sync(_)) || (!detailed && line == EventLine::Ready) {
        cx.heap.awaiting = false;
    }
    match (cx.heap.phase, line) {
        (Phase::Ready, EventLine::Ready) => {
            if let (Some(query), Some(wheel)) = (&cx.heap.query, &cx.heap.wheel) {
                let watch = Watch {
                    query: query.clone(),
                    since: cx.heap.since,
                };
                lines::send(wheel, watch.to_string());
                cx.heap.switched = false;
                cx.heap.listing.clear();
                cx.heap.listing_bytes = 0;
                cx.heap.phase = match cx.heap.since {
                    Some(_) => Phase::Live,
                    None => Phase::Listing,
                };
            } else {
                cx.heap.phase = Phase::Live;
            }
            tell(cx, WatchEvent::Connected)
        }
        (Phase::Listing | Phase::Live, EventLine::Counter(_)) if detailed && !cx.heap.switched => {
            // Written before the registry read the watch line.
            Ok(())
        }
        (Phase::Live, EventLine::Counter(revision)) if !detailed => {
            tell(cx, WatchEvent::Changed(revision))
        }
        (Phase::Listing, EventLine::Change(notice)) => {
            let heap = &mut *cx.heap;
            apply(&mut heap.listing, &mut heap.listing_bytes, notice);
            if heap.listing_bytes > heap.client.max_answer {
                let error = ClientError::TooLarge {
                    port: Port::Event,
                    max: heap.client.max_answer,
                };
                return lost(cx, &error.to_string());
            }
            Ok(())
        }
        (Phase::Listing, EventLine::Sync(revision)) => {
            let heap = &mut *cx.heap;
            let listing = std::mem::take(&mut heap.listing);
            let notices = differences(&heap.known, &listing, revision);
            heap.known = listing;
            heap.known_bytes = std::mem::take(&mut heap.listing_bytes);
            heap.since = Some(revision);
            heap.phase = Phase::Live;
            for notice in notices {
                tell(cx, WatchEvent::Change(notice))?;
            }
            tell(cx, WatchEvent::Synced(revision))
        }
        (Phase::Live, EventLine::Change(notice)) if detailed => {
            let heap = &mut *cx.heap;
            heap.since = Some(notice.revision);
            let told = apply(&mut heap.known, &mut heap.known_bytes, notice);
            if heap.known_bytes > heap.client.max_answer {
                let error = ClientError::TooLarge {
                    port: Port::Event,
                    max: heap.client.max_answer,
                };
                return lost(cx, &error.to_string());
            }
            match told {
                Some(notice) => tell(cx, WatchEvent::Change(notice)),
                None => Ok(()),
            }
        }
        (Phase::Live, EventLine::Sync(revision)) if detailed => {
            cx.heap.since = Some(revision);
            tell(cx, WatchEvent::Synced(revision))
        }
        (_, EventLine::Error(reason))
            if detailed && cx.heap.since.is_some() && START_AFRESH.contains(&reason.as_str()) =>
        {
            // The connection closes after this line; a new one starts
            // with the services that match now.
            tracing::debug!(
                since = ?cx.heap.since,
                "registry client: the registry cannot resume the watch ({reason}); starting afresh"
            );
            cx.heap.since = None;
            cx.heap.wheel = None;
            cx.heap.phase = Phase::Down;
            cx.alarm_clear(LATE)?;
            again(cx, true)
        }
        (_, EventLine::Error(reason)) => {
            lost(cx, &format!("the registry refused the watch: {reason}"))
        }
        (phase, line) => lost(
            cx,
            &format!(
                "the registry's event port sent {line:?} where it owes {}",
                owed(phase, detailed)
            ),
        ),
    }
}

/// What the connection waits for, for a message.
fn owed(phase: Phase, detailed: bool) -> &'static str {
    match phase {
        Phase::Down | Phase::Ready => READY,
        Phase::Listing => "the listing and its sync",
        Phase::Live if detailed => "change lines",
        Phase::Live => "counter lines",
    }
}

/// Applies `notice` to `set` (whose lines take `bytes`); returns it as the
/// set saw it: an `add` of a service it holds is an `update`, an `update`
/// of one it does not hold an `add`, a `remove` of one it does not hold
/// nothing.
fn apply(set: &mut BTreeMap<String, Service>, bytes: &mut usize, notice: Notice) -> Option<Notice> {
    let name = notice.service.name().to_owned();
    match notice.kind {
        ChangeKind::Add | ChangeKind::Update => {
            *bytes += notice.service.line_len();
            let kind = match set.insert(name, notice.service.clone()) {
                Some(old) => {
                    *bytes = bytes.saturating_sub(old.line_len());
                    ChangeKind::Update
                }
                None => ChangeKind::Add,
            };
            Some(Notice { kind, ..notice })
        }
        ChangeKind::Remove => {
            let old = set.remove(&name)?;
            *bytes = bytes.saturating_sub(old.line_len());
            Some(notice)
        }
    }
}

/// What turns `known` into `now`, at `revision`: the removals first, then
/// the additions and updates, each in name order.
fn differences(
    known: &BTreeMap<String, Service>,
    now: &BTreeMap<String, Service>,
    revision: Revision,
) -> Vec<Notice> {
    let notice = |kind, service: &Service| Notice {
        revision,
        kind,
        service: service.clone(),
    };
    let removed = known
        .iter()
        .filter(|(name, _)| !now.contains_key(*name))
        .map(|(_, service)| notice(ChangeKind::Remove, service));
    let changed = now
        .iter()
        .filter_map(|(name, service)| match known.get(name) {
            None => Some(notice(ChangeKind::Add, service)),
            Some(old) if old != service => Some(notice(ChangeKind::Update, service)),
            Some(_) => None,
        });
    removed.chain(changed).collect()
}

/// The connection failed or ended: say so (if it was up), and connect
/// again after the backoff's wait.
fn lost(cx: &mut Context<'_, Watching>, why: &str) -> Result<()> {
    let was = std::mem::replace(&mut cx.heap.phase, Phase::Down);
    cx.heap.wheel = None;
    cx.heap.connector = None;
    cx.alarm_clear(LATE)?;
    if cx.heap.stopped {
        return Ok(());
    }
    tracing::debug!("registry client: watch: {why}; connecting again");
    again(cx, false)?;
    if was != Phase::Down {
        tell(cx, WatchEvent::Disconnected(why.to_owned()))?;
    }
    Ok(())
}

/// Connects again after the backoff's wait; at once instead when
/// `at_once` and no attempt has failed since the last success (a
/// connection that lasted [`STABLE`]).
fn again(cx: &mut Context<'_, Watching>, at_once: bool) -> Result<()> {
    let heap = &mut *cx.heap;
    if heap
        .connected_at
        .take()
        .is_some_and(|at| at.elapsed() >= STABLE)
    {
        heap.retries.succeeded();
    }
    let first = heap.retries.attempts() == 0;
    heap.retries.failed();
    if at_once && first {
        return connect(cx);
    }
    let wait = heap.retries.next_wait();
    cx.delay(RETRY, wait, ()).map(drop)
}

/// Stops for good: the connection closes and the session ends.
fn stop(cx: &mut Context<'_, Watching>) -> Result<()> {
    cx.heap.stopped = true;
    cx.heap.wheel = None;
    cx.heap.connector = None;
    cx.alarm_remove_all();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(line: &str) -> Service {
        crate::line::parse_service(line.as_bytes()).unwrap()
    }

    fn set(lines: &[&str]) -> BTreeMap<String, Service> {
        lines
            .iter()
            .map(|l| svc(l))
            .map(|s| (s.name().to_owned(), s))
            .collect()
    }

    #[test]
    fn a_fresh_listing_tells_only_what_differs() {
        let known = set(&["a x 1", "b x 1", "c x 1"]);
        let now = set(&["b x 1", "c x 2", "d x 1"]);
        let told: Vec<String> = differences(&known, &now, Revision::new(9))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            told,
            [
                "00000009 remove a x 1",
                "00000009 update c x 2",
                "00000009 add d x 1"
            ]
        );
    }

    #[test]
    fn changes_are_told_as_the_copy_sees_them() {
        let mut known = BTreeMap::new();
        let mut bytes = 0;
        let notice = |kind, line: &str| Notice {
            revision: Revision::new(1),
            kind,
            service: svc(line),
        };
        let told = apply(&mut known, &mut bytes, notice(ChangeKind::Update, "a x 1"));
        assert_eq!(told.map(|n| n.kind), Some(ChangeKind::Add));
        let told = apply(&mut known, &mut bytes, notice(ChangeKind::Add, "a x 22"));
        assert_eq!(told.map(|n| n.kind), Some(ChangeKind::Update));
        assert_eq!(bytes, "a x 22".len());
        assert!(apply(&mut known, &mut bytes, notice(ChangeKind::Remove, "b")).is_none());
        let told = apply(&mut known, &mut bytes, notice(ChangeKind::Remove, "a x 22"));
        assert_eq!(told.map(|n| n.kind), Some(ChangeKind::Remove));
        assert_eq!((known.len(), bytes), (0, 0));
    }
}
