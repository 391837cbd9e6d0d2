//! The `roe` command: `roe node` runs a full node on embedded defaults;
//! `roe bench` runs the project's workloads on roe (see src/bench/).

mod bench;

use std::{process::ExitCode, time::Duration};

use roe::{KernelId, Runtime, Session, Value};

const USAGE: &str = "\
usage: roe <command> [options]

commands:
  node      run a node on embedded defaults until it is stopped
  bench     run the benchmark workloads on roe, one line per result
  help      print this text

node options:
  --kernels <n>      kernels to run, one pinned thread each (default: one per core)
  --heartbeat <ms>   heartbeat period of the node sessions (default 1000, at most a day)

bench options:
  --only <a,b,...>   run only the workloads whose names contain one of these
  --scale <f>        multiply every count by f (above 0, at most 1000; default 1)

bench workloads, in order, and their counts at --scale 1:
  w1_pingpong          1,000,000 events between two sessions
  w1_pingpong_io       the same beside an idle socket and pipe watched for reading
  w2_selfpost_chain    1,000,000 events, each yielded by the one before
  w2_selfpost_burst    1,000,000 events yielded by one handler, then drained
  w3_fanin             1,000,000 events from 4 sessions to one, 64 at a time
  w4_timers            1,000,000 timers within 100 ms, all fired (rate per CPU-second)
  w4_timers_cancel     the same, every other timer cancelled
  w5_xthread_pingpong  200,000 round trips between two pinned kernels
  w5_xthread_fanin     200,000 events from each of 2 kernels to a third
  w6_tcp_rr            100,000 round trips of 64 bytes over loopback TCP
  w6_tcp_pipelined     1,000,000 messages of 64 bytes, 64 in flight

Each result is a line `workload=<name> impl=roe ops=<n> secs=<s> ops_per_sec=<x>`,
plus `p50_us=<x> p99_us=<x>` where round trips are timed, and
`cpu_secs=<x> rate_basis=cpu` where the rate is per CPU-second (W4).
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
                        if !(1..=MAX_HEARTBEAT_MS).contains(&ms) {
                            return Err(format!(
                                "--heartbeat must be 1 to {MAX_HEARTBEAT_MS} ms (a day)"
                            )
                            .into());
                        }
                        options.heartbeat = Duration::from_millis(ms);
                    }
                    Long("kernels") => {
                        let n: usize = parser.value()?.parse()?;
                        if !(1..=MAX_KERNELS).contains(&n) {
                            return Err(format!("--kernels must be 1 to {MAX_KERNELS}").into());
                        }
                        options.kernels = n;
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
        "bench" => match bench::Options::parse(&mut parser)? {
            Some(options) => bench::run(&options),
            None => {
                print!("{USAGE}");
                Ok(())
            }
        },
        "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}; try `roe help`").into()),
    }
}

/// More kernels than this is a typo, not a machine.
const MAX_KERNELS: usize = 1024;

/// The longest heartbeat period `roe node` takes: a day, in milliseconds.
const MAX_HEARTBEAT_MS: u64 = 24 * 60 * 60 * 1000;

struct NodeOptions {
    kernels: usize,
    heartbeat: Duration,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            kernels: std::thread::available_parallelism().map_or(1, usize::from),
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// A node session's state.
struct Node {
    heartbeat: Duration,
    beats: u64,
}

/// Runs the node: a runtime of pinned kernels, each with a node session
/// that answers `ping` calls and beats on a timer (which keeps its kernel
/// alive). Kernel 0's also watches SIGINT and SIGTERM, on which it shuts the
/// runtime down cleanly.
fn node(options: &NodeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let heartbeat = options.heartbeat;
    let runtime = Runtime::builder()
        .kernels(options.kernels)
        .start(move |kernel| {
            kernel.spawn(node_session(kernel.id(), heartbeat))?;
            Ok(())
        })?;
    let name = runtime
        .handle()
        .snapshot(KernelId(0))
        .map(|snapshot| snapshot.name.clone())
        .unwrap_or_default();
    println!(
        "ready kernels={} kernel={name} pid={}",
        runtime.kernels(),
        std::process::id()
    );
    runtime.join()?;
    println!("stopped");
    Ok(())
}

/// Kernel `id`'s node session, aliased `node/<id>` (and `node` on kernel 0).
fn node_session(id: KernelId, heartbeat: Duration) -> Session<Node> {
    Session::new(Node {
        heartbeat,
        beats: 0,
    })
    .on("_start", move |cx, _| {
        cx.alias_set(format!("node/{id}"))?;
        if id.0 == 0 {
            cx.alias_set("node")?;
            cx.sig("INT", "stopping", ())?;
            cx.sig("TERM", "stopping", ())?;
        }
        let period = cx.heap.heartbeat;
        cx.delay("heartbeat", period, ())
    })
    .on("stopping", |cx, args| {
        println!("stopping on SIG{}", args[0]);
        // Handled here: the runtime's shutdown stops every kernel's
        // sessions, each with its `_stop`.
        cx.sig_handled();
        if let Some(runtime) = roe::RuntimeHandle::current() {
            runtime.shutdown();
        }
    })
    .on("heartbeat", |cx, _| {
        cx.heap.beats += 1;
        let period = cx.heap.heartbeat;
        cx.delay("heartbeat", period, ())
    })
    .on("ping", |cx, _| {
        Value::from(format!("pong {}", cx.heap.beats))
    })
}
