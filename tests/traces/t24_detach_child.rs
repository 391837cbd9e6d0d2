//! `detach_child`: ESRCH for what does not resolve, EPERM for what is not a
//! child of the caller (an unrelated session, itself, a grandchild);
//! `_child(lose)` then `_parent` before it returns; the old parent is
//! collected before its former child and hears nothing more of it.
//!
//! Mappings: Perl reaches the grandchild through the child's heap
//! (`$c->get_heap->{g}`); roe heaps are private, so the port shares the
//! grandchild's ID through a cell. C's `_start` returns `"C-started"` in
//! both.

use std::{cell::Cell, rc::Rc};

use roe::{Kernel, Session, SessionId, Value};

use crate::harness::{check, code, ms, ok, who};

#[test]
fn detach_child() {
    let mut kernel = Kernel::new().unwrap();
    let other = kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    t!("X _start", who(cx.session()), "(unrelated)");
                    cx.delay("done", ms(50), ())
                })
                .on("done", |_, _| t!("X done"))
                .on("_stop", |_, _| t!("X _stop")),
        )
        .unwrap();
    let grandchild = Rc::new(Cell::new(None::<SessionId>));
    let g = Rc::clone(&grandchild);
    kernel
        .spawn(
            Session::new(None::<SessionId>)
                .on("_start", move |cx, _| {
                    t!("P _start", who(cx.session()));
                    let g = Rc::clone(&g);
                    let c = cx.spawn(
                        Session::new(())
                            .on("_start", move |cx, _| {
                                t!("C _start", who(cx.session()));
                                let id = cx.spawn(
                                    Session::new(())
                                        .on("_start", |cx, _| {
                                            t!("GC _start", who(cx.session()));
                                            cx.delay("done", ms(20), ())
                                        })
                                        .on("done", |_, _| t!("GC done"))
                                        .on("_stop", |_, _| t!("GC _stop")),
                                )?;
                                g.set(Some(id));
                                cx.delay("done", ms(30), ())?;
                                Ok(Value::from("C-started"))
                            })
                            .on("done", |_, _| t!("C done, P already gone"))
                            .on("_parent", |cx, args| {
                                t!(
                                    "C _parent",
                                    args[0],
                                    "->",
                                    args[1],
                                    "sender",
                                    who(cx.sender())
                                )
                            })
                            .on("_child", |_, args| t!("C _child", args[0], args[1]))
                            .on("_stop", |_, _| t!("C _stop")),
                    )?;
                    *cx.heap = Some(c);
                    cx.delay("go", ms(10), ())
                })
                .on("go", move |cx, _| {
                    let c = cx.heap.unwrap();
                    let r = cx.detach_child("no-such-alias");
                    t!("P detach_child(unknown alias) ->", ok(&r), code(&r));
                    let r = cx.detach_child(9999u64);
                    t!("P detach_child(unknown id) ->", ok(&r), code(&r));
                    let r = cx.detach_child(other);
                    t!("P detach_child(unrelated X) ->", ok(&r), code(&r));
                    let me = cx.session();
                    let r = cx.detach_child(me);
                    t!("P detach_child(itself) ->", ok(&r), code(&r));
                    let r = cx.detach_child(grandchild.get().unwrap());
                    t!("P detach_child(grandchild GC) ->", ok(&r), code(&r));
                    t!("P detach_child(C) ...");
                    let r = cx.detach_child(c);
                    t!("P detach_child(C) ->", ok(&r));
                    t!("P go ends");
                })
                .on("_child", |cx, args| {
                    t!(
                        "P _child",
                        args[0],
                        args[1],
                        args[2],
                        "sender",
                        who(cx.sender())
                    )
                })
                .on("_stop", |_, _| t!("P _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/24_detach_child.out"));
}
