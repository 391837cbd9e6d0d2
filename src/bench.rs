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

use roe::workloads::{self, Measured};

use crate::cli::{self, Parsed};
use crate::suite::{WORKLOADS, Workload};

/// What a workload and the command fail with; the message is shown as is.
pub type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

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
