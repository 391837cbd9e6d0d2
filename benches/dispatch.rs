//! W1–W3: event dispatch inside one kernel, beside tokio and a raw floor.
//!
//! Every workload runs three ways in one criterion run, so results read as
//! ratios: roe (sessions and posts: `roe::workloads::dispatch`, which `roe
//! bench` runs too), tokio (a current_thread runtime with unbounded mpsc
//! channels between tasks), and a floor (a `VecDeque` of events and a
//! per-receiver name lookup into boxed handlers: the least a POE-shaped
//! dispatcher can do). W1 runs on roe a second way, W1-io: with an idle
//! socket and pipe watched beside it. Each run checks its own count, so no
//! variant can measure a no-op. Results: docs/benchmarks.md.

use std::{collections::VecDeque, hint::black_box, time::Duration};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use roe::{
    Args, Event,
    workloads::{
        Measured, Outcome,
        dispatch::{self, CHUNK, PRODUCERS},
    },
};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc::unbounded_channel;

/// Events per measured run.
const N: u64 = 1_000_000;

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current_thread runtime")
}

// ----- tokio -----------------------------------------------------------------------

fn tokio_ping_pong(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(async move {
        let (to_a, mut at_a) = unbounded_channel::<u64>();
        let (to_b, mut at_b) = unbounded_channel::<u64>();
        tokio::spawn(async move {
            while let Some(v) = at_b.recv().await {
                if to_a.send(v).is_err() {
                    break;
                }
            }
        });
        let a = tokio::spawn(async move {
            let mut seen = 0;
            to_b.send(0).unwrap();
            while let Some(v) = at_a.recv().await {
                seen += 2;
                if seen >= n {
                    break;
                }
                to_b.send(v + 1).unwrap();
            }
            seen
        });
        a.await.unwrap()
    })
}

fn tokio_chain(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(async move {
        let (tx, mut rx) = unbounded_channel::<u64>();
        tokio::spawn(async move {
            let mut seen = 0;
            tx.send(0).unwrap();
            while let Some(v) = rx.recv().await {
                seen += 1;
                if seen >= n {
                    break;
                }
                tx.send(v + 1).unwrap();
            }
            seen
        })
        .await
        .unwrap()
    })
}

fn tokio_burst(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(async move {
        tokio::spawn(async move {
            let (tx, mut rx) = unbounded_channel::<u64>();
            for i in 0..n {
                tx.send(i).unwrap();
            }
            drop(tx);
            let mut seen = 0;
            while rx.recv().await.is_some() {
                seen += 1;
            }
            seen
        })
        .await
        .unwrap()
    })
}

fn tokio_fan_in(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(async move {
        let (tx, mut rx) = unbounded_channel::<u64>();
        for _ in 0..PRODUCERS {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut left = n / PRODUCERS;
                while left > 0 {
                    for i in 0..CHUNK.min(left) {
                        tx.send(i).unwrap();
                    }
                    left = left.saturating_sub(CHUNK);
                    tokio::task::yield_now().await;
                }
            });
        }
        drop(tx);
        tokio::spawn(async move {
            let mut seen = 0;
            while rx.recv().await.is_some() {
                seen += 1;
            }
            seen
        })
        .await
        .unwrap()
    })
}

// ----- the floor ---------------------------------------------------------------------

/// The least a POE-shaped dispatcher does: a FIFO of (receiver, event, args)
/// and a per-receiver lookup of a boxed handler by event.
struct Floor {
    queue: VecDeque<(usize, Event, Args)>,
    seen: u64,
}

type FloorHandler = Box<dyn Fn(&mut Floor, Args)>;

fn floor_run(floor: &mut Floor, handlers: &[FxHashMap<Event, FloorHandler>]) {
    while let Some((target, event, args)) = floor.queue.pop_front() {
        if let Some(handler) = handlers[target].get(&event) {
            handler(floor, args);
        }
    }
}

fn floor_ping_pong(n: u64) -> u64 {
    let (ping, pong) = (Event::new("ping"), Event::new("pong"));
    let mut a: FxHashMap<Event, FloorHandler> = FxHashMap::default();
    a.insert(
        pong,
        Box::new(move |f: &mut Floor, args: Args| {
            f.seen += 2;
            if f.seen < n {
                f.queue.push_back((1, ping, args));
            }
        }),
    );
    let mut b: FxHashMap<Event, FloorHandler> = FxHashMap::default();
    b.insert(
        ping,
        Box::new(move |f: &mut Floor, args: Args| f.queue.push_back((0, pong, args))),
    );
    let mut floor = Floor {
        queue: VecDeque::new(),
        seen: 0,
    };
    floor.queue.push_back((1, ping, Args::from((0,))));
    floor_run(&mut floor, &[a, b]);
    floor.seen
}

fn floor_chain(n: u64) -> u64 {
    let step = Event::new("step");
    let mut a: FxHashMap<Event, FloorHandler> = FxHashMap::default();
    a.insert(
        step,
        Box::new(move |f: &mut Floor, args: Args| {
            f.seen += 1;
            if f.seen < n {
                f.queue.push_back((0, step, args));
            }
        }),
    );
    let mut floor = Floor {
        queue: VecDeque::new(),
        seen: 0,
    };
    floor.queue.push_back((0, step, Args::from((0,))));
    floor_run(&mut floor, &[a]);
    floor.seen
}

fn floor_burst(n: u64) -> u64 {
    let item = Event::new("item");
    let mut a: FxHashMap<Event, FloorHandler> = FxHashMap::default();
    a.insert(item, Box::new(|f: &mut Floor, _| f.seen += 1));
    let mut floor = Floor {
        queue: VecDeque::new(),
        seen: 0,
    };
    for i in 0..n {
        floor.queue.push_back((0, item, Args::from((i,))));
    }
    floor_run(&mut floor, &[a]);
    floor.seen
}

fn floor_fan_in(n: u64) -> u64 {
    let (data, more) = (Event::new("data"), Event::new("more"));
    let mut handlers: Vec<FxHashMap<Event, FloorHandler>> = Vec::new();
    let mut sink: FxHashMap<Event, FloorHandler> = FxHashMap::default();
    sink.insert(data, Box::new(|f: &mut Floor, _| f.seen += 1));
    handlers.push(sink);
    for producer in 1..=PRODUCERS as usize {
        let mut p: FxHashMap<Event, FloorHandler> = FxHashMap::default();
        p.insert(
            more,
            Box::new(move |f: &mut Floor, args: Args| {
                let left = args[0].as_int().unwrap_or(0) as u64;
                for i in 0..CHUNK.min(left) {
                    f.queue.push_back((0, data, Args::from((i,))));
                }
                let left = left.saturating_sub(CHUNK);
                if left > 0 {
                    f.queue.push_back((producer, more, Args::from((left,))));
                }
            }),
        );
        handlers.push(p);
    }
    let mut floor = Floor {
        queue: VecDeque::new(),
        seen: 0,
    };
    for producer in 1..=PRODUCERS as usize {
        floor
            .queue
            .push_back((producer, more, Args::from((n / PRODUCERS,))));
    }
    floor_run(&mut floor, &handlers);
    floor.seen
}

// ----- criterion -------------------------------------------------------------------

/// A roe workload of `roe::workloads::dispatch`, which times itself from
/// making its kernel to dropping it.
type RoeWorkload = fn(u64) -> Outcome<Measured>;

/// One group: each roe workload under its function name, then the peers.
fn workload(
    c: &mut Criterion,
    name: &str,
    roe: &[(&str, RoeWorkload)],
    tokio: fn(&tokio::runtime::Runtime, u64) -> u64,
    floor: fn(u64) -> u64,
) {
    let rt = tokio_rt();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(N));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    for &(function, run) in roe {
        group.bench_function(BenchmarkId::new(function, N), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let measured = run(N).unwrap_or_else(|e| panic!("{name}, {function}: {e}"));
                        assert_eq!(measured.ops(), N, "every event handled");
                        measured.elapsed()
                    })
                    .sum()
            });
        });
    }
    group.bench_function(BenchmarkId::new("tokio", N), |b| {
        b.iter(|| assert!(black_box(tokio(&rt, N)) >= N));
    });
    group.bench_function(BenchmarkId::new("floor", N), |b| {
        b.iter(|| assert!(black_box(floor(N)) >= N))
    });
    group.finish();
}

fn w1_ping_pong(c: &mut Criterion) {
    workload(
        c,
        "W1 ping-pong",
        &[
            ("roe", dispatch::ping_pong),
            ("roe, idle fds watched", dispatch::ping_pong_idle_io),
        ],
        tokio_ping_pong,
        floor_ping_pong,
    );
}

fn w2_chain(c: &mut Criterion) {
    workload(
        c,
        "W2 chain",
        &[("roe", dispatch::chain)],
        tokio_chain,
        floor_chain,
    );
}

fn w2_burst(c: &mut Criterion) {
    workload(
        c,
        "W2 burst",
        &[("roe", dispatch::burst)],
        tokio_burst,
        floor_burst,
    );
}

fn w3_fan_in(c: &mut Criterion) {
    workload(
        c,
        "W3 fan-in",
        &[("roe", dispatch::fan_in)],
        tokio_fan_in,
        floor_fan_in,
    );
}

criterion_group!(dispatch, w1_ping_pong, w2_chain, w2_burst, w3_fan_in);
criterion_main!(dispatch);
