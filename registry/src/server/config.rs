//! [`ServerConfig`]: where a registry server listens, where it keeps its
//! state, and what each client may make it hold.

use std::path::PathBuf;
use std::time::Duration;

use crate::addr::RegistryAddr;
use crate::etcd::EtcdConfig;
use crate::store::StoreConfig;

/// A registry server's settings: its address, its state file, its store,
/// and its limits.
///
/// The defaults serve Inferno::RegMgr::TCP's ports (6701, 6702, 6703) on
/// the loopback address, without a state file, with a default
/// [`StoreConfig`] and the limits documented on each setter.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_registry::{Port, RegistryAddr, ServerConfig};
///
/// let config = ServerConfig::default()
///     .addr("127.0.0.1:0,0,0".parse()?)
///     .state_file("/var/lib/roe/registry.state")
///     .write_timeout(Duration::from_secs(10));
/// assert_eq!(config.address().port(Port::New), 0);
/// # Ok::<(), roe_registry::AddrError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub(super) addr: RegistryAddr,
    pub(super) state_file: Option<PathBuf>,
    pub(super) etcd: Option<EtcdConfig>,
    pub(super) store: StoreConfig,
    pub(super) limits: Limits,
}

/// What each connection may make the server hold, and for how long.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub max_connections: usize,
    pub max_output: usize,
    pub max_answer: usize,
    pub min_progress: usize,
    pub first_line_timeout: Duration,
    pub write_timeout: Duration,
    pub linger: Duration,
    pub keepalive: Option<Duration>,
    pub save_delay: Duration,
    pub sync_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            addr: RegistryAddr::default(),
            state_file: None,
            etcd: None,
            store: StoreConfig::default(),
            limits: Limits {
                max_connections: 4096,
                max_output: 256 * 1024,
                max_answer: 16 * 1024 * 1024,
                min_progress: 16 * 1024,
                first_line_timeout: Duration::from_secs(30),
                write_timeout: Duration::from_secs(30),
                linger: Duration::from_secs(2),
                keepalive: Some(Duration::from_secs(60)),
                save_delay: Duration::from_millis(100),
                sync_interval: Duration::from_secs(10),
            },
        }
    }
}

impl ServerConfig {
    /// Where to listen: a host (an IP address, or a name that resolves to
    /// one) and the three ports; a port 0 is any free port.
    pub fn addr(mut self, addr: RegistryAddr) -> ServerConfig {
        self.addr = addr;
        self
    }

    /// The address it is set to listen on.
    pub fn address(&self) -> &RegistryAddr {
        &self.addr
    }

    /// Keeps the persistent services in the file at `path`: read at start
    /// (a file that cannot be read whole is an error), written after
    /// changes (see [`save_delay`](ServerConfig::save_delay)).
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> ServerConfig {
        self.state_file = Some(path.into());
        self
    }

    /// The store's limits and first revision. With a state file, the first
    /// Keeps the services in etcd instead of in the server, so that
    /// several servers share them (see [`EtcdConfig`]); a server with an
    /// etcd backend keeps no state file.
    pub fn etcd(mut self, etcd: EtcdConfig) -> ServerConfig {
        self.etcd = Some(etcd);
        self
    }

    /// revision is the one the file says the registry may have reached.
    pub fn store(mut self, config: StoreConfig) -> ServerConfig {
        self.store = config;
        self
    }

    /// The most connections open at once on each port (4,096 by default):
    /// past it, the port stops accepting until one closes, and new clients
    /// wait in the listen queue. The process's limit on open descriptors
    /// applies too.
    pub fn max_connections(mut self, n: usize) -> ServerConfig {
        self.limits.max_connections = n.max(1);
        self
    }

    /// The output that waits for one client before the server stops adding
    /// to it (256 KiB by default): a find answer or a watcher's lines are
    /// written as the client takes them, so a client that does not read
    /// holds at most this much, plus one line.
    pub fn max_output(mut self, bytes: usize) -> ServerConfig {
        self.limits.max_output = bytes.max(1);
        self
    }

    /// The most bytes of lines one connection's answer may hold while it is
    /// written (16 MiB by default, the clients' own bound): a find's
    /// services, or a detailed watch's first listing. The lines are shared
    /// with the server's cache while the services stay as they are, but an
    /// answer keeps the ones it holds alive after they change, so each is
    /// counted in full. Past it, a find gets no answer and its connection
    /// is reset (so the client sees an error, not an empty answer), and a
    /// watch gets `error answer too large`.
    pub fn max_answer(mut self, bytes: usize) -> ServerConfig {
        self.limits.max_answer = bytes.max(1);
        self
    }

    /// How long a client of the new port has to register, and a client of
    /// the find port to send its query (30 s by default); past it, the
    /// connection is closed (on the new port after `error timeout`).
    pub fn first_line_timeout(mut self, timeout: Duration) -> ServerConfig {
        self.limits.first_line_timeout = timeout;
        self
    }

    /// How long output may wait without the client making progress (30 s
    /// by default); past it, the client is cut off. Progress is taking
    /// everything that waits, or at least
    /// [`min_write_progress`](ServerConfig::min_write_progress) bytes, so
    /// that a client that takes a byte now and then cannot hold an answer
    /// for ever.
    pub fn write_timeout(mut self, timeout: Duration) -> ServerConfig {
        self.limits.write_timeout = timeout;
        self
    }

    /// How many bytes a client must take within each
    /// [`write_timeout`](ServerConfig::write_timeout), unless it takes
    /// everything that waits (16 KiB by default: about 550 bytes a second
    /// with the default timeout).
    pub fn min_write_progress(mut self, bytes: usize) -> ServerConfig {
        self.limits.min_progress = bytes.max(1);
        self
    }

    /// How long, after its last line, the server goes on reading (and
    /// discarding) what a client it closes still sends, so that the client
    /// gets that line before the connection goes (2 s by default).
    pub fn linger(mut self, linger: Duration) -> ServerConfig {
        self.limits.linger = linger;
        self
    }

    /// TCP keepalive on every connection: the idle time before the first
    /// probe (60 s by default; probes then go every 10 s, and six missed
    /// ones end the connection), so that a registration whose client
    /// vanished without closing goes within a few minutes. `None` leaves
    /// the system's setting.
    pub fn keepalive(mut self, idle: Option<Duration>) -> ServerConfig {
        self.limits.keepalive = idle;
        self
    }

    /// How long after a change to a persistent service the state file is
    /// written (100 ms by default): the changes of that time are written
    /// together.
    pub fn save_delay(mut self, delay: Duration) -> ServerConfig {
        self.limits.save_delay = delay;
        self
    }

    /// How often, at most, a detailed watcher that is sent nothing is told
    /// with a `sync` line that it has seen everything up to the registry's
    /// revision, while changes it does not watch go on (10 s by default).
    pub fn sync_interval(mut self, interval: Duration) -> ServerConfig {
        self.limits.sync_interval = interval;
        self
    }
}
