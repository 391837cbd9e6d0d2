//! Collection by starvation: leaves first, parents after their last child.

use std::time::Duration;

use roe::{Kernel, Session, Value};

use crate::harness::{check, ms};

#[derive(Clone)]
struct Node {
    name: &'static str,
    delay: Option<Duration>,
    kids: Vec<Node>,
}

fn node(spec: Node) -> Session<Node> {
    Session::new(spec)
        .on("_start", |cx, _| {
            t!(format!("{} _start", cx.heap.name));
            if let Some(delay) = cx.heap.delay {
                cx.delay("done", delay, ()).unwrap();
            }
            for kid in cx.heap.kids.clone() {
                cx.spawn(node(kid)).unwrap();
            }
        })
        .on("done", |cx, _| {
            t!(format!("{} last timer fired", cx.heap.name))
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
fn stop_order_starvation() {
    let leaf = |name, delay: u64, kids| Node {
        name,
        delay: Some(ms(delay)),
        kids,
    };
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(node(Node {
            name: "P",
            delay: None,
            kids: vec![
                leaf("C1", 30, vec![leaf("G", 10, vec![])]),
                leaf("C2", 50, vec![]),
            ],
        }))
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/10_stop_order_starvation.out"));
}
