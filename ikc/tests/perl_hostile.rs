//! The `perl` codec against a hostile peer: bad handshake lines, huge or
//! broken length prefixes, cut frames, images that do not thaw, objects
//! and code. Every case is an answer or an error that says what is wrong;
//! none panics, and what the codec holds stays bounded.

use roe_engine::{Map, Value};
use roe_ikc::{
    native::MAX_NAMES,
    perl::{
        Address, ClientHandshake, DEFAULT_MAX_FRAME, FrameError, FrameReader, HandshakeConfig,
        HandshakeError, HandshakeStep, LineError, LineReader, MAX_HANDSHAKE_LINES, MAX_LINE,
        Message, MessageError, ServerHandshake, Sniffed, Spec, sniff, write_frame,
    },
    storable::Reason,
};

fn server() -> ServerHandshake {
    ServerHandshake::new(HandshakeConfig::new("vm-roe", ["Echo", "127.0.0.1:603"], 1).unwrap())
}

fn continued(step: Result<HandshakeStep, HandshakeError>) -> Vec<u8> {
    match step {
        Ok(HandshakeStep::Continue { send }) => send,
        other => panic!("expected to continue, got {other:?}"),
    }
}

/// Bytes from hex digits, spaces ignored.
fn h(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn framed(image: &[u8]) -> Vec<u8> {
    let mut frame = format!("{}\0", image.len()).into_bytes();
    frame.extend_from_slice(image);
    frame
}

// ---------------------------------------------------------------------------
// The handshake

#[test]
fn garbage_first_lines_are_not_sniffed_as_ikc() {
    for first in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\x16\x03\x01\x02\x00",
        b"\0\0\0\0",
        b"setup kernel=a\r\n",
        b" SETUP KERNEL=a\r\n",
        b"HELLO WORLD\r\n",
    ] {
        assert_eq!(sniff(first), Sniffed::Other, "{first:?}");
    }
    let mut long = b"SETUP KERNEL=".to_vec();
    long.resize(MAX_LINE + 1, b'x');
    assert_eq!(sniff(&long), Sniffed::TooLong);
}

#[test]
fn bad_lines_get_perls_answers_and_never_end_the_handshake_early() {
    let mut server = server();
    // In IKC0's phase, Perl's server says nothing to what it does not know,
    // and NOT to a SETUP it cannot serve.
    for line in [
        &b""[..],
        b"\0\xff\xfe",
        b"SETUP",
        b"OK",
        b"WORLD",
        b"IAM x",
        b"FREEZER Storable",
    ] {
        assert_eq!(continued(server.on_line(line)), b"", "{line:?}");
    }
    for line in [
        &b"SETUP KERNEL=a;FREEZER=Storable;PID=-1"[..],
        b"SETUP KERNEL=a b;FREEZER=Storable",
        b"SETUP KERNEL=\xff;FREEZER=Storable",
        b"SETUP FREEZER=Storable",
        b"SETUP KERNEL=a",
        b"SETUP KERNEL=a;FREEZER=POE::Component::IKC::Freezer",
        b"SETUP KERNEL=a;FREEZER=Storable;EVAL=system('rm -rf /')",
    ] {
        assert_eq!(continued(server.on_line(line)), b"NOT\r\n", "{line:?}");
    }
    // In the legacy phases, NOT to anything out of place.
    assert_eq!(continued(server.on_line(b"HELLO")), b"IAM vm-roe\r\n");
    for line in [
        &b"IAM x"[..],
        b"\xff",
        b"SETUP KERNEL=a;FREEZER=Storable",
        b"UP",
    ] {
        assert_eq!(continued(server.on_line(line)), b"NOT\r\n", "{line:?}");
    }
}

#[test]
fn a_handshake_that_never_settles_ends() {
    let mut server = server();
    let mut written = 0;
    let mut error = None;
    for _ in 0..10 * MAX_HANDSHAKE_LINES {
        match server.on_line(b"SETUP KERNEL=a;FREEZER=FreezeThaw") {
            Ok(HandshakeStep::Continue { send }) => written += send.len(),
            Ok(HandshakeStep::Done { .. }) => panic!("FreezeThaw is refused"),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        error,
        Some(HandshakeError::TooManyLines {
            limit: MAX_HANDSHAKE_LINES
        })
    );
    assert_eq!(written, MAX_HANDSHAKE_LINES * b"NOT\r\n".len());
    assert_eq!(server.on_line(b"HELLO"), Err(HandshakeError::Finished));

    // A client fed a server that keeps saying IAM.
    let config = HandshakeConfig::new("vm-roe", ["Client"], 1).unwrap();
    let (mut client, _) = ClientHandshake::start_legacy(config);
    let mut result = Ok(HandshakeStep::Continue { send: Vec::new() });
    for n in 0..=MAX_NAMES {
        result = client.on_line(format!("IAM n{n}").as_bytes());
    }
    assert_eq!(result, Err(HandshakeError::TooManyNames));
}

#[test]
fn a_long_line_is_refused_without_holding_it() {
    let mut lines = LineReader::new();
    let chunk = vec![b'A'; 1024];
    let mut refused = None;
    for _ in 0..1024 {
        lines.feed(&chunk);
        if let Err(e) = lines.next_line() {
            refused = Some(e);
            break;
        }
        assert!(lines.buffered() <= MAX_LINE + chunk.len());
    }
    assert_eq!(refused, Some(LineError::TooLong { limit: MAX_LINE }));
    lines.feed(&chunk);
    assert_eq!(lines.buffered(), 0);
    assert_eq!(
        HandshakeError::from(refused.unwrap()).to_string(),
        format!("a handshake line is longer than {MAX_LINE} bytes")
    );
}

// ---------------------------------------------------------------------------
// Frames

#[test]
fn a_huge_length_prefix_is_refused_and_its_body_never_held() {
    let mut reader = FrameReader::new();
    reader.feed(b"1099511627776\0");
    assert_eq!(
        reader.next_message(),
        Err(FrameError::TooLong {
            limit: DEFAULT_MAX_FRAME,
            length: 1 << 40
        })
    );
    let megabyte = vec![0x55; 1 << 20];
    for _ in 0..64 {
        reader.feed(&megabyte);
        assert_eq!(reader.next_message(), Ok(None));
        assert_eq!(reader.buffered(), 0);
    }
    // A length past u64 saturates, and is refused the same way.
    let mut reader = FrameReader::new();
    reader.feed(b"99999999999999999999\0");
    assert!(matches!(
        reader.next_message(),
        Err(FrameError::TooLong { .. })
    ));
}

#[test]
fn a_length_that_is_not_decimal_digits_is_refused() {
    for (bytes, at) in [
        (&b"-5\0hello"[..], 0),
        (b"+5\0hello", 0),
        (b" 5\0hello", 0),
        (b"0x10\0", 1),
        (b"5 \0hello", 1),
        (b"\xff\xfe", 0),
    ] {
        let mut reader = FrameReader::new();
        reader.feed(bytes);
        assert!(
            matches!(reader.next_message(), Err(FrameError::Malformed { at: a, .. }) if a == at),
            "{bytes:?}"
        );
    }
    // Over-long length text: 21 digits are refused before any NUL comes.
    let mut reader = FrameReader::new();
    reader.feed(&[b'0'; 21]);
    assert!(matches!(
        reader.next_message(),
        Err(FrameError::Malformed { .. })
    ));
    assert!(reader.buffered() <= 21);
}

#[test]
fn a_truncated_frame_waits_and_a_cut_image_is_refused() {
    let mut frame = Vec::new();
    Message::reply(
        Spec::Hash(Address::new("L", "IKCLite", "response0")),
        Value::from("hello"),
        None,
    )
    .encode(&mut frame)
    .unwrap();
    for n in 0..frame.len() {
        let mut reader = FrameReader::new();
        reader.feed(&frame[..n]);
        assert_eq!(reader.next_message(), Ok(None), "cut to {n}");
        reader.feed(&frame[n..]);
        assert!(matches!(reader.next_message(), Ok(Some(Message::Post(_)))));
    }
    // A length that lies short: the image is cut, and does not thaw.
    let nul = frame.iter().position(|&b| b == 0).unwrap();
    let image = &frame[nul + 1..];
    let mut reader = FrameReader::new();
    reader.feed(&framed(&image[..image.len() - 3]));
    let Err(FrameError::Storable(error)) = reader.next_message() else {
        panic!("a cut image");
    };
    assert_eq!(error.reason(), &Reason::Truncated);
}

#[test]
fn images_that_do_not_thaw_say_why() {
    for (image, reason) in [
        // FreezeThaw's text.
        (b"FrT;@1|%4|$5|event".to_vec(), "not 0x05"),
        // Storable in native byte order (freeze, not nfreeze).
        (
            h("04 0b 04 31 32 33 34 04 04 04 08 03 00 00 00 00"),
            "not 0x05",
        ),
        // Nothing at all.
        (Vec::new(), "ends inside a value"),
        // Bytes after the value.
        (h("05 0b 05 05"), "1 bytes after the value"),
        // A hash announcing two billion entries.
        (
            h("05 0b 03 7f ff ff ff"),
            "more than the rest of the image can hold",
        ),
    ] {
        let mut reader = FrameReader::new();
        reader.feed(&framed(&image));
        let error = reader.next_message().unwrap_err();
        assert!(matches!(error, FrameError::Storable(_)), "{error:?}");
        assert!(error.to_string().contains(reason), "{error}");
    }
}

#[test]
fn objects_and_code_are_refused_and_never_run() {
    // bless({}, 'Foo') as a message's params.
    let blessed = h("05 0b 03 00 00 00 02 0a 01 78 00 00 00 05 65 76 65 6e 74
                     04 11 03 46 6f 6f 03 00 00 00 00 00 00 00 06 70 61 72 61 6d 73");
    // A code reference (Storable with Deparse) as params.
    let code = h("05 0b 03 00 00 00 02 0a 01 78 00 00 00 05 65 76 65 6e 74
                  04 1a 0a 03 31 3b 31 00 00 00 06 70 61 72 61 6d 73");
    // An overloaded object frozen by its hooks.
    let hooked = h("05 0b 13 00");
    for (image, reason) in [
        (blessed, "blessed into Foo"),
        (code, "a code reference"),
        (hooked, "its class's hooks"),
    ] {
        let mut reader = FrameReader::new();
        reader.feed(&framed(&image));
        let error = reader.next_message().unwrap_err();
        let FrameError::Storable(storable) = &error else {
            panic!("{error:?}");
        };
        assert!(
            matches!(
                storable.reason(),
                Reason::Blessed { .. } | Reason::Unsupported { .. }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains(reason), "{error}");
        // The stream reads on.
        let mut good = Vec::new();
        write_frame(&Value::Map(Map::new()), &mut good).unwrap();
        reader.feed(&good);
        assert_eq!(
            reader.next_message(),
            Err(FrameError::Message(MessageError::NoEvent))
        );
    }
}

#[test]
fn values_that_are_no_message_say_why() {
    for (value, expected) in [
        (
            Value::List(vec![Value::from(1)]),
            MessageError::NotAHash { found: "a list" },
        ),
        (
            Value::from("poe://x/y/z"),
            MessageError::NotAHash { found: "text" },
        ),
        (Value::Map(Map::new()), MessageError::NoEvent),
    ] {
        let mut frame = Vec::new();
        write_frame(&value, &mut frame).unwrap();
        let mut reader = FrameReader::new();
        reader.feed(&frame);
        assert_eq!(reader.next_message(), Err(FrameError::Message(expected)));
    }
}

#[test]
fn what_has_no_perl_form_is_not_written() {
    let mut out = Vec::new();
    let post = Message::Post(roe_ikc::perl::Post {
        to: Spec::Text("poe://k/s/t".into()),
        params: Value::local(5u32),
        from: None,
    });
    let error = post.encode(&mut out).unwrap_err();
    assert!(matches!(error, FrameError::Storable(_)), "{error:?}");
    assert!(out.is_empty());
    let big = Message::Post(roe_ikc::perl::Post {
        to: Spec::Text("poe://k/s/t".into()),
        params: Value::from("x".repeat(2000)),
        from: None,
    });
    assert!(matches!(
        big.encode_with_limit(1000, &mut out),
        Err(FrameError::TooLong { limit: 1000, .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn random_bytes_after_a_good_handshake_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let mut lines = LineReader::new();
        lines.feed(b"SETUP KERNEL=c;FREEZER=Storable;PID=2\r\n");
        let mut server = server();
        let line = lines.next_line().unwrap().unwrap().to_vec();
        assert!(matches!(
            server.on_line(&line),
            Ok(HandshakeStep::Done { .. })
        ));
        let mut frames = lines.into_frames(4096);
        let n = (next() % 512) as usize;
        let bytes: Vec<u8> = (0..n)
            .map(|i| match next() % 4 {
                // Digits and NULs, so that lengths and images get read.
                0 => b'0' + (next() % 10) as u8,
                1 if i % 7 == 0 => 0,
                _ => next() as u8,
            })
            .collect();
        frames.feed(&bytes);
        // Each answer or error takes at least a byte: a reader still
        // answering after a call per byte is stuck.
        let done = (0..=n).any(|_| matches!(frames.next_message(), Ok(None)));
        assert!(done, "the frame reader is not done after {} calls", n + 1);
        assert!(frames.buffered() <= n);
    }
}
