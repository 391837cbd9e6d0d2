//! [`Conn`]: one blocking connection to a registry port, read as the
//! protocol's lines, every wait bounded by a deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::addr::RegistryAddr;
use crate::client::error::ClientError;
use crate::line::{LineReader, Port};

/// Bytes read at once.
const CHUNK: usize = 16 * 1024;

/// What a look at the connection found, without waiting.
#[derive(Debug)]
pub(super) enum Polled {
    /// A line (without its newline).
    Line(Vec<u8>),
    /// Nothing yet.
    Nothing,
    /// The registry closed the connection.
    Eof,
}

/// A connection to one port.
#[derive(Debug)]
pub(super) struct Conn {
    stream: TcpStream,
    port: Port,
    reader: LineReader,
    /// Bytes read and not yet split, from `start`.
    buf: Vec<u8>,
    start: usize,
    eof: bool,
}

impl Conn {
    /// Connects to `port` of `addr`, each address the host resolves to in
    /// turn, each attempt within `timeout`.
    pub fn open(addr: &RegistryAddr, port: Port, timeout: Duration) -> Result<Conn, ClientError> {
        let target = addr.connect_to(port);
        let failed = |error| ClientError::Connect {
            port,
            addr: target.clone(),
            error,
        };
        let mut last = None;
        for socket in target.as_str().to_socket_addrs().map_err(failed)? {
            match TcpStream::connect_timeout(&socket, timeout.max(Duration::from_millis(1))) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Conn {
                        stream,
                        port,
                        reader: LineReader::new(),
                        buf: Vec::new(),
                        start: 0,
                        eof: false,
                    });
                }
                Err(error) => last = Some(error),
            }
        }
        Err(failed(last.unwrap_or_else(|| {
            std::io::Error::new(ErrorKind::NotFound, "the host has no address")
        })))
    }

    pub fn port(&self) -> Port {
        self.port
    }

    /// Sends `line` and its newline, within `timeout`.
    pub fn send(&mut self, line: &str, timeout: Duration) -> Result<(), ClientError> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let _ = self
            .stream
            .set_write_timeout(Some(timeout.max(Duration::from_millis(1))));
        self.stream
            .write_all(&bytes)
            .map_err(|error| ClientError::io(self.port, error, timeout))
    }

    /// The next line, waiting until `deadline` (`waited` is what a timeout
    /// reports); `None` at the end of the stream.
    pub fn line(
        &mut self,
        deadline: Instant,
        waited: Duration,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        loop {
            if let Some(line) = self.split()? {
                return Ok(Some(line));
            }
            if self.eof {
                return Ok(self.reader.finish().map(<[u8]>::to_vec));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout {
                    port: self.port,
                    waited,
                });
            }
            let _ = self.stream.set_read_timeout(Some(left));
            self.fill()
                .map_err(|error| ClientError::io(self.port, error, waited))?;
        }
    }

    /// A line that has arrived, or what else there is, without waiting.
    pub fn poll(&mut self) -> Result<Polled, ClientError> {
        if let Some(line) = self.split()? {
            return Ok(Polled::Line(line));
        }
        if !self.eof {
            self.stream
                .set_nonblocking(true)
                .map_err(|error| ClientError::Io {
                    port: self.port,
                    error,
                })?;
            let filled = self.fill();
            let _ = self.stream.set_nonblocking(false);
            match filled {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(Polled::Nothing),
                Err(error) => {
                    return Err(ClientError::Io {
                        port: self.port,
                        error,
                    });
                }
            }
            if let Some(line) = self.split()? {
                return Ok(Polled::Line(line));
            }
        }
        if self.eof {
            return Ok(match self.reader.finish() {
                Some(line) => Polled::Line(line.to_vec()),
                None => Polled::Eof,
            });
        }
        Ok(Polled::Nothing)
    }

    /// Closes our side, then waits until `deadline` for the registry to
    /// close its own (so that what closing does has been done); returns
    /// the lines it sent meanwhile.
    pub fn finish(
        mut self,
        deadline: Instant,
        waited: Duration,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let _ = self.stream.shutdown(Shutdown::Write);
        let mut lines = Vec::new();
        while let Some(line) = self.line(deadline, waited)? {
            // A client that sent nothing more is owed little; a registry
            // that goes on is cut off at the deadline.
            if lines.len() < 16 {
                lines.push(line);
            }
        }
        Ok(lines)
    }

    /// Closes the connection at once.
    pub fn abort(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Splits the next line off what was read.
    fn split(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        let mut rest = &self.buf[self.start..];
        let before = rest.len();
        let line = self
            .reader
            .read_line(&mut rest)
            .map_err(|error| ClientError::BadAnswer {
                port: self.port,
                error,
            })?
            .map(<[u8]>::to_vec);
        let taken = before - rest.len();
        self.start += taken;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(line)
    }

    /// Reads what the socket has (once).
    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0; CHUNK];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}
