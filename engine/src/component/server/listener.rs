//! The listener session: it binds, listens and accepts, spawns a
//! connection session per client, and keeps count of them.

use std::{cell::RefCell, net::SocketAddr, rc::Rc, sync::Arc, time::Duration};

use super::{
    Counters, ServerStats, TARGET, TcpServer,
    connection::{CLOSE_NOW, connection_session},
};
use crate::{
    component::{Failure, run0},
    error::Error,
    event::Event,
    filter::Filter,
    id::SessionId,
    kernel::Context,
    session::Session,
    value::Args,
    wheel::SocketFactory,
};

/// The listener's internal events (POE's names).
const GOT_CONNECTION: &str = "tcp_server_got_connection";
const GOT_LISTENER_ERROR: &str = "tcp_server_got_error";
const DEADLINE: &str = "tcp_server_deadline";

/// The listener session's heap (POE's listener `$_[HEAP]`).
///
/// # Examples
///
/// Telling every connected client something, from the listener:
///
/// ```
/// use roe_engine::{Kernel, Listening, TcpServer};
///
/// let mut kernel = Kernel::new()?;
/// let server = TcpServer::new(0)
///     .address("127.0.0.1")
///     .on("notice", |cx, args| Ok::<_, roe_engine::Error>(cx.heap.put(args[0].to_string())?))
///     .started(|cx| {
///         // Nobody is connected yet: the broadcast reaches no one.
///         assert!(cx.heap.clients().is_empty());
///         Listening::broadcast(cx, "notice", ("hello, all",));
///         let me = cx.session();
///         cx.post(me, "shutdown", ())
///     })
///     .spawn(&mut kernel)?;
/// kernel.run()?;
/// assert!(server.port().is_some());
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct Listening {
    /// The listening wheel (POE's `listener`); `None` once shut down.
    pub listener: Option<SocketFactory>,
    /// Connections open now (POE's `connections`).
    pub connections: usize,
    /// The most connections served at once (POE's `concurrency`; `None` is
    /// POE's -1, no limit).
    pub concurrency: Option<usize>,
    /// The server's alias (POE's `alias`).
    pub alias: Option<String>,
    counters: Arc<Counters>,
}

impl Listening {
    /// The connection sessions open now (none with an
    /// [`acceptor`](TcpServer::acceptor): those connections are yours).
    pub fn clients(&self) -> Vec<SessionId> {
        self.counters.clients().iter().copied().collect()
    }

    /// Posts `event` with `args` to every open connection session, from a
    /// handler of the listener; add a handler for it with
    /// [`TcpServer::on`].
    pub fn broadcast(
        cx: &mut Context<'_, Listening>,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) {
        let (event, args) = (event.into(), args.into());
        for client in cx.heap.clients() {
            // A connection that is ending may be gone already.
            let _ = cx.post(client, event, args.clone());
        }
    }

    /// What the server's connections went through so far.
    pub fn stats(&self) -> ServerStats {
        self.counters.get()
    }

    /// Pauses or resumes accepting to keep within the concurrency limit.
    fn apply_concurrency(&self) {
        if let Some(listener) = &self.listener {
            match self.concurrency {
                Some(limit) if self.connections >= limit => listener.pause_accept(),
                _ => listener.resume_accept(),
            }
        }
    }
}

impl<S: 'static, F: Filter + 'static> TcpServer<S, F> {
    pub(super) fn listener_session(
        self,
        local: Rc<RefCell<Option<SocketAddr>>>,
    ) -> Session<Listening> {
        let TcpServer {
            port,
            address,
            domain,
            alias,
            concurrency,
            listen_queue,
            started,
            error,
            acceptor,
            connection,
        } = self;
        let counters = Arc::clone(&connection.counters);
        let connection = Rc::new(connection);
        Session::new(Listening {
            listener: None,
            connections: 0,
            concurrency,
            alias,
            counters,
        })
        .on("_start", move |cx, _| {
            if let Some(alias) = cx.heap.alias.clone() {
                cx.alias_set(&alias)?;
            }
            let mut factory = SocketFactory::builder(GOT_CONNECTION, GOT_LISTENER_ERROR)
                .bind_port(port)
                .reuse(true);
            if let Some(address) = &address {
                factory = factory.bind_address(address.clone());
            }
            if let Some(domain) = domain {
                factory = factory.domain(domain);
            }
            if let Some(queue) = listen_queue {
                factory = factory.listen_queue(queue);
            }
            let listener = factory.start(cx)?;
            *local.borrow_mut() = listener.local_addr();
            cx.heap.listener = Some(listener);
            cx.heap.apply_concurrency();
            run0(&started, cx)
        })
        .on(GOT_CONNECTION, move |cx, mut args| {
            cx.heap.connections += 1;
            cx.heap.counters.count(|s| &mut s.accepted);
            cx.heap.apply_concurrency();
            let (socket, address, port) = (args.take(0), args.take(1), args.take(2));
            if let Some(acceptor) = &acceptor {
                return acceptor(cx, socket, address, port).map(drop);
            }
            let listener = cx.session();
            let session = connection_session(Rc::clone(&connection), listener, address, port);
            let client = cx.spawn(session.args((socket,)))?;
            // A connection whose setup failed is gone already.
            if cx.resolve(client).is_some() {
                cx.heap.counters.clients().insert(client);
            }
            Ok(())
        })
        .on(GOT_LISTENER_ERROR, move |cx, args| {
            let failure = Failure::from_args(&args);
            match &error {
                Some(callback) => callback(cx, failure).map(drop),
                None => {
                    tracing::warn!(target: TARGET, session = %cx.session(), "server got {failure}");
                    cx.heap.listener = None;
                    Ok(())
                }
            }
        })
        .on("disconnected", |cx, _| {
            let client = cx.sender();
            cx.heap.counters.clients().remove(&client);
            cx.heap.connections = cx.heap.connections.saturating_sub(1);
            cx.heap.apply_concurrency();
        })
        .on("broadcast", |cx, mut args| {
            // `(event, args...)`: the event, with the rest, to every client.
            let Some(event) = args[0].as_str().map(Event::new) else {
                return;
            };
            let rest: Args = args.split_off(1);
            Listening::broadcast(cx, event, rest);
        })
        .on("set_concurrency", |cx, args| {
            cx.heap.concurrency = args[0]
                .as_int()
                .and_then(|limit| usize::try_from(limit).ok());
            cx.heap.apply_concurrency();
        })
        .on("shutdown", |cx, args| {
            cx.heap.listener = None;
            if let Some(alias) = cx.heap.alias.clone() {
                // Shutting down twice finds it gone already.
                let _ = cx.alias_remove(&alias);
            }
            let deadline = args[0]
                .as_float()
                .filter(|secs| secs.is_finite() && *secs >= 0.0);
            if let Some(secs) = deadline {
                Listening::broadcast(cx, "shutdown", ());
                cx.delay(DEADLINE, Duration::from_secs_f64(secs.min(1e9)), ())?;
            }
            Ok::<_, Error>(())
        })
        .on(DEADLINE, |cx, _| {
            let open = cx.heap.clients();
            for client in open {
                cx.heap.counters.count(|s| &mut s.closed_at_deadline);
                let _ = cx.post(client, CLOSE_NOW, ());
            }
        })
        .on("_child", |_, _| {})
        .on("_stop", |_, _| {})
    }
}
