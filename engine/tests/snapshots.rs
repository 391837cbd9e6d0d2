//! Snapshots for readers: a kernel nobody asks builds its counters and
//! queue alone; a reader gets the sessions it asks for, within its bound,
//! from a busy kernel, a parked one and a lone one; a kernel stuck in a
//! handler, or finished, does not hold a reader past its bound.

use std::{
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use roe_engine::{Detail, Kernel, KernelId, Runtime, RuntimeHandle, Session, SessionId, Snapshot};

/// How long anything a test waits for may take.
const PATIENCE: Duration = Duration::from_secs(10);
/// Idle sessions beside the test's own.
const IDLE: u64 = 1000;

/// A session that does nothing and stays until the runtime ends.
fn idle() -> Session<()> {
    Session::new(()).on("_start", |cx, _| {
        let me = cx.session();
        cx.refcount_increment(me, "idle")
    })
}

/// A session that posts to itself until the runtime ends: there is always
/// something new to publish.
fn busy() -> Session<u64> {
    Session::new(0u64)
        .on("_start", |cx, _| {
            cx.alias_set("busy")?;
            cx.yield_("spin", ());
            Ok::<_, roe_engine::Error>(())
        })
        .on("spin", |cx, _| {
            *cx.heap += 1;
            cx.yield_("spin", ());
        })
}

/// One kernel, publishing every `interval`, with [`IDLE`] idle sessions
/// and the busy one if `spinning`.
fn runtime(interval: Duration, spinning: bool) -> Runtime {
    Runtime::builder()
        .kernels(1)
        .pin(false)
        .snapshot_interval(interval)
        .start(move |kernel| {
            for _ in 0..IDLE {
                kernel.spawn(idle())?;
            }
            if spinning {
                kernel.spawn(busy())?;
            }
            Ok(())
        })
        .unwrap()
}

/// The first snapshot after `generation` that `accept` takes.
fn next_snapshot(
    handle: &RuntimeHandle,
    generation: u64,
    accept: impl Fn(&Snapshot) -> bool,
) -> std::sync::Arc<Snapshot> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let snapshot = handle.snapshot(KernelId(0)).unwrap();
        if snapshot.generation > generation && accept(&snapshot) {
            return snapshot;
        }
        assert!(Instant::now() < deadline, "no new snapshot came");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Some idle session's number (they are numbered from 1).
fn some_idle() -> u64 {
    IDLE / 2
}

#[test]
fn snapshots_hold_no_session_unless_a_reader_asks() {
    let rt = runtime(Duration::from_millis(1), true);
    let handle = rt.handle();
    // Built at the interval while the busy session runs: counters only
    // (after the snapshot of everything the runtime takes as it starts).
    let later = next_snapshot(&handle, 2, |_| true);
    assert!(later.detail.is_counters(), "{:?}", later.detail);
    assert!(later.sessions.is_empty() && later.ids.is_empty());
    assert_eq!(later.handler_time, None);
    assert_eq!(later.counters.sessions as u64, IDLE + 2);
    assert!(later.counters.dispatched > 0);
    // Asked for everything once: one snapshot of everything comes.
    handle.request_snapshots();
    let all = next_snapshot(&handle, later.generation, |s| s.detail.all);
    assert_eq!(all.sessions.len(), all.counters.sessions);
    assert_eq!(all.ids.len(), all.counters.sessions);
    assert!(all.handler_time.is_some());
    // And then counters alone again.
    let after = next_snapshot(&handle, all.generation, |_| true);
    assert!(after.detail.is_counters(), "{:?}", after.detail);
    handle.shutdown();
    rt.join().unwrap();
}

#[test]
fn a_reader_gets_the_sessions_it_asks_for_and_keeps_them_while_leased() {
    let rt = runtime(Duration::from_millis(1), true);
    let handle = rt.handle();
    let reader = handle.snapshots(KernelId(0)).unwrap();
    // Past the snapshot of everything the runtime takes as it starts.
    let counters = next_snapshot(&handle, 0, |s| s.detail.is_counters());
    let wanted = some_idle();
    let asked = Instant::now();
    let snapshot = reader
        .load_detail(&Detail::session(wanted), PATIENCE, PATIENCE)
        .expect("a busy kernel answers");
    // At its next look (every 61 dispatches), not at the interval's end.
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert!(snapshot.generation > counters.generation);
    // Just that session, in full.
    assert!(snapshot.detail.has_session(wanted) && !snapshot.detail.has_ids());
    assert_eq!(snapshot.sessions.len(), 1);
    let session = snapshot.session(wanted).expect("alive");
    assert_eq!(session.refcount, 1);
    assert_eq!(session.handlers, ["_start"]);
    // What it is: its heap's type (the idle sessions' heap is `()`).
    assert_eq!(session.heap_type, "()");
    assert_eq!(snapshot.is_alive(wanted), Some(true));
    assert_eq!(snapshot.is_alive(wanted + 1), None);
    // Leased: the snapshots published at the interval keep it.
    let later = next_snapshot(&handle, snapshot.generation + 2, |_| true);
    assert!(later.session(wanted).is_some(), "{:?}", later.detail);
    // A number nobody has is answered too: not alive.
    let gone = reader
        .load_detail(&Detail::session(u64::MAX), PATIENCE, PATIENCE)
        .expect("answered");
    assert_eq!(gone.is_alive(u64::MAX), Some(false));
    handle.shutdown();
    rt.join().unwrap();
}

#[test]
fn every_id_comes_without_every_session() {
    let rt = runtime(Duration::from_secs(3600), false);
    let handle = rt.handle();
    let reader = handle.snapshots(KernelId(0)).unwrap();
    let snapshot = reader
        .load_detail(&Detail::ids(), Duration::ZERO, PATIENCE)
        .expect("answered");
    assert!(snapshot.sessions.is_empty());
    assert_eq!(snapshot.ids.len() as u64, IDLE + 1);
    assert!(
        snapshot
            .ids
            .windows(2)
            .all(|w| w[0].number() < w[1].number())
    );
    assert_eq!(snapshot.ids[0], SessionId::kernel_root(KernelId(0)));
    assert!(snapshot.handler_time.is_some());
    assert_eq!(snapshot.is_alive(some_idle()), Some(true));
    assert_eq!(snapshot.is_alive(IDLE + 1), Some(false));
    handle.shutdown();
    rt.join().unwrap();
}

/// Nothing happens on the kernel (it is parked, and its interval is an
/// hour): an ask wakes it.
#[test]
fn a_parked_kernel_answers_at_once() {
    let rt = runtime(Duration::from_secs(3600), false);
    let handle = rt.handle();
    let reader = handle.snapshots(KernelId(0)).unwrap();
    thread::sleep(Duration::from_millis(20));
    let before = reader.load().generation;
    let asked = Instant::now();
    let snapshot = reader
        .load_detail(&Detail::session(some_idle()), Duration::ZERO, PATIENCE)
        .expect("woken, it answers");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert!(snapshot.generation > before);
    assert!(snapshot.session(some_idle()).is_some());
    handle.shutdown();
    rt.join().unwrap();
}

/// A kernel stuck in a handler answers nothing: the reader waits its bound
/// once, and not again while that ask is unanswered; its files keep what
/// the last snapshot held. Once the handler returns, the kernel answers.
#[test]
fn a_kernel_stuck_in_a_handler_does_not_hold_readers() {
    let (stuck_tx, stuck_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(Some(release_rx));
    let stuck_tx = std::sync::Mutex::new(stuck_tx);
    let rt = Runtime::builder()
        .kernels(1)
        .pin(false)
        .start(move |kernel| {
            let release = release_rx.lock().unwrap().take().unwrap();
            let stuck = stuck_tx.lock().unwrap().clone();
            kernel.spawn(
                Session::new(Some(release))
                    .on("_start", |cx, _| cx.yield_("hold", ()))
                    .on("hold", move |cx, _| {
                        let _ = stuck.send(());
                        if let Some(release) = cx.heap.take() {
                            let _ = release.recv();
                        }
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    stuck_rx.recv().unwrap();
    let handle = rt.handle();
    let reader = handle.snapshots(KernelId(0)).unwrap();
    let bound = Duration::from_millis(50);
    let asked = Instant::now();
    assert!(
        reader
            .load_detail(&Detail::ids(), Duration::ZERO, bound)
            .is_none()
    );
    assert!(asked.elapsed() >= bound);
    thread::sleep(bound);
    let asked = Instant::now();
    assert!(
        reader
            .load_detail(&Detail::ids(), Duration::ZERO, bound)
            .is_none()
    );
    assert!(asked.elapsed() < bound, "waited again for a stuck kernel");
    // The counters are still there to read.
    assert_eq!(reader.load().kernel, KernelId(0));
    release_tx.send(()).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let snapshot = loop {
        if let Some(snapshot) = reader.load_detail(&Detail::ids(), Duration::ZERO, PATIENCE) {
            break snapshot;
        }
        assert!(Instant::now() < deadline, "the kernel never answered");
        thread::sleep(Duration::from_millis(10));
    };
    assert!(snapshot.detail.has_ids());
    rt.join().unwrap();
    // Finished: nothing to wait for.
    let asked = Instant::now();
    let last = reader.load_detail(&Detail::session(1), Duration::ZERO, PATIENCE);
    assert!(asked.elapsed() < PATIENCE);
    // The last snapshot holds everything, which is nothing.
    assert_eq!(last.map(|s| s.is_alive(1)), Some(Some(false)));
}

/// A reader's ask answered while a handler runs (taken in as it returns)
/// shows the dispatch counted but not its time; the kernel publishes what
/// the handler did all the same, though nothing happens after it.
#[test]
fn what_a_handler_did_is_published_after_an_ask_it_held_up() {
    let nap = Duration::from_millis(300);
    let (napping_tx, napping) = mpsc::channel();
    let napping_tx = std::sync::Mutex::new(napping_tx);
    let rt = Runtime::builder()
        .kernels(1)
        .pin(false)
        .snapshot_interval(Duration::from_millis(20))
        .start(move |kernel| {
            let napping = napping_tx.lock().unwrap().clone();
            kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| -> roe_engine::Result<()> {
                        cx.alias_set("napper")?;
                        let me = cx.session();
                        cx.refcount_increment(me, "test")?;
                        Ok(())
                    })
                    .on("nap", move |_, _| {
                        let _ = napping.send(());
                        thread::sleep(nap);
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    let handle = rt.handle();
    let napper = handle.resolve("napper").unwrap();
    let reader = handle.snapshots(KernelId(0)).unwrap();
    handle.post(napper, "nap", ()).unwrap();
    napping.recv_timeout(PATIENCE).unwrap();
    reader.ask(&Detail::session(napper.number()), PATIENCE);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let latest = reader.load();
        if latest
            .session(napper.number())
            .is_some_and(|s| s.handler_max >= nap)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nap never showed: {latest:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
    handle.shutdown();
    rt.join().unwrap();
}

/// A lone kernel, parked on a timer, answers a reader on another thread.
#[test]
fn a_lone_kernel_answers_too() {
    let (reader_tx, reader_rx) = mpsc::channel();
    let kernel = thread::spawn(move || {
        let mut kernel = Kernel::new().unwrap();
        let reader = kernel.snapshots(Duration::from_secs(3600));
        let waiting = kernel
            .spawn(Session::new(()).on("_start", |cx, _| {
                cx.delay("done", Duration::from_secs(2), ())
            }))
            .unwrap();
        reader_tx.send((reader, waiting)).unwrap();
        kernel.run().unwrap();
    });
    let (reader, waiting) = reader_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(20));
    let asked = Instant::now();
    let snapshot = reader
        .load_detail(&Detail::session(waiting.number()), Duration::ZERO, PATIENCE)
        .expect("the lone kernel answers");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "answered only when the timer woke it"
    );
    assert_eq!(snapshot.session(waiting.number()).unwrap().timers, 1);
    kernel.join().unwrap();
}
