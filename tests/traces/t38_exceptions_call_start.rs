//! Exceptions and synchronous dispatch: a `call` to another session traps
//! the callee's failure (`undef` back, DIE queued to the callee); a `call` to
//! the session itself does not, so the failure reaches the caller, which can
//! catch it or fail in turn (DIE for the outer event); a failing `_start`
//! still gives the parent its session and `_child(create, …, undef)`.
//!
//! Mappings: Perl's `die "msg\n"` is a handler returning
//! `Err(Error::handler("msg"))` (the script strips the newline). Perl's
//! `eval { $k->call($self, …); 'no exception' }` is a `match` on the
//! `Result` of `cx.call(me, …)`: `Err(e)` is the eval giving `undef` with
//! `$@` = the error's text. Calling itself without `eval` is
//! `cx.call(me, …)?`, which fails the calling handler. `ref($child)` is
//! `POE::Session`; roe's `spawn` returns a `SessionId`, printed under that
//! name. `$!` after the trapped call is 0: roe returns `Ok(Value::Undef)`,
//! printed through `code()` as 0.

use roe::{Args, Context, Error, Kernel, Session, Value};

use crate::harness::{check, code, ms, who};

fn on_die(name: &'static str) -> impl Fn(&mut Context<'_, ()>, Args) + 'static {
    move |cx, args| {
        let ex = args[1].as_map().unwrap();
        let field = |key: &str| ex.get(key).cloned().unwrap_or_default();
        let session = |key: &str| field(key).as_session().map(who);
        t!(
            format!("{name} DIE handler: event"),
            field("event"),
            "dest",
            session("dest_session"),
            "source",
            session("source_session"),
            "error",
            field("error_str"),
            "-> sig_handled"
        );
        cx.sig_handled();
    }
}

#[test]
fn exceptions_call_start() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("callee")?;
                    cx.sig("DIE", "die_seen", ())
                })
                .on("boom", |_, _| -> roe::Result<()> {
                    t!("callee boom: dying");
                    Err(Error::handler("callee failed"))
                })
                .on("die_seen", on_die("callee"))
                .on("bye", |cx, _| cx.alias_remove("callee"))
                .on("_stop", |_, _| t!("callee _stop")),
        )
        .unwrap();

    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("DIE", "die_seen", ())?;
                    cx.delay("step1", ms(10), ())
                })
                .on("step1", |cx, _| {
                    cx.yield_("queued_before", ());
                    let r = cx.call("callee", "boom", ());
                    let v = r.as_ref().map_or(Value::Undef, Clone::clone);
                    t!("caller: call(callee, boom) returned", v, "errno", code(&r));
                    t!("caller goes on");
                    cx.yield_("queued_after", ());
                    cx.delay("step2", ms(10), ())
                })
                .on("queued_before", |_, _| t!("caller queued_before"))
                .on("queued_after", |_, _| t!("caller queued_after"))
                .on("step2", |cx, _| {
                    let me = cx.session();
                    let (r, error) = match cx.call(me, "self_boom", ()) {
                        Ok(_) => (Some("no exception"), String::new()),
                        Err(e) => (None, e.to_string()),
                    };
                    t!(
                        "caller: eval around call(self, self_boom) gave",
                        r,
                        "error",
                        error
                    );
                    cx.delay("step3", ms(10), ())
                })
                .on("step3", |cx, _| -> roe::Result<()> {
                    t!("caller step3: calling self_boom on itself without eval");
                    let me = cx.session();
                    cx.call(me, "self_boom", ())?;
                    t!("caller step3: not reached");
                    Ok(())
                })
                .on("self_boom", |_, _| -> roe::Result<()> {
                    t!("caller self_boom: dying");
                    Err(Error::handler("self failed"))
                })
                .on("die_seen", on_die("caller"))
                .on("_stop", |_, _| t!("caller _stop")),
        )
        .unwrap();

    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("DIE", "die_seen", ())?;
                    cx.delay("make_child", ms(50), ())
                })
                .on("make_child", |cx, _| {
                    let child = cx.spawn(
                        Session::new(())
                            .on("_start", |cx, _| -> roe::Result<()> {
                                cx.sig("DIE", "child_die_seen", ())?;
                                t!("child _start", who(cx.session()), "dies");
                                Err(Error::handler("start failed"))
                            })
                            .on("child_die_seen", |_, args| {
                                let event = args[1]
                                    .as_map()
                                    .unwrap()
                                    .get("event")
                                    .cloned()
                                    .unwrap_or_default();
                                t!("child DIE handler: event", event, "(not handled here)")
                            })
                            .on("_stop", |_, _| {
                                t!("child _stop");
                                Value::from("child-stopped")
                            }),
                    )?;
                    t!("parent: create returned", "POE::Session", who(child));
                    cx.delay("finish", ms(20), ())
                })
                .on("finish", |cx, _| cx.post("callee", "bye", ()))
                .on("_child", |_, args| {
                    t!("parent _child", args[0], args[1], args[2])
                })
                .on("die_seen", on_die("parent"))
                .on("_stop", |_, _| t!("parent _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/38_exceptions_call_start.out"));
}
