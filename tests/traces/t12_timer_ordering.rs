//! Timers fire by due time, equal times in the order set; a past due time
//! jumps ahead of queued posts; `delay` replaces same-named timers.
//!
//! Mapping: `delay(neg => -1)` is `alarm` one second in the past (a Rust
//! `Duration` is never negative; both clear same-named timers first).

use std::time::{Duration, SystemTime};

use roe::{Kernel, Session};

use crate::harness::{check, ms};

#[test]
fn timer_ordering() {
    let mut kernel = Kernel::new().unwrap();
    let mut session = Session::new(())
        .on("_start", |cx, _| {
            cx.delay_add("d", ms(60), ("delay-0.06",))?;
            cx.delay_add("d", ms(20), ("delay-0.02",))?;
            cx.delay_add("d", ms(40), ("delay-0.04",))?;
            let at = SystemTime::now() + ms(80);
            for n in 1..=4 {
                cx.alarm_add("eq", at, (format!("same-time-{n}"),))?;
            }
            cx.delay("rep", ms(10), ("first (should be replaced)",))?;
            cx.delay("rep", ms(12), ("second (replaces first)",))?;
            cx.delay("gone", ms(10), ("cleared",))?;
            cx.alarm_clear("gone")?;
            cx.yield_("after_start", ());
            Ok(())
        })
        .on("after_start", |cx, _| {
            t!("after_start");
            for n in 1..=3 {
                cx.yield_("p", (format!("yield-{n}"),));
            }
            cx.alarm(
                "neg",
                SystemTime::now() - Duration::from_secs(1),
                ("negative-delay",),
            )?;
            cx.alarm(
                "past",
                SystemTime::now() - Duration::from_secs(10),
                ("alarm-in-past",),
            )
        })
        .on("_stop", |_, _| t!("_stop"));
    for event in ["d", "eq", "rep", "gone", "p", "neg", "past"] {
        session = session.on(event, move |_, args| t!(event, args[0]));
    }
    kernel.spawn(session).unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/12_timer_ordering.out"));
}
