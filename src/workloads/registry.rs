//! The registry: registrations, finds and the event port's fan-out, each
//! against a [`RegistryServer`] on a kernel thread of its own (as
//! [`RegistryServer::start`] runs one) on 127.0.0.1, any free ports.
//!
//! The client side is plain `std::net` on the calling thread, as registry(4)'s
//! protocol has it: a registration is a connection to the new port that
//! sends one line and closes (the service goes with the connection); a find
//! is a connection to the find port that sends one query and reads the
//! answer to its end; a watcher is a connection to the event port that asks
//! for the detailed watch. Where many connections are open at once, the
//! client waits on them with one epoll descriptor.
//!
//! - [`register`]: `n` registrations, at most [`WINDOW`] not yet seen by
//!   the server; a watcher of the event port counts the revisions, which
//!   must come to exactly two per registration (its registration and its
//!   removal), so each was accepted.
//! - [`find`]: `n` finds, [`WINDOW`] at a time, in a store of [`SERVICES`]
//!   persistent services, each query matching [`MATCHES`] of them; every
//!   answer is checked.
//! - [`fan_out`]: `n` registrations, one at a time, each timed from its
//!   line's write until the last of [`WATCHERS`] detailed watchers has
//!   read its `add` line.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    os::fd::AsFd,
    sync::{Mutex, mpsc},
    time::{Duration, Instant},
};

use roe_registry::{Port, READY, RegistryAddr, RegistryServer, ServerConfig};
use rustix::event::epoll;
use tracing::subscriber::NoSubscriber;

use crate::Runtime;

use super::{Measured, Outcome};

/// Registrations or finds the client keeps in flight.
pub const WINDOW: usize = 64;
/// The services in the store [`find`] queries.
pub const SERVICES: usize = 1_000;
/// The services each of [`find`]'s queries matches.
pub const MATCHES: usize = 4;
/// The event port's watchers in [`fan_out`].
pub const WATCHERS: usize = 100;

/// How long the client waits for the server to make any progress before
/// it calls the run failed.
const STALL: Duration = Duration::from_secs(10);

/// `n` registrations over loopback: each a new connection to the new port
/// that sends one registration line and closes, so that the service goes
/// again; at most [`WINDOW`] of them not yet seen by the server (the
/// listen queue is not a buffer to fill). Timed from the first connection
/// until the event port's counter says the server has registered and
/// removed every one.
///
/// # Errors
///
/// No registration asked for, a server that cannot start, a failed
/// connection, or a revision other than two per registration (a
/// registration refused, or lost).
pub fn register(n: u64) -> Outcome<Measured> {
    if n == 0 {
        return Err("registrations: none asked for".into());
    }
    let server = start()?;
    let new = socket_addr(server.addr(), Port::New)?;
    let mut counter = Counter::connect(server.addr())?;
    let started = Instant::now();
    send_registrations(new, &mut counter, n, 2, |i| {
        format!("bench-reg-{i} bench register n {i}\n")
    })?;
    let elapsed = started.elapsed();
    let left = find_lines(server.addr(), "bench register")?;
    if !left.is_empty() {
        return Err(format!("{} registrations outlived their connections", left.len()).into());
    }
    server.stop()?;
    Ok(Measured::new(n, elapsed))
}

/// `n` finds over loopback, [`WINDOW`] connections at a time: each a new
/// connection to the find port that sends one query (`kind k<j>`) and
/// reads the answer until the server closes. The store holds [`SERVICES`]
/// persistent services, registered first and not timed; every query
/// matches [`MATCHES`] of them, and every answer is checked to be those.
///
/// # Errors
///
/// No find asked for, a server that cannot start, a failed connection, or
/// an answer that is not the [`MATCHES`] services of its query.
pub fn find(n: u64) -> Outcome<Measured> {
    if n == 0 {
        return Err("finds: none asked for".into());
    }
    let server = start()?;
    let new = socket_addr(server.addr(), Port::New)?;
    let target = socket_addr(server.addr(), Port::Find)?;
    let mut counter = Counter::connect(server.addr())?;
    send_registrations(new, &mut counter, SERVICES as u64, 1, |i| {
        format!(
            "svc-{i} kind {} addr tcp!10.1.0.1!{} persist 1\n",
            kind(i),
            10_000 + i
        )
    })?;
    let kinds = (SERVICES / MATCHES) as u64;
    let mut poll = Poll::new(WINDOW)?;
    let mut slots: Vec<Option<Finding>> = (0..WINDOW).map(|_| None).collect();
    let started = Instant::now();
    let (mut begun, mut done) = (0u64, 0u64);
    while begun < n.min(WINDOW as u64) {
        let slot = begun as usize;
        slots[slot] = Some(Finding::start(target, begun % kinds, &poll, slot)?);
        begun += 1;
    }
    while done < n {
        for slot in poll.wait()? {
            let finding = slots[slot].as_mut().ok_or("an event for an idle slot")?;
            if !finding.read()? {
                continue;
            }
            let finding = slots[slot].take().ok_or("a slot emptied twice")?;
            finding.check()?;
            done += 1;
            if begun < n {
                slots[slot] = Some(Finding::start(target, begun % kinds, &poll, slot)?);
                begun += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    server.stop()?;
    Ok(Measured::new(n, elapsed))
}

/// `n` registrations, one at a time, each with [`WATCHERS`] connections
/// to the event port watching (`watch bench fanout`): each is timed from
/// the write of its line (its connection already open) until the last
/// watcher has read its `add` line. The registration then closes, and
/// every watcher reads its `remove` line before the next, untimed.
///
/// # Errors
///
/// No registration asked for, a server that cannot start, a failed
/// connection, or a watcher that does not hear of a registration.
pub fn fan_out(n: u64) -> Outcome<Measured> {
    if n == 0 {
        return Err("fan-out: no registration asked for".into());
    }
    let server = start()?;
    let new = socket_addr(server.addr(), Port::New)?;
    let mut watchers = Watchers::connect(server.addr(), WATCHERS, b"watch bench fanout\n")?;
    let mut latencies = Vec::with_capacity(usize::try_from(n)?);
    let started = Instant::now();
    for i in 0..n {
        let name = format!("fan-{i}");
        let mut registration = TcpStream::connect(new)?;
        let line = format!("{name} bench fanout n {i}\n");
        let sent = Instant::now();
        registration.write_all(line.as_bytes())?;
        let last = watchers.wait_for(format!(" add {name} ").as_bytes())?;
        latencies.push(last - sent);
        drop(registration);
        watchers.wait_for(format!(" remove {name} ").as_bytes())?;
    }
    let elapsed = started.elapsed();
    server.stop()?;
    Ok(Measured::new(n, elapsed).with_latencies(latencies))
}

/// A registry server on a kernel thread of its own, on 127.0.0.1 and any
/// free ports, as [`RegistryServer::start`] runs one, but silent: its
/// `listening` log line is for operators, and `roe bench`'s output is
/// its result lines alone. Dropping it stops the server.
struct Server {
    runtime: Option<Runtime>,
    addr: RegistryAddr,
}

fn start() -> Outcome<Server> {
    let config = ServerConfig::default().addr("127.0.0.1:0,0,0".parse()?);
    let server = Mutex::new(Some(RegistryServer::new(config)));
    let (started_tx, started) = mpsc::channel();
    let runtime = Runtime::builder()
        .kernels(1)
        .pin(false)
        .start(move |kernel| {
            // For the kernel thread's whole life: the guard is never dropped.
            std::mem::forget(tracing::subscriber::set_default(NoSubscriber::default()));
            if let Some(server) = server.lock().ok().and_then(|mut server| server.take()) {
                let listener = server.spawn(kernel);
                let _ = started_tx.send(listener.map(|l| l.addr().clone()));
            }
            Ok(())
        })?;
    let mut server = Server {
        runtime: Some(runtime),
        addr: RegistryAddr::default(),
    };
    server.addr = started
        .recv()
        .map_err(|_| "the registry's kernel did not start")??;
    Ok(server)
}

impl Server {
    fn addr(&self) -> &RegistryAddr {
        &self.addr
    }

    /// Stops the server and waits for its thread.
    fn stop(mut self) -> Outcome<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Outcome<()> {
        if let Some(runtime) = self.runtime.take() {
            runtime.handle().shutdown();
            runtime.join()?;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn socket_addr(addr: &RegistryAddr, port: Port) -> Outcome<SocketAddr> {
    Ok(addr.connect_to(port).parse()?)
}

/// The kind of service `i` of [`find`]'s store: [`MATCHES`] services
/// share each.
fn kind(i: u64) -> String {
    format!("k{}", i % (SERVICES / MATCHES) as u64)
}

/// Registers `n` services, each on a connection of its own that sends
/// `line(i)` and closes, with at most [`WINDOW`] not yet counted by the
/// server; returns once the counter reaches `changes` revisions per
/// registration, and checks it went no further.
fn send_registrations(
    new: SocketAddr,
    counter: &mut Counter,
    n: u64,
    changes: u64,
    line: impl Fn(u64) -> String,
) -> Outcome<()> {
    let base = counter.revision;
    let done = |counter: &Counter| (counter.revision - base) / changes;
    for i in 0..n {
        while i - done(counter) >= WINDOW as u64 {
            counter.next()?;
        }
        let mut stream = TcpStream::connect(new)?;
        stream.write_all(line(i).as_bytes())?;
    }
    while counter.revision - base < n * changes {
        counter.next()?;
    }
    if counter.revision - base != n * changes {
        return Err(format!(
            "{n} registrations made {} changes, not {}",
            counter.revision - base,
            n * changes
        )
        .into());
    }
    Ok(())
}

/// A find's answer, as lines.
fn find_lines(addr: &RegistryAddr, query: &str) -> Outcome<Vec<String>> {
    let mut stream = TcpStream::connect(socket_addr(addr, Port::Find)?)?;
    stream.set_read_timeout(Some(STALL))?;
    stream.write_all(format!("{query}\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().map(str::to_owned).collect())
}

/// A connection to the event port in registry(4)'s counter mode: the
/// latest revision it has read.
struct Counter {
    reader: BufReader<TcpStream>,
    revision: u64,
    line: String,
}

impl Counter {
    /// Connects and reads `READY`; the server's revision is then taken to
    /// be 0 (a fresh server, no change yet).
    fn connect(addr: &RegistryAddr) -> Outcome<Counter> {
        let stream = TcpStream::connect(socket_addr(addr, Port::Event)?)?;
        stream.set_read_timeout(Some(STALL))?;
        let mut counter = Counter {
            reader: BufReader::new(stream),
            revision: 0,
            line: String::new(),
        };
        counter.read_line()?;
        if counter.line.trim_end() != READY {
            return Err(format!("the event port said {:?}, not READY", counter.line).into());
        }
        Ok(counter)
    }

    /// Reads the next counter line.
    fn next(&mut self) -> Outcome<u64> {
        self.read_line()?;
        self.revision = self
            .line
            .trim_end()
            .parse()
            .map_err(|_| format!("the event port said {:?}, not a revision", self.line))?;
        Ok(self.revision)
    }

    fn read_line(&mut self) -> Outcome<()> {
        self.line.clear();
        match self.reader.read_line(&mut self.line) {
            Ok(0) => Err("the event port closed".into()),
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) => Err("the server stalled (no change for 10 s)".into()),
            Err(e) => Err(e.into()),
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// An epoll descriptor over the connections of one run, each known by a
/// slot number.
struct Poll {
    epoll: rustix::fd::OwnedFd,
    events: Vec<epoll::Event>,
    ready: Vec<usize>,
}

impl Poll {
    fn new(capacity: usize) -> Outcome<Poll> {
        Ok(Poll {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            events: Vec::with_capacity(capacity),
            ready: Vec::with_capacity(capacity),
        })
    }

    /// Watches `stream` (made non-blocking) for reading, as `slot`; it is
    /// watched until it is closed.
    fn add(&self, stream: &TcpStream, slot: usize) -> Outcome<()> {
        stream.set_nonblocking(true)?;
        epoll::add(
            &self.epoll,
            stream.as_fd(),
            epoll::EventData::new_u64(slot as u64),
            epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
        )?;
        Ok(())
    }

    /// Waits until a connection is readable; the slots that are.
    fn wait(&mut self) -> Outcome<Vec<usize>> {
        self.events.clear();
        let timeout = rustix::time::Timespec {
            tv_sec: STALL.as_secs() as i64,
            tv_nsec: 0,
        };
        let count = epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut self.events),
            Some(&timeout),
        )?;
        if count == 0 {
            return Err("the server stalled (nothing to read for 10 s)".into());
        }
        self.ready.clear();
        self.ready
            .extend(self.events.iter().map(|event| event.data.u64() as usize));
        Ok(std::mem::take(&mut self.ready))
    }
}

/// One find in flight.
struct Finding {
    stream: TcpStream,
    answer: Vec<u8>,
    kind: String,
}

impl Finding {
    /// Connects to the find port, sends the query for `kind`, and watches
    /// for the answer as `slot`.
    fn start(target: SocketAddr, kind: u64, poll: &Poll, slot: usize) -> Outcome<Finding> {
        let kind = format!("k{kind}");
        let mut stream = TcpStream::connect(target)?;
        stream.write_all(format!("kind {kind}\n").as_bytes())?;
        poll.add(&stream, slot)?;
        Ok(Finding {
            stream,
            answer: Vec::with_capacity(256),
            kind,
        })
    }

    /// Reads what has come; whether the answer is whole (the server closed).
    fn read(&mut self) -> Outcome<bool> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(true),
                Ok(len) => self.answer.extend_from_slice(&chunk[..len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Checks the answer: [`MATCHES`] services, each of the query's kind.
    fn check(&self) -> Outcome<()> {
        let answer = std::str::from_utf8(&self.answer)?;
        let attr = format!(" kind {} ", self.kind);
        let lines = answer.lines().filter(|line| line.contains(&attr)).count();
        if lines != MATCHES || answer.lines().count() != MATCHES {
            return Err(format!("kind {}: the answer {answer:?}", self.kind).into());
        }
        Ok(())
    }
}

/// Connections to the event port in the detailed watch, each with what it
/// has read of a line not yet whole.
struct Watchers {
    poll: Poll,
    streams: Vec<TcpStream>,
    partial: Vec<Vec<u8>>,
    seen: Vec<bool>,
}

impl Watchers {
    /// Opens `n` connections, sends `watch` on each and reads up to its
    /// `sync` line.
    fn connect(addr: &RegistryAddr, n: usize, watch: &[u8]) -> Outcome<Watchers> {
        let target = socket_addr(addr, Port::Event)?;
        let poll = Poll::new(n)?;
        let mut streams = Vec::with_capacity(n);
        for slot in 0..n {
            let mut stream = TcpStream::connect(target)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(STALL))?;
            stream.write_all(watch)?;
            // Byte by byte, so that nothing after the sync line is taken
            // from the socket before it is watched.
            let mut line = Vec::new();
            let mut byte = [0u8];
            loop {
                stream.read_exact(&mut byte)?;
                if byte[0] != b'\n' {
                    line.push(byte[0]);
                    continue;
                }
                if line.ends_with(b" sync") {
                    break;
                }
                if line != READY.as_bytes() {
                    let line = String::from_utf8_lossy(&line);
                    return Err(format!("a watcher was told {line:?}").into());
                }
                line.clear();
            }
            poll.add(&stream, slot)?;
            streams.push(stream);
        }
        Ok(Watchers {
            poll,
            streams,
            partial: vec![Vec::new(); n],
            seen: vec![false; n],
        })
    }

    /// Waits until every watcher has read a line containing `needle`;
    /// when the last one read it.
    fn wait_for(&mut self, needle: &[u8]) -> Outcome<Instant> {
        self.seen.fill(false);
        let mut left = self.streams.len();
        let mut chunk = [0u8; 4096];
        loop {
            for slot in self.poll.wait()? {
                loop {
                    let len = match self.streams[slot].read(&mut chunk) {
                        Ok(0) => return Err("the server closed a watcher".into()),
                        Ok(len) => len,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let partial = &mut self.partial[slot];
                    partial.extend_from_slice(&chunk[..len]);
                    while let Some(end) = partial.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = partial.drain(..=end).collect();
                        if line.windows(needle.len()).any(|w| w == needle) && !self.seen[slot] {
                            self.seen[slot] = true;
                            left -= 1;
                        }
                    }
                }
            }
            if left == 0 {
                return Ok(Instant::now());
            }
        }
    }
}
