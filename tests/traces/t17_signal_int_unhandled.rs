//! An unhandled terminal signal stops every touched session, bystanders and
//! sessions with timers included; a handler's return value does not count.

use std::time::Duration;

use roe::{Kernel, Session, Value};

use crate::harness::{check, ms, ok};

#[test]
fn signal_int_unhandled() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("INT", "on_int", ())?;
                    cx.delay("never", Duration::from_secs(5), ())?;
                    t!("watcher _start");
                    Ok(())
                })
                .on("on_int", |_, args| {
                    u!(
                        "handlers",
                        "watcher on_int",
                        args[0],
                        "returns 1 but does not call sig_handled"
                    );
                    Value::Int(1)
                })
                .on("never", |_, _| {
                    t!("watcher timer fired (should not happen)")
                })
                .on("_stop", |_, _| u!("stops", "watcher _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.delay("never", Duration::from_secs(5), ())?;
                    t!("bystander _start (no INT watcher, has timer)");
                    Ok(())
                })
                .on("never", |_, _| {
                    t!("bystander timer fired (should not happen)")
                })
                .on("_stop", |_, _| u!("stops", "bystander _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("fire", ms(10), ()))
                .on("fire", |cx, _| {
                    let kernel = cx.kernel_session();
                    t!(
                        "sender: signal(kernel, INT) ->",
                        ok(&cx.signal(kernel, "INT", ()))
                    );
                })
                .on("_stop", |_, _| u!("stops", "sender _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/17_signal_int_unhandled.out"));
}
