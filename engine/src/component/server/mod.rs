//! POE::Component::Server::TCP: a listener session and a session per
//! connection.

mod connection;
mod listener;

use std::{
    cell::RefCell,
    collections::BTreeSet,
    net::SocketAddr,
    rc::Rc,
    sync::{Arc, Mutex},
    time::Duration,
};

pub use self::{connection::Connection, listener::Listening};
use super::{Callback, Callback0, Failure, Handlers, Spawner, store, store0};
use crate::{
    error::Result,
    event::Event,
    filter::{Filter, Line},
    id::SessionId,
    kernel::Context,
    session::Return,
    value::{Args, Value},
    wheel::Domain,
};

/// The target of the server's log records, the same from every file of
/// this module: `roe_engine::component::server`.
const TARGET: &str = module_path!();

/// Output a connection holds before it stops reading its client, and the
/// level at which it reads again.
const DEFAULT_OUTPUT_HIGH: usize = 1024 * 1024;
const DEFAULT_OUTPUT_LOW: usize = 256 * 1024;
/// How long a connection's output may wait without progress.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest line `TcpServer::new` reads.
const DEFAULT_LINE_LIMIT: usize = 64 * 1024;

/// A TCP server (POE::Component::Server::TCP).
///
/// [`spawn`](TcpServer::spawn) creates a **listener session** that binds,
/// listens (with `SO_REUSEADDR`, as POE's `Reuse => 'yes'`) and accepts
/// through a [`SocketFactory`]; its heap is a [`Listening`]. Each accepted
/// connection gets a **connection session**, a child of the listener,
/// whose heap is a [`Connection`]: the connection's [`ReadWrite`] wheel in
/// `client`, the peer's address in `remote_ip` and `remote_port`, and your
/// per-connection state, made by the factory given to
/// [`with`](TcpServer::with), in `state`. The `client_*` callbacks run in
/// the connection session and get its [`Context`].
///
/// Events the listener accepts (post them to [`ServerInfo::session`] or to
/// the [`alias`](TcpServer::alias)):
///
/// - `shutdown`: stop listening and drop the alias; open connections go on
///   until they end, and the listener session ends after them. With a
///   deadline in seconds as `ARG0`, every open connection is also told to
///   `shutdown` (it flushes its output and closes), and those still open at
///   the deadline are closed at once.
/// - `set_concurrency` `(limit)`: change the concurrency limit; a negative
///   limit (POE's -1) means none.
/// - `broadcast` `(event, args...)`: post `event` with the rest of the
///   arguments to every open connection (add its handler with
///   [`on`](TcpServer::on)).
/// - `disconnected`: a connection ended; connection sessions send it from
///   their `_stop` (with an [`acceptor`](TcpServer::acceptor), send it
///   yourself).
///
/// Events a connection session accepts: `shutdown`, which closes the
/// connection once pending output is flushed (at once after an error),
/// calling `client_disconnected` first; and any added with
/// [`on`](TcpServer::on).
///
/// # Concurrency
///
/// With a [`concurrency`](TcpServer::concurrency) limit, the listener
/// pauses accepting when that many connections are open and resumes once
/// one closes; further clients wait in the listen queue (POE's
/// `Concurrency`). Running out of descriptors pauses accepting for a while
/// instead of failing (the listener keeps listening). The listener knows
/// its connections: [`Listening::clients`] lists them and
/// [`Listening::broadcast`] posts an event to each.
///
/// # What a client can make a connection hold
///
/// A server faces its clients, so each connection is bounded by default,
/// where POE's trusts them:
///
/// - **Output**: once 1 MiB of output waits for a client, the connection
///   stops reading that client until the output is back under 256 KiB
///   ([`max_output`](TcpServer::max_output)), so a client that sends
///   requests but does not read the answers holds at most that much.
/// - **Write timeout**: output that makes no progress for 60 s
///   ([`write_timeout`](TcpServer::write_timeout)) cuts the client off: the
///   error callback gets `("write", ETIMEDOUT)`, the cut is counted in
///   [`ServerStats`] and logged.
/// - **Idle timeout**: off by default; with
///   [`idle_timeout`](TcpServer::idle_timeout), a client that sends
///   nothing for that long is disconnected (slowloris).
/// - **Half-close**: a client that ends its input after a request still
///   gets the whole reply; the connection closes once its output is
///   flushed. POE closes at once, dropping what waits:
///   [`close_on_eof`](TcpServer::close_on_eof) brings that back.
/// - **Setup**: a connection whose setup fails (its wheel cannot be made)
///   closes alone, counted and logged, and nothing else stops.
///
/// [`TcpServer::new`] reads lines of up to 64 KiB, so a client without a
/// newline cannot make a connection hold more than that (POE's limit is
/// 64 MiB); an idle connection holds no read buffer.
///
/// # Examples
///
/// An echo server on an ephemeral port, shut down by its first client's
/// first line:
///
/// ```
/// use roe_engine::{Kernel, TcpServer};
///
/// let mut kernel = Kernel::new()?;
/// let server = TcpServer::new(0)
///     .address("127.0.0.1")
///     .alias("echo")
///     .client_input(|cx, line: Vec<u8>| {
///         cx.heap.put(line)?;
///         cx.post("echo", "shutdown", ())?;
///         cx.yield_("shutdown", ());
///         Ok::<_, roe_engine::Error>(())
///     })
///     .spawn(&mut kernel)?;
/// let port = server.port().unwrap();
/// let client = std::thread::spawn(move || {
///     use std::io::{BufRead, BufReader, Write};
///     let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
///     socket.write_all(b"hello\n").unwrap();
///     let mut line = String::new();
///     BufReader::new(socket).read_line(&mut line).unwrap();
///     line
/// });
/// kernel.run()?;
/// assert_eq!(client.join().unwrap(), "hello\r\n");
/// # Ok::<(), roe_engine::Error>(())
/// ```
///
/// Differences from POE: callbacks are typed closures rather than `@_`
/// handlers; POE's `ClientArgs`, `SessionType`/`SessionParams`,
/// `ClientInputFilter`/`ClientOutputFilter` and `ClientPreConnect` are not
/// provided (the filter factory may build a [`Stack`](crate::Stack), and
/// `state` takes the place of `ClientArgs`); default error callbacks log
/// warnings (through `tracing`) where POE's would `warn`.
///
/// [`SocketFactory`]: crate::wheel::SocketFactory
/// [`ReadWrite`]: crate::wheel::ReadWrite
pub struct TcpServer<S = (), F: Filter = Line> {
    port: u16,
    address: Option<String>,
    domain: Option<Domain>,
    alias: Option<String>,
    concurrency: Option<usize>,
    listen_queue: Option<u32>,
    started: Option<Callback0<Listening>>,
    error: Option<Callback<Listening, Failure>>,
    acceptor: Option<Acceptor>,
    connection: ConnectionConfig<S, F>,
}

/// What a server's connections went through, counted since it started.
///
/// # Examples
///
/// ```
/// use std::{io::Write, net::TcpStream, time::Duration};
/// use roe_engine::{Kernel, TcpServer};
///
/// let mut kernel = Kernel::new()?;
/// let server = TcpServer::new(0)
///     .address("127.0.0.1")
///     .idle_timeout(Duration::from_millis(50))
///     .client_disconnected(|cx| {
///         let listener = cx.heap.listener;
///         cx.post(listener, "shutdown", ())
///     })
///     .spawn(&mut kernel)?;
/// // A client that says nothing is closed by the idle timeout.
/// let _silent = TcpStream::connect(("127.0.0.1", server.port().unwrap()))?;
/// kernel.run()?;
/// let stats = server.stats();
/// assert_eq!((stats.accepted, stats.idle_closed), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections whose setup failed (each closed alone).
    pub setup_failed: u64,
    /// Clients cut off because their output made no progress for the
    /// write timeout.
    pub cut_off: u64,
    /// Clients disconnected for sending nothing for the idle timeout.
    pub idle_closed: u64,
    /// Connections closed at a shutdown's deadline.
    pub closed_at_deadline: u64,
}

/// What a server's sessions share, readable from any thread through its
/// [`ServerInfo`]: its counters and its open connections.
#[derive(Default)]
struct Counters {
    stats: Mutex<ServerStats>,
    clients: Mutex<BTreeSet<SessionId>>,
}

impl Counters {
    fn count(&self, field: fn(&mut ServerStats) -> &mut u64) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *field(&mut stats) += 1;
    }

    fn get(&self) -> ServerStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, BTreeSet<SessionId>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// POE's `Acceptor`: `(socket, remote address, remote port)`.
type Acceptor = Rc<dyn Fn(&mut Context<'_, Listening>, Value, Value, Value) -> Result<Value>>;

/// What every connection session of a server is made of.
struct ConnectionConfig<S, F: Filter> {
    state: Box<dyn Fn() -> S>,
    filter: Box<dyn Fn() -> F>,
    counters: Arc<Counters>,
    max_output: Option<(usize, usize)>,
    write_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    close_on_eof: bool,
    connected: Option<Callback0<Connection<S, F>>>,
    input: Option<Callback<Connection<S, F>, F::Record>>,
    disconnected: Option<Callback0<Connection<S, F>>>,
    error: Option<Callback<Connection<S, F>, Failure>>,
    flushed: Option<Callback0<Connection<S, F>>>,
    shutdown_on_error: bool,
    handlers: Handlers<Connection<S, F>>,
}

/// What [`TcpServer::spawn`] reports: the listener session, where it
/// listens, and its counters (readable from any thread).
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, TcpServer};
///
/// let mut kernel = Kernel::new()?;
/// let server = TcpServer::new(0).address("127.0.0.1").spawn(&mut kernel)?;
/// assert!(server.port().is_some_and(|port| port > 0));
/// assert_eq!(server.stats().accepted, 0);
/// kernel.post(server.session(), "shutdown", ())?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct ServerInfo {
    session: SessionId,
    local_addr: Option<SocketAddr>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for ServerInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerInfo")
            .field("session", &self.session)
            .field("local_addr", &self.local_addr)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ServerInfo {
    /// What the server's connections went through so far.
    pub fn stats(&self) -> ServerStats {
        self.counters.get()
    }

    /// The connection sessions open now (none with an
    /// [`acceptor`](TcpServer::acceptor)).
    pub fn clients(&self) -> Vec<SessionId> {
        self.counters.clients().iter().copied().collect()
    }

    /// The listener session, to post `shutdown` or `set_concurrency` to.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The address the server listens on; `None` if setting up failed (the
    /// [`error`](TcpServer::error) callback hears why) or for a Unix-domain
    /// server.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The port the server listens on, which the system chose if it was
    /// given as 0.
    pub fn port(&self) -> Option<u16> {
        self.local_addr.map(|a| a.port())
    }
}

impl TcpServer<(), Line> {
    /// A server on `port` (0: the system chooses) of every interface, with
    /// no per-connection state and the [`Line`] filter (POE's `Port`),
    /// reading lines of up to 64 KiB: a longer line is the error callback's
    /// `filter` error, after which the connection closes as after any error
    /// (unless [`client_shutdown_on_error`](TcpServer::client_shutdown_on_error)
    /// is off: then the line is skipped and reading goes on). (POE's
    /// Line limit, 64 MiB, let each client make the server hold that much;
    /// give a filter of your own with [`with`](TcpServer::with) for longer
    /// lines.)
    pub fn new(port: u16) -> TcpServer<(), Line> {
        TcpServer::with(port, || (), || Line::new().max_length(DEFAULT_LINE_LIMIT))
    }
}

impl<S: 'static, F: Filter + 'static> TcpServer<S, F> {
    /// A server on `port` whose connections start with the state `state`
    /// makes and read and write through the filter `filter` makes (POE's
    /// `ClientFilter`).
    pub fn with(
        port: u16,
        state: impl Fn() -> S + 'static,
        filter: impl Fn() -> F + 'static,
    ) -> TcpServer<S, F> {
        TcpServer {
            port,
            address: None,
            domain: None,
            alias: None,
            concurrency: None,
            listen_queue: None,
            started: None,
            error: None,
            acceptor: None,
            connection: ConnectionConfig {
                state: Box::new(state),
                filter: Box::new(filter),
                counters: Arc::default(),
                max_output: Some((DEFAULT_OUTPUT_HIGH, DEFAULT_OUTPUT_LOW)),
                write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
                idle_timeout: None,
                close_on_eof: false,
                connected: None,
                input: None,
                disconnected: None,
                error: None,
                flushed: None,
                shutdown_on_error: true,
                handlers: Vec::new(),
            },
        }
    }

    /// The address to listen on (POE's `Address`): an IP literal or a host
    /// name, or the socket's path with [`Domain::Unix`].
    pub fn address(mut self, address: impl Into<String>) -> TcpServer<S, F> {
        self.address = Some(address.into());
        self
    }

    /// The address family (POE's `Domain`).
    pub fn domain(mut self, domain: Domain) -> TcpServer<S, F> {
        self.domain = Some(domain);
        self
    }

    /// An alias for the listener session (POE's `Alias`).
    pub fn alias(mut self, alias: impl Into<String>) -> TcpServer<S, F> {
        self.alias = Some(alias.into());
        self
    }

    /// The most connections served at once (POE's `Concurrency`).
    pub fn concurrency(mut self, limit: usize) -> TcpServer<S, F> {
        self.concurrency = Some(limit);
        self
    }

    /// The output a connection may hold for its client (`high` bytes), and
    /// where it reads its client again (`low`); 1 MiB and 256 KiB by
    /// default. Above `high` the connection stops reading, so a client that
    /// does not read cannot make it hold more. `None` lifts the bound (as
    /// POE has none).
    ///
    /// # Panics
    ///
    /// If `low` is not below `high`.
    pub fn max_output(mut self, bound: Option<(usize, usize)>) -> TcpServer<S, F> {
        if let Some((high, low)) = bound {
            assert!(low < high, "the low mark must be below the high mark");
        }
        self.connection.max_output = bound;
        self
    }

    /// How long a connection's output may wait without any of it being
    /// written before the client is cut off (60 s by default; `None`: no
    /// limit, as in POE).
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> TcpServer<S, F> {
        self.connection.write_timeout = timeout;
        self
    }

    /// Disconnects a client that sends nothing for this long (off by
    /// default, as in POE).
    pub fn idle_timeout(mut self, timeout: Duration) -> TcpServer<S, F> {
        self.connection.idle_timeout = Some(timeout);
        self
    }

    /// Closes a connection as soon as its client ends its input, dropping
    /// output not yet written, as POE does. By default the connection
    /// flushes what it owes the client first.
    pub fn close_on_eof(mut self, on: bool) -> TcpServer<S, F> {
        self.connection.close_on_eof = on;
        self
    }

    /// The listen queue's length (SocketFactory's `ListenQueue`).
    pub fn listen_queue(mut self, connections: u32) -> TcpServer<S, F> {
        self.listen_queue = Some(connections);
        self
    }

    /// Called in the listener session once it listens (POE's `Started`).
    pub fn started<C, R>(mut self, callback: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Listening>) -> R + 'static,
        R: Return,
    {
        self.started = Some(store0(callback));
        self
    }

    /// Called in the listener session when binding, listening or accepting
    /// fails (POE's `Error`). Without it, the failure is logged as a warning
    /// and the server stops listening, as POE's default does.
    pub fn error<C, R>(mut self, callback: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Listening>, Failure) -> R + 'static,
        R: Return,
    {
        self.error = Some(store(callback));
        self
    }

    /// Handles each accepted socket yourself instead of spawning a
    /// connection session (POE's `Acceptor`): `(socket, remote address,
    /// remote port)` as SocketFactory's success event gives them. Post
    /// `disconnected` to the listener when such a connection ends if a
    /// concurrency limit is set. The `client_*` callbacks are then unused.
    pub fn acceptor<C, R>(mut self, callback: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Listening>, Value, Value, Value) -> R + 'static,
        R: Return,
    {
        self.acceptor = Some(Rc::new(move |cx, socket, address, port| {
            callback(cx, socket, address, port).into_result()
        }));
        self
    }

    /// Called in each connection session once its wheel is set up (POE's
    /// `ClientConnected`).
    pub fn client_connected<C, R>(mut self, callback: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Connection<S, F>>) -> R + 'static,
        R: Return,
    {
        self.connection.connected = Some(store0(callback));
        self
    }

    /// Called per record a client sends, typed as the filter makes it
    /// (POE's `ClientInput`), unless the connection is shutting down.
    pub fn client_input<C, R>(mut self, callback: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Connection<S, F>>, F::Record) -> R + 'static,
        R: Return,
    {
        self.connection.input = Some(store(callback));
        self
    }

    /// Called when a connection closes: after the client went away or
    /// failed, or after `shutdown` (POE's `ClientDisconnected`). `client`
    /// is still set during the call.
    pub fn client_disconnected<C, R>(mut self, callback: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Connection<S, F>>) -> R + 'static,
        R: Return,
    {
        self.connection.disconnected = Some(store0(callback));
        self
    }

    /// Called on a connection's errors, including the end of its input (a
    /// `read` with errno 0), as in POE (`ClientError`). Without it, errors
    /// other than that and `ECONNRESET` are logged as warnings.
    pub fn client_error<C, R>(mut self, callback: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Connection<S, F>>, Failure) -> R + 'static,
        R: Return,
    {
        self.connection.error = Some(store(callback));
        self
    }

    /// Called when everything put to a client has been written (POE's
    /// `ClientFlushed`).
    pub fn client_flushed<C, R>(mut self, callback: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Connection<S, F>>) -> R + 'static,
        R: Return,
    {
        self.connection.flushed = Some(store0(callback));
        self
    }

    /// Whether a connection shuts itself down after an error (POE's
    /// `ClientShutdownOnError`; default `true`).
    pub fn client_shutdown_on_error(mut self, on: bool) -> TcpServer<S, F> {
        self.connection.shutdown_on_error = on;
        self
    }

    /// Adds a handler to every connection session (POE's `InlineStates`),
    /// for events of your own posted to connections.
    pub fn on<C, R>(mut self, event: impl Into<Event>, handler: C) -> TcpServer<S, F>
    where
        C: Fn(&mut Context<'_, Connection<S, F>>, Args) -> R + 'static,
        R: Return,
    {
        self.connection
            .handlers
            .push((event.into(), store(handler)));
        self
    }

    /// Creates the listener session, which binds and listens before this
    /// returns; a failure to do so goes to the [`error`](TcpServer::error)
    /// callback (and [`ServerInfo::local_addr`] is `None`).
    ///
    /// # Errors
    ///
    /// The alias is taken, or the kernel cannot watch the socket.
    pub fn spawn(self, spawner: &mut impl Spawner) -> Result<ServerInfo> {
        let local = Rc::new(RefCell::new(None));
        let counters = Arc::clone(&self.connection.counters);
        let session = self.listener_session(Rc::clone(&local));
        let session = spawner.spawn_session(session)?;
        let local_addr = *local.borrow();
        Ok(ServerInfo {
            session,
            local_addr,
            counters,
        })
    }
}
