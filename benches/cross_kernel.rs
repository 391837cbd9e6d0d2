//! W5: messaging between kernels on two threads.
//!
//! Ping-pong: a session on kernel 0 posts to a session on kernel 1, which
//! posts back; 200k round trips, one in flight. Fan-in: sessions on two
//! kernels each post 200k events to one session on a third. Peers in the
//! same run: tokio (a `current_thread` runtime per thread, `mpsc`
//! channels) and crossbeam's blocking channels. Every side's thread is
//! pinned the same way (thread i on CPU i modulo the CPUs there are), as
//! roe's runtime pins its kernels. Before criterion's throughput groups,
//! recorded passes print the round trip's p50 and p99 and round trips per
//! second, medians of interleaved passes. roe's side is
//! `roe::workloads::cross_kernel`, which `roe bench` runs too. Each run
//! checks that every message arrived. Results: docs/benchmarks.md.

use std::{
    thread,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput};
use roe::workloads::{
    self, Measured,
    cross_kernel::{self, SENDERS},
};

/// Round trips per ping-pong run.
const ROUND_TRIPS: u64 = 200_000;
/// Events each fan-in sender posts.
const FAN_IN_EACH: u64 = 200_000;
/// Capacity of the bounded channels (roe's inbox default).
const CAPACITY: usize = 4096;
/// Interleaved recorded passes per peer.
const PASSES: usize = 3;

/// Pins the calling thread to CPU `index` modulo the CPUs there are, as
/// roe's runtime pins kernel `index`, when `pinned`.
fn pin(index: usize, pinned: bool) {
    if !pinned {
        return;
    }
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(&core) = cores.get(index % cores.len().max(1)) {
        core_affinity::set_for_current(core);
    }
}

// ----- tokio ------------------------------------------------------------------------

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn tokio_ping_pong(round_trips: u64, pinned: bool) -> Measured {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let ponger = thread::spawn(move || {
        pin(1, pinned);
        current_thread().block_on(async move {
            while let Some(n) = ping_rx.recv().await {
                pong_tx.send(n).await.unwrap();
            }
        });
    });
    let pinger = thread::spawn(move || {
        pin(0, pinned);
        current_thread().block_on(async move {
            let mut latencies = Vec::with_capacity(round_trips as usize);
            let started = Instant::now();
            for n in 0..round_trips {
                let sent_at = Instant::now();
                ping_tx.send(n).await.unwrap();
                assert_eq!(pong_rx.recv().await, Some(n));
                latencies.push(sent_at.elapsed());
            }
            Measured::new(round_trips, started.elapsed()).with_latencies(latencies)
        })
    });
    let run = pinger.join().unwrap();
    ponger.join().unwrap();
    run
}

fn tokio_fan_in(each: u64, pinned: bool) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let total = each * SENDERS as u64;
    let sink = thread::spawn(move || {
        pin(0, pinned);
        current_thread().block_on(async move {
            let mut started = None;
            for _ in 0..total {
                rx.recv().await.unwrap();
                started.get_or_insert_with(Instant::now);
            }
            started.unwrap().elapsed()
        })
    });
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || {
                pin(i + 1, pinned);
                current_thread().block_on(async move {
                    for n in 0..each {
                        tx.send(n).await.unwrap();
                    }
                });
            })
        })
        .collect();
    drop(tx);
    for sender in senders {
        sender.join().unwrap();
    }
    sink.join().unwrap()
}

// ----- crossbeam --------------------------------------------------------------------

fn crossbeam_ping_pong(round_trips: u64, pinned: bool) -> Measured {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let ponger = thread::spawn(move || {
        pin(1, pinned);
        for n in ping_rx {
            pong_tx.send(n).unwrap();
        }
    });
    let pinger = thread::spawn(move || {
        pin(0, pinned);
        let mut latencies = Vec::with_capacity(round_trips as usize);
        let started = Instant::now();
        for n in 0..round_trips {
            let sent_at = Instant::now();
            ping_tx.send(n).unwrap();
            assert_eq!(pong_rx.recv(), Ok(n));
            latencies.push(sent_at.elapsed());
        }
        Measured::new(round_trips, started.elapsed()).with_latencies(latencies)
    });
    let run = pinger.join().unwrap();
    ponger.join().unwrap();
    run
}

fn crossbeam_fan_in(each: u64, pinned: bool) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let total = each * SENDERS as u64;
    let sink = thread::spawn(move || {
        pin(0, pinned);
        let mut started = None;
        for _ in 0..total {
            rx.recv().unwrap();
            started.get_or_insert_with(Instant::now);
        }
        started.unwrap().elapsed()
    });
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || {
                pin(i + 1, pinned);
                for n in 0..each {
                    tx.send(n).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for sender in senders {
        sender.join().unwrap();
    }
    sink.join().unwrap()
}

// ----- the run ----------------------------------------------------------------------

/// A peer's ping-pong: round trips, and whether threads are pinned.
type PingPong = fn(u64, bool) -> Measured;
/// A peer's fan-in: events per sender, and whether threads are pinned.
type FanIn = fn(u64, bool) -> Duration;

/// roe's ping-pong; the workload checks every round trip came back.
fn roe_ping_pong(round_trips: u64, pinned: bool) -> Measured {
    cross_kernel::ping_pong(round_trips, pinned)
        .unwrap_or_else(|e| panic!("W5 ping-pong on roe: {e}"))
}

/// roe's fan-in; the workload checks the sink received every event.
fn roe_fan_in(each: u64, pinned: bool) -> Duration {
    cross_kernel::fan_in(each, pinned)
        .unwrap_or_else(|e| panic!("W5 fan-in on roe: {e}"))
        .elapsed()
}

const PEERS: [(&str, PingPong, FanIn); 3] = [
    ("roe", roe_ping_pong, roe_fan_in),
    ("tokio", tokio_ping_pong, tokio_fan_in),
    ("crossbeam", crossbeam_ping_pong, crossbeam_fan_in),
];

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Recorded passes, interleaved across peers, with every thread pinned (as
/// roe pins its kernels) and with none: the medians of p50, p99 and round
/// trips per second, and of fan-in events per second.
fn report() {
    for (pinned, mode) in [(true, "pinned"), (false, "unpinned")] {
        let mut results: Vec<[Vec<f64>; 4]> = PEERS.iter().map(|_| Default::default()).collect();
        for _ in 0..PASSES {
            for ((_, ping_pong, fan_in), result) in PEERS.iter().zip(&mut results) {
                let mut run = ping_pong(ROUND_TRIPS, pinned);
                let latency = run.percentiles().expect("round trips were timed");
                result[0].push(latency.p50.as_secs_f64() * 1e6);
                result[1].push(latency.p99.as_secs_f64() * 1e6);
                result[2].push(run.ops_per_sec());
                let elapsed = fan_in(FAN_IN_EACH, pinned);
                result[3].push((FAN_IN_EACH * SENDERS as u64) as f64 / elapsed.as_secs_f64());
            }
        }
        for ((name, ..), result) in PEERS.iter().zip(&mut results) {
            println!(
                "W5 {mode} {name}: round trip p50 {:.2} µs, p99 {:.2} µs, {:.0} k round trips/s; \
                 fan-in {SENDERS}→1 {:.2} M events/s (medians of {PASSES} passes)",
                median(&mut result[0]),
                median(&mut result[1]),
                median(&mut result[2]) / 1e3,
                median(&mut result[3]) / 1e6,
            );
        }
    }
}

/// Criterion's throughput groups, pinned, on shorter runs than the report's
/// (a pinned tokio round trip can take tens of microseconds here).
fn w5(c: &mut Criterion) {
    let round_trips = ROUND_TRIPS / 10;
    let mut g = c.benchmark_group("W5 cross-kernel ping-pong");
    g.throughput(Throughput::Elements(round_trips));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for (name, ping_pong, _) in PEERS {
        g.bench_function(BenchmarkId::new(name, round_trips), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| ping_pong(round_trips, true).elapsed())
                    .sum()
            });
        });
    }
    g.finish();
    let mut g = c.benchmark_group("W5 cross-kernel fan-in");
    g.throughput(Throughput::Elements(FAN_IN_EACH * SENDERS as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for (name, _, fan_in) in PEERS {
        g.bench_function(BenchmarkId::new(name, FAN_IN_EACH * SENDERS as u64), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| fan_in(FAN_IN_EACH, true)).sum());
        });
    }
    g.finish();
}

fn main() {
    workloads::settle_wakeups();
    report();
    let mut criterion = Criterion::default().configure_from_args();
    w5(&mut criterion);
    criterion.final_summary();
}
