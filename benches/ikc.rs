//! IKC: request/response and a pipelined stream of 64-byte messages over
//! loopback between two threads, each with its own IKC, as two processes
//! would have.
//!
//! roe runs a kernel per thread, each with an `Ikc` of its own: the client
//! calls the server's published `echo` (one call at a time) or posts to its
//! `sink`, which acknowledges each post back to SENDER (64 not yet
//! acknowledged at most). Peers in the same run speak a framed protocol of
//! their own, a 4-byte length before each payload: blocking `std::net` (the
//! floor) and tokio (a `current_thread` runtime per thread), each echoing a
//! request or acknowledging a pipelined message with its 8-byte sequence
//! number. roe's own TCP wheel without IKC (W6, unframed 64-byte blocks)
//! runs beside them for reference. Every socket has `TCP_NODELAY`. Before
//! criterion's throughput groups, one recorded pass per peer prints p50/p99
//! round-trip latencies. roe's side is `roe::workloads::ikc`, which `roe
//! bench` runs too. Each run checks that every answer and acknowledgement
//! came back, in order. Results: docs/benchmarks.md.

use std::{
    io::{self, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    thread,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput};
use roe::workloads::{
    self, Measured, ikc,
    tcp::{self, IN_FLIGHT, MESSAGE_SIZE, request},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Round trips per latency run.
const ROUND_TRIPS: usize = 20_000;
/// Messages per pipelined run, with [`IN_FLIGHT`] of them in flight.
const PIPELINED: usize = 100_000;
/// The largest payload a peer's frame may announce.
const MAX_PAYLOAD: usize = MESSAGE_SIZE;

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// `payload` framed: its length as 4 bytes, big-endian, then itself.
fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// A frame's announced length, checked.
fn payload_len(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too long"));
    }
    Ok(len)
}

/// The sequence number a payload starts with.
fn sequence(payload: &[u8]) -> u64 {
    let mut number = [0u8; 8];
    number.copy_from_slice(&payload[..8]);
    u64::from_le_bytes(number)
}

/// What a peer's server sends back for a payload: the payload itself
/// (round trips), or its sequence number (pipelined), which it first
/// checks is the next due.
fn answer(payload: &[u8], acknowledge: bool, expected: &mut u64, out: &mut Vec<u8>) {
    if acknowledge {
        let number = sequence(payload);
        assert_eq!(number, *expected, "a pipelined message out of order");
        *expected += 1;
        frame(&number.to_le_bytes(), out);
    } else {
        frame(payload, out);
    }
}

/// Checks what came back for message `number`.
fn check(payload: &[u8], number: usize, acknowledge: bool) {
    let expected_len = if acknowledge { 8 } else { MESSAGE_SIZE };
    assert_eq!(payload.len(), expected_len, "a reply of the wrong size");
    assert_eq!(sequence(payload), number as u64, "a reply out of order");
}

// ----- std::net (blocking) ----------------------------------------------------------

fn std_read_frame(reader: &mut impl Read, payload: &mut Vec<u8>) -> io::Result<()> {
    let mut header = [0u8; 4];
    reader.read_exact(&mut header)?;
    payload.resize(payload_len(header)?, 0);
    reader.read_exact(payload)
}

fn std_run(total: usize, window: usize) -> Measured {
    let acknowledge = window > 1;
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        socket.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(socket.try_clone().unwrap());
        let mut writer = socket;
        let (mut payload, mut out, mut expected) = (Vec::new(), Vec::new(), 0);
        while std_read_frame(&mut reader, &mut payload).is_ok() {
            answer(&payload, acknowledge, &mut expected, &mut out);
            writer.write_all(&out).unwrap();
        }
    });
    let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    let mut writer = socket;
    let (mut payload, mut out) = (Vec::new(), Vec::new());
    let mut sent = std::collections::VecDeque::new();
    let mut latencies = Vec::with_capacity(if acknowledge { 0 } else { total });
    let started = Instant::now();
    let mut next = 0;
    while next < window.min(total) {
        sent.push_back(Instant::now());
        frame(&request(next), &mut out);
        writer.write_all(&out).unwrap();
        next += 1;
    }
    for received in 0..total {
        std_read_frame(&mut reader, &mut payload).unwrap();
        let at = sent.pop_front().unwrap();
        if !acknowledge {
            latencies.push(at.elapsed());
        }
        check(&payload, received, acknowledge);
        if next < total {
            sent.push_back(Instant::now());
            frame(&request(next), &mut out);
            writer.write_all(&out).unwrap();
            next += 1;
        }
    }
    let elapsed = started.elapsed();
    drop((reader, writer));
    server.join().unwrap();
    Measured::new(total as u64, elapsed).with_latencies(latencies)
}

// ----- tokio ------------------------------------------------------------------------

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a current_thread runtime")
}

async fn tokio_read_frame(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    payload: &mut Vec<u8>,
) -> io::Result<()> {
    let mut header = [0u8; 4];
    reader.read_exact(&mut header).await?;
    payload.resize(payload_len(header)?, 0);
    reader.read_exact(payload).await.map(drop)
}

fn tokio_run(total: usize, window: usize) -> Measured {
    let acknowledge = window > 1;
    let (listener, port) = listener();
    listener.set_nonblocking(true).unwrap();
    let server = thread::spawn(move || {
        tokio_runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            let (reader, mut writer) = socket.into_split();
            let mut reader = tokio::io::BufReader::new(reader);
            let (mut payload, mut out, mut expected) = (Vec::new(), Vec::new(), 0);
            while tokio_read_frame(&mut reader, &mut payload).await.is_ok() {
                answer(&payload, acknowledge, &mut expected, &mut out);
                writer.write_all(&out).await.unwrap();
            }
        });
    });
    let run = tokio_runtime().block_on(async move {
        let socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        socket.set_nodelay(true).unwrap();
        let (reader, mut writer) = socket.into_split();
        let mut reader = tokio::io::BufReader::new(reader);
        let (mut payload, mut out) = (Vec::new(), Vec::new());
        let mut sent = std::collections::VecDeque::new();
        let mut latencies = Vec::with_capacity(if acknowledge { 0 } else { total });
        let started = Instant::now();
        let mut next = 0;
        while next < window.min(total) {
            sent.push_back(Instant::now());
            frame(&request(next), &mut out);
            writer.write_all(&out).await.unwrap();
            next += 1;
        }
        for received in 0..total {
            tokio_read_frame(&mut reader, &mut payload).await.unwrap();
            let at: Instant = sent.pop_front().unwrap();
            if !acknowledge {
                latencies.push(at.elapsed());
            }
            check(&payload, received, acknowledge);
            if next < total {
                sent.push_back(Instant::now());
                frame(&request(next), &mut out);
                writer.write_all(&out).await.unwrap();
                next += 1;
            }
        }
        Measured::new(total as u64, started.elapsed()).with_latencies(latencies)
    });
    server.join().unwrap();
    run
}

// ----- the run ----------------------------------------------------------------------

/// A peer's run: messages and messages in flight (1: round trips).
type Runner = fn(usize, usize) -> Measured;

/// roe over IKC; the workload checks every answer came back, in order.
fn roe_run(total: usize, window: usize) -> Measured {
    let run = if window == 1 {
        ikc::round_trips(total as u64)
    } else {
        ikc::pipelined(total as u64, window)
    };
    run.unwrap_or_else(|e| panic!("IKC on roe: {e}"))
}

/// roe's TCP wheel without IKC (W6), for reference.
fn roe_w6_run(total: usize, window: usize) -> Measured {
    tcp::exchange(total as u64, window).unwrap_or_else(|e| panic!("W6 on roe: {e}"))
}

const PEERS: [(&str, Runner); 4] = [
    ("roe IKC", roe_run),
    ("tokio", tokio_run),
    ("std::net blocking", std_run),
    ("roe W6 wheel, no IKC", roe_w6_run),
];

/// One recorded pass per peer: p50 and p99 of single round trips.
fn latency_report() {
    for (name, run) in PEERS {
        let mut measured = run(ROUND_TRIPS, 1);
        assert_eq!(measured.latencies().len(), ROUND_TRIPS);
        let latency = measured.percentiles().expect("round trips were timed");
        println!(
            "IKC latency {name}: p50 {:.2} µs, p99 {:.2} µs ({ROUND_TRIPS} round trips, {:.0}/s)",
            latency.p50.as_secs_f64() * 1e6,
            latency.p99.as_secs_f64() * 1e6,
            measured.ops_per_sec()
        );
    }
}

fn ikc_groups(c: &mut Criterion) {
    for (group, total, window) in [
        ("IKC round trips", ROUND_TRIPS, 1),
        ("IKC pipelined 64", PIPELINED, IN_FLIGHT),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(total as u64));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(5));
        for (name, run) in PEERS {
            g.bench_function(BenchmarkId::new(name, total), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(total, window).elapsed()).sum());
            });
        }
        g.finish();
    }
}

fn main() {
    workloads::settle_wakeups();
    latency_report();
    let mut criterion = Criterion::default().configure_from_args();
    ikc_groups(&mut criterion);
    criterion.final_summary();
}
