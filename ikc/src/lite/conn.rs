//! One connection of a lite client: the socket, its frame reader (kept
//! between requests, so bytes read past one frame are the next frame's),
//! and the server as its handshake described it.

use std::{
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::{Duration, Instant},
};

#[cfg(unix)]
use std::os::unix::net::UnixStream;

use rustix::net::{RecvFlags, SendFlags};

use super::{Endpoint, LITE_SESSION, LiteConfig, LiteError};
use crate::native::{
    ClientHandshake, Frame, FrameReader, HANDSHAKE_MAX_FRAME, HandshakeConfig, HandshakeStep, Peer,
};

/// A connected stream socket.
#[derive(Debug)]
pub(super) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// What one read brought.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fill {
    /// Bytes, fed to the reader.
    Data,
    /// The server closed its side.
    Eof,
    /// Nothing before the deadline (or, for [`Connection::fill_ready`],
    /// nothing ready now).
    Nothing,
}

/// `deadline` from now, or as far as `Instant` reaches.
pub(super) fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(u64::from(u32::MAX)))
}

impl Stream {
    /// Connects to `endpoint`, trying each address it resolves to in turn
    /// until `deadline`.
    fn connect(endpoint: &Endpoint, deadline: Instant) -> io::Result<Stream> {
        match endpoint {
            Endpoint::Tcp(addr) => {
                let mut last = None;
                for addr in addr.to_socket_addrs()? {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match TcpStream::connect_timeout(&addr, left) {
                        Ok(stream) => {
                            // Requests are small and answered one by one.
                            stream.set_nodelay(true)?;
                            return Ok(Stream::Tcp(stream));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::TimedOut, "no address answered in time")
                }))
            }
            #[cfg(unix)]
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
            #[cfg(not(unix))]
            Endpoint::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Unix sockets need a Unix system",
            )),
        }
    }

    fn set_read_timeout(&self, wait: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(wait)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(Some(wait)),
        }
    }

    fn set_write_timeout(&self, wait: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(wait)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(Some(wait)),
        }
    }

    /// Reads what is ready without waiting (`MSG_DONTWAIT`).
    fn recv_ready(&self, buf: &mut [u8]) -> io::Result<usize> {
        let got = match self {
            Stream::Tcp(s) => rustix::net::recv(s, buf, RecvFlags::DONTWAIT),
            #[cfg(unix)]
            Stream::Unix(s) => rustix::net::recv(s, buf, RecvFlags::DONTWAIT),
        };
        got.map(|(n, _)| n).map_err(io::Error::from)
    }

    /// Writes what fits now without waiting, and never raises SIGPIPE.
    fn send_ready(&self, bytes: &[u8]) -> io::Result<usize> {
        let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
        let sent = match self {
            Stream::Tcp(s) => rustix::net::send(s, bytes, flags),
            #[cfg(unix)]
            Stream::Unix(s) => rustix::net::send(s, bytes, flags),
        };
        sent.map_err(io::Error::from)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    /// Blocks up to the write timeout, and never raises SIGPIPE: a server
    /// that went away is an error to the caller, not a signal to the
    /// program.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let sent = match self {
            Stream::Tcp(s) => rustix::net::send(&*s, buf, SendFlags::NOSIGNAL),
            #[cfg(unix)]
            Stream::Unix(s) => rustix::net::send(&*s, buf, SendFlags::NOSIGNAL),
        };
        sent.map_err(io::Error::from)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads once into `buf` and feeds the bytes to `reader`, waiting until
/// `deadline` at most.
fn fill(
    stream: &mut Stream,
    reader: &mut FrameReader,
    deadline: Instant,
    buf: &mut [u8],
) -> io::Result<Fill> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Fill::Nothing);
        }
        stream.set_read_timeout(left)?;
        match stream.read(buf) {
            Ok(0) => return Ok(Fill::Eof),
            Ok(n) => {
                reader.feed(&buf[..n]);
                return Ok(Fill::Data);
            }
            // A read timeout is EAGAIN on Linux, ETIMEDOUT elsewhere; the
            // deadline decides.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// A live connection to the server, its handshake done.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) stream: Stream,
    /// Kept for the connection's life: what was read past one frame is
    /// the start of the next.
    pub(super) reader: FrameReader,
    pub(super) peer: Peer,
    /// Frames to send back (pongs, refusals of the server's calls),
    /// written before the next read.
    pub(super) out: Vec<u8>,
}

impl Connection {
    /// Connects and shakes hands, within the config's connect timeout.
    pub(super) fn open(config: &LiteConfig, kernel_id: &str) -> Result<Connection, LiteError> {
        let wait = config.connect_wait();
        let deadline = deadline_after(wait);
        let name = config.client_name();
        let mut handshake = HandshakeConfig::new(kernel_id, &name).map_err(LiteError::Config)?;
        if name != LITE_SESSION {
            // What a server knows lite clients by, whatever their names.
            handshake = handshake.alias(LITE_SESSION).map_err(LiteError::Config)?;
        }
        if let Some(key) = &config.key {
            handshake = handshake.key(key.clone());
        }
        let mut stream =
            Stream::connect(&config.endpoint, deadline).map_err(|source| LiteError::Connect {
                endpoint: config.endpoint.to_string(),
                source,
            })?;
        stream.set_write_timeout(config.timeout)?;
        let (mut machine, hello) = ClientHandshake::start(handshake)?;
        stream.write_all(&hello)?;
        let mut reader = FrameReader::new().max_frame(HANDSHAKE_MAX_FRAME);
        let mut buf = [0u8; 4096];
        loop {
            let step = match reader.next_frame() {
                Ok(Some(frame)) => machine.on_frame(frame),
                Ok(None) => {
                    match fill(&mut stream, &mut reader, deadline, &mut buf)? {
                        Fill::Data => {}
                        Fill::Eof => {
                            return Err(LiteError::Closed {
                                reason: Some("before the handshake finished".into()),
                            });
                        }
                        Fill::Nothing => {
                            return Err(LiteError::Timeout {
                                waiting_for: format!("the handshake with {}", config.endpoint),
                                after: wait,
                            });
                        }
                    }
                    continue;
                }
                Err(e) => Err(e.into()),
            };
            match step {
                Ok(HandshakeStep::Continue { send }) => stream.write_all(&send)?,
                Ok(HandshakeStep::Done { send, peer }) => {
                    stream.write_all(&send)?;
                    reader.set_max_frame(config.max_frame);
                    tracing::debug!(
                        server = peer.name(),
                        kernel_id = %peer.kernel_id,
                        endpoint = %config.endpoint,
                        "lite client connected"
                    );
                    return Ok(Connection {
                        stream,
                        reader,
                        peer,
                        out: Vec::new(),
                    });
                }
                Err(e) => {
                    if let Some(refusal) = e.refusal() {
                        // The server may be gone already; the error
                        // returned is what matters.
                        let _ = stream.write_all(&refusal);
                    }
                    return Err(LiteError::Handshake(e));
                }
            }
        }
    }

    /// Reads once, waiting until `deadline` at most.
    pub(super) fn fill(&mut self, deadline: Instant, buf: &mut [u8]) -> io::Result<Fill> {
        fill(&mut self.stream, &mut self.reader, deadline, buf)
    }

    /// Reads what is ready, without waiting.
    pub(super) fn fill_ready(&mut self, buf: &mut [u8]) -> io::Result<Fill> {
        loop {
            match self.stream.recv_ready(buf) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => {
                    self.reader.feed(&buf[..n]);
                    return Ok(Fill::Data);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Fill::Nothing),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sets how long one write may block.
    pub(super) fn set_write_timeout(&self, wait: Duration) -> io::Result<()> {
        self.stream.set_write_timeout(wait)
    }

    /// Writes a whole request (blocking, up to the write timeout).
    pub(super) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes the frames queued to send back.
    pub(super) fn flush_out(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        self.stream.write_all(&out)
    }

    /// Sends `Goodbye` if it fits in the socket's buffer now, without
    /// waiting: the connection is closed next either way.
    pub(super) fn say_goodbye(&mut self, reason: &str) {
        let mut bytes = Vec::new();
        if (Frame::Goodbye {
            reason: reason.into(),
        })
        .encode(&mut bytes)
        .is_ok()
        {
            let _ = self.stream.send_ready(&bytes);
        }
    }
}
