//! W5: messaging between kernels of one [`Runtime`], each kernel on a
//! thread of its own, pinned to its core or not as the caller asks.
//!
//! The sessions time themselves and send what they measured to the driver
//! thread over a channel; the driver joins the runtime first (it ends once
//! every kernel is idle, so it cannot outlive the work), then reads the
//! channel, so a session that died never leaves it waiting.

use std::{
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::{Error, Event, KernelId, Runtime, Session, SessionId};

use super::{Measured, Outcome};

/// Fan-in producer kernels; the sink is on a kernel of its own.
pub const SENDERS: usize = 2;
/// Events a fan-in producer posts per handler call.
const BURST: u64 = 256;

/// What the pinger measured.
struct Rounds {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// The pinger's state.
struct Pinger {
    ponger: Option<SessionId>,
    left: u64,
    sent_at: Instant,
    started: Instant,
    latencies: Vec<Duration>,
    done: mpsc::Sender<Rounds>,
}

/// W5 ping-pong: a session on kernel 0 posts `ping` to one on kernel 1,
/// which posts `pong` back; `n` round trips, one in flight, each timed.
/// `pinned` pins each kernel's thread to its core.
///
/// # Errors
///
/// No round trip asked for, the runtime's, or a pinger that ended short of
/// `n` round trips.
pub fn ping_pong(n: u64, pinned: bool) -> Outcome<Measured> {
    if n == 0 {
        // The first pong would find no round trip left to count.
        return Err("W5 ping-pong needs at least one round trip".into());
    }
    let (ping, pong) = (Event::new("ping"), Event::new("pong"));
    let (done_tx, done_rx) = mpsc::channel();
    let capacity = usize::try_from(n)?;
    let runtime = Runtime::builder()
        .kernels(2)
        .pin(pinned)
        .start(move |kernel| {
            if kernel.id() == KernelId(1) {
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.alias_set("ponger"))
                        .on(ping, move |cx, args| {
                            let sender = cx.sender();
                            cx.post(sender, pong, args)
                        })
                        .on("done", |cx, _| cx.alias_remove("ponger")),
                )?;
                return Ok(());
            }
            kernel.spawn(
                Session::new(Pinger {
                    ponger: None,
                    left: n,
                    sent_at: Instant::now(),
                    started: Instant::now(),
                    latencies: Vec::with_capacity(capacity),
                    done: done_tx.clone(),
                })
                .on("_start", |cx, _| {
                    // The alias keeps the session alive while its ping is
                    // on another kernel (nothing local holds it then).
                    cx.alias_set("pinger")?;
                    // Kernel 1 sets its alias after this `init`; the first
                    // post goes once every kernel runs.
                    cx.yield_("go", ());
                    Ok::<_, Error>(())
                })
                .on("go", move |cx, _| {
                    let ponger = cx
                        .resolve("ponger")
                        .ok_or_else(|| Error::NoSuchSession("ponger".to_owned()))?;
                    cx.heap.ponger = Some(ponger);
                    cx.heap.started = Instant::now();
                    cx.heap.sent_at = Instant::now();
                    cx.post(ponger, ping, (0,))
                })
                .on(pong, move |cx, _| {
                    let now = Instant::now();
                    let heap = &mut *cx.heap;
                    heap.latencies.push(now - heap.sent_at);
                    heap.left -= 1;
                    let ponger = heap
                        .ponger
                        .ok_or_else(|| Error::handler("a pong before the ponger was found"))?;
                    if heap.left > 0 {
                        heap.sent_at = Instant::now();
                        return cx.post(ponger, ping, (0,));
                    }
                    let rounds = Rounds {
                        elapsed: heap.started.elapsed(),
                        latencies: std::mem::take(&mut heap.latencies),
                    };
                    heap.done
                        .send(rounds)
                        .map_err(|_| Error::handler("the driver stopped listening"))?;
                    cx.post(ponger, "done", ())?;
                    cx.alias_remove("pinger")
                }),
            )?;
            Ok(())
        })?;
    runtime.join()?;
    let rounds = done_rx
        .try_recv()
        .map_err(|_| "the pinger ended before its last round trip")?;
    let trips = rounds.latencies.len() as u64;
    if trips != n {
        return Err(format!("{trips} of {n} round trips timed").into());
    }
    Ok(Measured::new(n, rounds.elapsed).with_latencies(rounds.latencies))
}

/// W5 fan-in: a session on each of kernels 1 to [`SENDERS`] posts `n`
/// events, a burst at a time, to a sink on kernel 0; timed by the sink
/// from its first event to its last. `pinned` pins each kernel's thread to
/// its core.
///
/// # Errors
///
/// The runtime's, or a sink that did not receive every event.
pub fn fan_in(n: u64, pinned: bool) -> Outcome<Measured> {
    let item = Event::new("n");
    let total = n * SENDERS as u64;
    let (done_tx, done_rx) = mpsc::channel();
    let runtime = Runtime::builder()
        .kernels(SENDERS + 1)
        .pin(pinned)
        .start(move |kernel| {
            if kernel.id() == KernelId(0) {
                let done = done_tx.clone();
                kernel.spawn(
                    Session::new((0u64, None::<Instant>))
                        .on("_start", |cx, _| cx.alias_set("sink"))
                        .on(item, move |cx, _| {
                            let started = *cx.heap.1.get_or_insert_with(Instant::now);
                            cx.heap.0 += 1;
                            if cx.heap.0 == total {
                                done.send(started.elapsed())
                                    .map_err(|_| Error::handler("the driver stopped listening"))?;
                                cx.alias_remove("sink")?;
                            }
                            Ok::<_, Error>(())
                        }),
                )?;
                return Ok(());
            }
            kernel.spawn(
                Session::new(0u64)
                    .on("_start", |cx, _| cx.yield_("burst", ()))
                    .on("burst", move |cx, _| {
                        // Kernel 0 ran its `init` first, so the alias is set.
                        let sink = cx
                            .resolve("sink")
                            .ok_or_else(|| Error::NoSuchSession("sink".to_owned()))?;
                        let end = (*cx.heap + BURST).min(n);
                        for i in *cx.heap..end {
                            cx.post(sink, item, (i,))?;
                        }
                        *cx.heap = end;
                        if end < n {
                            cx.yield_("burst", ());
                        }
                        Ok::<_, Error>(())
                    }),
            )?;
            Ok(())
        })?;
    runtime.join()?;
    let elapsed = done_rx
        .try_recv()
        .map_err(|_| format!("the sink did not receive all {total} events"))?;
    Ok(Measured::new(total, elapsed))
}
