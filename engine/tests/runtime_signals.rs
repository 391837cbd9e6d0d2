//! OS signals in a runtime, in a test binary of its own: dispositions are
//! process-wide, so other tests' watchers would make it racy.
//!
//! One owner thread catches each signal and forwards it to every kernel
//! watching it; SIGCHLD is reaped by the kernel whose session watches the
//! child, and reaches no other.

use std::{
    process::Command,
    sync::{Arc, Mutex},
};

use roe_engine::{Error, Runtime, Session};
use rustix::process::{Signal, getpid, kill_process};

#[test]
// The kernel reaps the child: that is sig_child's whole point.
#[allow(clippy::zombie_processes)]
fn a_signal_reaches_sessions_on_every_kernel_and_chld_only_its_watcher() {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = Arc::clone(&log);
    let rt = Runtime::builder()
        .kernels(2)
        .pin(false)
        .start(move |kernel| {
            let k = kernel.id().0;
            let (on_usr1, on_chld, on_child) = (Arc::clone(&l), Arc::clone(&l), Arc::clone(&l));
            kernel.spawn(
                Session::new(())
                    .on("_start", move |cx, _| {
                        // Signal watchers do not keep a session alive (POE's
                        // rule); the tag does, until USR1.
                        cx.refcount_increment(cx.session(), "until USR1")?;
                        cx.sig("USR1", "usr1", ())?;
                        cx.sig("CHLD", "chld", ())?;
                        if k == 1 {
                            let child = Command::new("true").spawn().map_err(Error::Io)?;
                            cx.sig_child(child.id(), "child_done", ())?;
                        }
                        Ok::<_, Error>(())
                    })
                    .on("usr1", move |cx, args| {
                        on_usr1.lock().unwrap().push(format!(
                            "kernel {k}: {} from {}",
                            args[0],
                            cx.sender()
                        ));
                        cx.sig_handled();
                        cx.sig_remove("USR1");
                        cx.sig_remove("CHLD");
                        cx.refcount_decrement(cx.session(), "until USR1")?;
                        Ok::<_, Error>(())
                    })
                    .on("chld", move |_, args| {
                        on_chld
                            .lock()
                            .unwrap()
                            .push(format!("kernel {k}: CHLD signal {}", args[0]));
                    })
                    .on("child_done", move |_, args| {
                        on_child
                            .lock()
                            .unwrap()
                            .push(format!("kernel {k}: child exited with {}", args[2]));
                        // Every kernel heard the CHLD it reaped; now USR1.
                        kill_process(getpid(), Signal::USR1).unwrap();
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    rt.join().unwrap();
    let mut lines = log.lock().unwrap().clone();
    lines.sort();
    assert_eq!(
        lines,
        [
            "kernel 0: USR1 from 0",
            "kernel 1: CHLD signal CHLD",
            "kernel 1: USR1 from 0@1",
            "kernel 1: child exited with 0",
        ]
    );
}
