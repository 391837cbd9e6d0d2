//! `stop()` stops every session at once, children first, each getting
//! `_stop`; the handler goes on; `run` returns; the kernel runs again.

use std::time::Duration;

use roe::{Kernel, Session};

use crate::harness::{check, who};

#[test]
fn kernel_stop() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("top")?;
                    cx.spawn(
                        Session::new(())
                            .on("_start", |cx, _| {
                                cx.delay("never", Duration::from_secs(5), ())
                            })
                            .on("never", |_, _| t!("child timer (should not happen)"))
                            .on("_stop", |cx, _| t!("child _stop, sender", who(cx.sender()))),
                    )?;
                    cx.yield_("halt", ());
                    Ok(())
                })
                .on("halt", |cx, _| {
                    cx.yield_("never_dispatched", ());
                    t!("calling stop()");
                    cx.stop();
                    t!(
                        "stop() returned; handler continues; active session is now",
                        who(cx.active_session())
                    );
                })
                .on("never_dispatched", |_, _| t!("should not happen"))
                .on("_child", |_, args| t!("top _child", args[0]))
                .on("_stop", |_, _| t!("top _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");

    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    t!("second generation _start id", cx.session().number());
                    cx.yield_("x", ());
                })
                .on("x", |_, _| t!("second generation event"))
                .on("_stop", |_, _| t!("second generation _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("second run returned");
    check(include_str!("expected/30_kernel_stop.out"));
}
