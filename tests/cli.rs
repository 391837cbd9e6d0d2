//! The `roe` command's surface: `--help`, `-h` and `roe help` on every
//! command, the suggestion for a mistyped command or option, and the
//! completion scripts, which must name every command and option the help
//! lists (both are made from one table) and must parse in their shell.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

/// Every command below `roe`, as typed.
const COMMANDS: [&str; 14] = [
    "node",
    "bench",
    "ikc",
    "ikc call",
    "ikc post",
    "ikc ping",
    "registry",
    "registry serve",
    "registry find",
    "registry watch",
    "registry register",
    "registry remove",
    "completions",
    "help",
];

fn roe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roe"))
        .args(args)
        .output()
        .expect("the roe binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The help of `roe PATH`, checked to be a success on stdout alone.
fn help(path: &str) -> String {
    let mut args: Vec<&str> = path.split_whitespace().collect();
    args.push("--help");
    let output = roe(&args);
    assert!(output.status.success(), "{args:?}: {output:?}");
    assert!(output.stderr.is_empty(), "{args:?}: {output:?}");
    text(&output.stdout)
}

/// The section of a help text under `heading` (`options:`), one entry a
/// line, to the blank line that ends it.
fn section<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    help.split(&format!("\n{heading}\n"))
        .nth(1)
        .map(|rest| rest.lines().take_while(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

/// The options `roe PATH --help` lists, as typed (`--kernels`, `-h`).
fn options(path: &str) -> Vec<String> {
    let mut options = Vec::new();
    for line in section(&help(path), "options:") {
        let first = line.split_whitespace().next().unwrap_or_default();
        if first == "-h," {
            options.extend(["-h".to_owned(), "--help".to_owned()]);
        } else {
            options.push(first.to_owned());
        }
    }
    options
}

#[test]
fn every_command_has_help_with_usage_options_and_examples() {
    for path in COMMANDS {
        let shown = help(path);
        let words: Vec<&str> = path.split_whitespace().collect();
        let mut short = words.clone();
        short.push("-h");
        assert_eq!(text(&roe(&short).stdout), shown, "{short:?}");
        let mut asked = vec!["help"];
        asked.extend(&words);
        let output = roe(&asked);
        assert!(output.status.success(), "{asked:?}: {output:?}");
        assert_eq!(text(&output.stdout), shown, "{asked:?}");

        assert!(shown.starts_with(&format!("roe {path}: ")), "{shown}");
        assert!(shown.contains(&format!("\nusage: roe {path}")), "{shown}");
        let options = section(&shown, "options:");
        assert!(
            options.iter().any(|l| l.starts_with("  -h, --help ")),
            "{shown}"
        );
        for line in options {
            // `--name <value>  what it does`, on one line.
            let (flag, what) = line.trim_start().split_once("  ").unwrap_or(("", ""));
            assert!(flag.starts_with('-'), "{path}: {line:?}");
            assert!(!what.trim().is_empty(), "{path}: {line:?}");
        }
        let examples = section(&shown, "examples:");
        assert!((1..=2).contains(&examples.len()), "{path}: {examples:?}");
        for example in examples {
            assert!(
                example.starts_with(&format!("  roe {} ", words[0])),
                "{path}: {example}"
            );
        }
    }
}

#[test]
fn roe_help_lists_every_command() {
    let output = roe(&["help"]);
    assert!(output.status.success());
    let shown = text(&output.stdout);
    assert_eq!(text(&roe(&[]).stdout), shown);
    assert_eq!(text(&roe(&["--help"]).stdout), shown);
    let mut listed = Vec::new();
    let mut parent = "";
    for line in section(&shown, "commands:") {
        let name = line.split_whitespace().next().unwrap();
        if line.starts_with("    ") {
            listed.push(format!("{parent} {name}"));
        } else {
            parent = name;
            listed.push(name.to_owned());
        }
    }
    assert_eq!(listed, COMMANDS, "{shown}");
}

#[test]
fn a_mistyped_command_or_option_gets_a_suggestion() {
    for (args, said) in [
        (
            &["nod"][..],
            "roe: unknown command \"nod\"; did you mean \"node\"?\n",
        ),
        (
            &["node", "--mout", "/x"],
            "roe: node: unknown option --mout; did you mean --mount?\n",
        ),
        (
            &["registry", "serve", "--etcd-leese", "3"],
            "roe: registry serve: unknown option --etcd-leese; did you mean --etcd-lease?\n",
        ),
        (
            &["registry", "wacth"],
            "roe: registry: unknown command \"wacth\"; did you mean \"watch\"?\n",
        ),
        (
            &["frobnicate"],
            "roe: unknown command \"frobnicate\"; try `roe --help`\n",
        ),
    ] {
        let output = roe(args);
        // Status 1, as for every other failure and bad argument.
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&output.stderr), said, "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// The completion script for `shell`.
fn script(shell: &str) -> String {
    let output = roe(&["completions", shell]);
    assert!(output.status.success(), "{output:?}");
    text(&output.stdout)
}

/// Checks that `script` names every command and every option the help
/// lists, each as a word of its own.
fn names_everything(shell: &str, script: &str) {
    let words: Vec<&str> = script
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .collect();
    for path in COMMANDS {
        let name = path.split_whitespace().last().unwrap();
        assert!(words.contains(&name), "{shell} lacks the command {path}");
        for option in options(path) {
            let bare = option.trim_start_matches('-');
            // fish names options without their dashes (`-l kernels`).
            assert!(
                words.contains(&option.as_str()) || words.contains(&bare),
                "{shell} lacks {option} of {path}"
            );
        }
    }
}

/// Runs `shell` on `input`, or says why not when it is not installed.
fn shell(shell: &str, args: &[&str], input: &str) -> Option<Output> {
    let mut child = match Command::new(shell)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{shell} is not installed: its script is checked for names only");
            return None;
        }
        Err(error) => panic!("{shell}: {error}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn the_bash_script_parses_names_everything_and_completes() {
    let script = script("bash");
    names_everything("bash", &script);
    let checked = shell("bash", &["-n"], &script).expect("bash is installed");
    assert!(checked.status.success(), "bash -n: {checked:?}");

    // What _roe offers for the line's words (the last being completed).
    let mut driver = script.clone();
    for (line, offered) in [
        ("roe no", "node"),
        ("roe node --mo", "--mount"),
        ("roe registry s", "serve"),
        ("roe registry serve --etcd-l", "--etcd-lease"),
        ("roe help registry re", "register remove"),
        ("roe completions ", "bash zsh fish"),
        ("roe bench --only w5_xthread_f", "w5_xthread_fanin"),
        ("roe ikc call --to h:1 --key", "--key-file --key"),
    ] {
        let mut words: Vec<&str> = line.split(' ').collect();
        if line.ends_with(' ') {
            words.pop();
            words.push("");
        }
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        driver += &format!(
            "COMP_WORDS=({}); COMP_CWORD={}; _roe; echo \"{line}=${{COMPREPLY[*]}}\"\n",
            quoted.join(" "),
            words.len() - 1
        );
        driver += &format!("# expect {offered}\n");
    }
    let ran = shell("bash", &[], &driver).unwrap();
    assert!(ran.status.success(), "{ran:?}");
    let out = text(&ran.stdout);
    for expected in driver.lines().filter_map(|l| l.strip_prefix("# expect ")) {
        assert!(
            out.lines().any(|l| l.ends_with(&format!("={expected}"))),
            "nothing offered {expected:?}:\n{out}"
        );
    }
}

#[test]
fn the_zsh_and_fish_scripts_name_everything_and_parse() {
    for (name, check) in [("zsh", ["-n"]), ("fish", ["--no-execute"])] {
        let script = script(name);
        names_everything(name, &script);
        if let Some(checked) = shell(name, &check, &script) {
            assert!(checked.status.success(), "{name}: {checked:?}");
        }
    }
    let fish = script("fish");
    let probe = format!("{fish}\ncomplete -C'roe registry serve --sta'\ncomplete -C'roe n'\n");
    if let Some(ran) = shell("fish", &[], &probe) {
        let out = text(&ran.stdout);
        assert!(out.contains("--state\t"), "{out}");
        assert!(out.contains("node\t"), "{out}");
    }
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let output = roe(&["completions", "bsh"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "roe: completions: no script for \"bsh\"; did you mean \"bash\"?\n"
    );
    assert!(!roe(&["completions"]).status.success());
}
