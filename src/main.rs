//! The `roe` command: `roe node` runs a full node on embedded defaults;
//! `roe bench` runs the project's workloads on roe (src/bench.rs, running
//! the library's `roe::workloads`); `roe ikc` posts to, calls or pings an
//! IKC server (src/ikc.rs, through the lite client); `roe registry` serves
//! a registry or talks to one (src/registry.rs).

mod bench;
mod ikc;
mod json;
mod log;
mod node;
mod registry;

use std::{process::ExitCode, time::Duration};

use node::{MAX_HEARTBEAT_MS, MAX_KERNELS, Mount, NodeOptions};

const USAGE: &str = "\
usage: roe <command> [options]

commands:
  node      run a node on embedded defaults until it is stopped
  bench     run the benchmark workloads on roe, one line per result
  ikc       post to, call or ping an IKC server (roe's native wire)
  registry  serve a service registry, or find, watch, register or remove services
  help      print this text

node options:
  --kernels <n>      kernels to run, one pinned thread each (default: one per core)
  --heartbeat <ms>   heartbeat period of the node sessions (default 1000, at most a day)
  --ikc-listen <ip:port>  serve IKC there (default 127.0.0.1:6030; port 0: any free
                     port); the node prints `ikc <ip>:<port>` before `ready`
  --ikc-name <name>  the node's IKC name (default roe-node); it publishes the
                     session `node` with the state `ping`
  --registry <addr>  serve the registry there (default 127.0.0.1:6701,6702,6703,
                     see ADDR below; ports 0: any free ports), or `none` for no
                     registry; the node prints `registry <ip>:<new>,<find>,<event>`
                     after the `ikc` line
  --registry-state <file>  keep the registry's persistent services in this file
  --mount <dir>      mount the fs view (ProcAlike) there (default /tmp/roe_<pid>;
                     without /dev/fuse the node says so and runs without it)
  --no-mount         no fs view; with one, the node prints `fs <dir>` before `ready`
  --join <query>     connect by IKC to every node this registry query finds, e.g.
                     'proto ikc' (every node advertises its IKC server there)
  --join-registry <addr>  the registry to advertise in and join through (default:
                     the node's own)

  The node stops cleanly on SIGINT, SIGTERM or SIGHUP; SIGUSR1 prints a status
  line per kernel. The log goes to stderr, filtered by RUST_LOG (default info).

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
  ikc_rr               50,000 calls of 64 bytes over IKC (loopback TCP) between two kernels
  ikc_pipelined        200,000 posts of 64 bytes over IKC, each acknowledged, 64 in flight
  registry_register    20,000 registrations, a connection each, 64 in flight (loopback TCP)
  registry_find        50,000 finds among 1,000 services, a connection each, 64 in flight
  registry_fanout      2,000 registrations, each timed until 100 watchers have its event line

Each result is a line `workload=<name> impl=roe ops=<n> secs=<s> ops_per_sec=<x>`,
plus `p50_us=<x> p99_us=<x>` where round trips (or fan-outs) are timed, and
`cpu_secs=<x> rate_basis=cpu` where the rate is per CPU-second (W4).

ikc usage:
  roe ikc call (--to HOST:PORT | --unix PATH) [options] SPEC [ARG]
  roe ikc post (--to HOST:PORT | --unix PATH) [options] SPEC [ARG]
  roe ikc ping (--to HOST:PORT | --unix PATH) [options]

  SPEC is poe://kernel/session/state (the kernel empty, `*` or the server's
  name), or session/state on the server. ARG is one JSON value, sent as the
  event's one argument; without it there are none.

ikc options:
  --to <host:port>   the server's TCP address
  --unix <path>      the server's Unix socket instead
  --timeout <secs>   how long to wait for the connection and the answer (default 30)
  --key-file <path>  read the server's pre-shared key from a file (one trailing
                     newline is not part of the key)
  --key <key>        the key itself (visible to other local users in the process
                     list; prefer --key-file or ROE_IKC_KEY)

  Without --key-file or --key, the key is the environment's ROE_IKC_KEY, if set.

  call prints the value returned as one line of JSON; post prints nothing, and
  fails if the server refuses the post; ping prints {\"server\":NAME,\"micros\":N}.
  A failure, the server's refusal included, goes to stderr with exit status 1.

registry usage:
  roe registry serve [--listen ADDR] [--ports NEW,FIND,EVENT] [--state FILE]
      [--backend etcd=http://HOST:PORT [--etcd-prefix P] [--etcd-lease SECS]]
  roe registry find [--at ADDR] [ATTR VALUE]...
  roe registry watch [--at ADDR] [--since REVISION] [ATTR VALUE]...
  roe registry register [--at ADDR] [--token SECRET] NAME [ATTR VALUE]...
  roe registry remove [--at ADDR] [--token SECRET] NAME

  ADDR is HOST or HOST:NEW,FIND,EVENT (an IPv6 host in brackets); HOST alone
  means the ports 6701,6702,6703, and the default is 127.0.0.1. serve prints
  `registry <ip>:<new>,<find>,<event>` and runs until SIGINT or SIGTERM, keeping
  its persistent services in FILE if given. find prints the matching services,
  one line each (every service without ATTR VALUE; VALUE * matches any value).
  watch prints a line per change to the matching services, after the ones that
  match now (or, with --since, the changes after that revision):
  `<revision> add|update|remove <service>`, and `<revision> sync`. register
  prints `registered NAME` once the registry has it and holds it until
  interrupted (with `persist 1` among the attributes it stays after that;
  --token lets `remove --token` take it away). remove takes away a service
  whose connection has gone, and prints `removed NAME`.
  A refusal from the registry goes to stderr with exit status 1.
";

fn main() -> ExitCode {
    log::init();
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
                    Long("ikc-listen") => options.ikc_listen = parser.value()?.string()?,
                    Long("ikc-name") => options.ikc_name = parser.value()?.string()?,
                    Long("registry") => {
                        options.registry = match parser.value()?.string()?.as_str() {
                            "none" => None,
                            addr => Some(registry::parse_addr(addr)?),
                        };
                    }
                    Long("registry-state") => {
                        options.registry_state = Some(parser.value()?.into());
                    }
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
                    Long("help") | Short('h') => {
                        print!("{USAGE}");
                        return Ok(());
                    }
                    other => return Err(other.unexpected().into()),
                }
            }
            node::run(&options)
        }
        "bench" => match bench::Options::parse(&mut parser)? {
            Some(options) => bench::run(&options),
            None => {
                print!("{USAGE}");
                Ok(())
            }
        },
        "ikc" => match ikc::Options::parse(&mut parser)? {
            Some(options) => ikc::run(options),
            None => {
                print!("{USAGE}");
                Ok(())
            }
        },
        "registry" => match registry::Command::parse(&mut parser)? {
            Some(command) => registry::run(command),
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
