//! A queued event keeps its sender alive until dispatched: a requester with
//! nothing else gets the server's immediate reply, while a requester whose
//! reply comes after a timer is gone by then (ESRCH).
//!
//! Mapping: the server keeps the requester (Perl's `$_[SENDER]`, a session
//! reference) as a `Value::Session` timer argument.

use std::time::Duration;

use roe::{Kernel, Session};

use crate::harness::{check, code, ms, ok, who};

fn requester(name: &'static str, delay: Duration, what: &'static str) -> Session<()> {
    Session::new(())
        .on("_start", move |cx, _| {
            t!(format!("{name} _start"), who(cx.session()));
            cx.delay("ask", delay, ())
        })
        .on("ask", move |cx, _| {
            t!(
                format!("{name} ask: post(server, {what}) ->"),
                ok(&cx.post("server", what, ()))
            )
        })
        .on("reply", move |_, args| {
            t!(format!("{name} got reply:"), args[0])
        })
        .on("_stop", move |_, _| t!(format!("{name} _stop")))
}

#[test]
fn post_keeps_sender_alive() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("server")?;
                    t!("server _start", who(cx.session()));
                    Ok(())
                })
                .on("request", |cx, _| {
                    let sender = cx.sender();
                    t!("server request from", who(sender), "- replying now");
                    let r = cx.post(sender, "reply", ("immediate answer",));
                    t!("server post(reply) ->", ok(&r), code(&r));
                })
                .on("slow_request", |cx, _| {
                    let sender = cx.sender();
                    t!(
                        "server slow_request from",
                        who(sender),
                        "- replying after a timer"
                    );
                    cx.delay("answer_later", ms(30), (sender,))
                })
                .on("answer_later", |cx, args| {
                    let requester = args[0].as_session().unwrap();
                    let r = cx.post(requester, "reply", ("late answer",));
                    t!(
                        "server late post(reply) to",
                        who(requester),
                        "->",
                        ok(&r),
                        code(&r)
                    );
                })
                .on("_stop", |_, _| t!("server _stop")),
        )
        .unwrap();
    kernel.spawn(requester("R1", ms(10), "request")).unwrap();
    kernel
        .spawn(requester("R2", ms(50), "slow_request"))
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/40_post_keeps_sender_alive.out"));
}
