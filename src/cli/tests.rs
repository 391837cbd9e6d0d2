//! The table against the parsers, so the help, the suggestions and the
//! completions cannot promise what the command does not take; and the
//! distance the suggestions use.

use std::collections::BTreeSet;

use super::*;
use crate::Job;

/// What `roe ARGS` parses to.
fn parse(args: &[&str]) -> Outcome<Job> {
    crate::parse(lexopt::Parser::from_args(args))
}

/// The error `roe ARGS` fails with, or `None` if it parses.
fn error(args: &[&str]) -> Option<String> {
    parse(args).err().map(|e| e.to_string())
}

#[test]
fn distance_counts_edits_and_swaps() {
    for (a, b, d) in [
        ("node", "node", 0),
        ("nod", "node", 1),
        ("mout", "mount", 1),
        ("nide", "node", 1),
        ("ndoe", "node", 1),
        ("regsitry", "registry", 1),
        ("kitten", "sitting", 3),
        ("", "abc", 3),
        ("ab", "", 2),
        ("ca", "abc", 3),
    ] {
        assert_eq!(distance(a, b), d, "{a:?} {b:?}");
        assert_eq!(distance(b, a), d, "{b:?} {a:?}");
    }
}

#[test]
fn closest_needs_two_edits_or_fewer_and_a_word_long_enough() {
    let options = ["kernels", "heartbeat", "mount", "no-mount", "to"];
    let near = |typed| closest(typed, options.into_iter());
    assert_eq!(near("kernals"), Some("kernels"));
    assert_eq!(near("hearbeet"), Some("heartbeat"));
    assert_eq!(near("mout"), Some("mount"));
    assert_eq!(near("nomount"), Some("no-mount"));
    assert_eq!(near("tp"), Some("to"));
    // Two edits from "to", but two letters is too little to go on.
    assert_eq!(near("xy"), None);
    assert_eq!(near("frobnicate"), None);
    // The nearer one wins over the earlier one.
    let two = ["serve", "server"];
    assert_eq!(closest("serverr", two.into_iter()), Some("server"));
}

#[test]
fn mistyped_commands_and_options_get_the_nearest_one() {
    for (args, says) in [
        (
            &["nod"][..],
            r#"unknown command "nod"; did you mean "node"?"#,
        ),
        (
            &["node", "--mout", "/x"],
            "node: unknown option --mout; did you mean --mount?",
        ),
        (
            &["registry", "serv", "--listen", "x"],
            r#"registry: unknown command "serv"; did you mean "serve"?"#,
        ),
        (
            &["registry", "find", "--att", "x"],
            "registry find: unknown option --att; did you mean --at?",
        ),
        (
            &["ikc", "cal"],
            r#"ikc: unknown request "cal"; did you mean "call"?"#,
        ),
        (
            &["bench", "--sacle", "1"],
            "bench: unknown option --sacle; did you mean --scale?",
        ),
        (
            &["help", "regstry"],
            r#"help: unknown command "regstry"; did you mean "registry"?"#,
        ),
        (
            &["completions", "fihs"],
            r#"no script for "fihs"; did you mean "fish"?"#,
        ),
        (&["frobnicate"], "try `roe --help`"),
        (&["node", "--bogus"], "try `roe node --help`"),
        // An option of another registry command is not this one's.
        (
            &["registry", "serve", "--at", "h"],
            "registry serve: unknown option --at",
        ),
    ] {
        let error = error(args).unwrap_or_else(|| panic!("{args:?} parsed"));
        assert!(error.contains(says), "{args:?}: {error:?}");
        assert_eq!(error.lines().count(), 1, "{args:?}: {error:?}");
    }
}

#[test]
fn every_command_in_the_table_has_its_help() {
    for (path, command) in walk() {
        for flag in ["--help", "-h"] {
            let mut args = path.clone();
            args.push(flag);
            match parse(&args) {
                Ok(Job::Help(shown)) => assert!(
                    std::ptr::eq(shown, command),
                    "{args:?} shows the help of {}",
                    shown.name
                ),
                _ => panic!("{args:?} is not help"),
            }
        }
        let mut args = vec!["help"];
        args.extend(&path);
        match parse(&args) {
            Ok(Job::Help(shown)) => assert!(std::ptr::eq(shown, command), "{args:?}"),
            _ => panic!("{args:?} is not help"),
        }
    }
}

#[test]
fn every_option_in_the_table_is_one_its_command_takes() {
    for (path, command) in walk() {
        for option in command.options {
            let mut args = path.clone();
            let flag = format!("--{}", option.long);
            args.push(&flag);
            if option.value.is_some() {
                // Maybe not a good value, but never an unknown option.
                args.push("1");
            }
            if let Some(error) = error(&args) {
                assert!(!error.contains("unknown option"), "{args:?}: {error}");
            }
        }
    }
}

/// The options a parser's source matches (`Long("name")`), `help` aside.
fn matched(source: &str) -> BTreeSet<&str> {
    source
        .split("Long(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name))
        .filter(|name| *name != "help")
        .collect()
}

/// The options of the commands at `paths`, together.
fn tabled(paths: &[&[&str]]) -> BTreeSet<&'static str> {
    paths
        .iter()
        .flat_map(|path| command(path).options.iter().map(|o| o.long))
        .collect()
}

#[test]
fn every_option_a_parser_takes_is_in_the_table() {
    let registry: Vec<&[&str]> = ROOT
        .subcommand("registry")
        .unwrap()
        .subcommands
        .iter()
        .map(|c| -> &[&str] {
            match c.name {
                "serve" => &["registry", "serve"],
                "find" => &["registry", "find"],
                "watch" => &["registry", "watch"],
                "register" => &["registry", "register"],
                "remove" => &["registry", "remove"],
                other => panic!("a registry command the test does not know: {other}"),
            }
        })
        .collect();
    for (source, paths) in [
        // `roe`'s own options (none but --help) and `roe node`'s.
        (include_str!("../main.rs"), vec![&[][..], &["node"]]),
        (include_str!("../bench.rs"), vec![&["bench"][..]]),
        (
            include_str!("../ikc.rs"),
            vec![&["ikc", "call"][..], &["ikc", "post"], &["ikc", "ping"]],
        ),
        (include_str!("../registry.rs"), registry),
    ] {
        assert_eq!(matched(source), tabled(&paths), "{paths:?}");
    }
}

#[test]
fn help_lists_every_option_on_one_line_and_examples_that_parse() {
    for (path, command) in walk() {
        let text = help::render(command);
        assert!(text.contains("\nusage: roe"), "{path:?}:\n{text}");
        for option in command.options {
            assert!(!option.help.contains('\n'), "--{}", option.long);
            let lines = text
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("--{} ", option.long)))
                .count();
            assert_eq!(lines, 1, "--{} in {path:?}:\n{text}", option.long);
        }
        assert!(text.contains("  -h, --help "), "{path:?}");
        assert!(!command.summary.contains('\n'), "{path:?}");
        assert!(
            (1..=2).contains(&command.examples.len()),
            "{path:?} has {} examples",
            command.examples.len()
        );
        for example in command.examples {
            // What the command itself reads: not a redirection after it.
            let words = shell_words(example.split(" > ").next().unwrap_or_default());
            assert_eq!(words[0], "roe", "{example}");
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            // The example's values may point at files that are not here
            // (a key file); its words must still all be the command's.
            if let Some(error) = error(&args) {
                assert!(
                    !error.contains("unknown") && !error.contains("unexpected"),
                    "{example}: {error}"
                );
            }
        }
    }
}

/// `line` split as a shell would, for the examples: on spaces, with
/// single quotes keeping what they hold together.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = None::<String>;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            ' ' if !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(!quoted, "an unclosed quote in {line}");
    words.extend(word);
    words
}

#[test]
fn bench_help_lists_every_workload_with_its_count() {
    let text = help::render(command(&["bench"]));
    for name in crate::suite::NAMES {
        assert_eq!(
            text.lines()
                .filter(|l| l.trim_start().starts_with(&format!("{name} ")))
                .count(),
            1,
            "{name}:\n{text}"
        );
    }
    assert!(
        text.contains("w5_xthread_pingpong    200,000 round trips"),
        "{text}"
    );
}
