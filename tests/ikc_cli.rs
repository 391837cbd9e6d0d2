//! `roe ikc` against a fake native IKC server in the test: what it prints
//! on stdout and stderr, and its exit status.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Command, Output},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::Duration,
};

use roe_ikc::{
    WireValue, identity,
    native::{
        DEFAULT_MAX_FRAME, Frame, FrameReader, HANDSHAKE_MAX_FRAME, HandshakeConfig, HandshakeStep,
        Outcome, ServerHandshake, SessionRef,
    },
};

/// The server's name, as `ping` prints it.
const SERVER: &str = "CliServer";

/// A server that takes `connections` connections in turn, each a roe
/// native handshake, then answers:
///
/// - calls to `echo/upper` with their text argument in capitals, to
///   `echo/same` with their argument; any other state of `echo` is not
///   published (a call refused, a post answered with an error), but
///   `echo/note`, whose posts are taken without an answer;
/// - pings.
fn server(connections: usize) -> (SocketAddr, JoinHandle<()>) {
    let (addr, thread, _posts) = server_reporting(connections);
    (addr, thread)
}

/// A post the server received: its state, and its arguments as the
/// decoder gave them (`Debug`).
type Posted = (String, String);

/// [`server`], reporting each post it receives, whatever it answers.
fn server_reporting(connections: usize) -> (SocketAddr, JoinHandle<()>, mpsc::Receiver<Posted>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (posted, posts) = mpsc::channel();
    let thread = thread::spawn(move || {
        for _ in 0..connections {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            serve(stream, &posted);
        }
    });
    (addr, thread, posts)
}

fn serve(mut stream: TcpStream, posted: &mpsc::Sender<Posted>) {
    let config = HandshakeConfig::new(&identity::kernel_id(), SERVER).unwrap();
    let mut handshake = ServerHandshake::new(config).unwrap();
    let mut reader = FrameReader::after_magic().max_frame(HANDSHAKE_MAX_FRAME);
    let mut buf = [0u8; 4096];
    let mut shaken = false;
    loop {
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame().unwrap() {
            if !shaken {
                match handshake.on_frame(frame).unwrap() {
                    HandshakeStep::Done { send, .. } => {
                        out.extend(send);
                        shaken = true;
                    }
                    HandshakeStep::Continue { send } => out.extend(send),
                }
                continue;
            }
            if let Frame::Post { to, args, .. } = &frame {
                let _ = posted.send((to.state.to_string(), format!("{args:?}")));
            }
            answer(frame, &mut out);
        }
        if shaken {
            reader.set_max_frame(DEFAULT_MAX_FRAME);
        }
        stream.write_all(&out).unwrap();
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => reader.feed(&buf[..n]),
        }
    }
}

fn answer(frame: Frame<'_>, out: &mut Vec<u8>) {
    let echo = SessionRef::Alias("echo".into());
    let reply = match frame {
        Frame::Call { id, to, args, .. } if to.session == echo => {
            let outcome = match (&*to.state, args.into_iter().next()) {
                ("upper", Some(WireValue::Str(text))) => {
                    Outcome::Returned(WireValue::Str(text.to_uppercase().into()))
                }
                ("same", Some(value)) => Outcome::Returned(value),
                (state, _) => Outcome::Refused(
                    format!("Session 'echo' has not published state '{state}'").into(),
                ),
            };
            Frame::Reply { id, outcome }
        }
        Frame::Call { id, .. } => Frame::Reply {
            id,
            outcome: Outcome::NoSession,
        },
        Frame::Post { to, .. } if to.state != "note" => Frame::Error {
            op: "check".into(),
            message: format!("state '{}' is not published", to.state).into(),
        },
        Frame::Ping { id } => Frame::Pong { id },
        _ => return,
    };
    reply.encode(out).unwrap();
}

fn roe_ikc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roe"))
        .arg("ikc")
        .args(args)
        .output()
        .expect("the roe binary runs")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn call_prints_the_value_as_one_line_of_json() {
    let (addr, server) = server(2);
    let addr = addr.to_string();
    let output = roe_ikc(&[
        "call",
        "--to",
        &addr,
        "poe://CliServer/echo/upper",
        "\"hi\"",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(text(&output.stdout), "\"HI\"\n");

    let arg = r#"{"b": [1, 2.5, null, true], "a": "x\n"}"#;
    let output = roe_ikc(&["call", "--to", &addr, "--timeout", "30", "echo/same", arg]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stdout),
        "{\"a\":\"x\\n\",\"b\":[1,2.5,null,true]}\n"
    );
    server.join().unwrap();
}

#[test]
fn a_refused_call_is_on_stderr_with_a_failing_status() {
    let (addr, server) = server(1);
    let output = roe_ikc(&["call", "--to", &addr.to_string(), "echo/secret"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(text(&output.stdout), "");
    assert!(
        text(&output.stderr).contains(
            "poe:/echo/secret: refused by the server: \
             Session 'echo' has not published state 'secret'"
        ),
        "{output:?}"
    );
    server.join().unwrap();
}

#[test]
fn post_is_silent_unless_the_server_refuses_it() {
    let (addr, server, posts) = server_reporting(2);
    let addr = addr.to_string();
    let output = roe_ikc(&["post", "--to", &addr, "echo/note", "[1, 2]"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(text(&output.stdout), "");
    // Silent, and delivered: the server has it, with its argument.
    let wait = Duration::from_secs(30);
    let (state, args) = posts.recv_timeout(wait).expect("the post arrived");
    assert_eq!(
        (state.as_str(), args.as_str()),
        ("note", "[List([Int(1), Int(2)])]")
    );

    let output = roe_ikc(&["post", "--to", &addr, "echo/secret", "1"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).contains("remote error (check): state 'secret' is not published"),
        "{output:?}"
    );
    let (state, _) = posts.recv_timeout(wait).expect("the refused post arrived");
    assert_eq!(state, "secret");
    server.join().unwrap();
    assert!(posts.try_recv().is_err(), "one post each");
}

#[test]
fn ping_prints_the_server_and_the_round_trip() {
    let (addr, server) = server(1);
    let output = roe_ikc(&["ping", "--to", &addr.to_string()]);
    assert!(output.status.success(), "{output:?}");
    let line = text(&output.stdout);
    let micros = line
        .strip_prefix("{\"server\":\"CliServer\",\"micros\":")
        .and_then(|rest| rest.strip_suffix("}\n"))
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(micros.parse::<u64>().is_ok(), "{line:?}");
    server.join().unwrap();
}

#[test]
fn bad_arguments_fail_before_connecting() {
    // Port 1 has no server; each must fail on its arguments first.
    let addr = "127.0.0.1:1";
    for (args, says) in [
        (
            vec!["call", "--to", addr, "echo/x", "[1,"],
            "not JSON at byte 3",
        ),
        (vec!["call", "--to", addr], "which state?"),
        (vec!["call", "echo/x"], "--to or --unix"),
        (vec!["ping", "--to", addr, "--timeout", "0"], "--timeout"),
        (vec!["shout", "--to", addr], "unknown request"),
        (vec!["ping", "--to", addr, "--unix", "/x"], "either-or"),
    ] {
        let output = roe_ikc(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        assert!(text(&output.stderr).contains(says), "{args:?}: {output:?}");
    }
    let nowhere =
        std::env::temp_dir().join(format!("roe-ikc-cli-{}/none.sock", std::process::id()));
    let output = roe_ikc(&["ping", "--unix", nowhere.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cannot connect"),
        "{output:?}"
    );
}
