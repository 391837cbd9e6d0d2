//! `/kernel/warnings`: what needs an operator's look now, one line each,
//! from the kernels' snapshots and the thresholds in `/kernel/sysctl`.
//!
//! POE::Devel::ProcAlike had no such file; it answers the question one
//! would otherwise ask with `grep -r` over every session's files. Reading
//! it asks every kernel for every session (the sessions are in snapshots
//! only while a reader asks), as listing a kernel's sessions asks for
//! their IDs.

use std::{fmt::Write, time::Duration};

use roe_engine::Snapshot;

use super::{View, seconds};

/// What `/kernel/warnings` warns of: the sysctl tunables
/// `slow_handler_ms` and `queue_warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Thresholds {
    /// A session whose longest dispatch took longer than this has a slow
    /// handler.
    pub slow_handler: Duration,
    /// A session with more queued items addressed to it than this has a
    /// large queue.
    pub queue: u32,
}

impl Default for Thresholds {
    /// 100 ms: a handler that long holds up every other session of its
    /// kernel for a time a person notices. 1000 events: a queue that long
    /// for one session is one it is not keeping up with.
    fn default() -> Thresholds {
        Thresholds {
            slow_handler: Duration::from_millis(100),
            queue: 1000,
        }
    }
}

/// The file: for each kernel in turn, whether it answered and whether its
/// posts overflowed, then its sessions by number, each line
/// `KIND SUBJECT FIGURES...` (docs/fs.md, "Warnings").
pub(super) fn render(view: &View) -> Vec<u8> {
    let limits = view.settings.thresholds;
    let mut out = String::new();
    for (k, snapshot) in view.kernels.iter().enumerate() {
        if view.unanswered.contains(&k) {
            let _ = writeln!(out, "unanswered {k}");
        }
        kernel_warnings(&mut out, k, snapshot, limits);
    }
    out.into_bytes()
}

fn kernel_warnings(out: &mut String, k: usize, snapshot: &Snapshot, limits: Thresholds) {
    let c = &snapshot.counters;
    // The counters are the sender's: the engine does not record which
    // kernel's inbox was full, only that this kernel's posts found one so.
    if c.overflowed > 0 {
        let _ = writeln!(out, "overflow {k} {} {}", c.overflowed, c.overflow_waiting);
    }
    for s in &snapshot.sessions {
        if s.handler_max > limits.slow_handler {
            let _ = writeln!(out, "slow_handler {} {}", s.id, seconds(s.handler_max));
        }
        if s.events_to > limits.queue {
            let _ = writeln!(out, "queue {} {}", s.id, s.events_to);
        }
    }
}
