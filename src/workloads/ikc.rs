//! IKC: request/response and a pipelined stream of posts between two
//! processes' worth of IKC over loopback TCP, messages of 64 bytes
//! ([`MESSAGE_SIZE`], a `Value::Bytes`).
//!
//! Each side has an [`Ikc`] of its own, as two processes would, and one
//! kernel on a thread of its own. The server (on a spawned thread) listens
//! with an [`IkcServer`] and publishes the session `echo`, whose state
//! `echo` returns its argument and whose state `sink` checks that each
//! message is the next in sequence and posts its number back to SENDER
//! (which IKC carries back across the connection). The client (on the
//! calling thread) connects with an [`IkcClient`], times the run, and
//! checks every answer and acknowledgement. Both sides end by posting
//! `shutdown` to IKC: the client once it has all it waited for, the server
//! when its monitor hears that the client left.

use std::{
    cell::RefCell,
    net::TcpStream,
    rc::Rc,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use roe_ikc::{Ikc, IkcClient, IkcConfig, IkcServer};

use crate::{Answer, Context, Error, Kernel, Map, Session, Value};

use super::{
    Measured, Outcome,
    tcp::{MESSAGE_SIZE, request},
};

/// The server's IKC name.
const SERVER: &str = "roe-bench-server";
/// The client's IKC name.
const CLIENT: &str = "roe-bench-client";
/// The published session, on the server.
const ECHO: &str = "poe://roe-bench-server/echo";
/// Its state that takes the pipelined posts.
const SINK: &str = "poe://roe-bench-server/echo/sink";

/// Round trips of a [`MESSAGE_SIZE`]-byte `Value::Bytes` argument, one at
/// a time: the client calls the server's `echo` with IKC's `call_reply`
/// and waits for the answer before the next; `n` round trips, each timed.
///
/// # Errors
///
/// No round trip asked for, either kernel's, a connection that failed or
/// was lost, or an answer missing, out of order or not a message.
pub fn round_trips(n: u64) -> Outcome<Measured> {
    if n == 0 {
        return Err("IKC round trips: none asked for".into());
    }
    let total = usize::try_from(n)?;
    let run = exchange(move |ikc, port, out| {
        client_session(ikc, port, out, total, total)
            .on("connected", |cx, _| {
                cx.heap.started = Instant::now();
                call_next(cx)
            })
            .on("answer", |cx, args| {
                let now = Instant::now();
                let heap = &mut *cx.heap;
                heap.latencies.push(now - heap.sent_at);
                let echoed = match Answer::from_args(&args) {
                    Answer::Returned(value) => sequence(&value)
                        .ok_or_else(|| Error::handler("an answer that is not a 64-byte block"))?,
                    other => return Err(Error::handler(format!("a call failed: {other:?}"))),
                };
                heap.check(echoed)?;
                if heap.next < heap.total {
                    call_next(cx)
                } else {
                    finish(cx)
                }
            })
    })?;
    Ok(Measured::new(n, run.elapsed).with_latencies(run.latencies))
}

/// A pipelined stream of `n` posts of a [`MESSAGE_SIZE`]-byte
/// `Value::Bytes` to the server's published state `sink`, at most
/// `in_flight` of them ([`IN_FLIGHT`](super::tcp::IN_FLIGHT) in `roe
/// bench`) not yet acknowledged: the server acknowledges each (checking it
/// is the next in sequence) with a post of its number back to SENDER, and
/// each acknowledgement lets the client post one more. Timed from the
/// connection to the last acknowledgement.
///
/// # Errors
///
/// No message or none in flight, either kernel's, a connection that failed
/// or was lost, or a message or acknowledgement out of order.
pub fn pipelined(n: u64, in_flight: usize) -> Outcome<Measured> {
    if n == 0 || in_flight == 0 {
        return Err(format!("IKC pipelined: {n} messages, {in_flight} in flight").into());
    }
    let total = usize::try_from(n)?;
    let run = exchange(move |ikc, port, out| {
        client_session(ikc, port, out, total, 0)
            .on("connected", move |cx, _| {
                cx.heap.started = Instant::now();
                while cx.heap.next < in_flight.min(cx.heap.total) {
                    post_next(cx)?;
                }
                Ok::<_, Error>(())
            })
            .on("ack", |cx, args| {
                let acked = args[0]
                    .as_int()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| Error::handler("an acknowledgement without a number"))?;
                cx.heap.check(acked)?;
                if cx.heap.next < cx.heap.total {
                    post_next(cx)
                } else {
                    finish(cx)
                }
            })
    })?;
    Ok(Measured::new(n, run.elapsed))
}

/// The sequence number a message starts with (see [`request`]), if the
/// value is a [`MESSAGE_SIZE`]-byte `Value::Bytes`.
fn sequence(value: &Value) -> Option<u64> {
    match value {
        Value::Bytes(bytes) if bytes.len() == MESSAGE_SIZE => {
            let mut number = [0u8; 8];
            number.copy_from_slice(&bytes[..8]);
            Some(u64::from_le_bytes(number))
        }
        _ => None,
    }
}

/// What the client measured.
struct Exchanged {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Where the client leaves what it measured.
type Out = Rc<RefCell<Option<Exchanged>>>;

/// Runs the server on a thread of its own and, on this thread, the client
/// session `client` builds (from the client's IKC, the server's port and
/// where to leave what it measured).
fn exchange(client: impl FnOnce(Ikc, u16, Out) -> Session<Client>) -> Outcome<Exchanged> {
    let (port_tx, port_rx) = mpsc::channel();
    let server = thread::Builder::new()
        .name("roe-ikc-server".to_owned())
        .spawn(move || serve(&port_tx).map_err(|e| e.to_string()))?;
    let Ok(port) = port_rx.recv() else {
        // It ended before it listened.
        let why = match server.join() {
            Ok(Err(error)) => error,
            Ok(Ok(())) => "it ended".to_owned(),
            Err(_) => "it panicked".to_owned(),
        };
        return Err(format!("the IKC server did not start: {why}").into());
    };
    let run = run_client(port, client);
    if run.is_err() {
        // A server that never heard from the client would wait forever:
        // give it a connection that ends at once, whose failed handshake
        // its monitor hears of. (A client that did connect closed its
        // connection when its kernel ended, which the server heard of too.)
        let _ = TcpStream::connect(("127.0.0.1", port));
    }
    let served = server
        .join()
        .map_err(|_| "the server thread panicked".to_owned())
        .and_then(|served| served.map_err(|e| format!("server: {e}")));
    let run = run?;
    served?;
    Ok(run)
}

/// The client: a kernel with IKC and the session `client` builds, run
/// until it has shut IKC down.
fn run_client(
    port: u16,
    client: impl FnOnce(Ikc, u16, Out) -> Session<Client>,
) -> Outcome<Exchanged> {
    let out: Out = Rc::new(RefCell::new(None));
    let ikc = Ikc::new(IkcConfig::new(CLIENT))?;
    let mut kernel = Kernel::new()?;
    ikc.start(&mut kernel)?;
    kernel.spawn(client(ikc, port, Rc::clone(&out)))?;
    kernel.run()?;
    let run = out
        .borrow_mut()
        .take()
        .ok_or("the client ended before every answer came back")?;
    Ok(run)
}

/// The server session's state.
struct Echo {
    /// The sequence number the next post to `sink` must carry.
    next: u64,
    stopping: bool,
}

/// The server: a kernel with IKC listening on a port of loopback (sent
/// back on `port`), and the session `echo` published, until the client
/// leaves (or a connection fails its handshake).
fn serve(port: &mpsc::Sender<u16>) -> crate::Result<()> {
    let ikc = Ikc::new(IkcConfig::new(SERVER))?;
    let mut kernel = Kernel::new()?;
    ikc.start(&mut kernel)?;
    let listener = IkcServer::tcp("127.0.0.1:0").spawn(&ikc, &mut kernel)?;
    let bound = listener
        .local_addr()
        .ok_or_else(|| Error::handler("a TCP listener without an address"))?;
    kernel.spawn(
        Session::new(Echo {
            next: 0,
            stopping: false,
        })
        .on("_start", |cx, _| {
            cx.alias_set("echo")?;
            let states = Value::List(vec!["echo".into(), "sink".into()]);
            cx.post("IKC", "publish", ("echo", states))?;
            let mut watch = Map::new();
            watch.insert("unregister".into(), "gone".into());
            watch.insert("error".into(), "gone".into());
            cx.post("IKC", "monitor", ("*", Value::Map(watch)))
        })
        .on("echo", |_, mut args| args.take(0))
        .on("sink", |cx, args| {
            let number = sequence(&args[0])
                .ok_or_else(|| Error::handler("a message that is not a 64-byte block"))?;
            if number != cx.heap.next {
                return Err(Error::handler(format!(
                    "message {number} came where {} was due",
                    cx.heap.next
                )));
            }
            cx.heap.next += 1;
            let sender = cx.sender();
            cx.post(sender, "ack", (number,))
        })
        // The monitor reports once per name of the kernel that left.
        .on("gone", |cx, _| {
            if cx.heap.stopping {
                return Ok(());
            }
            cx.heap.stopping = true;
            cx.alias_remove("echo")?;
            cx.post("IKC", "shutdown", ())
        }),
    )?;
    port.send(bound.port())
        .map_err(|_| Error::handler("no one waits for the port"))?;
    kernel.run()
}

/// The client session's state.
struct Client {
    total: usize,
    /// The next message's sequence number.
    next: usize,
    /// Answers or acknowledgements received.
    received: usize,
    /// When the round trip in flight began.
    sent_at: Instant,
    started: Instant,
    latencies: Vec<Duration>,
    out: Out,
    done: bool,
}

impl Client {
    /// Counts in the answer or acknowledgement of message `number`, which
    /// must be the next due.
    fn check(&mut self, number: u64) -> crate::Result<()> {
        if number != self.received as u64 {
            return Err(Error::handler(format!(
                "the answer to {number} came where {} was due",
                self.received
            )));
        }
        self.received += 1;
        Ok(())
    }
}

/// The client session without its workload: it connects to `port` (once:
/// a failure or a lost connection before the end is the run's failure),
/// and the workload starts on `connected`. `latencies` is the capacity of
/// the round-trip log.
fn client_session(
    ikc: Ikc,
    port: u16,
    out: Out,
    total: usize,
    latencies: usize,
) -> Session<Client> {
    Session::new(Client {
        total,
        next: 0,
        received: 0,
        sent_at: Instant::now(),
        started: Instant::now(),
        latencies: Vec::with_capacity(latencies),
        out,
        done: false,
    })
    .on("_start", move |cx, _| {
        let me = cx.session();
        IkcClient::tcp("127.0.0.1", port)
            .expect(SERVER)
            .once()
            .on_connect(me, "connected")
            .on_error(me, "lost")
            .spawn_in(&ikc, cx)
            .map(drop)
    })
    .on("lost", |cx, args| {
        if cx.heap.done {
            // The client's own shutdown.
            return Ok(());
        }
        Err(Error::handler(format!(
            "the IKC connection: {} failed: {}",
            args[0], args[2]
        )))
    })
}

/// Calls `echo` with the next message.
fn call_next(cx: &mut Context<'_, Client>) -> crate::Result<()> {
    let message = Value::Bytes(request(cx.heap.next));
    cx.heap.next += 1;
    cx.heap.sent_at = Instant::now();
    cx.call_reply(ECHO, "echo", (message,), "answer")
}

/// Posts the next message to `sink`.
fn post_next(cx: &mut Context<'_, Client>) -> crate::Result<()> {
    let message = Value::Bytes(request(cx.heap.next));
    cx.heap.next += 1;
    cx.post(SINK, "", (message,))
}

/// Once every answer is in: leaves what was measured and shuts IKC down,
/// which closes the connection (the server hears of it and stops too).
fn finish(cx: &mut Context<'_, Client>) -> crate::Result<()> {
    if cx.heap.received < cx.heap.total {
        return Ok(());
    }
    let heap = &mut *cx.heap;
    *heap.out.borrow_mut() = Some(Exchanged {
        elapsed: heap.started.elapsed(),
        latencies: std::mem::take(&mut heap.latencies),
    });
    heap.done = true;
    cx.post("IKC", "shutdown", ())
}
