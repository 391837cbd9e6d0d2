//! Nested creation: `_start`s nest; the parent's `_child(create)` comes
//! after the child's `_start` and before `spawn` returns; no `_parent`.

use roe::{Kernel, Session, Value};

use crate::harness::{check, who};

fn spawn(name: String, depth: u32) -> Session<(String, u32)> {
    Session::new((name, depth))
        .on("_start", |cx, _| {
            let (name, depth) = cx.heap.clone();
            t!(
                format!("{name} _start id"),
                cx.session().number(),
                "sender",
                who(cx.sender())
            );
            if depth < 2 {
                let child = cx.spawn(spawn(format!("{name}.child"), depth + 1)).unwrap();
                t!(format!("{name} create() returned"), who(child));
            }
            t!(format!("{name} _start end"));
            Value::from(format!("{name}-start-ret"))
        })
        .on("_child", |cx, args| {
            t!(format!("{} _child", cx.heap.0), args[0], args[1], args[2]);
        })
        .on("_parent", |cx, args| {
            t!(format!("{} _parent", cx.heap.0), args[0], args[1]);
        })
        .on("_stop", |cx, _| {
            t!(format!("{} _stop", cx.heap.0));
            Value::from(format!("{}-stop-ret", cx.heap.0))
        })
}

#[test]
fn create_nested_order() {
    let mut kernel = Kernel::new().unwrap();
    let top = kernel.spawn(spawn("P".to_owned(), 0)).unwrap();
    t!("top-level create() returned", who(top));
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/08_create_nested_order.out"));
}
