//! One slice runs what was queued before it, so a self-yield chain moves one
//! step per slice; once no session is left the call finishes the kernel.

use roe::{Kernel, Session};

use crate::harness::check;

#[test]
fn run_one_timeslice() {
    let mut kernel = Kernel::new().unwrap();
    kernel.run().unwrap();
    t!("initial run() with no sessions returned immediately");
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    t!("_start");
                    cx.yield_("chain", (1,));
                    for x in ["a", "b"] {
                        cx.yield_("flat", (x,));
                    }
                })
                .on("chain", |cx, args| {
                    let n = args[0].as_int().unwrap();
                    t!("  chain", n);
                    if n < 3 {
                        cx.yield_("chain", (n + 1,));
                    }
                })
                .on("flat", |_, args| t!("  flat", args[0]))
                .on("_stop", |_, _| t!("  _stop")),
        )
        .unwrap();
    for slice in 1..=8 {
        t!(format!("timeslice {slice}"));
        let more = kernel.run_one_timeslice().unwrap();
        t!("  -> returned", more.then_some(1u32));
        if !more {
            break;
        }
    }
    check(include_str!("expected/29_run_one_timeslice.out"));
}
