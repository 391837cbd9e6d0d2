//! The `roe` command: `roe node` runs a full node on embedded defaults.

use std::{process::ExitCode, time::Duration};

use roe::{Kernel, Session, Value};

const USAGE: &str = "\
usage: roe <command> [options]

commands:
  node      run a node on embedded defaults until it is stopped
  help      print this text

node options:
  --heartbeat <ms>   heartbeat period of the node session (default 1000)
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("roe: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_env();
    let command = match parser.next()? {
        Some(Value(command)) => command.string()?,
        Some(Long("help") | Short('h')) | None => {
            print!("{USAGE}");
            return Ok(());
        }
        Some(other) => return Err(other.unexpected().into()),
    };
    match command.as_str() {
        "node" => {
            let mut options = NodeOptions::default();
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("heartbeat") => {
                        let ms: u64 = parser.value()?.parse()?;
                        if ms == 0 {
                            return Err("--heartbeat must be at least 1 ms".into());
                        }
                        options.heartbeat = Duration::from_millis(ms);
                    }
                    Long("help") | Short('h') => {
                        print!("{USAGE}");
                        return Ok(());
                    }
                    other => return Err(other.unexpected().into()),
                }
            }
            node(&options)
        }
        "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}; try `roe help`").into()),
    }
}

struct NodeOptions {
    heartbeat: Duration,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// The node session's state.
struct Node {
    heartbeat: Duration,
    beats: u64,
}

/// Runs a kernel with the node session: it answers `ping` calls and beats
/// on a timer, which keeps the kernel alive until SIGINT or SIGTERM, which
/// stop it cleanly.
fn node(options: &NodeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let mut kernel = Kernel::new()?;
    kernel.spawn(
        Session::new(Node {
            heartbeat: options.heartbeat,
            beats: 0,
        })
        .on("_start", |cx, _| {
            cx.alias_set("node")?;
            // Watching INT and TERM without handling them is POE's clean
            // shutdown: the terminal signal stops every session and `run`
            // returns (an unwatched one would kill the process outright).
            cx.sig("INT", "stopping", ())?;
            cx.sig("TERM", "stopping", ())?;
            let period = cx.heap.heartbeat;
            cx.delay("heartbeat", period, ())
        })
        .on("stopping", |_, args| println!("stopping on SIG{}", args[0]))
        .on("heartbeat", |cx, _| {
            cx.heap.beats += 1;
            let period = cx.heap.heartbeat;
            cx.delay("heartbeat", period, ())
        })
        .on("ping", |cx, _| {
            Value::from(format!("pong {}", cx.heap.beats))
        }),
    )?;
    println!("ready kernel={} pid={}", kernel.name(), std::process::id());
    kernel.run()?;
    println!("stopped");
    Ok(())
}
