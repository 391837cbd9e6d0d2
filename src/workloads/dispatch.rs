//! W1–W3: event dispatch inside one kernel.
//!
//! Each run is timed whole, from making the kernel to dropping it, as a
//! criterion sample of these benchmarks has always been; anything set up
//! before (the idle descriptors of [`ping_pong_idle_io`]) is not timed.
//! The counting handler's tally must come to the events asked for.

use std::{
    cell::Cell,
    io::{PipeReader, PipeWriter},
    net::TcpListener,
    rc::Rc,
    time::Instant,
};

use crate::{Error, Event, Kernel, Mode, Session};

use super::{Measured, Outcome};

/// Producers in the fan-in workload.
pub const PRODUCERS: u64 = 4;
/// Events a fan-in producer posts per turn.
pub const CHUNK: u64 = 64;

/// W1: session A posts `ping` to session B, which posts `pong` back; `n`
/// events in all, rounded up to whole round trips (two events each).
///
/// # Errors
///
/// The kernel's, or a tally short of the events asked for.
///
/// # Examples
///
/// ```
/// let measured = roe::workloads::dispatch::ping_pong(101)?;
/// assert_eq!(measured.ops(), 102);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn ping_pong(n: u64) -> Outcome<Measured> {
    rally(n, None)
}

/// W1-io: [`ping_pong`] while the kernel also watches an idle listening
/// socket and an idle pipe for reading, so every slice pays for watching
/// descriptors.
///
/// # Errors
///
/// As [`ping_pong`], and opening the descriptors, or one of them becoming
/// ready.
pub fn ping_pong_idle_io(n: u64) -> Outcome<Measured> {
    // Opened before the clock starts: the workload is dispatch beside idle
    // watchers, not opening sockets.
    rally(n, Some(IdleWatchers::open()?))
}

/// W1, with `idle` watched beside it when given.
fn rally(n: u64, idle: Option<IdleWatchers>) -> Outcome<Measured> {
    let (ping, pong) = (Event::new("ping"), Event::new("pong"));
    count_events(n.next_multiple_of(2), |kernel, seen| {
        let idle = match idle {
            Some(watchers) => Some(kernel.spawn(watchers.session())?),
            None => None,
        };
        let b = kernel.spawn(Session::new(()).on("_start", |cx, _| cx.alias_set("b")).on(
            ping,
            move |cx, args| {
                let sender = cx.sender();
                cx.post(sender, pong, args)
            },
        ))?;
        kernel.spawn(
            Session::new(0u64)
                .on("_start", move |cx, _| cx.post(b, ping, (0,)))
                .on(pong, move |cx, args| {
                    // This pong and the ping it answers.
                    *cx.heap += 2;
                    seen.set(*cx.heap);
                    if *cx.heap < n {
                        return cx.post(b, ping, args);
                    }
                    match idle {
                        // Nothing else ends the idle session.
                        Some(idle) => cx.post(idle, "done", ()),
                        None => Ok(()),
                    }
                }),
        )?;
        Ok(())
    })
}

/// A listening TCP socket nobody connects to and a pipe nobody writes to:
/// descriptors the kernel watches that never become ready.
struct IdleWatchers {
    listener: TcpListener,
    reader: PipeReader,
    /// Held open so that the read end never sees end of file (which would
    /// make it ready).
    writer: PipeWriter,
}

impl IdleWatchers {
    fn open() -> Outcome<IdleWatchers> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let (reader, writer) = std::io::pipe()?;
        Ok(IdleWatchers {
            listener,
            reader,
            writer,
        })
    }

    /// A session that watches both for reading until told `done`, when it
    /// removes the watchers and closes the descriptors, so that nothing
    /// keeps the kernel running.
    fn session(self) -> Session<Option<IdleWatchers>> {
        Session::new(Some(self))
            .on("_start", |cx, _| {
                let Some(watchers) = cx.heap.take() else {
                    return Err(Error::handler("the idle watchers are gone"));
                };
                cx.select_read(&watchers.listener, "ready", ())?;
                cx.select_read(&watchers.reader, "ready", ())?;
                *cx.heap = Some(watchers);
                Ok(())
            })
            .on("done", |cx, _| {
                if let Some(watchers) = cx.heap.take() {
                    cx.select_remove(&watchers.listener, Mode::Read);
                    cx.select_remove(&watchers.reader, Mode::Read);
                    drop(watchers.writer);
                }
            })
            .on("ready", |_, args| -> crate::Result<()> {
                // Readiness would make this a different workload (and a
                // busy one): fail rather than time it.
                Err(Error::handler(format!(
                    "idle descriptor {} became ready",
                    args[0]
                )))
            })
    }
}

/// W2 chain: one session yields to itself `n` times.
///
/// # Errors
///
/// The kernel's, or a tally short of `n`.
pub fn chain(n: u64) -> Outcome<Measured> {
    let step = Event::new("step");
    count_events(n, |kernel, seen| {
        kernel.spawn(
            Session::new(0u64)
                .on("_start", move |cx, _| cx.yield_(step, (0,)))
                .on(step, move |cx, args| {
                    *cx.heap += 1;
                    seen.set(*cx.heap);
                    if *cx.heap < n {
                        cx.yield_(step, args);
                    }
                }),
        )?;
        Ok(())
    })
}

/// W2 burst: one handler yields `n` events to its own session, then they
/// drain.
///
/// # Errors
///
/// The kernel's, or a tally short of `n`.
pub fn burst(n: u64) -> Outcome<Measured> {
    let item = Event::new("item");
    count_events(n, |kernel, seen| {
        kernel.spawn(
            Session::new(0u64)
                .on("_start", move |cx, _| {
                    for i in 0..n {
                        cx.yield_(item, (i,));
                    }
                })
                .on(item, move |cx, _| {
                    *cx.heap += 1;
                    seen.set(*cx.heap);
                }),
        )?;
        Ok(())
    })
}

/// W3: [`PRODUCERS`] sessions post to one sink, [`CHUNK`] at a time; `n`
/// sink events, shared out as evenly as they go.
///
/// # Errors
///
/// The kernel's, or a tally short of `n`.
pub fn fan_in(n: u64) -> Outcome<Measured> {
    let (data, more) = (Event::new("data"), Event::new("more"));
    count_events(n, |kernel, seen| {
        let sink = kernel.spawn(
            Session::new(0u64)
                .on("_start", |cx, _| cx.alias_set("sink"))
                .on(data, move |cx, _| {
                    *cx.heap += 1;
                    seen.set(*cx.heap);
                }),
        )?;
        for producer in 0..PRODUCERS {
            let share = n / PRODUCERS + u64::from(producer < n % PRODUCERS);
            kernel.spawn(
                Session::new(share)
                    .on("_start", move |cx, _| cx.yield_(more, ()))
                    .on(more, move |cx, _| {
                        for i in 0..CHUNK.min(*cx.heap) {
                            cx.post(sink, data, (i,))?;
                        }
                        *cx.heap = cx.heap.saturating_sub(CHUNK);
                        if *cx.heap > 0 {
                            cx.yield_(more, ());
                        }
                        Ok::<_, Error>(())
                    }),
            )?;
        }
        Ok(())
    })
}

/// Times a kernel from its making to its dropping, `spawn` giving it its
/// sessions and the tally their counting handler keeps, and fails unless
/// that tally comes to `n` events.
fn count_events(
    n: u64,
    spawn: impl FnOnce(&mut Kernel, Rc<Cell<u64>>) -> Outcome<()>,
) -> Outcome<Measured> {
    let seen = Rc::new(Cell::new(0));
    let started = Instant::now();
    let mut kernel = Kernel::new()?;
    spawn(&mut kernel, Rc::clone(&seen))?;
    kernel.run()?;
    drop(kernel);
    let elapsed = started.elapsed();
    let seen = seen.get();
    if seen != n {
        return Err(format!("{seen} of {n} events handled").into());
    }
    Ok(Measured::new(n, elapsed))
}
