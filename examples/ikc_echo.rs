//! An IKC echo server: a kernel that publishes the session `echo` to
//! every peer that connects.
//!
//! ```text
//! cargo run --release --example ikc_echo -- [--port P] [--name N] [--max-clients N] [--idle-exit SECS]
//! ```
//!
//! Without `--port` it listens on 127.0.0.1 on a port the system picks;
//! without `--name` it is `EchoServer`. It prints `READY <port>` once it
//! listens, `<state> <value>` for every request it serves, and `BYE` when
//! it exits: after `stop`, after `--max-clients` clients have come and
//! gone, or after `--idle-exit` seconds without a request.
//!
//! The published states of `echo`:
//!
//! | state | returns (or does) |
//! |---|---|
//! | `echo` | `ARG0` |
//! | `upper` | `ARG0` in upper case |
//! | `sum` | the sum of the numbers in the list `ARG0` |
//! | `list` | the list `ARG0` (its length to a Perl caller in scalar context) |
//! | `undef` | nothing (`undef`) |
//! | `notify` | no reply: it only prints |
//! | `tell_back` | posts `told` with `(ARG0, "told-extra")` back to the sender |
//! | `respond` | `ARG0` is `[data, rsvp]`: posts `{echo => data}` to the RSVP |
//! | `stop` | `stopping`, then shuts IKC down and exits |
//!
//! `secret` exists but is not published: peers are refused it.
//!
//! The same port serves roe's native peers and unmodified Perl IKC peers
//! (ClientLite and full kernels, IKC0 or the legacy handshake, Storable):
//! the first bytes of a connection say which.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use roe::{Args, Context, Kernel, Map, Session, Value};
use roe_ikc::{Ikc, IkcConfig, IkcServer, Specifier};

/// What the command line asked for.
struct Options {
    port: u16,
    name: String,
    max_clients: Option<u64>,
    idle_exit: Option<Duration>,
}

fn options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut options = Options {
        port: 0,
        name: "EchoServer".into(),
        max_clients: None,
        idle_exit: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("port") => options.port = parser.value()?.parse()?,
            Long("name") => options.name = parser.value()?.string()?,
            Long("max-clients") => options.max_clients = Some(parser.value()?.parse()?),
            Long("idle-exit") => {
                let seconds: f64 = parser.value()?.parse()?;
                if !(seconds.is_finite() && seconds > 0.0 && seconds < 1e9) {
                    return Err("--idle-exit takes a positive number of seconds".into());
                }
                options.idle_exit = Some(Duration::from_secs_f64(seconds));
            }
            Long("help") | Short('h') => {
                println!(
                    "usage: ikc_echo [--port P] [--name N] [--max-clients N] [--idle-exit SECS]"
                );
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(options)
}

/// The echo session's state.
struct Echo {
    /// Clients gone so far, and how many may go before the server exits.
    gone: u64,
    max_clients: Option<u64>,
    idle_exit: Option<Duration>,
    last_request: Instant,
    stopping: bool,
}

/// Prints one line and flushes it (a test reads it as it comes).
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Notes a request: prints it, and puts off the idle exit.
fn served(cx: &mut Context<'_, Echo>, value: &Value) {
    say(format_args!("{} {value}", cx.state()));
    cx.heap.last_request = Instant::now();
}

fn echo_session(options: &Options) -> Session<Echo> {
    Session::new(Echo {
        gone: 0,
        max_clients: options.max_clients,
        idle_exit: options.idle_exit,
        last_request: Instant::now(),
        stopping: false,
    })
    .on("_start", |cx, _| {
        cx.alias_set("echo")?;
        let states = [
            "echo",
            "upper",
            "sum",
            "list",
            "undef",
            "notify",
            "tell_back",
            "respond",
            "stop",
        ];
        let states = Value::List(states.iter().map(|s| Value::from(*s)).collect());
        cx.call("IKC", "publish", ("echo", states))?;
        let mut monitor = Map::new();
        monitor.insert("unregister".into(), Value::from("client_gone"));
        cx.post("IKC", "monitor", ("*", Value::Map(monitor)))?;
        if let Some(idle) = cx.heap.idle_exit {
            cx.delay("idle_check", idle, ())?;
        }
        Ok::<_, roe::Error>(())
    })
    .on("echo", |cx, args| {
        served(cx, &args[0]);
        args[0].clone()
    })
    .on("upper", |cx, args| {
        served(cx, &args[0]);
        Value::from(args[0].to_string().to_uppercase())
    })
    .on("sum", |cx, args| {
        served(cx, &args[0]);
        sum(&args[0])
    })
    .on("list", |cx, args| {
        served(cx, &args[0]);
        let items = match &args[0] {
            Value::List(items) => items.clone(),
            other => vec![other.clone()],
        };
        // A Perl caller in scalar context gets the length, as Perl's
        // `return @list` gives; everyone else the list.
        match roe_ikc::wantarray() {
            Some(false) => Value::from(items.len()),
            _ => Value::List(items),
        }
    })
    .on("undef", |cx, args| {
        served(cx, &args[0]);
        Value::Undef
    })
    .on("notify", |cx, args| served(cx, &args[0]))
    .on("tell_back", |cx, args| {
        served(cx, &args[0]);
        let sender = cx.sender();
        cx.post(sender, "told", (args[0].clone(), "told-extra"))
    })
    .on("respond", |cx, args| {
        served(cx, &args[0]);
        respond(cx, &args)
    })
    .on("secret", |cx, args| {
        // Unpublished: only this process may call it.
        served(cx, &args[0]);
        Value::from("the secret")
    })
    .on("stop", |cx, args| {
        served(cx, &args[0]);
        stop(cx);
        Value::from("stopping")
    })
    .on("client_gone", |cx, args| {
        // A `*` monitor hears of every name a kernel had; count the ID.
        if !args[2].is_true() {
            return;
        }
        cx.heap.gone += 1;
        if cx.heap.max_clients.is_some_and(|max| cx.heap.gone >= max) {
            stop(cx);
        }
    })
    .on("idle_check", |cx, _| {
        let Some(idle) = cx.heap.idle_exit else {
            return Ok(());
        };
        if cx.heap.stopping {
            return Ok(());
        }
        let quiet = cx.heap.last_request.elapsed();
        if quiet >= idle {
            stop(cx);
            return Ok(());
        }
        cx.delay("idle_check", idle - quiet, ()).map(drop)
    })
}

/// The sum of a list of numbers: an integer while every term is one (and
/// the sum fits), else a float.
fn sum(value: &Value) -> Value {
    let items: &[Value] = value.as_list().unwrap_or_default();
    let mut int: Option<i64> = Some(0);
    let mut float = 0.0;
    for item in items {
        let x = item
            .as_float()
            .or_else(|| item.as_int().map(|n| n as f64))
            .or_else(|| item.as_str().and_then(|s| s.trim().parse().ok()))
            .unwrap_or(0.0);
        float += x;
        int = match (int, item.as_int()) {
            (Some(total), Some(n)) => total.checked_add(n),
            _ => None,
        };
    }
    int.map_or(Value::Float(float), Value::Int)
}

/// `respond`: `ARG0` is `[data, rsvp]`; `{echo => data}` goes to the RSVP.
fn respond(cx: &mut Context<'_, Echo>, args: &Args) -> roe::Result<()> {
    let Some([data, rsvp]) = args[0]
        .as_list()
        .and_then(|l| <&[Value; 2]>::try_from(l).ok())
    else {
        return Ok(());
    };
    // The RSVP in IKC's string form or (from Perl's ClientLite) its hash
    // form.
    let rsvp = match rsvp {
        Value::Map(map) => match Specifier::from_map(map) {
            Ok(spec) => spec.to_string(),
            Err(_) => return Ok(()),
        },
        other => match other.as_str() {
            Some(text) => text.to_owned(),
            None => return Ok(()),
        },
    };
    let mut answer = Map::new();
    answer.insert("echo".into(), data.clone());
    cx.post(rsvp.as_str(), "", (Value::Map(answer),))
}

/// Shuts IKC down: connections close once their output is written, the
/// listener closes, and the kernel ends.
fn stop(cx: &mut Context<'_, Echo>) {
    if cx.heap.stopping {
        return;
    }
    cx.heap.stopping = true;
    let _ = cx.alarm_remove_all();
    let _ = cx.alias_remove("echo");
    let _ = cx.post("IKC", "shutdown", ());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let ikc = Ikc::new(IkcConfig::new(options.name.clone()))?;
    let mut kernel = Kernel::new()?;
    ikc.start(&mut kernel)?;
    let listener =
        IkcServer::tcp(format!("127.0.0.1:{}", options.port)).spawn(&ikc, &mut kernel)?;
    kernel.spawn(echo_session(&options))?;
    let port = listener.local_addr().map_or(0, |a| a.port());
    say(format_args!("READY {port}"));
    kernel.run()?;
    say(format_args!("BYE"));
    Ok(())
}
