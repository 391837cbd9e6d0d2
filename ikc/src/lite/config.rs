//! [`LiteConfig`]: where a lite client connects, who it says it is, and
//! how long it waits.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use crate::native::DEFAULT_MAX_FRAME;

/// How long a lite client waits for an answer by default: 30 seconds, as
/// IKC's ClientLite.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The shortest wait a [`LiteConfig`] keeps: shorter timeouts (zero) are
/// raised to it, since a socket cannot wait for no time at all.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The smallest frame limit a [`LiteConfig`] keeps (4 KiB): smaller limits
/// are raised to it, so a server's ordinary frames always fit.
pub const MIN_MAX_FRAME: usize = 4096;

/// Where a lite client connects: a TCP address, or a Unix socket's path.
///
/// A TCP address is kept as text and resolved at each connect, so a
/// reconnect after the server moved finds it again.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
///
/// use roe_ikc::lite::Endpoint;
///
/// assert_eq!(Endpoint::from("localhost:603").to_string(), "localhost:603");
/// let addr: SocketAddr = "127.0.0.1:6603".parse()?;
/// assert_eq!(Endpoint::from(addr), Endpoint::Tcp("127.0.0.1:6603".into()));
/// assert_eq!(Endpoint::Unix("/run/ikc.sock".into()).to_string(), "unix:/run/ikc.sock");
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `host:port`, resolved when connecting.
    Tcp(String),
    /// A Unix-domain stream socket.
    Unix(PathBuf),
}

impl From<&str> for Endpoint {
    fn from(addr: &str) -> Endpoint {
        Endpoint::Tcp(addr.to_owned())
    }
}

impl From<String> for Endpoint {
    fn from(addr: String) -> Endpoint {
        Endpoint::Tcp(addr)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Endpoint {
        Endpoint::Tcp(addr.to_string())
    }
}

impl fmt::Display for Endpoint {
    /// `host:port`, or `unix:` and the path (IKC's spelling of a Unix
    /// socket in a kernel name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => f.write_str(addr),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// How a [`LiteClient`](super::LiteClient) connects and waits: IKC's
/// ClientLite `spawn` options.
///
/// | option | default | |
/// |---|---|---|
/// | [`name`](LiteConfig::name) | `Client<pid>` | the kernel name the server sees (then the alias `IKCLite`) |
/// | [`timeout`](LiteConfig::timeout) | 30 s | for a call, a ping, a response; and each write |
/// | [`connect_timeout`](LiteConfig::connect_timeout) | the timeout | to connect and finish the handshake |
/// | [`key`](LiteConfig::key) | none | the pre-shared key, when the server has one |
/// | [`max_frame`](LiteConfig::max_frame) | 16 MiB | the largest frame read or written |
/// | [`reconnect_after_timeout`](LiteConfig::reconnect_after_timeout) | on | drop the connection after a wait times out |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use roe_ikc::lite::LiteConfig;
///
/// let config = LiteConfig::new("127.0.0.1:6603")
///     .name("Reporter")
///     .timeout(Duration::from_secs(5))
///     .key(b"the key the server was given".to_vec());
/// assert_eq!(config.endpoint().to_string(), "127.0.0.1:6603");
/// assert_eq!(config.client_name(), "Reporter");
/// assert_eq!(config.wait_timeout(), Duration::from_secs(5));
/// // The connect timeout follows the timeout unless set.
/// assert_eq!(config.connect_wait(), Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct LiteConfig {
    pub(super) endpoint: Endpoint,
    name: Option<String>,
    pub(super) timeout: Duration,
    connect_timeout: Option<Duration>,
    pub(super) key: Option<Vec<u8>>,
    pub(super) max_frame: usize,
    pub(super) reconnect_after_timeout: bool,
}

impl LiteConfig {
    /// A client of the server at `addr` (`"host:port"` text or a
    /// [`SocketAddr`]), with the defaults above.
    pub fn new(addr: impl Into<Endpoint>) -> LiteConfig {
        LiteConfig {
            endpoint: addr.into(),
            name: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: None,
            key: None,
            max_frame: DEFAULT_MAX_FRAME,
            reconnect_after_timeout: true,
        }
    }

    /// A client of the server listening on the Unix socket at `path`.
    pub fn unix(path: impl Into<PathBuf>) -> LiteConfig {
        LiteConfig::new(Endpoint::Unix(path.into()))
    }

    /// Sets the kernel name the client gives the server (by default
    /// `Client` and the process ID); the alias
    /// [`IKCLite`](super::LITE_SESSION) follows it. It must follow the
    /// native wire's rules for names (1 to 255 ASCII letters, digits, `_`,
    /// `-`, `:`, `.`), or [`connect`](super::LiteClient::connect) fails.
    pub fn name(mut self, name: impl Into<String>) -> LiteConfig {
        self.name = Some(name.into());
        self
    }

    /// Sets how long a call, a ping or a response is waited for, and how
    /// long one write may block (at least [`MIN_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> LiteConfig {
        self.timeout = timeout.max(MIN_TIMEOUT);
        self
    }

    /// Sets how long connecting and the handshake may take together (by
    /// default the [`timeout`](LiteConfig::timeout); at least
    /// [`MIN_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> LiteConfig {
        self.connect_timeout = Some(timeout.max(MIN_TIMEOUT));
        self
    }

    /// Sets the pre-shared key. The handshake proves both sides hold the
    /// same key without sending it; a server with a key refuses a client
    /// without one, and the reverse.
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> LiteConfig {
        self.key = Some(key.into());
        self
    }

    /// Sets the largest frame body read or written, between
    /// [`MIN_MAX_FRAME`] and `u32::MAX` (by default
    /// [`DEFAULT_MAX_FRAME`], 16 MiB). A longer frame from the server
    /// closes the connection before any of it is buffered.
    pub fn max_frame(mut self, bytes: usize) -> LiteConfig {
        self.max_frame = bytes.clamp(MIN_MAX_FRAME, u32::MAX as usize);
        self
    }

    /// Whether a wait that times out drops the connection, so the next
    /// send connects afresh (on by default, as ClientLite). Off, the
    /// connection is kept, and an answer that comes late is recognised and
    /// dropped when it arrives.
    pub fn reconnect_after_timeout(mut self, on: bool) -> LiteConfig {
        self.reconnect_after_timeout = on;
        self
    }

    /// Where the client connects.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The kernel name the client gives: the one set, or `Client<pid>`.
    pub fn client_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("Client{}", std::process::id()))
    }

    /// How long a call, a ping or a response is waited for.
    pub fn wait_timeout(&self) -> Duration {
        self.timeout
    }

    /// How long connecting and the handshake may take.
    pub fn connect_wait(&self) -> Duration {
        self.connect_timeout.unwrap_or(self.timeout)
    }
}

impl fmt::Debug for LiteConfig {
    /// Leaves the key's bytes out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiteConfig")
            .field("endpoint", &self.endpoint)
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("key", &self.key.as_ref().map(|_| ".."))
            .field("max_frame", &self.max_frame)
            .field("reconnect_after_timeout", &self.reconnect_after_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_client_lites() {
        let config = LiteConfig::new("localhost:603");
        assert_eq!(config.wait_timeout(), DEFAULT_TIMEOUT);
        assert_eq!(config.connect_wait(), DEFAULT_TIMEOUT);
        assert_eq!(
            config.client_name(),
            format!("Client{}", std::process::id())
        );
        assert!(config.reconnect_after_timeout);
        assert_eq!(config.max_frame, DEFAULT_MAX_FRAME);
    }

    #[test]
    fn limits_are_kept_in_range() {
        let config = LiteConfig::new("h:1")
            .timeout(Duration::ZERO)
            .connect_timeout(Duration::ZERO)
            .max_frame(0);
        assert_eq!(config.wait_timeout(), MIN_TIMEOUT);
        assert_eq!(config.connect_wait(), MIN_TIMEOUT);
        assert_eq!(config.max_frame, MIN_MAX_FRAME);
        assert_eq!(
            LiteConfig::new("h:1").max_frame(usize::MAX).max_frame,
            u32::MAX as usize
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        let config = LiteConfig::unix("/tmp/s").key(b"sekrit".to_vec());
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("sekrit") && !shown.contains("115"),
            "{shown}"
        );
    }
}
