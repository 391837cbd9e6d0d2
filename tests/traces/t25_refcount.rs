//! Public refcounts: per-tag counts; the session goes at the end of the
//! slice in which the last tag reached zero; ESRCH after.

use std::{cell::Cell, rc::Rc};

use roe::{Kernel, Session, SessionId};

use crate::harness::{check, code, ms, ok};

#[test]
fn refcount() {
    let held = Rc::new(Cell::new(None::<SessionId>));
    let mut kernel = Kernel::new().unwrap();
    let h = Rc::clone(&held);
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    let me = cx.session();
                    h.set(Some(me));
                    t!(
                        "held inc tagA ->",
                        cx.refcount_increment(me, "tagA").unwrap()
                    );
                    t!(
                        "held inc tagA ->",
                        cx.refcount_increment(me, "tagA").unwrap()
                    );
                    t!(
                        "held inc tagB ->",
                        cx.refcount_increment(me, "tagB").unwrap()
                    );
                    t!("held _start ends with no events/timers");
                })
                .on("_stop", |_, _| t!("held _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("step", ms(10), (1,)))
                .on("step", move |cx, args| {
                    let held = held.get().unwrap();
                    let n = args[0].as_int().unwrap();
                    match n {
                        1 | 2 => t!(
                            "releaser dec tagA ->",
                            cx.refcount_decrement(held, "tagA").unwrap()
                        ),
                        3 => {
                            t!(
                                "releaser dec tagB ->",
                                cx.refcount_decrement(held, "tagB").unwrap()
                            );
                            let exists = cx.id_to_session(held.number()).is_ok();
                            t!(
                                "releaser: held session still exists in this timeslice?",
                                if exists { "yes" } else { "no" }
                            );
                        }
                        _ => {
                            let r = cx.refcount_increment(held, "tagA");
                            t!("releaser inc on stopped session ->", ok(&r), code(&r));
                            return Ok(());
                        }
                    }
                    cx.delay("step", ms(10), (n + 1,))
                })
                .on("_stop", |_, _| t!("releaser _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/25_refcount.out"));
}
