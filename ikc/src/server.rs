//! [`IkcServer`]: listening for peer kernels (IKC's `Server`), on TCP or a
//! Unix socket. Each connection gets a channel session on one of the
//! kernels IKC runs on, round robin, so IKC's traffic spreads over a
//! runtime's pinned cores.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::net::{UnixListener, UnixStream},
    path::PathBuf,
    rc::Rc,
};

use roe_engine::{
    Context, Duplex, Error, Kernel, ListenAccept, Result, RuntimeHandle, Session, SessionId,
};

use crate::{channel, ikc::Ikc, request::SHUTDOWN};

const ACCEPTED: &str = "roe-ikc:accepted";
const ACCEPT_FAILED: &str = "roe-ikc:accept_failed";

/// Where an [`IkcServer`] listens.
#[derive(Clone, Debug)]
enum Listen {
    Tcp(String),
    Unix(PathBuf),
}

/// Listens for peer kernels (IKC's `POE::Component::IKC::Server`).
///
/// # Examples
///
/// ```
/// use roe_engine::Kernel;
/// use roe_ikc::{Ikc, IkcConfig, IkcServer};
///
/// let ikc = Ikc::new(IkcConfig::new("Server"))?;
/// let mut kernel = Kernel::new()?;
/// ikc.start(&mut kernel)?;
/// let server = IkcServer::tcp("127.0.0.1:0").spawn(&ikc, &mut kernel)?;
/// assert_ne!(server.local_addr().unwrap().port(), 0);
/// ikc.shutdown(&mut kernel); // stops listening; the kernel ends
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct IkcServer {
    listen: Listen,
}

/// A listening [`IkcServer`]: its session and where it listens.
#[derive(Clone, Debug)]
pub struct IkcListener {
    session: SessionId,
    local_addr: Option<SocketAddr>,
    path: Option<PathBuf>,
}

impl IkcListener {
    /// The server's session (post it `shutdown` to stop listening).
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The TCP address it listens on (with the port chosen, for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The Unix socket's path.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }
}

/// The listening socket, bound before the session starts.
enum Bound {
    Tcp(TcpListener),
    Unix(UnixListener),
}

struct Server {
    ikc: Ikc,
    /// The socket, until the session starts listening on it.
    bound: Option<Bound>,
    wheel: Option<ListenAccept>,
    path: Option<PathBuf>,
}

impl IkcServer {
    /// A server on a TCP address, `ip:port` (port 0: any free port).
    pub fn tcp(addr: impl Into<String>) -> IkcServer {
        IkcServer {
            listen: Listen::Tcp(addr.into()),
        }
    }

    /// A server on a Unix socket at `path` (a stale socket file there is
    /// replaced; the file is removed when the server stops).
    pub fn unix(path: impl Into<PathBuf>) -> IkcServer {
        IkcServer {
            listen: Listen::Unix(path.into()),
        }
    }

    /// Binds and starts listening on `kernel`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the address cannot be bound.
    pub fn spawn(self, ikc: &Ikc, kernel: &mut Kernel) -> Result<IkcListener> {
        let (bound, local_addr, path) = self.bind()?;
        let session = kernel.spawn(server(ikc.clone(), bound, path.clone()))?;
        Ok(IkcListener {
            session,
            local_addr,
            path,
        })
    }

    /// [`spawn`](IkcServer::spawn) from inside a handler.
    ///
    /// # Errors
    ///
    /// As [`spawn`](IkcServer::spawn).
    pub fn spawn_in<H: 'static>(self, ikc: &Ikc, cx: &mut Context<'_, H>) -> Result<IkcListener> {
        let (bound, local_addr, path) = self.bind()?;
        let session = cx.spawn(server(ikc.clone(), bound, path.clone()))?;
        Ok(IkcListener {
            session,
            local_addr,
            path,
        })
    }

    fn bind(self) -> Result<(Bound, Option<SocketAddr>, Option<PathBuf>)> {
        match self.listen {
            Listen::Tcp(addr) => {
                let listener = TcpListener::bind(addr.as_str())?;
                let local_addr = listener.local_addr()?;
                Ok((Bound::Tcp(listener), Some(local_addr), None))
            }
            Listen::Unix(path) => {
                if std::fs::symlink_metadata(&path)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                {
                    std::fs::remove_file(&path)?;
                }
                let listener = UnixListener::bind(&path)?;
                Ok((Bound::Unix(listener), None, Some(path)))
            }
        }
    }
}

fn server(ikc: Ikc, bound: Bound, path: Option<PathBuf>) -> Session<Server> {
    Session::new(Server {
        ikc,
        bound: Some(bound),
        wheel: None,
        path,
    })
    .on("_start", move |cx, _| {
        let me = cx.session();
        if !cx.heap.ikc.join(me) {
            return Ok(());
        }
        let wheel = match cx.heap.bound.take() {
            Some(Bound::Tcp(listener)) => ListenAccept::builder(listener, ACCEPTED),
            Some(Bound::Unix(listener)) => ListenAccept::builder(listener, ACCEPTED),
            None => return Ok(()),
        };
        cx.heap.wheel = Some(wheel.error(ACCEPT_FAILED).start(cx)?);
        Ok::<_, Error>(())
    })
    .on(ACCEPTED, |cx, mut args| {
        let label = args[1].to_string();
        let socket = args.take(0);
        let stream: Socket = match socket.take_local::<TcpStream>() {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                cx.heap.ikc.keep_alive(&tcp);
                Socket::Tcp(tcp)
            }
            Err(other) => Socket::Unix(other.into_value().take_local::<UnixStream>()?),
        };
        hand_over(cx, stream, label)
    })
    .on(ACCEPT_FAILED, |cx, args| {
        // The wheel keeps listening after a failed accept (it backs off
        // when out of descriptors); this is for the log.
        tracing::warn!(server = %cx.session(), "IKC accept: {}", args[2]);
    })
    .on(SHUTDOWN, stop)
    .on("shutdown", stop)
    .on("_stop", |cx, _| {
        let me = cx.session();
        cx.heap.ikc.leave(me);
        if let Some(path) = cx.heap.path.take() {
            let _ = std::fs::remove_file(path);
        }
    })
}

fn stop(cx: &mut Context<'_, Server>, _: roe_engine::Args) {
    cx.heap.wheel = None;
    let me = cx.session();
    cx.heap.ikc.leave(me);
}

/// An accepted socket, on its way to the kernel that will hold it.
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn into_duplex(self) -> std::io::Result<Rc<dyn Duplex>> {
        Ok(match self {
            Socket::Tcp(tcp) => {
                tcp.set_nonblocking(true)?;
                Rc::new(tcp)
            }
            Socket::Unix(unix) => {
                unix.set_nonblocking(true)?;
                Rc::new(unix)
            }
        })
    }
}

/// Gives the connection a channel on the next kernel in turn.
fn hand_over(cx: &mut Context<'_, Server>, socket: Socket, label: String) -> Result<()> {
    let ikc = cx.heap.ikc.clone();
    let here = cx.kernel_id();
    let there = ikc.next_kernel().unwrap_or(here);
    if there != here
        && let Some(runtime) = RuntimeHandle::current()
    {
        let handed = runtime.spawn_on(there, move |kernel| {
            let spawned = socket
                .into_duplex()
                .map_err(Error::from)
                .and_then(|stream| kernel.spawn(channel::accepted(ikc, stream, label)));
            if let Err(error) = spawned {
                tracing::warn!("IKC: a connection could not start: {error}");
            }
        });
        if let Err(error) = handed {
            tracing::warn!("IKC: a connection could not be handed to kernel {there}: {error}");
        }
        return Ok(());
    }
    let stream = socket.into_duplex()?;
    cx.spawn(channel::accepted(ikc, stream, label)).map(drop)
}
