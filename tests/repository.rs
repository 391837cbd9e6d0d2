//! Promises about the repository itself, checked on its files: it stands
//! on its own (its docs, comments and tests never send a reader to files
//! outside it: a team's shared tree, its design notes, its issue tracker),
//! and its libraries never print, they log through `tracing`.

use std::path::{Path, PathBuf};

/// Phrases that point outside the repository.
const OUTSIDE: [&str; 7] = [
    "shared/spec",
    "../shared",
    "design card",
    "DESIGN.md",
    "STYLE.md",
    "semantics.md",
    "perf/notes",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("rs" | "md" | "toml" | "sh" | "pl")
        ) || name == "run"
        {
            out.push(path);
        }
    }
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for dir in ["docs", "engine", "src", "tests", "benches", ".ci"] {
        files(&root.join(dir), &mut all);
    }
    all.push(root.join("README.md"));
    all.push(root.join("Cargo.toml"));
    let me = root.join("tests/repository.rs");
    let issue = regex_free_issue_reference;
    let mut found = Vec::new();
    for path in all.iter().filter(|path| **path != me) {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            if OUTSIDE
                .iter()
                .any(|phrase| lower.contains(&phrase.to_lowercase()))
                || issue(&lower)
            {
                found.push(format!(
                    "{}:{}: {}",
                    path.strip_prefix(root).unwrap_or(path).display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references outside the repository:\n{}",
        found.join("\n")
    );
}

/// "issue 4", "issue #12": a ticket number means nothing to a reader of
/// the repository.
fn regex_free_issue_reference(line: &str) -> bool {
    line.match_indices("issue").any(|(at, _)| {
        let rest = line[at + "issue".len()..].trim_start_matches([' ', '#']);
        rest.starts_with(|c: char| c.is_ascii_digit())
    })
}

/// Library code reports through the `tracing` facade; printing to stderr
/// or stdout is the program's business (the `roe` binary installs the
/// subscriber). Doc examples and tests may print.
#[test]
fn library_code_never_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(&root.join("engine/src"), &mut all);
    let mut found = Vec::new();
    for path in &all {
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (number, line) in code.lines().enumerate() {
            let line = line.trim();
            if line.starts_with("//") {
                continue;
            }
            if ["eprintln!", "println!", "eprint!(", "print!(", "dbg!"]
                .iter()
                .any(|call| line.contains(call))
            {
                found.push(format!("{}:{}: {line}", path.display(), number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library code prints:\n{}",
        found.join("\n")
    );
}
