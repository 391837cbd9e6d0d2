//! The native wire against hostile bytes: decoding never panics, and never
//! allocates more than the frame's real contents justify.
//!
//! A counting global allocator records, per thread, how many allocations
//! were made and how many bytes they asked for (a `realloc` counts its new
//! size), so a test can measure one decode. Random inputs come from a
//! deterministic xorshift generator, so a failure replays.

#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    borrow::Cow,
    cell::Cell,
};

use roe_ikc::{
    WireValue,
    native::{
        DEFAULT_MAX_FRAME, Frame, FrameError, FrameReader, MAGIC, MAX_VALUE_DEPTH, Malformed,
        Origin, Outcome, Published, SessionRef, Target,
    },
};
use speedy::{IsEof, LittleEndian, Readable, Writable};

/// The system allocator, counting what each thread asks of it.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
    BYTES.with(|n| n.set(n.get() + bytes as u64));
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counters are thread-local `Cell`s with
// const initialisers, which neither allocate nor re-enter the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// What `f` allocated on this thread: (allocations, bytes asked for).
fn measure<R>(f: impl FnOnce() -> R) -> (R, u64, u64) {
    let (a, b) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    let result = f();
    let (a2, b2) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    (result, a2 - a, b2 - b)
}

/// The most a decode may ask for: in proportion to the body (a value is
/// 32 bytes in memory for at least 4 on the wire, and a vector's growth by
/// doubling asks for about twice its final size in all), plus a little.
fn allowance(body: usize) -> u64 {
    32 * body as u64 + 1024
}

/// Decodes `body`, checking that it allocates within the allowance; the
/// result is only whether it decoded.
fn decode_within_allowance(body: &[u8]) -> bool {
    let (ok, _, bytes) = measure(|| Frame::decode(body).is_ok());
    assert!(
        bytes <= allowance(body.len()),
        "{bytes} bytes allocated decoding {} bytes: {body:?}",
        body.len()
    );
    ok
}

/// A deterministic xorshift generator.
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

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Fewer than `max` random bytes.
    fn some_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        self.bytes(n)
    }

    fn text(&mut self) -> Cow<'static, str> {
        const PIECES: [&str; 6] = ["a", "Z9", "_", "é", "::", "x.y-z"];
        let n = self.below(4);
        (0..n)
            .map(|_| PIECES[self.below(PIECES.len())])
            .collect::<String>()
            .into()
    }

    fn texts(&mut self) -> Vec<Cow<'static, str>> {
        (0..self.below(4)).map(|_| self.text()).collect()
    }

    fn value(&mut self, depth: usize) -> WireValue<'static> {
        match self.below(if depth == 0 { 7 } else { 9 }) {
            0 => WireValue::Undef,
            1 => WireValue::Bool(self.below(2) == 1),
            2 => WireValue::Int(self.next() as i64),
            // Finite floats only: NaN is not equal to itself.
            3 => WireValue::Float((self.next() as i32) as f64 / 16.0),
            4 => WireValue::Str(self.text()),
            5 => WireValue::Bytes(Cow::Owned(self.some_bytes(5))),
            6 => WireValue::Session {
                kernel: self.next() as u16,
                number: self.next(),
            },
            7 => WireValue::List((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            _ => WireValue::Map(
                (0..self.below(4))
                    .map(|_| (self.text(), self.value(depth - 1)))
                    .collect(),
            ),
        }
    }

    fn values(&mut self) -> Vec<WireValue<'static>> {
        (0..self.below(4)).map(|_| self.value(4)).collect()
    }

    fn session(&mut self) -> SessionRef<'static> {
        if self.below(2) == 0 {
            SessionRef::Alias(self.text())
        } else {
            SessionRef::Number(self.next())
        }
    }

    fn target(&mut self) -> Target<'static> {
        Target {
            session: self.session(),
            state: self.text(),
        }
    }

    fn origin(&mut self) -> Option<Origin<'static>> {
        (self.below(2) == 0).then(|| Origin {
            session: self.session(),
            state: (self.below(2) == 0).then(|| self.text()),
        })
    }

    fn published(&mut self) -> Vec<Published<'static>> {
        (0..self.below(3))
            .map(|_| Published {
                session: self.text(),
                states: self.texts(),
            })
            .collect()
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.next() as u8)
    }

    fn outcome(&mut self) -> Outcome<'static> {
        match self.below(5) {
            0 => Outcome::Returned(self.value(4)),
            1 => Outcome::NoHandler,
            2 => Outcome::NoSession,
            3 => Outcome::Died(self.text()),
            _ => Outcome::Refused(self.text()),
        }
    }

    /// A random frame of kind `kind` (0 to 15, the tags; see [`KINDS`]).
    fn frame(&mut self, kind: usize) -> Frame<'static> {
        match kind {
            0 => Frame::Hello {
                max_version: self.next() as u16,
                min_version: self.next() as u16,
                capabilities: self.next(),
                kernel_id: self.text(),
                names: self.texts(),
                pid: self.next() as u32,
                nonce: self.array(),
                published: self.published(),
            },
            1 => Frame::Welcome {
                version: self.next() as u16,
                capabilities: self.next(),
                kernel_id: self.text(),
                names: self.texts(),
                pid: self.next() as u32,
                nonce: self.array(),
                proof: (self.below(2) == 0).then(|| self.array()),
                published: self.published(),
            },
            2 => Frame::Proof {
                proof: self.array(),
            },
            3 => Frame::Refused {
                reason: self.text(),
            },
            4 => Frame::Post {
                to: self.target(),
                args: self.values(),
                from: self.origin(),
            },
            5 => Frame::Call {
                id: self.next(),
                to: self.target(),
                args: self.values(),
                from: self.origin(),
            },
            6 => Frame::Reply {
                id: self.next(),
                outcome: self.outcome(),
            },
            7 => Frame::Publish {
                session: self.text(),
                states: self.texts(),
            },
            8 => Frame::Retract {
                session: self.text(),
                states: self.texts(),
            },
            9 => Frame::Subscribe {
                id: self.next(),
                session: self.text(),
                state: (self.below(2) == 0).then(|| self.text()),
            },
            10 => Frame::Subscribed {
                id: self.next(),
                accepted: self.below(2) == 0,
            },
            11 => Frame::Unsubscribe {
                session: self.text(),
            },
            12 => Frame::Ping { id: self.next() },
            13 => Frame::Pong { id: self.next() },
            14 => Frame::Goodbye {
                reason: self.text(),
            },
            _ => Frame::Error {
                op: self.text(),
                message: self.text(),
            },
        }
    }
}

/// The number of frame kinds (tags 0 to 15).
const KINDS: usize = 16;

fn encoded(frame: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut out).unwrap();
    out
}

/// Frames of every kind, with every outcome, session reference and option
/// present and absent among them.
fn samples() -> Vec<Frame<'static>> {
    let mut rng = Rng(0x5eed);
    let mut frames: Vec<Frame<'static>> = (0..8)
        .flat_map(|_| (0..KINDS).collect::<Vec<_>>())
        .map(|kind| rng.frame(kind))
        .collect();
    let nested = WireValue::Map(vec![(
        "k".into(),
        WireValue::List(vec![
            WireValue::Str("é".into()),
            WireValue::Bytes(vec![0, 255].into()),
            WireValue::Session {
                kernel: 2,
                number: 9,
            },
        ]),
    )]);
    for outcome in [
        Outcome::Returned(nested.clone()),
        Outcome::NoHandler,
        Outcome::NoSession,
        Outcome::Died("boom".into()),
        Outcome::Refused("not published".into()),
    ] {
        frames.push(Frame::Reply { id: 1, outcome });
    }
    frames.push(Frame::Call {
        id: 2,
        to: Target {
            session: SessionRef::Number(4),
            state: "go".into(),
        },
        args: vec![nested, WireValue::Float(-0.5), WireValue::Bool(true)],
        from: Some(Origin {
            session: SessionRef::Alias("me".into()),
            state: Some("back".into()),
        }),
    });
    frames
}

#[test]
fn random_frames_of_every_kind_round_trip_in_any_chunks() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let frames: Vec<Frame<'static>> = (0..3000).map(|i| rng.frame(i % KINDS)).collect();
    let mut wire = MAGIC.to_vec();
    for frame in &frames {
        let bytes = encoded(frame);
        // Decoded on its own, borrowed from the body.
        assert_eq!(&Frame::decode(&bytes[4..]).unwrap(), frame);
        wire.extend(bytes);
    }
    let mut reader = FrameReader::after_magic();
    let mut got = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let n = (1 + rng.below(300)).min(wire.len() - at);
        reader.feed(&wire[at..at + n]);
        at += n;
        while let Some(frame) = reader.next_frame().unwrap() {
            got.push(frame.into_owned());
        }
    }
    assert_eq!(got, frames);
    assert_eq!(reader.buffered(), 0);
}

#[test]
fn decoded_text_is_borrowed_from_the_read_buffer() {
    let frame = Frame::Post {
        to: Target::new("echo", "ping"),
        args: vec![WireValue::Str("hello".into())],
        from: Some(Origin {
            session: SessionRef::Alias("me".into()),
            state: Some("pong".into()),
        }),
    };
    let mut reader = FrameReader::new();
    reader.feed(&encoded(&frame));
    let Some(Frame::Post { to, args, from }) = reader.next_frame().unwrap() else {
        panic!("a post");
    };
    assert!(matches!(
        to.session,
        SessionRef::Alias(Cow::Borrowed("echo"))
    ));
    assert!(matches!(to.state, Cow::Borrowed("ping")));
    assert!(matches!(&args[0], WireValue::Str(Cow::Borrowed("hello"))));
    assert!(matches!(from.unwrap().state, Some(Cow::Borrowed("pong"))));
}

#[test]
fn every_truncation_and_bit_flip_of_every_kind_is_ok_or_err() {
    let mut kinds_seen = [false; KINDS];
    for frame in samples() {
        let bytes = encoded(&frame);
        let body = &bytes[4..];
        kinds_seen[u32::from_le_bytes(body[..4].try_into().unwrap()) as usize] = true;
        assert!(decode_within_allowance(body));
        for n in 0..body.len() {
            assert!(!decode_within_allowance(&body[..n]), "{frame:?} cut to {n}");
        }
        let mut flipped = body.to_vec();
        for bit in 0..body.len() * 8 {
            flipped[bit / 8] ^= 1 << (bit % 8);
            decode_within_allowance(&flipped);
            flipped[bit / 8] ^= 1 << (bit % 8);
        }
        // The same through a reader, prefix and all: flips in the prefix
        // too, each on a fresh reader. What the reader does follows from
        // the length prefix alone, flipped or not.
        for bit in 0..bytes.len() * 8 {
            let mut wire = bytes.clone();
            wire[bit / 8] ^= 1 << (bit % 8);
            let mut reader = FrameReader::new().max_frame(4096);
            reader.feed(&wire);
            let length = u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize;
            let result = reader.next_frame().map(|frame| frame.is_some());
            let at = format!("{frame:?}, bit {bit} flipped");
            if length > 4096 {
                // Refused from its prefix; the body held is dropped at the
                // next call, and nothing is read from it.
                assert_eq!(
                    result,
                    Err(FrameError::TooLong {
                        limit: 4096,
                        length
                    }),
                    "{at}"
                );
                assert_eq!(reader.next_frame(), Ok(None), "{at}");
                assert_eq!(reader.buffered(), 0, "{at}");
            } else if length > wire.len() - 4 {
                // Announces more than arrived: waits, keeping it all.
                assert_eq!(result, Ok(false), "{at}");
                assert_eq!(reader.buffered(), wire.len(), "{at}");
            } else {
                // A whole body: decoded (or refused) and dropped; what
                // follows it waits as the next frame.
                assert!(
                    !matches!(result, Ok(false) | Err(FrameError::TooLong { .. })),
                    "{at}: {result:?}"
                );
                assert_eq!(reader.buffered(), wire.len() - 4 - length, "{at}");
            }
        }
    }
    assert_eq!(kinds_seen, [true; KINDS], "a sample of every kind");
}

#[test]
fn random_bytes_are_ok_or_err() {
    let mut rng = Rng(0xdead_beef);
    let mut decoded = 0;
    for i in 0..20_000 {
        let mut body = rng.some_bytes(160);
        // Half start with a real tag, so the fields get read too.
        if i % 2 == 0 && body.len() >= 4 {
            body[..4].copy_from_slice(&(rng.below(KINDS) as u32).to_le_bytes());
            // Keep claimed lengths small sometimes, so some bodies decode.
            for b in body.iter_mut().skip(4) {
                if rng.below(3) == 0 {
                    *b = 0;
                }
            }
        }
        decoded += usize::from(decode_within_allowance(&body));
    }
    assert!(decoded > 0, "some random bodies are frames");

    // A stream of garbage after the magic: every call returns, the buffer
    // stays within the limit, and the whole input is consumed.
    let mut reader = FrameReader::after_magic().max_frame(512);
    reader.feed(&MAGIC);
    let garbage = rng.bytes(200_000);
    for chunk in garbage.chunks(97) {
        reader.feed(chunk);
        while !matches!(reader.next_frame(), Ok(None)) {}
        assert!(reader.buffered() <= 512 + 4 + 97);
    }
}

/// A `Post` to `x`/`y` whose arguments are `args` (already encoded: a
/// count, then values).
fn post_body(args: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(4u32.to_le_bytes()); // Post
    body.extend(0u32.to_le_bytes()); // SessionRef::Alias
    body.extend(1u32.to_le_bytes());
    body.push(b'x');
    body.extend(1u32.to_le_bytes());
    body.push(b'y');
    body.extend(args);
    body
}

/// Pads `body` to `len` bytes with zeros (each four a `WireValue::Undef`).
fn padded(mut body: Vec<u8>, len: usize) -> Vec<u8> {
    body.resize(len, 0);
    body
}

#[test]
fn claims_of_2_pow_32_elements_in_100_bytes_allocate_nothing() {
    let max = u32::MAX.to_le_bytes();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // The arguments claim 2^32 - 1 values.
    cases.push(padded(post_body(&max), 100));
    // One argument, a list claiming 2^32 - 1 values; and a map.
    for tag in [6u32, 7] {
        let mut args = 1u32.to_le_bytes().to_vec();
        args.extend(tag.to_le_bytes());
        args.extend(max);
        cases.push(padded(post_body(&args), 100));
    }
    // A string argument claiming 4 GiB of text.
    let mut args = 1u32.to_le_bytes().to_vec();
    args.extend(4u32.to_le_bytes());
    args.extend(max);
    cases.push(padded(post_body(&args), 100));
    // A Hello whose names claim 2^32 - 1 entries.
    let mut hello = 0u32.to_le_bytes().to_vec();
    hello.extend([1, 0, 1, 0]); // versions
    hello.extend(0u64.to_le_bytes());
    hello.extend(1u32.to_le_bytes());
    hello.push(b'k');
    hello.extend(max);
    cases.push(padded(hello, 100));

    for body in cases {
        assert_eq!(body.len(), 100);
        let (result, allocations, bytes) = measure(|| Frame::decode(&body).map(|_| ()));
        assert_eq!(
            result,
            Err(FrameError::Malformed(Malformed::LengthPastEnd {
                claimed: u32::MAX
            }))
        );
        assert_eq!((allocations, bytes), (0, 0), "{body:?}");
        // Through a reader: its buffer, and nothing more.
        let mut wire = 100u32.to_le_bytes().to_vec();
        wire.extend(&body);
        let (result, _, bytes) = measure(|| {
            let mut reader = FrameReader::new();
            reader.feed(&wire);
            reader.next_frame().map(|_| ())
        });
        assert!(result.is_err());
        assert!(bytes <= 256, "{bytes} bytes");
    }
}

/// A body of `levels` nested one-argument lists, each claiming as many
/// elements as the rest of a `len`-byte body could hold, the innermost
/// followed by `Undef`s to the end: it decodes to nothing (the counts are
/// lies), but every count passes the "does the rest hold it" test.
fn nested_claims(levels: usize, len: usize) -> Vec<u8> {
    let mut body = post_body(&1u32.to_le_bytes());
    for _ in 0..levels {
        body.extend(6u32.to_le_bytes());
        let rest = len - body.len() - 4;
        body.extend(((rest / 4) as u32).to_le_bytes());
    }
    padded(body, len)
}

#[test]
fn nested_claims_cost_only_what_the_frame_holds() {
    // Within the depth limit: the innermost list really reads its
    // `Undef`s, and only they cost memory.
    let body = nested_claims(MAX_VALUE_DEPTH - 1, 4096);
    let (result, _, ours) = measure(|| Frame::decode(&body).map(|_| ()));
    assert_eq!(result, Err(FrameError::Truncated));
    assert!(ours <= allowance(body.len()), "{ours} bytes");
    // Deeper than the limit: refused before reading past it.
    let body = nested_claims(500, 4096);
    let (result, allocations, _) = measure(|| Frame::decode(&body).map(|_| ()));
    assert_eq!(result, Err(FrameError::Malformed(Malformed::TooDeep)));
    assert_eq!(allocations, 0);
    // And 100 bytes of it ask only for room for the two elements it really
    // holds (the innermost `Undef`, and the list holding it): two vectors
    // of the smallest capacity, four values each.
    let body = nested_claims(9, 100);
    let (result, _, bytes) = measure(|| Frame::decode(&body).map(|_| ()));
    assert_eq!(result, Err(FrameError::Truncated));
    assert!(bytes <= 512, "{bytes} bytes");
}

/// [`WireValue`] as speedy's derived reader would read it (`WireValue`'s
/// own reader is the bounded one): the same variants in the same order.
#[derive(Debug, speedy::Readable)]
#[allow(dead_code)] // Only read, to measure the reading.
enum Derived<'a> {
    Undef,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    List(Vec<Derived<'a>>),
    Map(Vec<(Cow<'a, str>, Derived<'a>)>),
    Session { kernel: u16, number: u64 },
}

/// Why the frames are not read by speedy's derived readers: speedy
/// reserves room for a claimed count once the rest of the input could hold
/// it, so each level of the same nested frame reserves again. If this
/// fails, speedy no longer does that, and `native/decode.rs` may be
/// simpler.
#[test]
fn speedys_derived_reader_would_reserve_from_each_claim() {
    let body = nested_claims(MAX_VALUE_DEPTH - 1, 4096);
    // The arguments as speedy's derived reader reads them: a list of
    // values.
    let args = &body[post_body(&[]).len()..];
    let (result, _, theirs) = measure(|| {
        Vec::<Derived<'_>>::read_from_buffer_with_ctx(LittleEndian::default(), args).is_ok()
    });
    assert!(!result);
    let (_, _, ours) = measure(|| Frame::decode(&body).map(|_| ()));
    assert!(
        theirs > 1024 * 1024 && theirs > 10 * ours,
        "speedy: {theirs} bytes, ours: {ours}"
    );
}

/// `WireValue`'s own `speedy::Readable` is the bounded reader, so a peer's
/// bytes read with `WireValue::read_from_buffer` (or the engine's `Speedy`
/// filter) cost what a frame's do.
#[test]
fn a_hostile_value_read_through_speedys_api_is_refused_cheaply() {
    let read = |bytes: &[u8]| {
        measure(|| {
            WireValue::read_from_buffer_with_ctx(LittleEndian::default(), bytes)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    };
    // The nested claims that make speedy's derived reader reserve over
    // 1 MiB (above), as one value: each level claims what the rest could
    // hold, and only what is really there costs memory.
    let args = nested_claims(MAX_VALUE_DEPTH - 1, 4096);
    let value = &args[post_body(&[]).len() + 4..];
    let (result, _, bytes) = read(value);
    assert!(result.is_err());
    assert!(bytes <= allowance(value.len()), "{bytes} bytes");
    // A million lists, each holding the next: refused at the depth limit,
    // with no recursion past it (the derived reader would recurse a
    // million calls deep and overflow the stack).
    let deep: Vec<u8> = [6u32, 1]
        .iter()
        .cycle()
        .take(2_000_000)
        .flat_map(|n| n.to_le_bytes())
        .collect();
    let (result, _, bytes) = read(&deep);
    assert_eq!(
        result,
        Err(format!("values nest deeper than {MAX_VALUE_DEPTH}"))
    );
    assert!(bytes <= 1024, "{bytes} bytes");
    // A claim of 2^32 - 1 elements, refused before reserving anything.
    let mut claim = 6u32.to_le_bytes().to_vec();
    claim.extend(u32::MAX.to_le_bytes());
    let (result, _, bytes) = read(&claim);
    assert_eq!(
        result,
        Err(format!(
            "a length of {} runs past the end of the frame",
            u32::MAX
        ))
    );
    assert!(bytes <= 1024, "{bytes} bytes");
    // From a stream, which cannot say how much remains: the claim is
    // believed, but nothing is reserved for it; the reading stops where
    // the bytes do.
    let (result, _, bytes) = measure(|| {
        WireValue::read_from_stream_unbuffered_with_ctx(LittleEndian::default(), &claim[..])
            .map(|_| ())
            .map_err(|e| e.is_eof())
    });
    assert_eq!(result, Err(true));
    assert!(bytes <= 1024, "{bytes} bytes");
    // And a good value still reads, borrowed.
    let good = WireValue::List(vec![WireValue::Str("hi".into()), WireValue::Int(7)]);
    let wire = good.write_to_vec_with_ctx(LittleEndian::default()).unwrap();
    let back = WireValue::read_from_buffer_with_ctx(LittleEndian::default(), &wire).unwrap();
    assert_eq!(back, good);
}

#[test]
fn a_2_gib_length_prefix_is_refused_before_buffering() {
    let mut reader = FrameReader::new();
    reader.feed(&(1u32 << 31).to_le_bytes());
    assert_eq!(
        reader.next_frame(),
        Err(FrameError::TooLong {
            limit: DEFAULT_MAX_FRAME,
            length: 1 << 31,
        })
    );
    // 64 MiB of its body arrive and are dropped as they come.
    let chunk = vec![0xab; 1024 * 1024];
    let ((), _, bytes) = measure(|| {
        for _ in 0..64 {
            reader.feed(&chunk);
            assert_eq!(reader.next_frame(), Ok(None));
            assert_eq!(reader.buffered(), 0);
        }
    });
    assert!(bytes <= 4096, "{bytes} bytes allocated while skipping");
}

#[test]
fn the_wrong_magic_is_refused_at_its_first_byte() {
    let mut reader = FrameReader::after_magic();
    reader.feed(b"S");
    assert_eq!(reader.next_frame(), Err(FrameError::WrongMagic));
    reader.feed(&[0; 4096]);
    assert_eq!(reader.buffered(), 0);
    assert_eq!(reader.next_frame(), Err(FrameError::WrongMagic));
}

#[test]
fn values_nested_past_the_limit_are_not_sent() {
    let mut v = WireValue::Undef;
    for _ in 0..=MAX_VALUE_DEPTH {
        v = WireValue::List(vec![v]);
    }
    let frame = Frame::Reply {
        id: 1,
        outcome: Outcome::Returned(v),
    };
    let mut out = vec![7];
    assert!(matches!(
        frame.encode(&mut out),
        Err(FrameError::Unencodable { .. })
    ));
    assert_eq!(out, [7]);
}
