//! The `roe` command: `roe node` runs a full node on embedded defaults;
//! `roe bench` runs the project's workloads on roe (src/bench.rs, running
//! the library's `roe::workloads`); `roe ikc` posts to, calls or pings an
//! IKC server (src/ikc.rs, through the lite client); `roe registry` serves
//! a registry or talks to one (src/registry.rs); `roe completions` prints
//! a shell's completion script. Every command's usage, options and
//! examples are in one table (src/cli/), which `--help`, `roe help`, the
//! suggestions for a mistyped word and the completions are made from.

mod bench;
mod cli;
mod ikc;
mod json;
mod log;
mod node;
mod registry;
mod suite;

use std::{process::ExitCode, time::Duration};

use cli::{Outcome, Parsed};
use node::{MAX_HEARTBEAT_MS, MAX_KERNELS, Mount, NodeOptions};

fn main() -> ExitCode {
    log::init();
    match parse(lexopt::Parser::from_env()).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // A usage error is status 1 like any other failure: scripts and
            // the tests already expect 1 from a bad argument (`roe ikc`).
            eprintln!("roe: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
enum Job {
    Node(NodeOptions),
    Bench(bench::Options),
    Ikc(ikc::Options),
    Registry(registry::Command),
    /// A completion script for this shell.
    Completions(&'static str),
    /// A command's help.
    Help(&'static cli::Command),
}

impl<T> Parsed<T> {
    /// The job: `run` applied to the options, or the help.
    fn job(self, run: impl FnOnce(T) -> Job) -> Job {
        match self {
            Parsed::Run(options) => run(options),
            Parsed::Help(command) => Job::Help(command),
        }
    }
}

/// Reads the command line.
///
/// # Errors
///
/// A command, option or argument that is unknown (with the nearest one
/// there is, when one is close), missing or malformed.
fn parse(mut parser: lexopt::Parser) -> Outcome<Job> {
    use lexopt::prelude::*;

    let command = match parser.next()? {
        Some(Value(command)) => command.string()?,
        Some(Long("help") | Short('h')) | None => return Ok(Job::Help(&cli::ROOT)),
        Some(other) => return Err(cli::unexpected(other, &[])),
    };
    Ok(match command.as_str() {
        "node" => parse_node(&mut parser)?.job(Job::Node),
        "bench" => bench::Options::parse(&mut parser)?.job(Job::Bench),
        "ikc" => ikc::Options::parse(&mut parser)?.job(Job::Ikc),
        "registry" => registry::Command::parse(&mut parser)?.job(Job::Registry),
        "completions" => {
            let mut shell = None;
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("help") | Short('h') => {
                        return Ok(Job::Help(cli::command(&["completions"])));
                    }
                    Value(word) if shell.is_none() => {
                        let word = word.string()?;
                        let known = cli::complete::SHELLS.iter().find(|s| **s == word);
                        shell = Some(*known.ok_or_else(|| unknown_shell(&word))?);
                    }
                    other => return Err(cli::unexpected(other, &["completions"])),
                }
            }
            Job::Completions(shell.ok_or("completions: which shell? bash, zsh or fish")?)
        }
        "help" => {
            let mut words = Vec::new();
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("help") | Short('h') => return Ok(Job::Help(cli::command(&["help"]))),
                    Value(word) => words.push(word.string()?),
                    other => return Err(cli::unexpected(other, &["help"])),
                }
            }
            Job::Help(cli::help_for(&words)?)
        }
        other => return Err(cli::unknown_command(other, &[]).into()),
    })
}

/// Reads `roe node`'s options, after the word `node`.
///
/// # Errors
///
/// An option that is unknown (with the nearest one, if one is close), has
/// no value, or a value that is malformed or out of range.
fn parse_node(parser: &mut lexopt::Parser) -> Outcome<Parsed<NodeOptions>> {
    use lexopt::prelude::*;

    let mut options = NodeOptions::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("heartbeat") => {
                let ms: u64 = parser.value()?.parse()?;
                if !(1..=MAX_HEARTBEAT_MS).contains(&ms) {
                    return Err(
                        format!("--heartbeat must be 1 to {MAX_HEARTBEAT_MS} ms (a day)").into(),
                    );
                }
                options.heartbeat = Duration::from_millis(ms);
            }
            Long("ikc-listen") => options.ikc_listen = parser.value()?.string()?,
            Long("ikc-name") => options.ikc_name = parser.value()?.string()?,
            Long("registry") => {
                options.registry = match parser.value()?.string()?.as_str() {
                    "none" => None,
                    addr => Some(registry::parse_addr(addr)?),
                };
            }
            Long("registry-state") => options.registry_state = Some(parser.value()?.into()),
            Long("mount") => options.mount = Mount::At(parser.value()?.into()),
            Long("no-mount") => options.mount = Mount::None,
            Long("join") => {
                let text = parser.value()?.string()?;
                let query = roe_registry::parse_find(text.as_bytes())
                    .map_err(|e| format!("--join {text:?}: {e}"))?;
                options.join = Some(query);
            }
            Long("join-registry") => {
                let text = parser.value()?.string()?;
                let addr = text
                    .parse()
                    .map_err(|e| format!("--join-registry {text:?}: {e}"))?;
                options.join_registry = Some(addr);
            }
            Long("kernels") => {
                let n: usize = parser.value()?.parse()?;
                if !(1..=MAX_KERNELS).contains(&n) {
                    return Err(format!("--kernels must be 1 to {MAX_KERNELS}").into());
                }
                options.kernels = n;
            }
            Long("help") | Short('h') => return Ok(Parsed::Help(cli::command(&["node"]))),
            other => return Err(cli::unexpected(other, &["node"])),
        }
    }
    Ok(Parsed::Run(options))
}

/// Why `roe completions` does not know `word`.
fn unknown_shell(word: &str) -> String {
    match cli::closest(word, cli::complete::SHELLS.into_iter()) {
        Some(shell) => format!("completions: no script for {word:?}; did you mean {shell:?}?"),
        None => format!("completions: no script for {word:?}; bash, zsh or fish"),
    }
}

/// Does the job.
fn run(job: Job) -> Outcome<()> {
    match job {
        Job::Node(options) => node::run(&options),
        Job::Bench(options) => bench::run(&options),
        Job::Ikc(options) => ikc::run(options),
        Job::Registry(command) => registry::run(command),
        Job::Completions(shell) => {
            let script = cli::complete::script(shell).ok_or("completions: unknown shell")?;
            cli::print(&script)
        }
        Job::Help(command) => cli::print(&cli::help::render(command)),
    }
}
