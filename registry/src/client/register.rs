//! [`Register`] and [`Registration`]: a service held in the registry by a
//! session, registered again by itself whenever its connection is lost.
//!
//! The session connects to the new port and sends the service's line
//! (after a `token` line when it has an owner token); it sends an update
//! line for each [`update`](Registration::update); closing it closes the
//! connection, which unregisters the service (unless it persists). The
//! registry writes nothing on this port unless it refuses a line, so the
//! session reads only to hear of a refusal or of the connection's end.
//!
//! When the connection is lost or cannot be made, the session waits (the
//! client's [`Backoff`](roe_engine::Backoff), jittered and growing) and
//! registers again with the attributes the service has by then. A refusal
//! that another attempt cannot change (a bad name, a service too large)
//! ends the registration; a name already taken is tried again, since the
//! service holding it may be this one's, left by a connection the registry
//! has not yet seen go, or restored from its state file after a restart.
//! When the session can prove the service is its own (it has the owner
//! token, or the service persists and so may have outlived its
//! connection), its next attempt first removes the service by name, with
//! roe's `remove` line, then registers it.

use std::time::{Duration, Instant};

use roe_engine::{
    Args, Context, Event, ReadWrite, Result, Retries, Session, SessionId, SocketFactory, Spawner,
    Value,
};

use super::RegistryClient;
use super::lines::{
    self, CONNECT_FAILED, CONNECTED, INPUT, IO_ERROR, LineFilter, connect_failure, failure,
};
use crate::error::Error;
use crate::line::{NewLine, Port, Refusal};
use crate::owner::Token;
use crate::quote::quote;
use crate::service::Service;

/// The session's event: the backoff's wait is over.
const RETRY: &str = "roe-registry:register-retry";

/// A connection that lasted this long was a success: the next failure
/// starts the backoff afresh.
const STABLE: Duration = Duration::from_secs(1);

/// The reasons another attempt with the same service cannot change.
const FINAL: [&str; 9] = [
    "bad syntax",
    "bad character in service name",
    "bad service name",
    "odd attribute/value pairs",
    "service too large",
    "too many attributes",
    "line too long",
    "not UTF-8",
    "bad token",
];

/// A registration ready to start: the service, and what the session does
/// besides holding it. Made by [`RegistryClient::register`].
///
/// # Examples
///
/// ```no_run
/// use roe_engine::{Kernel, Session};
/// use roe_registry::{RegistryClient, Service, Token};
///
/// let client = RegistryClient::new("127.0.0.1".parse()?);
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on_start(move |cx, _| {
///     let me = cx.session();
///     let registration = client
///         .register(Service::with_attrs("tcp!db!5432", [("proto", "pg"), ("persist", "1")])?)
///         .token(Token::new("s3cret")?)
///         .notify(me, "registry")
///         .spawn(cx)?;
///     registration.update(cx, [("load", "0.5")])
/// }).on("registry", |_, args| println!("{} {}: {}", args[0], args[1], args[2])))?;
/// kernel.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Register {
    client: RegistryClient,
    service: Service,
    token: Option<Token>,
    notify: Option<(SessionId, Event)>,
}

/// A running registration: the session that holds a service in the
/// registry. Post it [`UPDATE`](Registration::UPDATE) or
/// [`CLOSE`](Registration::CLOSE), or use the methods that do.
///
/// The session ends once closed, or when the registry refuses the service
/// for good (see [`Register::notify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    session: SessionId,
    name: String,
}

impl Register {
    pub(super) fn new(client: RegistryClient, service: Service) -> Register {
        Register {
            client,
            service,
            token: None,
            notify: None,
        }
    }

    /// Registers the service with roe's owner token, so that this
    /// registration (or anyone holding the token) may remove the service
    /// even after its connection has gone.
    pub fn token(mut self, token: Token) -> Register {
        self.token = Some(token);
        self
    }

    /// Tells `session` how the registration goes, posting `event` with
    /// `(what, name, detail, ...)`:
    ///
    /// | `ARG0` | when | `ARG2` and after |
    /// |---|---|---|
    /// | `registered` | the service's line went out on a new connection (the registry writes nothing when it takes it) | the number of the connection, from 1 |
    /// | `refused` | the registry refused it | its reason, then whether the session tries again |
    /// | `lost` | a connection failed or ended | why |
    /// | `invalid` | an update was not sent | why |
    /// | `closed` | the registration ended | why |
    pub fn notify(mut self, session: SessionId, event: impl Into<Event>) -> Register {
        self.notify = Some((session, event.into()));
        self
    }

    /// Starts the registration's session (a child of the handler's session,
    /// or of the kernel).
    ///
    /// # Errors
    ///
    /// As [`Kernel::spawn`](roe_engine::Kernel::spawn).
    pub fn spawn(self, spawner: &mut impl Spawner) -> Result<Registration> {
        let name = self.service.name().to_owned();
        let retries = Retries::new(self.client.backoff, seed(&name));
        let session = spawner.spawn_session(session(Registrar {
            client: self.client,
            service: self.service,
            token: self.token,
            notify: self.notify,
            connector: None,
            wheel: None,
            retries,
            connected_at: None,
            connections: 0,
            remove_first: false,
            closed: false,
        }))?;
        Ok(Registration { session, name })
    }
}

impl Registration {
    /// The event that sets attributes: its arguments are attribute/value
    /// pairs, flat (`"load", "0.5", "jobs", "3"`).
    pub const UPDATE: &'static str = "update";
    /// The event that closes the registration (the service goes, unless
    /// it persists).
    pub const CLOSE: &'static str = "close";

    /// The registration's session.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets attributes of the service, in order: sent now if connected,
    /// and registered with the service on every later connection.
    ///
    /// # Errors
    ///
    /// As [`Context::post`]: the registration has ended.
    pub fn update<H: 'static, A, V>(
        &self,
        cx: &mut Context<'_, H>,
        attrs: impl IntoIterator<Item = (A, V)>,
    ) -> Result<()>
    where
        A: Into<String>,
        V: Into<String>,
    {
        let args: Vec<Value> = attrs
            .into_iter()
            .flat_map(|(a, v)| [Value::from(a.into()), Value::from(v.into())])
            .collect();
        cx.post(self.session, Registration::UPDATE, args)
    }

    /// Closes the registration: its connection closes, and the service
    /// goes unless it persists.
    ///
    /// # Errors
    ///
    /// As [`Context::post`]: the registration has ended.
    pub fn close<H: 'static>(&self, cx: &mut Context<'_, H>) -> Result<()> {
        cx.post(self.session, Registration::CLOSE, ())
    }
}

/// The registration session's heap.
struct Registrar {
    client: RegistryClient,
    service: Service,
    token: Option<Token>,
    notify: Option<(SessionId, Event)>,
    connector: Option<SocketFactory>,
    wheel: Option<ReadWrite<LineFilter>>,
    retries: Retries,
    connected_at: Option<Instant>,
    /// Connections made.
    connections: u64,
    /// The next attempt removes the service by name before registering it.
    remove_first: bool,
    closed: bool,
}

/// A seed for the backoff's jitter, different for each service.
fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn session(registrar: Registrar) -> Session<Registrar> {
    Session::new(registrar)
        .on("_start", |cx, _| connect(cx))
        .on(RETRY, |cx, _| connect(cx))
        .on(CONNECTED, |cx, mut args| {
            cx.heap.connector = None;
            let client = cx.heap.client.clone();
            match lines::open(cx, &mut args, &client, true) {
                Ok(wheel) => registered(cx, wheel),
                Err(error) => lost(cx, &format!("the connection could not start: {error}")),
            }
        })
        .on(CONNECT_FAILED, |cx, args| {
            cx.heap.connector = None;
            let error = connect_failure(&cx.heap.client, Port::New, &args);
            lost(cx, &error.to_string())
        })
        .on(INPUT, |cx, mut args| {
            let line = lines::line_of(&mut args);
            heard(cx, &line)
        })
        .on(IO_ERROR, |cx, args| {
            let why = match failure(Port::New, &args) {
                Some(error) => error.to_string(),
                None => "the registry closed the connection".to_owned(),
            };
            lost(cx, &why)
        })
        .on(Registration::UPDATE, update)
        .on(Registration::CLOSE, |cx, _| close(cx, "closed"))
        .on("shutdown", |cx, _| close(cx, "closed"))
}

fn connect(cx: &mut Context<'_, Registrar>) -> Result<()> {
    if cx.heap.closed || cx.heap.connector.is_some() || cx.heap.wheel.is_some() {
        return Ok(());
    }
    let client = cx.heap.client.clone();
    let connector = lines::dial(cx, &client, Port::New)?;
    cx.heap.connector = Some(connector);
    Ok(())
}

/// Connected: the lines that register the service go out.
fn registered(cx: &mut Context<'_, Registrar>, wheel: ReadWrite<LineFilter>) -> Result<()> {
    let heap = &mut *cx.heap;
    if let Some(token) = &heap.token {
        lines::send(&wheel, format!("token {}", token.as_str()));
    }
    if std::mem::take(&mut heap.remove_first) {
        lines::send(&wheel, format!("remove {}", quote(heap.service.name())));
    }
    lines::send(&wheel, heap.service.to_string());
    heap.wheel = Some(wheel);
    heap.connected_at = Some(Instant::now());
    heap.connections += 1;
    let n = heap.connections;
    tracing::debug!(service = %heap.service.name(), connection = n, "registry client: registering");
    tell(cx, "registered", Value::from(n));
    Ok(())
}

/// Posts `(what, name, rest...)` to the session told of the registration.
fn tell(cx: &mut Context<'_, Registrar>, what: &str, detail: Value) {
    tell_more(cx, what, vec![detail]);
}

fn tell_more(cx: &mut Context<'_, Registrar>, what: &str, rest: Vec<Value>) {
    if let Some((session, event)) = cx.heap.notify {
        let mut args = vec![Value::from(what), Value::from(cx.heap.service.name())];
        args.extend(rest);
        let _ = cx.post(session, event, args);
    }
}

/// A line from the registry: `ok` for a `remove`, or a refusal.
fn heard(cx: &mut Context<'_, Registrar>, line: &[u8]) -> Result<()> {
    if line == b"ok" {
        return Ok(());
    }
    let reason = match Refusal::parse(line) {
        Ok(refusal) => refusal.reason,
        Err(error) => {
            return lost(
                cx,
                &format!("the registry sent what its new port does not carry: {error}"),
            );
        }
    };
    cx.heap.wheel = None;
    let name = cx.heap.service.name().to_owned();
    if FINAL.contains(&reason.as_str()) {
        tracing::warn!(service = %name, "registry client: refused for good: {reason}");
        tell_more(
            cx,
            "refused",
            vec![Value::from(reason.as_str()), Value::Bool(false)],
        );
        return close(cx, &format!("refused: {reason}"));
    }
    match reason.as_str() {
        "duplicate service name" => {
            // Ours if we hold its token, or it persists and may have
            // outlived a connection of ours; the registry decides.
            cx.heap.remove_first = cx.heap.token.is_some() || cx.heap.service.is_persistent();
        }
        "permission denied" | "no such service" => cx.heap.remove_first = false,
        _ => {}
    }
    tracing::info!(service = %name, "registry client: refused: {reason}; trying again");
    tell_more(
        cx,
        "refused",
        vec![Value::from(reason.as_str()), Value::Bool(true)],
    );
    again(cx)
}

/// The connection failed or ended: try again after the backoff's wait.
fn lost(cx: &mut Context<'_, Registrar>, why: &str) -> Result<()> {
    cx.heap.wheel = None;
    cx.heap.connector = None;
    if cx.heap.closed {
        return Ok(());
    }
    tracing::debug!(service = %cx.heap.service.name(), "registry client: {why}; registering again");
    tell(cx, "lost", Value::from(why));
    again(cx)
}

fn again(cx: &mut Context<'_, Registrar>) -> Result<()> {
    let heap = &mut *cx.heap;
    if heap
        .connected_at
        .take()
        .is_some_and(|at| at.elapsed() >= STABLE)
    {
        heap.retries.succeeded();
    }
    heap.retries.failed();
    let wait = heap.retries.next_wait();
    cx.delay(RETRY, wait, ())
}

/// Sets attributes: the flat pairs in `args`.
fn update(cx: &mut Context<'_, Registrar>, args: Args) -> Result<()> {
    if cx.heap.closed {
        return Ok(());
    }
    let words: Option<Vec<String>> = args.iter().map(|v| v.as_str().map(str::to_owned)).collect();
    let pairs = match words {
        Some(words) if words.len() % 2 == 0 => {
            let mut words = words.into_iter();
            let mut pairs = Vec::new();
            while let (Some(attr), Some(value)) = (words.next(), words.next()) {
                pairs.push((attr, value));
            }
            pairs
        }
        Some(words) => return invalid(cx, &Error::OddPairs(words.len()).to_string()),
        None => return invalid(cx, "attributes and values must be text"),
    };
    let mut service = cx.heap.service.clone();
    service.set_all(pairs.iter().cloned());
    if let Err(error) = service.check_size() {
        return invalid(cx, &error.to_string());
    }
    cx.heap.service = service;
    if let Some(wheel) = &cx.heap.wheel
        && !pairs.is_empty()
    {
        lines::send(wheel, NewLine::Update(pairs).to_string());
    }
    Ok(())
}

fn invalid(cx: &mut Context<'_, Registrar>, why: &str) -> Result<()> {
    tracing::warn!(service = %cx.heap.service.name(), "registry client: update not sent: {why}");
    tell(cx, "invalid", Value::from(why));
    Ok(())
}

/// Ends the registration: the connection closes (the service goes unless
/// it persists), no attempt follows, and the session ends.
fn close(cx: &mut Context<'_, Registrar>, why: &str) -> Result<()> {
    if std::mem::replace(&mut cx.heap.closed, true) {
        return Ok(());
    }
    cx.heap.wheel = None;
    cx.heap.connector = None;
    cx.alarm_clear(RETRY)?;
    tell(cx, "closed", Value::from(why));
    Ok(())
}
