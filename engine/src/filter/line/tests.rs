use super::*;
use crate::filter::testing::{Rng, drain, oks, run, same_in_any_chunks};

fn lines(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn too_long(limit: usize) -> FilterError {
    FilterError::TooLong {
        limit,
        length: limit + 1,
    }
}

/// Feeds `chunks` one by one, draining after each, as the POE runs
/// quoted in these tests did.
fn feed_chunks(f: &mut Line, chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, FilterError>> {
    let mut out = Vec::new();
    for chunk in chunks {
        f.feed(chunk);
        out.extend(drain(f));
    }
    out
}

#[test]
fn default_accepts_every_newline_like_poe() {
    // POE 1.370: "a\r\nb\n\rc\rd\ne" gives a, b, c, d; "e" pending.
    let (got, pending) = same_in_any_chunks(Line::new, b"a\r\nb\n\rc\rd\ne");
    assert_eq!(oks(got), lines(&["a", "b", "c", "d"]));
    assert_eq!(pending, b"e");
}

#[test]
fn default_splits_runs_of_newlines_like_poe() {
    // POE 1.370: "a\r\r\nb" gives "a", "" and leaves "b".
    let (got, pending) = same_in_any_chunks(Line::new, b"a\r\r\nb");
    assert_eq!(oks(got), lines(&["a", ""]));
    assert_eq!(pending, b"b");
    // "a\n\r\nx": LFCR, then a lone LF.
    let (got, pending) = same_in_any_chunks(Line::new, b"a\n\r\nx");
    assert_eq!(oks(got), lines(&["a", ""]));
    assert_eq!(pending, b"x");
}

#[test]
fn a_pair_cut_between_feeds_is_one_terminator() {
    // POE 1.370 gives "a", "", "b" here (the race its BUGS section
    // describes); roe gives what the unsplit stream gives.
    let mut f = Line::new();
    let got = feed_chunks(&mut f, &[b"a\r", b"\nb\n"]);
    assert_eq!(oks(got), lines(&["a", "b"]));
    let got = feed_chunks(&mut f, &[b"c\n", b"\rd\n"]);
    assert_eq!(oks(got), lines(&["c", "d"]));
    // The line is handed out before its pair arrives.
    f.feed(b"e\r");
    assert_eq!(f.next_record(), Ok(Some(b"e".to_vec())));
    f.feed(b"\n");
    assert_eq!(f.next_record(), Ok(None));
    assert!(f.take_pending().is_empty());
}

#[test]
fn a_lone_terminator_then_a_non_partner_starts_a_line() {
    let mut f = Line::new();
    let got = feed_chunks(&mut f, &[b"a\r", b"\r", b"b\n"]);
    assert_eq!(oks(got), lines(&["a", "", "b"]));
    // Not taken before the pair completes: still one terminator.
    let mut f = Line::new();
    f.feed(b"x\r");
    f.feed(b"\ny\n");
    assert_eq!(oks(drain(&mut f)), lines(&["x", "y"]));
}

#[test]
fn autodetect_matches_poe() {
    // Each case was run through POE 1.370 with InputLiteral => undef;
    // `|` marks where POE was fed separately.
    type Case = (
        &'static [&'static [u8]],
        &'static [&'static str],
        &'static [u8],
    );
    let cases: &[Case] = &[
        (&[b"a\r", b"\nb\r\nc\n"], &["a", "b"], b"c\n"),
        (&[b"a\r", b"b\rc\r\n"], &["a", "b", "c"], b"\n"),
        (&[b"a\n\rb\n\rc\n"], &["a", "b"], b"c\n"),
        (&[b"a\n", b"\n"], &["a", ""], b""),
        (&[b"a\rb\r\nc"], &["a", "b"], b"\nc"),
        (&[b"a\r", b"\r"], &["a", ""], b""),
        (&[b"a\r\n", b"b\r", b"\nc\r\n"], &["a", "b", "c"], b""),
        (&[b"abc"], &[], b"abc"),
        (&[b"\r", b"\n"], &[""], b""),
    ];
    for (chunks, want, pending) in cases {
        let mut f = Line::autodetect();
        let got = feed_chunks(&mut f, chunks);
        assert_eq!(oks(got), lines(want), "chunks {chunks:?}");
        assert_eq!(f.take_pending(), *pending, "chunks {chunks:?}");
        let input = chunks.concat();
        let (got, rest) = same_in_any_chunks(Line::autodetect, &input);
        assert_eq!(oks(got), lines(want), "input {input:?}");
        assert_eq!(rest, *pending, "input {input:?}");
    }
}

#[test]
fn literal_input_matches_poe() {
    // POE 1.370, Literal => "ab": "xaab" | "aaab" | "ab" gives "xa",
    // "aa", "".
    let mut f = Line::new().input_literal("ab");
    let got = feed_chunks(&mut f, &[b"xaab", b"aaab", b"ab"]);
    assert_eq!(oks(got), lines(&["xa", "aa", ""]));
    // InputLiteral => "\r\n": a lone CR is data; a cut pair still ends.
    let mut f = Line::new().input_literal("\r\n");
    let got = feed_chunks(&mut f, &[b"a\rb\r\n", b"c\r", b"\n"]);
    assert_eq!(oks(got), lines(&["a\rb", "c"]));
    let (got, pending) = same_in_any_chunks(
        || Line::new().input_literal("\r\n"),
        b"a\rb\r\nc\r\n\r\nd\r",
    );
    assert_eq!(oks(got), lines(&["a\rb", "c", ""]));
    assert_eq!(pending, b"d\r");
    let (got, _) = same_in_any_chunks(|| Line::new().input_literal("aab"), b"aaab_aab__aaaab");
    assert_eq!(oks(got), lines(&["a", "_", "__aa"]));
}

#[test]
fn encode_appends_the_output_literal() {
    // POE 1.370: put(["a", "b"]) is 610d0a620d0a.
    let mut f = Line::new();
    let mut out = Vec::new();
    f.encode(b"a".to_vec(), &mut out).unwrap();
    f.encode(b"b".to_vec(), &mut out).unwrap();
    assert_eq!(out, b"a\r\nb\r\n");
    let mut f = Line::new().output_literal("X");
    let mut out = Vec::new();
    f.encode(b"a".to_vec(), &mut out).unwrap();
    f.encode(Vec::new(), &mut out).unwrap();
    assert_eq!(out, b"aXX");
}

#[test]
fn round_trip_in_any_chunks() {
    let mut rng = Rng::new(42);
    let records: Vec<Vec<u8>> = (0..200)
        .map(|_| {
            let len = rng.below(40);
            (0..len).map(|_| b"abc \t\x01\xff"[rng.below(7)]).collect()
        })
        .collect();
    for make in [
        Line::new as fn() -> Line,
        Line::autodetect,
        || Line::new().input_literal("\0\0").output_literal("\0\0"),
        || Line::new().output_literal("\n"),
        || Line::new().output_literal("\n\r"),
    ] {
        let mut f = make();
        let mut wire = Vec::new();
        for r in &records {
            f.encode(r.clone(), &mut wire).unwrap();
        }
        let (got, pending) = same_in_any_chunks(make, &wire);
        assert_eq!(oks(got), records);
        assert!(pending.is_empty());
    }
}

#[test]
fn max_length_refuses_and_resumes_at_the_next_line() {
    // POE 1.370 (MaxLength => 3): "abc\nabcd\nxy\n" gives "abc", an
    // exception, then "xy".
    let make = || Line::new().max_length(3);
    let (got, pending) = same_in_any_chunks(make, b"abc\nabcd\nxy\nabcdefghijkz\nq\n");
    assert_eq!(
        got,
        vec![
            Ok(b"abc".to_vec()),
            Err(too_long(3)),
            Ok(b"xy".to_vec()),
            Err(too_long(3)),
            Ok(b"q".to_vec()),
        ]
    );
    assert!(pending.is_empty());
    // The refused line's cut pair is swallowed too.
    let (got, _) = same_in_any_chunks(make, b"abcdef\r\n\nz\n");
    assert_eq!(
        got,
        vec![Err(too_long(3)), Ok(Vec::new()), Ok(b"z".to_vec())]
    );
    // A line of exactly max_length passes, with any terminator.
    let (got, _) = same_in_any_chunks(make, b"abc\r\nabc\rabc\n\rab");
    assert_eq!(oks(got), lines(&["abc", "abc", "abc"]));
    // With a literal whose start may sit just past the limit.
    let make = || Line::new().max_length(3).input_literal("<>");
    let (got, pending) = same_in_any_chunks(make, b"abc<>abcd<>ab<<>x<y<>");
    assert_eq!(
        got,
        vec![
            Ok(b"abc".to_vec()),
            Err(too_long(3)),
            Ok(b"ab<".to_vec()),
            Ok(b"x<y".to_vec())
        ]
    );
    assert!(pending.is_empty());
    let make = || Line::new().max_length(1);
    let (got, _) = same_in_any_chunks(make, b"\n\nxy\n\n");
    assert_eq!(
        got,
        vec![Ok(vec![]), Ok(vec![]), Err(too_long(1)), Ok(vec![])]
    );
}

#[test]
fn autodetect_learns_from_a_refused_first_line() {
    let make = || Line::autodetect().max_length(2);
    let (got, pending) = same_in_any_chunks(make, b"abcd\r\nab\r\nx\ry\r\nx\r");
    assert_eq!(
        got,
        vec![Err(too_long(2)), Ok(b"ab".to_vec()), Err(too_long(2))]
    );
    assert_eq!(pending, b"x\r");
    let (got, pending) = same_in_any_chunks(make, b"abcd\rab\r\n");
    assert_eq!(got, vec![Err(too_long(2)), Ok(b"ab".to_vec())]);
    assert_eq!(pending, b"\n");
}

#[test]
fn hostile_unterminated_input_stays_bounded() {
    let mut f = Line::new().max_length(1024);
    let chunk = vec![b'x'; 64 * 1024];
    let mut errors = 0;
    for _ in 0..160 {
        // 10 MiB in all, drained after each read as a wheel does.
        f.feed(&chunk);
        for r in drain(&mut f) {
            assert_eq!(r, Err(too_long(1024)));
            errors += 1;
        }
        assert!(
            f.buf.capacity() <= 4096,
            "buffer grew to {}",
            f.buf.capacity()
        );
    }
    assert_eq!(errors, 1);
    f.feed(b"tail\nok\n");
    assert_eq!(oks(drain(&mut f)), lines(&["ok"]));
    // Over-long lines, each refused, none buffered.
    let mut f = Line::new().max_length(1024).input_literal("\r\n");
    let mut line = vec![b'y'; 3000];
    line.extend_from_slice(b"\r\n");
    let wire = line.repeat(500);
    let got = run(&mut f, &wire, || 4096);
    assert_eq!(got.len(), 500);
    assert!(got.iter().all(|r| *r == Err(too_long(1024))));
    assert!(f.buf.capacity() <= 8192);
}

#[test]
fn max_buffer_refuses_what_does_not_fit() {
    // Lines not taken fill the buffer; the line that does not fit is
    // refused whole, and parsing resumes once records are taken.
    let mut f = Line::new().max_length(10).max_buffer(10);
    f.feed(b"abcd\nefgh\nijkl\nmn\n");
    let got = drain(&mut f);
    assert_eq!(
        got,
        vec![
            Ok(b"abcd".to_vec()),
            Ok(b"efgh".to_vec()),
            Err(FilterError::TooLong {
                limit: 10,
                length: 18
            }),
        ]
    );
    f.feed(b"mn\n");
    assert_eq!(oks(drain(&mut f)), lines(&["mn"]));
    // Not draining: refusals in a row coalesce, memory stays put.
    let mut f = Line::new().max_length(64).max_buffer(64);
    for _ in 0..10_000 {
        f.feed(b"0123456789\n");
    }
    assert!(f.buf.len() <= 64 && f.errors.len() <= 64);
    let got = drain(&mut f);
    assert_eq!(oks(got[..5].to_vec()), vec![b"0123456789".to_vec(); 5]);
    assert!(matches!(
        got[5],
        Err(FilterError::TooLong { limit: 64, .. })
    ));
    assert_eq!(got.len(), 6);
    f.feed(b"back\n");
    assert_eq!(oks(drain(&mut f)), lines(&["back"]));
}

#[test]
fn take_pending_returns_untaken_lines_and_the_partial_one() {
    let mut f = Line::new();
    f.feed(b"one\r\ntwo\nthr");
    assert_eq!(f.next_record(), Ok(Some(b"one".to_vec())));
    assert_eq!(f.take_pending(), b"two\nthr");
    assert_eq!(f.next_record(), Ok(None));
    assert!(f.take_pending().is_empty());
    // Usable afterwards, with nothing left of the old stream.
    f.feed(b"\nfour\n");
    assert_eq!(oks(drain(&mut f)), lines(&["", "four"]));
    // A cut pair is not carried across a switch.
    f.feed(b"x\r");
    assert_eq!(f.take_pending(), b"x\r");
    f.feed(b"\ny\n");
    assert_eq!(oks(drain(&mut f)), lines(&["", "y"]));
}

#[test]
fn take_pending_after_autodetect_keeps_the_terminator() {
    let mut f = Line::autodetect();
    f.feed(b"a\r");
    assert_eq!(f.take_pending(), b"a\r");
    f.feed(b"\nb\r");
    assert_eq!(oks(drain(&mut f)), lines(&["\nb"]));
}

#[test]
fn records_become_text_or_bytes() {
    assert_eq!(
        Line::record_value(b"caf\xc3\xa9".to_vec()),
        Value::from("café")
    );
    assert_eq!(
        Line::record_value(b"\xff".to_vec()),
        Value::Bytes(vec![0xff])
    );
}

#[test]
#[should_panic(expected = "must not be empty")]
fn empty_input_literal_is_refused() {
    let _ = Line::new().input_literal("");
}

// POE::Filter's `__param_max` croaks on a zero MaxLength or MaxBuffer,
// and POE::Filter::Line's `new` on a MaxBuffer below MaxLength.

#[test]
#[should_panic(expected = "max_length must be at least 1")]
fn a_zero_max_length_is_refused() {
    let _ = Line::new().max_length(0);
}

#[test]
#[should_panic(expected = "max_buffer must be at least 1")]
fn a_zero_max_buffer_is_refused() {
    let _ = Line::new().max_length(1).max_buffer(0);
}

#[test]
#[should_panic(expected = "does not fit its max_buffer")]
fn a_max_length_above_max_buffer_is_refused() {
    // 1 GiB is above the default 512 MiB buffer.
    let _ = Line::new().max_length(1 << 30);
}

#[test]
#[should_panic(expected = "cannot hold its max_length")]
fn a_max_buffer_below_max_length_is_refused() {
    // 10 bytes cannot hold the default 64 MiB line.
    let _ = Line::new().max_buffer(10);
}

#[test]
fn limits_move_together_in_the_right_order() {
    // Raising both: the buffer first. Lowering both: the line first.
    let raised = Line::new().max_buffer(1 << 30).max_length(1 << 30);
    assert_eq!((raised.max_length, raised.max_buffer), (1 << 30, 1 << 30));
    let lowered = Line::new().max_length(8).max_buffer(8);
    assert_eq!((lowered.max_length, lowered.max_buffer), (8, 8));
}

/// What the filter should make of `input` given whole: POE's regexp
/// match from the start of each line, with lines over `max` refused as
/// soon as `max + 1` bytes of them are known not to be terminated.
/// With `detect`, the first terminator found becomes the literal.
fn reference<'a>(
    input: &'a [u8],
    mut literal: Option<&'a [u8]>,
    detect: bool,
    max: usize,
) -> (Vec<Result<Vec<u8>, FilterError>>, Vec<u8>) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let span = literal.map_or(1, <[u8]>::len);
        let found = find(literal, input, pos, input.len());
        if detect && literal.is_none() {
            literal = found.map(|(start, len, _)| &input[start..start + len]);
        }
        match found {
            Some((start, len, _)) if start - pos <= max => {
                out.push(Ok(input[pos..start].to_vec()));
                pos = start + len;
            }
            Some((start, len, _)) => {
                out.push(Err(too_long(max)));
                pos = start + len;
            }
            None if input.len() - pos >= max + span => {
                out.push(Err(too_long(max)));
                return (out, Vec::new());
            }
            None => return (out, input[pos..].to_vec()),
        }
    }
}

#[test]
fn random_streams_agree_with_the_reference_in_any_chunks() {
    let mut rng = Rng::new(7);
    for _ in 0..40 {
        let input: Vec<u8> = (0..300).map(|_| b"ab\r\n<>"[rng.below(6)]).collect();
        let max = 1 + rng.below(11);
        for literal in [None, Some(&b"<>"[..]), Some(b"\r\n\r"), Some(b"<<")] {
            let make = || match literal {
                None => Line::new().max_length(max),
                Some(lit) => Line::new().input_literal(lit).max_length(max),
            };
            let got = same_in_any_chunks(make, &input);
            let want = reference(&input, literal, false, max);
            assert_eq!(got, want, "{input:?} {literal:?}");
        }
        let got = same_in_any_chunks(|| Line::autodetect().max_length(max), &input);
        assert_eq!(
            got,
            reference(&input, None, true, max),
            "{input:?} detected"
        );
    }
}
