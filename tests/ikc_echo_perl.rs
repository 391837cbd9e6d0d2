//! Recorded Perl IKC clients replayed against the `ikc_echo` example: the
//! bytes unmodified Perl ClientLite and IKC::Client programs sent a Perl
//! IKC server (`ikc/tests/data/perl-wire/`, with a README saying how they
//! were recorded) go, connection by connection, to `ikc_echo` on its one
//! port, waiting for its answers as the recorded client waited for the
//! Perl server's. What comes back must be what the Perl server sent, line
//! for line and frame for frame, once kernel IDs, process IDs and ports
//! are set aside (and with Perl's scalars compared as Perl compares them:
//! `6`, `6.0` and `"6"` are one scalar to a Perl peer).

mod common;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    path::PathBuf,
    time::{Duration, Instant},
};

use roe::{Map, Value};
use roe_ikc::perl::FrameReader;

use crate::common::{Echo, PATIENCE};

/// One chunk of a recording: its connection, whether the client sent it,
/// and its bytes.
struct Chunk {
    conn: u32,
    from_client: bool,
    bytes: Vec<u8>,
}

fn recording(name: &str) -> Vec<Chunk> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("ikc/tests/data/perl-wire")
        .join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter_map(|line| {
            let dir = field(line, "dir");
            if dir == "event" {
                return None;
            }
            let hex = field(line, "hex");
            Some(Chunk {
                conn: field(line, "conn").parse().unwrap(),
                from_client: dir == "c2s",
                bytes: (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
            })
        })
        .collect()
}

/// A field of one line of the relay's log (flat JSON, string or number).
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
    let rest = line[start..].trim_start();
    match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"').unwrap()],
        None => rest.split([',', '}']).next().unwrap().trim(),
    }
}

/// What a server sent, cut into its units: handshake lines, then frames.
#[derive(Debug, PartialEq)]
enum Unit {
    Line(String),
    Frame(Value),
}

/// Cuts a server's bytes into units: lines until its last handshake line
/// (`SETUP ...` or `UP`), frames after.
fn units(bytes: &[u8]) -> Vec<Unit> {
    cut(bytes).0
}

/// The units of everything a server sent, which must all decode: no
/// bytes left after the last frame (a frame cut short, or bytes no frame
/// decodes from), which [`units`] would set aside without a word.
fn all_units(bytes: &[u8], whose: &str) -> Vec<Unit> {
    let (units, left) = cut(bytes);
    assert_eq!(
        left, 0,
        "{whose}: {left} bytes after the last whole unit of {units:?}"
    );
    units
}

/// [`units`], and how many bytes after the last whole unit were not
/// decoded (at least one after a decoding error).
fn cut(bytes: &[u8]) -> (Vec<Unit>, usize) {
    let mut units = Vec::new();
    let mut at = 0;
    loop {
        let Some(end) = bytes[at..].windows(2).position(|w| w == b"\r\n") else {
            return (units, bytes.len() - at);
        };
        let line = String::from_utf8_lossy(&bytes[at..at + end]).into_owned();
        at += end + 2;
        let last = line.starts_with("SETUP ") || line == "UP";
        units.push(Unit::Line(line));
        if last {
            break;
        }
    }
    let mut frames = FrameReader::new();
    frames.feed(&bytes[at..]);
    loop {
        match frames.next_value() {
            Ok(Some(value)) => units.push(Unit::Frame(value)),
            Ok(None) => return (units, frames.buffered()),
            Err(_) => return (units, frames.buffered().max(1)),
        }
    }
}

/// Reads from `stream` until `received` cuts into at least `want` units,
/// or fails.
fn read_until(stream: &mut TcpStream, received: &mut Vec<u8>, want: usize) {
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0; 65536];
    while units(received).len() < want {
        assert!(
            Instant::now() < deadline,
            "waited for {want} units, got {:?}",
            units(received)
        );
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Names that differ from run to run: each server's kernel ID, process
/// ID and address, as its handshake gave them.
fn identity(units: &[Unit]) -> Vec<String> {
    let mut names = Vec::new();
    for unit in units {
        let Unit::Line(line) = unit else { break };
        if let Some(setup) = line.strip_prefix("SETUP ") {
            for part in setup.split(';') {
                if let Some(kernel) = part.strip_prefix("KERNEL=") {
                    names.extend(kernel.split(',').map(str::to_owned));
                }
                if let Some(pid) = part.strip_prefix("PID=") {
                    names.push(format!("PID={pid}"));
                }
            }
        }
        if let Some(name) = line.strip_prefix("IAM ") {
            names.push(name.to_owned());
        }
    }
    names.retain(|n| n != "EchoServer");
    names
}

/// Replaces the run's names in `text` with placeholders: each entry of
/// `names` is one name, or several (one per line) that share one.
fn plain(text: &str, names: &[String]) -> String {
    let mut text = text.to_owned();
    for (i, name) in names.iter().enumerate() {
        for one in name.lines() {
            text = text.replace(one, &format!("<{i}>"));
        }
    }
    text
}

/// A value with the run's names set aside and Perl's scalars written as
/// Perl writes them.
fn normal(value: &Value, names: &[String]) -> Value {
    match value {
        Value::Int(n) => Value::from(n.to_string()),
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
            Value::from(format!("{}", *x as i64))
        }
        Value::Float(x) => Value::from(x.to_string()),
        Value::Str(text) => Value::from(plain(text, names)),
        Value::List(items) => Value::List(items.iter().map(|v| normal(v, names)).collect()),
        Value::Map(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (plain(k, names).as_str().into(), normal(v, names)))
                .collect::<Map>(),
        ),
        other => other.clone(),
    }
}

fn normal_units(units: &[Unit], names: &[String]) -> Vec<Unit> {
    units
        .iter()
        .map(|unit| match unit {
            Unit::Line(line) => Unit::Line(plain(line, names)),
            Unit::Frame(value) => Unit::Frame(normal(value, names)),
        })
        .collect()
}

/// Replays connection `conn` of the recording `name` against a fresh
/// `ikc_echo` and compares what it answers with what Perl answered.
fn replay(name: &str, conn: u32) {
    let echo = Echo::start(&["--idle-exit", "30"]);
    let chunks: Vec<Chunk> = recording(name)
        .into_iter()
        .filter(|c| c.conn == conn)
        .collect();
    let mut stream = TcpStream::connect(("127.0.0.1", echo.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut expected = Vec::new();
    let mut received = Vec::new();
    for chunk in &chunks {
        if chunk.from_client {
            // The client waited for what the server had sent so far.
            read_until(&mut stream, &mut received, units(&expected).len());
            stream.write_all(&chunk.bytes).unwrap();
        } else {
            expected.extend_from_slice(&chunk.bytes);
        }
    }
    let want = all_units(&expected, "the Perl server");
    read_until(&mut stream, &mut received, want.len());
    // Nothing more than Perl sent.
    std::thread::sleep(Duration::from_millis(200));
    let mut rest = [0; 4096];
    if let Ok(n) = stream.read(&mut rest) {
        received.extend_from_slice(&rest[..n]);
    }
    let got = all_units(&received, "ikc_echo");
    let (theirs, ours) = (identity(&want), identity(&got));
    assert_eq!(theirs.len(), ours.len(), "{theirs:?} {ours:?}");
    // A client's bytes may name the recorded server (its kernel ID in a
    // specifier), and the answer may quote them: both servers' names are
    // set aside in what roe sent.
    let both: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .map(|(o, t)| format!("{o}\n{t}"))
        .collect();
    assert_eq!(
        normal_units(&got, &both),
        normal_units(&want, &theirs),
        "{name}, connection {conn}"
    );
}

#[test]
fn clientlite_over_ikc0_gets_what_the_perl_server_answered() {
    replay("lite-ikc0-storable", 1);
}

#[test]
fn clientlite_over_the_legacy_handshake_gets_what_the_perl_server_answered() {
    replay("lite-ikc-legacy", 1);
}

#[test]
fn a_call_whose_state_returns_undef_gets_no_answer_and_the_next_connection_does() {
    replay("lite-undef-timeout", 1);
    replay("lite-undef-timeout", 2);
}

#[test]
fn a_full_perl_kernel_over_ikc0_gets_what_the_perl_server_answered() {
    replay("poe-ikc0-storable", 1);
}

#[test]
fn a_full_perl_kernel_over_the_legacy_handshake_gets_what_the_perl_server_answered() {
    replay("poe-ikc-legacy", 1);
}

#[test]
fn a_perl_client_offering_only_code_as_its_serializer_is_refused() {
    let echo = Echo::start(&["--idle-exit", "30"]);
    for name in ["lite-ikc0-freezer", "lite-ikc0-freezethaw"] {
        let first = recording(name).into_iter().find(|c| c.from_client).unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", echo.port)).unwrap();
        stream.write_all(&first.bytes).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut answer = [0; 5];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"NOT\r\n", "{name}");
    }
}
