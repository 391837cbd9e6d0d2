//! `/kernel/warnings` and the tunables of `/kernel/sysctl`, through a real
//! mount: a session with a slow handler is named and a quiet one is not, a
//! kernel stuck in that handler is named as it happens, and the thresholds
//! are set with `echo` (a bad value refused with EINVAL, changing
//! nothing).
//!
//! As in mount.rs, the tests need /dev/fuse and root, and pass without
//! mounting where there are none, unless `ROE_REQUIRE_FUSE=1` is set.

use std::{
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use roe_engine::{KernelId, Runtime, Session, SessionId};
use roe_fs::ProcAlike;

mod common;

use common::{PATIENCE, assert_gone, eventually, finish, fuse_available, mountpoint, read, sh};

/// How long the slow handler takes: past the default threshold (100 ms),
/// and long enough that the reads made while it runs are done before it
/// returns.
const NAP: Duration = Duration::from_millis(1500);

/// How long the test leaves kernel 1 alone before it posts `nap`, so that
/// the kernel is blocked in its wait when the post arrives. A kernel
/// measures every dispatch of a slice that follows a real wait, but only
/// one in 32 in a busy loop, which includes the few microseconds it spins
/// for more messages after it received some (the view's asks among them)
/// and a slice whose timer was already due when it began: a nap dispatched
/// there could go unmeasured, and the test would prove nothing.
const SETTLE: Duration = Duration::from_millis(250);

/// A runtime of two kernels; kernel 1 has `napper`, whose `nap` sleeps
/// for [`NAP`] and then says so, and `quiet`, whose `poke` does nothing,
/// whose `pile` sets as many timers as its argument says (a session's
/// queued items count its timers) and whose `calm` removes them. Both stay
/// alive until shutdown.
fn runtime() -> (Runtime, mpsc::Receiver<()>) {
    let (woke_tx, woke) = mpsc::channel();
    let runtime = Runtime::builder()
        .kernels(2)
        .pin(false)
        .start(move |kernel| {
            if kernel.id() == KernelId(1) {
                let woke_tx = woke_tx.clone();
                kernel.spawn(kept("napper").on("nap", move |_, _| {
                    thread::sleep(NAP);
                    let _ = woke_tx.send(());
                }))?;
                kernel.spawn(
                    kept("quiet")
                        .on("poke", |_, _| {})
                        .on("pile", |cx, args| -> roe_engine::Result<()> {
                            for _ in 0..args.get(0).as_int().unwrap_or(0) {
                                cx.delay_add("poke", Duration::from_secs(600), ())?;
                            }
                            Ok(())
                        })
                        .on("calm", |cx, _| {
                            cx.alarm_remove_all();
                        }),
                )?;
            }
            Ok(())
        })
        .expect("the runtime starts");
    (runtime, woke)
}

/// A session aliased `alias` that lives until shutdown.
fn kept(alias: &'static str) -> Session<()> {
    Session::new(()).on("_start", move |cx, _| -> roe_engine::Result<()> {
        cx.alias_set(alias)?;
        let me = cx.session();
        cx.refcount_increment(me, "test")?;
        Ok(())
    })
}

/// The `slow_handler` and `queue` lines that name `session`.
fn naming(warnings: &str, session: SessionId) -> Vec<String> {
    let id = session.to_string();
    warnings
        .lines()
        .filter(|line| line.split(' ').nth(1) == Some(id.as_str()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_slow_handler_is_named_and_a_quiet_session_is_not() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("slow-handler");
    let (runtime, woke) = runtime();
    let handle = runtime.handle();
    // The view's session on kernel 0: kernel 1 is asked nothing before it
    // naps but its two sessions, one by one.
    let view = ProcAlike::builder()
        .mountpoint(&at)
        .watch_signals(false)
        .snapshot_interval(Duration::from_millis(20))
        .start(&handle)
        .expect("the view mounts");
    let napper = handle.resolve("napper").unwrap();
    let quiet = handle.resolve("quiet").unwrap();
    for _ in 0..5 {
        handle.post(quiet, "poke", ()).unwrap();
    }
    let handled = at.join(format!(
        "kernel/1/sessions/{}/events_handled",
        quiet.number()
    ));
    eventually("the pokes to be handled", || {
        handled.exists() && read(&handled).trim().parse::<u64>().unwrap_or(0) >= 6
    });
    let warnings = at.join("kernel/warnings");

    thread::sleep(SETTLE);
    handle.post(napper, "nap", ()).unwrap();
    thread::sleep(Duration::from_millis(200));
    // Kernel 1 is in the handler: named as not answering, at once (within
    // the view's 50 ms wait, far from the nap's end), by `cat` as by std.
    let started = Instant::now();
    let (ok, during, err) = sh(&format!("cat {}", warnings.display()));
    let took = started.elapsed();
    assert!(ok, "{err}");
    assert!(took < Duration::from_millis(700), "the read took {took:?}");
    assert!(
        during.lines().any(|line| line == "unanswered 1"),
        "{during:?}"
    );
    assert!(naming(&during, napper).is_empty(), "{during:?}");
    assert!(
        woke.try_recv().is_err(),
        "the nap ended before the read: it proved nothing"
    );

    woke.recv_timeout(PATIENCE).expect("the nap ends");
    let mut after = String::new();
    eventually("the nap among the warnings", || {
        after = read(&warnings);
        !naming(&after, napper).is_empty()
    });
    let lines = naming(&after, napper);
    assert_eq!(lines.len(), 1, "{after:?}");
    let fields: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(fields[..2], ["slow_handler", napper.to_string().as_str()]);
    let took: f64 = fields[2].parse().unwrap();
    assert!(took >= NAP.as_secs_f64(), "{after:?}");
    assert!(!after.contains("unanswered"), "{after:?}");
    assert!(naming(&after, quiet).is_empty(), "{after:?}");

    // Past the threshold, and then not: the threshold is the sysctl's.
    let slow = at.join("kernel/sysctl/slow_handler_ms");
    assert_eq!(read(&slow), "100\n");
    let (ok, _, err) = sh(&format!("echo 2000 > {}", slow.display()));
    assert!(ok, "{err}");
    assert_eq!(read(&slow), "2000\n");
    assert!(naming(&read(&warnings), napper).is_empty());

    drop(view);
    assert_gone(&at);
    finish(runtime);
}

#[test]
fn thresholds_are_set_with_echo_and_bad_values_change_nothing() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("thresholds");
    let (runtime, _woke) = runtime();
    let handle = runtime.handle();
    let view = ProcAlike::builder()
        .mountpoint(&at)
        .watch_signals(false)
        .queue_warning(50)
        .start(&handle)
        .expect("the view mounts");
    let sysctl = at.join("kernel/sysctl");
    let (ok, out, err) = sh(&format!("ls -l {}", sysctl.display()));
    assert!(ok, "{err}");
    for name in ["snapshot_interval_ms", "slow_handler_ms", "queue_warning"] {
        let line = out
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} in {out}"));
        assert!(line.starts_with("-rw-r--r--"), "{line}");
    }
    let queue = sysctl.join("queue_warning");
    let slow = sysctl.join("slow_handler_ms");
    assert_eq!(read(&queue), "50\n");
    assert_eq!(read(&slow), "100\n");
    for (file, bad) in [
        (&queue, "many"),
        (&queue, "-1"),
        (&queue, "4294967296"),
        (&slow, "1.5"),
        (&slow, "86400001"),
        (&slow, ""),
    ] {
        let (ok, _, err) = sh(&format!("/bin/echo '{bad}' > {}", file.display()));
        assert!(!ok, "{bad:?} was taken");
        assert!(err.contains("Invalid argument"), "{bad:?}: {err}");
    }
    assert_eq!(read(&queue), "50\n");
    assert_eq!(read(&slow), "100\n");

    // A queue past the threshold, on kernel 1: ten timers for `quiet`.
    let quiet = handle.resolve("quiet").unwrap();
    let (ok, _, err) = sh(&format!("echo 9 > {}", queue.display()));
    assert!(ok, "{err}");
    assert_eq!(read(&queue), "9\n");
    handle.post(quiet, "pile", (10i64,)).unwrap();
    let warnings = at.join("kernel/warnings");
    let mut seen = String::new();
    eventually("the queue among the warnings", || {
        seen = read(&warnings);
        !naming(&seen, quiet).is_empty()
    });
    assert_eq!(
        naming(&seen, quiet),
        [format!("queue {quiet} 10")],
        "{seen:?}"
    );
    // At the threshold is not past it.
    let (ok, _, err) = sh(&format!("echo 10 > {}", queue.display()));
    assert!(ok, "{err}");
    assert!(naming(&read(&warnings), quiet).is_empty());
    // Emptied, the queue warns of nothing whatever the threshold.
    let (ok, _, err) = sh(&format!("echo 0 > {}", queue.display()));
    assert!(ok, "{err}");
    assert!(!naming(&read(&warnings), quiet).is_empty());
    handle.post(quiet, "calm", ()).unwrap();
    eventually("the queue to be emptied", || {
        naming(&read(&warnings), quiet).is_empty()
    });

    drop(view);
    assert_gone(&at);
    finish(runtime);
}
