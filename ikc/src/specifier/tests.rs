use roe_engine::{Map, Str, Value};

use super::*;

/// IKC's expected hash for a text, as `specifier_parse` returns it:
/// `kernel`, `session`, `state` (empty when absent), `args` when given.
fn ikc_hash(kernel: &str, session: &str, state: &str, args: Option<&str>) -> Map {
    let mut map = Map::new();
    map.insert(Str::new("kernel"), Value::from(kernel));
    map.insert(Str::new("session"), Value::from(session));
    map.insert(Str::new("state"), Value::from(state));
    if let Some(args) = args {
        map.insert(Str::new("args"), Value::from(args));
    }
    map
}

/// Reads `text`, checks the result against IKC's expected hash, and
/// checks that the canonical form reads back as the same specifier.
fn check_ikc_form(text: &str, kernel: &str, session: &str, state: &str, args: Option<&str>) {
    let spec: Specifier = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(
        spec.to_map(),
        ikc_hash(kernel, session, state, args),
        "{text:?}"
    );
    assert_eq!(spec.kernel, Kernel::from(kernel), "{text:?}");
    assert_eq!(spec.session, non_empty(session.into()), "{text:?}");
    assert_eq!(spec.state, non_empty(state.into()), "{text:?}");
    assert_eq!(spec.arg, args.map(str::to_owned), "{text:?}");
    assert_eq!(spec.to_string().parse::<Specifier>(), Ok(spec), "{text:?}");
}

/// IKC 0.2402's `t/05_specifier.t`, case by case and in its order: the
/// text, and the hash `specifier_parse` returns for it.
macro_rules! ikc_forms {
    ($($name:ident: $text:literal => ($kernel:literal, $session:literal, $state:literal $(, $args:literal)?);)*) => {
        $(
            #[test]
            fn $name() {
                check_ikc_form($text, $kernel, $session, $state, None $(.or(Some($args)))?);
            }
        )*
    };
}

ikc_forms! {
    ikc_t05_session_state: "session/state" => ("", "session", "state");
    ikc_t05_state: "state" => ("", "", "state");
    ikc_t05_slashes_kernel_session_state: "//kernel/session/state" => ("kernel", "session", "state");
    ikc_t05_slashes_all_session_state: "//*/session/state" => ("*", "session", "state");
    ikc_t05_poe_kernel_session_state: "poe://kernel/session/state" => ("kernel", "session", "state");
    ikc_t05_poe_kernel_session: "poe://kernel/session" => ("kernel", "session", "");
    ikc_t05_poe_kernel: "poe://kernel" => ("kernel", "", "");
    ikc_t05_poe_session_state: "poe:/session/state" => ("", "session", "state");
    ikc_t05_poe_state: "poe:state" => ("", "", "state");
    ikc_t05_poe_all_session_state: "poe://*/session/state" => ("*", "session", "state");
    ikc_t05_session_state_args: "session/state?args" => ("", "session", "state", "args");
    ikc_t05_state_args: "state?args" => ("", "", "state", "args");
    ikc_t05_slashes_kernel_session_state_args: "//kernel/session/state?args" => ("kernel", "session", "state", "args");
    ikc_t05_slashes_all_session_state_args: "//*/session/state?args" => ("*", "session", "state", "args");
    ikc_t05_poe_kernel_session_state_args: "poe://kernel/session/state?args" => ("kernel", "session", "state", "args");
    ikc_t05_poe_session_state_args: "poe:/session/state?args" => ("", "session", "state", "args");
    ikc_t05_poe_state_args: "poe:state?args" => ("", "", "state", "args");
    ikc_t05_poe_all_session_state_args: "poe://*/session/state?args" => ("*", "session", "state", "args");
}

/// Readings of IKC's patterns away from its test, each as Perl's
/// `specifier_parse` from IKC 0.2402 answers it (`None`: no specifier).
#[test]
fn corners_read_as_ikc_reads_them() {
    type Hash = (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    );
    let cases: &[(&str, Option<Hash>)] = &[
        ("poe:", Some(("", "", "", None))),
        ("poe://", Some(("", "", "", None))),
        ("poe:/", Some(("", "", "", None))),
        ("poe:?a", Some(("", "", "", Some("a")))),
        ("?a", Some(("", "", "", Some("a")))),
        ("poe:///session/state", Some(("", "session", "state", None))),
        ("poe://kernel/", Some(("kernel", "", "", None))),
        (
            "poe://kernel/session/",
            Some(("kernel", "session", "", None)),
        ),
        (
            "poe://kernel/session?a",
            Some(("kernel", "session", "", Some("a"))),
        ),
        ("poe://kernel?a", Some(("kernel", "", "", Some("a")))),
        ("poe:/session", Some(("", "session", "", None))),
        ("//kernel/", Some(("kernel", "", "", None))),
        ("//kernel/state", Some(("kernel", "", "state", None))),
        ("poe://kernel/state", Some(("kernel", "state", "", None))),
        ("session/", Some(("", "session", "", None))),
        ("poe://*connect", Some(("*", "", "connect", None))),
        ("poe://host:80x", Some(("host:80", "", "x", None))),
        ("poe://host:80/s/t", Some(("host:80", "s", "t", None))),
        ("poe://h:80", None),
        ("poe://unix:12ab", Some(("unix:12", "", "ab", None))),
        ("poe://unix:1-2", Some(("unix:1", "", "-2", None))),
        ("poe://unix:1-2/", Some(("unix:1-2", "", "", None))),
        (
            "poe://unix:_tmp_sock:123-4/s",
            Some(("unix:_tmp_sock:123-4", "s", "", None)),
        ),
        ("//unix:12ab/s/t", Some(("unix:12ab", "s", "t", None))),
        ("poe://unix:ab cd", Some(("unix:ab", "", " cd", None))),
        (
            "poe://my host.example/a b/c-d",
            Some(("my host.example", "a b", "c-d", None)),
        ),
        (
            "poe://host-68a1f2c0-00004cdd-00000001/IKC/ping",
            Some(("host-68a1f2c0-00004cdd-00000001", "IKC", "ping", None)),
        ),
        ("poe:session/state", None),
        ("poe://kernel//state", None),
        ("//kernel", None),
        ("//kernel/x", Some(("kernel", "", "x", None))),
        ("/state", None),
        ("session/state/extra", None),
        ("poe://k/s/t/u", None),
        ("poe:state?", None),
        ("poe:state?a-b", None),
        ("poe:/IKC:proxy", None),
        ("poe://k/s/IKC:proxy", None),
        ("state?a?b", None),
        ("poe:state.x", None),
        ("//k!/s", None),
    ];
    for &(text, expected) in cases {
        let read = text.parse::<Specifier>().ok().map(|spec| spec.to_map());
        let expected = expected.map(|(k, s, t, a)| ikc_hash(k, s, t, a));
        assert_eq!(read, expected, "{text:?}");
    }
}

/// Where roe's reading departs from IKC's, as the module documents.
#[test]
fn departures_from_ikc_are_the_documented_ones() {
    // IKC reads `0` parts as absent (Perl's truth); roe keeps them.
    let spec: Specifier = "poe://0/0/0?0".parse().unwrap();
    assert_eq!(spec.kernel, Kernel::from("0"));
    assert_eq!(spec.session.as_deref(), Some("0"));
    assert_eq!(spec.state.as_deref(), Some("0"));
    assert_eq!(spec.arg.as_deref(), Some("0"));
    assert_eq!(
        "0".parse::<Specifier>().unwrap().state.as_deref(),
        Some("0")
    );
    // IKC's `$` takes a trailing newline; roe does not.
    let error = "poe:state\n".parse::<Specifier>().unwrap_err();
    assert_eq!(error.position(), Some(9));
    assert_eq!(
        error.reason(),
        &Reason::Syntax {
            expected: Expected::ArgOrEnd,
            found: Some('\n')
        }
    );
    // `\w` is ASCII.
    let error = "poe:/café/x".parse::<Specifier>().unwrap_err();
    assert_eq!(error.position(), Some(8));
    assert_eq!(
        error.reason(),
        &Reason::Syntax {
            expected: Expected::NextPart,
            found: Some('é')
        }
    );
}

#[test]
fn errors_say_where_and_what() {
    let cases: &[(&str, usize, Expected, Option<char>)] = &[
        ("poe:session/state", 11, Expected::ArgOrEnd, Some('/')),
        ("poe:!", 4, Expected::AfterScheme, Some('!')),
        ("poe://!", 6, Expected::Kernel, Some('!')),
        ("poe://k!", 7, Expected::NextPart, Some('!')),
        ("poe://ho:12ab!", 13, Expected::ArgOrEnd, Some('!')),
        ("poe://k/s!", 9, Expected::NextPart, Some('!')),
        ("poe://k/s/t/u", 11, Expected::ArgOrEnd, Some('/')),
        ("poe:t?", 6, Expected::Arg, None),
        ("poe:t?a!", 7, Expected::End, Some('!')),
        ("/state", 0, Expected::Start, Some('/')),
        ("//!", 2, Expected::Kernel, Some('!')),
        ("//kernel", 8, Expected::Slash, None),
        ("//k/!", 4, Expected::Name, Some('!')),
        ("a!", 1, Expected::NextPart, Some('!')),
        ("a/b/c", 3, Expected::ArgOrEnd, Some('/')),
    ];
    for &(text, position, expected, found) in cases {
        let error = text.parse::<Specifier>().unwrap_err();
        assert_eq!(error.position(), Some(position), "{text:?}");
        assert_eq!(
            error.reason(),
            &Reason::Syntax { expected, found },
            "{text:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("not an IKC specifier: at byte")
        );
    }
    assert_eq!(
        "".parse::<Specifier>().unwrap_err().reason(),
        &Reason::Empty
    );
}

#[test]
fn display_writes_ikc_form_and_reads_back() {
    let cases: &[(Specifier, &str)] = &[
        (Specifier::default(), "poe:"),
        (Specifier::default().with_arg("a"), "poe:?a"),
        (Specifier::default().with_state("t"), "poe:t"),
        (Specifier::default().with_session("s"), "poe:/s"),
        (Specifier::default().with_kernel("k"), "poe://k"),
        (Specifier::default().with_kernel("*"), "poe://*"),
        (
            Specifier::default().with_kernel("k").with_state("t"),
            "//k/t",
        ),
        (
            Specifier::default()
                .with_kernel("*")
                .with_state("t")
                .with_arg("a"),
            "//*/t?a",
        ),
        (
            Specifier::default().with_kernel("unix:1-2"),
            "poe://unix:1-2/",
        ),
        (
            Specifier::default().with_kernel("unix:12ab").with_arg("a"),
            "poe://unix:12ab/?a",
        ),
        (Specifier::default().with_kernel("host:80"), "poe://host:80"),
        (
            Specifier::default()
                .with_kernel("k")
                .with_session("s")
                .with_arg("a"),
            "poe://k/s?a",
        ),
    ];
    for (spec, text) in cases {
        assert_eq!(spec.to_string(), *text);
        assert_eq!(text.parse::<Specifier>().as_ref(), Ok(spec), "{text:?}");
    }
    // Text the string form cannot hold is written as it is, for
    // messages, as IKC's `specifier_name` writes it.
    let proxy = Specifier::default()
        .with_kernel("k")
        .with_session("s")
        .with_state("IKC:proxy");
    assert_eq!(proxy.to_string(), "poe://k/s/IKC:proxy");
}

#[test]
fn check_string_form_names_the_part() {
    let unwritable = |spec: Specifier| spec.check_string_form().unwrap_err().reason().clone();
    assert_eq!(
        unwritable(Specifier::default().with_kernel("a/b")),
        Reason::Unwritable {
            part: Part::Kernel,
            text: "a/b".into(),
            found: Some('/')
        }
    );
    assert_eq!(
        unwritable(Specifier::default().with_kernel("a:b")),
        Reason::Unwritable {
            part: Part::Kernel,
            text: "a:b".into(),
            found: None
        }
    );
    assert_eq!(
        unwritable(Specifier {
            kernel: Kernel::Named("*".into()),
            ..Specifier::default()
        }),
        Reason::Unwritable {
            part: Part::Kernel,
            text: "*".into(),
            found: Some('*')
        }
    );
    assert_eq!(
        unwritable(Specifier {
            session: Some(String::new()),
            ..Specifier::default()
        }),
        Reason::Unwritable {
            part: Part::Session,
            text: String::new(),
            found: None
        }
    );
    assert_eq!(
        unwritable(Specifier::default().with_state("response 3 (call)")),
        Reason::Unwritable {
            part: Part::State,
            text: "response 3 (call)".into(),
            found: Some('(')
        }
    );
    assert_eq!(
        unwritable(Specifier::default().with_arg("a b")),
        Reason::Unwritable {
            part: Part::Arg,
            text: "a b".into(),
            found: Some(' ')
        }
    );
    for kernel in ["k", "host:80", "unix:p", "unix:p:1-2", "a b.c", "-", "."] {
        assert!(
            Specifier::default().with_kernel(kernel).is_string_form(),
            "{kernel:?}"
        );
    }
}

#[test]
fn relative_readings_follow_clientlite_and_post() {
    let server = Kernel::from("Server");
    let read = |text| Specifier::parse_relative(text, &server).map(|spec| spec.to_map());
    assert_eq!(read("s/t"), Ok(ikc_hash("Server", "s", "t", None)));
    assert_eq!(read("s"), Ok(ikc_hash("Server", "s", "", None)));
    assert_eq!(read("s/t?a"), Ok(ikc_hash("Server", "s", "t", Some("a"))));
    assert_eq!(read(""), Ok(ikc_hash("Server", "", "", None)));
    assert_eq!(read("poe:t"), Ok(ikc_hash("", "", "t", None)));
    let error = Specifier::parse_relative("s/t/u", &server).unwrap_err();
    assert_eq!(error.position(), Some(3));
    let error = Specifier::parse_relative("//k/s", &server).unwrap_err();
    assert_eq!(error.position(), Some(0));
    let read_on = |kernel: &str| {
        Specifier::parse_relative("s/t", &Kernel::from(kernel)).map(|spec| spec.to_map())
    };
    assert_eq!(read_on(""), Ok(ikc_hash("", "s", "t", None)));
    assert_eq!(read_on("*"), Ok(ikc_hash("*", "s", "t", None)));
    assert_eq!(
        read_on("unix:1-2"),
        Ok(ikc_hash("unix:1-2", "s", "t", None))
    );
    assert_eq!(
        Specifier::parse_relative("s/t", &Kernel::from("a/b"))
            .unwrap_err()
            .reason(),
        &Reason::Unwritable {
            part: Part::Kernel,
            text: "a/b".into(),
            found: Some('/')
        }
    );

    let post = |text| Specifier::parse_post(text).map(|spec| spec.to_map());
    assert_eq!(post("k/s/t"), Ok(ikc_hash("k", "s", "t", None)));
    assert_eq!(post("k"), Ok(ikc_hash("k", "", "", None)));
    assert_eq!(post("*/s/t?a"), Ok(ikc_hash("*", "s", "t", Some("a"))));
    assert_eq!(post(""), Ok(ikc_hash("", "", "", None)));
    assert_eq!(post("poe:/s/t"), Ok(ikc_hash("", "s", "t", None)));
    assert_eq!(
        Specifier::parse_post("k/s/t/u").unwrap_err().position(),
        Some(5)
    );
}

#[test]
fn hash_form_takes_any_text_and_reports_bad_types() {
    let mut map = Map::new();
    map.insert(Str::new("kernel"), Value::from("Client"));
    map.insert(Str::new("session"), Value::from(12));
    map.insert(
        Str::new("state"),
        Value::Bytes(b"response 3 (call)".to_vec()),
    );
    map.insert(Str::new("args"), Value::from("x:y"));
    map.insert(Str::new("extra"), Value::List(vec![]));
    let spec = Specifier::from_map(&map).unwrap();
    assert_eq!(
        spec,
        Specifier {
            kernel: Kernel::Named("Client".into()),
            session: Some("12".into()),
            state: Some("response 3 (call)".into()),
            arg: Some("x:y".into()),
        }
    );
    assert!(!spec.is_string_form());
    assert_eq!(Specifier::from_map(&spec.to_map()), Ok(spec.clone()));
    assert_eq!(Specifier::try_from(&Value::from(spec.clone())), Ok(spec));

    let mut empty = Map::new();
    empty.insert(Str::new("kernel"), Value::from(""));
    empty.insert(Str::new("session"), Value::Undef);
    assert_eq!(Specifier::from_map(&empty), Ok(Specifier::default()));
    empty.insert(Str::new("kernel"), Value::from("*"));
    assert_eq!(Specifier::from_map(&empty).unwrap().kernel, Kernel::All);

    for (key, part, value, found) in [
        ("kernel", Part::Kernel, Value::from(1.5), "a float"),
        ("session", Part::Session, Value::Map(Map::new()), "a map"),
        ("state", Part::State, Value::from(true), "a boolean"),
        (
            "args",
            Part::Arg,
            Value::Bytes(vec![0xff]),
            "bytes that are not UTF-8",
        ),
    ] {
        let mut map = Map::new();
        map.insert(Str::new(key), value);
        let error = Specifier::from_map(&map).unwrap_err();
        assert_eq!(error.reason(), &Reason::NotText { part, found });
        assert_eq!(error.position(), None);
        assert!(error.to_string().contains(found), "{error}");
    }
    assert_eq!(
        Specifier::try_from(&Value::List(vec![]))
            .unwrap_err()
            .reason(),
        &Reason::NotASpecifier { found: "a list" }
    );
    assert_eq!(
        Specifier::try_from(&Value::Bytes(b"poe:/s/t".to_vec())),
        "poe:/s/t".parse()
    );
}

/// xorshift64: a small deterministic generator, so a failing case is
/// the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn chance(&mut self, in_: usize) -> bool {
        self.below(in_) == 0
    }

    fn text(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
        let len = min + self.below(max - min + 1);
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

const NAME: &[u8] = b"abXZ09_- ";
const KERNEL_NAME: &[u8] = b"abXZ09_-. ";
const HOST: &[u8] = b"ab19-.";
const PATH: &[u8] = b"ab19_-.";
const WORD: &[u8] = b"aZ09_";
const DIGIT: &[u8] = b"0123456789";
const ALNUM: &[u8] = b"aZ19";

fn kernel(rng: &mut Rng) -> Kernel {
    match rng.below(7) {
        0 => Kernel::Default,
        1 => Kernel::All,
        2 => Kernel::from(rng.text(KERNEL_NAME, 1, 8)),
        3 => Kernel::from(format!(
            "{}{}:{}",
            rng.text(ALNUM, 1, 1),
            rng.text(HOST, 1, 6),
            rng.text(DIGIT, 1, 5)
        )),
        4 => Kernel::from(format!("unix:{}", rng.text(PATH, 1, 6))),
        5 => Kernel::from(format!(
            "unix:{}:{}-{}",
            rng.text(PATH, 1, 6),
            rng.text(DIGIT, 1, 5),
            rng.text(DIGIT, 1, 3)
        )),
        _ => Kernel::from(format!(
            "{}-{:08x}-{:08x}-{:08x}",
            rng.text(HOST, 1, 8),
            rng.next_u64() as u32,
            rng.next_u64() as u32,
            rng.next_u64() as u32
        )),
    }
}

fn specifier(rng: &mut Rng) -> Specifier {
    let mut spec = Specifier::default().with_kernel(kernel(rng));
    if rng.chance(2) {
        spec = spec.with_session(rng.text(NAME, 1, 8));
    }
    if rng.chance(2) {
        spec = spec.with_state(rng.text(NAME, 1, 8));
    }
    if rng.chance(3) {
        spec = spec.with_arg(rng.text(WORD, 1, 5));
    }
    spec
}

#[test]
fn property_valid_specifiers_read_back_from_their_display() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let spec = specifier(&mut rng);
        assert_eq!(spec.check_string_form(), Ok(()), "{spec:?}");
        let text = spec.to_string();
        assert_eq!(text.parse::<Specifier>().as_ref(), Ok(&spec), "{text:?}");
        assert_eq!(Specifier::from_map(&spec.to_map()).as_ref(), Ok(&spec));
    }
}

#[test]
fn property_relative_readings_agree_with_the_prefixed_text() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..5_000 {
        let spec = specifier(&mut rng);
        let on = kernel(&mut rng);
        let text = spec.to_string();
        let relative = text
            .strip_prefix(SCHEME)
            .unwrap_or(&text)
            .trim_start_matches('/');
        let prefixed = format!("poe://{on}/{relative}");
        assert_eq!(
            Specifier::parse_relative(relative, &on).ok(),
            prefixed.parse().ok(),
            "{relative:?} on {on:?}"
        );
        assert_eq!(
            Specifier::parse_post(relative).ok(),
            format!("poe://{relative}").parse().ok(),
            "{relative:?}"
        );
    }
}

/// Pieces of IKC's grammar and things around it, so that random texts
/// come near specifiers often.
const PIECES: &[&str] = &[
    "poe:",
    "poe",
    "//",
    "/",
    "?",
    "*",
    ":",
    "-",
    ".",
    " ",
    "_",
    "a",
    "Z",
    "0",
    "7",
    "12",
    "unix:",
    "host",
    "\n",
    "é",
    "!",
    "\u{0}",
    "IKC:proxy",
];

fn arbitrary(rng: &mut Rng) -> String {
    let pieces = rng.below(12);
    let mut text = String::new();
    for _ in 0..pieces {
        if rng.chance(10) {
            text.push(char::from_u32(rng.next_u64() as u32 % 0x11_0000).unwrap_or('\u{fffd}'));
        } else {
            text.push_str(PIECES[rng.below(PIECES.len())]);
        }
    }
    text
}

#[test]
fn property_arbitrary_text_reads_or_fails_cleanly() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut read = 0;
    for _ in 0..50_000 {
        let text = arbitrary(&mut rng);
        match text.parse::<Specifier>() {
            Ok(spec) => {
                read += 1;
                assert_eq!(spec.check_string_form(), Ok(()), "{text:?}");
                let canonical = spec.to_string();
                assert_eq!(
                    canonical.parse::<Specifier>().as_ref(),
                    Ok(&spec),
                    "{text:?}"
                );
                assert_eq!(
                    canonical.parse::<Specifier>().map(|s| s.to_string()),
                    Ok(canonical)
                );
            }
            Err(error) => {
                let position = error.position().expect("a text's error has a position");
                assert!(text.is_char_boundary(position), "{text:?} at {position}");
                assert!(!error.to_string().is_empty());
            }
        }
        for result in [
            Specifier::parse_relative(&text, &Kernel::from("k")),
            Specifier::parse_post(&text),
        ] {
            if let Err(error) = result {
                let position = error.position().expect("a text's error has a position");
                assert!(text.is_char_boundary(position), "{text:?} at {position}");
            }
        }
    }
    // The pieces make specifiers often enough to exercise both arms.
    assert!(read > 1_000, "only {read} texts read");
}
