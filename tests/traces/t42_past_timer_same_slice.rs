//! A slice dispatches what is due when it begins: a timer set during the
//! slice with a past due time runs in that slice, ahead of the events
//! already queued (past timers in due order); a yield and a zero delay wait
//! for the next slice.
//!
//! Mappings: `delay(negative => -1)` is `alarm` one second before now, and
//! `alarm(past => time() - 10)` is `alarm` ten seconds before now (a Rust
//! `Duration` is never negative; `delay` and `alarm` both clear same-named
//! timers first). `run_one_timeslice` returns `Ok(true)` where POE returns
//! 1 and `Ok(false)` where it returns `undef`.

use std::time::{Duration, SystemTime};

use roe::{Kernel, Session};

use crate::harness::check;

#[test]
fn past_timer_same_slice() {
    let mut kernel = Kernel::new().unwrap();
    kernel.run().unwrap();
    let mut session = Session::new(())
        .on("_start", |cx, _| {
            t!("_start yields q1 q2 q3");
            for n in 1..=3 {
                cx.yield_("q", (n,));
            }
        })
        .on("q", |cx, args| {
            let n = args[0].as_int().unwrap();
            t!(format!("  q{n}"));
            if n != 1 {
                return Ok(());
            }
            cx.delay("zero", Duration::ZERO, ())?;
            cx.yield_("yielded", ());
            cx.alarm("negative", SystemTime::now() - Duration::from_secs(1), ())?;
            cx.alarm("past", SystemTime::now() - Duration::from_secs(10), ())?;
            t!(
                "  q1 set delay(zero => 0), yield(yielded), delay(negative => -1), alarm(past => now - 10)"
            );
            Ok(())
        })
        .on("_stop", |_, _| t!("  _stop"));
    for (event, text) in [
        ("zero", "  zero (delay 0)"),
        ("yielded", "  yielded"),
        ("negative", "  negative (delay -1)"),
        ("past", "  past (alarm 10 s ago)"),
    ] {
        session = session.on(event, move |_, _| t!(text));
    }
    kernel.spawn(session).unwrap();
    for slice in 1..=8 {
        t!(format!("timeslice {slice}"));
        let more = kernel.run_one_timeslice().unwrap();
        t!("  -> returned", more.then_some(1u32));
        if !more {
            break;
        }
    }
    check(include_str!("expected/42_past_timer_same_slice.out"));
}
