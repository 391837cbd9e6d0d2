//! POE's older `_signal` event, which roe delivers to sessions that define
//! it beside POE 1.370's `sig()`, and `option()` at run time.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use common::Log;
use roe_engine::{Kernel, Session, Value};

/// A parent and its child both define `_signal`: the child hears a signal
/// sent to the parent first, with the signal's name and arguments.
#[test]
fn signal_event_reaches_the_tree_children_first() {
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();
    let (parent_log, child_log) = (log.clone(), log.clone());
    let parent = kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    let child_log = child_log.clone();
                    cx.spawn(Session::new(()).on("_start", |_, _| {}).on(
                        "_signal",
                        move |_, args| {
                            child_log.push(format!("child {} {}", args[0], args[1]));
                        },
                    ))?;
                    cx.alias_set("parent")
                })
                .on("_signal", move |_, args| {
                    parent_log.push(format!("parent {} {}", args[0], args[1]));
                })
                .on("done", |cx, _| cx.alias_remove("parent")),
        )
        .unwrap();
    kernel.signal(parent, "NUDGE", (7,)).unwrap();
    kernel.post(parent, "done", ()).unwrap();
    kernel.run().unwrap();
    assert_eq!(log.lines(), ["child NUDGE 7", "parent NUDGE 7"]);
}

/// A terminal signal stops the sessions it reaches unless a handler says
/// it was handled; for `_signal`, a true return value says so.
#[test]
fn a_true_return_from_signal_handles_a_terminal_signal() {
    for (returns, survives) in [(Value::from(1), true), (Value::from(0), false)] {
        let log = Log::default();
        let l = log.clone();
        let mut kernel = Kernel::new().unwrap();
        let session = kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| cx.alias_set("s"))
                    .on("_signal", move |_, _| returns.clone())
                    .on("later", move |cx, _| {
                        l.push("alive after INT");
                        cx.alias_remove("s")
                    })
                    .on("_stop", {
                        let log = log.clone();
                        move |_, _| log.push("stopped")
                    }),
            )
            .unwrap();
        kernel.signal(session, "INT", ()).unwrap();
        kernel.post(session, "later", ()).unwrap();
        kernel.run().unwrap();
        let expected: &[&str] = if survives {
            &["alive after INT", "stopped"]
        } else {
            &["stopped"]
        };
        assert_eq!(log.lines(), expected);
    }
}

/// A child's exit reaches every session that defines `_signal` as
/// `("CHLD", pid, status)`, as POE's older documents say.
#[test]
// The kernel reaps the child: that is sig_child's whole point.
#[allow(clippy::zombie_processes)]
fn signal_event_hears_of_child_processes() {
    let log = Log::default();
    let l = log.clone();
    let child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| cx.sig_child(pid, "reaped", ()))
                .on("reaped", |_, _| {})
                .on("_signal", move |_, args| {
                    if args[0].as_str() == Some("CHLD") {
                        l.push(format!("{} {} {}", args[0], args[1], args[2]));
                    }
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(log.lines(), [format!("CHLD {pid} 0")]);
}

/// A writer tracing output goes to, for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `option("trace", "on")` turns POE's trace on at run time: later events
/// to the session are logged; "off" stops it.
#[test]
fn option_turns_tracing_on_and_off_at_run_time() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut kernel = Kernel::new().unwrap();
        kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        assert!(!cx.option("trace", "yes")?);
                        cx.yield_("traced", ());
                        Ok::<_, roe_engine::Error>(())
                    })
                    .on("traced", |cx, _| {
                        assert!(cx.option("TRACE", "off").unwrap());
                        cx.yield_("quiet", ());
                    })
                    .on("quiet", |cx, _| {
                        assert!(cx.option("colour", 1).is_err());
                    }),
            )
            .unwrap();
        kernel.run().unwrap();
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("-> traced"), "{text}");
    assert!(!text.contains("-> quiet"), "{text}");
}

/// A session that defines `_signal` hears of an OS signal nobody watches
/// with `sig()`, as POE's older kernel announced every signal it caught;
/// once it is gone, the kernel stops catching the signal.
#[test]
fn signal_event_hears_os_signals_nobody_watches() {
    let log = Log::default();
    let l = log.clone();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    // The signal comes from outside: stay alive until then.
                    cx.refcount_increment(cx.session(), "usr2")?;
                    let me = rustix::process::getpid();
                    rustix::process::kill_process(me, rustix::process::Signal::USR2)
                        .map_err(std::io::Error::from)?;
                    Ok::<_, roe_engine::Error>(())
                })
                .on("_signal", move |cx, args| {
                    l.push(format!("heard {}", args[0]));
                    if args[0].as_str() == Some("USR2") {
                        cx.refcount_decrement(cx.session(), "usr2")?;
                    }
                    Ok::<_, roe_engine::Error>(Value::from(true))
                }),
        )
        .unwrap();
    assert!(roe_engine::is_signal_handled("USR2"));
    kernel.run().unwrap();
    assert_eq!(log.lines(), ["heard USR2"]);
}
