//! Running out of descriptors: a line-echo `TcpServer` whose process hits
//! its descriptor limit keeps listening, pauses accepting with a back-off
//! (no spinning, a warning at most every ten seconds), and accepts again by
//! itself once descriptors are free. Before, the first `EMFILE` dropped the
//! listener for good, and keeping it made accept retry at 100% CPU,
//! logging about 300,000 lines a second.
//!
//! The test lowers the process's descriptor limit while it holds the
//! suite's one-at-a-time lock, and puts it back however it ends.

use std::{
    io::Write,
    net::SocketAddr,
    os::fd::OwnedFd,
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use roe::TcpServer;
use rustix::{
    net::{AddressFamily, SocketType, connect, socket},
    process::{Resource, Rlimit, getrlimit, setrlimit},
};

use crate::{
    peer::{Server, echo_once, open_descriptors, wait_until},
    serial,
};

/// The process's descriptor limit, put back when dropped.
struct Lowered(Rlimit);

impl Lowered {
    fn to(current: u64) -> Lowered {
        let limit = getrlimit(Resource::Nofile);
        let lowered = Rlimit {
            current: Some(current),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, lowered).unwrap();
        Lowered(limit)
    }
}

impl Drop for Lowered {
    fn drop(&mut self) {
        let _ = setrlimit(Resource::Nofile, self.0);
    }
}

/// Counts the lines tracing writes.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn containing(&self, needle: &str) -> usize {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().filter(|line| line.contains(needle)).count()
    }
}

#[test]
fn a_listener_keeps_listening_through_descriptor_exhaustion() {
    const CLIENTS: usize = 40;
    const ROOM: u64 = 10;
    let _one = serial();
    let log = Lines::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // This thread's subscriber does not see the kernel thread's warnings:
    // the process's does, and this is the suite's only one.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = Server::echo(|| TcpServer::new(0).address("127.0.0.1"));
    let address = SocketAddr::from(([127, 0, 0, 1], server.port));
    // The clients' sockets exist before the limit comes down; connecting
    // them takes no descriptor, accepting them does.
    let mut clients: Vec<OwnedFd> = (0..CLIENTS)
        .map(|_| socket(AddressFamily::INET, SocketType::STREAM, None).unwrap())
        .collect();
    let lowered = Lowered::to(open_descriptors() as u64 + ROOM);
    for client in &clients {
        connect(client, &address).unwrap();
    }
    // The server takes what the limit leaves room for, then backs off.
    wait_until(Duration::from_secs(10), || {
        log.containing("cannot accept connections") >= 1
    });
    let accepted = server.info.stats().accepted;
    assert!(
        accepted < CLIENTS as u64,
        "{accepted} accepted under the limit"
    );
    let cpu = server.cpu_time();
    thread::sleep(Duration::from_millis(500));
    let busy = server.cpu_time() - cpu;
    assert!(
        busy < Duration::from_millis(100),
        "the listener spun: {busy:?} in 500 ms"
    );
    assert!(
        log.containing("cannot accept connections") <= 2,
        "the log was not rate-limited"
    );

    // Clients leave; their descriptors come back, and the server accepts
    // the rest by itself.
    clients.truncate(CLIENTS - 3 * ROOM as usize);
    wait_until(Duration::from_secs(20), || {
        server.info.stats().accepted >= CLIENTS as u64
    });
    drop(clients);
    drop(lowered);
    assert_eq!(echo_once(server.port, "served after"), "served after");
    server.stop();
}
