//! `sig_child`: only the PID watcher keeps the session alive; one-shot;
//! ARG0 `CHLD`, ARG1 the pid, ARG2 the wait status (exit 3), then the extra
//! args.
//!
//! Mapping: the script forks a child that sleeps 50 ms and exits 3; the port
//! spawns `sh -c 'sleep 0.05; exit 3'`, which exits the same way (a Rust
//! test cannot fork safely).

use std::process::Command;

use roe::{Kernel, Session};

use crate::harness::check;

#[test]
// The kernel reaps the child: that is sig_child's whole point.
#[allow(clippy::zombie_processes)]
fn sig_child() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(0u32)
                .on("_start", |cx, _| {
                    let child = Command::new("sh")
                        .args(["-c", "sleep 0.05; exit 3"])
                        .spawn()
                        .expect("sh runs");
                    *cx.heap = child.id();
                    cx.sig_child(child.id(), "reaped", ("ctx-arg",))?;
                    t!("parent: forked child, watching it; no other resources");
                    Ok(())
                })
                .on("reaped", |cx, args| {
                    let pid = args[1].as_int().unwrap();
                    let status = args[2].as_int().unwrap();
                    let matches = pid == i64::from(*cx.heap);
                    t!(
                        "reaped",
                        args[0],
                        "pid matches:",
                        if matches { "yes" } else { "no" },
                        "exit code",
                        status >> 8,
                        "extra",
                        args[3]
                    );
                })
                .on("_stop", |_, _| t!("_stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/35_sig_child.out"));
}
