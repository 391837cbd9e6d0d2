//! W6: TCP request/response of 64-byte messages over loopback between two
//! threads, one round trip at a time and pipelined (64 in flight).
//!
//! roe runs a kernel per thread, each side a `ReadWrite` wheel with a
//! fixed-size `Block` filter (the server accepts through `ListenAccept`).
//! Peers in the same run: tokio (a `current_thread` runtime per thread) and
//! blocking `std::net`. Every socket has `TCP_NODELAY`. Before criterion's
//! throughput groups, one recorded pass per peer prints p50/p99 round-trip
//! latencies. roe's side is `roe::workloads::tcp`, which `roe bench` runs
//! too. Each run checks that every response came back. Results:
//! docs/benchmarks.md.

use std::{
    collections::VecDeque,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    thread,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput};
use roe::workloads::{
    self, Measured,
    tcp::{self, IN_FLIGHT, MESSAGE_SIZE, request},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Round trips per latency run.
const ROUND_TRIPS: usize = 20_000;
/// Messages per pipelined run, with [`IN_FLIGHT`] of them in flight.
const PIPELINED: usize = 200_000;

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

// ----- tokio ------------------------------------------------------------------------

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a current_thread runtime")
}

fn tokio_run(total: usize, window: usize) -> Measured {
    let (listener, port) = listener();
    listener.set_nonblocking(true).unwrap();
    let server = thread::spawn(move || {
        tokio_runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            let mut buf = [0u8; MESSAGE_SIZE];
            while socket.read_exact(&mut buf).await.is_ok() {
                socket.write_all(&buf).await.unwrap();
            }
        });
    });
    let run = tokio_runtime().block_on(async move {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        socket.set_nodelay(true).unwrap();
        let mut sent = VecDeque::new();
        let mut latencies = Vec::with_capacity(total);
        let started = Instant::now();
        let mut next = 0;
        while next < window.min(total) {
            sent.push_back(Instant::now());
            socket.write_all(&request(next)).await.unwrap();
            next += 1;
        }
        let mut buf = [0u8; MESSAGE_SIZE];
        for _ in 0..total {
            socket.read_exact(&mut buf).await.unwrap();
            latencies.push(sent.pop_front().unwrap().elapsed());
            if next < total {
                sent.push_back(Instant::now());
                socket.write_all(&request(next)).await.unwrap();
                next += 1;
            }
        }
        Measured::new(total as u64, started.elapsed()).with_latencies(latencies)
    });
    server.join().unwrap();
    run
}

// ----- std::net (blocking) ----------------------------------------------------------

fn std_run(total: usize, window: usize) -> Measured {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_nodelay(true).unwrap();
        let mut buf = [0u8; MESSAGE_SIZE];
        while socket.read_exact(&mut buf).is_ok() {
            socket.write_all(&buf).unwrap();
        }
    });
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.set_nodelay(true).unwrap();
    let mut sent = VecDeque::new();
    let mut latencies = Vec::with_capacity(total);
    let started = Instant::now();
    let mut next = 0;
    while next < window.min(total) {
        sent.push_back(Instant::now());
        socket.write_all(&request(next)).unwrap();
        next += 1;
    }
    let mut buf = [0u8; MESSAGE_SIZE];
    for _ in 0..total {
        socket.read_exact(&mut buf).unwrap();
        latencies.push(sent.pop_front().unwrap().elapsed());
        if next < total {
            sent.push_back(Instant::now());
            socket.write_all(&request(next)).unwrap();
            next += 1;
        }
    }
    let elapsed = started.elapsed();
    drop(socket);
    server.join().unwrap();
    Measured::new(total as u64, elapsed).with_latencies(latencies)
}

// ----- the run ----------------------------------------------------------------------

/// A peer's run: round trips and requests in flight.
type Runner = fn(usize, usize) -> Measured;

/// roe's run; the workload checks every response came back, in order.
fn roe_run(total: usize, window: usize) -> Measured {
    tcp::exchange(total as u64, window).unwrap_or_else(|e| panic!("W6 on roe: {e}"))
}

const PEERS: [(&str, Runner); 3] = [
    ("roe", roe_run),
    ("tokio", tokio_run),
    ("std::net blocking", std_run),
];

/// One recorded pass per peer: p50 and p99 of single round trips.
fn latency_report() {
    for (name, run) in PEERS {
        let mut measured = run(ROUND_TRIPS, 1);
        assert_eq!(measured.latencies().len(), ROUND_TRIPS);
        let latency = measured.percentiles().expect("round trips were timed");
        println!(
            "W6 latency {name}: p50 {:.2} µs, p99 {:.2} µs ({ROUND_TRIPS} round trips)",
            latency.p50.as_secs_f64() * 1e6,
            latency.p99.as_secs_f64() * 1e6
        );
    }
}

fn w6(c: &mut Criterion) {
    for (group, total, window) in [
        ("W6 TCP round trips", ROUND_TRIPS, 1),
        ("W6 TCP pipelined 64", PIPELINED, IN_FLIGHT),
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
    w6(&mut criterion);
    criterion.final_summary();
}
