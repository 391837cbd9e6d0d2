//! [`IkcClient`]: connecting to a peer kernel (IKC's `Client`), and
//! staying connected.

use std::{path::PathBuf, time::Duration};

use roe_engine::{Backoff, Context, Kernel, Result, SessionId};

use crate::{
    channel::{self, DialConfig, dial::Endpoint, link::Dialect},
    ikc::Ikc,
};

/// Connects to a peer kernel (IKC's `POE::Component::IKC::Client`), and,
/// unlike IKC's, connects again when the connection is lost or refused,
/// waiting a jittered, exponentially growing time between attempts.
///
/// Requests for the peer made while it is not connected, by any of the
/// names it is [expected](IkcClient::expect) under or by the address
/// dialled, wait for the connection (up to the process's
/// [`max_queued`](crate::IkcConfig::max_queued); past that they are
/// refused with an error, never dropped silently). Subscriptions are made
/// again on every connection, and proxies live as long as the client.
///
/// # Examples
///
/// ```no_run
/// use roe_engine::{Kernel, Session};
/// use roe_ikc::{Ikc, IkcClient, IkcConfig};
///
/// let ikc = Ikc::new(IkcConfig::new("Client"))?;
/// let mut kernel = Kernel::new()?;
/// ikc.start(&mut kernel)?;
/// let ikc2 = ikc.clone();
/// kernel.spawn(
///     Session::new(())
///         .on_start(move |cx, _| {
///             let me = cx.session();
///             IkcClient::tcp("127.0.0.1", 6030)
///                 .expect("EchoServer")
///                 .on_connect(me, "connected")
///                 .spawn_in(&ikc2, cx)?;
///             // Waits for the connection:
///             cx.post("poe://EchoServer/echo/notify", "", ("hello",))
///         })
///         .on("connected", |_, args| println!("connected to {}", args[0])),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct IkcClient {
    config: DialConfig,
}

impl IkcClient {
    /// A client of `host:port` (a host name is resolved when connecting).
    pub fn tcp(host: impl Into<String>, port: u16) -> IkcClient {
        IkcClient::at(Endpoint::Tcp {
            host: host.into(),
            port,
        })
    }

    /// A client of the Unix socket at `path`.
    pub fn unix(path: impl Into<PathBuf>) -> IkcClient {
        IkcClient::at(Endpoint::Unix(path.into()))
    }

    fn at(endpoint: Endpoint) -> IkcClient {
        IkcClient {
            config: DialConfig {
                endpoint,
                expect: Vec::new(),
                backoff: Some(Backoff::new(
                    Duration::from_millis(100),
                    Duration::from_secs(30),
                )),
                subscribe: Vec::new(),
                on_connect: None,
                on_error: None,
                max_queued: 0,
                dialect: Dialect::Native,
            },
        }
    }

    /// A name the peer is expected to have: `poe://name/...` requests
    /// wait for it before it first connects (the address dialled,
    /// `host:port` or `unix:path`, always works).
    pub fn expect(mut self, name: impl Into<String>) -> IkcClient {
        self.config.expect.push(name.into());
        self
    }

    /// Subscribes to `spec` (`poe://kernel/session`, or `session`,
    /// relative to the peer) on every connection, before
    /// [`on_connect`](IkcClient::on_connect) is told; a connection that
    /// cannot subscribe to all is closed (IKC's rule).
    pub fn subscribe(mut self, spec: impl Into<String>) -> IkcClient {
        self.config.subscribe.push(spec.into());
        self
    }

    /// Posts `event` to `session` on every connection, with `(peer name,
    /// peer kernel ID, generation)`, once its subscriptions are accepted
    /// (IKC's `on_connect`).
    pub fn on_connect(mut self, session: SessionId, event: impl Into<String>) -> IkcClient {
        self.config.on_connect = Some((session, event.into()));
        self
    }

    /// Posts `event` to `session` with `(operation, errno, message)` when
    /// a connection attempt fails or a connection is lost (IKC's
    /// `on_error`).
    pub fn on_error(mut self, session: SessionId, event: impl Into<String>) -> IkcClient {
        self.config.on_error = Some((session, event.into()));
        self
    }

    /// How long to wait before connecting again (by default from 100 ms,
    /// doubling, up to 30 s).
    pub fn backoff(mut self, backoff: Backoff) -> IkcClient {
        self.config.backoff = Some(backoff);
        self
    }

    /// Speaks Perl IKC's protocol to the server (an unmodified Perl
    /// POE::Component::IKC server): the IKC0 handshake, or with `legacy`
    /// the older line-by-line one, then Storable frames. What Perl IKC
    /// cannot carry (publishing notices, a call's failure when its handler
    /// returns nothing) is not sent or not heard of.
    pub fn perl(mut self, legacy: bool) -> IkcClient {
        self.config.dialect = Dialect::Perl { legacy };
        self
    }

    /// Connects once and never again, as IKC's own client: when the
    /// connection fails or ends, waiting requests are refused.
    pub fn once(mut self) -> IkcClient {
        self.config.backoff = None;
        self
    }

    /// Starts the client on `kernel`; returns its channel session (post it
    /// `shutdown` to disconnect for good).
    ///
    /// # Errors
    ///
    /// As [`Kernel::spawn`].
    pub fn spawn(self, ikc: &Ikc, kernel: &mut Kernel) -> Result<SessionId> {
        kernel.spawn(channel::dialled(ikc.clone(), self.with_limits(ikc)))
    }

    /// [`spawn`](IkcClient::spawn) from inside a handler.
    ///
    /// # Errors
    ///
    /// As [`spawn`](IkcClient::spawn).
    pub fn spawn_in<H: 'static>(self, ikc: &Ikc, cx: &mut Context<'_, H>) -> Result<SessionId> {
        cx.spawn(channel::dialled(ikc.clone(), self.with_limits(ikc)))
    }

    fn with_limits(mut self, ikc: &Ikc) -> DialConfig {
        self.config.max_queued = ikc.config().max_queued;
        self.config
    }
}
