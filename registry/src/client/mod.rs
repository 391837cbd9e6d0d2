//! The registry's clients: on a roe kernel ([`RegistryClient`], in the
//! manner of Inferno::RegMgr::TCP), and blocking, for code without a
//! kernel ([`BlockingClient`]).
//!
//! Both speak the three ports as docs/registry.md describes them, and
//! both bound what they take from a registry: lines of at most
//! [`MAX_LINE`](crate::MAX_LINE) bytes, answers of at most
//! [`max_answer`](RegistryClient::max_answer) bytes, and a time limit on
//! every wait. What a registry sends that is none of its port's lines ends
//! the connection with a [`ClientError`], never a panic.
//!
//! The kernel-side client's parts are sessions (POE's components), each
//! doing one of Inferno::RegMgr::TCP's tasks:
//!
//! - [`Register`] → [`Registration`]: `open_new`, `update` and close. The
//!   registration connects again (jittered exponential backoff) whenever
//!   its connection is lost and registers again with its current
//!   attributes, so it comes back by itself after the registry restarts.
//! - [`RegistryClient::find`]: `open_find`, one connection per query, the
//!   answer posted as a [`Found`].
//! - [`RegistryClient::watch`] and [`RegistryClient::counter`] →
//!   [`Subscription`]: `open_event`, registry(4)'s counter lines or roe's
//!   detailed watch, posted as [`WatchEvent`]s, resumed after a lost
//!   connection from the last revision heard.

mod blocking;
mod error;
mod event;
mod find;
mod lines;
mod register;
mod watch;

use std::time::Duration;

use roe_engine::{Backoff, Event, SessionId, Spawner};

pub use self::blocking::{BlockingClient, BlockingRegistration, EventStream};
pub use self::error::ClientError;
pub use self::event::{Found, WatchEvent};
pub use self::register::{Register, Registration};
pub use self::watch::Subscription;
use crate::addr::RegistryAddr;
use crate::query::Query;
use crate::service::Service;

/// The most a client takes in one answer by default: a find's services,
/// or a watch's first listing (16 MiB).
pub const DEFAULT_MAX_ANSWER: usize = 16 * 1024 * 1024;

/// A client of one registry for code on a roe kernel: it starts the
/// sessions that register, find and watch (POE components, like
/// Inferno::RegMgr::TCP's tasks), each on the kernel or handler that
/// spawns it.
///
/// Cloning is cheap; the settings are copied into each session.
///
/// # Examples
///
/// A registration and a find on one kernel, with a registry on a thread of
/// its own:
///
/// ```
/// use roe_engine::{Kernel, Session};
/// use roe_registry::{Found, Query, RegistryClient, RegistryServer, Service, ServerConfig};
///
/// let server = RegistryServer::new(ServerConfig::default().addr("127.0.0.1:0,0,0".parse()?)).start()?;
/// let client = RegistryClient::new(server.addr().clone());
/// let mut kernel = Kernel::new()?;
/// let registration = client
///     .register(Service::with_attrs("lp!office", [("auth", "none")])?)
///     .spawn(&mut kernel)?;
/// kernel.spawn(
///     Session::new((client, registration))
///         .on_start(|cx, _| cx.yield_("ask", ()))
///         .on("ask", |cx, _| {
///             let me = cx.session();
///             let client = cx.heap.0.clone();
///             client.find(cx, Query::new([("auth", "none")]), me, "found").map(drop)
///         })
///         .on("found", |cx, mut args| {
///             let found = Found::from_args(&mut args).expect("a find's answer");
///             match found.services {
///                 // The registration is sent: once the registry has read
///                 // it, the find shows it.
///                 Ok(services) if services.is_empty() => cx.delay("ask", std::time::Duration::from_millis(5), ()),
///                 Ok(services) => {
///                     assert_eq!(services[0].to_string(), "lp!office auth none");
///                     let registration = cx.heap.1.clone();
///                     registration.close(cx)
///                 }
///                 Err(error) => panic!("{error}"),
///             }
///         }),
/// )?;
/// kernel.run()?;
/// server.stop()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct RegistryClient {
    pub(crate) addr: RegistryAddr,
    pub(crate) backoff: Backoff,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_answer: usize,
}

impl RegistryClient {
    /// A client of the registry at `addr`, with the defaults documented on
    /// each setter. An IP address is used as it is; a host name is
    /// resolved at each connection, which blocks the kernel's thread while
    /// the system's resolver works (as [`SocketFactory`] says).
    ///
    /// [`SocketFactory`]: roe_engine::SocketFactory
    pub fn new(addr: RegistryAddr) -> RegistryClient {
        RegistryClient {
            addr,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            max_answer: DEFAULT_MAX_ANSWER,
        }
    }

    /// The registry's address.
    pub fn addr(&self) -> &RegistryAddr {
        &self.addr
    }

    /// How long registrations and subscriptions wait before they connect
    /// again (by default from 100 ms, doubling, up to 30 s, each wait
    /// drawn from the upper half of its range).
    pub fn backoff(mut self, backoff: Backoff) -> RegistryClient {
        self.backoff = backoff;
        self
    }

    /// How long a connection attempt may take (10 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> RegistryClient {
        self.connect_timeout = timeout;
        self
    }

    /// How long the registry has to answer once connected: a find's
    /// whole answer, the event port's `READY`, a detailed watch's listing
    /// up to its `sync` (each line within this of the last), and output it
    /// does not take (10 s by default).
    pub fn timeout(mut self, timeout: Duration) -> RegistryClient {
        self.timeout = timeout;
        self
    }

    /// The most bytes taken in one answer: a find's, or a detailed watch's
    /// listing of the services that match ([`DEFAULT_MAX_ANSWER`] by
    /// default); past it the answer is an error.
    pub fn max_answer(mut self, bytes: usize) -> RegistryClient {
        self.max_answer = bytes.max(1);
        self
    }

    /// A registration of `service`, ready to start (registry(4)'s `new`,
    /// Inferno::RegMgr::TCP's `open_new`).
    pub fn register(&self, service: Service) -> Register {
        Register::new(self.clone(), service)
    }

    /// Asks the registry, on a connection of its own, for the services
    /// that match `query` (its `find`); the answer, or why there is none,
    /// is posted to `reply` as `event` with a [`Found`] in `ARG0`.
    /// Returns the find's session, which ends once it has posted.
    ///
    /// # Errors
    ///
    /// As [`Kernel::spawn`](roe_engine::Kernel::spawn). A registry that
    /// cannot be reached, or answers badly or late, is a [`Found`] with an
    /// error, not an error here.
    pub fn find(
        &self,
        spawner: &mut impl Spawner,
        query: Query,
        reply: SessionId,
        event: impl Into<Event>,
    ) -> roe_engine::Result<SessionId> {
        spawner.spawn_session(find::session(self.clone(), query, reply, event.into()))
    }

    /// Watches the services that match `query`, in roe's detailed mode:
    /// posts `event` to `reply` with a [`WatchEvent`] in `ARG0` for each
    /// service that starts to match, changes or stops matching, starting
    /// with those that match now. See [`Subscription`].
    ///
    /// # Errors
    ///
    /// As [`Kernel::spawn`](roe_engine::Kernel::spawn).
    pub fn watch(
        &self,
        spawner: &mut impl Spawner,
        query: Query,
        reply: SessionId,
        event: impl Into<Event>,
    ) -> roe_engine::Result<Subscription> {
        watch::spawn(self.clone(), Some(query), reply, event.into(), spawner)
    }

    /// Watches the registry in registry(4)'s counter mode (what
    /// Inferno::RegMgr::TCP's `open_event` hears): posts `event` to
    /// `reply` with a [`WatchEvent`] in `ARG0`, [`Connected`] on each
    /// connection and [`Changed`] after changes. See [`Subscription`].
    ///
    /// [`Connected`]: WatchEvent::Connected
    /// [`Changed`]: WatchEvent::Changed
    ///
    /// # Errors
    ///
    /// As [`Kernel::spawn`](roe_engine::Kernel::spawn).
    pub fn counter(
        &self,
        spawner: &mut impl Spawner,
        reply: SessionId,
        event: impl Into<Event>,
    ) -> roe_engine::Result<Subscription> {
        watch::spawn(self.clone(), None, reply, event.into(), spawner)
    }
}
