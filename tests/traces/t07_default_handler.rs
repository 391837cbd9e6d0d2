//! `_default` gets unhandled events (lifecycle ones too) as ARG0 = name,
//! ARG1 = the args; `call` returns its value; no `_start` means no session.
//!
//! Mappings: a session reference in ARG1 prints as Perl's `ref()` of it,
//! `POE::Session`; the child's handlers return 1 because Perl's return the
//! value of their last `print`.

use roe::{Error, Kernel, Session, Value};

use crate::harness::check;

fn shown(value: &Value) -> String {
    match value {
        Value::Session(_) => "POE::Session".to_owned(),
        Value::List(_) => "ARRAY".to_owned(),
        other => other.to_string(),
    }
}

#[test]
fn default_handler() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.yield_("mystery", (1, 2, 3));
                    let me = cx.session();
                    let r = cx.call(me, "called_mystery", ("x",)).unwrap();
                    t!("call of unhandled event returned", r);
                    cx.spawn(
                        Session::new(())
                            .on("_start", |_, _| {
                                t!("child _start");
                                Value::Int(1)
                            })
                            .on("_stop", |_, _| {
                                t!("child _stop");
                                Value::Int(1)
                            }),
                    )
                    .unwrap();
                })
                .on("_default", |_, args| {
                    let event = args[0].to_string();
                    let list = args[1].as_list().unwrap();
                    let items: Vec<String> = list.iter().map(shown).collect();
                    t!(
                        "_default caught",
                        event,
                        format!("args:[{}]", items.join(",")),
                        "ARG1 is",
                        shown(&args[1])
                    );
                    Value::from(format!("default-ret-for-{event}"))
                }),
        )
        .unwrap();
    match kernel.spawn(Session::new(()).on("foo", |_, _| ())) {
        Err(Error::MissingStart) => {
            t!("warning:", "discarding session  - no '_start' state");
            t!("create without _start returned", None::<u64>);
        }
        other => panic!("a session without _start was accepted: {other:?}"),
    }
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/07_default_handler.out"));
}
