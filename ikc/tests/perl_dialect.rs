//! roe kernels speaking Perl IKC's dialect to each other: a client told
//! to talk to a Perl server (`IkcClient::perl`), against a roe server
//! that answers a Perl peer as Perl IKC would, over both handshakes.
//! Posts, calls with their answers, posts back to SENDER, subscriptions
//! and proxies, and an unpublished state refused with Perl's error report.

mod support;

use roe_engine::{Answer, Map, Session, Value};
use roe_ikc::{IkcClient, IkcConfig};

use support::{Node, heard, next, published};

fn talk_perl(legacy: bool) {
    let (tell, lines) = heard();
    let t = tell.clone();
    let server = Node::start(IkcConfig::new("Server"), 1, true, move |_, kernel| {
        let t2 = t.clone();
        kernel.spawn(published("echo", &["ping"], t.clone()))?;
        kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        cx.alias_set("teller")?;
                        let states = Value::List(vec!["tell_back".into()]);
                        cx.call("IKC", "publish", ("teller", states)).map(drop)
                    })
                    .on("tell_back", move |cx, args| {
                        let _ = t2.send(format!("tell_back {}", args[0]));
                        let sender = cx.sender();
                        cx.post(sender, "told", (args[0].clone(), "told-extra"))
                    }),
            )
            .map(drop)
    });
    let port = server.port();
    let t = tell.clone();
    let client = Node::start(IkcConfig::new("Client"), 1, false, move |ikc, kernel| {
        let ikc = ikc.clone();
        let t = t.clone();
        kernel
            .spawn(
                Session::new(())
                    .on("_start", move |cx, _| {
                        // Perl names a sender only when it published
                        // something: the answers come to published states.
                        cx.alias_set("client")?;
                        let states = Value::List(vec!["told".into()]);
                        cx.call("IKC", "publish", ("client", states))?;
                        let mut monitor = Map::new();
                        monitor.insert("error".into(), "failed".into());
                        cx.post("IKC", "monitor", ("*", Value::Map(monitor)))?;
                        let me = cx.session();
                        IkcClient::tcp("127.0.0.1", port)
                            .perl(legacy)
                            .expect("Server")
                            .subscribe("poe://Server/echo")
                            .on_connect(me, "connected")
                            .spawn_in(&ikc, cx)
                            .map(drop)
                    })
                    .on("connected", |cx, _| {
                        cx.post("poe://Server/echo/ping", "", ("posted",))?;
                        cx.call_reply("poe://Server/echo", "ping", ("called",), "answer")?;
                        cx.post("poe://Server/teller/tell_back", "", ("hi",))?;
                        // Through the proxy the subscription made.
                        cx.post("echo", "ping", ("proxied",))?;
                        cx.post("poe://Server/echo/unpublished", "", ("no",))
                    })
                    .on("answer", {
                        let t = t.clone();
                        move |_, args| {
                            let _ = t.send(format!("answer {:?}", Answer::from_args(&args)));
                        }
                    })
                    .on("told", {
                        let t = t.clone();
                        move |_, args| {
                            let _ = t.send(format!("told {} {}", args[0], args[1]));
                        }
                    })
                    .on("failed", move |_, args| {
                        if args[2].is_true() {
                            let _ = t.send(format!("error {} {}", args[4], args[5]));
                        }
                    }),
            )
            .map(drop)
    });
    let mut got: Vec<String> = (0..7).map(|i| next(&lines, &format!("line {i}"))).collect();
    got.sort();
    assert_eq!(got[0], "answer Returned(Str(\"CALLED\"))");
    assert_eq!(got[1], "echo ping called");
    assert_eq!(got[2], "echo ping posted");
    assert_eq!(got[3], "echo ping proxied");
    assert!(
        got[4].starts_with(
            "error remote-check Session 'echo' has not published state 'unpublished'."
        ),
        "{}",
        got[4]
    );
    assert_eq!(got[5..], ["tell_back hi", "told hi told-extra"]);
    client.stop();
    server.stop();
}

#[test]
fn a_client_speaking_perl_ikc0_is_served_as_perl_serves_it() {
    talk_perl(false);
}

#[test]
fn a_client_speaking_the_legacy_perl_handshake_is_served_too() {
    talk_perl(true);
}
