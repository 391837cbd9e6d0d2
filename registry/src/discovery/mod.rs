//! [`Discovery`]: IKC kernels finding each other through the registry.
//!
//! roe's layers put the registry above IKC (IKC uses it for discovery) and
//! have each layer work without the next (docs/architecture.md, "Layers"),
//! so IKC knows nothing of the
//! registry and this glue lives here: roe-registry depends on roe-ikc,
//! never the other way round.
//!
//! What is advertised and who dials whom: see [`Discovery`].

mod advertise;
mod follow;

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

use roe_engine::{Context, Event, Map, SessionId, Spawner, Value};
use roe_ikc::{Ikc, IkcListener};

use crate::addr::RegistryAddr;
use crate::client::{Register, RegistryClient};
use crate::line::Port;
use crate::query::Query;
use crate::service::Service;

/// The attribute naming the protocol, and its value for IKC.
const PROTO: (&str, &str) = ("proto", "ikc");
/// The attribute holding the IKC name.
const KERNEL: &str = "kernel";
/// The attribute holding the unique kernel ID.
const ID: &str = "id";
/// The attributes holding where the server listens.
const HOST: &str = "host";
const PORT: &str = "port";
/// The attribute holding roe's version.
const VERSION: &str = "version";
/// The attribute holding the query a joining node follows.
const FOLLOWS: &str = "follows";

/// The sessions' event: IKC is shutting down (an IKC monitor's report).
const IKC_DOWN: &str = "roe-registry:ikc-down";

/// IKC discovery through a registry: advertising an IKC server, and
/// following the servers a query finds.
///
/// An IKC server **advertises** itself as a service named
/// `tcp!<host>!<port>` (registry(4)'s dial-string style) with these
/// attributes, held for as long as the advertisement runs:
///
/// | attribute | value |
/// |---|---|
/// | `proto` | `ikc` |
/// | `kernel` | the process's IKC name |
/// | `id` | its unique kernel ID |
/// | `host`, `port` | where its server listens |
/// | `version` | roe's version |
/// | `follows` | (a node that [joins](Discovery::join)) the query it follows, as a find line |
///
/// A **follower** watches the registry for services that match a query
/// (`proto ikc`, say) and keeps an [`IkcClient`](roe_ikc::IkcClient) connected to each one but
/// itself, shutting that client down when the service goes. Two nodes
/// that follow each other would dial each other, and IKC keeps one
/// connection per kernel ID, refusing the second: so when a node's
/// advertisement says it follows a query that the other node's own
/// advertisement matches, only the node with the lower kernel ID dials.
/// A node that advertises and follows must therefore say so, with
/// [`join`](Discovery::join); a node that only follows (it has no server
/// to be dialled at) dials every node it finds.
///
/// Each of [`advertise`](Discovery::advertise),
/// [`follow`](Discovery::follow) and [`join`](Discovery::join) starts a
/// session (a child of the kernel or handler that spawns it) that runs
/// until it is sent [`STOP`](Discovery::STOP), or until IKC shuts down on
/// its kernel; IKC must run there ([`Ikc::start`]). Stopping an IKC server
/// alone (posting `shutdown` to its listener) does not stop its
/// advertisement: stop that too.
///
/// # Examples
///
/// A node that advertises its IKC server and connects to every other node
/// that does:
///
/// ```no_run
/// use roe_engine::Kernel;
/// use roe_ikc::{Ikc, IkcConfig, IkcServer};
/// use roe_registry::Discovery;
///
/// let ikc = Ikc::new(IkcConfig::new("node-a"))?;
/// let mut kernel = Kernel::new()?;
/// ikc.start(&mut kernel)?;
/// let listener = IkcServer::tcp("0.0.0.0:6030").spawn(&ikc, &mut kernel)?;
/// Discovery::new(&ikc, "registry.example:6701,6702,6703".parse()?)
///     .join(&listener, Discovery::query(), &mut kernel)?;
/// kernel.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Discovery {
    ikc: Ikc,
    client: RegistryClient,
    host: Option<String>,
    attrs: Vec<(String, String)>,
    notify: Option<(SessionId, Event)>,
}

impl fmt::Debug for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovery")
            .field("kernel", &self.ikc.kernel_id())
            .field("client", &self.client)
            .field("host", &self.host)
            .field("attrs", &self.attrs)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// The event that stops a discovery session: its advertisement goes,
    /// and the IKC clients it started are shut down.
    pub const STOP: &'static str = "stop";

    /// The most peers one follower dials at once (256). A peer past it is
    /// told as `skip` (see [`notify`](Discovery::notify)), and dialled once
    /// another goes.
    pub const MAX_PEERS: usize = 256;

    /// Discovery for `ikc`'s process through the registry at `registry`.
    pub fn new(ikc: &Ikc, registry: RegistryAddr) -> Discovery {
        Discovery {
            ikc: ikc.clone(),
            client: RegistryClient::new(registry),
            host: None,
            attrs: Vec::new(),
            notify: None,
        }
    }

    /// The query that finds every advertised IKC server: `proto ikc`.
    pub fn query() -> Query {
        Query::new([PROTO])
    }

    /// Talks to the registry with `client`'s settings (its address
    /// included): backoff, timeouts.
    pub fn client(mut self, client: RegistryClient) -> Discovery {
        self.client = client;
        self
    }

    /// The host peers are to dial, when it is not the address the server
    /// listens on. By default: that address, or, for a server listening
    /// on every address (`0.0.0.0`, `::`), the address this machine
    /// reaches the registry from. Followers dial only an IP address: a
    /// host name advertised here is skipped, since resolving it would
    /// block their kernel's thread.
    pub fn host(mut self, host: impl Into<String>) -> Discovery {
        self.host = Some(host.into());
        self
    }

    /// Another attribute of the advertisement (after the ones discovery
    /// sets, which it cannot replace).
    pub fn attr(mut self, attr: impl Into<String>, value: impl Into<String>) -> Discovery {
        self.attrs.push((attr.into(), value.into()));
        self
    }

    /// Tells `session` what discovery does, posting `event` with `(what,
    /// name, detail)`: a follower's `dial` and `hangup` (the peer's IKC
    /// name, then `host:port`) and `skip` (a peer it does not dial: its
    /// host is not an IP address, or [`MAX_PEERS`](Discovery::MAX_PEERS)
    /// are dialled already; then `host:port` and why), and the
    /// advertisement's registration's own reports (`registered`,
    /// `refused`, `lost`, `closed`; see [`Register::notify`]).
    pub fn notify(mut self, session: SessionId, event: impl Into<Event>) -> Discovery {
        self.notify = Some((session, event.into()));
        self
    }

    /// The service [`advertise`](Discovery::advertise) registers for
    /// `listener`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](roe_engine::Error::InvalidArgument) for
    /// a server on a Unix socket (peers elsewhere cannot dial it) or a
    /// host no service name can hold; [`Error::Io`](roe_engine::Error::Io)
    /// when the host to advertise cannot be found.
    pub fn service(&self, listener: &IkcListener) -> roe_engine::Result<Service> {
        let Some(local) = listener.local_addr() else {
            return Err(roe_engine::Error::InvalidArgument(
                "only an IKC server on TCP can be advertised",
            ));
        };
        let host = match &self.host {
            Some(host) => host.clone(),
            None => reachable_host(local, &self.client.addr)?,
        };
        let port = local.port().to_string();
        let mut service = Service::new(format!("tcp!{host}!{port}")).map_err(|_| {
            roe_engine::Error::InvalidArgument(
                "the advertised host cannot be part of a service name",
            )
        })?;
        service.set(PROTO.0, PROTO.1);
        service.set(KERNEL, self.ikc.config().name());
        service.set(ID, self.ikc.kernel_id());
        service.set(HOST, host);
        service.set(PORT, port);
        service.set(VERSION, env!("CARGO_PKG_VERSION"));
        for (attr, value) in &self.attrs {
            if service.get(attr).is_none() {
                service.set(attr.clone(), value.clone());
            }
        }
        Ok(service)
    }

    /// Advertises `listener` in the registry (see [`Discovery`]),
    /// registering it again whenever the registry restarts. Returns the
    /// advertisement's session.
    ///
    /// # Errors
    ///
    /// As [`service`](Discovery::service), and as
    /// [`Kernel::spawn`](roe_engine::Kernel::spawn).
    pub fn advertise(
        &self,
        listener: &IkcListener,
        spawner: &mut impl Spawner,
    ) -> roe_engine::Result<SessionId> {
        let register = self.register(self.service(listener)?);
        spawner.spawn_session(advertise::session(self.ikc.clone(), register))
    }

    /// Follows the IKC servers that match `query` (see [`Discovery`]): an [`IkcClient`](roe_ikc::IkcClient) to each one
    /// but this process, shut down when its service goes. Returns the
    /// follower's session.
    ///
    /// # Errors
    ///
    /// As [`Kernel::spawn`](roe_engine::Kernel::spawn).
    pub fn follow(
        &self,
        query: Query,
        spawner: &mut impl Spawner,
    ) -> roe_engine::Result<SessionId> {
        spawner.spawn_session(follow::session(self.follower(query, None)))
    }

    /// [`advertise`](Discovery::advertise) and [`follow`](Discovery::follow)
    /// at once, the advertisement saying which query it follows (so that
    /// two nodes that follow each other connect once). This is how a node
    /// joins a cluster. Returns the session that does both.
    ///
    /// # Errors
    ///
    /// As [`advertise`](Discovery::advertise).
    pub fn join(
        &self,
        listener: &IkcListener,
        query: Query,
        spawner: &mut impl Spawner,
    ) -> roe_engine::Result<SessionId> {
        let mut service = self.service(listener)?;
        service.set(FOLLOWS, query.to_string());
        let follower = self.follower(query, Some(service));
        spawner.spawn_session(follow::session(follower))
    }

    fn register(&self, service: Service) -> Register {
        let register = self.client.register(service);
        match self.notify {
            Some((session, event)) => register.notify(session, event),
            None => register,
        }
    }

    fn follower(&self, query: Query, me: Option<Service>) -> follow::Follower {
        let register = me.clone().map(|service| self.register(service));
        follow::Follower::new(
            self.ikc.clone(),
            self.client.clone(),
            query,
            me,
            register,
            self.notify,
        )
    }
}

/// The host to advertise for a server listening on `local`: its address,
/// or, for one on every address, the address this machine reaches the
/// registry from (what a UDP socket "connected" to the registry is bound
/// to; nothing is sent).
fn reachable_host(local: SocketAddr, registry: &RegistryAddr) -> io::Result<String> {
    let ip = local.ip();
    if !ip.is_unspecified() {
        return Ok(ip.to_string());
    }
    let target = registry
        .connect_to(Port::New)
        .to_socket_addrs()?
        .find(|addr| addr.is_ipv4() == ip.is_ipv4())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "the registry has no address of the IKC server's family",
            )
        })?;
    let any: SocketAddr = match ip {
        std::net::IpAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        std::net::IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = UdpSocket::bind(any)?;
    probe.connect(target)?;
    Ok(probe.local_addr()?.ip().to_string())
}

/// Asks IKC on this kernel to tell the running session when it shuts
/// down (`on`), or to stop telling it.
fn monitor_ikc<H: 'static>(cx: &mut Context<'_, H>, on: bool) {
    let mut states = Map::new();
    if on {
        states.insert("shutdown".into(), IKC_DOWN.into());
    }
    if let Err(error) = cx.post("IKC", "monitor", ("*", Value::Map(states))) {
        tracing::debug!("discovery: IKC does not run on this kernel: {error}");
    }
}

/// Posts `(what, name, detail)` to the session discovery tells.
fn tell<H: 'static>(
    cx: &mut Context<'_, H>,
    notify: Option<(SessionId, Event)>,
    what: &str,
    name: &str,
    detail: &str,
) {
    if let Some((session, event)) = notify {
        let _ = cx.post(session, event, (what, name, detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_on_every_address_is_advertised_at_the_address_that_reaches_the_registry() {
        let registry: RegistryAddr = "127.0.0.1:1,2,3".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:4000".parse().unwrap();
        assert_eq!(reachable_host(any, &registry).unwrap(), "127.0.0.1");
        let one: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        assert_eq!(reachable_host(one, &registry).unwrap(), "127.0.0.2");
    }
}
