//! What one run of a workload measured, and the summaries read from it.

use std::time::Duration;

/// What one run of a workload measured: operations, the time they took,
/// and, where the workload times them, each round trip's latency or the
/// CPU time its thread spent.
#[derive(Debug, Clone)]
pub struct Measured {
    ops: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    cpu: Option<Duration>,
}

/// The median and 99th percentile of a run's round-trip latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// The median.
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
}

impl Measured {
    /// `ops` operations in `elapsed` of wall-clock time.
    pub fn new(ops: u64, elapsed: Duration) -> Measured {
        Measured {
            ops,
            elapsed,
            latencies: Vec::new(),
            cpu: None,
        }
    }

    /// Adds each round trip's latency.
    pub fn with_latencies(mut self, latencies: Vec<Duration>) -> Measured {
        self.latencies = latencies;
        self
    }

    /// Adds the CPU time the workload's thread spent, which then becomes
    /// the basis of [`ops_per_sec`](Measured::ops_per_sec): for a workload
    /// that mostly waits (W4 waits for deadlines), wall-clock time would
    /// rate the waiting.
    pub fn per_cpu(mut self, cpu: Duration) -> Measured {
        self.cpu = Some(cpu);
        self
    }

    /// Operations done: events handled, timer operations, round trips or
    /// messages, as the workload counts them.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Wall-clock time of the measured part of the run.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// CPU time of the workload's thread, where the rate is per CPU-second.
    pub fn cpu(&self) -> Option<Duration> {
        self.cpu
    }

    /// Each round trip's latency, in the order they were timed (or sorted,
    /// once [`percentiles`](Measured::percentiles) has run); empty where the
    /// workload does not time round trips.
    pub fn latencies(&self) -> &[Duration] {
        &self.latencies
    }

    /// Operations per second of CPU time where [`cpu`](Measured::cpu) is
    /// set, of wall-clock time otherwise.
    pub fn ops_per_sec(&self) -> f64 {
        let basis = self.cpu.unwrap_or(self.elapsed).as_secs_f64();
        // A clock too coarse to see the run would make the rate infinite.
        self.ops as f64 / basis.max(1e-9)
    }

    /// The p50 and p99 of the round-trip latencies (sorting them in place);
    /// `None` when there are none.
    pub fn percentiles(&mut self) -> Option<Percentiles> {
        self.latencies.sort_unstable();
        let last = self.latencies.len().checked_sub(1)?;
        let at = |q: f64| self.latencies[(last as f64 * q).round() as usize];
        Some(Percentiles {
            p50: at(0.50),
            p99: at(0.99),
        })
    }
}
