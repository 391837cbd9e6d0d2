//! W4: a million timers with pseudo-random deadlines within 100 ms, all
//! fired, and half cancelled before the rest fire; beside tokio-util's
//! `DelayQueue` (current_thread runtime), an indexed heap (compact keys,
//! O(log n) cancel: the structure roe's timing wheel was chosen over), and a
//! floor (a `BinaryHeap` with lazy cancellation and a sleep until the next
//! deadline). The heap and the floor are bare structures with no kernel
//! around them, so each is an upper bound for a kernel built on it.
//!
//! The figure of merit is timer operations (inserts + cancels + fires) per
//! CPU-second of the thread, so waiting for deadlines costs nothing: each
//! run's time is read from `/proc/thread-self/schedstat`. Each run checks
//! how many timers fired. roe's side is `roe::workloads::timers`, which
//! `roe bench` runs too, and which times its own CPU. Results:
//! docs/benchmarks.md.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use roe::workloads::{
    Measured, Outcome,
    timers::{self, deadlines, thread_cpu_time},
};
use tokio_util::time::DelayQueue;

/// Timers per run.
const N: usize = 1_000_000;

/// Timer operations in one run: N inserts, then N fires, or N/2 cancels and
/// N/2 fires; 2N either way.
const OPS: u64 = 2 * N as u64;

fn tokio_timers(rt: &tokio::runtime::Runtime, due: &[Duration], cancel: bool) -> usize {
    rt.block_on(async {
        let mut queue = DelayQueue::with_capacity(due.len());
        let keys: Vec<_> = due
            .iter()
            .enumerate()
            .map(|(i, &delay)| queue.insert(i, delay))
            .collect();
        if cancel {
            for key in keys.iter().step_by(2) {
                queue.remove(key);
            }
        }
        let mut fired = 0;
        while std::future::poll_fn(|cx| queue.poll_expired(cx))
            .await
            .is_some()
        {
            fired += 1;
        }
        fired
    })
}

fn floor_timers(due: &[Duration], cancel: bool) -> usize {
    let start = Instant::now();
    let mut heap = BinaryHeap::with_capacity(due.len());
    for (i, &delay) in due.iter().enumerate() {
        heap.push(Reverse((start + delay, i)));
    }
    let mut cancelled = vec![false; due.len()];
    if cancel {
        for flag in cancelled.iter_mut().step_by(2) {
            *flag = true;
        }
    }
    let mut fired = 0;
    while let Some(&Reverse((next, _))) = heap.peek() {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
            continue;
        }
        while let Some(&Reverse((at, i))) = heap.peek() {
            if at > now {
                break;
            }
            heap.pop();
            if !cancelled[i] {
                fired += 1;
            }
        }
    }
    fired
}

/// An indexed 4-ary min-heap of timers: 16-byte keys in the heap, each
/// timer's heap position in a slab, so a cancel finds its key in O(1) and
/// removes it in O(log n).
struct IndexedHeap {
    /// `(due, slot)`, ordered by due time then slot (set order, as the
    /// slab hands out slots in order here).
    keys: Vec<(u64, u32)>,
    /// Each slot's position in `keys`, or `GONE`.
    positions: Vec<u32>,
}

impl IndexedHeap {
    const GONE: u32 = u32::MAX;
    const ARITY: usize = 4;

    fn with_capacity(n: usize) -> IndexedHeap {
        IndexedHeap {
            keys: Vec::with_capacity(n),
            positions: Vec::with_capacity(n),
        }
    }

    fn insert(&mut self, due: u64) -> u32 {
        let slot = self.positions.len() as u32;
        self.positions.push(self.keys.len() as u32);
        self.keys.push((due, slot));
        self.sift_up(self.keys.len() - 1);
        slot
    }

    fn cancel(&mut self, slot: u32) -> bool {
        let at = self.positions[slot as usize];
        if at == Self::GONE {
            return false;
        }
        self.remove_at(at as usize);
        true
    }

    fn peek(&self) -> Option<u64> {
        self.keys.first().map(|&(due, _)| due)
    }

    fn pop(&mut self) -> Option<(u64, u32)> {
        let first = *self.keys.first()?;
        self.remove_at(0);
        Some(first)
    }

    fn remove_at(&mut self, at: usize) {
        let gone = self.keys.swap_remove(at);
        self.positions[gone.1 as usize] = Self::GONE;
        if at < self.keys.len() {
            // The key moved into the hole goes up or down, never both.
            let moved = self.keys[at].1 as usize;
            self.sift_up(at);
            self.sift_down(self.positions[moved] as usize);
        }
    }

    fn set(&mut self, at: usize, key: (u64, u32)) {
        self.keys[at] = key;
        self.positions[key.1 as usize] = at as u32;
    }

    fn sift_up(&mut self, mut at: usize) {
        let key = self.keys[at];
        while at > 0 {
            let parent = (at - 1) / Self::ARITY;
            if self.keys[parent] <= key {
                break;
            }
            self.set(at, self.keys[parent]);
            at = parent;
        }
        self.set(at, key);
    }

    fn sift_down(&mut self, mut at: usize) {
        let len = self.keys.len();
        if at >= len {
            return;
        }
        let key = self.keys[at];
        loop {
            let first = at * Self::ARITY + 1;
            if first >= len {
                break;
            }
            let last = (first + Self::ARITY).min(len);
            let (child, &least) = self.keys[first..last]
                .iter()
                .enumerate()
                .min_by_key(|&(_, k)| *k)
                .map(|(i, k)| (first + i, k))
                .expect("a non-empty range of children");
            if least >= key {
                break;
            }
            self.set(at, least);
            at = child;
        }
        self.set(at, key);
    }
}

fn heap_timers(due: &[Duration], cancel: bool) -> usize {
    let start = Instant::now();
    let mut heap = IndexedHeap::with_capacity(due.len());
    let slots: Vec<u32> = due
        .iter()
        .map(|delay| heap.insert(delay.as_nanos() as u64))
        .collect();
    if cancel {
        for &slot in slots.iter().step_by(2) {
            assert!(heap.cancel(slot), "a pending timer cancels");
        }
    }
    let mut fired = 0;
    let mut last = None;
    while let Some(next) = heap.peek() {
        let now = start.elapsed().as_nanos() as u64;
        if next > now {
            std::thread::sleep(Duration::from_nanos(next - now));
            continue;
        }
        while heap.peek().is_some_and(|at| at <= now) {
            let key = heap.pop().expect("a peeked key");
            assert!(last < Some(key), "timers fire in (due, set order)");
            last = Some(key);
            fired += 1;
        }
    }
    fired
}

/// The CPU time of this thread, which the peers' runs are timed by.
fn cpu_now() -> Duration {
    thread_cpu_time().unwrap_or_else(|e| panic!("W4 rates per CPU-second: {e}"))
}

/// Times a peer's runs by CPU, checking each fires `expect` timers.
fn measure(b: &mut criterion::Bencher<'_>, expect: usize, mut run: impl FnMut() -> usize) {
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = cpu_now();
            let fired = black_box(run());
            total += cpu_now().saturating_sub(start);
            assert_eq!(fired, expect, "every live timer fires once");
        }
        total
    });
}

/// A W4 workload on roe, which times its own CPU.
type RoeWorkload = fn(u64) -> Outcome<Measured>;

/// Sums roe's runs of `workload`, each timed by its own CPU time; the
/// workload checks its own timers fired and cancelled.
fn measure_roe(b: &mut criterion::Bencher<'_>, workload: RoeWorkload) {
    b.iter_custom(|iters| {
        (0..iters)
            .map(|_| {
                let measured = workload(N as u64).unwrap_or_else(|e| panic!("W4 on roe: {e}"));
                assert_eq!(
                    measured.ops(),
                    OPS,
                    "every timer armed, and fired or cancelled"
                );
                measured.cpu().expect("W4 measures CPU time")
            })
            .sum()
    });
}

fn w4(c: &mut Criterion) {
    let due = deadlines(N as u64);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current_thread runtime with timers");
    for (name, cancel, roe) in [
        ("W4 timers fire all", false, timers::fire_all as RoeWorkload),
        ("W4 timers cancel half", true, timers::cancel_half),
    ] {
        let expect = if cancel { N / 2 } else { N };
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(OPS));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(8));
        group.bench_function(BenchmarkId::new("roe", N), |b| measure_roe(b, roe));
        group.bench_function(BenchmarkId::new("tokio DelayQueue", N), |b| {
            measure(b, expect, || tokio_timers(&rt, &due, cancel));
        });
        group.bench_function(BenchmarkId::new("indexed heap", N), |b| {
            measure(b, expect, || heap_timers(&due, cancel));
        });
        group.bench_function(BenchmarkId::new("floor", N), |b| {
            measure(b, expect, || floor_timers(&due, cancel));
        });
        group.finish();
    }
}

criterion_group!(timers, w4);
criterion_main!(timers);
