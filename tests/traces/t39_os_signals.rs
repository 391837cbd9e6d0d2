//! Real OS signals: a handler is installed only once some session watches
//! the signal; a caught signal is queued to the kernel, so every watcher
//! sees it with SENDER the kernel and ARG0 the name without `SIG`; in POE
//! 1.370 that includes SIGPIPE.
//!
//! Mappings: `$SIG{USR1}` being set is `roe::is_signal_handled("USR1")`;
//! `kill USR1 => $$` sends the signal to this process the same way.

use std::time::SystemTime;

use roe::{Kernel, Session};
use rustix::process::{Signal, getpid, kill_process};

use crate::harness::{check, ms, who};

#[test]
fn os_signals() {
    let end_at = SystemTime::now() + ms(100);
    let handled = |name| {
        if roe::is_signal_handled(name) {
            "a POE handler"
        } else {
            "unset"
        }
    };
    t!("before any sig(): $SIG{USR1} is", handled("USR1"));
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    cx.sig("USR1", "on_sig", ())?;
                    cx.sig("PIPE", "on_sig", ())?;
                    t!("A watching USR1+PIPE; $SIG{USR1} is now", handled("USR1"));
                    cx.delay("send_usr1", ms(10), ())?;
                    cx.alarm("done", end_at, ())
                })
                .on("send_usr1", |cx, _| {
                    kill_process(getpid(), Signal::USR1).unwrap();
                    t!("A sent SIGUSR1 to self");
                    cx.delay("send_pipe", ms(30), ())
                })
                .on("send_pipe", |_, _| {
                    kill_process(getpid(), Signal::PIPE).unwrap();
                    t!("A sent SIGPIPE to self");
                })
                .on("on_sig", |cx, args| {
                    let group = format!("sig-{}", args[0]);
                    u!(&group, "A on_sig", args[0], "sender", who(cx.sender()));
                })
                .on("done", |cx, _| {
                    cx.sig_remove("USR1");
                    cx.sig_remove("PIPE");
                }),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    cx.sig("PIPE", "on_pipe", ())?;
                    cx.alarm("done", end_at, ())
                })
                .on("on_pipe", |cx, args| {
                    let group = format!("sig-{}", args[0]);
                    u!(&group, "B on_pipe", args[0], "sender", who(cx.sender()));
                })
                .on("done", |cx, _| cx.sig_remove("PIPE")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/39_os_signals.out"));
}
