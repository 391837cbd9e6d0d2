//! A session stopped with a child still attached (the child was created
//! after the signal's session list was made): the grandparent gets
//! `_child(gain)`, the child `_parent(old, new)`, then the session's
//! `_stop` and the grandparent's `_child(lose)`. The child lives on under the
//! grandparent; a child that existed when the signal came is stopped first.
//!
//! Mapping: Perl's handlers `return "$name-started"` / `"$name-stopped"`;
//! roe's return the same strings as `Value`s.

use std::time::Duration;

use roe::{Kernel, Session, SessionId, Value};

use crate::harness::{check, ms, ok, who};

fn leaf(name: &'static str, delay: Duration) -> Session<()> {
    Session::new(())
        .on("_start", move |cx, _| {
            t!(
                format!("{name} _start"),
                who(cx.session()),
                "parent",
                who(cx.sender())
            );
            cx.delay("done", delay, ())?;
            Ok(Value::from(format!("{name}-started")))
        })
        .on("done", move |_, _| t!(format!("{name} timer fired")))
        .on("_parent", move |cx, args| {
            t!(
                format!("{name} _parent"),
                args[0],
                "->",
                args[1],
                "sender",
                who(cx.sender())
            )
        })
        .on("_stop", move |_, _| {
            t!(format!("{name} _stop"));
            Value::from(format!("{name}-stopped"))
        })
}

#[test]
fn child_gain_reparent() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(None::<SessionId>)
                .on("_start", |cx, _| {
                    t!("G _start", who(cx.session()));
                    let p = cx.spawn(
                        Session::new(())
                            .on("_start", |cx, _| {
                                t!("P _start", who(cx.session()));
                                cx.sig("TERM", "on_term", ())?;
                                cx.spawn(leaf("D", Duration::from_secs(5)))?;
                                Ok(Value::from("P-started"))
                            })
                            .on("on_term", |cx, args| {
                                t!("P on_term", args[0], "(not handled); creating C now");
                                cx.spawn(leaf("C", ms(50))).map(drop)
                            })
                            .on("_child", |_, args| {
                                t!("P _child", args[0], args[1], args[2])
                            })
                            .on("_stop", |_, _| {
                                t!("P _stop");
                                Value::from("P-stopped")
                            }),
                    )?;
                    *cx.heap = Some(p);
                    cx.delay("kill_p", ms(10), ())
                })
                .on("kill_p", |cx, _| {
                    let p = cx.heap.unwrap();
                    t!("G signal(P, TERM) ->", ok(&cx.signal(p, "TERM", ())))
                })
                .on("_child", |cx, args| {
                    t!(
                        "G _child",
                        args[0],
                        args[1],
                        args[2],
                        "sender",
                        who(cx.sender())
                    )
                })
                .on("_stop", |_, _| t!("G _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/09_child_gain_reparent.out"));
}
