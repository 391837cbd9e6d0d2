//! The help text of every command, made from the table: its usage, its
//! subcommands, its options one line each, what more it has to say, and
//! examples.

use std::fmt::Write;

use super::Command;

/// The help of `command`, one of the table's (the root's is `roe help`).
/// A subcommand's help ends with what its parent says of them all (what
/// ADDR is, for the registry's).
pub fn render(command: &'static Command) -> String {
    let path = path_of(command);
    let parent = (path.len() > 1).then(|| super::command(&path[..path.len() - 1]));
    let mut out = String::new();
    let name = std::iter::once("roe")
        .chain(path.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(out, "{name}: {}\n", command.summary);
    for (n, usage) in command.usage.iter().enumerate() {
        let lead = if n == 0 { "usage: " } else { "       " };
        let _ = writeln!(out, "{lead}{usage}");
    }
    if !command.subcommands.is_empty() {
        out.push_str("\ncommands:\n");
        let mut rows = Vec::new();
        for sub in command.subcommands {
            rows.push((sub.name.to_owned(), sub.summary));
            // `roe help` shows the whole tree, each subcommand under its
            // command.
            if path.is_empty() {
                for below in sub.subcommands {
                    rows.push((format!("  {}", below.name), below.summary));
                }
            }
        }
        table(&mut out, &rows);
    }
    out.push_str("\noptions:\n");
    let mut rows: Vec<(String, &str)> = command
        .options
        .iter()
        .map(|o| match o.value {
            Some(value) => (format!("--{} {value}", o.long), o.help),
            None => (format!("--{}", o.long), o.help),
        })
        .collect();
    rows.push(("-h, --help".into(), "print this help"));
    table(&mut out, &rows);
    for text in [command.about, parent.map_or("", |p| p.about)] {
        if !text.is_empty() {
            let _ = writeln!(out, "\n{text}");
        }
    }
    if let Some(more) = command.more {
        let _ = write!(out, "\n{}", more());
    }
    if !command.examples.is_empty() {
        out.push_str("\nexamples:\n");
        for example in command.examples {
            let _ = writeln!(out, "  {example}");
        }
    }
    out
}

/// Two columns: each row's first cell padded to the widest.
fn table(out: &mut String, rows: &[(String, &str)]) {
    let width = rows.iter().map(|(left, _)| left.len()).max().unwrap_or(0);
    for (left, right) in rows {
        let _ = writeln!(out, "  {left:width$}  {right}");
    }
}

/// The names from `roe` down to `command` (empty for the root).
fn path_of(command: &'static Command) -> Vec<&'static str> {
    super::walk()
        .into_iter()
        .find(|(_, c)| std::ptr::eq(*c, command))
        .map(|(path, _)| path)
        .unwrap_or_default()
}
