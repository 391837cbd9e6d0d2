//! An alias keeps a session alive while others work; IDLE ends it after.

use roe::{Kernel, Session};

use crate::harness::{check, ms};

#[test]
fn alias_keeps_alive_idle() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("svc").unwrap();
                    t!("svc _start (alias only, no timers)");
                })
                .on("ping", |cx, args| {
                    t!("svc ping", args[0]);
                    let sender = cx.sender();
                    cx.post(sender, "pong", args)
                })
                .on("_stop", |_, _| t!("svc _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("tick", ms(10), (1,)))
                .on("tick", |cx, args| {
                    let n = args[0].as_int().unwrap();
                    cx.post("svc", "ping", (n,))?;
                    if n < 3 {
                        cx.delay("tick", ms(10), (n + 1,))?;
                    }
                    Ok(())
                })
                .on("pong", |_, args| t!("client pong", args[0]))
                .on("_stop", |_, _| t!("client _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    let resolves = if kernel.resolve("svc").is_some() {
        "yes"
    } else {
        "no"
    };
    t!("run returned; svc alias resolves?", resolves);
    check(include_str!("expected/06_alias_keeps_alive_idle.out"));
}
