//! One global FIFO: two sessions' yields interleave in enqueue order.

use roe::{Kernel, Session};

use crate::harness::check;

#[test]
fn yield_fifo_global() {
    let mut kernel = Kernel::new().unwrap();
    for name in ["A", "B"] {
        kernel
            .spawn(
                Session::new(name)
                    .on("_start", |cx, _| {
                        t!(format!("{} _start", cx.heap));
                        for n in 1..=3 {
                            cx.yield_("step", (format!("{}{n}", cx.heap), 0));
                        }
                    })
                    .on("step", |cx, args| {
                        let (tag, round) = (args[0].to_string(), args[1].as_int().unwrap());
                        t!(format!("{} step", cx.heap), tag, "round", round);
                        if round < 1 {
                            cx.yield_("step", (tag, round + 1));
                        }
                    })
                    .on("_stop", |cx, _| t!(format!("{} _stop", cx.heap))),
            )
            .unwrap();
    }
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/02_yield_fifo_global.out"));
}
