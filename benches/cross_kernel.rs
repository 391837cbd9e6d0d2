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
//! second, medians of interleaved passes. Each run checks that every
//! message arrived. Results: docs/benchmarks.md.

mod common;

use std::{
    sync::mpsc as std_mpsc,
    thread,
    time::{Duration, Instant},
};

use common::Run;
use criterion::{BenchmarkId, Criterion, Throughput};
use roe::{Error, KernelId, Runtime, Session, SessionId};

/// Round trips per ping-pong run.
const ROUND_TRIPS: usize = 200_000;
/// Events each fan-in sender posts.
const FAN_IN_EACH: usize = 200_000;
/// Fan-in senders.
const SENDERS: usize = 2;
/// Events a roe fan-in sender posts per handler call.
const BURST: usize = 256;
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

// ----- roe --------------------------------------------------------------------------

/// The pinger's state.
struct Pinger {
    ponger: Option<SessionId>,
    left: usize,
    sent_at: Instant,
    latencies: Vec<Duration>,
    started: Instant,
    done: std_mpsc::Sender<Run>,
}

fn roe_ping_pong(round_trips: usize, pinned: bool) -> Run {
    let (done_tx, done_rx) = std_mpsc::channel();
    let done_tx = std::sync::Mutex::new(done_tx);
    let runtime = Runtime::builder()
        .pin(pinned)
        .kernels(2)
        .start(move |kernel| {
            if kernel.id() == KernelId(1) {
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.alias_set("ponger"))
                        .on("ping", |cx, args| {
                            let sender = cx.sender();
                            cx.post(sender, "pong", args)
                        })
                        .on("done", |cx, _| cx.alias_remove("ponger")),
                )?;
                return Ok(());
            }
            let done = done_tx.lock().unwrap().clone();
            kernel.spawn(
                Session::new(Pinger {
                    ponger: None,
                    left: round_trips,
                    sent_at: Instant::now(),
                    latencies: Vec::with_capacity(round_trips),
                    started: Instant::now(),
                    done,
                })
                .on("_start", |cx, _| {
                    // Kernel 1 sets its alias after this `init`; the first
                    // post goes once every kernel runs.
                    cx.alias_set("pinger")?;
                    cx.yield_("go", ());
                    Ok::<_, Error>(())
                })
                .on("go", |cx, _| {
                    let ponger = cx.resolve("ponger").expect("kernel 1 holds it");
                    cx.heap.ponger = Some(ponger);
                    cx.heap.started = Instant::now();
                    cx.heap.sent_at = Instant::now();
                    cx.post(ponger, "ping", (0,))
                })
                .on("pong", |cx, _| {
                    let now = Instant::now();
                    let heap = &mut *cx.heap;
                    heap.latencies.push(now - heap.sent_at);
                    heap.left -= 1;
                    let ponger = heap.ponger.unwrap();
                    if heap.left > 0 {
                        heap.sent_at = Instant::now();
                        return cx.post(ponger, "ping", (0,));
                    }
                    let run = Run {
                        elapsed: heap.started.elapsed(),
                        latencies: std::mem::take(&mut heap.latencies),
                    };
                    heap.done.send(run).unwrap();
                    cx.post(ponger, "done", ())?;
                    cx.alias_remove("pinger")
                }),
            )?;
            Ok(())
        })
        .unwrap();
    let run = done_rx.recv().unwrap();
    runtime.join().unwrap();
    assert_eq!(run.latencies.len(), round_trips);
    run
}

fn roe_fan_in(each: usize, pinned: bool) -> Duration {
    let (done_tx, done_rx) = std_mpsc::channel();
    let done_tx = std::sync::Mutex::new(done_tx);
    let total = each * SENDERS;
    let runtime = Runtime::builder()
        .pin(pinned)
        .kernels(SENDERS + 1)
        .start(move |kernel| {
            if kernel.id() == KernelId(0) {
                let done = done_tx.lock().unwrap().clone();
                kernel.spawn(
                    Session::new((0usize, None::<Instant>))
                        .on("_start", |cx, _| cx.alias_set("sink"))
                        .on("n", move |cx, _| {
                            let started = *cx.heap.1.get_or_insert_with(Instant::now);
                            cx.heap.0 += 1;
                            if cx.heap.0 == total {
                                done.send(started.elapsed()).unwrap();
                                cx.alias_remove("sink")?;
                            }
                            Ok::<_, Error>(())
                        }),
                )?;
                return Ok(());
            }
            kernel.spawn(
                Session::new(0usize)
                    .on("_start", |cx, _| cx.yield_("burst", ()))
                    .on("burst", move |cx, _| {
                        let sink = cx.resolve("sink").expect("kernel 0 holds it");
                        let end = (*cx.heap + BURST).min(each);
                        for n in *cx.heap..end {
                            cx.post(sink, "n", (n as i64,))?;
                        }
                        *cx.heap = end;
                        if end < each {
                            cx.yield_("burst", ());
                        }
                        Ok::<_, Error>(())
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    let elapsed = done_rx.recv().unwrap();
    runtime.join().unwrap();
    elapsed
}

// ----- tokio ------------------------------------------------------------------------

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn tokio_ping_pong(round_trips: usize, pinned: bool) -> Run {
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
            let mut latencies = Vec::with_capacity(round_trips);
            let started = Instant::now();
            for n in 0..round_trips as u64 {
                let sent_at = Instant::now();
                ping_tx.send(n).await.unwrap();
                assert_eq!(pong_rx.recv().await, Some(n));
                latencies.push(sent_at.elapsed());
            }
            Run {
                elapsed: started.elapsed(),
                latencies,
            }
        })
    });
    let run = pinger.join().unwrap();
    ponger.join().unwrap();
    run
}

fn tokio_fan_in(each: usize, pinned: bool) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let total = each * SENDERS;
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
                    for n in 0..each as u64 {
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

fn crossbeam_ping_pong(round_trips: usize, pinned: bool) -> Run {
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
        Run::measure(round_trips, |n| {
            ping_tx.send(n).unwrap();
            assert_eq!(pong_rx.recv(), Ok(n));
        })
    });
    let run = pinger.join().unwrap();
    ponger.join().unwrap();
    run
}

fn crossbeam_fan_in(each: usize, pinned: bool) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let total = each * SENDERS;
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
                for n in 0..each as u64 {
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
type PingPong = fn(usize, bool) -> Run;
/// A peer's fan-in: events per sender, and whether threads are pinned.
type FanIn = fn(usize, bool) -> Duration;

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
                let (p50, p99) = common::percentiles(&mut run.latencies);
                result[0].push(p50.as_secs_f64() * 1e6);
                result[1].push(p99.as_secs_f64() * 1e6);
                result[2].push(ROUND_TRIPS as f64 / run.elapsed.as_secs_f64());
                let elapsed = fan_in(FAN_IN_EACH, pinned);
                result[3].push((FAN_IN_EACH * SENDERS) as f64 / elapsed.as_secs_f64());
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
    g.throughput(Throughput::Elements(round_trips as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for (name, ping_pong, _) in PEERS {
        g.bench_function(BenchmarkId::new(name, round_trips), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| ping_pong(round_trips, true).elapsed)
                    .sum()
            });
        });
    }
    g.finish();
    let mut g = c.benchmark_group("W5 cross-kernel fan-in");
    g.throughput(Throughput::Elements((FAN_IN_EACH * SENDERS) as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for (name, _, fan_in) in PEERS {
        g.bench_function(BenchmarkId::new(name, FAN_IN_EACH * SENDERS), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| fan_in(FAN_IN_EACH, true)).sum());
        });
    }
    g.finish();
}

fn main() {
    common::settle_wakeups();
    report();
    let mut criterion = Criterion::default().configure_from_args();
    w5(&mut criterion);
    criterion.final_summary();
}
