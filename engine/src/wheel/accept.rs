//! POE::Wheel::ListenAccept: accepting connections on a listening socket.

use std::{
    cell::Cell,
    io,
    net::TcpListener,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
        unix::net::UnixListener,
    },
    rc::Rc,
};

use super::{
    WheelId,
    accepting::{Accepting, Round},
    error_args, set_nonblocking,
};
use crate::{
    error::Result,
    event::Event,
    id::TimerId,
    kernel::{Context, Io, Readiness, Source, SourceRef},
    reactor::{Descriptor, Mode},
    value::Value,
};

/// A listening socket a wheel can accept from: `TcpListener` and
/// `UnixListener`.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use roe_engine::Listener;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let client = TcpStream::connect(listener.local_addr()?)?;
/// let (socket, peer) = listener.accept_one()?;
/// assert_eq!(peer, client.local_addr()?.to_string());
/// assert!(socket.take_local::<TcpStream>().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Listener: Descriptor {
    /// Accepts one connection: the connected socket as a local value, and
    /// the peer's address as text (`ip:port`, or a Unix path).
    ///
    /// # Errors
    ///
    /// The operating system's, including `WouldBlock` when none is waiting.
    fn accept_one(&self) -> io::Result<(Value, String)>;
}

impl Listener for TcpListener {
    fn accept_one(&self) -> io::Result<(Value, String)> {
        let (stream, peer) = self.accept()?;
        Ok((Value::local(stream), peer.to_string()))
    }
}

impl Listener for UnixListener {
    fn accept_one(&self) -> io::Result<(Value, String)> {
        let (stream, peer) = self.accept()?;
        let path = peer
            .as_pathname()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok((Value::local(stream), path))
    }
}

/// Accepts connections on a listening socket (POE::Wheel::ListenAccept).
///
/// Each connection calls the accept event with `(socket, peer address,
/// wheel ID)`: the socket is a [`Value::local`] holding the
/// `std::net::TcpStream` (or `UnixStream`), which the handler takes with
/// `take_local`; the address is text. The listener's own failures call the
/// error event with `("accept", errno, message, wheel ID)`. A peer that
/// gave up while queued is skipped, and running out of descriptors pauses
/// accepting for a while instead of failing (see the wheel module's
/// accept loop). Dropping the wheel stops it.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use roe_engine::{Kernel, ListenAccept, Session};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let address = listener.local_addr()?;
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(None::<ListenAccept>)
///         .on_start(move |cx, _| {
///             let wheel = ListenAccept::builder(listener, "accepted").error("failed").start(cx)?;
///             *cx.heap = Some(wheel);
///             std::thread::spawn(move || TcpStream::connect(address));
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("accepted", |cx, mut args| {
///             let socket: TcpStream = args.take(0).take_local()?;
///             assert_eq!(socket.peer_addr()?.to_string(), args[1].to_string());
///             *cx.heap = None; // one is enough: stop listening
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("failed", |_, _| {}),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct ListenAccept {
    inner: Rc<Inner>,
}

/// Builds a [`ListenAccept`]: the listener, the accept event, and the
/// error event.
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixListener;
/// use roe_engine::{Kernel, ListenAccept, Session};
///
/// let path = std::env::temp_dir().join(format!("roe-accept-doc-{}", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on_start(move |cx, _| {
///     let wheel = ListenAccept::builder(listener, "accepted").error("failed").start(cx)?;
///     assert!(wheel.id().number() > 0);
///     Ok::<_, roe_engine::Error>(()) // dropping the wheel stops listening
/// }))?;
/// kernel.run()?;
/// std::fs::remove_file(path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ListenAcceptBuilder {
    listener: Rc<dyn Listener>,
    accept: Event,
    error: Option<Event>,
}

struct Inner {
    id: WheelId,
    fd: RawFd,
    source: SourceRef,
    /// Off between `pause_accept` and `resume_accept`; checked between
    /// connections, since the watcher's pause applies only after the
    /// running handler.
    accepting: Cell<bool>,
    /// Paused for lack of descriptors, until this timer.
    backing_off: Cell<Option<TimerId>>,
    loop_state: Accepting,
    listener: Rc<dyn Listener>,
    accept: Event,
    error: Option<Event>,
}

impl ListenAccept {
    /// Starts building a wheel that accepts on `listener` (already bound
    /// and listening) and calls `accept` per connection (POE's `Handle`
    /// and `AcceptEvent`).
    pub fn builder(
        listener: impl Listener + 'static,
        accept: impl Into<Event>,
    ) -> ListenAcceptBuilder {
        ListenAcceptBuilder {
            listener: Rc::new(listener),
            accept: accept.into(),
            error: None,
        }
    }

    /// This wheel's ID.
    pub fn id(&self) -> WheelId {
        self.inner.id
    }

    /// Stops accepting for now, keeping the watcher (POE's `pause_accept`).
    pub fn pause_accept(&self) {
        self.inner.accepting.set(false);
        self.inner
            .source
            .pause_later(self.inner.fd, Mode::Read, true);
    }

    /// Accepts again (POE's `resume_accept`).
    pub fn resume_accept(&self) {
        self.inner.accepting.set(true);
        if self.inner.backing_off.get().is_none() {
            self.inner
                .source
                .pause_later(self.inner.fd, Mode::Read, false);
        }
    }

    /// The listening socket.
    pub fn listener(&self) -> BorrowedFd<'_> {
        self.inner.listener.as_fd()
    }
}

impl ListenAcceptBuilder {
    /// The event called when the listener fails (POE's `ErrorEvent`):
    /// `("accept", errno, message, wheel ID)`.
    pub fn error(mut self, event: impl Into<Event>) -> ListenAcceptBuilder {
        self.error = Some(event.into());
        self
    }

    /// Makes the socket non-blocking and starts accepting for the running
    /// session.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the socket cannot be made
    /// non-blocking or watched.
    pub fn start<H: 'static>(self, cx: &mut Context<'_, H>) -> Result<ListenAccept> {
        set_nonblocking(&self.listener.as_fd())?;
        let id = WheelId::next();
        let listener = self.listener;
        let mut io = cx.io();
        let inner = io.add(|source| Inner {
            id,
            fd: listener.as_fd().as_raw_fd(),
            source,
            accepting: Cell::new(true),
            backing_off: Cell::new(None),
            loop_state: Accepting::default(),
            listener: Rc::clone(&listener),
            accept: self.accept,
            error: self.error,
        });
        io.watch(&inner.source, listener, Mode::Read)?;
        Ok(ListenAccept { inner })
    }
}

impl Source for Inner {
    fn ready(self: Rc<Self>, io: &mut Io<'_>, _: Readiness) -> Result<()> {
        let round = self.loop_state.round(
            || Rc::strong_count(&self) > 1 && self.accepting.get(),
            || self.listener.accept_one(),
            |(socket, peer)| {
                io.emit(self.accept, (socket, peer, self.id.number()))
                    .map(drop)
            },
        )?;
        match round {
            Round::Done => Ok(()),
            Round::Exhausted(pause) => {
                io.pause(&self.source, self.fd, Mode::Read, true);
                self.backing_off.set(Some(io.delay(&self.source, pause)?));
                Ok(())
            }
            Round::Failed(e) => match self.error {
                Some(event) => io.emit(event, error_args("accept", &e, self.id)).map(drop),
                None => Ok(()),
            },
        }
    }

    /// The back-off is over: accept again, unless paused meanwhile.
    fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> Result<()> {
        self.backing_off.set(None);
        if self.accepting.get() {
            io.pause(&self.source, self.fd, Mode::Read, false);
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.source.remove();
    }
}
