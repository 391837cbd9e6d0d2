//! [`BlockingClient`]: the registry's client for code without a kernel:
//! each call connects, waits within the client's timeout, and returns.

mod conn;
mod events;

use std::thread;
use std::time::{Duration, Instant};

use self::conn::{Conn, Polled};
pub use self::events::EventStream;
use super::DEFAULT_MAX_ANSWER;
use super::error::ClientError;
use crate::addr::RegistryAddr;
use crate::error::Error;
use crate::line::{EventLine, NewLine, Port, READY, Refusal, Watch, parse_service};
use crate::owner::Token;
use crate::query::Query;
use crate::quote::quote;
use crate::revision::Revision;
use crate::service::{Service, check_name};

/// A blocking client of one registry: register (holding the connection),
/// find, watch, and remove (roe's extension), each bounded by the
/// client's timeout.
///
/// A registration is confirmed before [`register`](BlockingClient::register)
/// returns: the registry writes nothing when it takes one, so the client
/// asks the find port until the service shows, as sent, and meanwhile
/// listens for a refusal on its own connection.
///
/// # Examples
///
/// ```
/// use roe_registry::{BlockingClient, ChangeKind, Query, RegistryServer, Service, ServerConfig, WatchEvent};
///
/// let server = RegistryServer::new(ServerConfig::default().addr("127.0.0.1:0,0,0".parse()?)).start()?;
/// let client = BlockingClient::new(server.addr().clone());
/// let mut watch = client.watch(&Query::new([("auth", "none")]), None)?;
///
/// let mut printer = client.register(&Service::with_attrs("lp!office", [("auth", "none")])?)?;
/// assert_eq!(client.find(&Query::new([("auth", "none")]))?, [printer.service().clone()]);
/// printer.update([("note", "it's here")])?;
///
/// let mut told = Vec::new();
/// for event in &mut watch {
///     if let WatchEvent::Change(notice) = event? {
///         told.push(notice.kind);
///         if told.len() == 2 {
///             break;
///         }
///     }
/// }
/// assert_eq!(told, [ChangeKind::Add, ChangeKind::Update]);
/// printer.close()?;
/// assert!(client.find(&Query::all())?.is_empty());
/// server.stop()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct BlockingClient {
    addr: RegistryAddr,
    timeout: Duration,
    max_answer: usize,
}

/// A service held in the registry by a [`BlockingClient`]'s connection:
/// dropping it closes the connection, and the service goes (unless it
/// persists); [`close`](BlockingRegistration::close) does the same and
/// waits until it is done.
#[derive(Debug)]
pub struct BlockingRegistration {
    conn: Option<Conn>,
    service: Service,
    timeout: Duration,
}

impl BlockingClient {
    /// A client of the registry at `addr`: every call waits at most 10 s,
    /// and takes answers of at most
    /// [`DEFAULT_MAX_ANSWER`](crate::DEFAULT_MAX_ANSWER) bytes.
    pub fn new(addr: RegistryAddr) -> BlockingClient {
        BlockingClient {
            addr,
            timeout: Duration::from_secs(10),
            max_answer: DEFAULT_MAX_ANSWER,
        }
    }

    /// How long a call may wait: to connect, for an answer, for a
    /// registration to show (and each event a watch's iterator waits for).
    pub fn timeout(mut self, timeout: Duration) -> BlockingClient {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The most bytes a find's answer may hold.
    pub fn max_answer(mut self, bytes: usize) -> BlockingClient {
        self.max_answer = bytes.max(1);
        self
    }

    /// The registry's address.
    pub fn addr(&self) -> &RegistryAddr {
        &self.addr
    }

    /// Registers `service` and holds it for as long as the returned value
    /// lives.
    ///
    /// # Errors
    ///
    /// [`ClientError::Invalid`] for a service too large to register (see
    /// [`Service::check_size`]);
    /// [`ClientError::Refused`] with the registry's reason (a duplicate
    /// name, say); [`ClientError::Timeout`] when it does not show in time;
    /// the connection's errors.
    pub fn register(&self, service: &Service) -> Result<BlockingRegistration, ClientError> {
        self.register_as(service, None)
    }

    /// [`register`](BlockingClient::register) with roe's owner token:
    /// whoever holds it may remove the service, after this connection has
    /// gone too.
    ///
    /// # Errors
    ///
    /// As [`register`](BlockingClient::register).
    pub fn register_with_token(
        &self,
        service: &Service,
        token: &Token,
    ) -> Result<BlockingRegistration, ClientError> {
        self.register_as(service, Some(token))
    }

    fn register_as(
        &self,
        service: &Service,
        token: Option<&Token>,
    ) -> Result<BlockingRegistration, ClientError> {
        check_size(service)?;
        let deadline = Instant::now() + self.timeout;
        let mut conn = Conn::open(&self.addr, Port::New, self.timeout)?;
        if let Some(token) = token {
            conn.send(&format!("token {}", token.as_str()), self.timeout)?;
        }
        conn.send(&service.to_string(), self.timeout)?;
        let query = Query::new(service.attrs());
        let mut pause = Duration::from_millis(1);
        loop {
            check_quiet(&mut conn, "the registration to show")?;
            let found = self.find_by(&query, deadline)?;
            if found.iter().any(|s| same(s, service)) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout {
                    port: Port::New,
                    waited: self.timeout,
                });
            }
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        Ok(BlockingRegistration {
            conn: Some(conn),
            service: service.clone(),
            timeout: self.timeout,
        })
    }

    /// The services that match `query`, in the registry's order.
    ///
    /// # Errors
    ///
    /// [`ClientError::TooLarge`] for an answer past the client's bound,
    /// [`ClientError::BadAnswer`] for a line that is not a service,
    /// [`ClientError::Timeout`] when the answer does not end in time, and
    /// the connection's errors.
    pub fn find(&self, query: &Query) -> Result<Vec<Service>, ClientError> {
        self.find_by(query, Instant::now() + self.timeout)
    }

    fn find_by(&self, query: &Query, deadline: Instant) -> Result<Vec<Service>, ClientError> {
        let mut conn = Conn::open(&self.addr, Port::Find, self.timeout)?;
        conn.send(&query.to_string(), self.timeout)?;
        let mut services = Vec::new();
        let mut bytes = 0;
        while let Some(line) = conn.line(deadline, self.timeout)? {
            bytes += line.len() + 1;
            if bytes > self.max_answer {
                conn.abort();
                return Err(ClientError::TooLarge {
                    port: Port::Find,
                    max: self.max_answer,
                });
            }
            let service = parse_service(&line).map_err(|error| ClientError::BadAnswer {
                port: Port::Find,
                error,
            })?;
            services.push(service);
        }
        Ok(services)
    }

    /// Watches the services that match `query` in roe's detailed mode:
    /// from `since` a revision heard before (the changes after it), or,
    /// without, from the services that match now. The stream yields
    /// [`WatchEvent`](crate::WatchEvent)s.
    ///
    /// # Errors
    ///
    /// [`ClientError::Refused`] when the registry cannot resume from
    /// `since` (`revision too old`, `revision not reached`): watch again
    /// without it. [`ClientError::Timeout`] when it does not answer (a
    /// registry without roe's watch, say), and the connection's errors.
    pub fn watch(
        &self,
        query: &Query,
        since: Option<Revision>,
    ) -> Result<EventStream, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut conn = self.ready(deadline)?;
        let watch = Watch {
            query: query.clone(),
            since,
        };
        conn.send(&watch.to_string(), self.timeout)?;
        // The registry answers at once: an error, or its first line. Counter
        // lines written before it read the watch line come first.
        let first = loop {
            let line = conn
                .line(deadline, self.timeout)?
                .ok_or(ClientError::Closed {
                    port: Port::Event,
                    waiting_for: "the watch's first line",
                })?;
            match EventLine::parse(&line) {
                Ok(EventLine::Counter(_)) => continue,
                Ok(EventLine::Error(reason)) => {
                    return Err(ClientError::Refused {
                        port: Port::Event,
                        reason,
                    });
                }
                _ => break line,
            }
        };
        Ok(EventStream::new(
            conn,
            true,
            Some(first),
            since,
            self.timeout,
        ))
    }

    /// Watches the registry in registry(4)'s counter mode: the stream
    /// yields [`WatchEvent::Changed`](crate::WatchEvent::Changed) after
    /// changes.
    ///
    /// # Errors
    ///
    /// As [`watch`](BlockingClient::watch).
    pub fn counter(&self) -> Result<EventStream, ClientError> {
        let conn = self.ready(Instant::now() + self.timeout)?;
        Ok(EventStream::new(conn, false, None, None, self.timeout))
    }

    /// A connection to the event port, its `READY` read.
    fn ready(&self, deadline: Instant) -> Result<Conn, ClientError> {
        let mut conn = Conn::open(&self.addr, Port::Event, self.timeout)?;
        let line = conn
            .line(deadline, self.timeout)?
            .ok_or(ClientError::Closed {
                port: Port::Event,
                waiting_for: READY,
            })?;
        if line != READY.as_bytes() {
            let text = String::from_utf8_lossy(&line);
            return Err(ClientError::BadAnswer {
                port: Port::Event,
                error: Error::unexpected(READY, &text),
            });
        }
        Ok(conn)
    }

    /// Removes the service `name` (roe's extension): with `token`, a
    /// service registered with that token, wherever its connection is;
    /// without, a service that has outlived its connection and has no
    /// token.
    ///
    /// # Errors
    ///
    /// [`ClientError::Refused`] with `no such service` or `permission
    /// denied`; [`ClientError::Invalid`] for a name no service can have;
    /// the connection's errors.
    pub fn remove(&self, name: &str, token: Option<&Token>) -> Result<(), ClientError> {
        check_name(name).map_err(ClientError::Invalid)?;
        let deadline = Instant::now() + self.timeout;
        let mut conn = Conn::open(&self.addr, Port::New, self.timeout)?;
        if let Some(token) = token {
            conn.send(&format!("token {}", token.as_str()), self.timeout)?;
        }
        conn.send(&format!("remove {}", quote(name)), self.timeout)?;
        let line = conn
            .line(deadline, self.timeout)?
            .ok_or(ClientError::Closed {
                port: Port::New,
                waiting_for: "the answer to remove",
            })?;
        if line == b"ok" {
            return Ok(());
        }
        Err(refusal(Port::New, &line))
    }
}

impl BlockingRegistration {
    /// The service's name.
    pub fn name(&self) -> &str {
        self.service.name()
    }

    /// The service, as last sent.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Sets attributes of the service, in order. The registry says
    /// nothing when it takes an update; a refusal that has come by then is
    /// reported here (or by [`check`](BlockingRegistration::check)).
    ///
    /// # Errors
    ///
    /// [`ClientError::Invalid`] when the service would be too large (it is
    /// left as it was); [`ClientError::Refused`] or
    /// [`ClientError::Closed`] when the registry has dropped the
    /// registration; the connection's errors.
    pub fn update<A, V>(
        &mut self,
        attrs: impl IntoIterator<Item = (A, V)>,
    ) -> Result<(), ClientError>
    where
        A: Into<String>,
        V: Into<String>,
    {
        let pairs: Vec<(String, String)> = attrs
            .into_iter()
            .map(|(a, v)| (a.into(), v.into()))
            .collect();
        let mut service = self.service.clone();
        service.set_all(pairs.iter().cloned());
        check_size(&service)?;
        self.check()?;
        if !pairs.is_empty() {
            let conn = self.conn.as_mut().ok_or(ClientError::Closed {
                port: Port::New,
                waiting_for: "an update",
            })?;
            conn.send(&NewLine::Update(pairs).to_string(), self.timeout)?;
        }
        self.service = service;
        Ok(())
    }

    /// Whether the registration still holds: `Ok` unless the registry has
    /// refused a line or closed the connection.
    ///
    /// # Errors
    ///
    /// [`ClientError::Refused`], [`ClientError::Closed`], or the
    /// connection's errors.
    pub fn check(&mut self) -> Result<(), ClientError> {
        match self.conn.as_mut() {
            Some(conn) => check_quiet(conn, "nothing"),
            None => Err(ClientError::Closed {
                port: Port::New,
                waiting_for: "nothing",
            }),
        }
    }

    /// Closes the connection and waits until the registry has closed its
    /// side: the service is then gone (unless it persists).
    ///
    /// # Errors
    ///
    /// [`ClientError::Refused`] when the registry had refused a line;
    /// [`ClientError::Timeout`] when it does not close in time.
    pub fn close(mut self) -> Result<(), ClientError> {
        let Some(conn) = self.conn.take() else {
            return Ok(());
        };
        let port = conn.port();
        let lines = conn.finish(Instant::now() + self.timeout, self.timeout)?;
        match lines.first() {
            None => Ok(()),
            Some(line) => Err(refusal(port, line)),
        }
    }
}

impl Drop for BlockingRegistration {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.abort();
        }
    }
}

/// The registry must have said nothing on a new-port connection: a line
/// is a refusal, the end of the stream a dropped registration.
fn check_quiet(conn: &mut Conn, waiting_for: &'static str) -> Result<(), ClientError> {
    let port = conn.port();
    match conn.poll()? {
        Polled::Nothing => Ok(()),
        Polled::Line(line) => Err(refusal(port, &line)),
        Polled::Eof => Err(ClientError::Closed { port, waiting_for }),
    }
}

/// A line from the new port other than `ok`: the registry's refusal, or a
/// line it should not have sent.
fn refusal(port: Port, line: &[u8]) -> ClientError {
    match Refusal::parse(line) {
        Ok(refusal) => ClientError::Refused {
            port,
            reason: refusal.reason,
        },
        Err(error) => ClientError::BadAnswer { port, error },
    }
}

/// A service the registry would refuse for its size is not sent.
fn check_size(service: &Service) -> Result<(), ClientError> {
    service.check_size().map_err(ClientError::Invalid)
}

/// The same service, whatever the order of its attributes (registry(4)
/// puts new ones first).
fn same(a: &Service, b: &Service) -> bool {
    a.name() == b.name()
        && a.attrs().len() == b.attrs().len()
        && a.attrs().all(|(attr, value)| b.get(attr) == Some(value))
}
