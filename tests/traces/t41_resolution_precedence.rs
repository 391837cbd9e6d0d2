//! Destination resolution tries session IDs before aliases: S2's alias `'1'`
//! reaches S1 while S1 lives, S2 once S1 has stopped. The kernel's own ID
//! string is in POE's ID table too, so an alias equal to it is shadowed by
//! the kernel.
//!
//! Mappings: `alias_resolve` is `cx.resolve`; `ID_id_to_session(1)` is
//! `cx.id_to_session(1)`; `$k->ID` is `cx.kernel_name()`. POE's
//! `alias_set` returns 0 on success; roe's `Ok(())` prints through `code()`.
//! Perl's `grep` over `alias_list()` is a search of `cx.alias_list()`.

use roe::{Kernel, Session, Value};

use crate::harness::{check, code, ms, ok};

#[test]
fn resolution_precedence() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("first")?;
                    t!("S1 _start id", cx.session().number());
                    Ok(())
                })
                .on("who", |_, args| {
                    t!("S1 got", args[0]);
                    Value::from("S1-answer")
                })
                .on("quit", |cx, _| {
                    t!("S1 quit: removing its alias");
                    cx.alias_remove("first")
                })
                .on("_stop", |_, _| t!("S1 _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    t!("S2 _start id", cx.session().number());
                    t!("S2 alias_set('1') ->", code(&cx.alias_set("1")));
                    let kernel_id = cx.kernel_name().to_owned();
                    t!(
                        "S2 alias_set(kernel ID) ->",
                        code(&cx.alias_set(&kernel_id))
                    );
                    let aliases = cx.alias_list();
                    let has = |name: &str| aliases.iter().any(|a| a.as_str() == name);
                    t!(
                        "S2 alias_list:",
                        if has("1") { "has '1'" } else { "lacks '1'" },
                        if has(&kernel_id) {
                            "has kernel ID"
                        } else {
                            "lacks kernel ID"
                        }
                    );
                })
                .on("who", |_, args| {
                    t!("S2 got", args[0]);
                    Value::from("S2-answer")
                })
                .on("_stop", |_, _| t!("S2 _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("step1", ms(10), ()))
                .on("step1", |cx, _| {
                    t!("step1: alias_resolve('1') ->", cx.resolve("1"));
                    let r = cx.call("1", "who", ("call while S1 lives",))?;
                    t!("step1: call('1', who) ->", r);
                    t!(
                        "step1: post('1', who) ->",
                        ok(&cx.post("1", "who", ("post while S1 lives",)))
                    );
                    let kernel_id = cx.kernel_name().to_owned();
                    t!(
                        "step1: alias_resolve(kernel ID) ->",
                        cx.resolve(kernel_id.as_str())
                    );
                    t!(
                        "step1: post(kernel ID, who) ->",
                        ok(&cx.post(
                            kernel_id,
                            "who",
                            ("post to the kernel ID (nobody gets it)",)
                        ))
                    );
                    cx.call("first", "quit", ())?;
                    cx.delay("step2", ms(10), ())
                })
                .on("step2", |cx, _| {
                    let s1 = cx.id_to_session(1);
                    t!(
                        "step2: ID_id_to_session(1) ->",
                        s1.as_ref().ok().copied(),
                        code(&s1)
                    );
                    t!("step2: alias_resolve('1') ->", cx.resolve("1"));
                    let r = cx.call("1", "who", ("call after S1 stopped",))?;
                    t!("step2: call('1', who) ->", r);
                    t!(
                        "step2: post('1', who) ->",
                        ok(&cx.post("1", "who", ("post after S1 stopped",)))
                    );
                    Ok(())
                })
                .on("_stop", |_, _| t!("S3 _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/41_resolution_precedence.out"));
}
