//! Hostile peers against the TCP server component, over loopback: each
//! attack a peer can make on a line-echo `TcpServer` with its defaults, and
//! the bound that holds. Memory is the process's live heap (a counting
//! allocator; the attackers' own buffers are small and reused), descriptors
//! are `/proc/self/fd`, CPU is the server thread's own time. Every test is
//! bounded in count and in time, and checks that a fresh client is served
//! during and after the attack. The counts are scaled down for CI; the
//! checks are not.
//!
//! Running out of descriptors is in `fds.rs`: it lowers the process's
//! descriptor limit while it holds the suite's one-at-a-time lock.

#![allow(unsafe_code)]

mod fds;
mod peer;

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use peer::{Server, echo_once, live_heap, open_descriptors, wait_until};
use roe::{Error, Failure, TcpServer};

/// One attack at a time: each measures the whole process.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A client that sends requests and never reads the answers: the server
/// stops reading it once 1 MiB of answers wait (before, it read and
/// buffered everything: 1 M lines grew it by 95 MB), and serves others
/// meanwhile.
#[test]
fn a_client_that_never_reads_cannot_grow_the_server() {
    let _one = serial();
    let server = Server::echo(|| TcpServer::new(0).address("127.0.0.1"));
    let before = live_heap();
    let mut attacker = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    attacker.set_nonblocking(true).unwrap();
    let line = [b'x'; 1023];
    let mut request = line.to_vec();
    request.push(b'\n');
    // Send until the server has stopped reading: no byte taken for 200
    // tries in a row (each after a short pause), or 64 MiB sent.
    let mut sent = 0usize;
    let mut stalled = 0;
    let mut offset = 0;
    while stalled < 200 && sent < 64 << 20 {
        match attacker.write(&request[offset..]) {
            Ok(n) => {
                sent += n;
                offset = (offset + n) % request.len();
                stalled = 0;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                stalled += 1;
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("the server dropped the attacker early: {e}"),
        }
    }
    let grown = live_heap().saturating_sub(before);
    println!("never reads: {sent} bytes taken before the server stopped reading; heap +{grown}");
    assert!(
        sent < 64 << 20,
        "the server never stopped reading ({sent} bytes taken)"
    );
    // The output bound (1 MiB), one read's worth of answers, and the
    // connection's own structures.
    assert!(grown < 3 << 20, "the server grew by {grown} bytes");
    // Others are served meanwhile.
    assert_eq!(echo_once(server.port, "still here"), "still here");
    drop(attacker);
    server.stop();
}

/// A client that stops reading is cut off once its output makes no
/// progress for the write timeout, counted and logged; others go on.
#[test]
fn a_stalled_client_is_cut_off_after_the_write_timeout() {
    let _one = serial();
    let errors = Arc::new(Mutex::new(Vec::<Failure>::new()));
    let e = Arc::clone(&errors);
    let server = Server::echo(move || {
        TcpServer::new(0)
            .address("127.0.0.1")
            .write_timeout(Some(Duration::from_millis(300)))
            .client_error(move |_, failure| e.lock().unwrap().push(failure))
    });
    let mut attacker = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    attacker
        .set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let request = [b"y".repeat(4095), b"\n".to_vec()].concat();
    // Fill both directions: the server's answers stop moving.
    for _ in 0..4096 {
        if attacker.write_all(&request).is_err() {
            break;
        }
    }
    wait_until(Duration::from_secs(10), || server.info.stats().cut_off == 1);
    let timed_out = rustix::io::Errno::TIMEDOUT.raw_os_error();
    assert!(
        errors
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.operation == "write" && f.errno == timed_out)
    );
    assert_eq!(echo_once(server.port, "after"), "after");
    server.stop();
}

/// Slowloris: connections that send part of a line and then nothing are
/// disconnected by the idle timeout (before, 200 of them were held
/// forever), and a fresh client is served during and after.
#[test]
fn idle_connections_are_closed_by_the_idle_timeout() {
    let _one = serial();
    const LORIS: usize = 50;
    let server = Server::echo(|| {
        TcpServer::new(0)
            .address("127.0.0.1")
            .idle_timeout(Duration::from_millis(200))
    });
    let mut loris: Vec<TcpStream> = (0..LORIS)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            s.write_all(b"GET / HTTP/1.1").unwrap();
            s
        })
        .collect();
    assert_eq!(echo_once(server.port, "during"), "during");
    wait_until(Duration::from_secs(10), || {
        server.info.stats().idle_closed == LORIS as u64
    });
    for s in &mut loris {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut byte = [0; 1];
        assert!(matches!(s.read(&mut byte), Ok(0) | Err(_)), "still open");
    }
    assert_eq!(echo_once(server.port, "after"), "after");
    server.stop();
}

/// A connection that is over no longer holds the server: its idle check
/// used to stay pending, keeping the connection's session (and a listener
/// told to shut down) alive until the timeout came due.
#[test]
fn a_finished_connection_does_not_wait_for_its_idle_timeout() {
    let _one = serial();
    let server = Server::echo(|| {
        TcpServer::new(0)
            .address("127.0.0.1")
            .idle_timeout(Duration::from_secs(3600))
    });
    assert_eq!(echo_once(server.port, "hi"), "hi");
    server.post_to_listener("shutdown", ());
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.join();
        let _ = done.send(());
    });
    ended
        .recv_timeout(Duration::from_secs(60))
        .expect("the server ended without waiting an hour for an idle check");
}

/// A client that ends its input right after its request still gets the
/// whole answer (before: 4.3 of 10 MB), then the connection closes.
#[test]
fn a_half_closed_client_gets_its_whole_reply() {
    let _one = serial();
    const REPLY: usize = 16 << 20;
    let server = Server::start(|| {
        TcpServer::new(0)
            .address("127.0.0.1")
            .client_input(|cx, _: Vec<u8>| {
                let chunk = "z".repeat(64 * 1024 - 2);
                for _ in 0..REPLY / (64 * 1024) {
                    cx.heap.put(chunk.as_str())?;
                }
                Ok::<_, Error>(())
            })
    });
    let mut client = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    client.write_all(b"send it all\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), REPLY, "the reply was cut short");
    server.stop();
}

/// `shutdown` with a deadline completes even while a client never reads
/// (before, it never completed): what is still open at the deadline is
/// closed.
#[test]
fn shutdown_with_a_deadline_completes_despite_a_client_that_never_reads() {
    let _one = serial();
    let server = Server::echo(|| TcpServer::new(0).address("127.0.0.1").write_timeout(None));
    let mut attacker = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    attacker
        .set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let request = [b"w".repeat(4095), b"\n".to_vec()].concat();
    for _ in 0..2048 {
        if attacker.write_all(&request).is_err() {
            break;
        }
    }
    server.post_to_listener("shutdown", (0.3,));
    let info = server.info.clone();
    let finished = server.wait_finished(Duration::from_secs(20));
    assert!(finished, "the shutdown did not complete");
    assert_eq!(info.stats().closed_at_deadline, 1);
}

/// A line with no end: the connection holds at most the line limit
/// (64 KiB by default; before, 64 MiB per client), reports the line as
/// too long and, as after any client error, closes; others are served.
#[test]
fn an_endless_line_is_refused_at_the_limit() {
    let _one = serial();
    let errors = Arc::new(AtomicU64::new(0));
    let e = Arc::clone(&errors);
    let server = Server::echo(move || {
        TcpServer::new(0)
            .address("127.0.0.1")
            .client_error(move |_, failure: Failure| {
                if failure.operation == "filter" {
                    e.fetch_add(1, Ordering::SeqCst);
                }
            })
    });
    let before = live_heap();
    let mut attacker = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let junk = vec![b'j'; 64 * 1024];
    let mut most = 0;
    for _ in 0..64 {
        if attacker.write_all(&junk).is_err() {
            break;
        }
        most = most.max(live_heap().saturating_sub(before));
    }
    wait_until(Duration::from_secs(10), || {
        errors.load(Ordering::SeqCst) >= 1
    });
    println!("endless line: heap +{most} at most");
    assert!(
        most < 1 << 20,
        "an endless line grew the server by {most} bytes"
    );
    attacker
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    assert!(matches!(attacker.read_to_end(&mut rest), Ok(0) | Err(_)));
    assert_eq!(echo_once(server.port, "ping"), "ping");
    server.stop();
}

/// Idle connections cost one descriptor each on the server side (before,
/// two: the reactor held a duplicate) and little memory (no read buffer of
/// their own: before, 64 KiB each), and the server sleeps while they idle.
#[test]
fn idle_connections_cost_one_descriptor_and_little_memory() {
    let _one = serial();
    const CLIENTS: usize = 300;
    let server = Server::echo(|| TcpServer::new(0).address("127.0.0.1"));
    let (fds, heap) = (open_descriptors(), live_heap());
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    wait_until(Duration::from_secs(10), || {
        server.info.stats().accepted >= CLIENTS as u64
    });
    // Every client's socket, and one per connection on the server.
    assert_eq!(open_descriptors() - fds, 2 * CLIENTS);
    let per_connection = live_heap().saturating_sub(heap) / CLIENTS;
    println!(
        "{CLIENTS} idle connections: {} descriptors, {per_connection} heap bytes each",
        open_descriptors() - fds
    );
    assert!(
        per_connection < 16 * 1024,
        "{per_connection} bytes per idle connection (1,000 must cost under 16 MB)"
    );
    let cpu = server.cpu_time();
    thread::sleep(Duration::from_millis(300));
    let busy = server.cpu_time() - cpu;
    println!("server CPU over 300 ms idle: {busy:?}");
    assert!(
        busy < Duration::from_millis(60),
        "the server spun while idle: {busy:?}"
    );
    drop(clients);
    wait_until(Duration::from_secs(10), || open_descriptors() <= fds);
    server.stop();
}

/// A peer that connects and sends garbage bytes (not UTF-8, no newlines,
/// NULs): the server neither fails nor grows, and serves others.
#[test]
fn binary_garbage_is_harmless() {
    let _one = serial();
    let server = Server::echo(|| TcpServer::new(0).address("127.0.0.1"));
    let before = live_heap();
    let started = Instant::now();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20 {
        let mut attacker = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let garbage: Vec<u8> = (0..50_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let _ = attacker.write_all(&garbage);
    }
    assert_eq!(echo_once(server.port, "fine"), "fine");
    assert!(started.elapsed() < Duration::from_secs(30));
    let grown = live_heap().saturating_sub(before);
    println!("binary garbage: heap +{grown}");
    assert!(grown < 4 << 20, "garbage grew the server by {grown} bytes");
    server.stop();
}
