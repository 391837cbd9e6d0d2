//! Resolution failures: post/call/signal to an unknown alias, number or a
//! stopped session fail with ESRCH; unknown events and the kernel succeed.

use std::{cell::Cell, rc::Rc};

use roe::{Kernel, Session};

use crate::harness::{check, code, ms, ok};

#[test]
fn post_errors() {
    let mut kernel = Kernel::new().unwrap();
    let dead = Rc::new(Cell::new(0u64));
    let d = Rc::clone(&dead);
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    d.set(cx.session().number());
                    t!(format!("short-lived S{} _start", d.get()));
                })
                .on("_stop", |_, _| t!("short-lived _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("go", ms(50), ()))
                .on("go", move |cx, _| {
                    let r = cx.post("nope", "x", ());
                    t!("post alias 'nope':", ok(&r), code(&r));
                    let r = cx.post(9999u64, "x", ());
                    t!("post id 9999:", ok(&r), code(&r));
                    let r = cx.post(dead.get(), "x", ());
                    t!(
                        format!("post stopped session id {}:", dead.get()),
                        ok(&r),
                        code(&r)
                    );
                    let r = cx.call("nope", "x", ());
                    t!("call alias 'nope':", ok(&r), code(&r));
                    let r = cx.signal("nope", "FOO", ());
                    t!("signal alias 'nope':", ok(&r), code(&r));
                    let me = cx.session();
                    let r = cx.post(me, "unknown_event", ());
                    t!("post self unknown_event:", ok(&r), "errno", code(&r));
                    let kernel = cx.kernel_session();
                    let r = cx.post(kernel, "whatever", ());
                    t!("post to kernel:", ok(&r), "errno", code(&r));
                    let name = cx.kernel_name().to_owned();
                    t!(
                        "post to kernel ID string:",
                        ok(&cx.post(name, "whatever", ()))
                    );
                })
                .on("_stop", |_, _| t!("main _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/04_post_errors.out"));
}
