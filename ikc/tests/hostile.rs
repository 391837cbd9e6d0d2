//! Peers that misbehave, against a real IKC server over loopback: garbage,
//! a 2 GB length prefix, a stall in the middle of a frame, and a peer that
//! asks and asks and never reads. Each is cut off, and the server serves
//! the next client as if nothing happened.

mod support;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use roe_engine::Value;
use roe_ikc::{
    IkcClient, IkcConfig, WireValue,
    directory::Directory,
    lite::{LiteClient, LiteConfig},
    native::{
        ClientHandshake, Frame, FrameReader, HandshakeConfig, HandshakeStep, MAGIC,
        MAX_PUBLISHED_SESSIONS, MAX_PUBLISHED_STATES, Origin, Outcome, ServerHandshake, SessionRef,
        Target,
    },
};

use support::{Node, PATIENCE, heard, published};

/// A server with tight limits: a 300 ms handshake, 64 KiB of output per
/// peer that may stall for 500 ms, frames up to 1 MiB.
fn server() -> Node {
    server_with(Duration::from_millis(300), Duration::from_millis(500))
}

/// [`server`], with these timeouts for the handshake and for output that
/// makes no progress: a long handshake timeout shows that a peer was cut
/// off for what it sent, not for taking its time.
fn server_with(handshake_timeout: Duration, write_timeout: Duration) -> Node {
    let (tell, _lines) = heard();
    let config = IkcConfig::new("Server")
        .handshake_timeout(handshake_timeout)
        .max_output(64 * 1024, write_timeout)
        .max_frame(1024 * 1024);
    Node::start(config, 1, true, move |_, kernel| {
        kernel.spawn(published("echo", &["ping"], tell.clone()))?;
        kernel.spawn(
            roe_engine::Session::new(())
                .on("_start", |cx, _| {
                    cx.alias_set("big")?;
                    cx.call("IKC", "publish", ("big", Value::List(vec!["page".into()])))
                        .map(drop)
                })
                .on("page", |_, _| Value::from("x".repeat(64 * 1024))),
        )?;
        // Answers who called: the stand-in of the peer's session.
        kernel
            .spawn(
                roe_engine::Session::new(())
                    .on("_start", |cx, _| {
                        cx.alias_set("who")?;
                        cx.call("IKC", "publish", ("who", Value::List(vec!["am_i".into()])))
                            .map(drop)
                    })
                    .on("am_i", |cx, _| Value::from(cx.sender().to_string())),
            )
            .map(drop)
    })
}

/// Reads until the server closes the connection; how long that took.
/// Fails if it stays open past [`PATIENCE`].
fn until_closed(stream: &mut TcpStream) -> Duration {
    let start = Instant::now();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

/// A raw native peer of `node`, its handshake done.
fn handshaken(node: &Node, id: &str, name: &str) -> TcpStream {
    let mut peer = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
    let config = HandshakeConfig::new(id, name).unwrap();
    let (mut handshake, hello) = ClientHandshake::start(config).unwrap();
    peer.write_all(&hello).unwrap();
    let mut reader = FrameReader::new();
    let mut buf = vec![0; 4096];
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    loop {
        let n = peer.read(&mut buf).unwrap();
        assert!(n > 0, "closed during the handshake");
        reader.feed(&buf[..n]);
        if let Some(frame) = reader.next_frame().unwrap() {
            match handshake.on_frame(frame).unwrap() {
                HandshakeStep::Done { send, .. } => {
                    peer.write_all(&send).unwrap();
                    return peer;
                }
                HandshakeStep::Continue { send } => peer.write_all(&send).unwrap(),
            }
        }
    }
}

/// Waits until `check` holds of `node`'s directory.
fn until(node: &Node, what: &str, check: impl Fn(&Directory) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check(node.ikc.directory()) {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The server still answers a well-behaved client.
fn still_serves(node: &Node) {
    let mut client =
        LiteClient::connect(LiteConfig::new(format!("127.0.0.1:{}", node.port()))).unwrap();
    let answer = client
        .call("poe://Server/echo/ping", &[Value::from("fine")])
        .unwrap();
    assert_eq!(answer, Value::from("FINE"));
}

#[test]
fn garbage_instead_of_the_magic_is_cut_off() {
    let node = server();
    let mut peer = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
    peer.write_all(&[b'G'; 4096]).unwrap();
    until_closed(&mut peer);
    still_serves(&node);
    node.stop();
}

#[test]
fn a_two_gigabyte_length_prefix_is_cut_off_before_any_of_it_is_read() {
    let node = server();
    let mut peer = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
    peer.write_all(&MAGIC).unwrap();
    peer.write_all(&0x7fff_ffffu32.to_le_bytes()).unwrap();
    peer.write_all(&[0; 1024]).unwrap();
    until_closed(&mut peer);
    still_serves(&node);
    node.stop();
}

#[test]
fn a_peer_that_stalls_in_the_middle_of_its_handshake_is_cut_off() {
    let node = server();
    let mut peer = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
    peer.write_all(&MAGIC).unwrap();
    peer.write_all(&100u32.to_le_bytes()).unwrap();
    peer.write_all(&[0; 10]).unwrap();
    let waited = until_closed(&mut peer);
    // Not before the handshake's time is up.
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    still_serves(&node);
    node.stop();
}

/// A peer that finishes its handshake, then calls for 64 KiB answers
/// without ever reading them: the server stops reading it once its
/// output is past the bound, and cuts it off when the output has made no
/// progress for the write timeout.
#[test]
fn a_peer_that_never_reads_is_cut_off() {
    let node = server();
    let mut peer = handshaken(&node, "hog-1", "Hog");
    // 400 calls for 64 KiB each: 25 MiB of answers, far past what the
    // sockets hold. Writing stops mattering once the server stops
    // reading; the write then fails or blocks, so it runs on a thread.
    let mut writer = peer.try_clone().unwrap();
    let asking = std::thread::spawn(move || {
        let mut out = Vec::new();
        for id in 0..400 {
            out.clear();
            Frame::Call {
                id,
                to: Target {
                    session: SessionRef::Alias("big".into()),
                    state: "page".into(),
                },
                args: Vec::new(),
                from: None,
            }
            .encode(&mut out)
            .unwrap();
            if writer.write_all(&out).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    until_closed(&mut peer);
    asking.join().unwrap();
    still_serves(&node);
    node.stop();
}

/// `frames` encoded one after another.
fn encoded(frames: impl IntoIterator<Item = Frame<'static>>) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        frame.encode(&mut out).unwrap();
    }
    out
}

fn publish(session: String, states: Vec<String>) -> Frame<'static> {
    Frame::Publish {
        session: session.into(),
        states: states.into_iter().map(Into::into).collect(),
    }
}

/// Publish frames add to what a peer published, up to what its handshake
/// could have announced: the server holds every session and state up to
/// the limits, and cuts off a peer that goes one past them (or names a
/// session outside the rules) rather than keep more.
#[test]
fn a_peer_that_publishes_past_the_limits_is_cut_off() {
    let node = server();
    let published = |directory: &Directory, id: &str| {
        directory
            .remotes()
            .into_iter()
            .find(|r| r.id == id)
            .map(|r| r.published)
    };

    // Sessions: as many as a handshake may announce, then one more.
    let mut peer = handshaken(&node, "many-sessions", "Sessions");
    let sessions =
        (0..MAX_PUBLISHED_SESSIONS).map(|n| publish(format!("s{n}"), vec!["ping".into()]));
    peer.write_all(&encoded(sessions)).unwrap();
    until(&node, "every session published", |d| {
        published(d, "many-sessions").is_some_and(|p| p.len() == MAX_PUBLISHED_SESSIONS)
    });
    let past = (0..4096).map(|n| publish(format!("more{n}"), vec!["ping".into()]));
    let _ = peer.write_all(&encoded(past));
    let waited = until_closed(&mut peer);
    assert!(waited < PATIENCE, "{waited:?}");
    until(&node, "the peer gone", |d| {
        published(d, "many-sessions").is_none()
    });

    // States of one session, over several frames; the same states again
    // add nothing.
    let mut peer = handshaken(&node, "many-states", "States");
    let states = |range: std::ops::Range<usize>| range.map(|n| format!("st{n}")).collect();
    let frames = [
        publish("wide".into(), states(0..600)),
        publish("wide".into(), states(300..MAX_PUBLISHED_STATES)),
        publish("wide".into(), states(0..10)),
    ];
    peer.write_all(&encoded(frames)).unwrap();
    until(&node, "every state published", |d| {
        published(d, "many-states")
            .is_some_and(|p| p.get("wide").map(|s| s.len()) == Some(MAX_PUBLISHED_STATES))
    });
    let _ = peer.write_all(&encoded([publish("wide".into(), vec!["one-more".into()])]));
    until_closed(&mut peer);
    until(&node, "the peer gone", |d| {
        published(d, "many-states").is_none()
    });

    // A name no handshake could carry.
    let mut peer = handshaken(&node, "bad-name", "BadName");
    let _ = peer.write_all(&encoded([publish("a/b".into(), vec!["ping".into()])]));
    until_closed(&mut peer);
    until(&node, "the peer gone", |d| {
        published(d, "bad-name").is_none()
    });

    still_serves(&node);
    node.stop();
}

/// A peer's text reaches `error` monitors cut short, however long the
/// peer made it: its own `Error` frames, and the refusals of its requests
/// (which name what it asked for).
#[test]
fn a_peers_long_text_reaches_monitors_cut_short() {
    let (tell, lines) = heard();
    let config = IkcConfig::new("Server").max_frame(1024 * 1024);
    let node = Node::start(config, 1, true, move |_, kernel| {
        let tell = tell.clone();
        kernel
            .spawn(
                roe_engine::Session::new(())
                    .on("_start", |cx, _| {
                        cx.alias_set("watcher")?;
                        let mut monitor = roe_engine::Map::new();
                        monitor.insert("error".into(), "failed".into());
                        cx.post("IKC", "monitor", ("*", Value::Map(monitor)))
                    })
                    // (name, kernel name, is ID, data, op, message, generation)
                    .on("failed", move |_, args| {
                        if args[2].is_true() {
                            let op = args[4].as_str().unwrap_or_default().to_owned();
                            let message = args[5].as_str().unwrap_or_default().to_owned();
                            let _ = tell.send(format!("{} {}", op.len(), message.len()));
                        }
                    }),
            )
            .map(drop)
    });
    let mut peer = handshaken(&node, "talker-1", "Talker");
    let long = "y".repeat(100_000);
    let frames = [
        Frame::Error {
            op: "x".repeat(10_000).into(),
            message: long.clone().into(),
        },
        Frame::Post {
            to: Target {
                session: SessionRef::Alias("echo".into()),
                state: long.into(),
            },
            args: Vec::new(),
            from: None,
        },
    ];
    peer.write_all(&encoded(frames)).unwrap();
    for _ in 0..2 {
        let heard = support::next(&lines, "a report");
        let (op, message) = heard.split_once(' ').unwrap();
        let (op, message): (usize, usize) = (op.parse().unwrap(), message.parse().unwrap());
        assert!(op <= 64 + 3 && message <= 512 + 3, "{heard}");
        assert!(message >= 512, "{heard}");
    }
    node.stop();
}

/// Answers to a peer's calls are never dropped for the output bound: a
/// peer that asks for 25 MiB of answers at once, far past the 64 KiB
/// bound, then reads, gets every one of them.
#[test]
fn answers_past_the_output_bound_all_arrive() {
    const CALLS: u64 = 400;
    let node = server_with(PATIENCE, PATIENCE);
    let mut peer = handshaken(&node, "reader-1", "Reader");
    let calls = (0..CALLS).map(|id| Frame::Call {
        id,
        to: Target {
            session: SessionRef::Alias("big".into()),
            state: "page".into(),
        },
        args: Vec::new(),
        from: None,
    });
    peer.write_all(&encoded(calls)).unwrap();
    // Not reading for a while lets the server's output pass the bound
    // (the sockets hold a few MiB at most).
    std::thread::sleep(Duration::from_millis(300));
    let mut reader = FrameReader::new().max_frame(1024 * 1024);
    let mut buf = vec![0; 256 * 1024];
    let mut answered = std::collections::BTreeSet::new();
    while (answered.len() as u64) < CALLS {
        let n = peer.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {} answers", answered.len());
        reader.feed(&buf[..n]);
        while let Some(frame) = reader.next_frame().unwrap() {
            match frame {
                Frame::Reply {
                    id,
                    outcome: Outcome::Returned(WireValue::Str(text)),
                } if text.len() == 64 * 1024 => assert!(answered.insert(id), "{id} twice"),
                other => panic!("not an answer: {other:?}"),
            }
        }
    }
    still_serves(&node);
    node.stop();
}

/// A call of `who/am_i` from the peer session `from` (`None`: none said).
fn who_am_i(id: u64, from: Option<&str>) -> Frame<'static> {
    Frame::Call {
        id,
        to: Target {
            session: SessionRef::Alias("who".into()),
            state: "am_i".into(),
        },
        args: Vec::new(),
        from: from.map(|name| Origin::from(SessionRef::Alias(name.to_owned().into()))),
    }
}

/// Reads answers to `count` calls; the text each returned, by call id.
fn answers(
    peer: &mut TcpStream,
    reader: &mut FrameReader,
    count: usize,
) -> std::collections::BTreeMap<u64, String> {
    let mut got = std::collections::BTreeMap::new();
    let mut buf = vec![0; 64 * 1024];
    while got.len() < count {
        while let Some(frame) = reader.next_frame().unwrap() {
            match frame {
                Frame::Reply {
                    id,
                    outcome: Outcome::Returned(WireValue::Str(text)),
                } => {
                    got.insert(id, text.into_owned());
                }
                other => panic!("not an answer: {other:?}"),
            }
        }
        if got.len() < count {
            let n = peer.read(&mut buf).unwrap();
            assert!(n > 0, "closed after {} answers", got.len());
            reader.feed(&buf[..n]);
        }
    }
    got
}

/// The stand-ins of a peer's sessions are kept per connection: a peer
/// that names ever new senders lets go of its own oldest, never of
/// another peer's; and a sender named outside the handshake's rules is
/// taken for no sender at all (its text is not kept).
#[test]
fn a_peer_that_names_ever_new_senders_costs_other_peers_nothing() {
    let node = server_with(PATIENCE, PATIENCE);
    let mut quiet = handshaken(&node, "quiet-1", "Quiet");
    let mut quiet_reader = FrameReader::new();
    quiet
        .write_all(&encoded([who_am_i(1, Some("steady"))]))
        .unwrap();
    let before = answers(&mut quiet, &mut quiet_reader, 1)[&1].clone();

    let mut noisy = handshaken(&node, "noisy-1", "Noisy");
    let mut noisy_reader = FrameReader::new();
    const SENDERS: u64 = 5000;
    let calls = (0..SENDERS).map(|n| who_am_i(n, Some(&format!("sender-{n}"))));
    noisy.write_all(&encoded(calls)).unwrap();
    let thunks = answers(&mut noisy, &mut noisy_reader, SENDERS as usize);
    // Each sender had its own stand-in.
    let distinct: std::collections::BTreeSet<&String> = thunks.values().collect();
    assert!(distinct.len() as u64 > SENDERS / 2, "{}", distinct.len());

    quiet
        .write_all(&encoded([who_am_i(2, Some("steady"))]))
        .unwrap();
    let after = answers(&mut quiet, &mut quiet_reader, 1)[&2].clone();
    assert_eq!(before, after, "the quiet peer's stand-in was let go");

    // Bad names, long or not, are no name: one stand-in for all three.
    let long = "n".repeat(100_000);
    let frames = [
        who_am_i(10, None),
        who_am_i(11, Some("bad/name")),
        who_am_i(12, Some(&long)),
    ];
    noisy.write_all(&encoded(frames)).unwrap();
    let nameless = answers(&mut noisy, &mut noisy_reader, 3);
    assert_eq!(nameless[&10], nameless[&11]);
    assert_eq!(nameless[&10], nameless[&12]);
    still_serves(&node);
    node.stop();
}

/// A peer that never answers subscription questions holds only so many
/// of them: past the bound, a subscription is refused at once (its
/// callback gets no specifiers) instead of waiting out its minute.
#[test]
fn a_peer_that_never_answers_subscriptions_holds_a_bounded_number() {
    const PAST: usize = 10;
    const SUBSCRIPTIONS: usize = 4096 + PAST;
    // A native server that completes its handshake, then only reads.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mute = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        let config = HandshakeConfig::new("mute-1", "Mute").unwrap();
        let mut handshake = ServerHandshake::new(config).unwrap();
        let mut reader = FrameReader::after_magic();
        let mut buf = vec![0; 64 * 1024];
        let mut open = false;
        loop {
            let n = match peer.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            reader.feed(&buf[..n]);
            while let Ok(Some(frame)) = reader.next_frame() {
                if open {
                    continue;
                }
                match handshake.on_frame(frame).unwrap() {
                    HandshakeStep::Continue { send } => peer.write_all(&send).unwrap(),
                    HandshakeStep::Done { send, .. } => {
                        peer.write_all(&send).unwrap();
                        open = true;
                    }
                }
            }
        }
    });
    let (tell, lines) = heard();
    let client = Node::start(IkcConfig::new("Client"), 1, false, move |ikc, kernel| {
        let ikc = ikc.clone();
        let tell = tell.clone();
        kernel
            .spawn(
                roe_engine::Session::new(())
                    .on("_start", move |cx, _| {
                        let me = cx.session();
                        IkcClient::tcp("127.0.0.1", port)
                            .on_connect(me, "connected")
                            .spawn_in(&ikc, cx)
                            .map(drop)
                    })
                    .on("connected", |cx, _| {
                        for _ in 0..SUBSCRIPTIONS {
                            cx.post("IKC", "subscribe", ("poe://Mute/x", "answered"))?;
                        }
                        Ok::<_, roe_engine::Error>(())
                    })
                    .on("answered", move |_, args| {
                        let _ = tell.send(format!("answered {}", args[0]));
                    }),
            )
            .map(drop)
    });
    for n in 0..PAST {
        assert_eq!(
            support::next(&lines, &format!("refusal {n}")),
            "answered []"
        );
    }
    assert!(lines.recv_timeout(Duration::from_millis(100)).is_err());
    client.stop();
    mute.join().unwrap();
}
