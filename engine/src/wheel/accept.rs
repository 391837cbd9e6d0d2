//! POE::Wheel::ListenAccept: accepting connections on a listening socket.

use std::{
    cell::Cell,
    io::ErrorKind,
    net::TcpListener,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
        unix::net::UnixListener,
    },
    rc::Rc,
};

use super::{WheelId, error_args, set_nonblocking};
use crate::{
    error::Result,
    event::Event,
    kernel::{Context, Io, Readiness, Source, SourceRef},
    reactor::Mode,
    value::Value,
};

/// Connections taken per readiness event, so a flood of them cannot hold a
/// slice (the watcher is level-triggered, so the rest come next slice).
const ACCEPT_BUDGET: usize = 64;

/// A listening socket a wheel can accept from.
pub trait Listener: AsFd {
    /// Accepts one connection: the connected socket as a local value, and
    /// the peer's address as text (`ip:port`, or a Unix path).
    ///
    /// # Errors
    ///
    /// The operating system's, including `WouldBlock` when none is waiting.
    fn accept_one(&self) -> std::io::Result<(Value, String)>;
}

impl Listener for TcpListener {
    fn accept_one(&self) -> std::io::Result<(Value, String)> {
        let (stream, peer) = self.accept()?;
        Ok((Value::local(stream), peer.to_string()))
    }
}

impl Listener for UnixListener {
    fn accept_one(&self) -> std::io::Result<(Value, String)> {
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
/// `take_local`; the address is text. Failures call the error event with
/// `("accept", errno, message, wheel ID)`. Dropping the wheel stops it.
pub struct ListenAccept {
    inner: Rc<Inner>,
}

struct Inner {
    id: WheelId,
    fd: RawFd,
    source: SourceRef,
    /// Off between `pause_accept` and `resume_accept`; checked between
    /// connections, since the watcher's pause applies only after the
    /// running handler.
    accepting: Cell<bool>,
    listener: Box<dyn Listener>,
    accept: Event,
    error: Option<Event>,
}

impl ListenAccept {
    /// Starts accepting on `listener` (already bound and listening) for the
    /// running session, calling `accept` per connection and `error`, if
    /// given, on failures.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the socket cannot be made
    /// non-blocking or watched.
    pub fn start<H: 'static>(
        cx: &mut Context<'_, H>,
        listener: impl Listener + 'static,
        accept: impl Into<Event>,
        error: Option<Event>,
    ) -> Result<ListenAccept> {
        set_nonblocking(&listener)?;
        let id = WheelId::next();
        let mut io = cx.io();
        let inner = io.add(|source| Inner {
            id,
            fd: listener.as_fd().as_raw_fd(),
            source,
            accepting: Cell::new(true),
            listener: Box::new(listener),
            accept: accept.into(),
            error,
        });
        io.watch(&inner.source, &inner.listener.as_fd(), Mode::Read)?;
        Ok(ListenAccept { inner })
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
        self.inner
            .source
            .pause_later(self.inner.fd, Mode::Read, false);
    }

    /// The listening socket.
    pub fn listener(&self) -> BorrowedFd<'_> {
        self.inner.listener.as_fd()
    }
}

impl Source for Inner {
    fn ready(self: Rc<Self>, io: &mut Io<'_>, _: Readiness) -> Result<()> {
        for _ in 0..ACCEPT_BUDGET {
            if Rc::strong_count(&self) == 1 || !self.accepting.get() {
                break;
            }
            match self.listener.accept_one() {
                Ok((socket, peer)) => {
                    io.emit(self.accept, (socket, peer, self.id.number()))?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    if let Some(event) = self.error {
                        io.emit(event, error_args("accept", &e, self.id))?;
                    }
                    break;
                }
            }
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.source.remove();
    }
}
