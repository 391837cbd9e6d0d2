//! `roe bench`: the project's workloads (W1–W6, IKC's and the registry's, of
//! docs/benchmarks.md) on roe alone, one line of `key=value` fields per
//! result, so that other tools can put roe beside its peers without
//! criterion.
//!
//! The workloads are the library's [`roe::workloads`], the ones the
//! criterion benches in `benches/` run; here each runs once, at a count
//! given by `--scale`. A workload that falls short is an error, reported
//! on stderr, and the command exits non-zero after running the rest.

use std::ffi::OsString;

use roe::workloads::{self, Measured, cross_kernel, dispatch, fs, ikc, registry, tcp, timers};

use crate::cli::{self, Parsed};

/// What a workload and the command fail with; the message is shown as is.
pub type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

/// One workload: its name in the output, what it does (after its count,
/// in `roe bench --help`), its count at `--scale 1`, the least count it
/// can run with, and the function that runs it once.
struct Workload {
    name: &'static str,
    about: &'static str,
    count: u64,
    min: u64,
    run: fn(u64) -> workloads::Outcome<Measured>,
}

/// Every workload, in the order a default run prints them; `roe bench
/// --help` lists them from here, with their counts.
const WORKLOADS: [Workload; 18] = [
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

/// The largest `--scale`: beyond it a count is a typo, not a benchmark (a
/// thousand million timers would not fit in memory).
const MAX_SCALE: f64 = 1000.0;

/// What `roe bench` was asked to do.
pub struct Options {
    /// Multiplies every workload's count.
    scale: f64,
    /// Runs only workloads whose names contain one of these; all if empty.
    only: Vec<String>,
    /// Prints each result as a JSON object on its line (`--json`).
    json: bool,
}

impl Options {
    /// Reads `roe bench`'s options, after the word `bench`.
    ///
    /// # Errors
    ///
    /// An unknown option (with the nearest one, if one is close) or
    /// argument, a bad number, a `--scale` that is not
    /// a positive finite number up to [`MAX_SCALE`], or an `--only` name
    /// that matches no workload.
    pub fn parse(parser: &mut lexopt::Parser) -> Outcome<Parsed<Options>> {
        use lexopt::prelude::*;

        let mut options = Options {
            scale: 1.0,
            only: Vec::new(),
            json: false,
        };
        while let Some(arg) = parser.next()? {
            match arg {
                Long("scale") => options.scale = parse_scale(parser.value()?)?,
                Long("only") => {
                    let list = parser.value()?.string()?;
                    for name in list.split(',') {
                        options.only.push(check_only(name)?.to_owned());
                    }
                }
                Long("json") => options.json = true,
                Long("help") | Short('h') => return Ok(Parsed::Help(cli::command(&["bench"]))),
                other => return Err(cli::unexpected(other, &["bench"])),
            }
        }
        Ok(Parsed::Run(options))
    }

    /// Whether the workload `name` runs.
    fn selects(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|item| name.contains(item.as_str()))
    }

    /// A workload's count at this scale: never below its least count.
    fn count(&self, workload: &Workload) -> u64 {
        // Counts are at most a million and the scale at most MAX_SCALE, so
        // the conversion is exact.
        let scaled = (workload.count as f64 * self.scale).round() as u64;
        scaled.max(workload.min)
    }
}

/// `--scale`'s value: a finite number above 0, up to [`MAX_SCALE`].
fn parse_scale(value: OsString) -> Outcome<f64> {
    let text = value.to_string_lossy();
    let scale: f64 = text
        .parse()
        .map_err(|_| format!("--scale wants a number, not {text:?}"))?;
    if !(scale.is_finite() && scale > 0.0 && scale <= MAX_SCALE) {
        return Err(format!("--scale must be above 0 and at most {MAX_SCALE}, not {text}").into());
    }
    Ok(scale)
}

/// One `--only` name: it must match at least one workload, or a typo would
/// quietly run nothing.
fn check_only(name: &str) -> Outcome<&str> {
    if name.is_empty() {
        // It would match every workload: surely a stray comma.
        return Err("--only: an empty name in the list".into());
    }
    if WORKLOADS.iter().any(|w| w.name.contains(name)) {
        return Ok(name);
    }
    let names: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
    Err(format!(
        "--only: no workload matches {name:?} (workloads: {})",
        names.join(", ")
    )
    .into())
}

/// Runs the selected workloads in order, printing a line per result as it
/// comes.
///
/// # Errors
///
/// How many workloads failed, once all have run; each failure's reason is
/// already on stderr.
pub fn run(options: &Options) -> Outcome<()> {
    workloads::settle_wakeups();
    let mut failed = 0;
    let mut ran = 0;
    for workload in WORKLOADS.iter().filter(|w| options.selects(w.name)) {
        ran += 1;
        match (workload.run)(options.count(workload)) {
            Ok(measured) if options.json => println!("{}", json_line(workload.name, measured)),
            Ok(measured) => println!("{}", line(workload.name, measured)),
            Err(error) => {
                eprintln!("roe: bench: {}: {error}", workload.name);
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("bench: {failed} of {ran} workloads failed").into());
    }
    Ok(())
}

/// The output line for workload `name`: the fields `roe bench --help`
/// states, in that order.
fn line(name: &str, mut measured: Measured) -> String {
    let mut line = format!(
        "workload={name} impl=roe ops={} secs={:.9} ops_per_sec={:.0}",
        measured.ops(),
        measured.elapsed().as_secs_f64(),
        measured.ops_per_sec()
    );
    if let Some(percentiles) = measured.percentiles() {
        line += &format!(
            " p50_us={:.2} p99_us={:.2}",
            percentiles.p50.as_secs_f64() * 1e6,
            percentiles.p99.as_secs_f64() * 1e6
        );
    }
    if let Some(cpu) = measured.cpu() {
        line += &format!(" cpu_secs={:.9} rate_basis=cpu", cpu.as_secs_f64());
    }
    line
}

/// The `--json` line for workload `name`: the same results as [`line()`]'s,
/// as one JSON object, with the rate as `value` and its `unit`; the
/// optional fields are there exactly where [`line()`] has them, with the
/// same precision.
fn json_line(name: &str, mut measured: Measured) -> String {
    let unit = if measured.cpu().is_some() {
        "ops/cpu-s"
    } else {
        "ops/s"
    };
    let mut line = format!(
        r#"{{"name":{},"impl":"roe","unit":"{unit}","value":{:.0},"ops":{},"secs":{:.9}"#,
        crate::json::to_string(&roe::Value::from(name)),
        measured.ops_per_sec(),
        measured.ops(),
        measured.elapsed().as_secs_f64()
    );
    if let Some(percentiles) = measured.percentiles() {
        line += &format!(
            r#","p50_us":{:.2},"p99_us":{:.2}"#,
            percentiles.p50.as_secs_f64() * 1e6,
            percentiles.p99.as_secs_f64() * 1e6
        );
    }
    if let Some(cpu) = measured.cpu() {
        line += &format!(r#","cpu_secs":{:.9},"rate_basis":"cpu""#, cpu.as_secs_f64());
    }
    line.push('}');
    line
}
