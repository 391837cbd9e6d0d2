//! The kernel's public API beyond POE's traces: failures in handlers,
//! re-entrant dispatch, postbacks and callbacks, local payloads, and the
//! object and package handler styles.

mod common;

use std::{cell::RefCell, rc::Rc, sync::mpsc, thread, time::Duration};

use common::Log;
use roe_engine::{
    Args, Context, Error, Kernel, Object, Package, Postback, Session, SessionId, Value,
};

#[test]
fn a_panicking_handler_raises_die_and_its_session_survives() {
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();
    let l = log.clone();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("DIE", "on_die", ())?;
                    cx.yield_("boom", ());
                    cx.yield_("after", ());
                    Ok(())
                })
                .on("boom", |_, _| -> () { panic!("handler exploded") })
                .on("after", {
                    let l = l.clone();
                    move |_, _| l.push("after still delivered")
                })
                .on("on_die", move |cx, args| {
                    let details = args[1].as_map().unwrap();
                    l.push(format!(
                        "DIE in {} from {}: {}",
                        details["event"],
                        cx.state(),
                        details["error_str"]
                    ));
                    cx.sig_handled();
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "after still delivered",
            "DIE in boom from on_die: handler exploded"
        ]
    );
}

#[test]
fn an_unhandled_failure_stops_every_session_and_run_returns_it() {
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();
    for name in ["first", "second"] {
        let l = log.clone();
        kernel
            .spawn(
                Session::new(name)
                    .on("_start", |cx, _| {
                        cx.delay("never", Duration::from_secs(60), ())
                    })
                    .on("_stop", move |cx, _| l.push(format!("{} stopped", cx.heap))),
            )
            .unwrap();
    }
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.yield_("fail", ()))
                .on("fail", |_, _| -> roe_engine::Result<()> {
                    Err(Error::handler("disk on fire"))
                }),
        )
        .unwrap();
    let error = kernel.run().unwrap_err();
    let Error::Died(died) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(died.message(), "disk on fire");
    assert_eq!(died.event(), "fail");
    assert!(died.file().ends_with("kernel.rs"), "{}", died.file());
    // POE stops in reverse of a breadth-first walk whose siblings roe visits
    // in ascending ID, so siblings stop newest first.
    assert_eq!(log.lines(), ["second stopped", "first stopped"]);
}

/// A handler run by a `select_read` watcher that fails reports, as the
/// place its event came from, the line that set the watcher (not the
/// kernel's own source).
#[test]
fn an_io_handler_s_failure_names_where_its_watcher_was_set() {
    let (reader, mut writer) = std::io::pipe().unwrap();
    std::io::Write::write_all(&mut writer, b"x").unwrap();
    let set_at = std::rc::Rc::new(std::cell::Cell::new(0));
    let line = std::rc::Rc::clone(&set_at);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Some(reader))
                .on("_start", move |cx, _| {
                    let reader = cx.heap.take().unwrap();
                    line.set(line!() + 1);
                    cx.select_read(&reader, "readable", ())?;
                    *cx.heap = Some(reader);
                    Ok::<_, Error>(())
                })
                .on("readable", |_, _| -> roe_engine::Result<()> {
                    Err(Error::handler("cannot read"))
                }),
        )
        .unwrap();
    let Err(Error::Died(died)) = kernel.run() else {
        panic!("the DIE went unhandled");
    };
    assert_eq!(died.event(), "readable");
    assert!(died.file().ends_with("kernel.rs"), "{}", died.file());
    assert_eq!(died.line(), set_at.get());
    drop(writer);
}

/// B's `relay` calls back into A, whose handler is still on the stack.
#[test]
fn a_call_reaches_a_caller_that_is_busy_further_up_the_stack() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(0i64)
                .on("_start", |cx, _| cx.alias_set("b"))
                .on("relay", |cx, args| {
                    let sender = cx.sender();
                    let doubled = cx.call(sender, "double", args)?;
                    Ok::<_, Error>(Value::Int(doubled.as_int().unwrap_or(0) + 1))
                }),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(Vec::<i64>::new())
                .on("_start", |cx, _| {
                    let got = cx.call("b", "relay", (20,))?;
                    cx.heap.push(got.as_int().unwrap());
                    assert_eq!(cx.heap.as_slice(), [20, 41]);
                    Ok(())
                })
                .on("double", |cx, args| {
                    let n = args[0].as_int().unwrap();
                    cx.heap.push(n);
                    Value::Int(2 * n)
                }),
        )
        .unwrap();
    kernel.run().unwrap();
}

/// A child's `_start` calls its parent, which is busy spawning it.
#[test]
fn a_child_can_call_its_parent_from_start() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Vec::<String>::new())
                .on("_start", |cx, _| {
                    cx.spawn(Session::new(()).on("_start", |cx, _| {
                        let parent = cx.sender();
                        cx.call(parent, "register", ("child",))
                    }))?;
                    assert_eq!(cx.heap.as_slice(), ["child"]);
                    Ok(())
                })
                .on("register", |cx, args| cx.heap.push(args[0].to_string())),
        )
        .unwrap();
    kernel.run().unwrap();
}

/// A calls B, B calls A, and A then calls B again: B's body is lent out in a
/// frame newer than A's, which the re-entered A cannot reach.
#[test]
fn reentry_past_the_reachable_frames_is_reported_as_busy() {
    let outcome = Rc::new(RefCell::new(None));
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.alias_set("b"))
                .on("ping", |cx, _| {
                    let sender = cx.sender();
                    cx.call(sender, "pong", ())
                })
                .on("again", |_, _| Value::from("unreachable")),
        )
        .unwrap();
    let o = Rc::clone(&outcome);
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.call("b", "ping", ()).map(drop))
                .on("pong", move |cx, _| {
                    *o.borrow_mut() = Some(cx.call("b", "again", ()));
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let outcome = outcome.borrow_mut().take().expect("pong ran");
    assert!(matches!(outcome, Err(Error::Busy(_))), "{outcome:?}");
}

/// `stop()` from a nested call stops the busy sessions on the stack too.
#[test]
fn stop_inside_a_call_stops_the_sessions_on_the_stack() {
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();
    let l = log.clone();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.alias_set("stopper"))
                .on("halt", |cx, _| cx.stop())
                .on("_stop", move |_, _| l.push("stopper stopped")),
        )
        .unwrap();
    let l = log.clone();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.yield_("go", ()))
                .on("go", {
                    let l = l.clone();
                    move |cx, _| {
                        cx.call("stopper", "halt", ())?;
                        l.push("caller continues after stop");
                        Ok::<_, Error>(())
                    }
                })
                .on("_stop", move |_, _| l.push("caller stopped")),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "caller stopped",
            "stopper stopped",
            "caller continues after stop"
        ]
    );
}

/// A postback called on another thread keeps its session alive until it is
/// dropped, and delivers ARG0 = creation args, ARG1 = call args.
#[test]
fn a_postback_called_from_another_thread_reaches_its_session() {
    let (tx, rx) = mpsc::channel::<Postback>();
    let worker = thread::spawn(move || {
        let postback = rx.recv().unwrap();
        thread::sleep(Duration::from_millis(20));
        postback.post((42,)).unwrap();
        // Dropped here: the session may end once the event is handled.
    });
    let log = Log::default();
    let l = log.clone();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Some(tx))
                .on("_start", |cx, _| {
                    let postback = cx.postback("answer", ("ctx",))?;
                    cx.heap.take().unwrap().send(postback).unwrap();
                    Ok::<_, Error>(())
                })
                .on("answer", move |cx, args| {
                    l.push(format!(
                        "{} {} from kernel: {}",
                        args[0],
                        args[1],
                        cx.sender().is_kernel()
                    ));
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    worker.join().unwrap();
    assert_eq!(log.lines(), ["[ctx] [42] from kernel: true"]);
}

/// A postback called inside a handler is ordered with that handler's own
/// posts, and its SENDER is the session whose handler called it.
#[test]
fn a_postback_called_in_a_handler_posts_in_order() {
    let log = Log::default();
    let l = log.clone();
    let mut kernel = Kernel::new().unwrap();
    let target = kernel
        .spawn(
            Session::new(None::<Postback>)
                .on("_start", |cx, _| {
                    let postback = cx.postback("via_postback", ())?;
                    *cx.heap = Some(postback);
                    cx.alias_set("target")
                })
                .on("fire", |cx, _| {
                    cx.heap.as_ref().unwrap().post(("first",))?;
                    cx.yield_("direct", ("second",));
                    // Let the session end after these.
                    *cx.heap = None;
                    cx.alias_remove("target")
                })
                .on("via_postback", {
                    let l = l.clone();
                    move |cx, args| l.push(format!("{} sender {}", args[1], cx.sender()))
                })
                .on("direct", move |cx, args| {
                    l.push(format!("{} sender {}", args[0], cx.sender()))
                }),
        )
        .unwrap();
    kernel.post("target", "fire", ()).unwrap();
    kernel.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            format!("[first] sender {target}"),
            format!("second sender {target}")
        ]
    );
}

#[test]
fn a_callback_runs_at_once_and_returns_the_handler_value() {
    let result = Rc::new(RefCell::new(None));
    let r = Rc::clone(&result);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    let callback = cx.callback("sum", (1, 2))?;
                    let r = Rc::clone(&r);
                    cx.spawn(Session::new(Some(callback)).on("_start", move |cx, _| {
                        let callback = cx.heap.take().unwrap();
                        *r.borrow_mut() = Some(callback.call(cx, (3,))?);
                        Ok::<_, Error>(())
                    }))?;
                    Ok::<_, Error>(())
                })
                .on("sum", |_, args| {
                    let context = args[0].as_list().unwrap();
                    let called = args[1].as_list().unwrap();
                    let total: i64 = context.iter().chain(called).filter_map(Value::as_int).sum();
                    Value::Int(total)
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*result.borrow(), Some(Value::Int(6)));
}

#[test]
fn a_local_payload_moves_through_an_event_by_value() {
    struct Connection {
        bytes: Vec<u8>,
    }
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = Rc::clone(&got);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    let payload = Value::local(Connection {
                        bytes: vec![1, 2, 3],
                    });
                    assert!(!payload.is_portable());
                    cx.yield_("take", (payload,));
                })
                .on("take", move |_, mut args| {
                    let connection = args.take(0).take_local::<Connection>().ok().unwrap();
                    *g.borrow_mut() = connection.bytes;
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*got.borrow(), [1, 2, 3]);
}

struct Greeter {
    greeting: &'static str,
}

impl Object<Vec<String>> for Greeter {
    fn handle(
        &self,
        cx: &mut Context<'_, Vec<String>>,
        method: &str,
        args: Args,
    ) -> roe_engine::Result<Value> {
        cx.heap
            .push(format!("{method}: {} {}", self.greeting, args[0]));
        Ok(Value::Undef)
    }
}

struct Counter;

impl Package<Vec<String>> for Counter {
    fn handle(
        cx: &mut Context<'_, Vec<String>>,
        method: &str,
        _: Args,
    ) -> roe_engine::Result<Value> {
        let n = cx.heap.len();
        cx.heap.push(format!("{method} #{n}"));
        Ok(Value::Int(n as i64))
    }
}

#[test]
fn object_package_and_inline_handlers_mix_in_one_session() {
    let greeter = Rc::new(Greeter { greeting: "hello" });
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = Rc::clone(&log);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Vec::new())
                .object(&greeter, ["greet"])
                .object_map(&greeter, [("welcome", "greet_warmly")])
                .package::<Counter>(["count"])
                .on("_start", |cx, _| {
                    let me = cx.session();
                    cx.call(me, "greet", ("world",))?;
                    cx.call(me, "welcome", ("friend",))?;
                    let n = cx.call(me, "count", ())?;
                    assert_eq!(n.as_int(), Some(2));
                    Ok::<_, Error>(())
                })
                .on("_stop", move |cx, _| *l.borrow_mut() = cx.heap.clone()),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "greet: hello world",
            "greet_warmly: hello friend",
            "count #2"
        ]
    );
}

#[test]
fn kernel_calls_resolve_names_and_report_what_is_missing() {
    let mut kernel = Kernel::new().unwrap();
    let id: SessionId = kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.alias_set("svc"))
                .on("echo", |_, args| args[0].clone()),
        )
        .unwrap();
    assert_eq!(kernel.resolve("svc"), Some(id));
    assert_eq!(kernel.resolve(id.number()), Some(id));
    assert_eq!(
        kernel.call("svc", "echo", ("x",)).unwrap(),
        Value::from("x")
    );
    let missing = kernel.post("nobody", "echo", ()).unwrap_err();
    assert_eq!(missing.errno(), Some(3));
    assert!(missing.to_string().contains("nobody"), "{missing}");
    assert!(matches!(
        kernel.spawn(Session::new(()).on("x", |_, _| ())),
        Err(Error::MissingStart)
    ));
    kernel.run().unwrap();
    assert_eq!(kernel.resolve("svc"), None);
}

/// A `call_reply` to a name nothing local resolves goes to the kernel's
/// router when one is plugged in; without one (or when the router does not
/// know the name) it fails as before, and a router may refuse with its own
/// error.
#[test]
fn a_router_carries_what_nothing_local_resolves() {
    struct Relay(roe_engine::SessionId);

    impl roe_engine::Router for Relay {
        fn post(
            &self,
            name: &str,
            _: roe_engine::Event,
            _: roe_engine::Args,
        ) -> Result<roe_engine::Routed, roe_engine::Unrouted> {
            if name.starts_with("poe://full") {
                Err(roe_engine::Unrouted::Refused(roe_engine::Error::InboxFull))
            } else {
                Err(roe_engine::Unrouted::Unknown)
            }
        }

        fn call_reply(
            &self,
            name: &str,
            event: roe_engine::Event,
            _: roe_engine::Args,
            caller: roe_engine::SessionId,
            reply: roe_engine::Event,
        ) -> Result<roe_engine::Routed, roe_engine::Unrouted> {
            Ok(roe_engine::Routed {
                session: self.0,
                event: "relay".into(),
                args: (name, event.as_str(), caller, reply.as_str()).into(),
            })
        }
    }

    let log = Log::default();
    let l = log.clone();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    assert!(cx.post("poe://far/away", "nope", ()).is_err());
                    let me = cx.session();
                    cx.set_router(Some(std::rc::Rc::new(Relay(me))));
                    // The router does not route posts: still an error, and
                    // its own error when it refuses one.
                    assert!(matches!(
                        cx.post("poe://far/away", "nope", ()),
                        Err(roe_engine::Error::NoSuchSession(_))
                    ));
                    assert!(matches!(
                        cx.post("poe://full/queue", "nope", ()),
                        Err(roe_engine::Error::InboxFull)
                    ));
                    cx.call_reply("poe://far/away", "ask", (), "answer")
                })
                .on("relay", move |cx, args| {
                    assert_eq!(args[2].as_session(), Some(cx.session()));
                    l.push(format!("{} {} {}", args[0], args[1], args[3]));
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(log.lines(), ["poe://far/away ask answer"]);
}
