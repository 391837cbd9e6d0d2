//! POE::Component::Client::TCP: one session per outgoing connection.

use std::{net::TcpStream, os::unix::net::UnixStream, rc::Rc, time::Duration};

use super::{Callback, Callback0, Failure, Handlers, Spawner, run0, store, store0};
use crate::{
    error::{Error, Result},
    event::Event,
    filter::{Filter, FilterError, Line},
    id::SessionId,
    kernel::Context,
    session::{Return, Session},
    value::Args,
    wheel::{Domain, Duplex, ReadWrite, SocketFactory},
};

/// The client session's internal events (POE's names).
const GOT_CONNECT_SUCCESS: &str = "got_connect_success";
const GOT_CONNECT_ERROR: &str = "got_connect_error";
const GOT_SERVER_INPUT: &str = "got_server_input";
const GOT_SERVER_ERROR: &str = "got_server_error";
const GOT_SERVER_FLUSH: &str = "got_server_flush";
/// Closing after an error: `shutdown` without the user's "stop for good".
const CLOSE_AFTER_ERROR: &str = "got_server_close";

/// A TCP client (POE::Component::Client::TCP).
///
/// [`spawn`](TcpClient::spawn) creates one session that connects to the
/// remote address through a [`SocketFactory`] and then talks to the server
/// through a [`ReadWrite`] wheel. Its heap is a [`ClientConnection`]: the
/// wheel in `server`, whether it is `connected`, and your state in `state`.
/// The callbacks run in that session and get its [`Context`].
///
/// Events the session accepts:
///
/// - `connect` `(address, port)`: connect again, optionally elsewhere
///   (either argument may be left out).
/// - `reconnect`: drop the connection, if any, and connect again.
/// - `shutdown`: close the connection once pending output is flushed, stop
///   connecting, and drop the alias; the session then ends, unless it is
///   told to `reconnect`.
///
/// After the server goes away, the session calls `disconnected`; after a
/// failed attempt, `connect_error`. Reconnecting is then up to you
/// (`cx.yield_("reconnect", ())` or a `delay` of it), as in POE, unless
/// [`auto_reconnect`](TcpClient::auto_reconnect) is set: then the client
/// reconnects by itself after each, waiting as its [`Backoff`] says, until
/// `shutdown`.
///
/// # Examples
///
/// A client of a plain `std` server on a thread, which answers one line in
/// capitals:
///
/// ```
/// use std::{
///     cell::RefCell,
///     io::{BufRead, BufReader, Write},
///     net::TcpListener,
///     rc::Rc,
/// };
/// use roe_engine::{Kernel, TcpClient};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let server = std::thread::spawn(move || -> std::io::Result<()> {
///     let (socket, _) = listener.accept()?;
///     let mut line = String::new();
///     BufReader::new(&socket).read_line(&mut line)?;
///     (&socket).write_all(line.to_uppercase().as_bytes())
/// });
///
/// let heard = Rc::new(RefCell::new(Vec::new()));
/// let got = Rc::clone(&heard);
/// let mut kernel = Kernel::new()?;
/// TcpClient::new("127.0.0.1", port)
///     .connected(|cx| Ok::<_, roe_engine::Error>(cx.heap.put("hello")?))
///     // With the default `Line` filter, a record is the line's bytes.
///     .server_input(move |cx, line: Vec<u8>| {
///         got.borrow_mut().push(String::from_utf8_lossy(&line).into_owned());
///         cx.yield_("shutdown", ());
///     })
///     .spawn(&mut kernel)?;
/// kernel.run()?;
/// server.join().expect("the server thread")?;
/// assert_eq!(*heard.borrow(), ["HELLO"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Differences from POE: callbacks are typed closures; `Connected` gets no
/// socket (the wheel is already in `server`); `PreConnect`, `SessionType`
/// and `SessionParams` are not provided; automatic reconnection is new;
/// default error callbacks log a warning (through `tracing`) where POE's would
/// `warn`.
pub struct TcpClient<S = (), F: Filter = Line> {
    state: S,
    config: ClientConfig<S, F>,
}

/// What the client session is made of.
struct ClientConfig<S, F: Filter> {
    address: String,
    port: u16,
    domain: Option<Domain>,
    bind_address: Option<String>,
    bind_port: Option<u16>,
    connect_timeout: Option<Duration>,
    alias: Option<String>,
    filter: Box<dyn Fn() -> F>,
    started: Option<Callback0<ClientConnection<S, F>>>,
    connected: Option<Callback0<ClientConnection<S, F>>>,
    connect_error: Option<Callback<ClientConnection<S, F>, Failure>>,
    server_input: Option<Callback<ClientConnection<S, F>, F::Record>>,
    server_error: Option<Callback<ClientConnection<S, F>, Failure>>,
    server_flushed: Option<Callback0<ClientConnection<S, F>>>,
    disconnected: Option<Callback0<ClientConnection<S, F>>>,
    shutdown_on_error: bool,
    backoff: Option<Backoff>,
    handlers: Handlers<ClientConnection<S, F>>,
}

/// The client session's heap (POE's client `$_[HEAP]`).
///
/// # Examples
///
/// A client that keeps its own count in `state`, against an echo server in
/// the same kernel:
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use roe_engine::{Kernel, Line, TcpClient, TcpServer};
///
/// let mut kernel = Kernel::new()?;
/// let server = TcpServer::new(0)
///     .address("127.0.0.1")
///     .alias("echo")
///     .client_input(|cx, line: Vec<u8>| Ok::<_, roe_engine::Error>(cx.heap.put(line)?))
///     .spawn(&mut kernel)?;
/// let port = server.port().expect("listening");
/// let echoes = Rc::new(Cell::new(0));
/// let seen = Rc::clone(&echoes);
/// TcpClient::with("127.0.0.1", port, 0u32, Line::new)
///     .connected(|cx| {
///         assert!(cx.heap.connected && cx.heap.remote_port != 0);
///         Ok::<_, roe_engine::Error>(cx.heap.put("ping")?)
///     })
///     .server_input(move |cx, _echo: Vec<u8>| {
///         cx.heap.state += 1;
///         seen.set(cx.heap.state);
///         if cx.heap.state < 3 {
///             cx.heap.put("ping")?;
///         } else {
///             // Done: this connection closes, and so does the server.
///             cx.yield_("shutdown", ());
///             cx.post("echo", "shutdown", ())?;
///         }
///         Ok::<_, roe_engine::Error>(())
///     })
///     .spawn(&mut kernel)?;
/// kernel.run()?;
/// assert_eq!(echoes.get(), 3);
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct ClientConnection<S, F: Filter> {
    /// The connection's wheel (POE's `server`, once connected); `None`
    /// while connecting or disconnected.
    pub server: Option<ReadWrite<F>>,
    /// Whether the connection is up (POE's `connected`).
    pub connected: bool,
    /// Whether the connection is shutting down (POE's `shutdown`); input
    /// that arrives then is ignored.
    pub shutdown: bool,
    /// The address connected, or to connect, to.
    pub remote_address: String,
    /// The port connected, or to connect, to.
    pub remote_port: u16,
    /// Your state.
    pub state: S,
    connector: Option<SocketFactory>,
    got_an_error: bool,
    /// The user asked to shut down: no automatic reconnection.
    stopped: bool,
    retry: Retries,
}

impl<S, F: Filter + 'static> ClientConnection<S, F> {
    /// Sends `record` to the server (POE's `$heap->{server}->put`); nothing
    /// happens while not connected.
    ///
    /// # Errors
    ///
    /// The filter's refusal to encode the record.
    pub fn put(&self, record: impl Into<F::Record>) -> Result<(), FilterError> {
        match &self.server {
            Some(server) => server.put(record),
            None => Ok(()),
        }
    }

    /// Whether a connection attempt is under way.
    pub fn is_connecting(&self) -> bool {
        self.connector.is_some()
    }

    /// Failed attempts since the last successful connection.
    pub fn attempts(&self) -> u32 {
        self.retry.attempts()
    }
}

/// How long an automatically reconnecting client waits before each
/// attempt: exponential backoff with jitter.
///
/// Before attempt *n* after the last successful connection (counting from
/// 0), the ceiling is `initial × 2ⁿ`, capped at `max`; the wait is drawn
/// uniformly between half the ceiling and the ceiling ("equal jitter"), so
/// clients that lost the same server spread out. The draws come from a
/// small deterministic generator (xorshift64*) seeded per client: with
/// [`seed`](Backoff::seed), or from the client's session number, so a
/// program's waits repeat from run to run.
///
/// # Examples
///
/// A client that tries a port where nothing listens, waiting longer before
/// each new attempt, and gives up after the third:
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use roe_engine::{Backoff, Kernel, TcpClient};
///
/// // A port nothing listens on: bound, then let go.
/// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
/// let failures = Rc::new(Cell::new(0));
/// let seen = Rc::clone(&failures);
/// let backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(20)).seed(7);
/// let mut kernel = Kernel::new()?;
/// TcpClient::new("127.0.0.1", port)
///     .auto_reconnect(backoff)
///     .server_input(|_, _: Vec<u8>| {})
///     .connect_error(move |cx, failure| {
///         assert_eq!(failure.operation, "connect");
///         // Failed attempts before this one.
///         seen.set(cx.heap.attempts() + 1);
///         if cx.heap.attempts() == 2 {
///             cx.yield_("shutdown", ());
///         }
///     })
///     .spawn(&mut kernel)?;
/// kernel.run()?;
/// assert_eq!(failures.get(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    seed: Option<u64>,
}

impl Backoff {
    /// A backoff whose first wait is at most `initial` and no wait more than
    /// `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            seed: None,
        }
    }

    /// Seeds the jitter's generator (default: from the session number).
    pub fn seed(mut self, seed: u64) -> Backoff {
        self.seed = Some(seed);
        self
    }

    /// The wait before attempt `attempt`, drawing jitter from `rng`.
    fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let factor = 1u32 << attempt.min(31);
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        let ceiling = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let half = ceiling / 2;
        let spread = ceiling - half;
        let jitter = if spread == 0 {
            0
        } else {
            rng.next() % (spread + 1)
        };
        Duration::from_nanos(half + jitter)
    }
}

/// The jitter's generator: xorshift64*.
#[derive(Clone, Copy, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Any seed, 0 included, gives a non-zero state.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A [`Backoff`] in use: failed attempts since the last success, and the
/// jitter's generator. [`TcpClient`] keeps one; so can any code that
/// reconnects on its own schedule (IKC's clients do).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Backoff, Retries};
///
/// let mut retries = Retries::new(Backoff::new(Duration::from_millis(10), Duration::from_secs(1)), 7);
/// retries.failed();
/// retries.failed();
/// let wait = retries.next_wait();
/// // Attempt 1's ceiling is 20 ms; the wait is drawn from its upper half.
/// assert!(wait >= Duration::from_millis(10) && wait <= Duration::from_millis(20));
/// retries.succeeded();
/// assert_eq!(retries.attempts(), 0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Retries {
    backoff: Backoff,
    attempt: u32,
    rng: Rng,
}

impl Retries {
    /// No failures yet; the jitter comes from the backoff's own seed, else
    /// from `seed`.
    pub fn new(backoff: Backoff, seed: u64) -> Retries {
        Retries {
            backoff,
            attempt: 0,
            rng: Rng::new(backoff.seed.unwrap_or(seed)),
        }
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Counts a failed attempt.
    pub fn failed(&mut self) {
        self.attempt = self.attempt.saturating_add(1);
    }

    /// An attempt succeeded: the next failure starts the backoff afresh.
    pub fn succeeded(&mut self) {
        self.attempt = 0;
    }

    /// How long to wait before the next attempt. The first wait after a
    /// success, or after the first failure, is attempt 0's.
    pub fn next_wait(&mut self) -> Duration {
        self.backoff
            .delay(self.attempt.saturating_sub(1), &mut self.rng)
    }
}

/// A client that does not reconnect keeps a [`Retries`] only to count
/// failures.
const NO_BACKOFF: Backoff = Backoff {
    initial: Duration::ZERO,
    max: Duration::ZERO,
    seed: None,
};

impl TcpClient<(), Line> {
    /// A client of `address` (an IP literal or a host name, resolved with
    /// blocking `ToSocketAddrs`; see [`SocketFactory`]) and `port`, with no
    /// state of its own and the [`Line`] filter (POE's `RemoteAddress` and
    /// `RemotePort`).
    pub fn new(address: impl Into<String>, port: u16) -> TcpClient<(), Line> {
        TcpClient::with(address, port, (), Line::new)
    }
}

impl<S: 'static, F: Filter + 'static> TcpClient<S, F> {
    /// A client of `address` and `port` whose heap holds `state` and whose
    /// connections read and write through the filter `filter` makes (POE's
    /// `Filter`; one per connection).
    pub fn with(
        address: impl Into<String>,
        port: u16,
        state: S,
        filter: impl Fn() -> F + 'static,
    ) -> TcpClient<S, F> {
        TcpClient {
            state,
            config: ClientConfig {
                address: address.into(),
                port,
                domain: None,
                bind_address: None,
                bind_port: None,
                connect_timeout: None,
                alias: None,
                filter: Box::new(filter),
                started: None,
                connected: None,
                connect_error: None,
                server_input: None,
                server_error: None,
                server_flushed: None,
                disconnected: None,
                shutdown_on_error: true,
                backoff: None,
                handlers: Vec::new(),
            },
        }
    }

    /// The address family (POE's `Domain`); [`Domain::Unix`] makes the
    /// address a path.
    pub fn domain(mut self, domain: Domain) -> TcpClient<S, F> {
        self.config.domain = Some(domain);
        self
    }

    /// The local address to bind before connecting (POE's `BindAddress`).
    pub fn bind_address(mut self, address: impl Into<String>) -> TcpClient<S, F> {
        self.config.bind_address = Some(address.into());
        self
    }

    /// The local port to bind before connecting (POE's `BindPort`).
    pub fn bind_port(mut self, port: u16) -> TcpClient<S, F> {
        self.config.bind_port = Some(port);
        self
    }

    /// Gives up an attempt after `timeout`, calling `connect_error` with
    /// `("connect", ETIMEDOUT, ...)` (POE's `ConnectTimeout`).
    pub fn connect_timeout(mut self, timeout: Duration) -> TcpClient<S, F> {
        self.config.connect_timeout = Some(timeout);
        self
    }

    /// An alias for the session (POE's `Alias`).
    pub fn alias(mut self, alias: impl Into<String>) -> TcpClient<S, F> {
        self.config.alias = Some(alias.into());
        self
    }

    /// Reconnects by itself after a failed attempt or a lost connection,
    /// waiting as `backoff` says, until `shutdown`; the backoff starts over
    /// after each successful connection.
    pub fn auto_reconnect(mut self, backoff: Backoff) -> TcpClient<S, F> {
        self.config.backoff = Some(backoff);
        self
    }

    /// Whether an error on the connection shuts it down (POE's
    /// `ShutdownOnError`; default `true`).
    pub fn shutdown_on_error(mut self, on: bool) -> TcpClient<S, F> {
        self.config.shutdown_on_error = on;
        self
    }

    /// Called in the session's `_start`, before the first attempt (POE's
    /// `Started`).
    pub fn started<C, R>(mut self, callback: C) -> TcpClient<S, F>
    where
        C: Fn(&mut Context<'_, ClientConnection<S, F>>) -> R + 'static,
        R: Return,
    {
        self.config.started = Some(store0(callback));
        self
    }

    /// Called once connected, with the wheel in `server` (POE's
    /// `Connected`).
    pub fn connected<C, R>(mut self, callback: C) -> TcpClient<S, F>
    where
        C: Fn(&mut Context<'_, ClientConnection<S, F>>) -> R + 'static,
        R: Return,
    {
        self.config.connected = Some(store0(callback));
        self
    }

    /// Called when an attempt fails (POE's `ConnectError`). Without it, the
    /// failure is logged as a warning.
    pub fn connect_error<C, R>(mut self, callback: C) -> TcpClient<S, F>
    where
        C: Fn(&mut Context<'_, ClientConnection<S, F>>, Failure) -> R + 'static,
        R: Return,
    {
        self.config.connect_error = Some(store(callback));
        self
    }

    /// Called per record the server sends, typed as the filter makes it
    /// (POE's `ServerInput`), unless the connection is shutting down.
    /// Required, as POE requires it.
    pub fn server_input<C, R>(mut self, callback: C) -> TcpClient<S, F>
    where
        C: Fn(&mut Context<'_, ClientConnection<S, F>>, F::Record) -> R + 'static,
        R: Return,
    {
        self.config.server_input = Some(store(callback));
        self
    }

    /// Called on the connection's errors, including the server closing it
    /// (a `read` with errno 0), as in POE (`ServerError`). Without it,
    /// errors other than that and `ECONNRESET` are logged as warnings.
    pub fn server_error<C, R>(mut self, callback: C) -> TcpClient<S, F>
    where
        C: Fn(&mut Context<'_, ClientConnection<S, F>>, Failure) -> R + 'static,
        R: Return,
    {
        self.config.server_error = Some(store(callback));
        self
    }

    /// Called when everything put to the server has been written (POE's
    /// `ServerFlushed`).
    pub fn server_flushed<C, R>(mut self, callback: C) -> TcpClient<S, F>
    where
        C: Fn(&mut Context<'_, ClientConnection<S, F>>) -> R + 'static,
        R: Return,
    {
        self.config.server_flushed = Some(store0(callback));
        self
    }

    /// Called when the connection closes, whether the server went away or
    /// the client shut down (POE's `Disconnected`). `server` is still set
    /// during the call.
    pub fn disconnected<C, R>(mut self, callback: C) -> TcpClient<S, F>
    where
        C: Fn(&mut Context<'_, ClientConnection<S, F>>) -> R + 'static,
        R: Return,
    {
        self.config.disconnected = Some(store0(callback));
        self
    }

    /// Adds a handler to the session (POE's `InlineStates`).
    pub fn on<C, R>(mut self, event: impl Into<Event>, handler: C) -> TcpClient<S, F>
    where
        C: Fn(&mut Context<'_, ClientConnection<S, F>>, Args) -> R + 'static,
        R: Return,
    {
        self.config.handlers.push((event.into(), store(handler)));
        self
    }

    /// Creates the client session; its first attempt starts in the next
    /// slice, as POE's `yield('reconnect')` from `_start`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] without a
    /// [`server_input`](TcpClient::server_input) callback (POE refuses to
    /// start without `ServerInput`); the alias is taken.
    pub fn spawn(self, spawner: &mut impl Spawner) -> Result<SessionId> {
        if self.config.server_input.is_none() {
            return Err(Error::InvalidArgument("a TCP client needs server_input"));
        }
        spawner.spawn_session(self.session())
    }

    fn session(self) -> Session<ClientConnection<S, F>> {
        let TcpClient { state, config } = self;
        let config = Rc::new(config);
        let mut session = Session::new(ClientConnection {
            server: None,
            connected: false,
            shutdown: false,
            remote_address: config.address.clone(),
            remote_port: config.port,
            state,
            connector: None,
            got_an_error: false,
            stopped: false,
            retry: Retries::new(NO_BACKOFF, 0),
        });
        for (event, handler) in &config.handlers {
            let handler = Rc::clone(handler);
            session = session.on(*event, move |cx, args| handler(cx, args));
        }
        let c = Rc::clone(&config);
        session = session.on("_start", move |cx, _| {
            cx.heap.retry = Retries::new(c.backoff.unwrap_or(NO_BACKOFF), cx.session().number());
            if let Some(alias) = &c.alias {
                cx.alias_set(alias)?;
            }
            cx.yield_("reconnect", ());
            run0(&c.started, cx)
        });
        let c = Rc::clone(&config);
        session = session.on("reconnect", move |cx, _| reconnect(cx, &c));
        session = session.on("connect", |cx, args| {
            if let Some(address) = args[0].as_str() {
                cx.heap.remote_address = address.to_owned();
            }
            if let Some(port) = args[1].as_int().and_then(|p| u16::try_from(p).ok()) {
                cx.heap.remote_port = port;
            }
            cx.yield_("reconnect", ());
        });
        let c = Rc::clone(&config);
        session = session.on(GOT_CONNECT_SUCCESS, move |cx, mut args| {
            cx.heap.connector = None;
            let wheel = match args.take(0).take_local::<TcpStream>() {
                Ok(socket) => start_wheel(cx, socket, &c)?,
                Err(other) => match other.into_value().take_local::<UnixStream>() {
                    Ok(socket) => start_wheel(cx, socket, &c)?,
                    Err(_) => return Err(Error::InvalidArgument("a connection needs its socket")),
                },
            };
            cx.heap.server = Some(wheel);
            cx.heap.connected = true;
            cx.heap.retry.succeeded();
            run0(&c.connected, cx)
        });
        let c = Rc::clone(&config);
        session = session.on(GOT_CONNECT_ERROR, move |cx, args| {
            let failure = Failure::from_args(&args);
            cx.heap.connected = false;
            cx.heap.connector = None;
            match &c.connect_error {
                Some(callback) => {
                    callback(cx, failure)?;
                }
                None => tracing::warn!(session = %cx.session(), "client got {failure}"),
            }
            cx.heap.retry.failed();
            retry_later(cx, &c)
        });
        let c = Rc::clone(&config);
        session = session.on(GOT_SERVER_INPUT, move |cx, mut args| {
            if cx.heap.shutdown {
                return Ok(());
            }
            let Some(record) = F::value_record(args.take(0)) else {
                return Ok(());
            };
            match &c.server_input {
                Some(callback) => callback(cx, record).map(drop),
                None => Ok(()),
            }
        });
        let c = Rc::clone(&config);
        session = session.on(GOT_SERVER_ERROR, move |cx, args| {
            let failure = Failure::from_args(&args);
            match &c.server_error {
                Some(callback) => {
                    callback(cx, failure)?;
                }
                None if !failure.is_quiet() => {
                    tracing::warn!(session = %cx.session(), "client got {failure}");
                }
                None => {}
            }
            if c.shutdown_on_error {
                cx.heap.got_an_error = true;
                cx.yield_(CLOSE_AFTER_ERROR, ());
            }
            Ok(())
        });
        let c = Rc::clone(&config);
        session = session.on(GOT_SERVER_FLUSH, move |cx, _| {
            run0(&c.server_flushed, cx)?;
            if cx.heap.shutdown && cx.heap.server.is_some() {
                run0(&c.disconnected, cx)?;
                cx.heap.server = None;
                retry_later(cx, &c)?;
            }
            Ok(())
        });
        let c = Rc::clone(&config);
        session = session.on("shutdown", move |cx, _| {
            cx.heap.stopped = true;
            cx.alarm_clear("reconnect")?;
            close(cx, &c)
        });
        let c = Rc::clone(&config);
        session = session.on(CLOSE_AFTER_ERROR, move |cx, _| close(cx, &c));
        session.on("_stop", |_, _| {}).on("_child", |_, _| {})
    }
}

fn start_wheel<S: 'static, F: Filter + 'static>(
    cx: &mut Context<'_, ClientConnection<S, F>>,
    socket: impl Duplex + 'static,
    config: &ClientConfig<S, F>,
) -> Result<ReadWrite<F>> {
    ReadWrite::builder(socket, (config.filter)())
        .input(GOT_SERVER_INPUT)
        .error(GOT_SERVER_ERROR)
        .flushed(GOT_SERVER_FLUSH)
        .start(cx)
}

/// The `reconnect` event: drop any connection and start an attempt.
fn reconnect<S: 'static, F: Filter + 'static>(
    cx: &mut Context<'_, ClientConnection<S, F>>,
    config: &ClientConfig<S, F>,
) -> Result<()> {
    cx.heap.shutdown = false;
    cx.heap.connected = false;
    cx.heap.stopped = false;
    cx.heap.got_an_error = false;
    cx.heap.server = None;
    // An automatic attempt may be pending; this one replaces it.
    cx.alarm_clear("reconnect")?;
    if let Some(alias) = &config.alias {
        // POE sets it again, since `shutdown` removed it.
        let _ = cx.alias_set(alias);
    }
    let mut factory = SocketFactory::builder(GOT_CONNECT_SUCCESS, GOT_CONNECT_ERROR)
        .remote_address(cx.heap.remote_address.clone())
        .remote_port(cx.heap.remote_port);
    if let Some(domain) = config.domain {
        factory = factory.domain(domain);
    }
    if let Some(address) = &config.bind_address {
        factory = factory.bind_address(address.clone());
    }
    if let Some(port) = config.bind_port {
        factory = factory.bind_port(port);
    }
    if let Some(timeout) = config.connect_timeout {
        factory = factory.connect_timeout(timeout);
    }
    cx.heap.connector = Some(factory.start(cx)?);
    Ok(())
}

/// Closes the connection: POE's `shutdown`, minus the "for good" part,
/// which the `shutdown` handler adds.
fn close<S: 'static, F: Filter + 'static>(
    cx: &mut Context<'_, ClientConnection<S, F>>,
    config: &ClientConfig<S, F>,
) -> Result<()> {
    cx.heap.shutdown = true;
    cx.heap.connector = None;
    if cx.heap.connected {
        cx.heap.connected = false;
        let idle = match &cx.heap.server {
            Some(server) => cx.heap.got_an_error || server.pending_output() == 0,
            None => false,
        };
        if idle {
            run0(&config.disconnected, cx)?;
            cx.heap.server = None;
            retry_later(cx, config)?;
        }
    } else {
        cx.heap.server = None;
    }
    // A client that reconnects by itself keeps its alias until told to
    // stop, so `shutdown` can still reach it between attempts.
    if (cx.heap.stopped || config.backoff.is_none())
        && let Some(alias) = &config.alias
    {
        let _ = cx.alias_remove(alias);
    }
    Ok(())
}

/// Schedules the next automatic attempt, if the client reconnects by itself
/// and was not told to stop.
fn retry_later<S: 'static, F: Filter + 'static>(
    cx: &mut Context<'_, ClientConnection<S, F>>,
    config: &ClientConfig<S, F>,
) -> Result<()> {
    if config.backoff.is_none() {
        return Ok(());
    }
    if cx.heap.stopped {
        return Ok(());
    }
    // The first wait after a lost connection counts as attempt 0.
    let delay = cx.heap.retry.next_wait();
    cx.delay("reconnect", delay, ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn waits_grow_exponentially_within_their_jitter_and_stop_at_the_cap() {
        let backoff = Backoff::new(ms(10), ms(1000));
        let mut rng = Rng::new(7);
        for attempt in 0..12 {
            let ceiling = (ms(10) * (1 << attempt)).min(ms(1000));
            let delay = backoff.delay(attempt, &mut rng);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempt}: {delay:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        // Far past the cap, and no overflow.
        assert!(backoff.delay(u32::MAX, &mut rng) <= ms(1000));
    }

    #[test]
    fn the_same_seed_gives_the_same_waits_and_others_differ() {
        let backoff = Backoff::new(ms(100), ms(100_000));
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..8)
                .map(|attempt| backoff.delay(attempt, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn a_zero_wait_stays_zero() {
        let backoff = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(backoff.delay(3, &mut Rng::new(0)), Duration::ZERO);
    }

    #[test]
    fn the_cap_is_never_below_the_first_wait() {
        let backoff = Backoff::new(ms(50), ms(10));
        assert!(backoff.delay(0, &mut Rng::new(3)) >= ms(25));
    }
}
