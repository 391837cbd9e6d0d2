//! POE::Wheel::SocketFactory: creating, binding, listening on and
//! connecting stream sockets without blocking.

use std::{
    cell::RefCell,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd},
        unix::net::{UnixListener, UnixStream},
    },
    rc::Rc,
    time::Duration,
};

use rustix::{
    io::Errno,
    net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType, sockopt},
};

use super::{
    WheelId,
    accepting::{Accepting, Round},
    error_args,
};
use crate::{
    error::{Error, Result},
    event::Event,
    id::TimerId,
    kernel::{Context, Io, Readiness, Source, SourceRef},
    reactor::{Descriptor, Mode},
    value::{Args, Value},
};

/// The listen queue when none is given: Linux's `SOMAXCONN` (the kernel
/// caps it at `net.core.somaxconn` anyway).
const DEFAULT_LISTEN_QUEUE: u32 = 4096;

/// A socket's address family (POE's `SocketDomain`).
///
/// # Examples
///
/// A Unix-domain server and a client of it, both by path:
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use roe_engine::{Domain, Kernel, Session, SocketFactory};
///
/// let path = std::env::temp_dir().join(format!("roe-doc-unix-{}", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let address = path.to_string_lossy().into_owned();
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new((Vec::<SocketFactory>::new(), 0))
///         .on_start(move |cx, _| {
///             let server = SocketFactory::builder("made", "failed")
///                 .domain(Domain::Unix)
///                 .bind_address(address.clone())
///                 .start(cx)?;
///             let client = SocketFactory::builder("made", "failed")
///                 .domain(Domain::Unix)
///                 .remote_address(address)
///                 .start(cx)?;
///             cx.heap.0 = vec![server, client];
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("made", |cx, mut args| {
///             // Both ends are Unix-domain streams, whose peers have no
///             // address or port.
///             assert!(args.take(0).take_local::<UnixStream>().is_ok());
///             assert!(args[1].is_undef() && args[2].is_undef());
///             cx.heap.1 += 1;
///             if cx.heap.1 == 2 {
///                 cx.heap.0.clear();
///             }
///         })
///         .on("failed", |cx, _| cx.heap.0.clear())
///         .on("_stop", |cx, _| assert_eq!(cx.heap.1, 2)),
/// )?;
/// kernel.run()?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// IPv4 (`AF_INET`), POE's default.
    Inet,
    /// IPv6 (`AF_INET6`).
    Inet6,
    /// Unix-domain stream sockets (`AF_UNIX`): addresses are paths.
    Unix,
}

impl Domain {
    fn family(self) -> AddressFamily {
        match self {
            Domain::Inet => AddressFamily::INET,
            Domain::Inet6 => AddressFamily::INET6,
            Domain::Unix => AddressFamily::UNIX,
        }
    }

    fn accepts(self, address: &SocketAddr) -> bool {
        match self {
            Domain::Inet => address.is_ipv4(),
            Domain::Inet6 => address.is_ipv6(),
            Domain::Unix => false,
        }
    }
}

/// Creates stream sockets without blocking (POE::Wheel::SocketFactory).
///
/// Built with [`SocketFactory::builder`] inside a handler, it works in one
/// of two modes:
///
/// - **Server** (no remote address): it creates a socket, sets
///   `SO_REUSEADDR` if asked ([`reuse`](SocketFactoryBuilder::reuse), POE's
///   `Reuse`), binds it, listens, and then accepts connections for as long
///   as it lives, calling the success event once per connection.
/// - **Client** (with [`remote_address`](SocketFactoryBuilder::remote_address)):
///   it starts a non-blocking connect, waits for the socket to become
///   writable, reads `SO_ERROR`, and calls the success or the failure event
///   once.
///
/// The success event gets `(socket, peer address, peer port, wheel ID)`:
/// the socket is a [`Value::local`] holding a `std::net::TcpStream` (or a
/// `std::os::unix::net::UnixStream` in the [`Domain::Unix`]), in blocking
/// mode as std makes sockets (wheels such as [`ReadWrite`](crate::ReadWrite)
/// make it non-blocking); take it with `take_local`. The address is text
/// and the port an integer; Unix-domain peers have `undef` for both, as in
/// POE. The failure event gets `(operation, errno, message, wheel ID)`,
/// where the operation names the step that failed: `getaddrinfo`, `socket`,
/// `setsockopt`, `bind`, `listen`, `connect`, `getsockopt`, `getpeername`
/// or `accept`. Failures in the setting-up steps are queued with `yield`, as
/// POE does, so they arrive after the handler that built the wheel returns;
/// a wheel that failed so is inert. Accepting and connecting call their
/// events synchronously.
///
/// Dropping the wheel stops it and closes its socket (a socket it handed
/// to the success event is the handler's).
///
/// # Name resolution
///
/// IP literals (`127.0.0.1`, `::1`) are parsed, never looked up. Host names
/// are resolved with std's [`ToSocketAddrs`], which **blocks** the kernel's
/// thread while the system resolver works, as POE's `inet_aton` and
/// `getaddrinfo` did; resolve names elsewhere first when that matters. The
/// first address of the socket's domain is used. With no
/// [`domain`](SocketFactoryBuilder::domain), an IPv6 literal selects
/// [`Domain::Inet6`] and anything else [`Domain::Inet`], POE's default.
///
/// Differences from POE: datagram sockets are not provided; only
/// `EINPROGRESS` from `connect` means "connecting" (POE also takes
/// `EWOULDBLOCK`, which Linux uses for a full Unix-domain backlog and for a
/// lack of local ports, both failures); a connect timeout is built in
/// ([`connect_timeout`](SocketFactoryBuilder::connect_timeout); POE leaves it
/// to POE::Component::Client::TCP); resolution failures report errno
/// `EADDRNOTAVAIL` as POE does, under the operation `getaddrinfo` for both
/// IPv4 and IPv6.
///
/// # Examples
///
/// A server on a port the system chooses, and a client of it, in one
/// session:
///
/// ```
/// use std::net::TcpStream;
/// use roe_engine::{Kernel, Session, SocketFactory};
///
/// #[derive(Default)]
/// struct Heap { server: Option<SocketFactory>, client: Option<SocketFactory>, done: Vec<&'static str> }
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(Heap::default())
///         .on_start(|cx, _| {
///             // Server mode: bound to port 0, listening.
///             let server = SocketFactory::builder("accepted", "failed")
///                 .bind_address("127.0.0.1")
///                 .start(cx)?;
///             let port = server.local_addr().expect("listening").port();
///             // Client mode: connecting, without blocking.
///             let client = SocketFactory::builder("connected", "failed")
///                 .remote_address("127.0.0.1")
///                 .remote_port(port)
///                 .start(cx)?;
///             cx.heap.server = Some(server);
///             cx.heap.client = Some(client);
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("accepted", |cx, mut args| {
///             let _socket: TcpStream = args.take(0).take_local().expect("a TCP stream");
///             cx.heap.done.push("accepted");
///             cx.heap.server = None; // one connection is enough
///         })
///         .on("connected", |cx, mut args| {
///             let _socket: TcpStream = args.take(0).take_local().expect("a TCP stream");
///             cx.heap.done.push("connected");
///             cx.heap.client = None;
///         })
///         .on("failed", |cx, _| {
///             cx.heap.server = None;
///             cx.heap.client = None;
///         })
///         .on("_stop", |cx, _| {
///             cx.heap.done.sort();
///             assert_eq!(cx.heap.done, ["accepted", "connected"]);
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct SocketFactory {
    inner: Rc<Inner>,
}

/// Builds a [`SocketFactory`]: the addresses, options and events.
///
/// # Examples
///
/// A client that would give up after a second, connecting to a listener
/// the program holds (the system completes a connection before anyone
/// accepts it):
///
/// ```
/// use std::{net::TcpListener, time::Duration};
/// use roe_engine::{Kernel, Session, SocketFactory};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new((None::<SocketFactory>, String::new()))
///         .on_start(move |cx, _| {
///             let wheel = SocketFactory::builder("connected", "failed")
///                 .remote_address("127.0.0.1")
///                 .remote_port(port)
///                 .connect_timeout(Duration::from_secs(1))
///                 .start(cx)?;
///             cx.heap.0 = Some(wheel);
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("connected", |cx, args| {
///             cx.heap.1 = format!("connected to {}:{}", args[1], args[2]);
///             cx.heap.0 = None;
///         })
///         .on("failed", |cx, args| {
///             cx.heap.1 = format!("{} failed: {}", args[0], args[2]);
///             cx.heap.0 = None;
///         })
///         .on("_stop", move |cx, _| {
///             assert_eq!(cx.heap.1, format!("connected to 127.0.0.1:{port}"));
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SocketFactoryBuilder {
    success: Event,
    failure: Event,
    domain: Option<Domain>,
    bind_address: Option<String>,
    bind_port: Option<u16>,
    remote_address: Option<String>,
    remote_port: Option<u16>,
    listen_queue: Option<u32>,
    reuse: bool,
    connect_timeout: Option<Duration>,
}

struct Inner {
    id: WheelId,
    source: SourceRef,
    state: RefCell<State>,
    loop_state: Accepting,
}

struct State {
    role: Role,
    success: Event,
    failure: Event,
    /// The address a listening socket is bound to (POE's `getsockname`).
    local: Option<SocketAddr>,
    /// Cleared by `pause_accept`: the accept loop checks it between
    /// connections, since the kernel pauses the watcher only after the
    /// running handler.
    accepting: bool,
    /// Accepting is paused for lack of descriptors until this timer.
    backing_off: Option<TimerId>,
}

enum Role {
    /// Nothing to do: setting up failed, or a connection was made.
    Idle,
    Listening(Listening),
    Connecting {
        socket: Rc<OwnedFd>,
        domain: Domain,
        timer: Option<TimerId>,
    },
}

enum Listening {
    Tcp(Rc<TcpListener>),
    Unix(Rc<UnixListener>),
}

impl Listening {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listening::Tcp(l) => l.as_fd(),
            Listening::Unix(l) => l.as_fd(),
        }
    }

    fn fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }

    /// The listener, for the kernel to watch.
    fn shared(&self) -> Rc<dyn Descriptor> {
        match self {
            Listening::Tcp(l) => l.clone(),
            Listening::Unix(l) => l.clone(),
        }
    }

    /// Accepts one connection: the socket and the peer's address and port.
    fn accept(&self) -> io::Result<(Value, Value, Value)> {
        match self {
            Listening::Tcp(listener) => {
                let (stream, peer) = listener.accept()?;
                Ok((
                    Value::local(stream),
                    Value::from(peer.ip().to_string()),
                    Value::from(peer.port()),
                ))
            }
            Listening::Unix(listener) => {
                let (stream, _) = listener.accept()?;
                Ok((Value::local(stream), Value::Undef, Value::Undef))
            }
        }
    }
}

/// A failed setting-up step: the operation, errno and message.
struct Failed {
    operation: &'static str,
    errno: i32,
    message: String,
}

impl Failed {
    fn new(operation: &'static str, error: impl Into<io::Error>) -> Failed {
        let error = error.into();
        Failed {
            operation,
            errno: error.raw_os_error().unwrap_or(0),
            message: error.to_string(),
        }
    }

    /// A name or address that gives nothing to use: `EADDRNOTAVAIL`, as
    /// POE reports it, with what was asked for.
    fn not_found(why: String) -> Failed {
        let errno = Errno::ADDRNOTAVAIL.raw_os_error();
        Failed {
            operation: "getaddrinfo",
            errno,
            message: format!("{why}: {}", io::Error::from_raw_os_error(errno)),
        }
    }

    fn args(self, id: WheelId) -> Args {
        Args::from((self.operation, self.errno, self.message, id.number()))
    }
}

/// What setting up produced.
enum Opened {
    Listening(Listening, Option<SocketAddr>),
    Connecting(OwnedFd, Domain),
}

impl SocketFactory {
    /// Starts building a wheel that calls `success` per accepted or made
    /// connection and `failure` when a step fails (POE's `SuccessEvent` and
    /// `FailureEvent`, both required there too).
    pub fn builder(success: impl Into<Event>, failure: impl Into<Event>) -> SocketFactoryBuilder {
        SocketFactoryBuilder {
            success: success.into(),
            failure: failure.into(),
            domain: None,
            bind_address: None,
            bind_port: None,
            remote_address: None,
            remote_port: None,
            listen_queue: None,
            reuse: false,
            connect_timeout: None,
        }
    }

    /// This wheel's ID (POE's `ID`), the last argument of its events.
    pub fn id(&self) -> WheelId {
        self.inner.id
    }

    /// The address a listening IPv4 or IPv6 socket is bound to (POE's
    /// `getsockname`), which tells a server bound to port 0 its port.
    /// `None` for clients, Unix-domain sockets and wheels whose setting-up
    /// failed.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().local
    }

    /// Whether this wheel is listening (it is a server whose setting-up
    /// succeeded).
    pub fn is_listening(&self) -> bool {
        matches!(self.inner.state.borrow().role, Role::Listening(_))
    }

    /// Whether this wheel is still connecting (a client that has not yet
    /// reported success or failure).
    pub fn is_connecting(&self) -> bool {
        matches!(self.inner.state.borrow().role, Role::Connecting { .. })
    }

    /// Stops accepting for now, keeping the socket and the watcher (POE's
    /// `pause_accept`); connections wait in the listen queue. Called from
    /// the success event, it takes effect before the next connection.
    pub fn pause_accept(&self) {
        self.set_accepting(false);
    }

    /// Accepts again after [`pause_accept`](SocketFactory::pause_accept)
    /// (POE's `resume_accept`).
    pub fn resume_accept(&self) {
        self.set_accepting(true);
    }

    fn set_accepting(&self, on: bool) {
        let mut state = self.inner.state.borrow_mut();
        state.accepting = on;
        // A back-off in progress resumes by itself.
        if state.backing_off.is_some() {
            return;
        }
        if let Role::Listening(listening) = &state.role {
            self.inner
                .source
                .pause_later(listening.fd(), Mode::Read, !on);
        }
    }
}

impl SocketFactoryBuilder {
    /// The address family (POE's `SocketDomain`); see the type's notes for
    /// the default.
    pub fn domain(mut self, domain: Domain) -> SocketFactoryBuilder {
        self.domain = Some(domain);
        self
    }

    /// The local address to bind (POE's `BindAddress`): an IP literal or a
    /// host name, or a path in the [`Domain::Unix`]. Servers bind to the
    /// unspecified address (all interfaces) when it is not given.
    pub fn bind_address(mut self, address: impl Into<String>) -> SocketFactoryBuilder {
        self.bind_address = Some(address.into());
        self
    }

    /// The local port to bind (POE's `BindPort`); 0, the default, lets the
    /// system choose (see [`SocketFactory::local_addr`]).
    pub fn bind_port(mut self, port: u16) -> SocketFactoryBuilder {
        self.bind_port = Some(port);
        self
    }

    /// The address to connect to (POE's `RemoteAddress`), which makes the
    /// wheel a client: an IP literal or a host name, or a path in the
    /// [`Domain::Unix`].
    pub fn remote_address(mut self, address: impl Into<String>) -> SocketFactoryBuilder {
        self.remote_address = Some(address.into());
        self
    }

    /// The port to connect to (POE's `RemotePort`); required with an IPv4 or
    /// IPv6 remote address.
    pub fn remote_port(mut self, port: u16) -> SocketFactoryBuilder {
        self.remote_port = Some(port);
        self
    }

    /// The length of the listen queue (POE's `ListenQueue`; default
    /// `SOMAXCONN`).
    pub fn listen_queue(mut self, connections: u32) -> SocketFactoryBuilder {
        self.listen_queue = Some(connections);
        self
    }

    /// Sets `SO_REUSEADDR` before binding (POE's `Reuse`), so a server can
    /// bind a port whose old connections linger in `TIME_WAIT`.
    pub fn reuse(mut self, reuse: bool) -> SocketFactoryBuilder {
        self.reuse = reuse;
        self
    }

    /// Gives up connecting after `timeout`, calling the failure event with
    /// `("connect", ETIMEDOUT, ...)`. Servers ignore it.
    pub fn connect_timeout(mut self, timeout: Duration) -> SocketFactoryBuilder {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Creates the socket and starts listening or connecting for the
    /// running session. A failing step is reported to the failure event (see
    /// [`SocketFactory`]), not here.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an IPv4 or IPv6 remote address without
    /// a remote port; [`Error::Io`] when the kernel cannot watch the socket.
    pub fn start<H: 'static>(self, cx: &mut Context<'_, H>) -> Result<SocketFactory> {
        if self.remote_address.is_some()
            && self.remote_port.is_none()
            && self.domain != Some(Domain::Unix)
        {
            return Err(Error::InvalidArgument(
                "a remote address needs a remote port",
            ));
        }
        let id = WheelId::next();
        let mut io = cx.io();
        let inner = io.add(|source| Inner {
            id,
            source,
            state: RefCell::new(State {
                role: Role::Idle,
                success: self.success,
                failure: self.failure,
                local: None,
                accepting: true,
                backing_off: None,
            }),
            loop_state: Accepting::default(),
        });
        let opened = match self.open() {
            Ok(opened) => opened,
            Err(failed) => {
                io.post(self.failure, failed.args(id));
                return Ok(SocketFactory { inner });
            }
        };
        match opened {
            Opened::Listening(listening, local) => {
                io.watch(&inner.source, listening.shared(), Mode::Read)?;
                let mut state = inner.state.borrow_mut();
                state.local = local;
                state.role = Role::Listening(listening);
            }
            Opened::Connecting(socket, domain) => {
                let socket = Rc::new(socket);
                io.watch(&inner.source, socket.clone(), Mode::Write)?;
                // Owned by the wheel before anything else can fail, so a
                // failure below releases the watcher with the wheel.
                inner.state.borrow_mut().role = Role::Connecting {
                    socket,
                    domain,
                    timer: None,
                };
                if let Some(timeout) = self.connect_timeout {
                    let timer = io.delay(&inner.source, timeout)?;
                    if let Role::Connecting { timer: slot, .. } = &mut inner.state.borrow_mut().role
                    {
                        *slot = Some(timer);
                    }
                }
            }
        }
        Ok(SocketFactory { inner })
    }

    /// Every step up to listening or to the connect call.
    fn open(&self) -> Result<Opened, Failed> {
        let domain = self.domain.unwrap_or_else(|| {
            let address = self.remote_address.as_ref().or(self.bind_address.as_ref());
            match address.map(|a| a.parse::<IpAddr>()) {
                Some(Ok(IpAddr::V6(_))) => Domain::Inet6,
                _ => Domain::Inet,
            }
        });
        // Addresses first: a name that does not resolve costs no socket.
        let remote = match &self.remote_address {
            Some(address) => Some(Endpoint::resolve(
                domain,
                address,
                self.remote_port.unwrap_or(0),
            )?),
            None => None,
        };
        let bind = if self.bind_address.is_some() || self.bind_port.is_some() || remote.is_none() {
            match (&self.bind_address, domain) {
                (Some(address), _) => Some(Endpoint::resolve(
                    domain,
                    address,
                    self.bind_port.unwrap_or(0),
                )?),
                // A Unix-domain client binds nothing by default; a server
                // without a path cannot listen (POE fails at `listen`).
                (None, Domain::Unix) => None,
                (None, Domain::Inet) => Some(Endpoint::Ip(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    self.bind_port.unwrap_or(0),
                ))),
                (None, Domain::Inet6) => Some(Endpoint::Ip(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                    self.bind_port.unwrap_or(0),
                ))),
            }
        } else {
            None
        };
        let socket = rustix::net::socket_with(
            domain.family(),
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| Failed::new("socket", e))?;
        if self.reuse {
            sockopt::set_socket_reuseaddr(&socket, true)
                .map_err(|e| Failed::new("setsockopt", e))?;
        }
        if let Some(bind) = &bind {
            bind.bind(&socket).map_err(|e| Failed::new("bind", e))?;
        }
        match remote {
            Some(remote) => {
                match remote.connect(&socket) {
                    // A Unix-domain connect may finish at once; the write
                    // watcher reports it like any other, as in POE.
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(Errno::INPROGRESS.raw_os_error()) => {}
                    Err(e) => return Err(Failed::new("connect", e)),
                }
                Ok(Opened::Connecting(socket, domain))
            }
            None => {
                let backlog = self.listen_queue.unwrap_or(DEFAULT_LISTEN_QUEUE);
                let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
                rustix::net::listen(&socket, backlog).map_err(|e| Failed::new("listen", e))?;
                let local = rustix::net::getsockname(&socket)
                    .ok()
                    .and_then(|a| SocketAddr::try_from(a).ok());
                let listening = match domain {
                    Domain::Unix => Listening::Unix(Rc::new(UnixListener::from(socket))),
                    Domain::Inet | Domain::Inet6 => {
                        Listening::Tcp(Rc::new(TcpListener::from(socket)))
                    }
                };
                Ok(Opened::Listening(listening, local))
            }
        }
    }
}

/// A resolved address to bind or connect to.
enum Endpoint {
    Ip(SocketAddr),
    Unix(SocketAddrUnix),
}

impl Endpoint {
    /// Parses or resolves `address` for `domain`.
    fn resolve(domain: Domain, address: &str, port: u16) -> Result<Endpoint, Failed> {
        if domain == Domain::Unix {
            // Only a path too long for a socket address fails here.
            return SocketAddrUnix::new(address)
                .map(Endpoint::Unix)
                .map_err(|e| Failed::new("bind", e));
        }
        let not_found = Failed::not_found;
        // Literals never touch the resolver.
        if let Ok(ip) = address.parse::<IpAddr>() {
            let address = SocketAddr::new(ip, port);
            return if domain.accepts(&address) {
                Ok(Endpoint::Ip(address))
            } else {
                Err(not_found(format!(
                    "{ip} is not an address of the {domain:?} domain"
                )))
            };
        }
        let found = (address, port)
            .to_socket_addrs()
            .map_err(|e| not_found(format!("{address}: {e}")))?
            .find(|a| domain.accepts(a));
        found
            .map(Endpoint::Ip)
            .ok_or_else(|| not_found(format!("{address} has no {domain:?} address")))
    }

    fn bind(&self, socket: &OwnedFd) -> io::Result<()> {
        match self {
            Endpoint::Ip(address) => rustix::net::bind(socket, address)?,
            Endpoint::Unix(address) => rustix::net::bind(socket, address)?,
        }
        Ok(())
    }

    fn connect(&self, socket: &OwnedFd) -> io::Result<()> {
        match self {
            Endpoint::Ip(address) => rustix::net::connect(socket, address)?,
            Endpoint::Unix(address) => rustix::net::connect(socket, address)?,
        }
        Ok(())
    }
}

impl Source for Inner {
    fn ready(self: Rc<Self>, io: &mut Io<'_>, ready: Readiness) -> Result<()> {
        match ready.mode {
            Mode::Read => self.accept(io),
            Mode::Write => self.connected(io),
            Mode::Expedite => Ok(()),
        }
    }

    fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> Result<()> {
        let (socket, failure) = {
            let mut state = self.state.borrow_mut();
            if let Role::Listening(listening) = &state.role {
                // The back-off after running out of descriptors is over.
                let fd = listening.fd();
                state.backing_off = None;
                if state.accepting {
                    io.pause(&self.source, fd, Mode::Read, false);
                }
                return Ok(());
            }
            if !matches!(state.role, Role::Connecting { .. }) {
                return Ok(());
            }
            let Role::Connecting { socket, .. } = std::mem::replace(&mut state.role, Role::Idle)
            else {
                return Ok(());
            };
            (socket, state.failure)
        };
        io.unwatch(&self.source, socket.as_raw_fd(), Mode::Write);
        drop(socket);
        if Rc::strong_count(&self) == 1 {
            return Ok(());
        }
        let error = io::Error::from(Errno::TIMEDOUT);
        io.emit(failure, error_args("connect", &error, self.id))?;
        Ok(())
    }
}

impl Inner {
    /// Whether only the kernel's dispatch still holds this wheel.
    fn is_dropped(self: &Rc<Self>) -> bool {
        Rc::strong_count(self) == 1
    }

    fn accept(self: Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        let (success, failure) = {
            let state = self.state.borrow();
            (state.success, state.failure)
        };
        let round = self.loop_state.round(
            // Paused by the last connection's handler, say at a concurrency
            // limit; or dropped.
            || !self.is_dropped() && self.state.borrow().accepting,
            || match &self.state.borrow().role {
                Role::Listening(listening) => listening.accept(),
                _ => Err(io::Error::from(Errno::AGAIN)),
            },
            |(socket, address, port)| {
                io.emit(success, (socket, address, port, self.id.number()))
                    .map(drop)
            },
        )?;
        match round {
            Round::Done => Ok(()),
            Round::Exhausted(pause) => {
                let fd = match &self.state.borrow().role {
                    Role::Listening(listening) => listening.fd(),
                    _ => return Ok(()),
                };
                io.pause(&self.source, fd, Mode::Read, true);
                let timer = io.delay(&self.source, pause)?;
                self.state.borrow_mut().backing_off = Some(timer);
                Ok(())
            }
            Round::Failed(e) => io
                .emit(failure, error_args("accept", &e, self.id))
                .map(drop),
        }
    }

    fn connected(self: Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        let (socket, domain, timer, success, failure) = {
            let mut state = self.state.borrow_mut();
            if !matches!(state.role, Role::Connecting { .. }) {
                return Ok(());
            }
            let Role::Connecting {
                socket,
                domain,
                timer,
            } = std::mem::replace(&mut state.role, Role::Idle)
            else {
                return Ok(());
            };
            (socket, domain, timer, state.success, state.failure)
        };
        // The descriptor goes to the handler, which may watch it at once;
        // the kernel lets go of its reference as it stops watching.
        io.unwatch(&self.source, socket.as_raw_fd(), Mode::Write);
        if let Some(timer) = timer {
            io.cancel(&self.source, timer);
        }
        if self.is_dropped() {
            return Ok(());
        }
        let Ok(socket) = Rc::try_unwrap(socket) else {
            return Ok(());
        };
        let outcome = match sockopt::socket_error(&socket) {
            Ok(Ok(())) => peer(&socket, domain).map_err(|e| Failed::new("getpeername", e)),
            Ok(Err(errno)) => Err(Failed::new("connect", errno)),
            Err(e) => Err(Failed::new("getsockopt", e)),
        };
        let (address, port) = match outcome {
            Ok(peer) => peer,
            Err(failed) => {
                drop(socket);
                io.emit(failure, failed.args(self.id))?;
                return Ok(());
            }
        };
        // Hand the socket over as std makes them: blocking.
        let _ = rustix::io::ioctl_fionbio(&socket, false);
        let socket = match domain {
            Domain::Unix => Value::local(UnixStream::from(socket)),
            Domain::Inet | Domain::Inet6 => Value::local(TcpStream::from(socket)),
        };
        let args = Args::from((socket, address, port, self.id.number()));
        io.emit(success, args)?;
        Ok(())
    }
}

/// The connected peer's address and port, as the success event gives them.
fn peer(socket: &OwnedFd, domain: Domain) -> io::Result<(Value, Value)> {
    let address = rustix::net::getpeername(socket)?;
    if domain == Domain::Unix {
        return Ok((Value::Undef, Value::Undef));
    }
    let address = address
        .and_then(|a| SocketAddr::try_from(a).ok())
        .ok_or_else(|| io::Error::from(Errno::NOTCONN))?;
    Ok((
        Value::from(address.ip().to_string()),
        Value::from(address.port()),
    ))
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Its watchers and its timer go; a descriptor it handed to the
        // success event is no longer among its watchers.
        self.source.remove();
    }
}
