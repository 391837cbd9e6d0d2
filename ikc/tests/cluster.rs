//! IKC between "processes" (runtimes with their own `Ikc` each) over
//! loopback: transparent names and their conflicts, posting to every
//! kernel, subscriptions and proxies, monitors with generations across a
//! server restart, requests queued while disconnected and delivered once,
//! and connections spread over a runtime's kernels.

mod support;

use std::time::Duration;

use roe_engine::{Answer, Backoff, Map, Session, Value};
use roe_ikc::{IkcClient, IkcConfig};

use support::{Node, heard, next, published};

fn fast() -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(50))
}

#[test]
fn three_kernels_reach_each_other_by_published_name_and_conflicts_are_refused() {
    let (tell, lines) = heard();
    let t = tell.clone();
    let alpha = Node::start(IkcConfig::new("Alpha"), 1, true, move |_, kernel| {
        kernel.spawn(published("alpha", &["ping"], t.clone()))?;
        kernel
            .spawn(published("shared", &["ping"], t.clone()))
            .map(drop)
    });
    let t = tell.clone();
    let beta = Node::start(IkcConfig::new("Beta"), 1, true, move |_, kernel| {
        kernel.spawn(published("beta", &["ping"], t.clone()))?;
        kernel
            .spawn(published("shared", &["ping"], t.clone()))
            .map(drop)
    });
    let ports = (alpha.port(), beta.port());
    let t = tell.clone();
    let client = Node::start(IkcConfig::new("Client"), 1, false, move |ikc, kernel| {
        let ikc = ikc.clone();
        let t = t.clone();
        let answers = t.clone();
        kernel
            .spawn(
                Session::new(0)
                    .on("_start", move |cx, _| {
                        let me = cx.session();
                        IkcClient::tcp("127.0.0.1", ports.0)
                            .on_connect(me, "connected")
                            .spawn_in(&ikc, cx)?;
                        IkcClient::tcp("127.0.0.1", ports.1)
                            .on_connect(me, "connected")
                            .spawn_in(&ikc, cx)
                            .map(drop)
                    })
                    .on("connected", move |cx, _| {
                        *cx.heap += 1;
                        if *cx.heap < 2 {
                            return Ok(());
                        }
                        // Plain names: each published by one kernel.
                        cx.call_reply("alpha", "ping", ("a",), "answer")?;
                        cx.call_reply("beta", "ping", ("b",), "answer")?;
                        // Published by both: refused, naming them.
                        let refused = cx.post("shared", "ping", ("?",)).unwrap_err();
                        let _ = t.send(format!("refused {refused}"));
                        // Named with its kernel, it goes.
                        cx.call_reply("poe://Beta/shared", "ping", ("s",), "answer")?;
                        // IKC's own post, to every kernel: how many.
                        let sent = cx.call("IKC", "post", ("poe://*/shared/ping", "all"))?;
                        let _ = t.send(format!("sent to {sent}"));
                        Ok::<_, roe_engine::Error>(())
                    })
                    .on("answer", move |_, args| {
                        let _ = answers.send(format!("answer {:?}", Answer::from_args(&args)));
                    }),
            )
            .map(drop)
    });
    let mut got: Vec<String> = (0..10)
        .map(|i| next(&lines, &format!("line {i}")))
        .collect();
    got.sort();
    let refused = got.iter().find(|l| l.starts_with("refused")).unwrap();
    assert!(
        refused.contains("'shared' is published by more than one kernel"),
        "{refused}"
    );
    got.retain(|l| !l.starts_with("refused"));
    assert_eq!(
        got,
        [
            "alpha ping a",
            "answer Returned(Str(\"A\"))",
            "answer Returned(Str(\"B\"))",
            "answer Returned(Str(\"S\"))",
            "beta ping b",
            "sent to 2",
            "shared ping all",
            "shared ping all",
            "shared ping s",
        ]
    );
    client.stop();
    alpha.stop();
    beta.stop();
}

/// A client keeps its peer across a restart of the server: monitors hear
/// `register` and `unregister` with a growing generation, and posts made
/// while the server was down wait for it and arrive exactly once.
#[test]
fn a_server_restart_keeps_queued_posts_and_monitors_see_generations() {
    const QUEUED: usize = 20;
    let (tell, lines) = heard();
    let t = tell.clone();
    let counter = move |_: &roe_ikc::Ikc, kernel: &mut roe_engine::Kernel| {
        kernel
            .spawn(published("counter", &["count"], t.clone()))
            .map(drop)
    };
    let first = Node::start(IkcConfig::new("Server"), 1, true, counter.clone());
    let port = first.port();
    let t = tell.clone();
    let client = Node::start(IkcConfig::new("Client"), 1, false, move |ikc, kernel| {
        let ikc = ikc.clone();
        let t = t.clone();
        kernel
            .spawn(
                Session::new(())
                    .on("_start", move |cx, _| {
                        cx.alias_set("driver")?;
                        let mut monitor = Map::new();
                        monitor.insert("register".into(), "registered".into());
                        monitor.insert("unregister".into(), "unregistered".into());
                        cx.post("IKC", "monitor", ("Server", Value::Map(monitor)))?;
                        IkcClient::tcp("127.0.0.1", port)
                            .expect("Server")
                            .backoff(fast())
                            .spawn_in(&ikc, cx)
                            .map(drop)
                    })
                    .on("registered", {
                        let t = t.clone();
                        // (monitored name, kernel name, is its ID, data, pid, generation)
                        move |_, args| {
                            let _ = t.send(format!("register {} {}", args[1], args[5]));
                        }
                    })
                    .on("unregistered", {
                        let t = t.clone();
                        move |_, args| {
                            let _ = t.send(format!("unregister {} {}", args[1], args[4]));
                        }
                    })
                    .on("send", |cx, _| {
                        for i in 0..QUEUED {
                            cx.post("poe://Server/counter/count", "", (i,))?;
                        }
                        Ok::<_, roe_engine::Error>(())
                    }),
            )
            .map(drop)
    });
    let registered = next(&lines, "the first registration");
    let (name, generation) = registered
        .strip_prefix("register ")
        .and_then(|rest| rest.split_once(' '))
        .unwrap();
    assert_eq!(name, "Server");
    let generation: u64 = generation.parse().unwrap();
    first.stop();
    assert_eq!(
        next(&lines, "the unregistration"),
        format!("unregister Server {generation}")
    );
    // Posted while the server is down: they wait.
    let handle = client.runtime.as_ref().unwrap().handle();
    let driver = handle.resolve("driver").unwrap();
    handle.post(driver, "send", ()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let second = Node::start_on(IkcConfig::new("Server"), 1, Some(port), counter);
    // The registration and the posts come by different ways: any order.
    let mut heard: Vec<String> = (0..=QUEUED)
        .map(|i| next(&lines, &format!("line {i} after the restart")))
        .collect();
    let at = heard
        .iter()
        .position(|l| l.starts_with("register "))
        .unwrap();
    let again = heard.remove(at);
    let (_, later) = again.rsplit_once(' ').unwrap();
    assert!(later.parse::<u64>().unwrap() > generation, "{again}");
    heard.sort_by_key(|l| l.rsplit(' ').next().unwrap().parse::<usize>().unwrap());
    let expected: Vec<String> = (0..QUEUED).map(|i| format!("counter count {i}")).collect();
    assert_eq!(heard, expected);
    // Exactly once: nothing more comes.
    assert!(lines.recv_timeout(Duration::from_millis(300)).is_err());
    client.stop();
    second.stop();
}

/// `subscribe` answers with the specifiers accepted (a local one too),
/// the client's own subscriptions come before `on_connect` and make a
/// proxy of the remote session under its short name (a roe peer's posts by
/// that name take its published name; tests/perl_dialect.rs posts through
/// the proxy), and a post of something unpublished reaches the poster's
/// `error` monitor.
#[test]
fn subscriptions_make_proxies_and_refused_posts_reach_error_monitors() {
    let (tell, lines) = heard();
    let t = tell.clone();
    let server = Node::start(IkcConfig::new("Server"), 1, true, move |_, kernel| {
        kernel
            .spawn(published("echo", &["ping"], t.clone()))
            .map(drop)
    });
    let port = server.port();
    let t = tell.clone();
    let client = Node::start(IkcConfig::new("Client"), 1, false, move |ikc, kernel| {
        let ikc = ikc.clone();
        let t = t.clone();
        kernel.spawn(published("local", &["ping"], t.clone()))?;
        kernel
            .spawn(
                Session::new(())
                    .on("_start", move |cx, _| {
                        let me = cx.session();
                        let mut monitor = Map::new();
                        monitor.insert("error".into(), "failed".into());
                        cx.post("IKC", "monitor", ("*", Value::Map(monitor)))?;
                        IkcClient::tcp("127.0.0.1", port)
                            .subscribe("poe://Server/echo")
                            .on_connect(me, "connected")
                            .spawn_in(&ikc, cx)
                            .map(drop)
                    })
                    .on("connected", {
                        move |cx, _| {
                            // The remote session, by its short name.
                            cx.post("echo", "ping", ("by its short name",))?;
                            cx.call_reply("echo", "ping", ("called",), "answer")?;
                            let specs = Value::List(vec![
                                "poe://Server/echo".into(),
                                "poe://Server/nothing".into(),
                                "poe://Client/local".into(),
                            ]);
                            cx.post("IKC", "subscribe", (specs, "subscribed"))?;
                            cx.post("poe://Server/echo", "unpublished", ("no",))
                        }
                    })
                    .on("subscribed", {
                        let t = t.clone();
                        move |_, args| {
                            let _ = t.send(format!("subscribed {}", args[0]));
                        }
                    })
                    .on("answer", {
                        let t = t.clone();
                        move |_, args| {
                            let _ = t.send(format!("answer {:?}", Answer::from_args(&args)));
                        }
                    })
                    .on("failed", move |_, args| {
                        // (name, kernel name, is ID, data, op, message, generation)
                        if args[2].is_true() {
                            let _ = t.send(format!("error {} {}", args[4], args[5]));
                        }
                    }),
            )
            .map(drop)
    });
    let mut got: Vec<String> = (0..5).map(|i| next(&lines, &format!("line {i}"))).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "answer Returned(Str(\"CALLED\"))",
            "echo ping by its short name",
            "echo ping called",
            "error remote-check echo/unpublished is not published",
            "subscribed [poe://Client/local, poe://Server/echo]",
        ]
    );
    // The subscription's proxy: the short name leads to the session
    // through the server's connection; a local session's name needs none.
    let directory = client.ikc.directory();
    let to_server = directory
        .remotes()
        .iter()
        .find(|r| r.id == server.ikc.kernel_id())
        .map(|r| r.channel)
        .expect("the server is known");
    assert_eq!(
        directory.proxy("echo"),
        Some((to_server, "echo".to_owned()))
    );
    assert_eq!(directory.proxy("local"), None);
    client.stop();
    server.stop();
}

/// A server runtime of two kernels spreads its connections over both, and
/// a request reaches a session on either kernel from either.
#[test]
fn connections_spread_over_a_runtimes_kernels() {
    let (tell, lines) = heard();
    let t = tell.clone();
    let server = Node::start(IkcConfig::new("Server"), 2, true, move |_, kernel| {
        let alias = if kernel.id().0 == 0 { "zero" } else { "one" };
        kernel
            .spawn(published(alias, &["ping"], t.clone()))
            .map(drop)
    });
    let port = server.port();
    // Two client processes: a pair of kernels has one connection at most.
    let clients: Vec<Node> = ["A", "B"]
        .into_iter()
        .map(|name| {
            let t = tell.clone();
            Node::start(IkcConfig::new(name), 1, false, move |ikc, kernel| {
                let ikc = ikc.clone();
                let t = t.clone();
                kernel
                    .spawn(
                        Session::new(())
                            .on("_start", move |cx, _| {
                                let me = cx.session();
                                IkcClient::tcp("127.0.0.1", port)
                                    .on_connect(me, "connected")
                                    .spawn_in(&ikc, cx)
                                    .map(drop)
                            })
                            .on("connected", move |cx, _| {
                                for target in ["zero", "one"] {
                                    cx.call_reply(target, "ping", (name,), "answer")?;
                                }
                                Ok::<_, roe_engine::Error>(())
                            })
                            .on("answer", move |_, args| {
                                let _ = t.send(format!("answer {:?}", Answer::from_args(&args)));
                            }),
                    )
                    .map(drop)
            })
        })
        .collect();
    let mut got: Vec<String> = (0..8).map(|i| next(&lines, &format!("line {i}"))).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "answer Returned(Str(\"A\"))",
            "answer Returned(Str(\"A\"))",
            "answer Returned(Str(\"B\"))",
            "answer Returned(Str(\"B\"))",
            "one ping A",
            "one ping B",
            "zero ping A",
            "zero ping B",
        ]
    );
    // Round robin: one connection on each kernel.
    let mut kernels: Vec<u16> = server
        .ikc
        .directory()
        .remotes()
        .iter()
        .map(|r| r.channel.kernel().0)
        .collect();
    kernels.sort_unstable();
    assert_eq!(kernels, [0, 1]);
    for client in clients {
        client.stop();
    }
    server.stop();
}

/// Over a Unix socket: a session passed in the arguments reaches the peer
/// as something it can post back to (and nothing else of this process
/// becomes reachable), and names go when their kernel retracts them.
#[test]
fn sessions_cross_the_link_by_reference_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("roe-ikc-test-{}.sock", std::process::id()));
    let (tell, lines) = heard();
    let server_path = path.clone();
    let t = tell.clone();
    let server = Node::start(IkcConfig::new("Server"), 1, false, move |ikc, kernel| {
        roe_ikc::IkcServer::unix(&server_path).spawn(ikc, kernel)?;
        let t = t.clone();
        kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        cx.alias_set("keeper")?;
                        let states = Value::List(vec!["keep".into(), "forget".into()]);
                        cx.call("IKC", "publish", ("keeper", states)).map(drop)
                    })
                    // ARG0: a session of the client; post to it.
                    .on("keep", move |cx, args| {
                        let _ = t.send(format!("kept {}", args[0].as_str().is_some()));
                        let whom = args[0].as_str().unwrap_or_default().to_owned();
                        cx.post(whom.as_str(), "called_back", ("from the server",))?;
                        // A made-up number of the client's is not reachable.
                        let made_up = format!("{}/9999", whom.rsplit_once('/').unwrap().0);
                        let refused = cx.post(made_up.as_str(), "called_back", ());
                        let _ = t.send(format!("made-up accepted {}", refused.is_ok()));
                        Ok::<_, roe_engine::Error>(())
                    })
                    .on("forget", |cx, _| {
                        cx.call("IKC", "retract", ("keeper",)).map(drop)
                    }),
            )
            .map(drop)
    });
    std::thread::sleep(Duration::from_millis(20));
    let t = tell.clone();
    let client_path = path.clone();
    let client = Node::start(IkcConfig::new("Client"), 1, false, move |ikc, kernel| {
        let ikc = ikc.clone();
        let t = t.clone();
        let path = client_path.clone();
        kernel
            .spawn(
                Session::new(())
                    .on("_start", move |cx, _| {
                        // For the test to post `check_gone` to.
                        cx.alias_set("prober")?;
                        let me = cx.session();
                        let mut monitor = Map::new();
                        monitor.insert("error".into(), "failed".into());
                        cx.post("IKC", "monitor", ("*", Value::Map(monitor)))?;
                        IkcClient::unix(&path)
                            .on_connect(me, "connected")
                            .spawn_in(&ikc, cx)
                            .map(drop)
                    })
                    .on("connected", |cx, _| {
                        // Reached by its plain name while it is published.
                        let me = cx.session();
                        cx.post("keeper", "keep", (me,))
                    })
                    .on("called_back", {
                        let t = t.clone();
                        move |cx, args| {
                            let _ = t.send(format!("called back {}", args[0]));
                            cx.post("keeper", "forget", ())
                        }
                    })
                    .on("failed", {
                        let t = t.clone();
                        move |_, args| {
                            if args[2].is_true() {
                                let _ = t.send(format!("error {}", args[4]));
                            }
                        }
                    })
                    .on("check_gone", move |cx, _| {
                        let gone = cx.post("keeper", "keep", ()).is_err();
                        let _ = t.send(format!("gone {gone}"));
                    }),
            )
            .map(drop)
    });
    let mut got: Vec<String> = (0..4).map(|i| next(&lines, &format!("line {i}"))).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "called back from the server",
            "error local-check",
            "kept true",
            "made-up accepted true",
        ]
    );
    // The retraction reached the client: the plain name no longer leads
    // anywhere.
    let handle = client.runtime.as_ref().unwrap().handle();
    let deadline = std::time::Instant::now() + support::PATIENCE;
    loop {
        let session = client.ikc.directory().remotes();
        if session.iter().all(|r| !r.published.contains_key("keeper")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never retracted");
        std::thread::sleep(Duration::from_millis(5));
    }
    let prober = handle.resolve("prober").unwrap();
    handle.post(prober, "check_gone", ()).unwrap();
    assert_eq!(next(&lines, "the check after the retraction"), "gone true");
    client.stop();
    server.stop();
    assert!(!path.exists(), "the server removes its socket file");
}

/// A client that cannot connect queues up to its bound; past it, posts
/// fail at once with an error, and `on_error` hears of each attempt.
#[test]
fn a_full_queue_refuses_posts_at_once() {
    let (tell, lines) = heard();
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Node::start(
        IkcConfig::new("Client").max_queued(3),
        1,
        false,
        move |ikc, kernel| {
            let ikc = ikc.clone();
            let t = tell.clone();
            let tell = tell.clone();
            kernel
                .spawn(
                    Session::new(false)
                        .on("_start", move |cx, _| {
                            let me = cx.session();
                            IkcClient::tcp("127.0.0.1", port)
                                .expect("Nowhere")
                                .backoff(fast())
                                .on_error(me, "failed")
                                .spawn_in(&ikc, cx)?;
                            let results: Vec<bool> = (0..5)
                                .map(|i| cx.post("poe://Nowhere/s/e", "", (i,)).is_ok())
                                .collect();
                            let _ = t.send(format!("posted {results:?}"));
                            Ok::<_, roe_engine::Error>(())
                        })
                        .on("failed", move |cx, args| {
                            let t = &tell;
                            if !*cx.heap {
                                *cx.heap = true;
                                let _ = t.send(format!("on_error {}", args[0]));
                            }
                        }),
                )
                .map(drop)
        },
    );
    assert_eq!(
        next(&lines, "the posts"),
        "posted [true, true, true, false, false]"
    );
    assert_eq!(next(&lines, "on_error"), "on_error connect");
    client.stop();
}
