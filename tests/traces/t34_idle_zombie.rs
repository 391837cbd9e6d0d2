//! IDLE may be handled with new work (IDLE comes again later); handled
//! without work, the non-maskable ZOMBIE stops everyone.

use roe::{Kernel, Session};

use crate::harness::{check, ms};

#[test]
fn idle_zombie() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(0u32)
                .on("_start", |cx, _| {
                    cx.alias_set("daemon")?;
                    cx.sig("IDLE", "on_idle", ())?;
                    cx.sig("ZOMBIE", "on_zombie", ())?;
                    t!("daemon _start (alias only)");
                    Ok(())
                })
                .on("on_idle", |cx, _| {
                    *cx.heap += 1;
                    let n = *cx.heap;
                    if n == 1 {
                        t!("on_idle #1: sig_handled + schedule more work");
                        cx.sig_handled();
                        cx.delay("work", ms(10), ())?;
                    } else {
                        t!(format!("on_idle #{n}: sig_handled, no new work"));
                        cx.sig_handled();
                    }
                    Ok(())
                })
                .on("work", |_, _| t!("work done"))
                .on("on_zombie", |cx, _| {
                    t!("on_zombie: calling sig_handled (futile)");
                    cx.sig_handled();
                })
                .on("_stop", |_, _| t!("daemon _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/34_idle_zombie.out"));
}
