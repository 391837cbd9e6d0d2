//! Shared by the benchmarks: setup that makes cross-thread numbers mean
//! something on this machine kind, and latency summaries. Each benchmark
//! uses a part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// Pins the calling thread to one CPU and releases it again.
///
/// On this VM kind, a process lands in a slow regime for cross-thread
/// wake-ups (60–75 µs) until a thread has been pinned and unpinned once;
/// after that they cost 2–5 µs (docs/benchmarks.md, "The machine"). Benchmarks that
/// cross threads call this first, or their numbers are noise.
pub fn settle_wakeups() {
    let Ok(all) = sched_getaffinity(None) else {
        return;
    };
    let Some(first) = (0..CpuSet::MAX_CPU).find(|&cpu| all.is_set(cpu)) else {
        return;
    };
    let mut one = CpuSet::new();
    one.set(first);
    let _ = sched_setaffinity(None, &one);
    std::thread::sleep(Duration::from_millis(10));
    let _ = sched_setaffinity(None, &all);
}

/// The p50 and p99 of `samples` (sorted in place).
pub fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

/// What one run of round trips measured.
pub struct Run {
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Run {
    /// Times `round_trips` calls of `round_trip`, each alone and all together.
    pub fn measure(round_trips: usize, mut round_trip: impl FnMut(u64)) -> Run {
        let mut latencies = Vec::with_capacity(round_trips);
        let started = Instant::now();
        for n in 0..round_trips as u64 {
            let sent_at = Instant::now();
            round_trip(n);
            latencies.push(sent_at.elapsed());
        }
        Run {
            elapsed: started.elapsed(),
            latencies,
        }
    }
}
