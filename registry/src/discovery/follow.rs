//! The follower: a session that watches the registry for IKC servers and
//! keeps an IKC client connected to each one it should dial, and, for a
//! node that joins, holds its own advertisement too.
//!
//! Its children are the [`Subscription`] it hears the registry through,
//! the [`Registration`] of its advertisement (when joining), and one IKC
//! client channel per peer it dials. A peer is a service that matches the
//! query; which ones it dials is [`should_dial`]'s to say.
//!
//! What a peer advertises is not trusted with the kernel's thread: only an
//! IP literal is dialled (a host name would be resolved by the system's
//! blocking resolver, on the kernel's thread, for as long as it takes),
//! and at most [`Discovery::MAX_PEERS`] are dialled at once. A peer left
//! out is told as `skip`; one left out for the bound is dialled once
//! another goes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use roe_engine::{Args, Backoff, Context, Event, Result, Session, SessionId};
use roe_ikc::{Ikc, IkcClient};

use super::{Discovery, FOLLOWS, HOST, ID, IKC_DOWN, KERNEL, PORT, monitor_ikc, tell};
use crate::change::{ChangeKind, Notice};
use crate::client::{Register, Registration, RegistryClient, Subscription, WatchEvent};
use crate::line::parse_find;
use crate::query::Query;
use crate::service::Service;

/// The session's event: what the subscription heard.
const HEARD: &str = "roe-registry:discovery-heard";

/// The follower session's heap.
pub(crate) struct Follower {
    ikc: Ikc,
    client: RegistryClient,
    query: Query,
    /// This node's own advertisement, when it joins.
    me: Option<Service>,
    register: Option<Register>,
    registration: Option<Registration>,
    subscription: Option<Subscription>,
    /// The services that match, by name.
    peers: BTreeMap<String, Peer>,
    /// How many of them are dialled.
    dialling: usize,
    notify: Option<(SessionId, Event)>,
    stopped: bool,
}

/// A service that matches the query.
struct Peer {
    service: Service,
    /// The client dialling it, if this node dials it.
    dialled: Option<Dialled>,
    /// Why it is not dialled though [`should_dial`] says to, if so.
    skipped: Option<Skip>,
}

/// Why a peer that should be dialled is not.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Skip {
    /// Its host is not an IP address.
    NotIp(String),
    /// [`Discovery::MAX_PEERS`] are dialled already.
    Full,
}

struct Dialled {
    channel: SessionId,
    host: String,
    port: u16,
}

impl Follower {
    pub(super) fn new(
        ikc: Ikc,
        client: RegistryClient,
        query: Query,
        me: Option<Service>,
        register: Option<Register>,
        notify: Option<(SessionId, Event)>,
    ) -> Follower {
        Follower {
            ikc,
            client,
            query,
            me,
            register,
            registration: None,
            subscription: None,
            peers: BTreeMap::new(),
            dialling: 0,
            notify,
            stopped: false,
        }
    }
}

pub(super) fn session(follower: Follower) -> Session<Follower> {
    Session::new(follower)
        .on("_start", |cx, _| {
            if cx.heap.ikc.is_shutting_down() {
                return Ok(());
            }
            monitor_ikc(cx, true);
            let me = cx.session();
            let (client, query) = (cx.heap.client.clone(), cx.heap.query.clone());
            cx.heap.subscription = Some(client.watch(cx, query, me, HEARD)?);
            if let Some(register) = cx.heap.register.take() {
                cx.heap.registration = Some(register.spawn(cx)?);
            }
            Ok::<_, roe_engine::Error>(())
        })
        .on(HEARD, heard)
        .on(IKC_DOWN, |cx, _| stop(cx))
        .on(Discovery::STOP, |cx, _| stop(cx))
        .on("shutdown", |cx, _| stop(cx))
        .on("_stop", |cx, _| monitor_ikc(cx, false))
}

fn heard(cx: &mut Context<'_, Follower>, mut args: Args) -> Result<()> {
    if cx.heap.stopped {
        return Ok(());
    }
    match WatchEvent::from_args(&mut args) {
        Some(WatchEvent::Change(notice)) => changed(cx, notice),
        Some(WatchEvent::Disconnected(why)) => {
            // The peers stay as they are until the registry says otherwise.
            tracing::debug!("discovery: the registry's watch: {why}");
            Ok(())
        }
        _ => Ok(()),
    }
}

fn changed(cx: &mut Context<'_, Follower>, notice: Notice) -> Result<()> {
    let name = notice.service.name().to_owned();
    match notice.kind {
        ChangeKind::Add | ChangeKind::Update => {
            let service = notice.service;
            cx.heap
                .peers
                .entry(name.clone())
                .and_modify(|peer| peer.service = service.clone())
                .or_insert(Peer {
                    service,
                    dialled: None,
                    skipped: None,
                });
            evaluate(cx, &name)?;
            refill(cx)
        }
        ChangeKind::Remove => {
            if let Some(peer) = cx.heap.peers.remove(&name) {
                hang_up(cx, &peer);
            }
            refill(cx)
        }
    }
}

/// Dials the peer `name`, or hangs up on it, as [`should_dial`] says.
fn evaluate(cx: &mut Context<'_, Follower>, name: &str) -> Result<()> {
    let Some(peer) = cx.heap.peers.get(name) else {
        return Ok(());
    };
    let wanted = should_dial(cx.heap.ikc.kernel_id(), cx.heap.me.as_ref(), &peer.service);
    let current = peer.dialled.as_ref().map(|d| (d.host.clone(), d.port));
    if wanted == current {
        return Ok(());
    }
    if current.is_some()
        && let Some(peer) = cx.heap.peers.get_mut(name)
        && let Some(dialled) = peer.dialled.take()
    {
        let service = peer.service.clone();
        hang_up(
            cx,
            &Peer {
                service,
                dialled: Some(dialled),
                skipped: None,
            },
        );
    }
    let Some((host, port)) = wanted else {
        if let Some(peer) = cx.heap.peers.get_mut(name) {
            peer.skipped = None;
        }
        return Ok(());
    };
    let peer_name = peer_name(&cx.heap.peers[name].service);
    let skip = if host.parse::<IpAddr>().is_err() {
        Some(Skip::NotIp(host.clone()))
    } else if cx.heap.dialling >= Discovery::MAX_PEERS {
        Some(Skip::Full)
    } else {
        None
    };
    if let Some(skip) = skip {
        let Some(peer) = cx.heap.peers.get_mut(name) else {
            return Ok(());
        };
        if peer.skipped.as_ref() != Some(&skip) {
            let why = match &skip {
                Skip::NotIp(host) => format!("{host}:{port}: not an IP address"),
                Skip::Full => format!(
                    "{host}:{port}: {} peers dialled already",
                    Discovery::MAX_PEERS
                ),
            };
            tracing::warn!(peer = %peer_name, "discovery: not dialling {why}");
            peer.skipped = Some(skip);
            let notify = cx.heap.notify;
            tell(cx, notify, "skip", &peer_name, &why);
        }
        return Ok(());
    }
    let mut client = IkcClient::tcp(host.clone(), port).backoff(backoff(&cx.heap.client));
    if !peer_name.is_empty() && cx.heap.ikc.config().name() != peer_name {
        client = client.expect(peer_name.clone());
    }
    let ikc = cx.heap.ikc.clone();
    let channel = client.spawn_in(&ikc, cx)?;
    tracing::info!(peer = %peer_name, %host, port, "discovery: dialling");
    let notify = cx.heap.notify;
    tell(cx, notify, "dial", &peer_name, &format!("{host}:{port}"));
    if let Some(peer) = cx.heap.peers.get_mut(name) {
        peer.skipped = None;
        peer.dialled = Some(Dialled {
            channel,
            host,
            port,
        });
        cx.heap.dialling += 1;
    }
    Ok(())
}

/// Dials the peers left out for the bound, while there is room.
fn refill(cx: &mut Context<'_, Follower>) -> Result<()> {
    if cx.heap.dialling >= Discovery::MAX_PEERS {
        return Ok(());
    }
    let waiting: Vec<String> = cx
        .heap
        .peers
        .iter()
        .filter(|(_, peer)| peer.skipped == Some(Skip::Full))
        .map(|(name, _)| name.clone())
        .collect();
    for name in waiting {
        if cx.heap.dialling >= Discovery::MAX_PEERS {
            break;
        }
        if let Some(peer) = cx.heap.peers.get_mut(&name) {
            peer.skipped = None;
        }
        evaluate(cx, &name)?;
    }
    Ok(())
}

/// Shuts down the client of `peer`, if this node dialled it.
fn hang_up(cx: &mut Context<'_, Follower>, peer: &Peer) {
    let Some(dialled) = &peer.dialled else {
        return;
    };
    cx.heap.dialling = cx.heap.dialling.saturating_sub(1);
    let name = peer_name(&peer.service);
    tracing::info!(peer = %name, host = %dialled.host, port = dialled.port, "discovery: hanging up");
    let _ = cx.post(dialled.channel, "shutdown", ());
    let notify = cx.heap.notify;
    let addr = format!("{}:{}", dialled.host, dialled.port);
    tell(cx, notify, "hangup", &name, &addr);
}

/// Stops: the watch and the advertisement end, and every client this
/// follower started is shut down.
fn stop(cx: &mut Context<'_, Follower>) -> Result<()> {
    if std::mem::replace(&mut cx.heap.stopped, true) {
        return Ok(());
    }
    if let Some(subscription) = cx.heap.subscription.take() {
        let _ = subscription.stop(cx);
    }
    if let Some(registration) = cx.heap.registration.take() {
        let _ = registration.close(cx);
    }
    for (_, peer) in std::mem::take(&mut cx.heap.peers) {
        hang_up(cx, &peer);
    }
    monitor_ikc(cx, false);
    Ok(())
}

/// The peer's IKC name, if its service says.
fn peer_name(service: &Service) -> String {
    service.get(KERNEL).unwrap_or_default().to_owned()
}

/// The follower's clients back off as its registry client does.
fn backoff(client: &RegistryClient) -> Backoff {
    client.backoff
}

/// Where to dial `peer`: its `host` and `port` attributes, or its name,
/// `tcp!host!port` (the host as advertised: [`evaluate`] dials only an IP
/// address).
fn address(peer: &Service) -> Option<(String, u16)> {
    if let (Some(host), Some(port)) = (peer.get(HOST), peer.get(PORT))
        && let Ok(port) = port.parse()
    {
        return Some((host.to_owned(), port));
    }
    let rest = peer.name().strip_prefix("tcp!")?;
    let (host, port) = rest.rsplit_once('!')?;
    Some((host.to_owned(), port.parse().ok()?))
}

/// Whether, and where, a node whose kernel ID is `my_id` and whose own
/// advertisement is `me` dials `peer`, a service its query matched.
///
/// Not itself; not a service without an address; and not a peer that
/// dials it: one whose advertisement says it follows a query that `me`
/// matches, and whose kernel ID is lower. Both nodes of a pair that follow
/// each other reach the same answer from the two advertisements, so
/// exactly one of them dials.
pub(crate) fn should_dial(
    my_id: &str,
    me: Option<&Service>,
    peer: &Service,
) -> Option<(String, u16)> {
    let peer_id = peer.get(ID);
    if peer_id == Some(my_id) || me.is_some_and(|me| me.name() == peer.name()) {
        return None;
    }
    let dials_me = match (me, peer_id, peer.get(FOLLOWS)) {
        (Some(me), Some(peer_id), Some(follows)) => {
            peer_id < my_id && parse_find(follows.as_bytes()).is_ok_and(|q| q.matches(me))
        }
        _ => false,
    };
    if dials_me {
        return None;
    }
    address(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, port: u16, follows: Option<&str>) -> Service {
        let mut service = Service::with_attrs(
            format!("tcp!127.0.0.1!{port}"),
            [
                ("proto", "ikc"),
                ("kernel", id),
                ("id", id),
                ("host", "127.0.0.1"),
                ("port", &port.to_string()),
            ],
        )
        .unwrap();
        if let Some(query) = follows {
            service.set(FOLLOWS, query);
        }
        service
    }

    #[test]
    fn of_two_nodes_that_follow_each_other_only_the_lower_id_dials() {
        let a = node("a", 1, Some("proto ikc"));
        let b = node("b", 2, Some("proto ikc"));
        assert_eq!(
            should_dial("a", Some(&a), &b),
            Some(("127.0.0.1".into(), 2))
        );
        assert_eq!(should_dial("b", Some(&b), &a), None);
        // Nobody dials itself.
        assert_eq!(should_dial("a", Some(&a), &a), None);
    }

    #[test]
    fn a_node_that_does_not_follow_back_is_always_dialled() {
        // b only advertises: whoever follows it dials it.
        let a = node("a", 1, Some("proto ikc"));
        let b = node("b", 2, None);
        assert!(should_dial("c", Some(&node("c", 3, Some("proto ikc"))), &b).is_some());
        assert!(should_dial("a", Some(&a), &b).is_some());
        // b follows a query a does not match: a dials b, b does not see a.
        let b = node("b", 2, Some("proto ikc role db"));
        assert!(should_dial("z", Some(&node("z", 9, Some("proto ikc"))), &b).is_some());
        // A node that only follows (no advertisement) dials everyone.
        assert!(should_dial("z", None, &a).is_some());
    }

    #[test]
    fn the_address_comes_from_the_attributes_or_the_name() {
        let plain = Service::new("tcp!10.0.0.1!6030").unwrap();
        assert_eq!(address(&plain), Some(("10.0.0.1".into(), 6030)));
        assert_eq!(address(&Service::new("lp!office").unwrap()), None);
        assert_eq!(address(&node("a", 7, None)), Some(("127.0.0.1".into(), 7)));
    }
}
