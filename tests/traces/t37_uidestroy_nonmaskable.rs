//! UIDESTROY, like ZOMBIE, is non-maskable: `sig_handled` is ignored.

use std::time::Duration;

use roe::{Kernel, Session};

use crate::harness::{check, ms, ok};

#[test]
fn uidestroy_nonmaskable() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("UIDESTROY", "on_ui", ())?;
                    cx.delay("never", Duration::from_secs(5), ())?;
                    cx.delay("fire", ms(10), ())
                })
                .on("fire", |cx, _| {
                    let kernel = cx.kernel_session();
                    t!(
                        "signal(kernel, UIDESTROY) ->",
                        ok(&cx.signal(kernel, "UIDESTROY", ()))
                    );
                })
                .on("on_ui", |cx, args| {
                    t!(
                        "on_ui",
                        args[0],
                        "-> sig_handled (ignored for non-maskable)"
                    );
                    cx.sig_handled();
                })
                .on("never", |_, _| t!("timer (should not happen)"))
                .on("_stop", |_, _| t!("_stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/37_uidestroy_nonmaskable.out"));
}
