//! call() runs nested before it returns; post/yield run FIFO after the
//! handler; post→1, yield→undef, call→the handler's value.

use roe::{Kernel, Session, Value};

use crate::harness::{check, ok};

#[test]
fn post_call_yield_order() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("b").unwrap();
                    t!("B _start");
                })
                .on("x", |cx, args| {
                    t!("B x", args[0]);
                    cx.alias_remove("b").unwrap();
                })
                .on("y", |_, args| {
                    t!("B y (called)", args[0]);
                    Value::from("B-y-result")
                })
                .on("_stop", |_, _| t!("B _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    t!("A _start begin");
                    let me = cx.session();
                    t!("A post returns", ok(&cx.post(me, "ev", ("post-1",))));
                    cx.yield_("ev", ("yield-2",));
                    t!("A yield returns", None::<i64>);
                    t!(
                        "A post to alias b returns",
                        ok(&cx.post("b", "x", ("from-A",)))
                    );
                    let r = cx.call(me, "ev", ("call-3",)).unwrap();
                    t!("A call(self) returned", r);
                    let r = cx.call("b", "y", ("call-b",)).unwrap();
                    t!("A call(b) returned", r);
                    cx.post(me, "ev", ("post-4",)).unwrap();
                    t!("A _start end");
                })
                .on("ev", |cx, args| {
                    let arg = args[0].to_string();
                    t!("A ev", arg);
                    if arg == "post-1" {
                        cx.yield_("ev", (format!("nested-after-{arg}"),));
                    }
                    Value::from(format!("ret-{arg}"))
                })
                .on("_stop", |_, _| t!("A _stop")),
        )
        .unwrap();
    t!("before run");
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/01_post_call_yield_order.out"));
}
