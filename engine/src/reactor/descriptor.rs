//! `Descriptor`: what an I/O source shares with the kernel to watch.

use std::{
    fs::File,
    io::{PipeReader, PipeWriter},
    net::{TcpListener, TcpStream, UdpSocket},
    os::{
        fd::{AsFd, OwnedFd},
        unix::net::{UnixDatagram, UnixListener, UnixStream},
    },
    process::{ChildStderr, ChildStdin, ChildStdout},
};

mod sealed {
    pub trait Sealed {}
}

/// A standard type that owns one open descriptor for as long as it lives.
///
/// An I/O source keeps its descriptor in an `Rc` and gives the kernel a
/// clone of that `Rc` to watch it ([`Io::watch`](crate::Io::watch)): the
/// kernel holds it until it stops watching, so the descriptor can never
/// close while the kernel's poller still has it, and no duplicate
/// descriptor is needed (a connection costs one). The trait is sealed:
/// only types whose descriptor cannot be closed or swapped while they live
/// implement it, which is what makes sharing it sound.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use roe_engine::Descriptor;
///
/// fn watchable(_: &Rc<impl Descriptor>) {}
/// let (reader, _writer) = std::io::pipe()?;
/// watchable(&Rc::new(reader));
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Descriptor: AsFd + sealed::Sealed {}

macro_rules! descriptors {
    ($($t:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Descriptor for $t {}
    )*};
}

descriptors!(
    OwnedFd,
    File,
    TcpStream,
    TcpListener,
    UdpSocket,
    UnixStream,
    UnixListener,
    UnixDatagram,
    PipeReader,
    PipeWriter,
    ChildStdin,
    ChildStdout,
    ChildStderr,
);
