use super::*;
use crate::native::{
    Frame, FrameError, FrameReader, PROTOCOL_VERSION, Published, Versions, capabilities,
    mac::{client_proof, server_proof},
};

fn config(id: &str, name: &str) -> HandshakeConfig {
    HandshakeConfig::new(id, name).unwrap().pid(42)
}

/// Feeds `bytes` to a reader and decodes the one frame in them, owned.
fn frame_in(bytes: &[u8], after_magic: bool) -> Frame<'static> {
    let mut reader = if after_magic {
        FrameReader::after_magic()
    } else {
        FrameReader::new()
    };
    reader.feed(bytes);
    let frame = reader.next_frame().unwrap().unwrap().into_owned();
    assert_eq!(reader.next_frame(), Ok(None));
    frame
}

fn hello(tweak: impl FnOnce(&mut Frame<'static>)) -> Frame<'static> {
    let (_, bytes) = ClientHandshake::start_with_nonce(config("c-1", "Client"), [1; 16]).unwrap();
    let mut frame = frame_in(&bytes, true);
    tweak(&mut frame);
    frame
}

/// Runs a whole handshake; returns (client's view of the server,
/// server's view of the client), or the first error and who raised it.
fn run(
    client: HandshakeConfig,
    server: HandshakeConfig,
) -> Result<(Peer, Peer), (&'static str, HandshakeError)> {
    let (mut c, hello) = ClientHandshake::start_with_nonce(client, [1; 16]).unwrap();
    let mut s = ServerHandshake::with_nonce(server, [2; 16]);
    let step = s
        .on_frame(frame_in(&hello, true))
        .map_err(|e| ("server", e))?;
    let (welcome, done_server) = match step {
        HandshakeStep::Continue { send } => (send, None),
        HandshakeStep::Done { send, peer } => (send, Some(peer)),
    };
    let HandshakeStep::Done {
        send,
        peer: server_peer,
    } = c
        .on_frame(frame_in(&welcome, false))
        .map_err(|e| ("client", e))?
    else {
        panic!("the client is done after Welcome");
    };
    let client_peer = match done_server {
        Some(peer) => {
            assert!(send.is_empty(), "no proof without a key");
            peer
        }
        None => match s
            .on_frame(frame_in(&send, false))
            .map_err(|e| ("server", e))?
        {
            HandshakeStep::Done { send, peer } => {
                assert!(send.is_empty());
                peer
            }
            step => panic!("{step:?}"),
        },
    };
    assert_eq!(
        c.on_frame(Frame::Ping { id: 0 }),
        Err(HandshakeError::Finished)
    );
    assert_eq!(
        s.on_frame(Frame::Ping { id: 0 }),
        Err(HandshakeError::Finished)
    );
    Ok((server_peer, client_peer))
}

#[test]
fn without_keys_the_handshake_is_hello_then_welcome() {
    let client = config("c-1", "Client").alias("cli").unwrap();
    let server = config("s-1", "Server")
        .publish("echo", ["ping", "pong"])
        .unwrap();
    let (server_peer, client_peer) = run(client, server).unwrap();
    assert_eq!(
        server_peer,
        Peer {
            version: PROTOCOL_VERSION,
            capabilities: 0,
            kernel_id: "s-1".into(),
            names: vec!["Server".into()],
            pid: 42,
            published: vec![Published::new("echo", ["ping", "pong"])],
        }
    );
    assert_eq!(client_peer.names, ["Client", "cli"]);
    assert!(!client_peer.authenticated());
}

#[test]
fn with_the_same_key_both_sides_prove_it() {
    let key = b"k".repeat(32);
    let (a, b) = run(
        config("c-1", "Client").key(key.clone()),
        config("s-1", "Server").key(key),
    )
    .unwrap();
    assert!(a.authenticated() && b.authenticated());
    assert_eq!(a.capabilities, capabilities::PRE_SHARED_KEY);
}

#[test]
fn a_different_key_fails_the_first_proof_checked() {
    // The client checks the server's proof first.
    let got = run(
        config("c-1", "Client").key(b"one".to_vec()),
        config("s-1", "Server").key(b"two".to_vec()),
    );
    assert_eq!(got.unwrap_err(), ("client", HandshakeError::BadProof));
}

#[test]
fn a_key_on_one_side_only_is_refused_by_either() {
    let got = run(config("c", "C"), config("s", "S").key(b"k".to_vec()));
    assert_eq!(got.unwrap_err(), ("server", HandshakeError::KeyRequired));
    let got = run(config("c", "C").key(b"k".to_vec()), config("s", "S"));
    assert_eq!(got.unwrap_err(), ("server", HandshakeError::NoKey));
    // A server that sends no proof and no key bit, to a client with a
    // key; and one that claims the key bit to a client without one.
    let welcome = |capabilities, proof| Frame::Welcome {
        version: 1,
        capabilities,
        kernel_id: "s".into(),
        names: vec!["S".into()],
        pid: 1,
        nonce: [2; 16],
        proof,
        published: vec![],
    };
    let start = |c| ClientHandshake::start_with_nonce(c, [1; 16]).unwrap().0;
    let mut keyed = start(config("c", "C").key(b"k".to_vec()));
    assert_eq!(
        keyed.on_frame(welcome(0, None)),
        Err(HandshakeError::KeyRequired)
    );
    let mut keyed = start(config("c", "C").key(b"k".to_vec()));
    assert_eq!(
        keyed.on_frame(welcome(capabilities::PRE_SHARED_KEY, None)),
        Err(HandshakeError::MissingProof)
    );
    let mut plain = start(config("c", "C"));
    assert_eq!(
        plain.on_frame(welcome(capabilities::PRE_SHARED_KEY, Some([0; 32]))),
        Err(HandshakeError::NoKey)
    );
    let mut plain = start(config("c", "C"));
    assert_eq!(
        plain.on_frame(welcome(0, Some([0; 32]))),
        Err(HandshakeError::UnexpectedProof)
    );
    // Unknown capability bits are ignored: the agreed set is what both
    // know.
    let mut plain = start(config("c", "C"));
    let Ok(HandshakeStep::Done { peer, .. }) = plain.on_frame(welcome(!1, None)) else {
        panic!("unknown bits are ignored");
    };
    assert_eq!(peer.capabilities, 0);
}

#[test]
fn a_bad_client_proof_is_refused() {
    let key = b"k".to_vec();
    let mut s = ServerHandshake::with_nonce(config("s", "S").key(key.clone()), [2; 16]);
    let (_, bytes) =
        ClientHandshake::start_with_nonce(config("c", "C").key(key.clone()), [1; 16]).unwrap();
    assert!(matches!(
        s.on_frame(frame_in(&bytes, true)),
        Ok(HandshakeStep::Continue { .. })
    ));
    // The server's own proof, played back, is not the client's.
    let replayed = server_proof(&key, &[1; 16], &[2; 16]);
    assert_eq!(
        s.on_frame(Frame::Proof { proof: replayed }),
        Err(HandshakeError::BadProof)
    );
    assert_eq!(
        s.on_frame(Frame::Proof { proof: replayed }),
        Err(HandshakeError::Finished)
    );
}

#[test]
fn a_server_awaiting_the_proof_holds_it_out_of_sight() {
    let key = b"k".to_vec();
    let mut s = ServerHandshake::with_nonce(config("s", "S").key(key.clone()), [2; 16]);
    let (_, bytes) =
        ClientHandshake::start_with_nonce(config("c", "C").key(key.clone()), [1; 16]).unwrap();
    assert!(matches!(
        s.on_frame(frame_in(&bytes, true)),
        Ok(HandshakeStep::Continue { .. })
    ));
    let expected = client_proof(&key, &[1; 16], &[2; 16]);
    let shown = format!("{s:?}");
    assert!(shown.contains("ExpectedProof(..)"), "{shown}");
    assert!(!shown.contains(&format!("{expected:?}")), "{shown}");
    // And it is what the server waits for.
    assert!(matches!(
        s.on_frame(Frame::Proof { proof: expected }),
        Ok(HandshakeStep::Done { .. })
    ));
}

#[test]
fn the_server_picks_the_highest_common_version_or_refuses() {
    let mut s = ServerHandshake::with_nonce(config("s", "S"), [2; 16]);
    let step = s.on_frame(hello(|h| {
        if let Frame::Hello { max_version, .. } = h {
            *max_version = 9;
        }
    }));
    let Ok(HandshakeStep::Done { send, peer }) = step else {
        panic!("{step:?}");
    };
    assert_eq!(peer.version, 1);
    assert!(matches!(
        frame_in(&send, false),
        Frame::Welcome { version: 1, .. }
    ));

    let mut s = ServerHandshake::with_nonce(config("s", "S"), [2; 16]);
    let error = s
        .on_frame(hello(|h| {
            if let Frame::Hello {
                max_version,
                min_version,
                ..
            } = h
            {
                (*min_version, *max_version) = (2, 3);
            }
        }))
        .unwrap_err();
    assert_eq!(
        error,
        HandshakeError::NoCommonVersion {
            ours: Versions { min: 1, max: 1 },
            theirs: Versions { min: 2, max: 3 },
        }
    );
    let Frame::Refused { reason } = frame_in(&error.refusal().unwrap(), false) else {
        panic!("a refusal");
    };
    assert_eq!(
        reason,
        "no common protocol version: this side speaks 1..=1, the peer 2..=3"
    );

    let mut c = ClientHandshake::start_with_nonce(config("c", "C"), [1; 16])
        .unwrap()
        .0;
    let welcome = Frame::Welcome {
        version: 2,
        capabilities: 0,
        kernel_id: "s".into(),
        names: vec!["S".into()],
        pid: 1,
        nonce: [0; 16],
        proof: None,
        published: vec![],
    };
    assert_eq!(
        c.on_frame(welcome),
        Err(HandshakeError::VersionNotOffered {
            version: 2,
            offered: Versions::SUPPORTED
        })
    );
}

/// A change to a `Hello`.
type Tweak = fn(&mut Frame<'static>);

#[test]
fn peers_names_are_checked() {
    let cases: [(Tweak, NameError); 5] = [
        (
            |h| {
                if let Frame::Hello { names, .. } = h {
                    names.clear();
                }
            },
            NameError::Empty {
                what: "kernel name",
            },
        ),
        (
            |h| {
                if let Frame::Hello { names, .. } = h {
                    names.push("has space".into());
                }
            },
            NameError::BadChar {
                what: "alias",
                name: "has space".into(),
                ch: ' ',
            },
        ),
        (
            |h| {
                if let Frame::Hello { kernel_id, .. } = h {
                    *kernel_id = "x".repeat(256).into();
                }
            },
            NameError::TooLong {
                what: "kernel id",
                length: 256,
            },
        ),
        (
            |h| {
                if let Frame::Hello { names, .. } = h {
                    names.resize(65, "n".into());
                }
            },
            NameError::TooMany {
                what: "names",
                count: 65,
                max: 64,
            },
        ),
        (
            |h| {
                if let Frame::Hello { published, .. } = h {
                    published.push(Published::new("svc", ["ok", "é"]));
                }
            },
            NameError::BadChar {
                what: "published state",
                name: "é".into(),
                ch: 'é',
            },
        ),
    ];
    for (tweak, expected) in cases {
        let mut s = ServerHandshake::with_nonce(config("s", "S"), [2; 16]);
        assert_eq!(
            s.on_frame(hello(tweak)),
            Err(HandshakeError::BadName(expected))
        );
    }
    // The ASCII letters, digits and `_-:.` are all fine.
    assert!(config("a-b_c:d.9", "Z::Y-x.1_").alias("A").is_ok());
    assert!(matches!(
        config("c", "C").publish("s", [""]),
        Err(NameError::Empty { .. })
    ));
}

#[test]
fn unexpected_frames_and_refusals_end_the_handshake() {
    let mut s = ServerHandshake::with_nonce(config("s", "S"), [2; 16]);
    assert_eq!(
        s.on_frame(Frame::Ping { id: 1 }),
        Err(HandshakeError::UnexpectedFrame {
            expected: "Hello",
            got: "Ping"
        })
    );
    assert_eq!(s.on_frame(hello(|_| {})), Err(HandshakeError::Finished));
    let mut c = ClientHandshake::start_with_nonce(config("c", "C"), [1; 16])
        .unwrap()
        .0;
    let long = "é".repeat(400);
    let Err(HandshakeError::Refused { reason }) = c.on_frame(Frame::Refused {
        reason: long.as_str().into(),
    }) else {
        panic!("a refusal");
    };
    assert_eq!(reason, "é".repeat(256));
    assert_eq!(
        HandshakeError::Refused { reason }.refusal(),
        None,
        "a refusal is not answered"
    );
}

#[test]
fn wrong_magic_is_its_own_error() {
    let mut reader = FrameReader::after_magic();
    reader.feed(b"SETUP KERNEL=perl;FREEZER=Storable");
    let error = HandshakeError::from(reader.next_frame().unwrap_err());
    assert_eq!(error, HandshakeError::WrongMagic);
    assert_eq!(error.refusal(), None);
}

#[test]
fn oversized_identities_are_refused_before_sending() {
    // 200 sessions of 40 states of 200 bytes: over 1.5 MiB of Hello.
    let states: Vec<String> = (0..40).map(|i| format!("{i:0>200}")).collect();
    let mut config = config("c", "C");
    for i in 0..200 {
        config = config
            .publish(&format!("s{i}"), states.iter().map(String::as_str))
            .unwrap();
    }
    assert!(matches!(
        ClientHandshake::start(config),
        Err(HandshakeError::Frame(FrameError::TooLong { .. }))
    ));
}
