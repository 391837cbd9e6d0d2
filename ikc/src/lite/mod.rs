//! The lite client: a blocking IKC client for code without a kernel (a
//! script, a plain thread, the `roe ikc` command), as IKC's
//! `POE::Component::IKC::ClientLite`, over roe's native wire.
//!
//! [`LiteClient`] connects to one server (TCP or a Unix socket), shakes
//! hands with it ([`LiteConfig`]: name, timeouts, pre-shared key), then
//! posts, calls and pings it, one request at a time, each waited for on
//! the calling thread:
//!
//! - [`post`](LiteClient::post) sends and returns; a refusal the server
//!   sends back arrives later and is kept for
//!   [`take_errors`](LiteClient::take_errors);
//! - [`call`](LiteClient::call) waits for the reply to its call;
//! - [`post_respond`](LiteClient::post_respond) posts with an RSVP, IKC's
//!   `post_respond`, and waits for the server to post the answer back;
//! - [`ping`](LiteClient::ping) times a round trip.
//!
//! A lite client publishes nothing and has no sessions: it calls, the
//! server answers. It is not for a program with a kernel, whose sessions
//! talk to remote ones through the kernel's own IKC.
//!
//! # The connection
//!
//! The client writes the native wire's magic and shakes hands with its
//! kernel ID ([`identity::kernel_id`]), its name and the alias `IKCLite`,
//! which is also the session that requests come from and answers go to
//! ([`LITE_SESSION`]). While it waits, it answers the server's
//! pings, refuses the server's calls and subscriptions, and drops (and
//! counts, [`dropped`](LiteClient::dropped)) what it does not wait for:
//! late replies to calls that timed out, posts to other states. Frames
//! over the configured limit close the connection before any of their body
//! is buffered.
//!
//! A connection that fails is dropped, and the next request connects
//! again: a server that closed the connection while the client was idle
//! (it restarted, say) is noticed before the request is written, and a
//! write that fails anyway is retried once on a new connection. A
//! connection closed while a request waits fails that request (it may have
//! run). After a timeout the connection is dropped too, unless
//! [`LiteConfig::reconnect_after_timeout`] is off: the answer that comes
//! late is then recognised and dropped.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use roe_engine::Value;
//! use roe_ikc::lite::{LiteClient, LiteConfig, LiteError};
//!
//! let mut client =
//!     LiteClient::connect(LiteConfig::new("127.0.0.1:6603").timeout(Duration::from_secs(5)))?;
//! // ClientLite's relative form: session/state on the server.
//! let upper = client.call("echo/upper", &[Value::from("hi")])?;
//! assert_eq!(upper.as_str(), Some("HI"));
//! client.post("poe://Server/log/line", &[Value::from("started")])?;
//! match client.call("echo/secret", &[]) {
//!     Err(e) if e.is_remote() => eprintln!("the server said no: {e}"),
//!     other => println!("{other:?}"),
//! }
//! println!("round trip: {:?}", client.ping()?);
//! for error in client.take_errors() {
//!     eprintln!("a post failed: {error}");
//! }
//! # Ok::<(), LiteError>(())
//! ```

mod config;
mod conn;
mod error;
mod inbox;

pub use self::{
    config::{DEFAULT_TIMEOUT, Endpoint, LiteConfig, MIN_MAX_FRAME, MIN_TIMEOUT},
    error::{LiteError, RemoteFailure, SpecProblem},
    inbox::{MAX_KEPT_ERRORS, MAX_KEPT_TEXT},
};

use std::{
    fmt, io,
    time::{Duration, Instant},
};

use roe_engine::Value;

use self::{
    conn::{Connection, Fill, deadline_after},
    inbox::{Answer, Awaited, Inbox},
};
use crate::{
    Kernel, Specifier, WireValue, identity,
    native::{Frame, Origin, Peer, SessionRef, Target},
};

/// The session a lite client's requests come from and its answers go to,
/// and the alias it gives its kernel: IKC's ClientLite's.
pub const LITE_SESSION: &str = "IKCLite";

/// How much one read takes from the socket.
const READ_BUFFER: usize = 64 * 1024;

/// The most reads of what arrived between requests before a request is
/// sent: a server that never stops sending cannot hold the client.
const READY_READS: usize = 16;

/// What a lite client's requests accept as their target: specifier text,
/// or a [`Specifier`].
///
/// Text is read as ClientLite reads it: `session/state` (no `poe:`) is on
/// the server, and text starting with `poe:` reads as a specifier
/// ([`Specifier::parse_relative`]). Either way the kernel, if named, must
/// be the server: one of its names or aliases, its kernel ID, or the
/// address connected to (`host:port` as given, `unix:path`); `*` means
/// the server too. The session is an alias, or POE's session number when
/// it is all digits; the state is required; a `?arg` is sent after the
/// arguments, as IKC's kernels push it.
///
/// # Examples
///
/// ```
/// use roe_ikc::{Specifier, lite::Destination};
///
/// let spec = "echo/upper".specifier()?;
/// assert_eq!(spec.session.as_deref(), Some("echo"));
/// assert_eq!(spec, Specifier::default().with_session("echo").with_state("upper"));
/// assert_eq!("poe://Server/echo/upper?loud".specifier()?.arg.as_deref(), Some("loud"));
/// # Ok::<(), roe_ikc::lite::LiteError>(())
/// ```
pub trait Destination {
    /// The specifier this names.
    ///
    /// # Errors
    ///
    /// [`LiteError::BadSpecifier`] for text that is not a specifier.
    fn specifier(&self) -> Result<Specifier, LiteError>;
}

impl Destination for str {
    fn specifier(&self) -> Result<Specifier, LiteError> {
        Specifier::parse_relative(self, &Kernel::Default).map_err(|e| LiteError::BadSpecifier {
            spec: self.to_owned(),
            problem: SpecProblem::Syntax(e),
        })
    }
}

impl Destination for String {
    fn specifier(&self) -> Result<Specifier, LiteError> {
        self.as_str().specifier()
    }
}

impl Destination for Specifier {
    fn specifier(&self) -> Result<Specifier, LiteError> {
        Ok(self.clone())
    }
}

/// A blocking client of one IKC server: IKC's ClientLite.
///
/// Requests take `&mut self` and run one at a time on the calling thread.
/// The client is [`Send`], so it can move to the thread that uses it; to
/// share one between threads, put it in a `Mutex` (or give each thread its
/// own: a connection is cheap). Dropping it says `Goodbye` to the server
/// (if the socket takes it at once) and closes the connection.
///
/// See [the module documentation](self) for how it connects, reconnects
/// and reads.
///
/// # Examples
///
/// ```no_run
/// use roe_engine::Value;
/// use roe_ikc::lite::{LiteClient, LiteConfig};
///
/// let mut client = LiteClient::connect(LiteConfig::unix("/run/roe/ikc.sock").name("Reporter"))?;
/// println!("connected to {}", client.server().map_or("?", |s| s.name()));
/// let total = client.post_respond("accounts/total", &Value::from("2024"))?;
/// println!("{total}");
/// # Ok::<(), roe_ikc::lite::LiteError>(())
/// ```
pub struct LiteClient {
    config: LiteConfig,
    kernel_id: String,
    conn: Option<Connection>,
    inbox: Inbox,
    next_id: u64,
    next_response: u64,
    buf: Box<[u8]>,
}

impl LiteClient {
    /// Connects to the server and shakes hands, within the config's
    /// connect timeout (IKC's `create_ikc_client`).
    ///
    /// # Errors
    ///
    /// [`LiteError::Connect`] when the server cannot be reached,
    /// [`LiteError::Handshake`] when it is not a roe IKC server or refuses
    /// (no common version, a key on one side only or not the same key),
    /// [`LiteError::Timeout`] when the handshake takes too long, and
    /// [`LiteError::Config`] for a name outside the wire's rules.
    pub fn connect(config: LiteConfig) -> Result<LiteClient, LiteError> {
        let kernel_id = identity::kernel_id();
        let conn = Connection::open(&config, &kernel_id)?;
        Ok(LiteClient {
            config,
            kernel_id,
            conn: Some(conn),
            inbox: Inbox::default(),
            next_id: 1,
            next_response: 0,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
        })
    }

    /// Posts to a state of a session of the server and returns once the
    /// request is written; nothing comes back. A refusal (the state is not
    /// published, there is no such session) comes later, as IKC's remote
    /// error: [`take_errors`](LiteClient::take_errors) hands it out.
    ///
    /// # Errors
    ///
    /// [`LiteError::BadSpecifier`] and [`LiteError::UnknownKernel`] for a
    /// target that is not a state of the server ([`Destination`]),
    /// [`LiteError::NotPortable`] and [`LiteError::Encode`] for arguments
    /// that cannot be sent, and the connection's errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use roe_engine::Value;
    /// # let mut client = roe_ikc::lite::LiteClient::connect(roe_ikc::lite::LiteConfig::new("127.0.0.1:6603"))?;
    /// client.post("log/line", &[Value::from("disk almost full"), Value::from(97)])?;
    /// # Ok::<(), roe_ikc::lite::LiteError>(())
    /// ```
    pub fn post<D: Destination + ?Sized>(
        &mut self,
        spec: &D,
        args: &[Value],
    ) -> Result<(), LiteError> {
        let spec = spec.specifier()?;
        self.ensure_connected()?;
        let to = self.target(&spec)?;
        let args = wire_args(args, &spec)?;
        self.send(&Frame::Post {
            to,
            args,
            from: Some(origin()),
        })
    }

    /// Calls a state of a session of the server and waits for its value.
    ///
    /// # Errors
    ///
    /// [`LiteError::Remote`] when the server answers without a value (no
    /// such session or handler, the handler died, the call was refused);
    /// [`LiteError::Timeout`] when no answer comes in time; the errors of
    /// [`post`](LiteClient::post) otherwise.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use roe_engine::Value;
    /// # let mut client = roe_ikc::lite::LiteClient::connect(roe_ikc::lite::LiteConfig::new("127.0.0.1:6603"))?;
    /// let sum = client.call("poe://Server/calc/add", &[Value::from(2), Value::from(3)])?;
    /// assert_eq!(sum.as_int(), Some(5));
    /// # Ok::<(), roe_ikc::lite::LiteError>(())
    /// ```
    pub fn call<D: Destination + ?Sized>(
        &mut self,
        spec: &D,
        args: &[Value],
    ) -> Result<Value, LiteError> {
        let spec = spec.specifier()?;
        self.ensure_connected()?;
        let to = self.target(&spec)?;
        let args = wire_args(args, &spec)?;
        let id = self.fresh_id();
        self.send(&Frame::Call {
            id,
            to,
            args,
            from: Some(origin()),
        })?;
        self.wait(Awaited::Reply(id), || format!("the reply to {spec}"))?
            .map_err(|failure| LiteError::Remote {
                target: spec.to_string(),
                failure,
            })
    }

    /// Posts `data` with an RSVP and waits for the server to post the
    /// answer back (IKC's `post_respond`): the event's one argument is the
    /// list `[data, rsvp]`, where `rsvp` is the specifier text
    /// `poe://<this client's kernel ID>/IKCLite/response<N>`, and the
    /// answer is the first argument of the server's post to that state.
    /// For servers whose handler answers later, through other states,
    /// rather than returning a value.
    ///
    /// # Errors
    ///
    /// [`LiteError::Timeout`] when no answer comes in time, and the errors
    /// of [`post`](LiteClient::post).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use roe_engine::Value;
    /// # let mut client = roe_ikc::lite::LiteClient::connect(roe_ikc::lite::LiteConfig::new("127.0.0.1:6603"))?;
    /// let answer = client.post_respond("jobs/run", &Value::from("nightly"))?;
    /// println!("{answer}");
    /// # Ok::<(), roe_ikc::lite::LiteError>(())
    /// ```
    pub fn post_respond<D: Destination + ?Sized>(
        &mut self,
        spec: &D,
        data: &Value,
    ) -> Result<Value, LiteError> {
        let spec = spec.specifier()?;
        self.ensure_connected()?;
        let to = self.target(&spec)?;
        let state = format!("response{}", self.next_response);
        self.next_response = self.next_response.wrapping_add(1);
        let rsvp = format!("poe://{}/{LITE_SESSION}/{state}", self.kernel_id);
        let request = WireValue::List(vec![
            WireValue::try_from(data).map_err(|_| LiteError::NotPortable)?,
            WireValue::Str(rsvp.into()),
        ]);
        let mut args = vec![request];
        args.extend(spec.arg.as_deref().map(|arg| WireValue::Str(arg.into())));
        self.send(&Frame::Post {
            to,
            args,
            from: Some(origin()),
        })?;
        self.wait(Awaited::Response(&state), || {
            format!("the response to {spec} ({state})")
        })?
        .map_err(|failure| LiteError::Remote {
            target: spec.to_string(),
            failure,
        })
    }

    /// Pings the server and waits for its pong: the round trip's time.
    ///
    /// A roe server answers a connection's frames in order, so the pong
    /// also says it has read every request sent before, and the errors it
    /// sent about earlier posts have arrived
    /// ([`take_errors`](LiteClient::take_errors)).
    ///
    /// # Errors
    ///
    /// [`LiteError::Timeout`] when no pong comes in time, and the
    /// connection's errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let mut client = roe_ikc::lite::LiteClient::connect(roe_ikc::lite::LiteConfig::new("127.0.0.1:6603"))?;
    /// println!("{} µs", client.ping()?.as_micros());
    /// # Ok::<(), roe_ikc::lite::LiteError>(())
    /// ```
    pub fn ping(&mut self) -> Result<Duration, LiteError> {
        self.ensure_connected()?;
        let id = self.fresh_id();
        let start = Instant::now();
        self.send(&Frame::Ping { id })?;
        // A pong carries nothing: that it came is the answer.
        let _pong: Answer = self.wait(Awaited::Pong(id), || "a pong".to_owned())?;
        Ok(start.elapsed())
    }

    /// The remote errors the server has sent, oldest first, each a
    /// [`LiteError::RemoteError`]: its refusals of posts (IKC's
    /// `$client->error` after a post, one at a time there). Reads what has
    /// arrived first, without waiting; [`ping`](LiteClient::ping) first to
    /// be sure the server has read the posts. At most
    /// [`MAX_KEPT_ERRORS`] are kept between calls; older ones are dropped
    /// and counted in [`dropped`](LiteClient::dropped).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let mut client = roe_ikc::lite::LiteClient::connect(roe_ikc::lite::LiteConfig::new("127.0.0.1:6603"))?;
    /// client.post("echo/unpublished", &[])?;
    /// client.ping()?;
    /// for error in client.take_errors() {
    ///     eprintln!("{error}"); // remote error (check): ...
    /// }
    /// # Ok::<(), roe_ikc::lite::LiteError>(())
    /// ```
    pub fn take_errors(&mut self) -> Vec<LiteError> {
        self.read_ready();
        self.inbox.errors.drain(..).collect()
    }

    /// How many frames from the server were dropped, unawaited: late
    /// replies and responses, posts to other states, pongs of other pings,
    /// and remote errors past [`MAX_KEPT_ERRORS`].
    pub fn dropped(&self) -> u64 {
        self.inbox.dropped
    }

    /// Connects if the client is not connected (after a failure, a
    /// timeout or [`disconnect`](LiteClient::disconnect)), after reading
    /// what arrived meanwhile; the server, as its handshake described it.
    /// Every request does this first (IKC's `connect`).
    ///
    /// # Errors
    ///
    /// The errors of [`connect`](LiteClient::connect).
    pub fn ensure_connected(&mut self) -> Result<&Peer, LiteError> {
        self.read_ready();
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                tracing::debug!(endpoint = %self.config.endpoint, "lite client reconnecting");
                Connection::open(&self.config, &self.kernel_id)?
            }
        };
        Ok(&self.conn.insert(conn).peer)
    }

    /// Says `Goodbye` and closes the connection; the next request connects
    /// again (IKC's `disconnect`).
    pub fn disconnect(&mut self) {
        self.close("the client disconnected");
    }

    /// Whether the client holds a connection (it may since have closed on
    /// the server's side; the next request finds out).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The server, as its handshake described it, while connected.
    pub fn server(&self) -> Option<&Peer> {
        self.conn.as_ref().map(|conn| &conn.peer)
    }

    /// This client's kernel ID, as the server knows it.
    pub fn kernel_id(&self) -> &str {
        &self.kernel_id
    }

    /// Changes how long calls, pings and responses are waited for, and a
    /// write may block, from now on (as [`LiteConfig::timeout`]): a
    /// request may deserve a wait of its own.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.config = self.config.clone().timeout(timeout);
        if let Some(conn) = &self.conn
            && conn.set_write_timeout(self.config.timeout).is_err()
        {
            // A socket that refuses a timeout is broken; the next request
            // connects again.
            self.conn = None;
        }
    }

    /// How the client connects and waits.
    pub fn config(&self) -> &LiteConfig {
        &self.config
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// The wire target `spec` names on the connected server.
    fn target(&self, spec: &Specifier) -> Result<Target<'static>, LiteError> {
        let bad = |problem| LiteError::BadSpecifier {
            spec: spec.to_string(),
            problem,
        };
        if let Kernel::Named(name) = &spec.kernel {
            let peer = self.server().ok_or(LiteError::Closed { reason: None })?;
            let endpoint = self.config.endpoint.to_string();
            if !(peer.names.contains(name) || peer.kernel_id == *name || endpoint == *name) {
                return Err(LiteError::UnknownKernel {
                    kernel: name.clone(),
                    server: peer.name().to_owned(),
                });
            }
        }
        let session = spec.session.as_deref().ok_or(bad(SpecProblem::NoSession))?;
        let state = spec.state.as_deref().ok_or(bad(SpecProblem::NoState))?;
        let session = match session.parse::<u64>() {
            Ok(number) if session.bytes().all(|b| b.is_ascii_digit()) => SessionRef::Number(number),
            _ => SessionRef::Alias(session.to_owned().into()),
        };
        Ok(Target {
            session,
            state: state.to_owned().into(),
        })
    }

    /// Writes a request, on a new connection if the one held fails.
    fn send(&mut self, frame: &Frame<'_>) -> Result<(), LiteError> {
        let mut bytes = Vec::new();
        frame
            .encode_with_limit(self.config.max_frame, &mut bytes)
            .map_err(LiteError::Encode)?;
        match self.write(&bytes) {
            Err(e) if !is_timeout(&e) => {
                // The server went away since the last read showed it (it
                // restarted): it never read the request, so send it again.
                tracing::debug!(error = %e, "lite client: write failed; reconnecting once");
                self.conn = None;
                self.ensure_connected()?;
                self.write(&bytes).map_err(|e| self.failed_write(e))
            }
            other => other.map_err(|e| self.failed_write(e)),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.conn {
            Some(conn) => conn.write_all(bytes),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Drops the connection a write failed on (a part of the request may
    /// be in it), and says why.
    fn failed_write(&mut self, error: io::Error) -> LiteError {
        self.conn = None;
        if is_timeout(&error) {
            LiteError::Timeout {
                waiting_for: "the server to read the request".into(),
                after: self.config.timeout,
            }
        } else {
            LiteError::Io(error)
        }
    }

    /// Reads until `awaited` arrives, or the timeout.
    fn wait(
        &mut self,
        awaited: Awaited<'_>,
        what: impl Fn() -> String,
    ) -> Result<Answer, LiteError> {
        let deadline = deadline_after(self.config.timeout);
        loop {
            let conn = self
                .conn
                .as_mut()
                .ok_or(LiteError::Closed { reason: None })?;
            let taken = self.inbox.take(conn, awaited);
            let flushed = conn.flush_out();
            match (taken, flushed) {
                (Err(e), _) => {
                    self.close(&e.to_string());
                    return Err(e);
                }
                (Ok(_), Err(e)) => {
                    self.conn = None;
                    return Err(LiteError::Io(e));
                }
                (Ok(Some(answer)), Ok(())) => return Ok(answer),
                (Ok(None), Ok(())) => {}
            }
            match conn.fill(deadline, &mut self.buf) {
                Ok(Fill::Data) => {}
                Ok(Fill::Eof) => {
                    self.conn = None;
                    return Err(LiteError::Closed { reason: None });
                }
                Ok(Fill::Nothing) => {
                    if self.config.reconnect_after_timeout {
                        self.close("timed out waiting for an answer");
                    }
                    return Err(LiteError::Timeout {
                        waiting_for: what(),
                        after: self.config.timeout,
                    });
                }
                Err(e) => {
                    self.conn = None;
                    return Err(LiteError::Io(e));
                }
            }
        }
    }

    /// Takes what the server sent between requests, without waiting:
    /// answers its pings, keeps its errors, and drops the connection if
    /// the server closed it or sent what it should not.
    fn read_ready(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut failed = None;
        for _ in 0..READY_READS {
            match conn.fill_ready(&mut self.buf) {
                Ok(Fill::Data) => {
                    if let Err(e) = self.inbox.take(conn, Awaited::Nothing) {
                        failed = Some(e.to_string());
                        break;
                    }
                }
                Ok(Fill::Nothing) => break,
                Ok(Fill::Eof) => {
                    failed = Some("the server closed the connection".to_owned());
                    break;
                }
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        if failed.is_none()
            && let Err(e) = conn.flush_out()
        {
            failed = Some(e.to_string());
        }
        if let Some(why) = failed {
            tracing::debug!(%why, "lite client: dropping the connection");
            self.close(&why);
        }
    }

    /// Says `Goodbye` if the socket takes it now, and drops the
    /// connection.
    fn close(&mut self, reason: &str) {
        if let Some(mut conn) = self.conn.take() {
            conn.say_goodbye(reason);
        }
    }
}

impl fmt::Debug for LiteClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiteClient")
            .field("config", &self.config)
            .field("kernel_id", &self.kernel_id)
            .field("server", &self.server().map(Peer::name))
            .field("errors", &self.inbox.errors.len())
            .field("dropped", &self.inbox.dropped)
            .finish_non_exhaustive()
    }
}

impl Drop for LiteClient {
    fn drop(&mut self) {
        self.close("the client is done");
    }
}

/// Where a lite client's requests come from.
fn origin() -> Origin<'static> {
    Origin {
        session: SessionRef::Alias(LITE_SESSION.into()),
        state: None,
    }
}

/// `args` as the wire carries them, then the specifier's `?arg`.
fn wire_args<'v>(args: &'v [Value], spec: &Specifier) -> Result<Vec<WireValue<'v>>, LiteError> {
    let mut wire = args
        .iter()
        .map(WireValue::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| LiteError::NotPortable)?;
    wire.extend(spec.arg.clone().map(|arg| WireValue::Str(arg.into())));
    Ok(wire)
}

/// Whether a socket error is its timeout running out (EAGAIN on Linux,
/// ETIMEDOUT elsewhere).
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
