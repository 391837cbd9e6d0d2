//! The lite client against fake native servers over real sockets.
//!
//! Each server runs in a thread on `127.0.0.1:0` (or a Unix socket), shakes
//! hands with the crate's own [`ServerHandshake`], answers frames as the
//! test's handler says, and stops after the connections it was told to
//! serve. Waits that must run out are short; every other wait is long
//! (30 s), so a slow machine is never mistaken for a failure.
//!
//! A counting global allocator records the bytes each thread asks for, so
//! a test can show that a huge length prefix is refused without being
//! allocated.

#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::net::{UnixListener, UnixStream},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::Duration,
};

use roe_engine::Value;
use roe_ikc::{
    Kernel, Specifier, WireValue, identity,
    lite::{LiteClient, LiteConfig, LiteError, RemoteFailure, SpecProblem},
    native::{
        DEFAULT_MAX_FRAME, Frame, FrameError, FrameReader, HANDSHAKE_MAX_FRAME, HandshakeConfig,
        HandshakeError, HandshakeStep, Origin, Outcome, Peer, ServerHandshake, SessionRef, Target,
    },
};

/// The system allocator, counting the bytes each thread asks for.
struct Counting;

thread_local! {
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counter is a thread-local `Cell` with a
// const initialiser, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.with(|n| n.set(n.get().saturating_add(layout.size())));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.with(|n| n.set(n.get().saturating_add(new_size)));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocated_on_this_thread() -> usize {
    BYTES.with(Cell::get)
}

/// How long anything that should happen is given.
const LONG: Duration = Duration::from_secs(30);

/// The fake server's kernel name and alias.
const SERVER: &str = "FakeServer";
const SERVER_ALIAS: &str = "fake.example";

/// What a handler tells the server to do after a frame.
enum Act {
    Go,
    Close,
}

/// A server's thread, which returns how each handshake went.
type Server = JoinHandle<Vec<Result<Peer, HandshakeError>>>;

/// A handler: the client (as its handshake said), a frame, the bytes to
/// send back.
type Handler = Box<dyn FnMut(&Peer, Frame<'_>, &mut Vec<u8>) -> Act + Send>;

/// A listener of either kind, handing out streams that time out.
trait Accept: Send + 'static {
    type Stream: Read + Write;
    fn accept_one(&self) -> Self::Stream;
}

impl Accept for TcpListener {
    type Stream = TcpStream;
    fn accept_one(&self) -> TcpStream {
        let (stream, _) = self.accept().unwrap();
        stream.set_read_timeout(Some(LONG)).unwrap();
        stream
    }
}

impl Accept for UnixListener {
    type Stream = UnixStream;
    fn accept_one(&self) -> UnixStream {
        let (stream, _) = self.accept().unwrap();
        stream.set_read_timeout(Some(LONG)).unwrap();
        stream
    }
}

fn send(frame: Frame<'_>, out: &mut Vec<u8>) {
    frame.encode(out).unwrap();
}

fn server_config(key: Option<&[u8]>) -> HandshakeConfig {
    let config = HandshakeConfig::new(&identity::kernel_id(), SERVER)
        .unwrap()
        .alias(SERVER_ALIAS)
        .unwrap();
    match key {
        Some(key) => config.key(key.to_vec()),
        None => config,
    }
}

/// Serves `connections` connections in turn, then stops; the thread
/// returns how each handshake went.
fn serve<L: Accept>(
    listener: L,
    key: Option<&[u8]>,
    connections: usize,
    mut handler: Handler,
) -> Server {
    let key = key.map(<[u8]>::to_vec);
    thread::spawn(move || {
        (0..connections)
            .map(|_| {
                let stream = listener.accept_one();
                serve_one(stream, server_config(key.as_deref()), &mut handler)
            })
            .collect()
    })
}

/// A TCP server on a fresh port, with the client config to reach it.
fn tcp_server(
    key: Option<&[u8]>,
    connections: usize,
    handler: Handler,
) -> (LiteConfig, SocketAddr, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve(listener, key, connections, handler);
    (LiteConfig::new(addr).timeout(LONG), addr, server)
}

/// One connection: the handshake, then frames to `handler` until the
/// client closes or the handler says to.
fn serve_one<S: Read + Write>(
    mut stream: S,
    config: HandshakeConfig,
    handler: &mut Handler,
) -> Result<Peer, HandshakeError> {
    let mut machine = ServerHandshake::new(config)?;
    let mut reader = FrameReader::after_magic().max_frame(HANDSHAKE_MAX_FRAME);
    let mut buf = vec![0u8; 64 * 1024];
    let peer = loop {
        let step = match reader.next_frame() {
            Ok(Some(frame)) => machine.on_frame(frame),
            Ok(None) => {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    return Err(HandshakeError::Finished);
                }
                reader.feed(&buf[..n]);
                continue;
            }
            Err(e) => Err(e.into()),
        };
        match step {
            Ok(HandshakeStep::Continue { send }) => stream.write_all(&send).unwrap(),
            Ok(HandshakeStep::Done { send, peer }) => {
                stream.write_all(&send).unwrap();
                break peer;
            }
            Err(e) => {
                if let Some(refusal) = e.refusal() {
                    let _ = stream.write_all(&refusal);
                }
                return Err(e);
            }
        }
    };
    reader.set_max_frame(DEFAULT_MAX_FRAME);
    let mut out = Vec::new();
    loop {
        let mut close = false;
        while let Some(frame) = reader.next_frame().expect("the client sends good frames") {
            if let Act::Close = handler(&peer, frame, &mut out) {
                close = true;
                break;
            }
        }
        // The client may be gone already (it gave up on a bad frame).
        let _ = stream.write_all(&out);
        out.clear();
        if close {
            return Ok(peer);
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return Ok(peer),
            Ok(n) => reader.feed(&buf[..n]),
        }
    }
}

fn is_echo(session: &SessionRef<'_>) -> bool {
    *session == SessionRef::Alias("echo".into())
}

/// The fake server's sessions:
///
/// - `echo/upper` (call): its text argument in capitals;
/// - `echo/args` (call): its arguments, as a list;
/// - `<number>/whoami` (call): `session number <number>`;
/// - `echo/respond` (post_respond): the data in capitals, posted back to
///   the RSVP, after two posts the client did not ask for;
/// - any other state of `echo` is not published: a call is refused, a
///   post answered with an error; any other session does not exist;
/// - pings are answered.
fn echo(peer: &Peer, frame: Frame<'_>, out: &mut Vec<u8>) -> Act {
    match frame {
        Frame::Call { id, to, args, .. } => {
            let outcome = match (&to.session, &*to.state) {
                (s, "upper") if is_echo(s) => match args.first() {
                    Some(WireValue::Str(text)) => {
                        Outcome::Returned(WireValue::Str(text.to_uppercase().into()))
                    }
                    _ => Outcome::Died("upper takes text".into()),
                },
                (s, "args") if is_echo(s) => Outcome::Returned(WireValue::List(args)),
                (SessionRef::Number(n), "whoami") => {
                    Outcome::Returned(WireValue::Str(format!("session number {n}").into()))
                }
                (s, state) if is_echo(s) => Outcome::Refused(
                    format!("Session 'echo' has not published state '{state}'").into(),
                ),
                _ => Outcome::NoSession,
            };
            send(Frame::Reply { id, outcome }, out);
        }
        Frame::Post { to, args, .. } if is_echo(&to.session) && to.state == "respond" => {
            let Some(WireValue::List(request)) = args.first() else {
                panic!("post_respond sends one list, got {args:?}");
            };
            let [WireValue::Str(data), WireValue::Str(rsvp)] = &request[..] else {
                panic!("post_respond's list is [data, rsvp], got {request:?}");
            };
            let rsvp: Specifier = rsvp.parse().unwrap();
            assert_eq!(rsvp.kernel, Kernel::Named(peer.kernel_id.clone()));
            let back = Target::new(rsvp.session.unwrap(), rsvp.state.unwrap());
            for decoy in ["response999", "elsewhere"] {
                let to = Target::new("IKCLite", decoy);
                send(
                    Frame::Post {
                        to,
                        args: vec![WireValue::Str("not for you".into())],
                        from: None,
                    },
                    out,
                );
            }
            send(
                Frame::Post {
                    to: back,
                    args: vec![WireValue::Str(data.to_uppercase().into())],
                    from: None,
                },
                out,
            );
        }
        Frame::Post { to, .. } => send(
            Frame::Error {
                op: "check".into(),
                message: format!("state '{}' is not published", to.state).into(),
            },
            out,
        ),
        Frame::Ping { id } => send(Frame::Pong { id }, out),
        _ => {}
    }
    Act::Go
}

fn echo_handler() -> Handler {
    Box::new(echo)
}

fn hi() -> [Value; 1] {
    [Value::from("hi")]
}

#[test]
fn a_post_reaches_the_server_from_ikclite_with_the_specifiers_arg() {
    let (seen_tx, seen) = mpsc::channel();
    let handler: Handler = Box::new(move |peer, frame, out| {
        if let Frame::Post { to, args, from } = &frame
            && to.state == "note"
        {
            let owned = (
                to.clone().into_owned(),
                args.iter().cloned().map(WireValue::into_owned).collect(),
                from.clone().map(Origin::into_owned),
            );
            seen_tx.send(owned).unwrap();
            return Act::Go;
        }
        echo(peer, frame, out)
    });
    let (config, _, server) = tcp_server(None, 1, handler);
    let mut client = LiteClient::connect(config.name("Poster")).unwrap();
    client
        .post(
            "poe://FakeServer/echo/note?extra",
            &[Value::from("hi"), Value::from(7)],
        )
        .unwrap();
    let (to, args, from): (Target<'_>, Vec<WireValue<'_>>, _) = seen.recv_timeout(LONG).unwrap();
    assert_eq!(to, Target::new("echo", "note"));
    assert_eq!(
        args,
        [
            WireValue::Str("hi".into()),
            WireValue::Int(7),
            WireValue::Str("extra".into())
        ]
    );
    assert_eq!(
        from,
        Some(Origin {
            session: SessionRef::Alias("IKCLite".into()),
            state: None
        })
    );
    let kernel_id = client.kernel_id().to_owned();
    drop(client);
    let peers = server.join().unwrap();
    let peer = peers[0].as_ref().unwrap();
    assert_eq!(peer.names, ["Poster", "IKCLite"]);
    assert_eq!(peer.kernel_id, kernel_id);
}

#[test]
fn a_call_returns_the_handlers_value_whichever_way_the_server_is_named() {
    let (config, addr, server) = tcp_server(None, 1, echo_handler());
    let mut client = LiteClient::connect(config).unwrap();
    assert_eq!(client.server().unwrap().name(), SERVER);
    let server_id = client.server().unwrap().kernel_id.clone();
    for spec in [
        "echo/upper".to_owned(),
        "poe:/echo/upper".to_owned(),
        "poe://*/echo/upper".to_owned(),
        format!("poe://{SERVER}/echo/upper"),
        format!("poe://{SERVER_ALIAS}/echo/upper"),
        format!("poe://{server_id}/echo/upper"),
        format!("poe://{addr}/echo/upper"),
    ] {
        assert_eq!(
            client.call(&spec, &hi()).unwrap(),
            Value::from("HI"),
            "{spec}"
        );
    }
    let spec = Specifier::default()
        .with_session("echo")
        .with_state("upper");
    assert_eq!(client.call(&spec, &hi()).unwrap(), Value::from("HI"));
    // An all-digit session is POE's session number.
    assert_eq!(
        client.call("42/whoami", &[]).unwrap(),
        Value::from("session number 42")
    );
    // Values come back whole.
    let sent = [
        Value::Undef,
        Value::Bool(true),
        Value::Float(1.5),
        Value::Bytes(vec![0, 255]),
        Value::List(vec![Value::from("é")]),
    ];
    assert_eq!(
        client.call("echo/args", &sent).unwrap(),
        Value::List(sent.to_vec())
    );
    drop(client);
    server.join().unwrap();
}

#[test]
fn a_bad_target_or_argument_is_refused_before_anything_is_sent() {
    let (config, _, server) = tcp_server(None, 1, echo_handler());
    let mut client = LiteClient::connect(config).unwrap();
    match client.call("poe://Elsewhere/echo/upper", &hi()) {
        Err(LiteError::UnknownKernel { kernel, server }) => {
            assert_eq!((kernel.as_str(), server.as_str()), ("Elsewhere", SERVER));
        }
        other => panic!("{other:?}"),
    }
    let no_state = client.call("echo", &[]).unwrap_err();
    assert!(
        matches!(
            no_state,
            LiteError::BadSpecifier {
                problem: SpecProblem::NoState,
                ..
            }
        ),
        "{no_state:?}"
    );
    let syntax = client.post("echo/up/per", &[]).unwrap_err();
    assert!(
        matches!(
            syntax,
            LiteError::BadSpecifier {
                problem: SpecProblem::Syntax(_),
                ..
            }
        ),
        "{syntax:?}"
    );
    let local = client.call("echo/args", &[Value::local(3u8)]).unwrap_err();
    assert!(matches!(local, LiteError::NotPortable), "{local:?}");
    // None of it cost the connection.
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    assert_eq!(client.dropped(), 0);
    drop(client);
    server.join().unwrap();
}

#[test]
fn a_refused_call_is_a_remote_error_in_the_servers_words() {
    let (config, _, server) = tcp_server(None, 1, echo_handler());
    let mut client = LiteClient::connect(config).unwrap();
    let refused = client.call("echo/secret", &[]).unwrap_err();
    assert!(refused.is_remote());
    match &refused {
        LiteError::Remote { target, failure } => {
            assert_eq!(target, "poe:/echo/secret");
            assert_eq!(
                failure,
                &RemoteFailure::Refused("Session 'echo' has not published state 'secret'".into())
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.call("nobody/here", &[]),
        Err(LiteError::Remote {
            failure: RemoteFailure::NoSession,
            ..
        })
    ));
    assert!(matches!(
        client.call("echo/upper", &[Value::from(1)]),
        Err(LiteError::Remote {
            failure: RemoteFailure::Died(_),
            ..
        })
    ));
    // The connection is fine.
    assert!(client.is_connected());
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    drop(client);
    assert_eq!(server.join().unwrap().len(), 1);
}

#[test]
fn a_refused_post_surfaces_in_take_errors() {
    let (config, _, server) = tcp_server(None, 1, echo_handler());
    let mut client = LiteClient::connect(config).unwrap();
    client.post("echo/secret", &hi()).unwrap();
    client.post("echo/hidden", &hi()).unwrap();
    // The pong comes after the errors about the posts before it.
    client.ping().unwrap();
    let errors = client.take_errors();
    let ops: Vec<(String, String)> = errors
        .iter()
        .map(|e| match e {
            LiteError::RemoteError { op, message } => (op.clone(), message.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("check".into(), "state 'secret' is not published".into()),
            ("check".into(), "state 'hidden' is not published".into()),
        ]
    );
    assert!(errors[0].is_remote());
    assert!(client.take_errors().is_empty());
    drop(client);
    server.join().unwrap();
}

/// A server whose `echo/slow` answers only when the test says, with the
/// value `late`; otherwise `echo`.
fn slow_server(connections: usize) -> (LiteConfig, Server, mpsc::Sender<()>) {
    let (release, released) = mpsc::channel::<()>();
    let handler: Handler = Box::new(move |peer, frame, out| match frame {
        Frame::Call { id, to, .. } if to.state == "slow" => {
            released.recv_timeout(LONG).unwrap();
            send(
                Frame::Reply {
                    id,
                    outcome: Outcome::Returned(WireValue::Str("late".into())),
                },
                out,
            );
            Act::Go
        }
        frame => echo(peer, frame, out),
    });
    let (config, _, server) = tcp_server(None, connections, handler);
    (config, server, release)
}

#[test]
fn a_call_that_times_out_ignores_its_late_reply_on_a_kept_connection() {
    let (config, server, release) = slow_server(1);
    let mut client = LiteClient::connect(config.reconnect_after_timeout(false)).unwrap();
    client.set_timeout(Duration::from_millis(50));
    let timed_out = client.call("echo/slow", &[]).unwrap_err();
    assert!(timed_out.is_timeout(), "{timed_out:?}");
    assert!(client.is_connected());
    release.send(()).unwrap();
    client.set_timeout(LONG);
    // The late reply comes first, and is not taken for this call's.
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    assert_eq!(client.dropped(), 1);
    drop(client);
    assert_eq!(server.join().unwrap().len(), 1);
}

#[test]
fn after_a_timeout_the_client_reconnects_by_default() {
    let (config, server, release) = slow_server(2);
    let mut client = LiteClient::connect(config).unwrap();
    client.set_timeout(Duration::from_millis(50));
    assert!(client.call("echo/slow", &[]).unwrap_err().is_timeout());
    assert!(!client.is_connected());
    release.send(()).unwrap();
    client.set_timeout(LONG);
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    assert_eq!(client.dropped(), 0);
    drop(client);
    let peers = server.join().unwrap();
    assert!(peers.iter().all(Result::is_ok), "{peers:?}");
}

#[test]
fn post_respond_waits_for_the_post_back_to_its_rsvp() {
    let (config, _, server) = tcp_server(None, 1, echo_handler());
    let mut client = LiteClient::connect(config).unwrap();
    for word in ["first", "second"] {
        assert_eq!(
            client
                .post_respond("echo/respond", &Value::from(word))
                .unwrap(),
            Value::from(word.to_uppercase())
        );
    }
    // Each time, two posts to other states of IKCLite were dropped.
    assert_eq!(client.dropped(), 4);
    drop(client);
    server.join().unwrap();
}

#[test]
fn ping_times_a_round_trip_and_the_client_answers_the_servers_pings_and_calls() {
    let handler: Handler = Box::new({
        let mut waiting = None;
        let mut answered = (false, false);
        move |peer, frame, out| {
            match frame {
                Frame::Call { id, to, .. } if to.state == "ping_me" => {
                    waiting = Some(id);
                    send(Frame::Ping { id: 77 }, out);
                    send(
                        Frame::Call {
                            id: 78,
                            to: Target::new("IKCLite", "anything"),
                            args: vec![],
                            from: None,
                        },
                        out,
                    );
                }
                Frame::Pong { id: 77 } => answered.0 = true,
                Frame::Reply {
                    id: 78,
                    outcome: Outcome::Refused(_),
                } => answered.1 = true,
                frame => return echo(peer, frame, out),
            }
            if answered == (true, true)
                && let Some(id) = waiting.take()
            {
                let outcome = Outcome::Returned(WireValue::Str("answered".into()));
                send(Frame::Reply { id, outcome }, out);
            }
            Act::Go
        }
    });
    let (config, _, server) = tcp_server(None, 1, handler);
    let mut client = LiteClient::connect(config).unwrap();
    let round_trip = client.ping().unwrap();
    assert!(round_trip < LONG);
    assert_eq!(
        client.call("echo/ping_me", &[]).unwrap(),
        Value::from("answered")
    );
    drop(client);
    server.join().unwrap();
}

#[test]
fn a_pre_shared_key_is_proved_and_a_wrong_or_missing_one_refused() {
    let key = b"thirty-two bytes of shared secret".as_slice();
    let (config, _, server) = tcp_server(Some(key), 3, echo_handler());

    let mut client = LiteClient::connect(config.clone().key(key)).unwrap();
    assert!(client.server().unwrap().authenticated());
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    drop(client);

    let wrong =
        LiteClient::connect(config.clone().key(b"not the same key".as_slice())).unwrap_err();
    assert!(
        matches!(wrong, LiteError::Handshake(HandshakeError::BadProof)),
        "{wrong:?}"
    );

    let missing = LiteClient::connect(config).unwrap_err();
    assert!(
        matches!(
            missing,
            LiteError::Handshake(HandshakeError::Refused { .. })
        ),
        "{missing:?}"
    );

    let seen = server.join().unwrap();
    assert!(seen[0].is_ok());
    // The client refused the server's proof, and told it so.
    assert!(
        matches!(seen[1], Err(HandshakeError::Refused { .. })),
        "{seen:?}"
    );
    assert_eq!(seen[2], Err(HandshakeError::KeyRequired));
}

/// `echo`, but a call to `echo/upper` is answered and then the
/// connection closed: the server is going down.
fn upper_then_close(peer: &Peer, frame: Frame<'_>, out: &mut Vec<u8>) -> Act {
    let last = matches!(&frame, Frame::Call { to, .. } if to.state == "upper");
    echo(peer, frame, out);
    if last { Act::Close } else { Act::Go }
}

#[test]
fn a_restarted_server_is_reconnected_to() {
    let (config, addr, first) = tcp_server(None, 1, Box::new(upper_then_close));
    let mut client = LiteClient::connect(config).unwrap();
    let first_id = client.server().unwrap().kernel_id.clone();
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    // The server is gone, listener and all ...
    assert_eq!(first.join().unwrap().len(), 1);
    // ... and back on the same port (std binds with SO_REUSEADDR).
    let second = serve(TcpListener::bind(addr).unwrap(), None, 1, echo_handler());
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    assert_ne!(client.server().unwrap().kernel_id, first_id);
    drop(client);
    assert!(second.join().unwrap()[0].is_ok());
}

#[test]
fn a_connection_closed_during_a_call_fails_it_and_the_next_call_reconnects() {
    let handler: Handler = Box::new(|peer, frame, out| match frame {
        Frame::Call { to, .. } if to.state == "crash" => Act::Close,
        Frame::Call { to, .. } if to.state == "bye" => {
            send(
                Frame::Goodbye {
                    reason: "shutting down".into(),
                },
                out,
            );
            Act::Close
        }
        frame => echo(peer, frame, out),
    });
    let (config, _, server) = tcp_server(None, 3, handler);
    let mut client = LiteClient::connect(config).unwrap();
    let crashed = client.call("echo/crash", &[]).unwrap_err();
    assert!(
        matches!(crashed, LiteError::Closed { reason: None }),
        "{crashed:?}"
    );
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    match client.call("echo/bye", &[]) {
        Err(LiteError::Closed {
            reason: Some(reason),
        }) => assert_eq!(reason, "shutting down"),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    drop(client);
    assert_eq!(server.join().unwrap().len(), 3);
}

/// Bytes from a deterministic xorshift generator.
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// A server that, instead of shaking hands, runs `misbehave` on each of
/// `connections` connections.
fn raw_server(
    connections: usize,
    misbehave: impl Fn(TcpStream) + Send + 'static,
) -> (LiteConfig, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = LiteConfig::new(listener.local_addr().unwrap()).timeout(LONG);
    let server = thread::spawn(move || {
        for _ in 0..connections {
            misbehave(listener.accept_one());
        }
    });
    (config, server)
}

#[test]
fn a_garbage_spewing_server_is_a_clear_error() {
    for seed in [1, 2, 3, 0x5eed] {
        let (config, server) = raw_server(1, move |mut stream| {
            // The client stops reading when it gives up; so does this.
            let _ = stream.write_all(&garbage(256 * 1024, seed));
        });
        let error = LiteClient::connect(config).unwrap_err();
        assert!(
            matches!(error, LiteError::Handshake(_) | LiteError::Closed { .. }),
            "seed {seed}: {error:?}"
        );
        server.join().unwrap();
    }
    // After a good handshake, the same in answer to a call.
    let handler: Handler = Box::new(|_, frame, out| {
        if let Frame::Call { .. } = frame {
            out.extend(garbage(256 * 1024, 9));
            return Act::Close;
        }
        Act::Go
    });
    let (config, _, server) = tcp_server(None, 1, handler);
    let mut client = LiteClient::connect(config).unwrap();
    let error = client.call("echo/upper", &hi()).unwrap_err();
    assert!(
        matches!(error, LiteError::BadFrame(_) | LiteError::Closed { .. }),
        "{error:?}"
    );
    assert!(!client.is_connected());
    drop(client);
    server.join().unwrap();
}

#[test]
fn a_two_gigabyte_length_prefix_is_refused_unread_and_unallocated() {
    const TWO_GB: u32 = 1 << 31;
    // In answer to a call: the prefix alone, and the connection held
    // open, so the client cannot be waiting for the body.
    let handler: Handler = Box::new(|_, frame, out| {
        if let Frame::Call { .. } = frame {
            out.extend(TWO_GB.to_le_bytes());
        }
        Act::Go
    });
    let (config, _, server) = tcp_server(None, 1, handler);
    let mut client = LiteClient::connect(config).unwrap();
    let before = allocated_on_this_thread();
    let error = client.call("echo/upper", &hi()).unwrap_err();
    let allocated = allocated_on_this_thread() - before;
    match error {
        LiteError::BadFrame(FrameError::TooLong { limit, length }) => {
            assert_eq!((limit, length), (DEFAULT_MAX_FRAME, TWO_GB as usize));
        }
        other => panic!("{other:?}"),
    }
    assert!(allocated < 1024 * 1024, "{allocated} bytes allocated");
    drop(client);
    server.join().unwrap();

    // In answer to the Hello, where the limit is the handshake's.
    let (config, server) = raw_server(1, |mut stream| {
        stream.write_all(&TWO_GB.to_le_bytes()).unwrap();
        // Hold the connection until the client closes it.
        let _ = stream
            .read(&mut [0; 4096])
            .and_then(|_| stream.read(&mut [0; 4096]));
    });
    let before = allocated_on_this_thread();
    let error = LiteClient::connect(config).unwrap_err();
    let allocated = allocated_on_this_thread() - before;
    match error {
        LiteError::Handshake(HandshakeError::Frame(FrameError::TooLong { limit, length })) => {
            assert_eq!((limit, length), (HANDSHAKE_MAX_FRAME, TWO_GB as usize));
        }
        other => panic!("{other:?}"),
    }
    assert!(allocated < 1024 * 1024, "{allocated} bytes allocated");
    server.join().unwrap();
}

#[test]
fn a_unix_socket_server_is_reached_by_its_path() {
    let dir = std::env::temp_dir().join(format!("roe-lite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ikc.sock");
    let _ = std::fs::remove_file(&path);
    let server = serve(UnixListener::bind(&path).unwrap(), None, 1, echo_handler());
    let mut client = LiteClient::connect(LiteConfig::unix(&path).timeout(LONG)).unwrap();
    assert_eq!(client.call("echo/upper", &hi()).unwrap(), Value::from("HI"));
    assert!(client.ping().is_ok());
    drop(client);
    server.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_client_moves_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<LiteClient>();
    assert_send::<LiteError>();
    let (config, _, server) = tcp_server(None, 1, echo_handler());
    let mut client = LiteClient::connect(config).unwrap();
    let answer = thread::spawn(move || client.call("echo/upper", &hi()))
        .join()
        .unwrap();
    assert_eq!(answer.unwrap(), Value::from("HI"));
    server.join().unwrap();
}

#[test]
fn nobody_listening_is_a_connect_error() {
    // A path nothing can be listening on (a TCP port could be taken by a
    // test running beside this one).
    let path = std::env::temp_dir().join(format!("roe-lite-{}-none/ikc.sock", std::process::id()));
    match LiteClient::connect(LiteConfig::unix(&path).timeout(LONG)) {
        Err(LiteError::Connect { endpoint, .. }) => {
            assert_eq!(endpoint, format!("unix:{}", path.display()));
        }
        other => panic!("{other:?}"),
    }
}
