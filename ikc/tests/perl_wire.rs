//! Real Perl IKC traffic (`data/perl-wire/`, see its README) replayed
//! against the `perl` codec.
//!
//! - Server side: every byte a Perl client sent goes through roe's line
//!   reader, server handshake and frame reader, as a connection would feed
//!   them; a stand-in for the Perl test server answers each message with
//!   the codec's constructors; what roe writes must be what the Perl server
//!   wrote: the handshake byte for byte, the frames as values (Perl's hash
//!   key order is arbitrary).
//! - Client side: roe's client handshake, fed the Perl server's lines,
//!   must write what the Perl client wrote.
//! - Every recorded frame decodes into the message it is, and encodes back
//!   to the same value.
//! - Every truncation and bit flip of every recorded frame is an answer or
//!   an error, never a panic.

use std::{fs, path::PathBuf};

use roe_engine::{Map, Value};
use roe_ikc::{
    perl::{
        Address, CallContext, ClientHandshake, Dialect, ErrorStage, FrameError, FrameReader,
        HandshakeConfig, HandshakeStep, LineReader, Message, ReceiptAnswer, ServerHandshake,
        Sniffed, Spec, sniff,
    },
    storable::{self, Reason},
};

// ---------------------------------------------------------------------------
// Reading the recordings

/// Which way a chunk went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

/// One chunk the relay passed on.
struct Chunk {
    conn: u32,
    dir: Dir,
    bytes: Vec<u8>,
}

/// The chunks of `data/perl-wire/<name>.jsonl`, in order, notes left out.
fn recording(name: &str) -> Vec<Chunk> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/perl-wire")
        .join(format!("{name}.jsonl"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|line| {
            let dir = match field(line, "dir") {
                "c2s" => Dir::ToServer,
                "s2c" => Dir::ToClient,
                _ => return None,
            };
            let bytes = unhex(field(line, "hex"));
            if bytes.is_empty() {
                return None;
            }
            let conn = field(line, "conn").parse().expect("a connection number");
            Some(Chunk { conn, dir, bytes })
        })
        .collect()
}

/// The text of `"key": value` in one line of the log (a string's quotes
/// removed); the log's values hold no quotes or commas of their own.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 4;
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim_matches('"')
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The chunks of one connection, one way.
fn chunks(recording: &[Chunk], conn: u32, dir: Dir) -> Vec<&[u8]> {
    recording
        .iter()
        .filter(|c| c.conn == conn && c.dir == dir)
        .map(|c| c.bytes.as_slice())
        .collect()
}

/// Every byte of one connection, one way.
fn stream(recording: &[Chunk], conn: u32, dir: Dir) -> Vec<u8> {
    chunks(recording, conn, dir).concat()
}

/// A recorded stream cut apart, independently of the codec: its handshake
/// lines (each with its CRLF) up to and including the one `last` picks,
/// then its frames' images.
struct Cut {
    lines: Vec<Vec<u8>>,
    frames: Vec<Vec<u8>>,
}

fn cut(stream: &[u8], last: impl Fn(&[u8]) -> bool) -> Cut {
    let mut lines = Vec::new();
    let mut at = 0;
    loop {
        let end = at
            + stream[at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("a line");
        lines.push(stream[at..end + 2].to_vec());
        let line = &stream[at..end];
        at = end + 2;
        if last(line) {
            break;
        }
    }
    let mut frames = Vec::new();
    while at < stream.len() {
        let nul = at + stream[at..].iter().position(|&b| b == 0).expect("a NUL");
        let length: usize = std::str::from_utf8(&stream[at..nul])
            .unwrap()
            .parse()
            .unwrap();
        frames.push(stream[nul + 1..nul + 1 + length].to_vec());
        at = nul + 1 + length;
    }
    Cut { lines, frames }
}

/// The lines of the handshake's end: a server's `SETUP` (IKC0) or `UP`
/// (legacy); a client's last is its `SETUP` or its `WORLD`.
fn ends_server_handshake(line: &[u8]) -> bool {
    line.starts_with(b"SETUP ") || line == b"UP"
}

fn ends_client_handshake(line: &[u8]) -> bool {
    line.starts_with(b"SETUP ") || line == b"WORLD"
}

/// The text of a recorded line, without its CRLF.
fn text(line: &[u8]) -> &str {
    std::str::from_utf8(&line[..line.len() - 2]).unwrap()
}

/// A side's identity, as its recorded handshake shows it: (kernel ID,
/// other names, PID).
fn identity(lines: &[Vec<u8>]) -> (String, Vec<String>, u32) {
    let first = text(&lines[0]);
    if let Some(fields) = first.strip_prefix("SETUP ") {
        let mut kernels = Vec::new();
        let mut pid = 0;
        for field in fields.split(';') {
            if let Some(list) = field.strip_prefix("KERNEL=") {
                kernels.extend(list.split(',').map(String::from));
            } else if let Some(number) = field.strip_prefix("PID=") {
                pid = number.parse().unwrap();
            }
        }
        let id = kernels.remove(0);
        return (id, kernels, pid);
    }
    // Legacy: the IAMs say the ID, then the names from the last.
    let mut iams: Vec<String> = lines
        .iter()
        .filter_map(|line| text(line).strip_prefix("IAM ").map(String::from))
        .collect();
    let id = iams.remove(0);
    iams.reverse();
    (id, iams, 0)
}

fn thaw_all(images: &[Vec<u8>]) -> Vec<Value> {
    images
        .iter()
        .map(|image| storable::thaw(image).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// A stand-in for the Perl test server's `echo` session

/// What the Perl test server answers `message` with, written with the
/// codec's constructors: the shapes are the codec's, only the arithmetic is
/// the test's.
fn echo_server(message: Message, server_id: &str, client_id: &str) -> Vec<Message> {
    let from = |session: &str| Some(Address::proxy(server_id, session));
    let target = message.target().unwrap();
    let state = target.state.clone().unwrap_or_default();
    let session = target.session.clone().unwrap_or_default();
    let unpublished = |message: &Message| {
        let to = match message {
            Message::Post(post) => &post.to,
            Message::Call(call) => &call.to,
            _ => unreachable!("only posts and calls ask for secret"),
        };
        let spec = to.specifier().unwrap();
        let mut text = format!(
            "Session '{session}' has not published state '{state}'.  Request {}",
            Address::from_specifier(&spec)
        );
        if let Some(from) = message.from() {
            text.push_str(&format!(" sent by {from}"));
        }
        let kernel = Some(spec.kernel.as_str().to_owned());
        Message::remote_error(
            Spec::Hash(Address::remote_error(client_id)),
            text,
            kernel,
            ErrorStage::Check,
        )
    };
    if state == "secret" {
        return vec![unpublished(&message)];
    }
    match message {
        Message::Ping(call) => vec![Message::reply(call.rsvp, Value::from("PONG"), from("IKC"))],
        Message::Call(call) => {
            let list = call.wantarray.is_some_and(CallContext::is_list);
            let result = match state.as_str() {
                "echo" => call.params,
                "upper" => Value::from(call.params.as_str().unwrap().to_uppercase()),
                "sum" => Value::Float(call.params.as_list().unwrap().iter().map(number).sum()),
                "list" if list => call.params,
                "list" => Value::from(call.params.as_list().unwrap().len()),
                "stop" => Value::from("stopping"),
                "undef" => return vec![],
                other => panic!("no state {other}"),
            };
            vec![Message::reply(call.rsvp, result, from("echo"))]
        }
        Message::Post(post) => match state.as_str() {
            "notify" => vec![],
            "tell_back" => {
                let args = vec![post.params, Value::from("told-extra")];
                vec![Message::post_back(
                    &post.from.unwrap(),
                    "told",
                    args,
                    from("echo"),
                )]
            }
            "respond" => {
                let [data, rsvp] = post.params.as_list().unwrap() else {
                    panic!("[data, rsvp]");
                };
                let rsvp = Spec::Hash(Address::from_map(rsvp.as_map().unwrap(), "rsvp").unwrap());
                let mut answer = Map::new();
                answer.insert("echo".into(), data.clone());
                vec![Message::reply(rsvp, Value::Map(answer), from("echo"))]
            }
            other => panic!("no state {other}"),
        },
        Message::Proxy(proxy) => {
            assert_eq!(proxy.state, "tell_back");
            let mut args = proxy.args;
            args.push(Value::from("told-extra"));
            vec![Message::post_back(
                &proxy.from.unwrap(),
                "told",
                args,
                from("echo"),
            )]
        }
        Message::DoYouHave(ask) => {
            let Spec::Hash(mut wanted) = ask.wanted else {
                panic!("Perl asks in the hash form");
            };
            if wanted.kernel.as_deref().unwrap_or("").is_empty() {
                wanted.kernel = Some(server_id.to_owned());
            }
            let Spec::Hash(rsvp) = ask.rsvp else {
                panic!("Perl's rsvp is a hash");
            };
            let answer = ReceiptAnswer::Accepted {
                spec: Spec::Hash(wanted),
                kernel: server_id.to_owned(),
            };
            vec![Message::Receipt(roe_ikc::perl::Receipt {
                to: rsvp,
                answer,
                from: from("IKC"),
            })]
        }
        other => panic!("a client does not send {other:?}"),
    }
}

/// Perl's numeric value of a scalar.
fn number(value: &Value) -> f64 {
    match value {
        Value::Int(n) => *n as f64,
        Value::Str(text) => text.parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Server side

/// What roe, as the server of a recorded connection, writes: the
/// handshake's bytes, then its frames' images, and the peer it found.
struct Served {
    handshake: Vec<u8>,
    frames: Vec<Vec<u8>>,
    dialect: Dialect,
    peer_names: Vec<String>,
}

/// Feeds the client's bytes, in `pieces`, to a connection's worth of the
/// codec, as a server would.
fn serve(pieces: &[&[u8]], config: HandshakeConfig) -> Served {
    let server_id = config.kernel_id().to_owned();
    let mut first = Vec::new();
    let mut lines = Some(LineReader::new());
    let mut handshake = ServerHandshake::new(config);
    let mut frames: Option<FrameReader> = None;
    let mut served = Served {
        handshake: Vec::new(),
        frames: Vec::new(),
        dialect: Dialect::Ikc0,
        peer_names: Vec::new(),
    };
    let mut sniffed = false;
    let mut done = false;
    for piece in pieces {
        let sniffed_bytes;
        let piece: &[u8] = if sniffed {
            piece
        } else {
            first.extend_from_slice(piece);
            match sniff(&first) {
                Sniffed::NeedMore => continue,
                Sniffed::Setup | Sniffed::Hello => sniffed = true,
                other => panic!("a Perl client sniffed as {other:?}"),
            }
            sniffed_bytes = std::mem::take(&mut first);
            &sniffed_bytes
        };
        if let Some(reader) = &mut lines {
            reader.feed(piece);
            while let Some(line) = reader.next_line().unwrap() {
                match handshake.on_line(line).unwrap() {
                    HandshakeStep::Continue { send } => served.handshake.extend(send),
                    HandshakeStep::Done { send, peer } => {
                        served.handshake.extend(send);
                        served.dialect = peer.dialect;
                        served.peer_names = peer.names;
                        done = true;
                        break;
                    }
                }
            }
            if done {
                frames = lines.take().map(|lines| lines.into_frames(1 << 20));
            }
        } else if let Some(reader) = &mut frames {
            reader.feed(piece);
        }
        let Some(reader) = &mut frames else { continue };
        let client_id = served.peer_names[0].clone();
        while let Some(message) = reader.next_message().unwrap() {
            for answer in echo_server(message, &server_id, &client_id) {
                let mut frame = Vec::new();
                answer.encode(&mut frame).unwrap();
                served.frames.push(cut_frame(&frame));
            }
        }
    }
    assert!(done, "the handshake ends");
    assert_eq!(frames.map_or(1, |f| f.buffered()), 0, "bytes left over");
    served
}

/// The image of one written frame, checking its prefix.
fn cut_frame(frame: &[u8]) -> Vec<u8> {
    let nul = frame.iter().position(|&b| b == 0).unwrap();
    let length: usize = std::str::from_utf8(&frame[..nul]).unwrap().parse().unwrap();
    assert_eq!(frame.len(), nul + 1 + length);
    frame[nul + 1..].to_vec()
}

/// Replays connection `conn` of `name` with roe as the server, the
/// client's bytes in the chunks they came in, then all at once, then a byte
/// at a time.
fn replay_server(name: &str, conn: u32, dialect: Dialect) {
    let recording = recording(name);
    let from_client = chunks(&recording, conn, Dir::ToServer);
    let to_client = cut(
        &stream(&recording, conn, Dir::ToClient),
        ends_server_handshake,
    );
    let from_client_cut = cut(&from_client.concat(), ends_client_handshake);
    let (id, names, pid) = identity(&to_client.lines);
    let config = HandshakeConfig::new(id, names, pid).unwrap();
    let all = from_client.concat();
    let bytes: Vec<&[u8]> = all.chunks(1).collect();
    for pieces in [from_client.clone(), vec![all.as_slice()], bytes] {
        let served = serve(&pieces, config.clone());
        assert_eq!(served.dialect, dialect);
        assert_eq!(
            String::from_utf8_lossy(&served.handshake),
            String::from_utf8_lossy(&to_client.lines.concat()),
            "{name}: the handshake"
        );
        let (client_id, _, _) = identity(&from_client_cut.lines);
        assert_eq!(served.peer_names[0], client_id, "{name}: the peer's ID");
        assert_eq!(
            thaw_all(&served.frames),
            thaw_all(&to_client.frames),
            "{name}: the frames"
        );
    }
}

#[test]
fn clientlite_over_ikc0_is_served_as_perl_serves_it() {
    replay_server("lite-ikc0-storable", 1, Dialect::Ikc0);
}

#[test]
fn clientlite_over_the_legacy_handshake_is_served_as_perl_serves_it() {
    replay_server("lite-ikc-legacy", 1, Dialect::Legacy);
}

#[test]
fn a_call_whose_state_returns_undef_gets_no_frame_and_the_reconnection_is_served() {
    replay_server("lite-undef-timeout", 1, Dialect::Ikc0);
    replay_server("lite-undef-timeout", 2, Dialect::Ikc0);
}

#[test]
fn a_full_kernel_over_ikc0_is_served_as_perl_serves_it() {
    replay_server("poe-ikc0-storable", 1, Dialect::Ikc0);
}

#[test]
fn a_full_kernel_over_the_legacy_handshake_is_served_as_perl_serves_it() {
    replay_server("poe-ikc-legacy", 1, Dialect::Legacy);
}

#[test]
fn the_peer_names_are_every_name_the_client_gave_in_order() {
    let recording = recording("poe-ikc-legacy");
    let client = cut(&stream(&recording, 1, Dir::ToServer), ends_client_handshake);
    let server = cut(&stream(&recording, 1, Dir::ToClient), ends_server_handshake);
    let (id, names, pid) = identity(&server.lines);
    let served = serve(
        &[&stream(&recording, 1, Dir::ToServer)],
        HandshakeConfig::new(id, names, pid).unwrap(),
    );
    let iams: Vec<&str> = client
        .lines
        .iter()
        .filter_map(|line| text(line).strip_prefix("IAM "))
        .collect();
    assert_eq!(iams.len(), 3);
    assert_eq!(served.peer_names, iams);
}

// ---------------------------------------------------------------------------
// Client side

/// Replays connection `conn` of `name` with roe as the client: roe's
/// handshake, fed the server's lines, must write the client's.
fn replay_client(name: &str, conn: u32, legacy: bool) {
    let recording = recording(name);
    let client = cut(
        &stream(&recording, conn, Dir::ToServer),
        ends_client_handshake,
    );
    let server = cut(
        &stream(&recording, conn, Dir::ToClient),
        ends_server_handshake,
    );
    let (id, names, pid) = identity(&client.lines);
    let config = HandshakeConfig::new(id, names, pid).unwrap();
    let (mut handshake, mut written) = if legacy {
        ClientHandshake::start_legacy(config)
    } else {
        ClientHandshake::start(config)
    };
    let mut reader = LineReader::new();
    reader.feed(&server.lines.concat());
    let mut peer = None;
    while let Some(line) = reader.next_line().unwrap() {
        match handshake.on_line(line).unwrap() {
            HandshakeStep::Continue { send } => written.extend(send),
            HandshakeStep::Done { send, peer: found } => {
                written.extend(send);
                peer = Some(found);
            }
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&client.lines.concat()),
        "{name}: the client's handshake"
    );
    let peer = peer.expect("the handshake ends");
    let (server_id, mut server_names, server_pid) = identity(&server.lines);
    if legacy {
        // The IAMs came ID first, then the names from the last.
        server_names.reverse();
    } else {
        assert_eq!(peer.pid, Some(server_pid));
    }
    let mut expected = vec![server_id];
    expected.extend(server_names);
    assert_eq!(peer.names, expected);
}

#[test]
fn roe_dials_a_perl_server_as_perl_clients_do() {
    replay_client("lite-ikc0-storable", 1, false);
    replay_client("lite-ikc-legacy", 1, true);
    replay_client("lite-undef-timeout", 2, false);
    replay_client("poe-ikc0-storable", 1, false);
    replay_client("poe-ikc-legacy", 1, true);
}

// ---------------------------------------------------------------------------
// Every recorded message

/// One direction of a recorded connection: its frames' images, and the
/// kinds of message they must decode to.
struct Recorded {
    name: &'static str,
    dir: Dir,
    images: Vec<Vec<u8>>,
    kinds: Vec<&'static str>,
}

/// Every Storable recording's frames, each way.
fn recorded_frames() -> Vec<Recorded> {
    let lite_calls = ["call", "call", "call", "call", "call", "call"];
    let lite_replies = ["post"; 6];
    let mut lite_c2s: Vec<&str> = lite_calls.to_vec();
    lite_c2s.extend(["post", "post", "post", "call", "ping"]);
    let mut lite_s2c: Vec<&str> = lite_replies.to_vec();
    lite_s2c.extend(["post", "post", "error", "post"]);
    let poe_c2s = vec![
        "post",
        "call",
        "ping",
        "post",
        "do_you_have",
        "proxy",
        "call",
    ];
    let poe_s2c = vec!["post", "post", "error", "receipt", "proxy", "post"];
    let mut all = Vec::new();
    for (name, conn, c2s, s2c) in [
        ("lite-ikc0-storable", 1, lite_c2s, lite_s2c),
        (
            "lite-ikc-legacy",
            1,
            vec!["call", "post", "ping"],
            vec!["post", "post"],
        ),
        ("lite-undef-timeout", 1, vec!["call"], vec![]),
        ("lite-undef-timeout", 2, vec!["call"], vec!["post"]),
        ("poe-ikc0-storable", 1, poe_c2s.clone(), poe_s2c.clone()),
        ("poe-ikc-legacy", 1, poe_c2s, poe_s2c),
    ] {
        let recording = recording(name);
        let client = cut(
            &stream(&recording, conn, Dir::ToServer),
            ends_client_handshake,
        );
        let server = cut(
            &stream(&recording, conn, Dir::ToClient),
            ends_server_handshake,
        );
        all.push(Recorded {
            name,
            dir: Dir::ToServer,
            images: client.frames,
            kinds: c2s,
        });
        all.push(Recorded {
            name,
            dir: Dir::ToClient,
            images: server.frames,
            kinds: s2c,
        });
    }
    all
}

#[test]
fn every_recorded_message_decodes_to_its_kind_and_encodes_back_to_the_same_value() {
    let mut count = 0;
    for Recorded {
        name,
        dir,
        images,
        kinds,
    } in recorded_frames()
    {
        assert_eq!(images.len(), kinds.len(), "{name} {dir:?}");
        for (image, kind) in images.iter().zip(kinds) {
            let value = storable::thaw(image).unwrap();
            let message = Message::from_value(value.clone()).unwrap();
            assert_eq!(message.kind(), kind, "{name} {dir:?}: {message:?}");
            assert_eq!(message.to_value(), value, "{name} {dir:?}: {message:?}");
            // Written as a frame and read back, it is the same message.
            let mut frame = Vec::new();
            message.encode(&mut frame).unwrap();
            let mut reader = FrameReader::new();
            reader.feed(&frame);
            assert_eq!(reader.next_message().unwrap(), Some(message));
            count += 1;
        }
    }
    assert_eq!(count, 11 + 10 + 3 + 2 + 1 + 1 + 1 + 7 + 6 + 7 + 6);
}

#[test]
fn recorded_shapes_read_as_ikc_means_them() {
    let poe = recording("poe-ikc0-storable");
    let client = cut(&stream(&poe, 1, Dir::ToServer), ends_client_handshake);
    let messages: Vec<Message> = thaw_all(&client.frames)
        .into_iter()
        .map(|v| Message::from_value(v).unwrap())
        .collect();
    // The call's rsvp names the calling session by its number.
    let Message::Call(call) = &messages[1] else {
        panic!("a call");
    };
    let Spec::Hash(rsvp) = &call.rsvp else {
        panic!("a hash rsvp");
    };
    assert_eq!(rsvp.session, Some(roe_ikc::perl::SessionName::Id(2)));
    assert_eq!(call.wantarray, None);
    // The subscription's rsvp state is opaque and comes back unchanged.
    let Message::DoYouHave(ask) = &messages[4] else {
        panic!("a subscription");
    };
    assert!(ask.rsvp.to_string().contains("IKC:receipt 2 CODE(0x"));
    assert_eq!(
        ask.wanted,
        Spec::Hash(Address::new("EchoServer", "echo", ""))
    );
    // The proxy post runs tell_back with its arguments spread.
    assert_eq!(
        messages[5].target().unwrap().to_string(),
        "poe://EchoServer/echo/tell_back"
    );

    let lite = recording("lite-ikc0-storable");
    let client = cut(&stream(&lite, 1, Dir::ToServer), ends_client_handshake);
    let contexts: Vec<Option<CallContext>> = thaw_all(&client.frames)
        .into_iter()
        .filter_map(|v| match Message::from_value(v).unwrap() {
            Message::Call(call) | Message::Ping(call) => Some(call.wantarray),
            _ => None,
        })
        .collect();
    let scalar = Some(CallContext::Scalar);
    assert_eq!(
        contexts,
        [
            scalar,
            scalar,
            scalar,
            scalar,
            scalar,
            Some(CallContext::List),
            scalar,
            scalar
        ]
    );
}

// ---------------------------------------------------------------------------
// Serializers roe does not speak

#[test]
fn a_clientlite_offering_another_serializer_is_refused_as_the_legacy_handshake_goes() {
    for (name, package) in [
        ("lite-ikc0-freezer", "POE::Component::IKC::Freezer"),
        ("lite-ikc0-freezethaw", "FreezeThaw"),
    ] {
        let recording = recording(name);
        let client = cut(&stream(&recording, 1, Dir::ToServer), ends_client_handshake);
        let config = HandshakeConfig::new("vm-roe", ["EchoServer", "127.0.0.1:603"], 1).unwrap();
        let mut server = ServerHandshake::new(config);
        let mut reader = LineReader::new();
        reader.feed(&client.lines[0]);
        let line = reader.next_line().unwrap().unwrap().to_vec();
        assert_eq!(
            server.on_line(&line).unwrap(),
            HandshakeStep::Continue {
                send: b"NOT\r\n".to_vec()
            },
            "{name}"
        );
        // What ClientLite then says (its legacy handshake), and roe's
        // answers: at its FREEZER, NOT, and ClientLite gives up.
        let freezer = format!("FREEZER {package}");
        let said: [(&[u8], &[u8]); 7] = [
            (b"HELLO", b"IAM vm-roe\r\n"),
            (b"OK", b"IAM 127.0.0.1:603\r\n"),
            (b"OK", b"IAM EchoServer\r\n"),
            (b"OK", b"DONE\r\n"),
            (b"IAM LiteClient", b"OK\r\n"),
            (b"DONE", b""),
            (freezer.as_bytes(), b"NOT\r\n"),
        ];
        for (line, answer) in said {
            assert_eq!(
                server.on_line(line).unwrap(),
                HandshakeStep::Continue {
                    send: answer.to_vec()
                },
                "{name}: {}",
                String::from_utf8_lossy(line)
            );
        }
    }
}

#[test]
fn frames_of_other_serializers_are_refused_and_the_next_frame_is_read() {
    for name in ["lite-ikc0-freezer", "lite-ikc0-freezethaw"] {
        let recording = recording(name);
        let client = cut(&stream(&recording, 1, Dir::ToServer), ends_client_handshake);
        assert!(client.frames.len() > 5);
        let mut reader = FrameReader::new();
        for image in &client.frames {
            reader.feed(format!("{}\0", image.len()).as_bytes());
            reader.feed(image);
            let Err(FrameError::Storable(error)) = reader.next_message() else {
                panic!("{name}: not Storable");
            };
            assert!(matches!(error.reason(), Reason::NotNetworkOrder { .. }));
            assert_eq!(reader.buffered(), 0);
        }
    }
}

// ---------------------------------------------------------------------------
// Damaged frames

/// A deterministic xorshift generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Takes messages until the reader has none, handing each answer or error
/// to `each`; panics if the reader is not done after `cap` calls, as a
/// reader stuck in a loop would not be.
fn drain(reader: &mut FrameReader, cap: usize, mut each: impl FnMut(Result<Message, FrameError>)) {
    for _ in 0..cap {
        match reader.next_message() {
            Ok(None) => return,
            Ok(Some(message)) => each(Ok(message)),
            Err(error) => each(Err(error)),
        }
    }
    panic!("the frame reader is not done after {cap} calls");
}

/// Feeds `bytes` and takes every message, then a good frame after them:
/// every result is an answer or an error, the reader is done within a call
/// per byte, it never holds more than was fed, and when the damaged bytes
/// left it at a frame's boundary (nothing held, no refused body being
/// skipped) the good frame reads as `expected`.
fn read_all(bytes: &[u8], good: &[u8], expected: &Message) -> usize {
    let mut reader = FrameReader::new().max_frame(4096);
    reader.feed(bytes);
    let mut results = 0;
    let mut skipping = false;
    drain(&mut reader, bytes.len() + 2, |result| {
        results += 1;
        skipping |= matches!(result, Err(FrameError::TooLong { .. }));
    });
    assert!(reader.buffered() <= bytes.len());
    let at_boundary = reader.buffered() == 0 && !skipping;
    reader.feed(good);
    let mut after = Vec::new();
    drain(&mut reader, good.len() + 2, |result| after.push(result));
    if at_boundary {
        assert_eq!(after, [Ok(expected.clone())], "after {bytes:?}");
    }
    results + after.len()
}

#[test]
fn every_truncation_and_bit_flip_of_every_recorded_frame_is_an_answer_or_an_error() {
    let expected = Message::reply(
        Spec::Hash(Address::new("k", "s", "t")),
        Value::from("ok"),
        None,
    );
    let good = {
        let mut frame = Vec::new();
        expected.encode(&mut frame).unwrap();
        frame
    };
    // Nothing damaged before it: the good frame alone.
    assert_eq!(read_all(&[], &good, &expected), 1);
    for Recorded {
        name, dir, images, ..
    } in recorded_frames()
    {
        for image in images {
            let mut frame = format!("{}\0", image.len()).into_bytes();
            frame.extend_from_slice(&image);
            // Cut short: nothing yet, or (with the length made to fit) an
            // image that does not thaw.
            for n in 0..frame.len() {
                read_all(&frame[..n], &good, &expected);
            }
            for n in 0..image.len() {
                let mut short = format!("{n}\0").into_bytes();
                short.extend_from_slice(&image[..n]);
                let mut reader = FrameReader::new();
                reader.feed(&short);
                assert!(
                    matches!(reader.next_message(), Err(FrameError::Storable(_))),
                    "{name} {dir:?}: cut to {n}"
                );
            }
            let mut flipped = frame.clone();
            for bit in 0..frame.len() * 8 {
                flipped[bit / 8] ^= 1 << (bit % 8);
                read_all(&flipped, &good, &expected);
                flipped[bit / 8] ^= 1 << (bit % 8);
            }
        }
    }
}

#[test]
fn random_damage_to_whole_recorded_streams_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for name in [
        "lite-ikc0-storable",
        "lite-ikc-legacy",
        "poe-ikc0-storable",
        "poe-ikc-legacy",
    ] {
        let recording = recording(name);
        let from_client = stream(&recording, 1, Dir::ToServer);
        let to_client = stream(&recording, 1, Dir::ToClient);
        for _ in 0..200 {
            let mut bytes = from_client.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            bytes.truncate(bytes.len() - rng.below(bytes.len() / 4));
            damaged_server(&bytes, &mut rng);
            let mut bytes = to_client.clone();
            let at = rng.below(bytes.len());
            bytes[at] = rng.next() as u8;
            damaged_client(&bytes);
        }
    }
}

/// A server fed damaged client bytes, in random pieces.
fn damaged_server(bytes: &[u8], rng: &mut Rng) {
    let config = HandshakeConfig::new("vm-roe", ["EchoServer"], 1).unwrap();
    let mut handshake = ServerHandshake::new(config);
    let mut lines = Some(LineReader::new());
    let mut frames: Option<FrameReader> = None;
    let mut at = 0;
    while at < bytes.len() {
        let n = (1 + rng.below(64)).min(bytes.len() - at);
        let piece = &bytes[at..at + n];
        at += n;
        if let Some(reader) = &mut lines {
            reader.feed(piece);
            let mut done = false;
            loop {
                match reader.next_line() {
                    Ok(Some(line)) => match handshake.on_line(line) {
                        Ok(HandshakeStep::Continue { .. }) => {}
                        Ok(HandshakeStep::Done { .. }) => {
                            done = true;
                            break;
                        }
                        Err(_) => return,
                    },
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            if done {
                frames = Some(lines.take().unwrap().into_frames(1 << 16));
            }
        } else if let Some(reader) = &mut frames {
            reader.feed(piece);
        }
        if let Some(reader) = &mut frames {
            drain(reader, bytes.len() + 2, |_| {});
        }
    }
}

/// An IKC0 client fed a damaged server stream.
fn damaged_client(bytes: &[u8]) {
    let config = HandshakeConfig::new("vm-roe", ["Client"], 1).unwrap();
    let (mut handshake, _) = ClientHandshake::start(config);
    let mut lines = LineReader::new();
    lines.feed(bytes);
    while let Ok(Some(line)) = lines.next_line() {
        match handshake.on_line(line) {
            Ok(HandshakeStep::Continue { .. }) => {}
            Ok(HandshakeStep::Done { .. }) => {
                let mut frames = lines.into_frames(1 << 16);
                drain(&mut frames, bytes.len() + 2, |_| {});
                return;
            }
            Err(_) => return,
        }
    }
}
