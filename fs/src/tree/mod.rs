//! The tree: what the view shows, as directories and files rendered from
//! the kernels' snapshots, the process's `/proc` entries and the trees
//! programs register. No FUSE here: the adapter maps it onto fuser.
//!
//! A [`View`] is one consistent picture: each kernel's snapshot is loaded
//! once when the view is made, and every file resolved through it renders
//! from that snapshot. The adapter makes one per request and renders a
//! file's bytes once, at open, and a directory's entries once, at opendir.
//!
//! A kernel's snapshot says about sessions what the view asked for
//! ([`Need`]): before it resolves a path, the adapter asks the kernel the
//! path belongs to for what that path needs, and puts the answer in the
//! view.

mod command;
mod kernel;
mod process;
mod user;
mod warnings;

use std::{
    collections::BTreeMap,
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use roe_engine::{Detail, Snapshot};

pub(crate) use self::user::is_valid_name;
pub use self::user::{Dir, Entry, Kind, Tree};
pub(crate) use self::warnings::Thresholds;
pub(crate) use self::{
    command::{Command, MAX_SLOW_HANDLER_MS, STOP_SIGNAL, Tunable},
    process::ProcessInfo,
};
use crate::error::WriteError;

/// The registered `/modules` trees, by name.
pub(crate) type Modules = BTreeMap<String, Arc<dyn Tree>>;

/// What the view's settings are when it is made.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// The kernels' snapshot interval, as last set.
    pub snapshot_interval: Duration,
    /// Whether `/kernel/sysctl/snapshot_interval_ms` can be written (a
    /// lone kernel's interval is set only by its owner).
    pub interval_writable: bool,
    /// Whether `/process/env/` shows the environment.
    pub show_env: bool,
    /// What `/kernel/warnings` warns of, as last set.
    pub thresholds: Thresholds,
    /// When the view started: the time of the nodes that have no other.
    pub started: SystemTime,
}

/// Everything the tree is rendered from, at one instant.
pub(crate) struct View {
    /// Each kernel's latest snapshot, by number.
    pub kernels: Vec<Arc<Snapshot>>,
    pub modules: Arc<Modules>,
    pub misc: Option<Arc<dyn Tree>>,
    pub process: Arc<ProcessInfo>,
    pub settings: Settings,
    /// The kernels (by number) that did not answer in time what the path
    /// asked of every kernel (`/kernel/warnings`): their snapshots are the
    /// latest they published, without all that was asked.
    pub unanswered: Vec<usize>,
}

/// A file's contents, rendered when asked (at open), not when looked up.
pub(crate) type Render<'v> = Box<dyn FnOnce() -> Vec<u8> + 'v>;

/// A directory's entries, listed when asked (at opendir), not when looked
/// up.
pub(crate) type List<'v> = Box<dyn FnOnce() -> Vec<Entry> + 'v>;

/// What a path names.
pub(crate) enum Node<'v> {
    /// A directory with `subdirs` directories in it.
    Dir {
        subdirs: usize,
        list: List<'v>,
    },
    File {
        writable: bool,
        render: Render<'v>,
    },
}

/// What a path needs from its kernel's snapshot beyond the counters and
/// the queue, which every snapshot has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Every session's ID: the sessions directory's entries, and the
    /// handler time of all of them.
    Ids,
    /// Whether a session is alive: its directory and files, looked up.
    Exists(u64),
    /// A session in full: its files' contents.
    Session(u64),
    /// Every session in full: the warnings, which look at each one.
    All,
}

impl Need {
    /// What to ask the kernel for.
    pub fn detail(self) -> Detail {
        match self {
            Need::Ids => Detail::ids(),
            Need::Exists(n) | Need::Session(n) => Detail::session(n),
            Need::All => Detail::all(),
        }
    }

    /// Whether `snapshot` has what this needs.
    pub fn is_met(self, snapshot: &Snapshot) -> bool {
        match self {
            Need::Ids => snapshot.detail.has_ids(),
            Need::Exists(n) => snapshot.is_alive(n).is_some(),
            Need::Session(n) => snapshot.detail.has_session(n),
            Need::All => snapshot.detail.all,
        }
    }

    /// What the node at `path` needs from every kernel, as [`Need::of`]
    /// says for one: `/kernel/warnings`, read, needs every session of
    /// every kernel.
    pub fn everywhere(path: &[&str], contents: bool) -> Option<Need> {
        (contents && path == ["kernel", "warnings"]).then_some(Need::All)
    }

    /// What the node at `path` needs, from which kernel (by number):
    /// `contents` for what open, opendir and write see, otherwise what a
    /// lookup or `stat` sees.
    pub fn of(path: &[&str], contents: bool) -> Option<(usize, Need)> {
        let (n, need) = match path {
            ["kernel", n, "sessions"] if contents => (n, Need::Ids),
            ["kernel", n, "statistics", "handler_time"] if contents => (n, Need::Ids),
            ["kernel", n, "sessions", id, rest @ ..] => {
                let id = kernel::number(id)?;
                if contents && !rest.is_empty() {
                    (n, Need::Session(id))
                } else {
                    (n, Need::Exists(id))
                }
            }
            _ => return None,
        };
        Some((usize::try_from(kernel::number(n)?).ok()?, need))
    }
}

/// A path's node and its time (the snapshot's, the process's start, ...).
pub(crate) struct Found<'v> {
    pub node: Node<'v>,
    pub mtime: SystemTime,
}

impl<'v> Found<'v> {
    fn dir(entries: Vec<Entry>, mtime: SystemTime) -> Found<'v> {
        let subdirs = entries.iter().filter(|e| e.kind == Kind::Dir).count();
        Found::listed(subdirs, mtime, move || entries)
    }

    /// A directory of `subdirs` directories whose entries are listed only
    /// when asked.
    fn listed(
        subdirs: usize,
        mtime: SystemTime,
        list: impl FnOnce() -> Vec<Entry> + 'v,
    ) -> Found<'v> {
        Found {
            node: Node::Dir {
                subdirs,
                list: Box::new(list),
            },
            mtime,
        }
    }

    fn file(mtime: SystemTime, render: impl FnOnce() -> Vec<u8> + 'v) -> Found<'v> {
        Found {
            node: Node::File {
                writable: false,
                render: Box::new(render),
            },
            mtime,
        }
    }

    fn writable(mtime: SystemTime, render: impl FnOnce() -> Vec<u8> + 'v) -> Found<'v> {
        Found {
            node: Node::File {
                writable: true,
                render: Box::new(render),
            },
            mtime,
        }
    }

    /// What it is.
    #[cfg(test)]
    pub fn kind(&self) -> Kind {
        match self.node {
            Node::Dir { .. } => Kind::Dir,
            Node::File {
                writable: false, ..
            } => Kind::File,
            Node::File { writable: true, .. } => Kind::Writable,
        }
    }
}

/// What a write did.
#[derive(Debug, PartialEq)]
pub(crate) enum Applied {
    /// A kernel has this to apply.
    Command(Command),
    /// The view has this setting of its own to take.
    Tuned(Tunable),
    /// A registered tree took it.
    Done,
}

impl View {
    /// The node at `path` (components below the mount's root).
    pub fn resolve(&self, path: &[&str]) -> Option<Found<'_>> {
        let started = self.settings.started;
        match path {
            [] => Some(Found::dir(
                ["kernel", "process", "modules", "misc"]
                    .into_iter()
                    .map(|name| Entry::new(name, Kind::Dir))
                    .collect(),
                started,
            )),
            ["kernel", rest @ ..] => kernel::resolve(self, rest),
            ["process", rest @ ..] => process::resolve(self, rest),
            ["modules"] => Some(Found::dir(
                self.modules
                    .keys()
                    .map(|name| Entry::new(name.clone(), Kind::Dir))
                    .collect(),
                started,
            )),
            ["modules", name, rest @ ..] => {
                resolve_tree(self.modules.get(*name)?.as_ref(), rest, started)
            }
            ["misc"] if self.misc.is_none() => Some(Found::dir(Vec::new(), started)),
            ["misc", rest @ ..] => resolve_tree(self.misc.as_deref()?, rest, started),
            _ => None,
        }
    }

    /// The listing of the directory at `path`.
    #[cfg(test)]
    pub fn list(&self, path: &[&str]) -> Option<Vec<Entry>> {
        match self.resolve(path)?.node {
            Node::Dir { list, .. } => Some(list()),
            Node::File { .. } => None,
        }
    }

    /// The contents of the file at `path`, rendered now.
    #[cfg(test)]
    pub fn read(&self, path: &[&str]) -> Option<Vec<u8>> {
        match self.resolve(path)?.node {
            Node::File { render, .. } => Some(render()),
            Node::Dir { .. } => None,
        }
    }

    /// Takes one write to the file at `path`: parsed and checked here, and
    /// either handed back as a [`Command`] for a kernel to apply or given
    /// to the registered tree that owns the file.
    ///
    /// # Errors
    ///
    /// [`WriteError::Invalid`] for text the file does not take (nothing
    /// changes), [`WriteError::ReadOnly`] for a file that cannot be
    /// written, [`WriteError::NotFound`] for a path that names nothing.
    pub fn write(&self, path: &[&str], data: &[u8]) -> Result<Applied, WriteError> {
        match path {
            ["kernel", rest @ ..] => kernel::write(self, rest, data),
            ["modules", name, rest @ ..] => {
                let tree = self.modules.get(*name).ok_or(WriteError::NotFound)?;
                write_tree(tree.as_ref(), rest, data)
            }
            ["misc", rest @ ..] if self.misc.is_some() => {
                write_tree(self.misc.as_deref().expect("checked"), rest, data)
            }
            _ => Err(self.refusal(path)),
        }
    }

    /// Why a path that takes no writes refuses one.
    fn refusal(&self, path: &[&str]) -> WriteError {
        if self.resolve(path).is_some() {
            WriteError::ReadOnly
        } else {
            WriteError::NotFound
        }
    }
}

fn resolve_tree<'v>(tree: &'v dyn Tree, path: &[&str], mtime: SystemTime) -> Option<Found<'v>> {
    match tree.kind(path)? {
        Kind::Dir => Some(Found::dir(tree.list(path)?, mtime)),
        kind => {
            let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
            let render = move || {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                tree.read(&path).unwrap_or_default()
            };
            Some(if kind == Kind::Writable {
                Found::writable(mtime, render)
            } else {
                Found::file(mtime, render)
            })
        }
    }
}

fn write_tree(tree: &dyn Tree, path: &[&str], data: &[u8]) -> Result<Applied, WriteError> {
    match tree.kind(path) {
        None => Err(WriteError::NotFound),
        Some(Kind::Writable) => tree.write(path, data).map(|()| Applied::Done),
        Some(_) => Err(WriteError::ReadOnly),
    }
}

// ----- formats: one value per line, newline-terminated --------------------------

/// One value as a file: `value` and a newline.
fn line(value: impl fmt::Display) -> Vec<u8> {
    format!("{value}\n").into_bytes()
}

/// A list as a file: one item per line; no lines for an empty list.
fn lines<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> Vec<u8> {
    let mut out = String::new();
    for item in items {
        out.push_str(&item.to_string());
        out.push('\n');
    }
    out.into_bytes()
}

/// A wall-clock time as POE wrote them: seconds since the epoch, with
/// microseconds.
fn epoch(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", since.as_secs(), since.subsec_micros())
}

/// A duration in seconds, with microseconds.
fn seconds(duration: Duration) -> String {
    format!("{}.{:06}", duration.as_secs(), duration.subsec_micros())
}

#[cfg(test)]
mod tests;
