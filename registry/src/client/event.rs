//! What the kernel-side clients tell the sessions that asked: [`Found`],
//! a find's answer, and [`WatchEvent`], what a subscription hears (the
//! blocking client's [`EventStream`](crate::EventStream) gives the same
//! events).

use roe_engine::Args;

use super::error::ClientError;
use crate::change::Notice;
use crate::query::Query;
use crate::revision::Revision;
use crate::service::Service;

/// The answer to a find, as a kernel-side find delivers it: `ARG0` of the
/// event it posts, a local value (it never leaves the process), taken with
/// [`Found::from_args`].
///
/// # Examples
///
/// ```
/// use roe_engine::{Args, Value};
/// use roe_registry::{Found, Query, Service};
///
/// let found = Found { query: Query::all(), services: Ok(vec![Service::new("svc")?]) };
/// let mut args = Args::from((Value::local(found),));
/// let found = Found::from_args(&mut args).expect("a find's answer");
/// assert_eq!(found.services?[0].name(), "svc");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Found {
    /// The query asked.
    pub query: Query,
    /// The services that matched, in the registry's order, or why there is
    /// no answer.
    pub services: Result<Vec<Service>, ClientError>,
}

impl Found {
    /// The answer in an event's `ARG0`, taken out of it; `None` when
    /// `ARG0` is not one (or is shared with another clone).
    pub fn from_args(args: &mut Args) -> Option<Found> {
        if args.is_empty() {
            return None;
        }
        args.take(0).take_local().ok()
    }
}

/// What a watch of the registry hears, as a kernel-side
/// [`Subscription`](crate::Subscription) posts it (`ARG0`, a local value,
/// taken with [`WatchEvent::from_args`]) and an
/// [`EventStream`](crate::EventStream) yields it.
///
/// In the detailed mode, applying each [`Change`](WatchEvent::Change) to
/// a set of services keeps that set equal to what a find with the same
/// query answers, across reconnections: a subscription that resumes gets
/// the changes it missed, and one that had to start afresh tells what
/// differs from what it told before.
///
/// # Examples
///
/// ```
/// use roe_engine::{Args, Value};
/// use roe_registry::{Revision, WatchEvent};
///
/// let mut args = Args::from((Value::local(WatchEvent::Synced(Revision::new(7))),));
/// assert_eq!(WatchEvent::from_args(&mut args), Some(WatchEvent::Synced(Revision::new(7))));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// The event port said `READY`: the watch is (again) in place. In the
    /// counter mode, changes made while the subscription was not connected
    /// are not told: this is when to query again.
    Connected,
    /// The counter mode: the registry changed, and is at this revision.
    /// Changes made close together may share one event.
    Changed(Revision),
    /// The detailed mode: a service started to match the query (`add`),
    /// changed while matching (`update`), or stopped matching (`remove`),
    /// with the service after the change (for a removal, as it was).
    Change(Notice),
    /// The detailed mode: every change up to this revision has been told.
    Synced(Revision),
    /// The connection was lost, and why; the subscription connects again
    /// by itself.
    Disconnected(String),
}

impl WatchEvent {
    /// The event in an event's `ARG0`, taken out of it; `None` when `ARG0`
    /// is not one.
    pub fn from_args(args: &mut Args) -> Option<WatchEvent> {
        if args.is_empty() {
            return None;
        }
        args.take(0).downcast_ref::<WatchEvent>().cloned()
    }
}
