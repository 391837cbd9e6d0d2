//! `detach_myself`: EPERM for a kernel child; `_child(lose)` then
//! `_parent`; inside `_start` only `_parent`; the old parent goes early.
//!
//! Mapping: C1's `_start` returns 0 because Perl's returns the value of its
//! last call, `delay`, which is 0.

use roe::{Kernel, Session, Value};

use crate::harness::{check, code, ms, ok, who};

#[test]
fn detach_myself() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    t!("P _start", who(cx.session()));
                    let r = cx.detach_myself();
                    t!("P detach_myself (parent is kernel) ->", ok(&r), code(&r));
                    cx.spawn(
                        Session::new(())
                            .on("_start", |cx, _| {
                                t!("C1 _start", who(cx.session()));
                                cx.delay("go", ms(10), ())?;
                                Ok(Value::Int(0))
                            })
                            .on("go", |cx, _| {
                                t!("C1 detach_myself ->", ok(&cx.detach_myself()));
                                cx.delay("late", ms(30), ())
                            })
                            .on("late", |_, _| t!("C1 late event, P already gone"))
                            .on("_parent", |_, args| {
                                t!("C1 _parent", args[0], "->", args[1])
                            })
                            .on("_stop", |_, _| t!("C1 _stop")),
                    )?;
                    cx.spawn(
                        Session::new(())
                            .on("_start", |cx, _| {
                                let r = cx.detach_myself();
                                t!(
                                    "C2 _start",
                                    who(cx.session()),
                                    "detaching inside _start ->",
                                    ok(&r)
                                );
                                cx.delay("late", ms(20), ())
                            })
                            .on("late", |_, _| t!("C2 late event"))
                            .on("_parent", |_, args| {
                                t!("C2 _parent", args[0], "->", args[1])
                            })
                            .on("_stop", |_, _| t!("C2 _stop")),
                    )?;
                    t!("P _start end");
                    Ok(())
                })
                .on("_child", |_, args| {
                    t!("P _child", args[0], args[1], args[2])
                })
                .on("_stop", |_, _| t!("P _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/23_detach_myself.out"));
}
