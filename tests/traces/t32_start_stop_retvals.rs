//! `_start` and `_stop` return values reach the parent's `_child`; `spawn`
//! returns the session; `_start` gets the creation args; the heap is given.
//!
//! Mapping: Perl's `ref($child)` is `POE::Session`; roe's `spawn` returns a
//! `SessionId`, printed under that name.

use roe::{Kernel, Session, Value};

use crate::harness::check;

struct Heap {
    preset: &'static str,
}

#[test]
fn start_stop_retvals() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    let child = cx.spawn(
                        Session::new(Heap {
                            preset: "heap-value",
                        })
                        .args(("a0", "a1"))
                        .on("_start", |cx, args| {
                            let shown: Vec<String> = args.iter().map(ToString::to_string).collect();
                            t!(
                                "child _start ARG0..",
                                shown.join(" "),
                                "heap",
                                cx.heap.preset
                            );
                            Value::from("started-ok")
                        })
                        .on("_stop", |_, _| Value::from("stopped-ok")),
                    )?;
                    t!(
                        "create returned a",
                        "POE::Session",
                        "with ID",
                        child.number()
                    );
                    Ok(())
                })
                .on("_child", |_, args| {
                    t!("parent _child", args[0], "ret", args[2])
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/32_start_stop_retvals.out"));
}
