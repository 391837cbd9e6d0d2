use super::*;
use crate::rng::Rng;

fn svc(name: &str, attrs: &[(&str, &str)]) -> Service {
    Service::with_attrs(name, attrs.iter().copied()).unwrap()
}

fn pairs_of(attrs: &[(&str, &str)]) -> Vec<(String, String)> {
    attrs
        .iter()
        .map(|&(a, v)| (a.to_owned(), v.to_owned()))
        .collect()
}

/// Every line `input` holds, read in pieces of `piece` bytes, then the
/// unterminated rest.
fn lines(input: &[u8], piece: usize, max: usize) -> Result<Vec<Vec<u8>>> {
    let mut reader = LineReader::with_max(max);
    let mut out = Vec::new();
    for mut chunk in input.chunks(piece) {
        while let Some(line) = reader.read_line(&mut chunk)? {
            out.push(line.to_vec());
        }
        assert!(chunk.is_empty());
    }
    out.extend(reader.finish().map(<[u8]>::to_vec));
    Ok(out)
}

#[test]
fn what_the_perl_client_sends_on_the_new_port() {
    // `quote(name) . ' ' . attr(attr) . "\n"`: a trailing space when there
    // are no attributes.
    assert_eq!(
        NewLine::parse(b"svc \n", false).unwrap(),
        NewLine::Register(svc("svc", &[]))
    );
    assert_eq!(
        NewLine::parse(
            b"tcp!127.0.0.1!5000 auth nane note 'fake''n service'\n",
            false
        )
        .unwrap(),
        NewLine::Register(svc(
            "tcp!127.0.0.1!5000",
            &[("auth", "nane"), ("note", "fake'n service")]
        ))
    );
    // An update of `{}` is a bare newline: a no-op.
    assert_eq!(
        NewLine::parse(b"\n", true).unwrap(),
        NewLine::Update(vec![])
    );
    assert_eq!(
        NewLine::parse(b"auth none\n", true).unwrap(),
        NewLine::Update(pairs_of(&[("auth", "none")]))
    );
}

#[test]
fn refusals_on_the_new_port() {
    let reason = |line: &[u8], registered| NewLine::parse(line, registered).unwrap_err().reason();
    assert_eq!(reason(b"\n", false), "bad syntax");
    assert_eq!(reason(b"  \t \n", false), "bad syntax");
    assert_eq!(reason(b"new a 1\n", false), "bad service name");
    assert_eq!(reason(b"'' a 1\n", false), "bad service name");
    assert_eq!(
        reason(b"'a b' a 1\n", false),
        "bad character in service name"
    );
    assert_eq!(reason(b"a/b\n", false), "bad character in service name");
    assert_eq!(reason(b"svc a\n", false), "odd attribute/value pairs");
    assert_eq!(reason(b"a 1 b\n", true), "odd attribute/value pairs");
    assert_eq!(reason(b"svc caf\xe9\n", false), "not UTF-8");
    assert!(matches!(
        NewLine::parse(b"svc a \xff", false),
        Err(Error::NotUtf8(6))
    ));
    let long = [b'x'; MAX_LINE + 1];
    assert!(matches!(
        NewLine::parse(&long, false),
        Err(Error::LineTooLong { len, max: MAX_LINE }) if len == MAX_LINE + 1
    ));
    assert_eq!(
        Refusal::from(&Error::OddPairs(1)).to_string(),
        "error odd attribute/value pairs"
    );
}

#[test]
fn a_carriage_return_is_data() {
    let NewLine::Register(service) = NewLine::parse(b"svc a 1\r\n", false).unwrap() else {
        panic!("a registration")
    };
    assert_eq!(service.get("a"), Some("1\r"));
    assert_eq!(service.to_string(), "svc a '1\r'");
}

#[test]
fn the_longest_line() {
    let mut line = b"svc a ".to_vec();
    line.resize(MAX_LINE, b'v');
    assert!(NewLine::parse(&line, false).is_ok());
    line.push(b'\n');
    assert!(
        NewLine::parse(&line, false).is_ok(),
        "the newline does not count"
    );
    line.insert(0, b' ');
    assert!(matches!(
        NewLine::parse(&line, false),
        Err(Error::LineTooLong { .. })
    ));
}

#[test]
fn find_lines() {
    assert_eq!(parse_find(b"\n").unwrap(), Query::all());
    assert_eq!(parse_find(b"").unwrap(), Query::all());
    assert_eq!(
        parse_find(b"auth none\n").unwrap(),
        Query::new([("auth", "none")])
    );
    assert!(matches!(
        parse_find(b"auth none x\n"),
        Err(Error::OddPairs(3))
    ));
    assert!(matches!(parse_find(b"\xc3"), Err(Error::NotUtf8(0))));
    assert!(matches!(parse_service(b"\n"), Err(Error::BadSyntax)));
    assert!(matches!(parse_service(b"svc a\n"), Err(Error::OddPairs(1))));
    assert_eq!(parse_service(b"svc\n").unwrap(), svc("svc", &[]));
}

#[test]
fn watch_lines() {
    let watch = |line: &[u8]| Watch::parse(line).unwrap().unwrap();
    assert_eq!(watch(b"watch"), Watch::default());
    assert_eq!(watch(b"watch since 0").since, Some(Revision::ZERO));
    let w = watch(b"watch since 7 auth none");
    assert_eq!(
        (w.since, w.query),
        (Some(Revision::new(7)), Query::new([("auth", "none")]))
    );
    let w = watch(b"'watch' a '*' since 18446744073709551615\n");
    assert_eq!(w.since, Some(Revision::new(u64::MAX)));
    assert_eq!(w.query, Query::new([("a", "*")]));

    assert_eq!(Watch::parse(b"").unwrap(), None);
    assert_eq!(Watch::parse(b"Watch a b").unwrap(), None);
    assert_eq!(Watch::parse(b"watching").unwrap(), None);
    let bad = |line: &[u8]| Watch::parse(line).unwrap_err();
    assert!(matches!(bad(b"watch a"), Error::OddPairs(1)));
    assert!(matches!(bad(b"watch since"), Error::OddPairs(1)));
    for revision in ["-1", "+1", "", "1x", "0x10", "18446744073709551616", " 1"] {
        let line = format!("watch since {}", Quoted(revision));
        assert!(
            matches!(bad(line.as_bytes()), Error::BadRevision(_)),
            "{revision:?}"
        );
    }
    assert!(matches!(
        bad(b"watch since 1 since 2"),
        Error::BadRevision(_)
    ));
    assert!(matches!(bad(b"watch \xff"), Error::NotUtf8(6)));
}

#[test]
fn event_lines() {
    let parse = |line: &[u8]| EventLine::parse(line).unwrap();
    assert_eq!(parse(b"READY\n"), EventLine::Ready);
    assert_eq!(parse(b"00000000\n"), EventLine::Counter(Revision::ZERO));
    assert_eq!(
        parse(b"123456789\n"),
        EventLine::Counter(Revision::new(123_456_789))
    );
    assert_eq!(parse(b"3"), EventLine::Counter(Revision::new(3)));
    assert_eq!(parse(b"error"), EventLine::Error(String::new()));
    assert_eq!(
        parse(b"00000009 remove 'it''s' note 'a\nb'\n"),
        EventLine::Change(Notice {
            revision: Revision::new(9),
            kind: ChangeKind::Remove,
            service: svc("it's", &[("note", "a\nb")]),
        })
    );
    let unexpected = |line: &[u8]| matches!(EventLine::parse(line), Err(Error::Unexpected { .. }));
    for line in [
        &b"ready"[..],
        b"",
        b"READY x",
        b"x 00000001",
        b"1 sync x",
        b"1 added svc",
        b"-1",
    ] {
        assert!(unexpected(line), "{:?}", String::from_utf8_lossy(line));
    }
    assert!(matches!(EventLine::parse(b"1 add"), Err(Error::BadSyntax)));
    assert!(matches!(
        EventLine::parse(b"1 add svc a"),
        Err(Error::OddPairs(1))
    ));
    assert!(matches!(
        EventLine::parse(b"1 add find"),
        Err(Error::BadName(_))
    ));
    // The start of a long unexpected line, not all of it, goes in the error.
    let long = format!("nonsense {}", "x".repeat(1000));
    let Err(Error::Unexpected { found, .. }) = EventLine::parse(long.as_bytes()) else {
        panic!("unexpected")
    };
    assert_eq!(found.len(), 83);
}

#[test]
fn refusal_lines() {
    assert_eq!(
        Refusal::parse(b"error bad syntax\n").unwrap().reason,
        "bad syntax"
    );
    assert!(matches!(
        Refusal::parse(b"errors\n"),
        Err(Error::Unexpected { .. })
    ));
    assert!(matches!(
        Refusal::parse(b"READY\n"),
        Err(Error::Unexpected { .. })
    ));
}

fn random_word(rng: &mut Rng) -> String {
    const ALPHABET: [char; 10] = ['a', 'b', '\'', ' ', '\n', '\t', '\r', '*', 'é', '0'];
    (0..rng.below(5)).map(|_| *rng.pick(&ALPHABET)).collect()
}

fn random_service(rng: &mut Rng) -> Service {
    let name = format!(
        "s{}",
        random_word(rng).replace([' ', '\n', '\t', '\r'], "_")
    );
    let attrs: Vec<(String, String)> = (0..rng.below(4))
        .map(|_| (random_word(rng), random_word(rng)))
        .collect();
    Service::with_attrs(name, attrs).unwrap()
}

#[test]
fn every_line_round_trips() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..2_000 {
        let service = random_service(&mut rng);
        let attrs: Vec<(String, String)> = (0..rng.below(4))
            .map(|_| (random_word(&mut rng), random_word(&mut rng)))
            .collect();
        let revision = Revision::new(rng.next_u64() >> rng.below(64));

        let register = NewLine::Register(service.clone());
        assert_eq!(
            NewLine::parse(register.to_string().as_bytes(), false).unwrap(),
            register
        );
        let update = NewLine::Update(attrs.clone());
        assert_eq!(
            NewLine::parse(update.to_string().as_bytes(), true).unwrap(),
            update
        );

        let query = Query::new(attrs.iter().filter(|(a, _)| a != "since").cloned());
        assert_eq!(parse_find(query.to_string().as_bytes()).unwrap(), query);
        assert_eq!(
            parse_service(service.to_string().as_bytes()).unwrap(),
            service
        );

        let watch = Watch {
            query,
            since: rng.one_in(2).then_some(revision),
        };
        assert_eq!(
            Watch::parse(watch.to_string().as_bytes()).unwrap(),
            Some(watch)
        );

        let kind = *rng.pick(&[ChangeKind::Add, ChangeKind::Update, ChangeKind::Remove]);
        for line in [
            EventLine::Ready,
            EventLine::Counter(revision),
            EventLine::Sync(revision),
            EventLine::Change(Notice {
                revision,
                kind,
                service: service.clone(),
            }),
            EventLine::Error("revision too old".into()),
        ] {
            assert_eq!(EventLine::parse(line.to_string().as_bytes()).unwrap(), line);
        }
    }
}

#[test]
fn lines_end_at_newlines_outside_quotes() {
    let input = b"svc note 'a\nb' x 'it''s\n'\nauth none\n\nlast 'open\nquote";
    let expected: Vec<&[u8]> = vec![
        b"svc note 'a\nb' x 'it''s\n'",
        b"auth none",
        b"",
        b"last 'open\nquote",
    ];
    for piece in 1..=input.len() {
        assert_eq!(
            lines(input, piece, MAX_LINE).unwrap(),
            expected,
            "pieces of {piece}"
        );
    }
}

#[test]
fn a_line_that_is_too_long_stops_the_reader() {
    // Exactly the most is fine, in any pieces.
    let mut input = vec![b'x'; 10];
    input.push(b'\n');
    for piece in 1..=11 {
        assert_eq!(lines(&input, piece, 10).unwrap(), [vec![b'x'; 10]]);
    }
    // One more, and the reader stops as soon as it knows, whatever follows.
    let mut input = vec![b'x'; 11];
    input.extend_from_slice(b"\nok\n");
    for piece in 1..=input.len() {
        assert!(matches!(
            lines(&input, piece, 10),
            Err(Error::LineTooLong { len: 11, max: 10 })
        ));
    }
    let mut reader = LineReader::with_max(10);
    let mut rest = &input[..];
    assert!(reader.read_line(&mut rest).is_err());
    assert!(
        reader.read_line(&mut &b"ok\n"[..]).is_err(),
        "and stays stopped"
    );
    assert_eq!(reader.finish(), None);

    // A quote never closed runs into the limit too, newlines and all.
    let mut hostile = b"svc '".to_vec();
    hostile.extend(std::iter::repeat_n(b'\n', 100));
    assert!(matches!(
        lines(&hostile, 7, 64),
        Err(Error::LineTooLong { .. })
    ));
}

#[test]
fn the_reader_holds_no_more_than_a_line() {
    let mut reader = LineReader::with_max(8);
    let big = vec![b'y'; 1 << 20];
    let mut input = &big[..];
    assert!(reader.read_line(&mut input).is_err());
    assert_eq!(reader.pending(), 0);
    assert!(reader.line.capacity() <= 8);
}

#[test]
fn the_end_of_input_gives_the_last_line() {
    let mut reader = LineReader::new();
    let mut input = &b"a 1\nb 2"[..];
    assert_eq!(reader.read_line(&mut input).unwrap(), Some(&b"a 1"[..]));
    assert_eq!(reader.read_line(&mut input).unwrap(), None);
    assert_eq!(reader.pending(), 3);
    assert_eq!(reader.finish(), Some(&b"b 2"[..]));
    assert_eq!(reader.finish(), None, "once");
    let mut empty = LineReader::new();
    assert_eq!(empty.finish(), None);
}
