//! `delay(name)` clears the session's same-named timers from every API,
//! and only that session's.

use roe::{Kernel, Session};

use crate::harness::{check, ms};

#[test]
fn timer_name_vs_id() {
    let mut kernel = Kernel::new().unwrap();
    for who in ["S-one", "S-two"] {
        kernel
            .spawn(
                Session::new(who)
                    .on("_start", |cx, _| {
                        let who = *cx.heap;
                        cx.delay_set("ring", ms(10), (format!("{who} id-timer-1"),))?;
                        cx.delay_set("ring", ms(20), (format!("{who} id-timer-2"),))?;
                        cx.delay_add("ring", ms(30), (format!("{who} add-timer"),))?;
                        if who == "S-one" {
                            cx.delay("ring", ms(40), (format!("{who} replacement"),))?;
                        }
                        Ok(())
                    })
                    .on("ring", |_, args| t!("ring", args[0]))
                    .on("_stop", |cx, _| t!(format!("{} _stop", cx.heap))),
            )
            .unwrap();
    }
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/15_timer_name_vs_id.out"));
}
