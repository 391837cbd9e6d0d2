//! The one read loop and the one write buffer every wheel uses.
//!
//! Reading goes through one buffer per thread: a wheel reads what its
//! descriptor has into it and feeds its filter from there, so a stream
//! holds no read buffer of its own while it is idle (its filter keeps only
//! an incomplete record). Writing goes through an [`Outbox`] of chunks that
//! are freed as they are written, so what a stream holds tracks the bytes
//! still waiting, not the most it ever had.

use std::{
    cell::RefCell,
    collections::VecDeque,
    fs::File,
    io::{self, ErrorKind, PipeReader, PipeWriter},
    net::TcpStream,
    os::{fd::OwnedFd, unix::net::UnixStream},
    process::{ChildStderr, ChildStdin, ChildStdout},
};

use rustix::net::{RecvFlags, SendFlags};

use crate::reactor::Descriptor;

/// Bytes the thread's read buffer holds: the most one `read` takes.
const READ_CHUNK: usize = 64 * 1024;

/// Bytes an [`Outbox`] chunk holds before the next encoding starts a new
/// one; a written chunk is freed.
const OUT_CHUNK: usize = 16 * 1024;

thread_local! {
    /// The thread's read buffer, shared by every wheel on it (a kernel
    /// runs one wheel at a time).
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A descriptor a wheel reads and writes: a standard socket, pipe, file or
/// child process stream. Sockets are written without raising `SIGPIPE`
/// (a peer that went away is an `EPIPE` error, as POE's wheels see it).
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use roe_engine::Duplex;
///
/// let (a, b) = UnixStream::pair()?;
/// assert_eq!(a.write_some(b"hi")?, 2);
/// let mut buf = [0; 8];
/// assert_eq!(b.read_some(&mut buf)?, 2);
/// drop(b);
/// assert!(a.write_some(b"gone").is_err()); // EPIPE, and no SIGPIPE
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Duplex: Descriptor {
    /// Reads into `buf`; `Ok(0)` is the end of the stream.
    ///
    /// # Errors
    ///
    /// The operating system's, `WouldBlock` when nothing is there yet.
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(rustix::io::read(self, buf)?)
    }

    /// Writes from `buf`; returns how much was taken.
    ///
    /// # Errors
    ///
    /// The operating system's, `WouldBlock` when the descriptor is full.
    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::io::write(self, buf)?)
    }
}

/// A socket's reads and writes: `recv`, and `send` without `SIGPIPE`.
macro_rules! sockets {
    ($($t:ty),*) => {$(
        impl Duplex for $t {
            fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
                Ok(rustix::net::recv(self, buf, RecvFlags::empty())?.0)
            }

            fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
                Ok(rustix::net::send(self, buf, SendFlags::NOSIGNAL)?)
            }
        }
    )*};
}

sockets!(TcpStream, UnixStream);

impl Duplex for File {}
impl Duplex for OwnedFd {}
impl Duplex for PipeReader {}
impl Duplex for PipeWriter {}
impl Duplex for ChildStdin {}
impl Duplex for ChildStdout {}
impl Duplex for ChildStderr {}

/// How a burst of reading ended.
#[derive(Debug)]
pub enum Filled {
    /// The descriptor would block, or the budget ran out (level-triggered
    /// readiness brings the rest).
    More,
    /// The end of the stream.
    Eof,
    /// A read failed.
    Failed(io::Error),
}

/// Reads what `stream` has now, up to about `budget` bytes, handing each
/// chunk to `feed` (a filter's `feed`, say): the one read loop of every
/// wheel, for sources of your own too. It reads through one buffer per
/// thread, so a stream holds no read buffer of its own between reads.
///
/// # Examples
///
/// ```
/// use std::{io::Write, os::unix::net::UnixStream};
/// use roe_engine::stream::{Filled, fill};
///
/// let (ours, mut theirs) = UnixStream::pair()?;
/// ours.set_nonblocking(true)?;
/// theirs.write_all(b"hello")?;
/// let mut got = Vec::new();
/// assert!(matches!(fill(&ours, 1 << 20, &mut |bytes| got.extend_from_slice(bytes)), Filled::More));
/// drop(theirs);
/// assert!(matches!(fill(&ours, 1 << 20, &mut |bytes| got.extend_from_slice(bytes)), Filled::Eof));
/// assert_eq!(got, b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn fill(stream: &dyn Duplex, budget: usize, feed: &mut dyn FnMut(&[u8])) -> Filled {
    READ_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.len() < READ_CHUNK {
            buffer.resize(READ_CHUNK, 0);
        }
        let mut total = 0;
        while total < budget {
            let want = READ_CHUNK.min(budget - total);
            match stream.read_some(&mut buffer[..want]) {
                Ok(0) => return Filled::Eof,
                Ok(n) => {
                    feed(&buffer[..n]);
                    total += n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Filled::More,
                Err(e) => return Filled::Failed(e),
            }
        }
        Filled::More
    })
}

/// Encoded output waiting to be written, in chunks freed as they go out,
/// so what it holds follows the bytes still waiting: the one write buffer
/// of every wheel, for sources of your own too.
///
/// # Examples
///
/// ```
/// use std::{io::Read, os::unix::net::UnixStream};
/// use roe_engine::stream::Outbox;
///
/// let (ours, mut theirs) = UnixStream::pair()?;
/// ours.set_nonblocking(true)?;
/// let mut outbox = Outbox::default();
/// outbox.push(|buf| {
///     buf.extend_from_slice(b"ping");
///     Ok::<(), std::convert::Infallible>(())
/// }).unwrap();
/// assert_eq!(outbox.waiting(), 4);
/// assert!(outbox.write_to(&ours)?); // all of it went
/// let mut got = [0; 4];
/// theirs.read_exact(&mut got)?;
/// assert_eq!(&got, b"ping");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Default)]
pub struct Outbox {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already written.
    head: usize,
    waiting: usize,
    /// The size of the last encoding: the next one likely has about as
    /// many bytes, so a chunk without that much room is not grown for it.
    last_size: usize,
}

impl Outbox {
    /// Bytes waiting to be written.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Appends the bytes `encode` writes into the buffer it is given (a
    /// filter's `encode`); nothing is kept if it fails.
    pub fn push<E>(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        let expected = self.last_size.max(1);
        if self
            .chunks
            .back()
            .is_none_or(|last| last.capacity() - last.len() < expected)
        {
            self.chunks
                .push_back(Vec::with_capacity(OUT_CHUNK.max(expected)));
        }
        let last = self.chunks.back_mut().expect("a chunk was just ensured");
        let before = last.len();
        match encode(last) {
            Ok(()) => {
                self.last_size = last.len() - before;
                self.waiting += self.last_size;
                Ok(())
            }
            Err(e) => {
                last.truncate(before);
                Err(e)
            }
        }
    }

    /// Writes until nothing waits or `stream` would block: `true` when
    /// nothing waits.
    ///
    /// # Errors
    ///
    /// A write that failed (`WriteZero` for a stream that took nothing);
    /// what it did not take still waits.
    pub fn write_to(&mut self, stream: &dyn Duplex) -> io::Result<bool> {
        while let Some(front) = self.chunks.front() {
            if self.head == front.len() {
                self.chunks.pop_front();
                self.head = 0;
                continue;
            }
            match stream.write_some(&front[self.head..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.head += n;
                    self.waiting -= n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Drops everything waiting.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.head = 0;
        self.waiting = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn written_chunks_are_freed_and_order_is_kept() {
        let (mut reader, writer) = std::io::pipe().unwrap();
        rustix::io::ioctl_fionbio(&writer, true).unwrap();
        let mut outbox = Outbox::default();
        for n in 0..100u32 {
            outbox
                .push(|buf| {
                    buf.extend_from_slice(&[n as u8; 1000]);
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        assert_eq!(outbox.waiting(), 100_000);
        // A pipe takes 64 KiB: the rest waits, and the chunks written are gone.
        assert!(!outbox.write_to(&writer).unwrap());
        let waiting = outbox.waiting();
        assert!(waiting < 100_000 && waiting > 0);
        let held: usize = outbox.chunks.iter().map(Vec::capacity).sum();
        // A chunk grows past its size only for the encoding that fills it.
        assert!(
            held <= 2 * (waiting + OUT_CHUNK),
            "{held} held for {waiting} waiting"
        );
        let mut got = vec![0; 100_000 - waiting];
        reader.read_exact(&mut got).unwrap();
        assert!(outbox.write_to(&writer).unwrap());
        let mut rest = vec![0; waiting];
        reader.read_exact(&mut rest).unwrap();
        got.extend(rest);
        let want: Vec<u8> = (0..100u32).flat_map(|n| [n as u8; 1000]).collect();
        assert_eq!(got, want);
        assert_eq!(outbox.waiting(), 0);
    }

    #[test]
    fn a_refused_encoding_leaves_nothing() {
        let mut outbox = Outbox::default();
        let refused = outbox.push(|buf| {
            buf.extend_from_slice(b"half");
            Err("no")
        });
        assert_eq!(refused, Err("no"));
        assert_eq!(outbox.waiting(), 0);
    }

    #[test]
    fn fill_reads_within_the_budget_and_sees_the_end() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        rustix::io::ioctl_fionbio(&reader, true).unwrap();
        std::io::Write::write_all(&mut writer, &[7; 10]).unwrap();
        let mut got = Vec::new();
        assert!(matches!(
            fill(&reader, 4, &mut |bytes| got.extend_from_slice(bytes)),
            Filled::More
        ));
        assert_eq!(got.len(), 4);
        drop(writer);
        assert!(matches!(
            fill(&reader, 100, &mut |bytes| got.extend_from_slice(bytes)),
            Filled::Eof
        ));
        assert_eq!(got, [7; 10]);
    }
}
