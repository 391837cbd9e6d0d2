//! Session numbers from 1, never reused; SENDER per event kind; the active
//! session outside `run` is the kernel; STATE and the caller fields.

use std::{cell::RefCell, rc::Rc};

use roe::{Kernel, Session};

use crate::harness::{check, ms, who};

#[test]
fn ids_sender_accessors() {
    let mut kernel = Kernel::new().unwrap();
    let event = kernel
        .active_event()
        .map_or("undef".to_owned(), |e| e.to_string());
    t!(
        "outside run: active session",
        who(kernel.active_session()),
        "active event",
        format!("'{event}'")
    );
    let numeric = kernel.name().parse::<u64>().is_ok();
    t!(
        "kernel ID is a non-numeric string:",
        if numeric { "no" } else { "yes" }
    );

    let ids = Rc::new(RefCell::new(Vec::new()));
    for _ in 1..=3 {
        let ids = Rc::clone(&ids);
        kernel
            .spawn(
                Session::new(())
                    .on("_start", move |cx, _| {
                        let me = cx.session();
                        ids.borrow_mut().push(me.number());
                        t!(
                            format!("short S{} _start sender", me.number()),
                            who(cx.sender())
                        );
                    })
                    .on("_stop", |cx, _| {
                        t!(
                            format!("short S{} _stop sender", cx.session().number()),
                            who(cx.sender())
                        )
                    }),
            )
            .unwrap();
    }
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("recv")?;
                    t!(
                        "recv _start id",
                        cx.session().number(),
                        "active_event",
                        cx.active_event()
                    );
                    Ok(())
                })
                .on("msg", |cx, _| {
                    let line_is_number = cx.caller_line() > 0;
                    t!(
                        "recv msg STATE",
                        cx.state(),
                        "SENDER",
                        who(cx.sender()),
                        "CALLER_STATE",
                        cx.caller_state(),
                        "CALLER_LINE is number",
                        if line_is_number { "yes" } else { "no" },
                        "active",
                        who(cx.active_session()),
                        cx.active_event()
                    );
                    cx.delay("tmr", ms(10), ())
                })
                .on("tmr", |cx, _| {
                    t!(
                        "recv tmr SENDER",
                        who(cx.sender()),
                        "CALLER_STATE",
                        cx.caller_state()
                    );
                    cx.alias_remove("recv")
                })
                .on("_stop", |cx, _| t!("recv _stop sender", who(cx.sender()))),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("later", ms(20), ()))
                .on("later", move |cx, _| {
                    cx.post("recv", "msg", ())?;
                    let earlier: Vec<String> = ids.borrow().iter().map(u64::to_string).collect();
                    let earlier = earlier.join(" ");
                    cx.spawn(Session::new(()).on("_start", move |cx, _| {
                        t!(
                            "late session id",
                            cx.session().number(),
                            "(ids not reused; earlier:",
                            format!("{earlier})"),
                            "sender",
                            who(cx.sender())
                        );
                    }))?;
                    Ok(())
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/31_ids_sender_accessors.out"));
}
