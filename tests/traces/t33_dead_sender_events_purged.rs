//! Stopping a session discards the queued events it *sent*: a post from its
//! `_stop`, and a post from a handler when the session is stopped (by a TERM
//! queued earlier) before the event's turn. What it posted while alive, and
//! what others post, is delivered.

use roe::{Kernel, Session};

use crate::harness::{check, ms, ok, who};

#[test]
fn dead_sender_events_purged() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("recv")?;
                    cx.delay("done", ms(50), ())?;
                    t!("R _start", who(cx.session()));
                    Ok(())
                })
                .on("msg", |cx, args| {
                    t!("R got msg:", args[0], "sender", who(cx.sender()))
                })
                .on("done", |cx, _| {
                    t!("R done");
                    cx.alias_remove("recv")
                })
                .on("_stop", |_, _| t!("R _stop")),
        )
        .unwrap();

    // D1 does nothing; it is collected at the end of the first timeslice.
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    t!("D1 _start", who(cx.session()));
                    t!(
                        "D1 post from _start ->",
                        ok(&cx.post("recv", "msg", ("D1 from _start",)))
                    );
                })
                .on("_stop", |cx, _| {
                    t!(
                        "D1 _stop: post ->",
                        ok(&cx.post("recv", "msg", ("D1 from _stop (never delivered)",)))
                    )
                }),
        )
        .unwrap();

    // D2 is killed by a TERM queued before the event it posts.
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("d2")?;
                    t!("D2 _start", who(cx.session()));
                    t!(
                        "D2 post from _start ->",
                        ok(&cx.post("recv", "msg", ("D2 from _start",)))
                    );
                    Ok(())
                })
                .on("send", |cx, _| {
                    t!(
                        "D2 send: post ->",
                        ok(&cx.post("recv", "msg", ("D2 from its handler (never delivered)",)))
                    );
                    cx.yield_("never", ());
                })
                .on("never", |_, _| t!("D2 never (should not happen)"))
                .on("_stop", |_, _| t!("D2 _stop")),
        )
        .unwrap();

    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("go", ms(10), ()))
                .on("go", |cx, _| {
                    t!("K signal(d2, TERM) ->", ok(&cx.signal("d2", "TERM", ())));
                    cx.call("d2", "send", ())?;
                    t!(
                        "K post ->",
                        ok(&cx.post("recv", "msg", ("K control message",)))
                    );
                    Ok(())
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/33_dead_sender_events_purged.out"));
}
