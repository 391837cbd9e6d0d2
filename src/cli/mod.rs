//! The `roe` command's surface, described once: every command and
//! subcommand with its usage, its options (one line each) and examples
//! ([`table`]). The help text ([`help`]), the suggestions for a mistyped
//! command or option (here) and the shell completions ([`complete`]) are
//! all read from that one table, so they cannot disagree; a test checks
//! that every option the parsers match is in it.

pub mod complete;
pub mod help;
mod table;

use std::io::Write;

pub use table::ROOT;

/// What the command fails with; the message is shown as is.
pub type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

/// A command: `roe` itself, a command under it (`node`), or a subcommand
/// (`registry serve`).
pub struct Command {
    /// The word that names it (`roe` for the root).
    pub name: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// How it is called, one form a line, each starting with `roe`.
    pub usage: &'static [&'static str],
    /// Its options, besides `-h`/`--help`, which every command has.
    pub options: &'static [Opt],
    /// What its positional words are, for the completions.
    pub words: Complete,
    /// Its subcommands; a command with some takes one of them first.
    pub subcommands: &'static [Command],
    /// More about it, after the options: paragraphs, already wrapped.
    pub about: &'static str,
    /// A section its help adds after `about`, made when the help is shown
    /// (`roe bench`'s workloads come from the bench's own list).
    pub more: Option<fn() -> String>,
    /// One or two command lines, each starting with `roe`.
    pub examples: &'static [&'static str],
}

/// An option: always long (`--name`), with or without a value.
pub struct Opt {
    /// Its name, without the dashes.
    pub long: &'static str,
    /// Its value's placeholder (`<n>`), or `None` for a flag.
    pub value: Option<&'static str>,
    /// What it does, in one line.
    pub help: &'static str,
    /// What its value is, for the completions.
    pub complete: Complete,
}

/// What a value or a positional word is, so that a shell can offer the
/// right ones.
#[derive(Clone, Copy)]
pub enum Complete {
    /// Free text: nothing to offer.
    Nothing,
    /// A file's path.
    File,
    /// A directory's path.
    Dir,
    /// One of these words.
    Words(&'static [&'static str]),
    /// The name of one of `roe`'s commands (`roe help`'s word).
    Commands,
}

/// What a command's arguments ask for: to run it, or its help.
pub enum Parsed<T> {
    /// Run the command with these options.
    Run(T),
    /// Print this command's help instead.
    Help(&'static Command),
}

impl Command {
    /// The subcommand named `name`.
    pub fn subcommand(&self, name: &str) -> Option<&'static Command> {
        self.subcommands.iter().find(|c| c.name == name)
    }
}

/// The command at `path` below `roe` (`["registry", "serve"]`), or as far
/// down it as the table goes: the help for a mistyped subcommand is its
/// parent's.
pub fn command(path: &[&str]) -> &'static Command {
    let mut at = &ROOT;
    for name in path {
        match at.subcommand(name) {
            Some(next) => at = next,
            None => break,
        }
    }
    at
}

/// Every command in the table, parents before their subcommands, each
/// with its path of names below `roe` (empty for the root).
pub fn walk() -> Vec<(Vec<&'static str>, &'static Command)> {
    fn visit(
        path: Vec<&'static str>,
        command: &'static Command,
        out: &mut Vec<(Vec<&'static str>, &'static Command)>,
    ) {
        out.push((path.clone(), command));
        for sub in command.subcommands {
            let mut below = path.clone();
            below.push(sub.name);
            visit(below, sub, out);
        }
    }
    let mut out = Vec::new();
    visit(Vec::new(), &ROOT, &mut out);
    out
}

/// The help for `roe help [COMMAND [SUBCOMMAND]]`'s words: the command
/// they name.
///
/// # Errors
///
/// A word that names no command (with a suggestion, if one is close), or
/// words past a command that has no subcommands.
pub fn help_for(words: &[String]) -> Outcome<&'static Command> {
    let mut at = &ROOT;
    let mut path = Vec::new();
    for word in words {
        if at.subcommands.is_empty() {
            return Err(format!("help: {} has no subcommand {word:?}", spelled(&path)).into());
        }
        match at.subcommand(word) {
            Some(next) => {
                at = next;
                path.push(next.name);
            }
            None => return Err(format!("help: {}", unknown_command(word, &path)).into()),
        }
    }
    Ok(at)
}

/// `roe` and `path`, as a user types them.
fn spelled(path: &[&str]) -> String {
    std::iter::once("roe")
        .chain(path.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why `word` is not a command under `path`: `unknown command "nod"; did
/// you mean "node"?`, or where to look when nothing is close.
pub fn unknown_command(word: &str, path: &[&str]) -> String {
    unknown("command", word, path)
}

/// Why `word` is not a `kind` (a command; `roe ikc`'s requests) under
/// `path`, with the nearest one if one is close.
pub fn unknown(kind: &str, word: &str, path: &[&str]) -> String {
    let parent = command(path);
    let names = parent.subcommands.iter().map(|c| c.name);
    match closest(word, names) {
        Some(name) => format!("unknown {kind} {word:?}; did you mean {name:?}?"),
        None => format!("unknown {kind} {word:?}; try `{} --help`", spelled(path)),
    }
}

/// The error for an argument the command at `path` does not take, in
/// place of lexopt's own: an unknown option names the command and the
/// option it is closest to, if one is close (`node: unknown option
/// --mout; did you mean --mount?`).
pub fn unexpected(arg: lexopt::Arg<'_>, path: &[&str]) -> Box<dyn std::error::Error> {
    let at = command(path);
    let who = path.join(" ");
    let prefix = if who.is_empty() {
        String::new()
    } else {
        format!("{who}: ")
    };
    let hint = format!("try `{} --help`", spelled(path));
    match arg {
        lexopt::Arg::Long(long) => {
            let names = at.options.iter().map(|o| o.long).chain(["help"]);
            match closest(long, names) {
                Some(name) => format!("{prefix}unknown option --{long}; did you mean --{name}?"),
                None => format!("{prefix}unknown option --{long}; {hint}"),
            }
        }
        lexopt::Arg::Short(short) => format!("{prefix}unknown option -{short}; {hint}"),
        lexopt::Arg::Value(word) => format!("{prefix}unexpected argument {word:?}; {hint}"),
    }
    .into()
}

/// The candidate closest to `typed`, if any is close enough to be what was
/// meant: at most two edits away, and fewer than half of `typed`'s letters
/// (so that `--xy` suggests nothing rather than any two-letter option).
/// The first of equally close ones wins: the table's order.
pub fn closest<'a>(typed: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let len = typed.chars().count();
    candidates
        .map(|c| (distance(typed, c), c))
        .filter(|&(d, _)| d <= 2 && 2 * d <= len)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// The Damerau-Levenshtein distance (in its optimal-string-alignment
/// form) between `a` and `b`: the fewest insertions, deletions,
/// substitutions and swaps of two neighbours that turn one into the
/// other, a swap being the commonest typo.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: the distance between a[..i] and b[..j].
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Writes `text` to stdout. A reader that has gone (`roe help | head -1`)
/// is not an error: it has what it wanted.
pub fn print(text: &str) -> Outcome<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
