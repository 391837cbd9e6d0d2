//! The registry server: the three TCP ports of registry(4)'s bridge, as
//! one session on a roe kernel.
//!
//! [`RegistryServer`] binds the three ports before anything runs (so the
//! caller learns the ports, or why not, at once), reads the state file if
//! it has one, and spawns the server's session. The session accepts on
//! the three ports and gives each connection an I/O source of its own
//! (`conn.rs`): lines in through the pure layer's [`LineReader`], lines out
//! through a bounded [`Outbox`](roe_engine::stream::Outbox). The store
//! and what keeps in step with it (a line cache, the watchers, the state
//! file) live in one `Core` the connections share; a change made on one
//! connection wakes the event port's connections, which catch up at the
//! kernel's next slice.
//!
//! docs/registry.md, "The server", describes what clients see: the ports,
//! the limits, how long each connection lives, roe's additions, the state
//! file.
//!
//! [`LineReader`]: crate::LineReader

mod config;
mod conn;
mod core;
mod error;
mod feed;
mod registration;
mod replies;
mod state;
mod thread;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use roe_engine::{Args, Context, Keepalive, Kernel, ListenAccept, Session, SessionId};

use self::config::Limits;
pub use self::config::ServerConfig;
use self::conn::{CLOSED, Conn, SAVE_SOON};
use self::core::{Core, Shared};
pub use self::error::ServerError;
use self::replies::Replies;
use self::state::Persistence;
pub use self::thread::ServerThread;
use crate::addr::RegistryAddr;
use crate::etcd::EtcdConfig;
use crate::etcd::backend::Backend;
use crate::line::Port;
use crate::store::Store;

/// The event that stops a server: post it to [`RegistryListener::session`].
pub const SHUTDOWN: &str = "shutdown";

const ACCEPTED: [&str; 3] = [
    "roe-registry:accepted-new",
    "roe-registry:accepted-find",
    "roe-registry:accepted-event",
];
const ACCEPT_FAILED: &str = "roe-registry:accept-failed";
const SAVE: &str = "roe-registry:save";

/// How long a failed save waits before it is tried again.
const SAVE_RETRY: Duration = Duration::from_secs(1);

/// A registry server, ready to start: registry(4)'s three TCP ports
/// (new, find, event) served by one session on a roe kernel.
///
/// [`spawn`](RegistryServer::spawn) starts it on a kernel the caller
/// runs, [`spawn_in`](RegistryServer::spawn_in) from a handler, and
/// [`start`](RegistryServer::start) on a thread of its own. Each binds the
/// three ports and reads the state file before it returns, so a port in
/// use or a corrupt state file is an error at once, and the ports bound
/// (port 0 is any free port) are known before the kernel runs.
///
/// The server runs until it is sent [`SHUTDOWN`] (or its kernel stops):
/// it then stops listening, closes every connection, writes the state
/// file if a change waits, and its session ends.
///
/// # Examples
///
/// A server on any free ports, a registration, a query, and the server
/// stopped:
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
/// use roe_registry::{Port, RegistryServer, ServerConfig};
///
/// let config = ServerConfig::default().addr("127.0.0.1:0,0,0".parse()?);
/// let server = RegistryServer::new(config).start()?;
/// let addr = server.addr();
///
/// let mut printer = TcpStream::connect(addr.connect_to(Port::New))?;
/// printer.write_all(b"lp!office auth none 'note' 'it''s here'\n")?;
///
/// // The registration is seen once the server has read it.
/// let found = loop {
///     let mut find = TcpStream::connect(addr.connect_to(Port::Find))?;
///     find.write_all(b"auth none\n")?;
///     let mut answer = String::new();
///     find.read_to_string(&mut answer)?;
///     if !answer.is_empty() {
///         break answer;
///     }
/// };
/// assert_eq!(found, "lp!office auth none note 'it''s here'\n");
/// server.stop()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RegistryServer {
    config: ServerConfig,
}

/// A started [`RegistryServer`]: its session and the address it listens
/// on, with the ports it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryListener {
    session: SessionId,
    addr: RegistryAddr,
}

impl RegistryListener {
    /// The server's session: post it [`SHUTDOWN`] to stop the server.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// Where it listens: the IP address and the three ports it got. Its
    /// `Display` is `<ip>:<new>,<find>,<event>`.
    pub fn addr(&self) -> &RegistryAddr {
        &self.addr
    }
}

impl RegistryServer {
    /// A server with `config`.
    pub fn new(config: ServerConfig) -> RegistryServer {
        RegistryServer { config }
    }

    /// Reads the state file, binds the three ports and starts the server's
    /// session on `kernel`.
    ///
    /// # Errors
    ///
    /// [`ServerError::State`] for a state file that cannot be read or
    /// written, [`ServerError::Bind`] for a port that cannot be listened
    /// on, [`ServerError::Engine`] when the kernel refuses the session.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Kernel;
    /// use roe_registry::{RegistryServer, SHUTDOWN, ServerConfig};
    ///
    /// let mut kernel = Kernel::new()?;
    /// let config = ServerConfig::default().addr("127.0.0.1:0,0,0".parse()?);
    /// let listener = RegistryServer::new(config).spawn(&mut kernel)?;
    /// println!("registry {}", listener.addr()); // the ports are bound already
    /// kernel.post(listener.session(), SHUTDOWN, ())?; // stops it
    /// kernel.run()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(self, kernel: &mut Kernel) -> Result<RegistryListener, ServerError> {
        let (session, addr) = self.prepare()?;
        let session = kernel.spawn(session)?;
        Ok(RegistryListener { session, addr })
    }

    /// [`spawn`](RegistryServer::spawn), from inside a handler: the
    /// server's session is a child of the running one.
    ///
    /// # Errors
    ///
    /// As [`spawn`](RegistryServer::spawn).
    pub fn spawn_in<H: 'static>(
        self,
        cx: &mut Context<'_, H>,
    ) -> Result<RegistryListener, ServerError> {
        let (session, addr) = self.prepare()?;
        let session = cx.spawn(session)?;
        Ok(RegistryListener { session, addr })
    }

    /// The store and the bound ports, in the session that will serve them.
    fn prepare(self) -> Result<(Session<Server>, RegistryAddr), ServerError> {
        let config = self.config;
        let core = match &config.etcd {
            Some(etcd) => shared_core(etcd, &config)?,
            None => {
                let (store, persistence) = match config.state_file.clone() {
                    Some(path) => {
                        let (store, persistence) = Persistence::open(path, config.store.clone())
                            .map_err(ServerError::State)?;
                        (store, Some(persistence))
                    }
                    None => (Store::with_config(config.store.clone()), None),
                };
                Core::new(store, persistence)
            }
        };
        let listeners = Port::ALL.map(|port| {
            let addr = config.addr.connect_to(port);
            TcpListener::bind(addr.as_str())
                .and_then(|listener| Ok((listener.local_addr()?, listener)))
                .map_err(|error| ServerError::Bind { port, addr, error })
        });
        let [new, find, event] = listeners;
        let (new, find, event) = (new?, find?, event?);
        let addr = RegistryAddr::of_sockets(new.0, find.0, event.0);
        tracing::info!(
            %addr,
            services = core.store().len(),
            revision = %core.store().revision(),
            state = %core.state_path().map_or("none".into(), |path| path.display().to_string()),
            etcd = %core.shared().map_or("none".into(), |shared| shared.backend().config().to_string()),
            "registry: listening"
        );
        let server = Server {
            core: Rc::new(RefCell::new(core)),
            bound: Some([new.1, find.1, event.1]),
            listeners: None,
            replies: None,
            conns: HashMap::new(),
            open: [0; 3],
            next_id: 1,
            limits: config.limits,
        };
        Ok((session(server), addr))
    }
}

/// A core that mirrors the services in etcd: the backend started, and the
/// services it read put in the store.
fn shared_core(etcd: &EtcdConfig, config: &ServerConfig) -> Result<Core, ServerError> {
    let failed = |error: std::io::Error| ServerError::Etcd {
        endpoint: etcd.to_string(),
        error,
    };
    if config.state_file.is_some() {
        return Err(failed(std::io::Error::other(
            "a server with an etcd backend keeps no state file (etcd keeps what persists)",
        )));
    }
    let (backend, services) = Backend::start(etcd.clone()).map_err(failed)?;
    let mut store = Store::with_config(config.store.clone());
    for stored in &services {
        let (service, token) = (stored.service.clone(), stored.token.clone());
        if let Err(error) = store.restore(service, token) {
            tracing::warn!("registry: etcd's service is not mirrored: {error}");
        }
    }
    Ok(Core::with_backend(store, Shared::new(backend, &services)))
}

/// The server session's heap.
struct Server {
    core: Rc<RefCell<Core>>,
    /// The listening sockets, until the session starts accepting on them.
    bound: Option<[TcpListener; 3]>,
    listeners: Option<[ListenAccept; 3]>,
    /// With an etcd backend: what wakes the kernel when the backend has
    /// something to say.
    replies: Option<Rc<Replies>>,
    conns: HashMap<u64, (Port, Rc<Conn>)>,
    /// Connections open, by port.
    open: [usize; 3],
    next_id: u64,
    limits: Limits,
}

fn index(port: Port) -> usize {
    match port {
        Port::New => 0,
        Port::Find => 1,
        Port::Event => 2,
    }
}

fn session(server: Server) -> Session<Server> {
    let mut session = Session::new(server)
        .on("_start", |cx, _| {
            let Some(bound) = cx.heap.bound.take() else {
                return Ok(());
            };
            let mut listeners = Vec::with_capacity(3);
            for (port, listener) in Port::ALL.into_iter().zip(bound) {
                let wheel = ListenAccept::builder(listener, ACCEPTED[index(port)])
                    .error(ACCEPT_FAILED)
                    .start(cx)?;
                listeners.push(wheel);
            }
            cx.heap.listeners = listeners.try_into().ok();
            let core = Rc::clone(&cx.heap.core);
            cx.heap.replies = Replies::start(&mut cx.io(), core)?;
            Ok::<_, roe_engine::Error>(())
        })
        .on(ACCEPT_FAILED, |cx, args| {
            // The wheel keeps listening (it backs off when out of
            // descriptors); this is for the log.
            tracing::warn!(server = %cx.session(), "registry: accept: {}", args[2]);
        })
        .on(CLOSED, |cx, args| {
            let id = args[0].as_int().and_then(|n| u64::try_from(n).ok());
            let Some((port, _conn)) = id.and_then(|id| cx.heap.conns.remove(&id)) else {
                return;
            };
            let at = index(port);
            let was_full = cx.heap.open[at] >= cx.heap.limits.max_connections;
            cx.heap.open[at] -= 1;
            if was_full
                && cx.heap.open[at] < cx.heap.limits.max_connections
                && let Some(listeners) = &cx.heap.listeners
            {
                listeners[at].resume_accept();
            }
        })
        .on(SAVE_SOON, |cx, _| {
            let delay = cx.heap.limits.save_delay;
            cx.delay(SAVE, delay, ())
        })
        .on(SAVE, |cx, _| {
            let saved = cx.heap.core.borrow_mut().save();
            if let Err(error) = saved {
                tracing::error!("registry: the state file was not written: {error}; trying again");
                cx.delay(SAVE, SAVE_RETRY, ())?;
            }
            Ok::<_, roe_engine::Error>(())
        })
        .on(SHUTDOWN, stop)
        .on("_stop", stop);
    for port in Port::ALL {
        session = session.on(ACCEPTED[index(port)], move |cx, args| {
            accept(cx, port, args)
        });
    }
    session
}

/// A connection came on `port`: it gets a source of its own.
fn accept(cx: &mut Context<'_, Server>, port: Port, mut args: Args) -> roe_engine::Result<()> {
    let stream: TcpStream = args.take(0).take_local()?;
    let peer = args[1].to_string();
    let limits = cx.heap.limits;
    let _ = stream.set_nodelay(true);
    if let Some(idle) = limits.keepalive {
        let _ = keepalive(&stream, idle);
    }
    let id = cx.heap.next_id;
    cx.heap.next_id += 1;
    let core = Rc::clone(&cx.heap.core);
    match Conn::start(&mut cx.io(), id, port, stream, peer, core, limits) {
        Ok(conn) => {
            let at = index(port);
            cx.heap.conns.insert(id, (port, conn));
            cx.heap.open[at] += 1;
            if cx.heap.open[at] >= limits.max_connections
                && let Some(listeners) = &cx.heap.listeners
            {
                listeners[at].pause_accept();
                tracing::warn!(%port, open = cx.heap.open[at], "registry: at the most connections; accepting again when one closes");
            }
        }
        Err(error) => tracing::warn!(%port, "registry: a connection could not start: {error}"),
    }
    Ok(())
}

/// TCP keepalive: the first probe after `idle`, then one every 10 s, six
/// missed ones ending the connection.
fn keepalive(stream: &TcpStream, idle: Duration) -> std::io::Result<()> {
    Keepalive {
        idle,
        interval: Duration::from_secs(10),
        probes: 6,
    }
    .apply(stream)
}

/// Stops listening, closes every connection (their services are not
/// removed: the registry is going, and what persists is written), and
/// writes the state file if a change waits.
fn stop(cx: &mut Context<'_, Server>, _: Args) {
    cx.heap.listeners = None;
    cx.heap.bound = None;
    cx.heap.replies = None;
    cx.heap.conns.clear();
    cx.heap.open = [0; 3];
    cx.alarm_remove_all();
    let mut core = cx.heap.core.borrow_mut();
    core.unwatch_all();
    core.release_all();
    if let Err(error) = core.save() {
        tracing::error!("registry: the state file was not written at shutdown: {error}");
    }
}
