//! The Storable codec against core Perl, and against hostile bytes.
//!
//! The Perl tests hand a generated corpus to `tests/data/storable/corpus.pl`
//! (one Perl process per batch): Perl evaluates each case's expression,
//! `nfreeze`s it, and `thaw`s roe's image of the same value, comparing it
//! with its own image thawed, as canonical `Data::Dumper` text. roe then decodes Perl's images and
//! compares them with the values it expects. When `perl -MStorable -e1`
//! fails they fail too (CI has core Perl), unless `ROE_SKIP_PERL=1` is set:
//! then they skip, saying so.
//!
//! The robustness tests need no Perl: every truncation and every single-bit
//! flip of a set of valid images, and random bytes, must decode to a value
//! or an error, never a panic.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
};

use roe_engine::{Map, Str, Value};
use roe_ikc::storable::{Reason, nfreeze, thaw};

/// xorshift64: deterministic, so every run tests the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Str::new(k), v))
            .collect::<Map>(),
    )
}

/// Floats whose shortest text is also Perl's `%.15g`, so that Perl's image
/// and roe's read the same; the others are `floats_from_roe_numify_exactly`'s.
const FLOATS: [f64; 11] = [
    1.5,
    -2.25,
    0.5,
    3.125,
    1234.5678,
    -0.001,
    100.25,
    0.1,
    3.0,
    -7.0,
    1_099_511_627_776.0,
];

/// Scalars at every boundary the encoding has.
fn boundary_scalars() -> Vec<Value> {
    let mut values = vec![Value::Undef, Value::Bool(true), Value::Bool(false)];
    let ints: [i64; 27] = [
        i64::MIN,
        -(1 << 32),
        i64::from(i32::MIN) - 1,
        i64::from(i32::MIN),
        i64::from(i32::MIN) + 1,
        -32769,
        -32768,
        -256,
        -129,
        -128,
        -127,
        -1,
        0,
        1,
        126,
        127,
        128,
        255,
        256,
        32767,
        65536,
        i64::from(i32::MAX) - 1,
        i64::from(i32::MAX),
        i64::from(i32::MAX) + 1,
        1 << 32,
        1 << 53,
        i64::MAX,
    ];
    values.extend(ints.map(Value::Int));
    values.extend(FLOATS.map(Value::Float));
    for text in [
        "", "a", "0", "00", " ", "\t\n\r", "$@\"\\{}", "a\0b", "\x7f",
    ] {
        values.push(s(text));
    }
    for len in [255, 256, 257, 1000] {
        values.push(Value::from("q".repeat(len)));
    }
    for text in ["é", "☺", "𝄞", "日本語", "\u{80}\u{ff}", "mixed é ☺ 𝄞 text"] {
        values.push(s(text));
    }
    // UTF-8 byte lengths 255, 256 and 257.
    values.push(Value::from(format!("{}x", "é".repeat(127))));
    values.push(Value::from("é".repeat(128)));
    values.push(Value::from(format!("{}x", "é".repeat(128))));
    values.push(Value::from("☺".repeat(400)));
    for bytes in [
        b"\xe9".to_vec(),
        b"caf\xe9".to_vec(),
        // Valid UTF-8, but bytes in Perl: stays bytes.
        b"caf\xc3\xa9".to_vec(),
        vec![0xff; 255],
        vec![0x80; 256],
        vec![0, 1, 2, 0xfe],
        (0..=255).collect(),
        // ASCII bytes: text once through Perl.
        b"plain".to_vec(),
        Vec::new(),
    ] {
        values.push(Value::Bytes(bytes));
    }
    values
}

/// A random string of one of three kinds: ASCII, Latin-1 bytes, or text
/// with characters of every UTF-8 length.
fn random_string(rng: &mut Rng) -> Value {
    let len = match rng.below(10) {
        0 => 0,
        1 => 250 + rng.below(10),
        _ => rng.below(20),
    };
    match rng.below(3) {
        0 => Value::from(
            (0..len)
                .map(|_| char::from(rng.below(128) as u8))
                .collect::<String>(),
        ),
        1 => Value::Bytes((0..len).map(|_| rng.below(256) as u8).collect()),
        _ => {
            let chars = [
                'a', 'Z', ' ', 'é', 'ÿ', '\u{80}', '☺', '日', '𝄞', '\0', '"', '$',
            ];
            Value::from((0..len).map(|_| *rng.pick(&chars)).collect::<String>())
        }
    }
}

fn random_key(rng: &mut Rng) -> Str {
    let long = "long key ".repeat(30);
    let keys = [
        "", "a", "event", "params", "é", "ÿ", "☺", "日本", "k\0", "$x", "0", &long,
    ];
    if rng.below(3) == 0 {
        Str::from(format!("k{}", rng.below(1000)))
    } else {
        let key: &&str = rng.pick(&keys);
        Str::new(key)
    }
}

fn random_value(rng: &mut Rng, scalars: &[Value], depth: usize) -> Value {
    let container = depth < 4 && rng.below(3) == 0;
    if !container {
        return if rng.below(2) == 0 {
            rng.pick(scalars).clone()
        } else {
            random_string(rng)
        };
    }
    let len = rng.below(6);
    if rng.below(2) == 0 {
        Value::List(
            (0..len)
                .map(|_| random_value(rng, scalars, depth + 1))
                .collect(),
        )
    } else {
        Value::Map(
            (0..len)
                .map(|_| (random_key(rng), random_value(rng, scalars, depth + 1)))
                .collect(),
        )
    }
}

/// A Perl double-quoted string of `chars`; upgraded to a character string
/// when `flagged`, as a non-ASCII `Str` is in Perl.
fn perl_string(chars: impl Iterator<Item = u32>, flagged: bool) -> String {
    let mut lit = String::from("\"");
    for c in chars {
        match char::from_u32(c) {
            Some(ch @ (' '..='~')) if !"\"\\$@".contains(ch) => lit.push(ch),
            _ => lit.push_str(&format!("\\x{{{c:x}}}")),
        }
    }
    lit.push('"');
    if flagged {
        format!("do {{ my $s = {lit}; utf8::upgrade($s); $s }}")
    } else {
        lit
    }
}

fn perl_text(text: &str) -> String {
    perl_string(text.chars().map(u32::from), !text.is_ascii())
}

/// The Perl expression for a value, as the module documentation maps them.
fn perl_literal(value: &Value) -> String {
    match value {
        Value::Undef => "undef".into(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) => "''".into(),
        Value::Int(i64::MIN) => "(-9223372036854775807 - 1)".into(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Str(text) => perl_text(text),
        Value::Bytes(bytes) => perl_string(bytes.iter().map(|&b| u32::from(b)), false),
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(perl_literal).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} => {}", perl_text(k), perl_literal(v)))
                .collect();
            // `+` so Perl never reads the braces as a block.
            format!("+{{{}}}", entries.join(", "))
        }
        Value::Session(_) | Value::Local(_) => unreachable!("not generated"),
    }
}

/// What a value reads as after a trip through Perl (see the module
/// documentation): numbers beyond 32 bits as text, booleans as `1` and
/// `""`, ASCII bytes as text.
fn perl_view(value: &Value) -> Value {
    match value {
        Value::Int(n) if i32::try_from(*n).is_ok() => Value::Int(*n),
        Value::Int(n) => Value::from(n.to_string()),
        // Integral and in i64 (-2^63..2^63): written as that integer.
        Value::Float(x) if x.fract() == 0.0 && (-(2f64.powi(63))..2f64.powi(63)).contains(x) => {
            perl_view(&Value::Int(*x as i64))
        }
        Value::Float(x) => Value::from(format!("{x:?}")),
        Value::Bool(true) => Value::Int(1),
        Value::Bool(false) => s(""),
        Value::Bytes(bytes) if bytes.is_ascii() => {
            Value::from(String::from_utf8(bytes.clone()).unwrap())
        }
        Value::List(items) => Value::List(items.iter().map(perl_view).collect()),
        Value::Map(map) => Value::Map(map.iter().map(|(k, v)| (k.clone(), perl_view(v))).collect()),
        other => other.clone(),
    }
}

/// Whether Perl's image of `value` is byte for byte roe's: no hash whose
/// key order Perl would choose, and no non-ASCII key (Perl writes those in
/// Latin-1 when it can, roe in UTF-8).
fn same_bytes_as_perl(value: &Value) -> bool {
    match value {
        Value::List(items) => items.iter().all(same_bytes_as_perl),
        Value::Map(map) => {
            map.len() <= 1
                && map
                    .iter()
                    .all(|(k, v)| k.is_ascii() && same_bytes_as_perl(v))
        }
        _ => true,
    }
}

/// The corpus: every boundary scalar alone and in a list, then random
/// nested values.
fn corpus() -> Vec<Value> {
    let scalars = boundary_scalars();
    let mut values = Vec::new();
    for scalar in &scalars {
        values.push(scalar.clone());
        values.push(Value::List(vec![scalar.clone(), Value::Undef]));
    }
    values.push(Value::from("big ".repeat(20_000)));
    values.push(Value::Bytes((0..70_000).map(|i| (i % 251) as u8).collect()));
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for i in 0..250 {
        let value = random_value(&mut rng, &scalars, 1);
        // Mostly containers at the top level, as IKC sends.
        values.push(match (i % 3, value) {
            (0, v @ Value::Map(_)) | (0, v @ Value::List(_)) => v,
            (0, v) => map(vec![("event", s("post")), ("params", Value::List(vec![v]))]),
            (1, v) => Value::List(vec![v, random_value(&mut rng, &scalars, 1)]),
            (_, v) => v,
        });
    }
    values
}

/// Whether core Perl with Storable is here. Without it a Perl test fails,
/// so that a machine without Perl cannot pass them unseen, unless
/// `ROE_SKIP_PERL=1` asks to skip them: then this says so and answers
/// false.
///
/// # Panics
///
/// When `perl -MStorable -e1` fails and `ROE_SKIP_PERL` is not `1`.
fn perl_available() -> bool {
    let ok = Command::new("perl")
        .args(["-MStorable", "-e1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !ok {
        let why = "`perl -MStorable -e1` failed, so there is no core Perl to test against";
        assert!(
            std::env::var_os("ROE_SKIP_PERL").is_some_and(|v| v == "1"),
            "{why}: install Perl (Debian: apt-get install perl), or set ROE_SKIP_PERL=1 to skip \
             the Perl tests"
        );
        eprintln!("skipping (ROE_SKIP_PERL=1): {why}");
    }
    ok
}

/// One case for the Perl script.
struct Case {
    kind: &'static str,
    expr: String,
    /// roe's image, for Perl to thaw and judge.
    image: Option<Vec<u8>>,
}

/// Perl's answer to a case.
#[derive(Debug)]
struct Answer {
    /// `nfreeze` of the expression, or Perl's error.
    perl: Result<Vec<u8>, String>,
    /// Perl's verdict on roe's image: "-", "ok", or what went wrong.
    verdict: String,
}

fn run_perl(cases: &[Case]) -> Vec<Answer> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/storable/corpus.pl");
    let mut child = Command::new("perl")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("perl runs");
    let mut input = String::new();
    for (i, case) in cases.iter().enumerate() {
        assert!(!case.expr.contains(['\t', '\n']), "{}", case.expr);
        let image = case.image.as_deref().map_or_else(|| "-".to_owned(), hex);
        input.push_str(&format!("{i}\t{}\t{}\t{image}\n", case.kind, case.expr));
    }
    let mut stdin = child.stdin.take().unwrap();
    // Written from another thread: Perl answers as it reads, and a full
    // pipe each way would otherwise stall both.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut answers = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let mut fields = line.splitn(3, '\t');
        let id: usize = fields.next().unwrap().parse().unwrap();
        assert_eq!(id, answers.len());
        let perl = fields.next().unwrap();
        let perl = match perl.strip_prefix("ERR:") {
            Some(err) => Err(err.to_owned()),
            None => Ok(unhex(perl)),
        };
        let verdict = fields.next().unwrap().to_owned();
        answers.push(Answer { perl, verdict });
    }
    writer.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success(), "the Perl script failed");
    assert_eq!(answers.len(), cases.len());
    answers
}

#[test]
fn perl_and_roe_read_each_others_images_of_a_generated_corpus() {
    if !perl_available() {
        return;
    }
    let values = corpus();
    let cases: Vec<Case> = values
        .iter()
        .map(|value| Case {
            kind: "dump",
            expr: perl_literal(value),
            image: Some(nfreeze(value).unwrap()),
        })
        .collect();
    let answers = run_perl(&cases);
    let mut same_bytes = 0;
    let mut back = Vec::new();
    for ((value, case), answer) in values.iter().zip(&cases).zip(&answers) {
        // roe's image, thawed by Perl, is the expression's value.
        assert_eq!(answer.verdict, "ok", "Perl on roe's image of {}", case.expr);
        // Perl's image, thawed by roe, is the value as Perl keeps it.
        let image = answer.perl.as_ref().unwrap();
        let decoded = thaw(image).unwrap_or_else(|err| panic!("{}: {err}", case.expr));
        assert_eq!(
            decoded,
            perl_view(value),
            "roe on Perl's image of {}",
            case.expr
        );
        if same_bytes_as_perl(value) {
            assert_eq!(
                hex(image),
                hex(case.image.as_ref().unwrap()),
                "{}",
                case.expr
            );
            same_bytes += 1;
        }
        // And what roe decoded, written again, thaws in Perl to the
        // expression's value: Perl's data survives a trip through roe.
        back.push(Case {
            kind: "dump",
            expr: case.expr.clone(),
            image: Some(nfreeze(&decoded).unwrap()),
        });
    }
    for (case, answer) in back.iter().zip(run_perl(&back)) {
        assert_eq!(
            answer.verdict, "ok",
            "Perl after a trip through roe: {}",
            case.expr
        );
    }
    eprintln!(
        "{} values both ways and back, {same_bytes} of them byte for byte",
        values.len()
    );
    assert!(values.len() >= 300, "{} cases", values.len());
    assert!(
        same_bytes >= 100,
        "only {same_bytes} byte-for-byte comparisons"
    );
}

/// The value a Perl expression should decode to, or a check of the reason
/// it is refused.
type Expected = Result<Value, fn(&Reason) -> bool>;

#[test]
fn perls_shared_and_special_data_decode_as_documented() {
    if !perl_available() {
        return;
    }
    let one_x = Value::List(vec![Value::Int(1), s("x")]);
    let k12 = map(vec![("k", Value::List(vec![Value::Int(1), Value::Int(2)]))]);
    let ok = |v: Value| -> Expected { Ok(v) };
    let expected: Vec<(&str, Expected)> = vec![
        (
            "do { my $a = [1, 'x']; [$a, $a] }",
            ok(Value::List(vec![one_x.clone(), one_x])),
        ),
        (
            "do { my $s = 'y' x 300; [\\$s, \\$s, \\$s] }",
            ok(Value::List(vec![Value::from("y".repeat(300)); 3])),
        ),
        (
            "do { my $h = {k => [1, 2]}; +{a => $h, b => $h, c => [$h, $h]} }",
            ok(map(vec![
                ("a", k12.clone()),
                ("b", k12.clone()),
                ("c", Value::List(vec![k12.clone(), k12])),
            ])),
        ),
        (
            "do { my $x = 5; [\\$x, \\\\$x, \\$x] }",
            ok(Value::List(vec![Value::Int(5); 3])),
        ),
        (
            "do { my $a = [1]; my $b = [$a]; weaken($b->[0]); [$a, $b] }",
            ok(Value::List(vec![
                Value::List(vec![Value::Int(1)]),
                Value::List(vec![Value::List(vec![Value::Int(1)])]),
            ])),
        ),
        (
            "do { my %h = (a => 1, b => 2); lock_keys(%h); delete $h{b}; \\%h }",
            ok(map(vec![("a", Value::Int(1))])),
        ),
        (
            "do { my @a; $a[2] = 1; \\@a }",
            ok(Value::List(vec![Value::Undef, Value::Undef, Value::Int(1)])),
        ),
        ("\\undef", ok(Value::Undef)),
        ("\\!!1", ok(Value::Bool(true))),
        ("[\\!!0]", ok(Value::List(vec![Value::Bool(false)]))),
        ("[!!1, !!0]", ok(Value::List(vec![s("1"), s("")]))),
        ("\\\\'x'", ok(s("x"))),
        (
            "+{ \"\\xe9\" => 1, \"\\xc3\\xa9\" => 2 }",
            ok(map(vec![("é", Value::Int(1)), ("Ã©", Value::Int(2))])),
        ),
        (
            "\"caf\\xc3\\xa9\"",
            ok(Value::Bytes(b"caf\xc3\xa9".to_vec())),
        ),
        (
            "[5000000000, -5000000000, 2**53, 1e20, 0.1 + 0.2, 9**9**9]",
            ok(Value::List(
                // Perl's own text for its numbers: %.15g for a float.
                [
                    "5000000000",
                    "-5000000000",
                    "9.00719925474099e+15",
                    "1e+20",
                    "0.3",
                    "Inf",
                ]
                .into_iter()
                .map(s)
                .collect(),
            )),
        ),
        (
            "do { my $h = {}; $h->{me} = $h; $h }",
            Err(|r| matches!(r, Reason::Cycle { tag: 0 })),
        ),
        (
            "do { my $a = [0]; push @$a, [$a]; $a }",
            Err(|r| matches!(r, Reason::Cycle { tag: 0 })),
        ),
        (
            "do { my $x; $x = \\$x; $x }",
            Err(|r| matches!(r, Reason::Cycle { .. })),
        ),
        (
            "bless({}, 'Foo')",
            Err(|r| matches!(r, Reason::Blessed { class } if class == "Foo")),
        ),
        (
            "[1, bless([], 'Foo::Bar')]",
            Err(|r| matches!(r, Reason::Blessed { class } if class == "Foo::Bar")),
        ),
        (
            "qr/x/",
            Err(|r| matches!(r, Reason::Blessed { class } if class == "Regexp")),
        ),
        (
            "[v1.2.3]",
            Err(|r| matches!(r, Reason::Unsupported { opcode: 0x1d, .. })),
        ),
    ];
    let cases: Vec<Case> = expected
        .iter()
        .map(|(expr, _)| Case {
            kind: "dump",
            expr: (*expr).to_owned(),
            image: None,
        })
        .collect();
    for ((expr, want), answer) in expected.iter().zip(run_perl(&cases)) {
        let image = answer
            .perl
            .unwrap_or_else(|err| panic!("Perl could not freeze {expr}: {err}"));
        match (thaw(&image), want) {
            (Ok(got), Ok(want)) => assert_eq!(&got, want, "{expr}"),
            (Err(err), Err(check)) => assert!(check(err.reason()), "{expr}: {err}"),
            (got, _) => panic!("{expr}: {got:?}"),
        }
    }
}

#[test]
fn floats_from_roe_numify_exactly_in_perl() {
    if !perl_available() {
        return;
    }
    let floats = [
        1e-7,
        -2.5e-10,
        1e300,
        -1e-300,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        0.1 + 0.2,
        1e20,
        -1e16,
        123_456_789.123_456_78,
        2f64.powi(63),
        -(2f64.powi(63)),
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let literals: Vec<String> = floats
        .iter()
        .map(|x| match x {
            x if x.is_nan() => "9**9**9 - 9**9**9".to_owned(),
            x if x.is_infinite() => format!("{}9**9**9", if *x < 0.0 { "-" } else { "" }),
            x => format!("{x:?}"),
        })
        .collect();
    let list = Value::List(floats.map(Value::Float).to_vec());
    let case = Case {
        kind: "num",
        expr: format!("[{}]", literals.join(", ")),
        image: Some(nfreeze(&list).unwrap()),
    };
    let answers = run_perl(&[case]);
    assert_eq!(answers[0].verdict, "ok");
}

/// Valid images: roe's of part of the corpus, and Perl's (written by
/// Storable 3.26) of shared, weak and restricted data.
fn valid_images() -> Vec<Vec<u8>> {
    let mut images: Vec<Vec<u8>> = [
        // [$a, $a], $a = [1]
        "050b02000000020402000000010881040000000002",
        // [$a, $b], $b = [weakened $a]
        "050b020000000204020000000108810402000000011b0000000002",
        // a restricted hash with a placeholder
        "050b1901000000020e1400000001620881000000000161",
        // { "☺" => 1 }
        "050b19000000000108810100000003e298ba",
        // [ 'x', 300, -1, '1.5', undef ]
        "050b02000000050a0178090000012c087f0a03312e3505",
    ]
    .iter()
    .map(|h| unhex(h))
    .collect();
    images.extend(
        corpus()
            .iter()
            .map(|value| nfreeze(value).unwrap())
            .filter(|image| image.len() <= 400)
            .step_by(4),
    );
    images
}

#[test]
fn truncations_and_bit_flips_never_panic() {
    let mut decoded = 0;
    let mut runs = 0;
    for image in valid_images() {
        assert!(thaw(&image).is_ok(), "{}", hex(&image));
        for len in 0..image.len() {
            let err = thaw(&image[..len]).unwrap_err();
            assert!(err.offset() <= len, "{err}");
            runs += 1;
        }
        let mut flipped = image.clone();
        for bit in 0..image.len() * 8 {
            flipped[bit / 8] ^= 1 << (bit % 8);
            match thaw(&flipped) {
                Ok(value) => {
                    decoded += 1;
                    // Whatever decodes can be written (unless its nesting
                    // grows when references are put back).
                    if let Ok(again) = nfreeze(&value) {
                        assert!(thaw(&again).is_ok());
                    }
                }
                Err(err) => assert!(err.offset() <= flipped.len(), "{err}"),
            }
            flipped[bit / 8] ^= 1 << (bit % 8);
            runs += 1;
        }
    }
    eprintln!("{runs} truncated or flipped images, {decoded} of them still decoded");
    assert!(runs > 20_000, "{runs}");
    assert!(decoded > 0);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    // Bytes likely to mean something: every opcode, small lengths, 0xff.
    let alphabet: Vec<u8> = (0..=0x24).chain([0x7f, 0x80, 0xff]).collect();
    for i in 0..200_000 {
        let len = rng.below(48);
        let mut bytes: Vec<u8> = if i % 4 == 0 {
            Vec::new()
        } else {
            vec![0x05, 0x0b]
        };
        for _ in 0..len {
            bytes.push(if rng.below(2) == 0 {
                *rng.pick(&alphabet)
            } else {
                rng.below(256) as u8
            });
        }
        if let Err(err) = thaw(&bytes) {
            assert!(err.offset() <= bytes.len(), "{err}");
        }
    }
}
