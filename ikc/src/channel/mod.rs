//! A channel: the session of one connection to a peer kernel (IKC's
//! `Channel`), on the kernel the connection was given to.
//!
//! It holds the connection's [`Link`] and everything that lives as long
//! as the peer does: the calls waiting for their answers, the
//! subscriptions waiting for theirs, and the local sessions the peer may
//! post back to. Work for the peer arrives as its `SEND` event (from the
//! router, the responder, thunks and proxies); the peer's frames arrive
//! from the link. A channel that dialled (a client's) outlives its
//! connections: it queues requests while disconnected and dials again
//! with backoff; an accepted one ends with its connection.

pub(crate) mod dial;
pub(crate) mod link;
mod receive;
mod refusal;
mod send;

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    rc::Rc,
    time::Instant,
};

use roe_engine::{Context, Duplex, Error, Result, Session, SessionId, Value};

pub(crate) use self::dial::DialConfig;
use self::{
    dial::Dial,
    link::{DOWN, FRAME, Incoming, Link, Side, UP},
};
use crate::{
    ikc::Ikc,
    monitor::{self, About},
    native::Peer,
    request::{CLOSED, Outgoing, Receipt, ReplyTo, SEND, SHUTDOWN, SUBSCRIBED, deliver_answer},
};

/// Local sessions a peer may post back to (those that sent it requests),
/// per connection: past this, the one that sent longest ago is forgotten.
const MAX_EXPOSED: usize = 4096;

/// Calls a connection waits on at once; more are refused.
const MAX_PENDING_CALLS: usize = 65_536;

/// Subscription questions a connection waits on at once; more are
/// refused (and a question goes unanswered for good after
/// [`SUBSCRIBE_TIMEOUT`](crate::request::SUBSCRIBE_TIMEOUT)).
const MAX_SUBSCRIBING: usize = 4096;

pub(crate) struct Channel {
    ikc: Ikc,
    link: Option<Rc<Link>>,
    /// The peer, once a handshake is done (kept between a client's
    /// connections).
    peer: Option<Peer>,
    generation: u64,
    /// Whether the peer is in the directory through this channel.
    registered: bool,
    /// Where the connection is: the peer's address, or what was dialled.
    label: String,
    pending: HashMap<u64, ReplyTo>,
    /// Subscription questions asked of the peer, by id (ids grow: the
    /// first is the oldest), with when they were asked.
    subscribing: BTreeMap<u64, (Receipt, Instant)>,
    exposed: Exposed,
    /// A client's: how to connect again, and what waits meanwhile.
    dial: Option<Dial>,
    /// Shut down: no more dialling; the session ends with its link.
    stopping: bool,
    /// Refusals so far, either way (the log tells of some, with this
    /// count).
    refused: u64,
}

/// The local sessions a peer may post back to, oldest first out.
#[derive(Default)]
struct Exposed {
    set: HashSet<SessionId>,
    order: VecDeque<SessionId>,
}

impl Exposed {
    fn insert(&mut self, session: SessionId) {
        if self.set.insert(session) {
            self.order.push_back(session);
            if self.order.len() > MAX_EXPOSED
                && let Some(oldest) = self.order.pop_front()
            {
                self.set.remove(&oldest);
            }
        }
    }

    fn contains(&self, session: SessionId) -> bool {
        self.set.contains(&session)
    }
}

/// The channel of a connection a server accepted, from `label` (the
/// peer's address).
pub(crate) fn accepted(ikc: Ikc, stream: Rc<dyn Duplex>, label: String) -> Session<Channel> {
    channel(ikc, label, None).on("_start", move |cx, _| {
        if !join(cx) {
            return Ok(());
        }
        start_link(cx, Rc::clone(&stream), Side::Server)
    })
}

/// The channel of a client, which dials `config`'s address.
pub(crate) fn dialled(ikc: Ikc, config: DialConfig) -> Session<Channel> {
    let label = config.label();
    let dial = Dial::new(config);
    channel(ikc, label, Some(dial)).on("_start", |cx, _| {
        if !join(cx) {
            return Ok(());
        }
        dial::start(cx)
    })
}

fn channel(ikc: Ikc, label: String, dial: Option<Dial>) -> Session<Channel> {
    let session = Session::new(Channel {
        ikc,
        link: None,
        peer: None,
        generation: 0,
        registered: false,
        label,
        pending: HashMap::new(),
        subscribing: BTreeMap::new(),
        exposed: Exposed::default(),
        dial,
        stopping: false,
        refused: 0,
    })
    .on(UP, |cx, mut args| {
        let peer: Peer = args.take(0).take_local()?;
        up(cx, peer)
    })
    .on(FRAME, |cx, mut args| {
        let incoming: Incoming = args.take(0).take_local()?;
        receive::frame(cx, incoming)
    })
    .on(DOWN, |cx, args| {
        let reason = args[0].as_str().unwrap_or_default().to_owned();
        down(cx, &reason)
    })
    .on(SEND, |cx, mut args| {
        let outgoing: Outgoing = args.take(0).take_local()?;
        let sender = cx.sender();
        send::outgoing(cx, outgoing, sender);
        Ok::<_, Error>(())
    })
    .on(SHUTDOWN, |cx, _| stop(cx))
    // IKC's way to drop one connection: post `shutdown` to its channel.
    .on("shutdown", |cx, _| stop(cx))
    .on("_stop", |cx, _| {
        let me = cx.session();
        cx.heap.ikc.leave(me);
        if cx.heap.registered {
            cx.heap.ikc.directory().unregister(me);
        }
    });
    dial::handlers(session)
}

/// Counts the channel in with IKC; `false` (and the channel ends) when
/// IKC is shutting down.
fn join(cx: &mut Context<'_, Channel>) -> bool {
    let me = cx.session();
    if cx.heap.ikc.join(me) {
        true
    } else {
        cx.heap.stopping = true;
        false
    }
}

/// Starts a link on a connected `stream`.
fn start_link(cx: &mut Context<'_, Channel>, stream: Rc<dyn Duplex>, side: Side) -> Result<()> {
    let ikc = cx.heap.ikc.clone();
    let label = cx.heap.label.clone();
    let link = Link::start(cx, stream, side, &ikc, &label)?;
    cx.heap.link = Some(link);
    Ok(())
}

/// The handshake is done: the peer joins the directory, monitors hear of
/// it, and a client sends what it queued.
fn up(cx: &mut Context<'_, Channel>, peer: Peer) -> Result<()> {
    let me = cx.session();
    let ikc = cx.heap.ikc.clone();
    let mut names = peer.names.clone();
    if !names.contains(&cx.heap.label) {
        names.push(cx.heap.label.clone());
    }
    let generation = match ikc
        .directory()
        .register(&peer.kernel_id, &names, me, peer.pid)
    {
        Ok(generation) => generation,
        Err(error) => {
            close(cx, &error.to_string());
            return Ok(());
        }
    };
    cx.heap.registered = true;
    cx.heap.generation = generation;
    for published in &peer.published {
        let states = published.states.iter().map(|s| s.to_string()).collect();
        ikc.directory()
            .set_remote_published(me, &published.session, states);
    }
    report(cx, "register", &[Value::from(u64::from(peer.pid))]);
    report(cx, "channel", &[Value::from("ready"), Value::Session(me)]);
    tracing::debug!(channel = %me, peer = %peer.name(), "IKC: connected");
    cx.heap.peer = Some(peer);
    dial::connected(cx)
}

/// The connection is over: waiting calls fail, the peer leaves the
/// directory (a client's stays expected), monitors and responders hear of
/// it, and a client dials again.
fn down(cx: &mut Context<'_, Channel>, reason: &str) -> Result<()> {
    let me = cx.session();
    cx.heap.link = None;
    let failed = format!("the connection to {} closed: {reason}", cx.heap.label);
    for (_, reply) in std::mem::take(&mut cx.heap.pending) {
        deliver_answer(cx, &reply, roe_engine::Answer::Failed(failed.clone()));
    }
    for (receipt, _) in std::mem::take(&mut cx.heap.subscribing).into_values() {
        answer_receipt(cx, &receipt, false);
    }
    let ikc = cx.heap.ikc.clone();
    let for_good = cx.heap.dial.is_none() || cx.heap.stopping;
    if cx.heap.registered {
        cx.heap.registered = false;
        let remote = if for_good {
            ikc.directory().unregister(me)
        } else {
            ikc.directory().disconnected(me)
        };
        if let Some(remote) = remote {
            let about = About::from(&remote);
            let closed = [Value::from("close"), Value::Session(me)];
            monitor::report(cx, &ikc.shared.monitors, "channel", &about, &closed);
            monitor::report(cx, &ikc.shared.monitors, "unregister", &about, &[]);
        }
    } else {
        report(
            cx,
            "error",
            &[Value::from("channel-setup"), Value::from(reason)],
        );
    }
    for responder in ikc.responders() {
        let _ = cx.post(responder, CLOSED, (me, for_good));
    }
    tracing::debug!(channel = %me, "IKC: connection over: {reason}");
    if for_good {
        cx.heap.ikc.leave(me);
        return Ok(());
    }
    dial::lost(cx, reason)
}

/// IKC shuts down, or someone dropped this connection: a client stops
/// dialling and the link closes once its output is written.
fn stop(cx: &mut Context<'_, Channel>) -> Result<()> {
    cx.heap.stopping = true;
    dial::stop(cx);
    match &cx.heap.link {
        Some(link) => link.close("shutting down"),
        None => {
            let me = cx.session();
            cx.heap.ikc.leave(me);
            if cx.heap.registered || cx.heap.dial.is_some() {
                cx.heap.registered = false;
                cx.heap.ikc.directory().unregister(me);
            }
        }
    }
    Ok(())
}

/// Who this connection's peer is, for a monitor's report: as the
/// directory knows it, or (before its handshake) by where it was reached.
fn about(cx: &Context<'_, Channel>) -> About {
    cx.heap
        .ikc
        .directory()
        .look_at(cx.session(), |remote| About::from(remote))
        .unwrap_or_else(|| About::named(cx.heap.label.clone(), cx.heap.generation))
}

/// Reports `op` about this connection's peer to the monitors that asked.
fn report(cx: &mut Context<'_, Channel>, op: &str, extra: &[Value]) {
    let about = about(cx);
    let ikc = cx.heap.ikc.clone();
    monitor::report(cx, &ikc.shared.monitors, op, &about, extra);
}

/// Ends the connection for what the peer did (or is): the log says why,
/// and so does the goodbye, once what waits for the peer is written.
fn close(cx: &mut Context<'_, Channel>, reason: &str) {
    tracing::warn!(channel = %cx.session(), peer = %cx.heap.label, "IKC: closing the connection: {reason}");
    if let Some(link) = &cx.heap.link {
        link.close(reason);
    }
}

/// Tells a subscription's responder how its question was answered.
fn answer_receipt(cx: &mut Context<'_, Channel>, receipt: &Receipt, accepted: bool) {
    let me = cx.session();
    let name = cx
        .heap
        .peer
        .as_ref()
        .map(|p| p.name().to_owned())
        .unwrap_or_default();
    let _ = cx.post(
        receipt.responder,
        SUBSCRIBED,
        (
            receipt.request,
            receipt.spec.to_string(),
            accepted,
            me,
            name,
        ),
    );
}
