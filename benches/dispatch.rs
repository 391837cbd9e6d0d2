//! W1–W3: event dispatch inside one kernel, beside tokio and a raw floor.
//!
//! Every workload runs three ways in one criterion run, so results read as
//! ratios: roe (sessions and posts), tokio (a current_thread runtime with
//! unbounded mpsc channels between tasks), and a floor (a `VecDeque` of
//! events and a per-receiver name lookup into boxed handlers: the least a
//! POE-shaped dispatcher can do). Each run checks its own count, so no
//! variant can measure a no-op. Results: docs/benchmarks.md.

use std::{cell::Cell, collections::VecDeque, hint::black_box, rc::Rc, time::Duration};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use roe::{Args, Event, Kernel, Session};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc::unbounded_channel;

/// Events per measured run.
const N: u64 = 1_000_000;
/// Producers in the fan-in workload, and events each posts per turn.
const PRODUCERS: u64 = 4;
const CHUNK: u64 = 64;

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current_thread runtime")
}

// ----- roe -----------------------------------------------------------------------

/// W1: A posts `ping` to B, B posts `pong` back; `n` events in all.
fn roe_ping_pong(n: u64) -> u64 {
    let (ping, pong) = (Event::new("ping"), Event::new("pong"));
    let mut kernel = Kernel::new().unwrap();
    let b = kernel
        .spawn(Session::new(()).on("_start", |cx, _| cx.alias_set("b")).on(
            ping,
            move |cx, args| {
                let sender = cx.sender();
                cx.post(sender, pong, args)
            },
        ))
        .unwrap();
    let seen = Rc::new(Cell::new(0));
    let total = Rc::clone(&seen);
    kernel
        .spawn(
            Session::new(0u64)
                .on("_start", move |cx, _| cx.post(b, ping, (0,)))
                .on(pong, move |cx, args| {
                    *cx.heap += 2;
                    total.set(*cx.heap);
                    if *cx.heap < n {
                        cx.post(b, ping, args)?;
                    }
                    Ok(())
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    seen.get()
}

/// W2 chain: one session yields to itself `n` times.
fn roe_chain(n: u64) -> u64 {
    let step = Event::new("step");
    let seen = Rc::new(Cell::new(0));
    let total = Rc::clone(&seen);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(0u64)
                .on("_start", move |cx, _| cx.yield_(step, (0,)))
                .on(step, move |cx, args| {
                    *cx.heap += 1;
                    total.set(*cx.heap);
                    if *cx.heap < n {
                        cx.yield_(step, args);
                    }
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    seen.get()
}

/// W2 burst: one handler posts `n` events to its own session, then they drain.
fn roe_burst(n: u64) -> u64 {
    let item = Event::new("item");
    let seen = Rc::new(Cell::new(0));
    let total = Rc::clone(&seen);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(0u64)
                .on("_start", move |cx, _| {
                    for i in 0..n {
                        cx.yield_(item, (i,));
                    }
                })
                .on(item, move |cx, _| {
                    *cx.heap += 1;
                    total.set(*cx.heap);
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    seen.get()
}

/// W3: four producers post to one sink, `CHUNK` at a time; `n` sink events.
fn roe_fan_in(n: u64) -> u64 {
    let (data, more) = (Event::new("data"), Event::new("more"));
    let seen = Rc::new(Cell::new(0));
    let total = Rc::clone(&seen);
    let mut kernel = Kernel::new().unwrap();
    let sink = kernel
        .spawn(
            Session::new(0u64)
                .on("_start", |cx, _| cx.alias_set("sink"))
                .on(data, move |cx, _| {
                    *cx.heap += 1;
                    total.set(*cx.heap);
                }),
        )
        .unwrap();
    for _ in 0..PRODUCERS {
        kernel
            .spawn(
                Session::new(n / PRODUCERS)
                    .on("_start", move |cx, _| cx.yield_(more, ()))
                    .on(more, move |cx, _| {
                        for i in 0..CHUNK.min(*cx.heap) {
                            cx.post(sink, data, (i,))?;
                        }
                        *cx.heap = cx.heap.saturating_sub(CHUNK);
                        if *cx.heap > 0 {
                            cx.yield_(more, ());
                        }
                        Ok(())
                    }),
            )
            .unwrap();
    }
    kernel.run().unwrap();
    seen.get()
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

fn workload(
    c: &mut Criterion,
    name: &str,
    roe: fn(u64) -> u64,
    tokio: fn(&tokio::runtime::Runtime, u64) -> u64,
    floor: fn(u64) -> u64,
) {
    let rt = tokio_rt();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(N));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    group.bench_function(BenchmarkId::new("roe", N), |b| {
        b.iter(|| assert!(black_box(roe(N)) >= N))
    });
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
        roe_ping_pong,
        tokio_ping_pong,
        floor_ping_pong,
    );
}

fn w2_chain(c: &mut Criterion) {
    workload(c, "W2 chain", roe_chain, tokio_chain, floor_chain);
}

fn w2_burst(c: &mut Criterion) {
    workload(c, "W2 burst", roe_burst, tokio_burst, floor_burst);
}

fn w3_fan_in(c: &mut Criterion) {
    workload(c, "W3 fan-in", roe_fan_in, tokio_fan_in, floor_fan_in);
}

criterion_group!(dispatch, w1_ping_pong, w2_chain, w2_burst, w3_fan_in);
criterion_main!(dispatch);
