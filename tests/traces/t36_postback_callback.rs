//! Postbacks post, callbacks call: ARG0 is the list given when they were
//! made, ARG1 the list given to the call; SENDER is the session that used
//! them; a postback returns 0, a callback the handler's value. Each keeps
//! its session alive until dropped.
//!
//! Mappings: Perl's `$pb->(@args)` is `Postback::post(args)`, which returns
//! `Ok(())` where POE returns 0 (printed through `code()`); `$cb->(@args)`
//! is `Callback::call(cx, args)`. `undef $pb` is dropping the `Postback`.
//! ARG0 and ARG1 are `Value::List`s, Perl's array references: `ref()`
//! prints `ARRAY`, and `"[@$list]"` the items joined by spaces.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use roe::{Callback, Kernel, Postback, Session, Value};

use crate::harness::{check, code, ms, who};

fn listed(value: &Value) -> String {
    let items: Vec<String> = value
        .as_list()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    format!("[{}]", items.join(" "))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::List(_) => "ARRAY",
        Value::Map(_) => "HASH",
        _ => "",
    }
}

#[test]
fn postback_callback() {
    let pb: Rc<RefCell<Option<Postback>>> = Rc::default();
    let cb: Rc<RefCell<Option<Callback>>> = Rc::default();
    let owner = Rc::new(Cell::new(0u64));
    let mut kernel = Kernel::new().unwrap();
    let (p, c, o) = (Rc::clone(&pb), Rc::clone(&cb), Rc::clone(&owner));
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    o.set(cx.session().number());
                    *p.borrow_mut() = Some(cx.postback("pb_event", ("ctx-1", "ctx-2"))?);
                    *c.borrow_mut() = Some(cx.callback("cb_event", ("ctx-c",))?);
                    t!(
                        "owner _start",
                        who(cx.session()),
                        "made a postback and a callback; nothing else keeps it alive"
                    );
                    Ok(())
                })
                .on("pb_event", |cx, args| {
                    t!(
                        "owner pb_event ARG0",
                        kind(&args[0]),
                        listed(&args[0]),
                        "ARG1",
                        kind(&args[1]),
                        listed(&args[1]),
                        "sender",
                        who(cx.sender())
                    )
                })
                .on("cb_event", |cx, args| {
                    t!(
                        "owner cb_event ARG0",
                        kind(&args[0]),
                        listed(&args[0]),
                        "ARG1",
                        kind(&args[1]),
                        listed(&args[1]),
                        "sender",
                        who(cx.sender())
                    );
                    let first = args[1].as_list().unwrap()[0].to_string();
                    Value::from(format!("cb-value-{first}"))
                })
                .on("_stop", |_, _| t!("owner _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("step", ms(20), (1,)))
                .on("step", move |cx, args| {
                    let n = args[0].as_int().unwrap();
                    let alive = cx.id_to_session(owner.get()).is_ok();
                    t!(
                        format!("user step {n}: owner alive?"),
                        if alive { "yes" } else { "no" }
                    );
                    match n {
                        1 => {
                            let r = pb.borrow().as_ref().unwrap().post(("arg-a", "arg-b"));
                            t!("user: postback returned", code(&r));
                            let r = cb.borrow().as_ref().unwrap().call(cx, ("arg-x",))?;
                            t!("user: callback returned", r);
                            t!("user: step 1 ends");
                        }
                        2 => {
                            drop(pb.borrow_mut().take());
                            t!("user: postback destroyed");
                        }
                        3 => {
                            let r = cb.borrow().as_ref().unwrap().call(cx, ("arg-y",))?;
                            t!("user: callback returned", r);
                            drop(cb.borrow_mut().take());
                            t!("user: callback destroyed");
                        }
                        _ => return Ok(()),
                    }
                    cx.delay("step", ms(20), (n + 1,))
                })
                .on("_stop", |_, _| t!("user _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/36_postback_callback.out"));
}
