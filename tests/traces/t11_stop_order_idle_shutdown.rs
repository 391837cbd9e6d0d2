//! Alias-held sessions end by IDLE: handlers C, B, A, then `_stop` C, B, A.

use roe::{Kernel, Session, Value};

use crate::harness::check;

#[derive(Clone)]
struct Node {
    name: &'static str,
    kids: Vec<Node>,
}

fn node(spec: Node) -> Session<Node> {
    Session::new(spec)
        .on("_start", |cx, _| {
            let name = cx.heap.name;
            cx.alias_set(name).unwrap();
            cx.sig("IDLE", "saw_idle", ()).unwrap();
            t!(format!("{name} _start"));
            for kid in cx.heap.kids.clone() {
                cx.spawn(node(kid)).unwrap();
            }
        })
        .on("saw_idle", |cx, args| {
            t!(
                format!("{} got signal", cx.heap.name),
                args[0],
                "(not handled)"
            )
        })
        .on("_child", |cx, args| {
            let ret = if args[2].is_undef() {
                String::new()
            } else {
                args[2].to_string()
            };
            t!(format!("{} _child", cx.heap.name), args[0], ret);
        })
        .on("_stop", |cx, _| {
            t!(format!("{} _stop", cx.heap.name));
            Value::from(cx.heap.name)
        })
}

#[test]
fn stop_order_idle_shutdown() {
    let mut kernel = Kernel::new().unwrap();
    let c = Node {
        name: "C",
        kids: vec![],
    };
    let b = Node {
        name: "B",
        kids: vec![c],
    };
    kernel
        .spawn(node(Node {
            name: "A",
            kids: vec![b],
        }))
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/11_stop_order_idle_shutdown.out"));
}
