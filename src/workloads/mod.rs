//! The benchmark workloads W1–W6 and IKC's (docs/benchmarks.md) on roe,
//! as both `roe bench` and the criterion benches in `benches/` run them:
//! one implementation of each, so the two can never drift apart.
//!
//! Each workload runs once at the count it is given, returns what it
//! [`Measured`], and checks its own result first (every event handled,
//! every timer fired, every response back), so that it can never time a
//! no-op: a workload that falls short is an error, not a fast result.
//!
//! - [`dispatch`]: W1–W3, events between sessions of one kernel;
//! - [`timers`]: W4, a million timers fired or half cancelled, rated per
//!   CPU-second;
//! - [`cross_kernel`]: W5, messages between kernels on their own threads;
//! - [`tcp`]: W6, request and response over loopback TCP;
//! - [`ikc`]: calls and pipelined posts between two processes' worth of
//!   IKC over loopback TCP;
//! - [`registry`]: registrations, finds and the event port's fan-out
//!   against a registry server over loopback TCP;
//! - [`fs`]: W1 while the fs view is read in a loop, and one read of a
//!   view's file (these need the view to mount).
//!
//! Workloads that cross threads (W5, W6, IKC) want [`settle_wakeups`]
//! called once first.
//!
//! # Examples
//!
//! ```
//! use roe::workloads::dispatch;
//!
//! let measured = dispatch::ping_pong(1_000)?;
//! assert_eq!(measured.ops(), 1_000);
//! assert!(measured.ops_per_sec() > 0.0);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

pub mod cross_kernel;
pub mod dispatch;
pub mod fs;
pub mod ikc;
mod measured;
pub mod registry;
pub mod tcp;
pub mod timers;

use std::time::Duration;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

pub use measured::{Measured, Percentiles};

/// What a workload returns: what it measured, or why it fell short (its
/// count not reached, a kernel's error, a failed system call); the message
/// is meant to be shown as is.
pub type Outcome<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Pins the calling thread to one CPU and releases it again.
///
/// On the virtual machines these benchmarks run on, a process lands in a
/// slow regime for cross-thread wake-ups (60–75 µs) until a thread has been
/// pinned and unpinned once; after that they cost 2–5 µs (docs/benchmarks.md,
/// "The machine"). Without this, W5 and W6 would measure the regime, not
/// roe. Where affinity cannot be read or set, there is nothing to settle.
pub fn settle_wakeups() {
    let Ok(all) = sched_getaffinity(None) else {
        return;
    };
    let Some(first) = (0..CpuSet::MAX_CPU).find(|&cpu| all.is_set(cpu)) else {
        return;
    };
    let mut one = CpuSet::new();
    one.set(first);
    if sched_setaffinity(None, &one).is_ok() {
        std::thread::sleep(Duration::from_millis(10));
        // Failing to unpin would leave every later workload on one CPU; the
        // cross-thread ones would then measure that.
        let _ = sched_setaffinity(None, &all);
    }
}
