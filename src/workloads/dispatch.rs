//! W1–W3: event dispatch inside one kernel, in the shapes of
//! `benches/dispatch.rs`. Each run is timed whole, from making the kernel
//! to `run` returning, as criterion times those benchmarks.

use std::{
    cell::Cell,
    io::{PipeReader, PipeWriter},
    net::TcpListener,
    rc::Rc,
    time::Instant,
};

use roe::{Args, Context, Error, Event, Kernel, Mode, Session, SessionId};

use super::{Measured, Outcome};

/// Producers in the fan-in workload, and events each posts per turn.
pub const PRODUCERS: u64 = 4;
const CHUNK: u64 = 64;

/// W1: two sessions post `ping` and `pong` to each other; `n` events.
pub fn ping_pong(n: u64) -> Outcome<Measured> {
    rally(n, false)
}

/// W1 with I/O: the same while the kernel also watches an idle listening
/// socket and an idle pipe, so every slice pays for watching descriptors.
pub fn ping_pong_io(n: u64) -> Outcome<Measured> {
    rally(n, true)
}

/// The ping-pong state both players share.
struct Rally {
    /// Events handled so far, by either player.
    handled: Cell<u64>,
    /// Events to handle in all.
    n: u64,
    /// The session watching idle descriptors, told `done` at the end.
    idle: Option<SessionId>,
}

impl Rally {
    /// Counts the event being handled, then returns the ball with `event`
    /// to `to`, or ends the rally once `n` events have been handled. Both
    /// players count, so `n` need not be even.
    fn volley<H: 'static>(
        &self,
        cx: &mut Context<'_, H>,
        to: SessionId,
        event: Event,
        args: Args,
    ) -> roe::Result<()> {
        let handled = self.handled.get() + 1;
        self.handled.set(handled);
        if handled < self.n {
            return cx.post(to, event, args);
        }
        match self.idle {
            Some(idle) => cx.post(idle, "done", ()),
            None => Ok(()),
        }
    }
}

fn rally(n: u64, io: bool) -> Outcome<Measured> {
    let (ping, pong) = (Event::new("ping"), Event::new("pong"));
    // Made before the clock starts: the workload is dispatch beside idle
    // watchers, not opening sockets.
    let idle = if io {
        Some(IdleWatchers::open()?)
    } else {
        None
    };
    let started = Instant::now();
    let mut kernel = Kernel::new()?;
    let idle = match idle {
        Some(watchers) => Some(kernel.spawn(watchers.session())?),
        None => None,
    };
    let state = Rc::new(Rally {
        handled: Cell::new(0),
        n,
        idle,
    });
    let b_state = Rc::clone(&state);
    let b = kernel.spawn(
        Session::new(())
            .on("_start", |_, _| {})
            .on(ping, move |cx, args| {
                let sender = cx.sender();
                b_state.volley(cx, sender, pong, args)
            }),
    )?;
    let a_state = Rc::clone(&state);
    kernel.spawn(
        Session::new(())
            .on("_start", move |cx, _| cx.post(b, ping, (0,)))
            .on(pong, move |cx, args| a_state.volley(cx, b, ping, args)),
    )?;
    kernel.run()?;
    let secs = started.elapsed();
    let handled = state.handled.get();
    if handled != n {
        return Err(format!("{handled} of {n} events handled").into());
    }
    Ok(Measured::new(n, secs))
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
            .on("ready", |_, args| -> roe::Result<()> {
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
pub fn chain(n: u64) -> Outcome<Measured> {
    let step = Event::new("step");
    let seen = Rc::new(Cell::new(0));
    let total = Rc::clone(&seen);
    let started = Instant::now();
    let mut kernel = Kernel::new()?;
    kernel.spawn(
        Session::new(0u64)
            .on("_start", move |cx, _| cx.yield_(step, (0,)))
            .on(step, move |cx, args| {
                *cx.heap += 1;
                total.set(*cx.heap);
                if *cx.heap < n {
                    cx.yield_(step, args);
                }
            }),
    )?;
    kernel.run()?;
    let secs = started.elapsed();
    check(seen.get(), n)?;
    Ok(Measured::new(n, secs))
}

/// W2 burst: one handler yields `n` events to its own session, then they
/// drain.
pub fn burst(n: u64) -> Outcome<Measured> {
    let item = Event::new("item");
    let seen = Rc::new(Cell::new(0));
    let total = Rc::clone(&seen);
    let started = Instant::now();
    let mut kernel = Kernel::new()?;
    kernel.spawn(
        Session::new(0u64)
            .on("_start", move |cx, _| {
                for i in 0..n {
                    cx.yield_(item, (i,));
                }
            })
            .on(item, move |cx, _| {
                *cx.heap += 1;
                total.set(*cx.heap);
            }),
    )?;
    kernel.run()?;
    let secs = started.elapsed();
    check(seen.get(), n)?;
    Ok(Measured::new(n, secs))
}

/// W3: four producers post to one sink, [`CHUNK`] at a time; `n` sink
/// events, shared out as evenly as they go.
pub fn fan_in(n: u64) -> Outcome<Measured> {
    let (data, more) = (Event::new("data"), Event::new("more"));
    let seen = Rc::new(Cell::new(0));
    let total = Rc::clone(&seen);
    let started = Instant::now();
    let mut kernel = Kernel::new()?;
    let sink = kernel.spawn(
        Session::new(0u64)
            .on("_start", |cx, _| cx.alias_set("sink"))
            .on(data, move |cx, _| {
                *cx.heap += 1;
                total.set(*cx.heap);
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
    kernel.run()?;
    let secs = started.elapsed();
    check(seen.get(), n)?;
    Ok(Measured::new(n, secs))
}

/// Fails unless `seen`, the events a workload's counting handler saw, is
/// the `n` it was asked for.
fn check(seen: u64, n: u64) -> Outcome<()> {
    if seen != n {
        return Err(format!("{seen} of {n} events handled").into());
    }
    Ok(())
}
