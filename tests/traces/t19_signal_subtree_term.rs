//! TERM sent to one session of a tree touches that subtree only: watchers
//! run deepest first, then G and C are stopped (deepest first); their
//! parent P gets `_child(lose)` and lives on, and so does P's other child,
//! whose TERM watcher never runs.
//!
//! Mapping: `_stop` returns `"$name-stopped"` in both languages.

use std::time::Duration;

use roe::{Kernel, Session, SessionId, Value};

use crate::harness::{check, ms, ok, who};

#[derive(Clone)]
struct Node {
    name: &'static str,
    delay: Duration,
    kids: Vec<Node>,
}

fn node(spec: Node) -> Session<Node> {
    Session::new(spec)
        .on("_start", |cx, _| {
            t!(format!("{} _start", cx.heap.name), who(cx.session()));
            cx.sig("TERM", "on_term", ())?;
            let delay = cx.heap.delay;
            cx.delay("tick", delay, ())?;
            for kid in cx.heap.kids.clone() {
                cx.spawn(node(kid))?;
            }
            Ok(())
        })
        .on("on_term", |cx, args| {
            t!(
                format!("{} on_term", cx.heap.name),
                args[0],
                "sender",
                who(cx.sender()),
                "(not handled)"
            )
        })
        .on("tick", |cx, _| t!(format!("{} timer fired", cx.heap.name)))
        .on("_child", |cx, args| {
            if args[0].as_str() != Some("create") {
                t!(
                    format!("{} _child", cx.heap.name),
                    args[0],
                    args[1],
                    args[2]
                );
            }
        })
        .on("_stop", |cx, _| {
            let name = cx.heap.name;
            t!(format!("{name} _stop"));
            Value::from(format!("{name}-stopped"))
        })
}

#[test]
fn signal_subtree_term() {
    let spec = |name, delay, kids| Node { name, delay, kids };
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(None::<SessionId>)
                .on("_start", move |cx, _| {
                    t!("P _start", who(cx.session()));
                    let five = Duration::from_secs(5);
                    let c = cx.spawn(node(spec("C", five, vec![spec("G", five, vec![])])))?;
                    *cx.heap = Some(c);
                    cx.spawn(node(spec("S", ms(50), vec![])))?;
                    cx.delay("send_term", ms(10), ())?;
                    cx.delay("later", ms(30), ())
                })
                .on("send_term", |cx, _| {
                    let c = cx.heap.unwrap();
                    t!("P signal(C, TERM) ->", ok(&cx.signal(c, "TERM", ())))
                })
                .on("later", |_, _| t!("P lives on"))
                .on("_child", |_, args| {
                    if args[0].as_str() != Some("create") {
                        t!("P _child", args[0], args[1], args[2]);
                    }
                })
                .on("_stop", |_, _| t!("P _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/19_signal_subtree_term.out"));
}
