//! `sig()` does not keep a session alive; a queued signal does until it is
//! delivered.

use roe::{Kernel, Session};

use crate::harness::{check, ms, ok};

#[test]
fn sig_watchers_no_refcount() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("USR1", "on_usr1", ())?;
                    t!("only-sig _start");
                    Ok(())
                })
                .on("on_usr1", |_, _| {
                    t!("only-sig got USR1 (should not happen)")
                })
                .on("_stop", |_, _| t!("only-sig _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("FOO", "on_foo", ())?;
                    let me = cx.session();
                    cx.signal(me, "FOO", ("payload",))?;
                    t!("self-signaller _start (signal queued)");
                    Ok(())
                })
                .on("on_foo", |_, args| {
                    t!("self-signaller got", args[0], args[1])
                })
                .on("_stop", |_, _| t!("self-signaller _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("later", ms(20), ()))
                .on("later", |cx, _| {
                    let kernel = cx.kernel_session();
                    t!(
                        "late sender: signal(kernel, USR1) ->",
                        ok(&cx.signal(kernel, "USR1", ()))
                    );
                })
                .on("_stop", |_, _| t!("late sender _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/20_sig_watchers_no_refcount.out"));
}
