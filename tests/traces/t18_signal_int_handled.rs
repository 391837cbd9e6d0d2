//! One `sig_handled()` saves every touched session; `sig(NAME)` with no
//! event unwatches.

use std::time::SystemTime;

use roe::{Kernel, Session};

use crate::harness::{check, ms};

#[test]
fn signal_int_handled() {
    let later = SystemTime::now() + ms(50);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    cx.sig("INT", "on_int", ())?;
                    cx.alarm("later", later, ())?;
                    t!("handler _start");
                    Ok(())
                })
                .on("on_int", |cx, args| {
                    u!("handlers", "handler on_int", args[0], "-> sig_handled()");
                    cx.sig_handled();
                })
                .on("later", |cx, _| {
                    t!("handler still alive; unregistering INT");
                    cx.sig_remove("INT");
                })
                .on("_stop", |_, _| u!("final", "handler _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    cx.sig("INT", "on_int", ())?;
                    cx.alarm("later", later, ())
                })
                .on("on_int", |_, _| {
                    u!("handlers", "ignorer on_int (no sig_handled)")
                })
                .on("later", |cx, _| {
                    t!("ignorer still alive");
                    cx.sig_remove("INT");
                })
                .on("_stop", |_, _| u!("final", "ignorer _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("fire", ms(10), ()))
                .on("fire", |cx, _| {
                    let kernel = cx.kernel_session();
                    cx.signal(kernel, "INT", ())?;
                    t!("sender posted INT");
                    Ok(())
                })
                .on("_stop", |_, _| t!("sender _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/18_signal_int_handled.out"));
}
