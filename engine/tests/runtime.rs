//! The thread-per-core runtime: cross-kernel posts and their order, the
//! alias directory, calls with a reply, bounded inboxes, shutdown, failure
//! and snapshots.
//!
//! Nothing here assumes more than one core or any speed: kernels are
//! unpinned, and every wait is for an event, never for time.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use roe_engine::{
    Detail, Error, Kernel, KernelId, Runtime, Session, SessionId, Snapshot, TryPostError, Value,
};

/// A log the kernels' handlers append to, from any thread.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        let mut lines = self.0.lock().unwrap().clone();
        lines.sort();
        lines
    }
}

fn runtime(kernels: usize) -> roe_engine::RuntimeBuilder {
    Runtime::builder().kernels(kernels).pin(false)
}

/// Every kernel floods every other with numbered posts through small
/// inboxes (so most posts wait in overflow queues); each receiver checks
/// that every sender's numbers arrive in order, none missing, and each
/// sender's overflow stays bounded.
#[test]
fn posts_between_each_pair_of_kernels_arrive_in_order_under_load() {
    const KERNELS: usize = 3;
    const PER_PAIR: i64 = 20_000;
    const BURST: i64 = 500;
    let log = Log::default();
    let l = log.clone();
    let rt = runtime(KERNELS)
        .inbox_capacity(16)
        .start(move |kernel| {
            let me = kernel.id().0;
            let l = l.clone();
            // The receiver: next expected number per sending kernel.
            kernel.spawn(
                Session::new(BTreeMap::<i64, i64>::new())
                    .on("_start", move |cx, _| cx.alias_set(format!("rx{me}")))
                    .on("n", |cx, args| {
                        let (from, n) = (args[0].as_int().unwrap(), args[1].as_int().unwrap());
                        let next = cx.heap.entry(from).or_insert(0);
                        assert_eq!(n, *next, "kernel {from}'s posts out of order");
                        *next += 1;
                        if cx.heap.values().sum::<i64>() == PER_PAIR * (KERNELS as i64 - 1) {
                            let alias = format!("rx{}", cx.kernel_id().0);
                            cx.alias_remove(&alias)?;
                        }
                        Ok::<_, Error>(())
                    })
                    .on("_stop", move |cx, _| {
                        l.push(format!("rx{me} {:?}", cx.heap));
                    }),
            )?;
            // The sender: bursts to every other kernel's receiver, by ID.
            kernel.spawn(
                Session::new((Vec::<SessionId>::new(), 0i64))
                    .on("_start", |cx, _| cx.yield_("go", ()))
                    .on("go", move |cx, _| {
                        for other in (0..KERNELS as u16).filter(|&k| k != me) {
                            let target = cx.resolve(format!("rx{other}")).unwrap();
                            cx.heap.0.push(target);
                        }
                        cx.yield_("burst", ());
                    })
                    .on("burst", move |cx, _| {
                        let start = cx.heap.1;
                        let end = (start + BURST).min(PER_PAIR);
                        for n in start..end {
                            for target in cx.heap.0.clone() {
                                cx.post(target, "n", (i64::from(me), n))?;
                            }
                        }
                        cx.heap.1 = end;
                        if end < PER_PAIR {
                            cx.yield_("burst", ());
                        }
                        Ok::<_, Error>(())
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    let handle = rt.handle();
    rt.join().unwrap();
    let expected: Vec<String> = (0..KERNELS)
        .map(|me| {
            let counts: BTreeMap<i64, i64> = (0..KERNELS as i64)
                .filter(|&k| k != me as i64)
                .map(|k| (k, PER_PAIR))
                .collect();
            format!("rx{me} {counts:?}")
        })
        .collect();
    assert_eq!(log.lines(), expected);
    // The small inboxes overflowed, and the overflow was counted.
    let overflowed: u64 = (0..KERNELS as u16)
        .map(|k| handle.snapshot(KernelId(k)).unwrap().counters.overflowed)
        .sum();
    assert!(
        overflowed > 0,
        "16-slot inboxes must overflow under 120k posts"
    );
    // Every kernel floods the others while they flood it; each stops
    // dispatching once an inbox's worth waits in its overflow, still taking
    // its own inbox, so none runs ahead and none deadlocks. One burst (to
    // each other kernel) is the most it can add past the limit.
    for k in 0..KERNELS as u16 {
        let high = handle
            .snapshot(KernelId(k))
            .unwrap()
            .counters
            .overflow_high_water;
        let limit = 16 + BURST as usize * (KERNELS - 1);
        assert!(
            high <= limit,
            "kernel {k} let {high} posts wait (limit {limit})"
        );
    }
}

/// A session on kernel 1 uses an alias held on kernel 0: posts, SENDER
/// across kernels, a call with a reply, and the synchronous call refused.
#[test]
fn a_session_talks_to_an_alias_on_another_kernel() {
    let log = Log::default();
    let l = log.clone();
    let rt = runtime(2)
        .start(move |kernel| {
            let l = l.clone();
            if kernel.id().0 == 0 {
                kernel.spawn(
                    Session::new(0i64)
                        .on("_start", |cx, _| cx.alias_set("counter"))
                        .on("add", |cx, args| {
                            *cx.heap += args[0].as_int().unwrap();
                            Value::from(*cx.heap)
                        })
                        .on("ping", |cx, args| {
                            let sender = cx.sender();
                            cx.post(sender, "pong", args)
                        })
                        .on("bye", |cx, _| cx.alias_remove("counter")),
                )?;
                return Ok(());
            }
            kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        let counter = cx.resolve("counter").unwrap();
                        assert_eq!(counter.kernel().0, 0);
                        // A post to another kernel does not hold this
                        // session (IKC's rule): the alias does, until done.
                        cx.alias_set("client")?;
                        cx.post("counter", "ping", ("hello",))
                    })
                    .on("pong", {
                        let l = l.clone();
                        move |cx, args| {
                            l.push(format!(
                                "pong {} from kernel {}",
                                args[0],
                                cx.sender().kernel()
                            ));
                            let refused = cx.call("counter", "add", (1,));
                            assert!(matches!(refused, Err(Error::NotPermitted(_))));
                            cx.call_reply("counter", "add", (40,), "sum")
                        }
                    })
                    .on("sum", {
                        let l = l.clone();
                        move |cx, args| {
                            l.push(format!("sum {}", args[0]));
                            if args[0].as_int() == Some(40) {
                                cx.call_reply("counter", "add", (2,), "sum")
                            } else {
                                cx.alias_remove("client")?;
                                cx.post("counter", "bye", ())
                            }
                        }
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    rt.join().unwrap();
    assert_eq!(
        log.lines(),
        ["pong hello from kernel 0", "sum 40", "sum 42"]
    );
}

/// A call to a session that does not exist (any more) still gets its
/// reply, with the reason; a local `call_reply` runs at once.
#[test]
fn a_call_to_a_missing_session_replies_with_the_reason() {
    let log = Log::default();
    let l = log.clone();
    let rt = runtime(2)
        .start(move |kernel| {
            let l = l.clone();
            if kernel.id().0 == 0 {
                return Ok(());
            }
            kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        cx.call_reply(cx.session(), "double", (21,), "local")?;
                        // Kernel 0 never had a session 999.
                        let missing = SessionId::from_number(KernelId(0), 999);
                        cx.call_reply(missing, "anything", (), "answer")
                    })
                    .on("double", |_, args| {
                        Value::from(args[0].as_int().unwrap() * 2)
                    })
                    .on("local", {
                        let l = l.clone();
                        move |_, args| l.push(format!("local {}", args[0]))
                    })
                    .on("answer", move |_, args| {
                        l.push(format!("answer {} / {}", args[0], args[1]));
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    rt.join().unwrap();
    assert_eq!(
        log.lines(),
        [
            "answer undef / no session resolves from \"999\"",
            "local 42"
        ]
    );
}

/// A handler that fails under `call_reply` raises DIE where it runs, as
/// any trapped failure does, and the caller's answer says it died, on the
/// same kernel and from another; either way the reply comes from the called
/// session.
#[test]
fn a_call_to_a_failing_handler_answers_that_it_died() {
    let log = Log::default();
    let l = log.clone();
    let rt = runtime(2)
        .start(move |kernel| {
            let l = l.clone();
            let me = kernel.id().0;
            // A service on each kernel whose `fail` fails; its DIE is
            // handled, so nothing else stops.
            kernel.spawn(
                Session::new(())
                    .on("_start", move |cx, _| {
                        cx.alias_set(format!("svc{me}"))?;
                        cx.sig("DIE", "died", ())
                    })
                    .on("fail", |_, _| -> Result<(), Error> {
                        Err("out of paper".into())
                    })
                    .on("died", |cx, _| cx.sig_handled()),
            )?;
            if me == 1 {
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| {
                            cx.call_reply("svc1", "fail", (), "answer")?;
                            let remote = cx.resolve("svc0").expect("set by kernel 0's init");
                            cx.call_reply(remote, "fail", (), "answer")
                        })
                        .on("answer", move |cx, args| {
                            let answer = roe_engine::Answer::from_args(&args);
                            let from = cx.sender().to_string();
                            l.push(format!("{answer:?} from {from}"));
                            if l.0.lock().unwrap().len() == 2 {
                                roe_engine::RuntimeHandle::current().unwrap().shutdown();
                            }
                        }),
                )?;
            }
            Ok(())
        })
        .unwrap();
    rt.join().unwrap();
    assert_eq!(
        log.lines(),
        [
            "Died(\"out of paper\") from 1",
            "Died(\"out of paper\") from 1@1"
        ]
    );
}

/// A call queued to a session that stops before it runs still replies.
#[test]
fn a_call_queued_to_a_session_that_stops_still_replies() {
    let log = Log::default();
    let l = log.clone();
    let rt = runtime(2)
        .start(move |kernel| {
            let l = l.clone();
            if kernel.id().0 == 0 {
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.alias_set("victim"))
                        .on("die", |cx, _| cx.stop())
                        .on("work", |_, _| Value::from("done")),
                )?;
                return Ok(());
            }
            kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        // Both arrive in one batch: `die` runs first and
                        // stops kernel 0's sessions with the call queued.
                        cx.post("victim", "die", ())?;
                        cx.call_reply("victim", "work", (), "answer")
                    })
                    .on("answer", move |_, args| {
                        l.push(format!("answer {} / {}", args[0], args[1]));
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    rt.join().unwrap();
    let lines = log.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("answer undef / no session"),
        "{lines:?}"
    );
}

#[test]
fn an_alias_held_on_two_kernels_is_ambiguous_from_a_third() {
    let log = Log::default();
    let l = log.clone();
    let rt = runtime(3)
        .start(move |kernel| {
            let l = l.clone();
            if kernel.id().0 < 2 {
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.alias_set("twin"))
                        .on("leave", |cx, _| cx.alias_remove("twin"))
                        .on("hi", {
                            let l = l.clone();
                            move |cx, _| l.push(format!("hi on kernel {}", cx.kernel_id()))
                        }),
                )?;
                return Ok(());
            }
            kernel.spawn(Session::new(()).on("_start", move |cx, _| {
                match cx.post("twin", "hi", ()) {
                    Err(Error::AmbiguousAlias { alias, sessions }) => {
                        l.push(format!("{alias} on {} kernels", sessions.len()));
                    }
                    other => panic!("expected an ambiguous alias, got {other:?}"),
                }
                match cx.post("nobody", "hi", ()) {
                    Err(Error::NoSuchSession(name)) => l.push(format!("no {name}")),
                    other => panic!("expected no such session, got {other:?}"),
                }
                // Kernel 0's twin leaves (once that post is dispatched, after
                // this `_start`); then the name resolves to kernel 1's.
                let first = kernel_session(0);
                cx.post(first, "leave", ())?;
                cx.post(kernel_session(1), "leave", ())?;
                Ok::<_, Error>(())
            }))?;
            Ok(())
        })
        .unwrap();
    rt.join().unwrap();
    assert_eq!(log.lines(), ["no nobody", "twin on 2 kernels"]);
}

/// Kernel `k`'s first session.
fn kernel_session(k: u16) -> SessionId {
    SessionId::from_number(KernelId(k), 1)
}

/// With the receiver not running yet, its inbox fills: `try_post` gives the
/// arguments back, `post` queues in order in the sender's overflow, and
/// everything accepted arrives.
#[test]
fn a_full_inbox_gives_try_post_its_arguments_back_and_post_waits_in_order() {
    const CAPACITY: usize = 4;
    let log = Log::default();
    let l = log.clone();
    let rt = runtime(2)
        .inbox_capacity(CAPACITY)
        .start(move |kernel| {
            let l = l.clone();
            if kernel.id().0 == 1 {
                kernel.spawn(
                    Session::new(Vec::<i64>::new())
                        .on("_start", |cx, _| cx.alias_set("slow"))
                        .on("n", |cx, args| {
                            cx.heap.push(args[0].as_int().unwrap());
                            if cx.heap.len() == CAPACITY + 100 {
                                cx.alias_remove("slow")?;
                            }
                            Ok::<_, Error>(())
                        })
                        .on("_stop", move |cx, _| l.push(format!("got {:?}", cx.heap))),
                )?;
                return Ok(());
            }
            // Kernel 0 runs its `init` first, while kernel 1 has not run
            // at all: nothing takes from kernel 1's inbox yet.
            kernel.spawn(Session::new(()).on("_start", move |cx, _| {
                let target = kernel_session(1);
                for n in 0..CAPACITY as i64 {
                    cx.try_post(target, "n", (n,))?;
                }
                match cx.try_post(target, "n", (99,)) {
                    Err(TryPostError::Full(args)) => l.push(format!("back {}", args[0])),
                    other => panic!("expected a full inbox, got {other:?}"),
                }
                for n in CAPACITY as i64..CAPACITY as i64 + 100 {
                    cx.post(target, "n", (n,))?;
                }
                // Behind overflow, try_post refuses too (order is kept).
                assert!(matches!(
                    cx.try_post(target, "n", (98,)),
                    Err(TryPostError::Full(_))
                ));
                Ok::<_, Error>(())
            }))?;
            Ok(())
        })
        .unwrap();
    let handle = rt.handle();
    rt.join().unwrap();
    let expected: Vec<i64> = (0..CAPACITY as i64 + 100).collect();
    assert_eq!(
        log.lines(),
        ["back 99".to_owned(), format!("got {expected:?}")]
    );
    let sender = handle.snapshot(KernelId(0)).unwrap();
    assert_eq!(sender.counters.overflowed, 100);
    assert_eq!(sender.counters.overflow_waiting, 0);
    let receiver = handle.snapshot(KernelId(1)).unwrap();
    assert_eq!(receiver.counters.received_remote, CAPACITY as u64 + 100);
    assert!(receiver.counters.inbox_high_water >= CAPACITY);
}

/// Shutdown while a sender floods another kernel: every post the sender
/// was told was accepted reaches its handler; later ones fail clearly.
#[test]
fn shutdown_delivers_every_post_accepted_before_it() {
    let accepted = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let (a, r, f) = (accepted.clone(), received.clone(), refused.clone());
    let rt = runtime(2)
        .inbox_capacity(8)
        .start(move |kernel| {
            if kernel.id().0 == 0 {
                let r = r.clone();
                kernel.spawn(
                    Session::new(0u64)
                        .on("_start", |cx, _| cx.alias_set("sink"))
                        .on("n", |cx, _| *cx.heap += 1)
                        .on("_stop", move |cx, _| r.store(*cx.heap, Ordering::SeqCst)),
                )?;
                return Ok(());
            }
            let (a, f) = (a.clone(), f.clone());
            let started = started_tx.lock().unwrap().clone();
            kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| cx.yield_("burst", ()))
                    .on("burst", move |cx, _| {
                        let _ = started.send(());
                        for _ in 0..64 {
                            match cx.post("sink", "n", ()) {
                                Ok(()) => {
                                    a.fetch_add(1, Ordering::SeqCst);
                                }
                                Err(Error::ShuttingDown) => {
                                    f.store(true, Ordering::SeqCst);
                                    return;
                                }
                                Err(other) => panic!("unexpected {other}"),
                            }
                        }
                        cx.yield_("burst", ());
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    // Let the flood run a few bursts, then shut down mid-flight.
    for _ in 0..5 {
        started_rx.recv().unwrap();
    }
    rt.handle().shutdown();
    rt.join().unwrap();
    assert!(
        refused.load(Ordering::SeqCst),
        "the sender saw the shutdown"
    );
    let accepted = accepted.load(Ordering::SeqCst);
    assert!(accepted >= 5 * 64 - 64);
    assert_eq!(received.load(Ordering::SeqCst), accepted);
}

/// An unhandled DIE on one kernel ends `join` with it, and shuts down the
/// other kernels, which would otherwise run forever.
#[test]
fn an_unhandled_die_on_one_kernel_ends_the_runtime_with_the_error() {
    let rt = runtime(2)
        .start(|kernel| {
            if kernel.id().0 == 0 {
                // Runs forever unless the runtime shuts down.
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.yield_("tick", ()))
                        .on("tick", |cx, _| {
                            cx.delay("tick", Duration::from_millis(1), ())
                        }),
                )?;
            } else {
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.yield_("fail", ()))
                        .on("fail", |_, _| {
                            Err::<(), _>(Error::InvalidArgument("on purpose"))
                        }),
                )?;
            }
            Ok(())
        })
        .unwrap();
    match rt.join() {
        Err(Error::Died(died)) => {
            assert!(
                matches!(died.error(), Error::InvalidArgument("on purpose")),
                "{died}"
            );
        }
        other => panic!("expected the DIE, got {other:?}"),
    }
}

/// The runtime's IDLE waits for every kernel: a session waiting for a reply
/// from a kernel that is still working is not stopped as idle.
#[test]
fn idle_waits_for_every_kernel() {
    let log = Log::default();
    let l = log.clone();
    let rt = runtime(2)
        .start(move |kernel| {
            let l = l.clone();
            if kernel.id().0 == 0 {
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.alias_set("slow"))
                        .on("ask", |cx, _| {
                            let sender = cx.sender();
                            cx.delay("answer", Duration::from_millis(30), (sender,))
                        })
                        .on("answer", |cx, args| {
                            cx.alias_remove("slow")?;
                            cx.post(args[0].as_session().unwrap(), "reply", ("late",))
                        }),
                )?;
                return Ok(());
            }
            // The alias keeps the asker alive, so only IDLE could end it
            // before the reply: and IDLE waits for kernel 0.
            kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        cx.alias_set("asker")?;
                        cx.post("slow", "ask", ())
                    })
                    .on("reply", move |cx, args| {
                        l.push(format!("reply {}", args[0]));
                        cx.alias_remove("asker")
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    rt.join().unwrap();
    assert_eq!(log.lines(), ["reply late"]);
}

/// Other threads reach kernels through the handle: post, resolve, spawn.
#[test]
fn the_handle_posts_resolves_and_spawns_from_outside() {
    let (tx, rx) = mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    let rt = runtime(2)
        .start(move |kernel| {
            if kernel.id().0 == 1 {
                let tx = tx.lock().unwrap().clone();
                // The tag keeps the runtime from going idle before the
                // other thread's post arrives (POE's refcount_increment).
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| {
                            cx.refcount_increment(cx.session(), "waiting for a note")?;
                            cx.alias_set("desk")
                        })
                        .on("note", move |cx, args| {
                            tx.send(format!("{} from {}", args[0], cx.sender()))
                                .unwrap();
                            cx.refcount_decrement(cx.session(), "waiting for a note")?;
                            cx.alias_remove("desk")
                        }),
                )?;
            }
            Ok(())
        })
        .unwrap();
    let handle = rt.handle();
    let desk = handle.resolve("desk").unwrap();
    assert!(matches!(
        handle.resolve("nobody"),
        Err(Error::NoSuchSession(_))
    ));
    let (spawned_tx, spawned_rx) = mpsc::channel::<SessionId>();
    handle
        .spawn_on(KernelId(0), move |kernel: &mut Kernel| {
            let id = kernel
                .spawn(Session::new(()).on("_start", |_, _| {}))
                .unwrap();
            spawned_tx.send(id).unwrap();
        })
        .unwrap();
    assert_eq!(spawned_rx.recv().unwrap().kernel().0, 0);
    handle.post(desk, "note", ("hello",)).unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        format!("hello from {}", SessionId::kernel_root(KernelId(1)))
    );
    rt.join().unwrap();
    assert!(matches!(
        handle.post(desk, "note", ()),
        Err(TryPostError::Failed(Error::NoSuchSession(_), _))
    ));
}

/// A reader checks every snapshot it loads while kernels churn sessions,
/// timers and cross-kernel posts: each is internally consistent, and
/// generations only grow.
#[test]
fn snapshots_stay_consistent_while_kernels_run() {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let rt = runtime(2)
        .snapshot_interval(Duration::ZERO)
        .start(move |kernel| {
            let s = s.clone();
            let other = 1 - kernel.id().0;
            kernel.spawn(
                Session::new(0u64)
                    .on("_start", move |cx, _| {
                        cx.alias_set(format!("churn{}", cx.kernel_id().0))?;
                        cx.yield_("round", ());
                        Ok::<_, Error>(())
                    })
                    .on("round", move |cx, _| {
                        *cx.heap += 1;
                        if s.load(Ordering::SeqCst) {
                            return cx.alias_remove(format!("churn{}", cx.kernel_id().0));
                        }
                        // A short-lived child, a timer and a post across.
                        cx.spawn(
                            Session::new(())
                                .on("_start", |cx, _| cx.yield_("bye", ()))
                                .on("bye", |_, _| {}),
                        )?;
                        cx.delay("noop", Duration::from_micros(50), ())?;
                        let _ = cx.post(format!("churn{other}"), "noop", ());
                        cx.yield_("round", ());
                        Ok(())
                    })
                    .on("noop", |_, _| {}),
            )?;
            Ok(())
        })
        .unwrap();
    let handle = rt.handle();
    let readers: Vec<_> = (0..2u16)
        .map(|k| {
            let reader = handle.snapshots(KernelId(k)).unwrap();
            thread::spawn(move || {
                // Every session in every snapshot from now on.
                reader.ask(&Detail::all(), Duration::from_secs(3600));
                let mut last = 0;
                let mut checked = 0;
                while checked < 200 {
                    let snapshot = reader.load();
                    if snapshot.generation > last && snapshot.detail.all {
                        check_consistent(&snapshot);
                        last = snapshot.generation;
                        checked += 1;
                    }
                    assert!(snapshot.generation >= last);
                    thread::yield_now();
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    rt.join().unwrap();
}

fn check_consistent(snapshot: &Snapshot) {
    let c = &snapshot.counters;
    assert_eq!(c.sessions, snapshot.sessions.len());
    assert_eq!(snapshot.queue.len(), c.queued.min(Snapshot::LISTED));
    assert_eq!(snapshot.timers.len(), c.timers.min(Snapshot::LISTED));
    // Every queued item and timer is counted on its target, and nothing
    // else is (posts from other kernels count only on this side).
    let to: u64 = snapshot
        .sessions
        .iter()
        .map(|s| u64::from(s.events_to))
        .sum();
    assert_eq!(to, (c.queued + c.timers) as u64, "{snapshot:#?}");
    let timers: usize = snapshot.sessions.iter().map(|s| s.timers).sum();
    assert_eq!(timers, c.timers);
    // The timers listed are the soonest, in firing order.
    assert!(
        snapshot
            .timers
            .windows(2)
            .all(|w| (w[0].due, w[0].seq) <= (w[1].due, w[1].seq)),
        "{:#?}",
        snapshot.timers
    );
    for session in &snapshot.sessions {
        for child in &session.children {
            let child = snapshot
                .session(child.number())
                .expect("children are alive");
            assert_eq!(child.parent, Some(session.id));
        }
        if let Some(parent) = session.parent {
            let parent = snapshot
                .session(parent.number())
                .expect("parents are alive");
            assert!(parent.children.contains(&session.id));
        }
    }
    assert!(c.dispatched >= snapshot.sessions.iter().map(|s| s.handled).sum::<u64>() / 2);
}

/// A session on kernel 0 that ticks until the runtime shuts down.
fn ticker(kernel: &mut Kernel) -> Result<SessionId, Error> {
    kernel.spawn(
        Session::new(())
            .on("_start", |cx, _| cx.yield_("tick", ()))
            .on("tick", |cx, _| {
                cx.delay("tick", Duration::from_millis(1), ())
            }),
    )
}

/// A panic outside any handler, in `init` or in a task given to
/// `spawn_on`, fails the runtime as an unhandled DIE does: `join` returns
/// it rather than wait forever for the kernel that panicked.
#[test]
fn a_panicking_init_or_task_ends_the_runtime_with_the_error() {
    let rt = runtime(2)
        .start(|kernel| {
            if kernel.id().0 == 1 {
                panic!("init fails on purpose");
            }
            ticker(kernel).map(drop)
        })
        .unwrap();
    match rt.join() {
        Err(Error::Panicked(text)) => assert!(text.contains("init fails on purpose"), "{text}"),
        other => panic!("expected the init's panic, got {other:?}"),
    }

    let rt = runtime(2).start(|kernel| ticker(kernel).map(drop)).unwrap();
    rt.handle()
        .spawn_on(KernelId(1), |_| panic!("task fails on purpose"))
        .unwrap();
    match rt.join() {
        Err(Error::Panicked(text)) => assert!(text.contains("task fails on purpose"), "{text}"),
        other => panic!("expected the task's panic, got {other:?}"),
    }
}

/// Once shutdown was asked, tasks are refused as posts are, and a kernel
/// that asks for its snapshots again keeps publishing to the reader the
/// runtime's handle holds.
#[test]
fn spawn_on_after_shutdown_is_refused_and_snapshot_readers_stay_live() {
    let rt = runtime(1)
        .snapshot_interval(Duration::from_secs(3600))
        .start(|kernel| {
            kernel.snapshots(Duration::from_secs(3600));
            ticker(kernel).map(drop)
        })
        .unwrap();
    let handle = rt.handle();
    let before = handle.snapshot(KernelId(0)).unwrap().generation;
    handle.request_snapshots();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while handle.snapshot(KernelId(0)).unwrap().generation == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the runtime's reader saw no new snapshot"
        );
        thread::sleep(Duration::from_millis(1));
    }
    handle.shutdown();
    assert!(matches!(
        handle.spawn_on(KernelId(0), |_| {}),
        Err(Error::ShuttingDown)
    ));
    assert!(matches!(
        handle.post(SessionId::kernel_root(KernelId(0)), "x", ()),
        Err(TryPostError::Failed(Error::ShuttingDown, _))
    ));
    rt.join().unwrap();
}

/// A snapshot counts each session's own timers and watchers (one per
/// descriptor and mode), and lists the soonest timers first.
#[test]
fn a_snapshot_counts_each_session_s_timers_and_watchers() {
    use std::os::unix::net::UnixStream;

    let (near, _far) = UnixStream::pair().unwrap();
    let mut kernel = Kernel::new().unwrap();
    let reader = kernel.snapshots(Duration::from_secs(3600));
    let watcher = kernel
        .spawn(Session::new(()).on("_start", move |cx, _| {
            cx.select_read(&near, "readable", ())?;
            cx.select_write(&near, "writable", ())?;
            cx.delay("later", Duration::from_secs(3600), ())?;
            Ok::<_, Error>(())
        }))
        .unwrap();
    let timed = kernel
        .spawn(Session::new(()).on("_start", |cx, _| {
            // `delay` would replace the timer of the same name, as POE's does.
            for seconds in [3000, 1000, 2000] {
                cx.delay_add("later", Duration::from_secs(seconds), ())?;
            }
            Ok::<_, Error>(())
        }))
        .unwrap();
    kernel.snapshots(Duration::from_secs(3600));
    let snapshot = reader.load();
    let counts = |id: SessionId| {
        let s = snapshot
            .session(id.number())
            .expect("the session is listed");
        (s.timers, s.watchers)
    };
    assert_eq!(counts(watcher), (1, 2));
    assert_eq!(counts(timed), (3, 0));
    check_consistent(&snapshot);
    let firing: Vec<SessionId> = snapshot.timers.iter().map(|t| t.target).collect();
    assert_eq!(firing, [timed, timed, timed, watcher]);
    kernel.stop();
}

/// A kernel that has emptied its overflow during a shutdown waits for the
/// others without polling: it used to look every millisecond, and a
/// thousand kernels on two cores took seconds to stop. Kernel 1 is held in
/// a handler; kernel 0's slices must not grow while it waits.
#[test]
fn a_drained_kernel_waits_for_the_others_without_polling() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let entered = Arc::new(Mutex::new(entered_tx));
    let release = Arc::new(Mutex::new(release_rx));
    let rt = runtime(2)
        .start(move |kernel| {
            if kernel.id().0 == 0 {
                // A long timer: kernel 0 would otherwise end idle.
                kernel.spawn(Session::new(()).on("_start", |cx, _| {
                    cx.delay("never", Duration::from_secs(3600), ())
                }))?;
                return Ok(());
            }
            let (entered, release) = (Arc::clone(&entered), Arc::clone(&release));
            kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| cx.yield_("hold", ()))
                    .on("hold", move |_, _| {
                        entered.lock().unwrap().send(()).unwrap();
                        let _ = release.lock().unwrap().recv();
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    entered_rx.recv().unwrap();
    let handle = rt.handle();
    handle.shutdown();
    let slices = || {
        let before = handle.snapshot(KernelId(0)).unwrap().generation;
        handle.request_snapshots();
        loop {
            let snapshot = handle.snapshot(KernelId(0)).unwrap();
            if snapshot.generation > before {
                return snapshot.counters.slices;
            }
            std::thread::yield_now();
        }
    };
    // Kernel 0 drains at once; kernel 1 cannot until released.
    std::thread::sleep(Duration::from_millis(50));
    let first = slices();
    std::thread::sleep(Duration::from_millis(200));
    let second = slices();
    release_tx.send(()).unwrap();
    rt.join().unwrap();
    assert!(
        second - first < 20,
        "kernel 0 ran {} slices while waiting",
        second - first
    );
}
