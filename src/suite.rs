//! The benchmark suite: every workload `roe bench` runs, in order, with its
//! count and what it does. The command runs them; the command table
//! (`cli`) names them for `--only`'s completions and the help, which is why
//! they live below both.

use roe::workloads::{self, Measured, cross_kernel, dispatch, fs, ikc, registry, tcp, timers};

/// One workload: its name in the output, what it does (after its count,
/// in `roe bench --help`), its count at `--scale 1`, the least count it
/// can run with, and the function that runs it once.
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    pub count: u64,
    pub min: u64,
    pub run: fn(u64) -> workloads::Outcome<Measured>,
}

/// Every workload, in the order a default run prints them; `roe bench
/// --help` lists them from here, with their counts.
pub const WORKLOADS: [Workload; 18] = [
    Workload {
        name: "w1_pingpong",
        about: "events between two sessions",
        count: 1_000_000,
        // One round trip: a ping and its pong.
        min: 2,
        run: dispatch::ping_pong,
    },
    Workload {
        name: "w1_pingpong_io",
        about: "the same beside an idle socket and pipe watched for reading",
        count: 1_000_000,
        min: 2,
        run: dispatch::ping_pong_idle_io,
    },
    Workload {
        name: "w2_selfpost_chain",
        about: "events, each yielded by the one before",
        count: 1_000_000,
        min: 1,
        run: dispatch::chain,
    },
    Workload {
        name: "w2_selfpost_burst",
        about: "events yielded by one handler, then drained",
        count: 1_000_000,
        min: 1,
        run: dispatch::burst,
    },
    Workload {
        name: "w3_fanin",
        about: "events from 4 sessions to one, 64 at a time",
        count: 1_000_000,
        // Every producer posts at least once.
        min: dispatch::PRODUCERS,
        run: dispatch::fan_in,
    },
    Workload {
        name: "w4_timers",
        about: "timers within 100 ms, all fired (rate per CPU-second)",
        count: 1_000_000,
        min: 1,
        run: timers::fire_all,
    },
    Workload {
        name: "w4_timers_cancel",
        about: "the same, every other timer cancelled",
        count: 1_000_000,
        // One timer cancelled and one fired, or it is not this workload.
        min: 2,
        run: timers::cancel_half,
    },
    Workload {
        name: "w5_xthread_pingpong",
        about: "round trips between two pinned kernels",
        count: 200_000,
        min: 1,
        // Pinned, each kernel on its core, as `roe bench --help` states.
        run: |n| cross_kernel::ping_pong(n, true),
    },
    Workload {
        name: "w5_xthread_fanin",
        about: "events from each of 2 kernels to a third",
        // Per producer kernel; the sink receives twice this.
        count: 200_000,
        min: 1,
        run: |n| cross_kernel::fan_in(n, true),
    },
    Workload {
        name: "w6_tcp_rr",
        about: "round trips of 64 bytes over loopback TCP",
        count: 100_000,
        min: 1,
        run: |n| tcp::exchange(n, 1),
    },
    Workload {
        name: "w6_tcp_pipelined",
        about: "messages of 64 bytes, 64 in flight",
        count: 1_000_000,
        // A full window in flight at least once.
        min: tcp::IN_FLIGHT as u64,
        run: |n| tcp::exchange(n, tcp::IN_FLIGHT),
    },
    Workload {
        name: "ikc_rr",
        about: "calls of 64 bytes over IKC (loopback TCP) between two kernels",
        count: 50_000,
        min: 1,
        run: ikc::round_trips,
    },
    Workload {
        name: "ikc_pipelined",
        about: "posts of 64 bytes over IKC, each acknowledged, 64 in flight",
        count: 200_000,
        // A full window in flight at least once.
        min: tcp::IN_FLIGHT as u64,
        run: |n| ikc::pipelined(n, tcp::IN_FLIGHT),
    },
    Workload {
        name: "registry_register",
        about: "registrations, a connection each, 64 in flight (loopback TCP)",
        count: 20_000,
        min: 1,
        run: registry::register,
    },
    Workload {
        name: "registry_find",
        about: "finds among 1,000 services, a connection each, 64 in flight",
        count: 50_000,
        min: 1,
        run: registry::find,
    },
    Workload {
        name: "registry_fanout",
        about: "registrations, each timed until 100 watchers have its event line",
        count: 2_000,
        min: 1,
        run: registry::fan_out,
    },
    Workload {
        name: "fs_w1_observed",
        about: "W1 events while a thread reads the fs view in a loop (needs FUSE)",
        count: 1_000_000,
        min: 2,
        run: fs::w1_observed,
    },
    Workload {
        name: "fs_read",
        about: "reads of the fs view's files, each timed from open to close (needs FUSE)",
        count: 20_000,
        min: 1,
        run: fs::read,
    },
];

/// The workloads' names, in order: what `--only` takes, for the
/// completions.
pub const NAMES: [&str; WORKLOADS.len()] = {
    let mut names = [""; WORKLOADS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = WORKLOADS[i].name;
        i += 1;
    }
    names
};

/// The workloads' section of `roe bench --help`: each name, count at
/// `--scale 1` and what it does, made from [`WORKLOADS`] so that the help
/// cannot state other counts than the ones run.
pub fn workloads_help() -> String {
    let width = NAMES.iter().map(|name| name.len()).max().unwrap_or(0);
    let counts: Vec<String> = WORKLOADS.iter().map(|w| thousands(w.count)).collect();
    let count_width = counts.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::from("workloads, in order, and their counts at --scale 1:\n");
    for (workload, count) in WORKLOADS.iter().zip(counts) {
        out += &format!(
            "  {:width$}  {count:>count_width$} {}\n",
            workload.name, workload.about
        );
    }
    out
}

/// `n` with commas between groups of three digits: 1,000,000.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
