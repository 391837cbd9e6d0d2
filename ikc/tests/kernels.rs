//! Two and three IKC kernels over loopback, each with its own `Ikc` (as
//! separate processes would have), each on its own thread.

use std::{sync::mpsc, thread, time::Duration};

use roe_engine::{Answer, Kernel, Session, Value};
use roe_ikc::{Ikc, IkcClient, IkcConfig, IkcServer};

/// How long a test waits for anything before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// A server kernel on its own thread, publishing `echo` (states `upper`,
/// `tell_back`, `notify`) and not `secret`; it stops after `stop` is
/// called or IKC is shut down. Returns the port and what the echo session
/// saw, line by line.
fn echo_server(name: &'static str) -> (u16, mpsc::Receiver<String>, thread::JoinHandle<()>) {
    let (port_tx, port_rx) = mpsc::channel();
    let (seen_tx, seen_rx) = mpsc::channel::<String>();
    let handle = thread::spawn(move || {
        let ikc = Ikc::new(IkcConfig::new(name)).unwrap();
        let mut kernel = Kernel::new().unwrap();
        ikc.start(&mut kernel).unwrap();
        let listener = IkcServer::tcp("127.0.0.1:0")
            .spawn(&ikc, &mut kernel)
            .unwrap();
        port_tx.send(listener.local_addr().unwrap().port()).unwrap();
        let seen = seen_tx.clone();
        let ikc2 = ikc.clone();
        kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        cx.alias_set("echo")?;
                        cx.post(
                            "IKC",
                            "publish",
                            (
                                "echo",
                                Value::List(vec![
                                    "upper".into(),
                                    "tell_back".into(),
                                    "notify".into(),
                                    "stop".into(),
                                ]),
                            ),
                        )
                    })
                    .on("upper", |_, args| {
                        Value::from(args[0].as_str().unwrap_or_default().to_uppercase())
                    })
                    .on("notify", move |_, args| {
                        let _ = seen.send(format!("notify {}", args[0]));
                    })
                    .on("tell_back", |cx, args| {
                        let sender = cx.sender();
                        cx.post(sender, "told", (args[0].clone(), "told-extra"))
                    })
                    .on("secret", |_, _| Value::from("leaked"))
                    .on("stop", move |cx, _| {
                        let _ = cx.alias_remove("echo");
                        cx.post("IKC", "shutdown", ())?;
                        let _ = &ikc2;
                        Ok::<_, roe_engine::Error>(Value::from("stopping"))
                    }),
            )
            .unwrap();
        kernel.run().unwrap();
        drop(seen_tx);
    });
    let port = port_rx.recv_timeout(PATIENCE).expect("the server listens");
    (port, seen_rx, handle)
}

#[test]
fn a_client_calls_posts_and_is_refused_what_is_not_published() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_test_writer()
        .try_init();
    let (port, seen, server) = echo_server("EchoServer");
    let (done_tx, done_rx) = mpsc::channel::<String>();
    let client = thread::spawn(move || {
        let ikc = Ikc::new(IkcConfig::new("Client")).unwrap();
        let mut kernel = Kernel::new().unwrap();
        ikc.start(&mut kernel).unwrap();
        let ikc2 = ikc.clone();
        kernel
            .spawn(
                Session::new(0)
                    .on("_start", move |cx, _| {
                        let me = cx.session();
                        IkcClient::tcp("127.0.0.1", port)
                            .expect("EchoServer")
                            .on_connect(me, "connected")
                            .spawn_in(&ikc2, cx)?;
                        // Made before the connection: it waits for it.
                        cx.call_reply("poe://EchoServer/echo", "upper", ("early",), "answer")
                    })
                    .on("connected", |cx, args| {
                        assert_eq!(args[0].as_str(), Some("EchoServer"));
                        cx.post("poe://EchoServer/echo/notify", "", ("posted",))?;
                        cx.call_reply("poe://EchoServer/echo", "secret", (), "answer")?;
                        cx.call_reply("poe://EchoServer/echo", "tell_back", ("hi",), "answer")
                    })
                    .on("told", {
                        let done = done_tx.clone();
                        move |_, args| {
                            let _ = done.send(format!("told {} {}", args[0], args[1]));
                        }
                    })
                    .on("answer", move |cx, args| {
                        let answer = Answer::from_args(&args);
                        let _ = done_tx.send(format!("{answer:?}"));
                        *cx.heap += 1;
                        if *cx.heap == 3 {
                            cx.call_reply("poe://EchoServer/echo", "stop", (), "bye")?;
                        }
                        Ok::<_, roe_engine::Error>(())
                    })
                    .on("bye", |cx, _| cx.post("IKC", "shutdown", ())),
            )
            .unwrap();
        kernel.run().unwrap();
    });
    let mut got: Vec<String> = (0..4)
        .map(|_| done_rx.recv_timeout(PATIENCE).expect("an answer"))
        .collect();
    got.sort();
    assert_eq!(
        got[0],
        r#"Failed("EchoServer/secret is not published")"#.replace("EchoServer/", "echo/")
    );
    assert_eq!(got[1], r#"Returned(Str("EARLY"))"#);
    assert!(got[2].starts_with("Returned(Undef)"), "{got:?}");
    assert_eq!(got[3], "told hi told-extra");
    assert_eq!(seen.recv_timeout(PATIENCE).unwrap(), "notify posted");
    client.join().unwrap();
    server.join().unwrap();
}
