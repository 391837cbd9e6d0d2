//! W6: TCP request/response of 64-byte messages over loopback between two
//! threads, one round trip at a time and pipelined (64 in flight).
//!
//! roe runs a kernel per thread, each side a `ReadWrite` wheel with a
//! fixed-size `Block` filter (the server accepts through `ListenAccept`).
//! Peers in the same run: tokio (a `current_thread` runtime per thread) and
//! blocking `std::net`. Every socket has `TCP_NODELAY`. Before criterion's
//! throughput groups, one recorded pass per peer prints p50/p99 round-trip
//! latencies. Each run checks that every response came back. Results:
//! docs/benchmarks.md.

mod common;

use std::{
    cell::RefCell,
    collections::VecDeque,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    rc::Rc,
    thread,
    time::{Duration, Instant},
};

use common::Run;
use criterion::{BenchmarkId, Criterion, Throughput};
use roe::{Block, Error, Kernel, ListenAccept, ReadWrite, Session, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Message size.
const MSG: usize = 64;
/// Round trips per latency run.
const ROUND_TRIPS: usize = 20_000;
/// Messages per pipelined run, and how many are in flight.
const PIPELINED: usize = 200_000;
const IN_FLIGHT: usize = 64;

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn message(n: usize) -> Vec<u8> {
    let mut m = vec![0u8; MSG];
    m[..8].copy_from_slice(&(n as u64).to_le_bytes());
    m
}

// ----- roe --------------------------------------------------------------------------

type Server = (
    Option<TcpListener>,
    Option<ListenAccept>,
    Option<ReadWrite<Block>>,
);

/// A kernel on its own thread echoing each 64-byte block of one connection.
fn roe_server(listener: TcpListener) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut kernel = Kernel::new().unwrap();
        kernel
            .spawn(
                Session::<Server>::new((Some(listener), None, None))
                    .on("_start", |cx, _| {
                        let listener = cx.heap.0.take().unwrap();
                        cx.heap.1 = Some(ListenAccept::start(cx, listener, "accepted", None)?);
                        Ok::<_, Error>(())
                    })
                    .on("accepted", |cx, mut args| {
                        let socket: TcpStream = args.take(0).take_local().ok().unwrap();
                        socket.set_nodelay(true)?;
                        let wheel = ReadWrite::builder(socket, Block::fixed(MSG))
                            .input("input")
                            .error("error")
                            .start(cx)?;
                        cx.heap.2 = Some(wheel);
                        cx.heap.1 = None;
                        Ok::<_, Error>(())
                    })
                    .on("input", |cx, mut args| {
                        let Value::Bytes(record) = args.take(0) else {
                            return;
                        };
                        let _ = cx.heap.2.as_ref().unwrap().put(record);
                    })
                    .on("error", |cx, _| cx.heap.2 = None),
            )
            .unwrap();
        kernel.run().unwrap();
    })
}

/// Sends `total` messages with `window` in flight and times each round trip.
fn roe_client(port: u16, total: usize, window: usize) -> Run {
    struct Client {
        wheel: Option<ReadWrite<Block>>,
        sent: VecDeque<Instant>,
        next: usize,
        received: usize,
        started: Instant,
    }
    let run = Rc::new(RefCell::new(None));
    let out = Rc::clone(&run);
    let latencies = Rc::new(RefCell::new(Vec::with_capacity(total)));
    let lat = Rc::clone(&latencies);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Client {
                wheel: None,
                sent: VecDeque::new(),
                next: 0,
                received: 0,
                started: Instant::now(),
            })
            .on("_start", move |cx, _| {
                let socket = TcpStream::connect(("127.0.0.1", port))?;
                socket.set_nodelay(true)?;
                let wheel = ReadWrite::builder(socket, Block::fixed(MSG))
                    .input("input")
                    .error("error")
                    .start(cx)?;
                cx.heap.started = Instant::now();
                while cx.heap.next < window.min(total) {
                    cx.heap.sent.push_back(Instant::now());
                    wheel.put(message(cx.heap.next)).unwrap();
                    cx.heap.next += 1;
                }
                cx.heap.wheel = Some(wheel);
                Ok::<_, Error>(())
            })
            .on("input", move |cx, _| {
                let heap = &mut *cx.heap;
                let sent = heap.sent.pop_front().expect("a response to a request");
                lat.borrow_mut().push(sent.elapsed());
                heap.received += 1;
                if heap.next < total {
                    heap.sent.push_back(Instant::now());
                    heap.wheel
                        .as_ref()
                        .unwrap()
                        .put(message(heap.next))
                        .unwrap();
                    heap.next += 1;
                } else if heap.received == total {
                    *out.borrow_mut() = Some(heap.started.elapsed());
                    heap.wheel = None;
                }
            })
            .on("error", |_, args| -> () {
                panic!("client error: {args:?}")
            }),
        )
        .unwrap();
    kernel.run().unwrap();
    let elapsed = run.borrow_mut().take().expect("every response arrived");
    Run {
        elapsed,
        latencies: latencies.take(),
    }
}

fn roe_run(total: usize, window: usize) -> Run {
    let (listener, port) = listener();
    let server = roe_server(listener);
    let run = roe_client(port, total, window);
    server.join().unwrap();
    run
}

// ----- tokio ------------------------------------------------------------------------

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a current_thread runtime")
}

fn tokio_run(total: usize, window: usize) -> Run {
    let (listener, port) = listener();
    listener.set_nonblocking(true).unwrap();
    let server = thread::spawn(move || {
        tokio_runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            let mut buf = [0u8; MSG];
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
            socket.write_all(&message(next)).await.unwrap();
            next += 1;
        }
        let mut buf = [0u8; MSG];
        for _ in 0..total {
            socket.read_exact(&mut buf).await.unwrap();
            latencies.push(sent.pop_front().unwrap().elapsed());
            if next < total {
                sent.push_back(Instant::now());
                socket.write_all(&message(next)).await.unwrap();
                next += 1;
            }
        }
        Run {
            elapsed: started.elapsed(),
            latencies,
        }
    });
    server.join().unwrap();
    run
}

// ----- std::net (blocking) ----------------------------------------------------------

fn std_run(total: usize, window: usize) -> Run {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_nodelay(true).unwrap();
        let mut buf = [0u8; MSG];
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
        socket.write_all(&message(next)).unwrap();
        next += 1;
    }
    let mut buf = [0u8; MSG];
    for _ in 0..total {
        socket.read_exact(&mut buf).unwrap();
        latencies.push(sent.pop_front().unwrap().elapsed());
        if next < total {
            sent.push_back(Instant::now());
            socket.write_all(&message(next)).unwrap();
            next += 1;
        }
    }
    let elapsed = started.elapsed();
    drop(socket);
    server.join().unwrap();
    Run { elapsed, latencies }
}

// ----- the run ----------------------------------------------------------------------

/// A peer's run: round trips and requests in flight.
type Runner = fn(usize, usize) -> Run;

const PEERS: [(&str, Runner); 3] = [
    ("roe", roe_run),
    ("tokio", tokio_run),
    ("std::net blocking", std_run),
];

/// One recorded pass per peer: p50 and p99 of single round trips.
fn latency_report() {
    for (name, run) in PEERS {
        let mut samples = run(ROUND_TRIPS, 1).latencies;
        assert_eq!(samples.len(), ROUND_TRIPS);
        let (p50, p99) = common::percentiles(&mut samples);
        println!(
            "W6 latency {name}: p50 {:.2} µs, p99 {:.2} µs ({ROUND_TRIPS} round trips)",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
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
                b.iter_custom(|iters| (0..iters).map(|_| run(total, window).elapsed).sum());
            });
        }
        g.finish();
    }
}

fn main() {
    common::settle_wakeups();
    latency_report();
    let mut criterion = Criterion::default().configure_from_args();
    w6(&mut criterion);
    criterion.final_summary();
}
