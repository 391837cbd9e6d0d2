//! A benign signal visits the target's subtree, watchers deepest first, with
//! SENDER the kernel; nobody dies.

use roe::{Kernel, Session};

use crate::harness::{check, ms, ok};

#[derive(Clone)]
struct Node {
    name: &'static str,
    watch: bool,
    kids: Vec<Node>,
}

fn node(spec: Node) -> Session<Node> {
    Session::new(spec)
        .on("_start", |cx, _| {
            let name = cx.heap.name;
            cx.alias_set(name).unwrap();
            if cx.heap.watch {
                cx.sig("RELOAD", "on_reload", (format!("reg-{name}"),))
                    .unwrap();
            }
            for kid in cx.heap.kids.clone() {
                cx.spawn(node(kid)).unwrap();
            }
        })
        .on("on_reload", |cx, args| {
            let shown: Vec<String> = args.iter().map(ToString::to_string).collect();
            t!(
                format!("{} on_reload args:", cx.heap.name),
                shown.join(" "),
                "sender",
                cx.sender()
            );
        })
        .on("go", |cx, _| {
            let name = cx.heap.name;
            t!(
                format!("{name} signal(A, RELOAD) ->"),
                ok(&cx.signal("A", "RELOAD", ("x1", "x2")))
            );
            t!(format!("{name} signal returned; nothing dispatched yet"));
        })
        .on("fin", |cx, _| {
            let name = cx.heap.name;
            cx.alias_remove(name).unwrap();
            t!(format!("{name} still alive at fin"));
        })
        .on("_stop", |cx, _| t!(format!("{} _stop", cx.heap.name)))
}

#[test]
fn signal_tree_benign() {
    let leaf = |name, watch, kids| Node { name, watch, kids };
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(node(leaf(
            "Root",
            false,
            vec![leaf(
                "A",
                true,
                vec![leaf("B", false, vec![leaf("C", true, vec![])])],
            )],
        )))
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("step1", ms(10), ()))
                .on("step1", |cx, _| {
                    cx.call("Root", "go", ())?;
                    cx.delay("step2", ms(10), ())
                })
                .on("step2", |cx, _| {
                    for name in ["C", "B", "A", "Root"] {
                        cx.post(name, "fin", ())?;
                    }
                    Ok(())
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/16_signal_tree_benign.out"));
}
