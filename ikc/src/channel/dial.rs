//! A client channel's dialling: connecting (and connecting again, with
//! jittered exponential backoff), the requests that wait meanwhile, the
//! subscriptions made on every connection, and telling the client's owner
//! how it went.

use std::{collections::VecDeque, os::unix::net::UnixStream, path::PathBuf, rc::Rc};

use roe_engine::{
    Backoff, Context, Domain, Duplex, Error, Result, Retries, Session, SessionId, SocketFactory,
    Value,
};
use std::net::TcpStream;

use super::{
    Channel,
    link::{Dialect, Side},
    start_link,
};
use crate::request::{ALIAS, Outgoing};

const CONNECTED: &str = "roe-ikc:connected";
const CONNECT_FAILED: &str = "roe-ikc:connect_failed";
const RECONNECT: &str = "roe-ikc:reconnect";
/// The responder's answer to the subscriptions made on connecting.
const SUBSCRIBED_ALL: &str = "roe-ikc:subscribed_all";

/// Where a client connects.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// What a client was built with.
#[derive(Clone, Debug)]
pub(crate) struct DialConfig {
    pub endpoint: Endpoint,
    /// Names the peer is reachable by before it first connects.
    pub expect: Vec<String>,
    /// `None`: connect once, never again (IKC's own client).
    pub backoff: Option<Backoff>,
    /// Specifiers subscribed to on every connection, before `on_connect`.
    pub subscribe: Vec<String>,
    /// Posted `(peer name, peer kernel ID, generation)` once connected
    /// (and subscribed).
    pub on_connect: Option<(SessionId, String)>,
    /// Posted `(operation, errno, message)` when a connection attempt or
    /// a connection fails.
    pub on_error: Option<(SessionId, String)>,
    /// Requests kept while disconnected.
    pub max_queued: usize,
    /// What the server speaks.
    pub dialect: Dialect,
}

impl DialConfig {
    /// The name of where it connects: `host:port` or `unix:path`.
    pub fn label(&self) -> String {
        match &self.endpoint {
            Endpoint::Tcp { host, port } => format!("{host}:{port}"),
            Endpoint::Unix(path) => format!("unix:{}", path.display()),
        }
    }
}

/// A client channel's dialling state.
pub(crate) struct Dial {
    config: DialConfig,
    retries: Option<Retries>,
    connector: Option<SocketFactory>,
    /// Requests waiting for a connection, with who posted them.
    queued: VecDeque<(Outgoing, SessionId)>,
}

impl Dial {
    pub fn new(config: DialConfig) -> Dial {
        Dial {
            config,
            retries: None,
            connector: None,
            queued: VecDeque::new(),
        }
    }
}

/// Adds the dialling states to a channel session.
pub(super) fn handlers(session: Session<Channel>) -> Session<Channel> {
    session
        .on(CONNECTED, |cx, mut args| {
            if let Some(dial) = &mut cx.heap.dial {
                dial.connector = None;
            }
            let socket = args.take(0);
            let stream: Rc<dyn Duplex> = match socket.take_local::<TcpStream>() {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    cx.heap.ikc.keep_alive(&tcp);
                    tcp.set_nonblocking(true)?;
                    Rc::new(tcp)
                }
                Err(other) => {
                    let unix = other.into_value().take_local::<UnixStream>()?;
                    unix.set_nonblocking(true)?;
                    Rc::new(unix)
                }
            };
            let dialect = cx
                .heap
                .dial
                .as_ref()
                .map_or(Dialect::Native, |d| d.config.dialect);
            start_link(cx, stream, Side::Client(dialect))
        })
        .on(CONNECT_FAILED, |cx, args| {
            if let Some(dial) = &mut cx.heap.dial {
                dial.connector = None;
            }
            let message = args[2].as_str().unwrap_or_default().to_owned();
            tell_error(
                cx,
                args[0].as_str().unwrap_or("connect"),
                &args[1],
                &message,
            );
            failed(cx)
        })
        .on(RECONNECT, |cx, _| connect(cx))
        .on(SUBSCRIBED_ALL, |cx, args| {
            let wanted = cx
                .heap
                .dial
                .as_ref()
                .map_or(0, |d| d.config.subscribe.len());
            let got = args[0].as_list().map_or(0, <[Value]>::len);
            if got < wanted {
                // IKC's client: unable to subscribe is the connection's end.
                let reason = format!("subscribed to {got} of {wanted} sessions");
                tracing::warn!(channel = %cx.session(), "IKC: {reason}");
                if let Some(link) = &cx.heap.link {
                    link.close(&reason);
                }
                return Ok(());
            }
            announce(cx);
            Ok::<_, Error>(())
        })
}

/// Starts the first connection, with the peer expected under its names.
pub(super) fn start(cx: &mut Context<'_, Channel>) -> Result<()> {
    let me = cx.session();
    let Some(dial) = &mut cx.heap.dial else {
        return Ok(());
    };
    dial.retries = dial
        .config
        .backoff
        .map(|backoff| Retries::new(backoff, me.number()));
    let mut names = dial.config.expect.clone();
    names.push(dial.config.label());
    let limit = dial.config.max_queued;
    cx.heap.ikc.directory().expect(me, &names);
    cx.heap.ikc.directory().set_queue_limit(me, limit);
    connect(cx)
}

fn connect(cx: &mut Context<'_, Channel>) -> Result<()> {
    if cx.heap.stopping {
        return Ok(());
    }
    let Some(dial) = &cx.heap.dial else {
        return Ok(());
    };
    let builder = SocketFactory::builder(CONNECTED, CONNECT_FAILED)
        .connect_timeout(cx.heap.ikc.config().handshake_timeout);
    let builder = match &dial.config.endpoint {
        Endpoint::Tcp { host, port } => builder.remote_address(host.clone()).remote_port(*port),
        Endpoint::Unix(path) => builder
            .domain(Domain::Unix)
            .remote_address(path.to_string_lossy().into_owned()),
    };
    let connector = builder.start(cx)?;
    if let Some(dial) = &mut cx.heap.dial {
        dial.connector = Some(connector);
    }
    Ok(())
}

/// A connection attempt failed: try again after the backoff's wait, or,
/// without a backoff, give up (waiting requests are refused).
fn failed(cx: &mut Context<'_, Channel>) -> Result<()> {
    let wait = cx.heap.dial.as_mut().and_then(|dial| {
        let retries = dial.retries.as_mut()?;
        retries.failed();
        Some(retries.next_wait())
    });
    match wait {
        Some(wait) if !cx.heap.stopping => cx.delay(RECONNECT, wait, ()).map(drop),
        _ => {
            give_up(cx);
            Ok(())
        }
    }
}

/// The connection is up: subscribe, then say so and send what waited.
pub(super) fn connected(cx: &mut Context<'_, Channel>) -> Result<()> {
    let me = cx.session();
    let Some(dial) = &mut cx.heap.dial else {
        return Ok(());
    };
    if let Some(retries) = &mut dial.retries {
        retries.succeeded();
    }
    cx.heap.ikc.directory().drained(me);
    let queued = std::mem::take(&mut dial.queued);
    let subscribe = dial.config.subscribe.clone();
    for (outgoing, sender) in queued {
        super::send::outgoing(cx, outgoing, sender);
    }
    if subscribe.is_empty() {
        announce(cx);
        return Ok(());
    }
    // The peer's name makes the specifiers relative to it.
    let kernel = cx
        .heap
        .peer
        .as_ref()
        .map(|p| p.kernel_id.clone())
        .unwrap_or_default();
    let specs: Vec<Value> = subscribe
        .iter()
        .map(|spec| {
            let relative =
                crate::Specifier::parse_relative(spec, &crate::Kernel::from(kernel.as_str()));
            Value::from(relative.map_or_else(|_| spec.clone(), |s| s.to_string()))
        })
        .collect();
    let responder = cx.heap.ikc.responder(cx.kernel_id());
    match responder {
        Some(responder) => cx.post(responder, "subscribe", (Value::List(specs), SUBSCRIBED_ALL)),
        None => cx.post(ALIAS, "subscribe", (Value::List(specs), SUBSCRIBED_ALL)),
    }
}

/// Tells the client's owner it is connected.
fn announce(cx: &mut Context<'_, Channel>) {
    let Some((session, event)) = cx
        .heap
        .dial
        .as_ref()
        .and_then(|d| d.config.on_connect.clone())
    else {
        return;
    };
    let Some(peer) = &cx.heap.peer else {
        return;
    };
    let args = (
        peer.name().to_owned(),
        peer.kernel_id.clone(),
        cx.heap.generation,
    );
    let _ = cx.post(session, event.as_str(), args);
}

/// The connection was lost: tell the owner, dial again.
pub(super) fn lost(cx: &mut Context<'_, Channel>, reason: &str) -> Result<()> {
    tell_error(cx, "read", &Value::Int(0), reason);
    let wait = cx.heap.dial.as_mut().and_then(|dial| {
        let retries = dial.retries.as_mut()?;
        Some(retries.next_wait())
    });
    match wait {
        Some(wait) if !cx.heap.stopping => cx.delay(RECONNECT, wait, ()).map(drop),
        _ => {
            give_up(cx);
            Ok(())
        }
    }
}

/// Stops dialling (IKC shuts down).
pub(super) fn stop(cx: &mut Context<'_, Channel>) {
    if let Some(dial) = &mut cx.heap.dial {
        dial.connector = None;
    }
    let _ = cx.alarm_remove_all();
    if cx.heap.link.is_none() {
        give_up(cx);
    }
}

/// No connection will come: what waited is refused, and the peer is no
/// longer expected.
fn give_up(cx: &mut Context<'_, Channel>) {
    let Some(dial) = &mut cx.heap.dial else {
        return;
    };
    let queued = std::mem::take(&mut dial.queued);
    cx.heap.stopping = true;
    for (outgoing, sender) in queued {
        super::send::outgoing(cx, outgoing, sender);
    }
    let me = cx.session();
    cx.heap.ikc.directory().unregister(me);
    cx.heap.ikc.leave(me);
}

/// Queues a request for the next connection; gives it back when the queue
/// is full (or this channel does not dial): `None` when it was taken. A full queue also makes the
/// peer refuse requests at the router, so posters see the error at once.
pub(super) fn queue(
    cx: &mut Context<'_, Channel>,
    outgoing: Outgoing,
    sender: SessionId,
) -> Option<Outgoing> {
    let me = cx.session();
    let Some(dial) = &mut cx.heap.dial else {
        return Some(outgoing);
    };
    if matches!(outgoing, Outgoing::Reply { .. }) {
        // Answers belong to the connection that asked.
        return None;
    }
    if dial.queued.len() >= dial.config.max_queued {
        cx.heap.ikc.directory().set_accepting(me, false);
        return Some(outgoing);
    }
    dial.queued.push_back((outgoing, sender));
    if dial.queued.len() >= dial.config.max_queued {
        cx.heap.ikc.directory().set_accepting(me, false);
    }
    None
}

/// Tells the owner's `on_error` state of a failure, and the log.
fn tell_error(cx: &mut Context<'_, Channel>, op: &str, errno: &Value, message: &str) {
    tracing::debug!(channel = %cx.session(), "IKC client {op}: {message}");
    let Some((session, event)) = cx
        .heap
        .dial
        .as_ref()
        .and_then(|d| d.config.on_error.clone())
    else {
        return;
    };
    let _ = cx.post(
        session,
        event.as_str(),
        (op.to_owned(), errno.clone(), message.to_owned()),
    );
}
