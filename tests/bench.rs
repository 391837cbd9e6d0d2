//! `roe bench`: a scaled run prints one line per workload, in order and in
//! the exact format other tools read; `--only` picks workloads; bad
//! arguments fail with a one-line message on stderr.

use std::process::{Command, Output};

/// `roe bench` with `args`, logging warnings only (the fs workloads'
/// views say at INFO where they mount).
fn roe_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roe"))
        .arg("bench")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the roe binary runs")
}

/// Every workload, in output order, with its ops at `--scale 0.001` and the
/// keys its line has after `ops_per_sec`.
const EXPECTED: [(&str, u64, &[&str]); 18] = [
    ("w1_pingpong", 1_000, &[]),
    ("w1_pingpong_io", 1_000, &[]),
    ("w2_selfpost_chain", 1_000, &[]),
    ("w2_selfpost_burst", 1_000, &[]),
    ("w3_fanin", 1_000, &[]),
    ("w4_timers", 2_000, &["cpu_secs", "rate_basis"]),
    ("w4_timers_cancel", 2_000, &["cpu_secs", "rate_basis"]),
    ("w5_xthread_pingpong", 200, &["p50_us", "p99_us"]),
    // 200 events from each of two kernels.
    ("w5_xthread_fanin", 400, &[]),
    ("w6_tcp_rr", 100, &["p50_us", "p99_us"]),
    ("w6_tcp_pipelined", 1_000, &["p50_us", "p99_us"]),
    ("ikc_rr", 50, &["p50_us", "p99_us"]),
    ("ikc_pipelined", 200, &[]),
    ("registry_register", 20, &[]),
    ("registry_find", 50, &[]),
    ("registry_fanout", 2, &["p50_us", "p99_us"]),
    ("fs_w1_observed", 1_000, &[]),
    ("fs_read", 20, &["p50_us", "p99_us"]),
];

/// Checks one output line against the workload it should report: the keys
/// in order, each value a number of the right kind.
fn check_line(line: &str, (name, ops, extra): (&str, u64, &[&str])) {
    let fields: Vec<(&str, &str)> = line
        .split(' ')
        .map(|field| {
            field
                .split_once('=')
                .unwrap_or_else(|| panic!("field {field:?} of {line:?} is not key=value"))
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|&(key, _)| key).collect();
    let mut expected_keys = vec!["workload", "impl", "ops", "secs", "ops_per_sec"];
    expected_keys.extend_from_slice(extra);
    assert_eq!(keys, expected_keys, "keys of {line:?}");
    assert_eq!(fields[0].1, name, "{line:?}");
    assert_eq!(fields[1].1, "roe", "{line:?}");
    assert_eq!(
        fields[2].1.parse::<u64>().ok(),
        Some(ops),
        "ops of {line:?}"
    );
    for &(key, value) in &fields[3..] {
        if key == "rate_basis" {
            assert_eq!(value, "cpu", "{line:?}");
            continue;
        }
        let number: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{key} of {line:?} is not a number"));
        assert!(
            number.is_finite() && number > 0.0,
            "{key} of {line:?} is not a positive number"
        );
    }
}

#[test]
fn a_scaled_run_prints_every_workload_in_order_and_format() {
    let output = roe_bench(&["--scale", "0.001"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), EXPECTED.len(), "output:\n{stdout}");
    for (line, expected) in lines.into_iter().zip(EXPECTED) {
        check_line(line, expected);
    }
}

#[test]
fn only_runs_the_workloads_whose_names_contain_an_item() {
    let output = roe_bench(&["--only", "chain,w6_tcp_rr", "--scale", "0.001"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "output:\n{stdout}");
    check_line(lines[0], EXPECTED[2]);
    check_line(lines[1], EXPECTED[9]);
}

#[test]
fn counts_never_fall_below_what_a_workload_needs() {
    let output = roe_bench(&["--only", "w3,cancel,pipelined", "--scale", "1e-9"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{:?}", output.status);
    let ops: Vec<&str> = stdout
        .lines()
        .map(|line| line.split(' ').nth(2).unwrap_or_default())
        .collect();
    // w3_fanin, w4_timers_cancel, w6_tcp_pipelined and ikc_pipelined.
    assert_eq!(
        ops,
        ["ops=4", "ops=4", "ops=64", "ops=64"],
        "output:\n{stdout}"
    );
}

#[test]
fn bad_arguments_fail_with_a_message() {
    for args in [
        &["--scale", "0"][..],
        &["--scale", "-1"],
        &["--scale", "NaN"],
        &["--scale", "inf"],
        &["--scale", "many"],
        &["--scale"],
        &["--only", "w9_nothing"],
        &["--only", "w1,,w2"],
        &["--frobnicate"],
        &["stray"],
    ] {
        let output = roe_bench(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(output.stdout.is_empty(), "{args:?} ran workloads");
        assert!(
            stderr.starts_with("roe: ") && stderr.lines().count() == 1,
            "{args:?}: stderr {stderr:?}"
        );
    }
}

#[test]
fn help_describes_bench() {
    let output = roe_bench(&["--help"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for word in ["--only", "--scale", "w5_xthread_fanin"] {
        assert!(stdout.contains(word), "help lacks {word}:\n{stdout}");
    }
}

/// A JSON value as `roe bench --json` writes them: a string or a number.
#[derive(Debug, PartialEq)]
enum Json {
    Str(String),
    Num(f64),
}

/// Reads one flat JSON object (strings and numbers only, which is all
/// `--json` writes), strictly: RFC 8259's number grammar, no escapes but
/// `\"` and `\\`, nothing after the closing brace. Panics, naming the
/// line, on anything else.
fn json_object(line: &str) -> Vec<(String, Json)> {
    let bad = |why: &str| -> ! { panic!("{why} in {line:?}") };
    let mut chars = line.chars().peekable();
    let string = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        if chars.next() != Some('"') {
            bad("a string expected");
        }
        let mut out = String::new();
        loop {
            match chars.next() {
                Some('"') => return out,
                Some('\\') => match chars.next() {
                    Some(c @ ('"' | '\\')) => out.push(c),
                    _ => bad("an escape --json does not write"),
                },
                Some(c) if c >= ' ' => out.push(c),
                _ => bad("an unterminated string"),
            }
        }
    };
    if chars.next() != Some('{') {
        bad("no opening brace");
    }
    let mut fields = Vec::new();
    loop {
        let key = string(&mut chars);
        if chars.next() != Some(':') {
            bad("no colon");
        }
        let value = if chars.peek() == Some(&'"') {
            Json::Str(string(&mut chars))
        } else {
            let mut number = String::new();
            while let Some(&c) = chars.peek() {
                if !matches!(c, '-' | '+' | '.' | 'e' | 'E' | '0'..='9') {
                    break;
                }
                number.push(c);
                chars.next();
            }
            if !is_json_number(&number) {
                bad(&format!("{number:?} is not a JSON number"));
            }
            Json::Num(number.parse().unwrap())
        };
        fields.push((key, value));
        match chars.next() {
            Some(',') => {}
            Some('}') => break,
            _ => bad("no comma or closing brace"),
        }
    }
    if chars.next().is_some() {
        bad("text after the object");
    }
    fields
}

/// RFC 8259's `number`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let digits = |s: &str| -> usize { s.chars().take_while(char::is_ascii_digit).count() };
    let rest = text.strip_prefix('-').unwrap_or(text);
    let int = digits(rest);
    if int == 0 || (int > 1 && rest.starts_with('0')) {
        return false;
    }
    let mut rest = &rest[int..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = digits(fraction);
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    if let Some(exponent) = rest.strip_prefix(['e', 'E']) {
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        let n = digits(exponent);
        if n == 0 {
            return false;
        }
        rest = &exponent[n..];
    }
    rest.is_empty()
}

#[test]
fn json_reads_back_strictly() {
    for good in ["0", "-1", "12.5", "1e9", "0.000001", "3E-2"] {
        assert!(is_json_number(good), "{good}");
    }
    for bad in ["", "-", "01", "1.", ".5", "+1", "1e", "inf", "NaN", "1.2.3"] {
        assert!(!is_json_number(bad), "{bad}");
    }
    assert_eq!(
        json_object(r#"{"a":"x\"y","b":-2.5e3}"#),
        [
            ("a".to_owned(), Json::Str("x\"y".into())),
            ("b".to_owned(), Json::Num(-2500.0))
        ]
    );
}

/// `--json` gives the line format's results, one object a line: the name,
/// `impl`, the rate as `value` with its `unit`, `ops` and `secs`, then the
/// optional fields exactly where the line has them.
#[test]
fn json_prints_the_same_results_one_object_a_line() {
    let picked = [
        "--scale",
        "0.01",
        "--only",
        "chain,w4_timers_cancel,w6_tcp_rr",
    ];
    let json = roe_bench(&[&picked[..], &["--json"]].concat());
    let lines = roe_bench(&picked);
    for output in [&json, &lines] {
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "{:?}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json = String::from_utf8_lossy(&json.stdout);
    let lines = String::from_utf8_lossy(&lines.stdout);
    assert_eq!(json.lines().count(), 3, "{json}");
    for ((object, line), (name, ops, unit)) in json.lines().zip(lines.lines()).zip([
        ("w2_selfpost_chain", 10_000.0, "ops/s"),
        ("w4_timers_cancel", 20_000.0, "ops/cpu-s"),
        ("w6_tcp_rr", 1_000.0, "ops/s"),
    ]) {
        let fields = json_object(object);
        let keys: Vec<&str> = fields.iter().map(|(key, _)| key.as_str()).collect();
        // The line's keys after ops_per_sec, in its order.
        let extra: Vec<&str> = line
            .split(' ')
            .skip(5)
            .map(|field| field.split_once('=').unwrap().0)
            .collect();
        let mut expected = vec!["name", "impl", "unit", "value", "ops", "secs"];
        expected.extend(&extra);
        assert_eq!(keys, expected, "{object}");
        let get = |key: &str| &fields.iter().find(|(k, _)| k == key).unwrap().1;
        assert_eq!(get("name"), &Json::Str(name.into()), "{object}");
        assert_eq!(get("impl"), &Json::Str("roe".into()), "{object}");
        assert_eq!(get("unit"), &Json::Str(unit.into()), "{object}");
        assert_eq!(get("ops"), &Json::Num(ops), "{object}");
        for key in ["value", "secs"].iter().chain(&extra) {
            match get(key) {
                Json::Num(n) => assert!(n.is_finite() && *n > 0.0, "{key} in {object}"),
                Json::Str(basis) => assert_eq!((*key, basis.as_str()), ("rate_basis", "cpu")),
            }
        }
    }
}
