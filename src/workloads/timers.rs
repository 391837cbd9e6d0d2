//! W4: `n` timers with pseudo-random deadlines within 100 ms, all fired, or
//! every other one cancelled first.
//!
//! The rate is timer operations (arms, cancels, fires: 2n either way) per
//! CPU-second of the kernel's thread, so waiting for deadlines costs
//! nothing; that time is read from `/proc/thread-self/schedstat`. The
//! deadlines are drawn before the clocks start; the kernel is timed from
//! its making to its dropping.

use std::{
    cell::Cell,
    rc::Rc,
    time::{Duration, Instant},
};

use crate::{Error, Event, Kernel, Session, TimerId};

use super::{Measured, Outcome};

/// Deadlines fall within this window.
const WINDOW_US: u64 = 100_000;

/// W4: arms `n` timers and fires them all.
///
/// # Errors
///
/// The kernel's, no CPU time to read, or a timer that did not fire.
pub fn fire_all(n: u64) -> Outcome<Measured> {
    timers(n, false)
}

/// W4 with cancels: arms `n` timers, cancels every other one (the first
/// included), and fires the rest.
///
/// # Errors
///
/// As [`fire_all`], and a cancel that did not take.
pub fn cancel_half(n: u64) -> Outcome<Measured> {
    timers(n, true)
}

/// `n` deterministic pseudo-random delays (xorshift64*) within 100 ms: the
/// deadlines every W4 implementation arms.
pub fn deadlines(n: u64) -> Vec<Duration> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            Duration::from_micros(state.wrapping_mul(0x2545_f491_4f6c_dd1d) % WINDOW_US)
        })
        .collect()
}

/// CPU time the calling thread has used, from the first field of its
/// schedstat (nanoseconds on the CPU).
///
/// # Errors
///
/// Where the file cannot be read or holds no CPU time: wall-clock time in
/// its place would rate the waiting W4 means to leave out.
pub fn thread_cpu_time() -> Outcome<Duration> {
    const PATH: &str = "/proc/thread-self/schedstat";
    let text = std::fs::read_to_string(PATH).map_err(|e| format!("cannot read {PATH}: {e}"))?;
    text.split_whitespace()
        .next()
        .and_then(|field| field.parse::<u64>().ok())
        .filter(|&ns| ns > 0)
        .map(Duration::from_nanos)
        .ok_or_else(|| format!("no CPU time in {PATH}: {text:?}").into())
}

fn timers(n: u64, cancel: bool) -> Outcome<Measured> {
    let ring = Event::new("ring");
    let due = deadlines(n);
    let fired = Rc::new(Cell::new(0u64));
    let cancelled = Rc::new(Cell::new(0u64));
    let (count, cancels) = (Rc::clone(&fired), Rc::clone(&cancelled));
    let cpu_started = thread_cpu_time()?;
    let started = Instant::now();
    let mut kernel = Kernel::new()?;
    kernel.spawn(
        Session::new(Vec::<TimerId>::new())
            .on("_start", move |cx, _| {
                for &delay in &due {
                    let id = cx.delay_set(ring, delay, ())?;
                    if cancel {
                        cx.heap.push(id);
                    }
                }
                for id in std::mem::take(cx.heap).into_iter().step_by(2) {
                    cx.alarm_remove(id)?;
                    cancels.set(cancels.get() + 1);
                }
                Ok::<_, Error>(())
            })
            .on(ring, move |_, _| count.set(count.get() + 1)),
    )?;
    kernel.run()?;
    drop(kernel);
    let elapsed = started.elapsed();
    let cpu = thread_cpu_time()?.saturating_sub(cpu_started);
    let (fired, cancelled) = (fired.get(), cancelled.get());
    let expect_cancelled = if cancel { n.div_ceil(2) } else { 0 };
    if cancelled != expect_cancelled || fired != n - expect_cancelled {
        return Err(format!(
            "{n} timers armed, {cancelled} cancelled (of {expect_cancelled}), \
             {fired} fired (of {})",
            n - expect_cancelled
        )
        .into());
    }
    Ok(Measured::new(n + cancelled + fired, elapsed).per_cpu(cpu))
}
