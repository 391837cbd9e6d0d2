//! [`Ikc`]: one process's inter-kernel communication — who it is to other
//! kernels, its limits, and the directory its kernels share.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use roe_engine::{Error, Keepalive, Kernel, KernelId, Result, SessionId};

use crate::{
    directory::Directory,
    identity,
    monitor::Monitors,
    native::{HandshakeConfig, NameError},
};

/// How a process's IKC presents itself and what it lets peers do.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_ikc::IkcConfig;
///
/// let config = IkcConfig::new("EchoServer")
///     .alias("echo.example")
///     .key(b"a pre-shared key of at least 32 bytes!".to_vec())
///     .handshake_timeout(Duration::from_secs(5));
/// assert_eq!(config.name(), "EchoServer");
/// ```
#[derive(Clone, Debug)]
pub struct IkcConfig {
    name: String,
    aliases: Vec<String>,
    key: Option<Vec<u8>>,
    pub(crate) max_frame: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_output: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) max_queued: usize,
    pub(crate) keepalive: Option<Keepalive>,
}

impl IkcConfig {
    /// A process known to peers as `name` (IKC's `name`).
    pub fn new(name: impl Into<String>) -> IkcConfig {
        IkcConfig {
            name: name.into(),
            aliases: Vec::new(),
            key: None,
            max_frame: 16 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            max_output: 8 * 1024 * 1024,
            write_timeout: Duration::from_secs(30),
            max_queued: 1024,
            keepalive: Some(Keepalive::new(Duration::from_secs(30))),
        }
    }

    /// Another name peers may use for this process (IKC's `aliases`).
    pub fn alias(mut self, alias: impl Into<String>) -> IkcConfig {
        self.aliases.push(alias.into());
        self
    }

    /// A pre-shared key: peers must prove they hold the same one (and this
    /// process proves it too), without either sending it.
    pub fn key(mut self, key: Vec<u8>) -> IkcConfig {
        self.key = Some(key);
        self
    }

    /// The largest frame read or written (16 MiB by default); a peer that
    /// announces a larger one is disconnected.
    pub fn max_frame(mut self, bytes: usize) -> IkcConfig {
        self.max_frame = bytes;
        self
    }

    /// How long a peer has to finish its handshake (10 s by default).
    pub fn handshake_timeout(mut self, timeout: Duration) -> IkcConfig {
        self.handshake_timeout = timeout;
        self
    }

    /// Output a connection holds for a peer before it stops reading that
    /// peer (8 MiB by default), and how long that output may make no
    /// progress before the peer is cut off (30 s).
    pub fn max_output(mut self, bytes: usize, write_timeout: Duration) -> IkcConfig {
        self.max_output = bytes;
        self.write_timeout = write_timeout;
        self
    }

    /// TCP keepalive on every TCP connection, so that a peer whose machine
    /// died or whose network was cut (which sends no FIN or RST) is
    /// noticed even by a side that only waits for it: by default probes
    /// after 30 s of quiet, every 10 s, three missed ending the connection
    /// (about a minute); `None` leaves the system's setting (off).
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> IkcConfig {
        self.keepalive = keepalive;
        self
    }

    /// Posts a client keeps for its peer while disconnected (1,024 by
    /// default); more are refused with an error.
    pub fn max_queued(mut self, posts: usize) -> IkcConfig {
        self.max_queued = posts;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One process's IKC: shared by its kernels (clone it into each kernel's
/// setup), it starts the IKC responder on a kernel ([`start`](Ikc::start)),
/// listens for peers and connects to them.
///
/// # Examples
///
/// ```
/// use roe_engine::Kernel;
/// use roe_ikc::{Ikc, IkcConfig};
///
/// let ikc = Ikc::new(IkcConfig::new("Lonely"))?;
/// let mut kernel = Kernel::new()?;
/// ikc.start(&mut kernel)?;
/// assert!(ikc.directory().remotes().is_empty());
/// assert!(ikc.kernel_id().contains('-'));
/// ikc.shutdown(&mut kernel); // nothing connected: the kernel may end
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct Ikc {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub config: IkcConfig,
    pub kernel_id: String,
    pub directory: Directory,
    /// Who asked to hear of connections, errors and shutdown.
    pub monitors: Monitors,
    /// Each kernel's responder: a peer's request for a session is carried
    /// out by the responder on that session's kernel.
    responders: Mutex<HashMap<KernelId, SessionId>>,
    /// The connections and listeners, told when IKC shuts down.
    members: Mutex<Vec<SessionId>>,
    shutting_down: AtomicBool,
    /// The next kernel a server hands a connection to.
    next_kernel: AtomicUsize,
    /// Call and subscription ids, unique in the process.
    next_id: AtomicU64,
}

impl Ikc {
    /// A process's IKC, with a unique kernel ID in POE's shape
    /// (`host-xxxxxxxx-xxxxxxxx-xxxxxxxx`: host, start time, process,
    /// sequence).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a name or alias outside what peers
    /// accept (`[-:.\w]`, at most 255 bytes).
    pub fn new(config: IkcConfig) -> Result<Ikc> {
        let ikc = Ikc {
            shared: Arc::new(Shared {
                kernel_id: identity::kernel_id(),
                config,
                directory: Directory::default(),
                monitors: Monitors::default(),
                responders: Mutex::new(HashMap::new()),
                members: Mutex::new(Vec::new()),
                shutting_down: AtomicBool::new(false),
                next_kernel: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
            }),
        };
        ikc.handshake_config().map_err(|_| {
            Error::InvalidArgument("an IKC name or alias is outside [-:.\\w] or too long")
        })?;
        Ok(ikc)
    }

    /// This process's unique kernel ID, the first name peers know it by.
    pub fn kernel_id(&self) -> &str {
        &self.shared.kernel_id
    }

    /// The name and aliases.
    pub fn names(&self) -> Vec<String> {
        let mut names = vec![self.shared.config.name.clone()];
        names.extend(self.shared.config.aliases.iter().cloned());
        names
    }

    /// The directory of published states and connected kernels.
    pub fn directory(&self) -> &Directory {
        &self.shared.directory
    }

    /// The configuration.
    pub fn config(&self) -> &IkcConfig {
        &self.shared.config
    }

    /// Sets the configured TCP keepalive on a new connection; a socket
    /// that refuses it is logged and used as it is.
    pub(crate) fn keep_alive(&self, tcp: &std::net::TcpStream) {
        if let Some(keepalive) = self.shared.config.keepalive
            && let Err(error) = keepalive.apply(tcp)
        {
            tracing::debug!("IKC: TCP keepalive not set: {error}");
        }
    }

    /// Asks the responder on `kernel` to shut IKC down there (POE's
    /// `IKC/shutdown`): connections close after flushing, and the
    /// responder lets the kernel end.
    pub fn shutdown(&self, kernel: &mut Kernel) {
        let _ = kernel.post("IKC", "shutdown", ());
    }

    /// A fresh id for a call or subscription.
    pub(crate) fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `kernel` (a kernel part of a specifier) names this process.
    pub(crate) fn is_me(&self, kernel: &str) -> bool {
        kernel == self.shared.kernel_id
            || kernel == self.shared.config.name
            || self.shared.config.aliases.iter().any(|a| a == kernel)
    }

    pub(crate) fn set_responder(&self, kernel: KernelId, responder: Option<SessionId>) {
        let mut responders = lock(&self.shared.responders);
        match responder {
            Some(session) => responders.insert(kernel, session),
            None => responders.remove(&kernel),
        };
    }

    /// The responder on `kernel`, if IKC runs there.
    pub(crate) fn responder(&self, kernel: KernelId) -> Option<SessionId> {
        lock(&self.shared.responders).get(&kernel).copied()
    }

    /// Every kernel's responder.
    pub(crate) fn responders(&self) -> Vec<SessionId> {
        lock(&self.shared.responders).values().copied().collect()
    }

    /// Counts a connection or listener in, to be told of shutdown; `false`
    /// once IKC is shutting down (the member should close).
    pub(crate) fn join(&self, member: SessionId) -> bool {
        let mut members = lock(&self.shared.members);
        if self.is_shutting_down() {
            return false;
        }
        members.push(member);
        true
    }

    /// Counts a connection or listener out.
    pub(crate) fn leave(&self, member: SessionId) {
        lock(&self.shared.members).retain(|m| *m != member);
    }

    /// Marks IKC as shutting down; returns the members to tell, once (an
    /// empty list the second time).
    pub(crate) fn begin_shutdown(&self) -> Vec<SessionId> {
        let mut members = lock(&self.shared.members);
        if self.shared.shutting_down.swap(true, Ordering::SeqCst) {
            return Vec::new();
        }
        std::mem::take(&mut *members)
    }

    /// Whether IKC is shutting down.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// The kernel the next accepted connection lives on: round robin over
    /// the kernels IKC runs on (`None` when it runs on none).
    pub(crate) fn next_kernel(&self) -> Option<KernelId> {
        let mut kernels: Vec<KernelId> = lock(&self.shared.responders).keys().copied().collect();
        if kernels.is_empty() {
            return None;
        }
        kernels.sort_unstable();
        let n = self.shared.next_kernel.fetch_add(1, Ordering::Relaxed);
        Some(kernels[n % kernels.len()])
    }

    /// The handshake this process offers: its names, key, and published
    /// states as they are now.
    pub(crate) fn handshake_config(&self) -> std::result::Result<HandshakeConfig, NameError> {
        let config = &self.shared.config;
        let mut handshake = HandshakeConfig::new(&self.shared.kernel_id, &config.name)?;
        for alias in &config.aliases {
            handshake = handshake.alias(alias)?;
        }
        // The responder's `publish` keeps the directory within the
        // handshake's rules, so this refuses nothing unless someone
        // published through the directory directly. In place: built per
        // connection, it must not copy itself per published session.
        for (name, states) in self.shared.directory.published() {
            if let Err(error) = handshake.try_publish(&name, states.iter().map(String::as_str)) {
                tracing::warn!("IKC: {name} is not announced: {error}");
            }
        }
        if let Some(key) = &config.key {
            handshake = handshake.key(key.clone());
        }
        Ok(handshake)
    }
}

/// A lock that a panic elsewhere did not spoil for good: the tables stay
/// usable (each change to them is one step).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
