//! `call()` details: the value comes back at once, `$!` is reset, a missing
//! handler gives `undef`, a call from the main program works before `run`
//! with SENDER = the kernel.
//!
//! Mappings:
//! - Perl's calling context (`wantarray`) has no roe counterpart: a roe
//!   handler returns one `Value`, which `call` hands back and a posted,
//!   yielded or timer dispatch drops. The script names the context in each
//!   event's ARG0 label (`list-call-…`, `scalar-call-…`, `void-call-…`;
//!   posts, yields and timers are void), and the port prints the context that
//!   label stands for (`context_of`). `_start` and `_stop` run in scalar
//!   context in POE because their values are used (they reach the parent's
//!   `_child`); the port prints `scalar` for them.
//! - A Perl list-context call returns the handler's one value as a list of
//!   one item; roe returns that value.
//! - `$!` after a call that resolved is 0 in POE; roe returns `Ok`, printed
//!   through `code()` as `0`. A missing handler gives `Ok(Value::Undef)`.

use std::time::Duration;

use roe::{Kernel, Session, Value};

use crate::harness::{check, code, ok, who};

/// The Perl calling context the script's ARG0 label names.
fn context_of(label: &str) -> &'static str {
    if label.starts_with("list-call") {
        "list"
    } else if label.starts_with("scalar-call") {
        "scalar"
    } else {
        "void"
    }
}

/// What the call gave back (`undef` for a failure, as an empty Perl return
/// prints).
fn value(r: &roe::Result<Value>) -> Value {
    r.as_ref().map_or(Value::Undef, Clone::clone)
}

/// How many items a Perl list-context call would have returned.
fn count(r: &roe::Result<Value>) -> usize {
    usize::from(r.is_ok())
}

#[test]
fn call_semantics() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("svc")?;
                    t!("svc _start runs in", "scalar", "context");
                    cx.delay("report", Duration::from_millis(50), ("timer",))?;
                    Ok(Value::from("svc-started"))
                })
                .on("report", |cx, args| {
                    let label = args[0].to_string();
                    t!(
                        "svc report",
                        label,
                        "runs in",
                        context_of(&label),
                        "context; sender",
                        who(cx.sender())
                    );
                    Value::from(format!("ret-{label}"))
                })
                .on("_stop", |_, _| t!("svc _stop runs in", "scalar", "context")),
        )
        .unwrap();

    // From the main program, before run().
    let r = kernel.call("svc", "report", ("list-call-from-main",));
    let v = value(&r);
    t!(
        "main: list call returned",
        count(&r),
        "value(s):",
        v,
        "errno",
        code(&r)
    );
    let r = kernel.call("svc", "report", ("scalar-call-from-main",));
    let v = value(&r);
    t!("main: scalar call returned", v, "errno", code(&r));
    let r = kernel.call("svc", "report", ("void-call-from-main",));
    t!("main: void call done, errno", code(&r));
    let r = kernel.call("svc", "no_such_handler", ());
    let v = value(&r);
    t!(
        "main: call to a missing handler returned",
        v,
        "errno",
        code(&r)
    );
    t!(
        "main: post ->",
        ok(&kernel.post("svc", "report", ("post-from-main",)))
    );

    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.yield_("go", ()))
                .on("go", |cx, _| {
                    let r = cx.call("svc", "report", ("list-call-from-client",));
                    let v = value(&r);
                    t!(
                        "client: list call returned",
                        count(&r),
                        "value(s):",
                        v,
                        "errno",
                        code(&r)
                    );
                    let r = cx.call("svc", "report", ("scalar-call-from-client",));
                    let v = value(&r);
                    t!("client: scalar call returned", v, "errno", code(&r));
                    let r = cx.call("svc", "report", ("void-call-from-client",));
                    t!("client: void call done, errno", code(&r));
                    let r = cx.call("svc", "no_such_handler", ());
                    let v = value(&r);
                    t!(
                        "client: call to a missing handler returned",
                        v,
                        "errno",
                        code(&r)
                    );
                    let me = cx.session();
                    let r = cx.call(me, "mine", ("list-call-to-self",));
                    let v = value(&r);
                    t!(
                        "client: list call to self returned",
                        1u32,
                        "value(s):",
                        v,
                        "errno",
                        code(&r)
                    );
                    let r = cx.call(me, "mine", ("scalar-call-to-self",));
                    let v = value(&r);
                    t!("client: scalar call to self returned", v, "errno", code(&r));
                    cx.yield_("mine", ("yield-to-self",));
                    cx.post("svc", "report", ("post-from-client",))
                })
                .on("mine", |cx, args| {
                    let label = args[0].to_string();
                    t!(
                        "client mine",
                        label,
                        "runs in",
                        context_of(&label),
                        "context; sender",
                        who(cx.sender())
                    );
                    Value::from(format!("ret-{label}"))
                }),
        )
        .unwrap();
    t!("before run");
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/03_call_semantics.out"));
}
