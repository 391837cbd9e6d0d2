//! Trees that programs and components put in the view: `/misc` and
//! `/modules/<name>`. This is POE's Filesys::Virtual::Async in callback
//! mode (`_readdir`, `_stat`, `_open`), as a trait, plus [`Dir`], a
//! ready-made tree built from closures.

use std::{collections::BTreeMap, fmt};

use crate::error::WriteError;

/// What a name in a directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A file that can only be read (mode 0444).
    File,
    /// A file that can be read and written (mode 0644).
    Writable,
}

/// One name in a directory and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name: not empty, no `/`, no NUL.
    pub name: String,
    /// What it is.
    pub kind: Kind,
}

impl Entry {
    /// A directory entry.
    pub fn new(name: impl Into<String>, kind: Kind) -> Entry {
        Entry {
            name: name.into(),
            kind,
        }
    }
}

/// A tree of directories and files a program shows under `/misc`, or a
/// component under `/modules/<name>`.
///
/// Paths are given as their components below the tree's root: `[]` is the
/// root itself, `["stats", "hits"]` is `stats/hits`. The methods run on the
/// view's FUSE thread: they must not wait for a kernel. A tree that changes
/// a kernel's state on a write posts to it (through a
/// [`Postback`](roe_engine::Postback) or a
/// [`RuntimeHandle`](roe_engine::RuntimeHandle)) and returns.
///
/// [`Dir`] implements it for trees built from closures.
///
/// # Examples
///
/// ```
/// use roe_fs::{Entry, Kind, Tree};
///
/// /// One file, `answer`, holding 42.
/// struct Answer;
///
/// impl Tree for Answer {
///     fn list(&self, path: &[&str]) -> Option<Vec<Entry>> {
///         path.is_empty().then(|| vec![Entry::new("answer", Kind::File)])
///     }
///     fn read(&self, path: &[&str]) -> Option<Vec<u8>> {
///         (path == ["answer"]).then(|| b"42\n".to_vec())
///     }
/// }
///
/// assert_eq!(Answer.kind(&["answer"]), Some(Kind::File));
/// assert_eq!(Answer.kind(&[]), Some(Kind::Dir));
/// assert_eq!(Answer.kind(&["question"]), None);
/// ```
pub trait Tree: Send + Sync + 'static {
    /// The entries of the directory at `path`, in the order to show them;
    /// `None` when `path` is not a directory.
    fn list(&self, path: &[&str]) -> Option<Vec<Entry>>;

    /// The contents of the file at `path`, rendered once when it is opened;
    /// `None` when `path` is not a file.
    fn read(&self, path: &[&str]) -> Option<Vec<u8>>;

    /// Takes one write to the file at `path` (each `write(2)` is one call;
    /// `data` is what was written, its newline included).
    ///
    /// # Errors
    ///
    /// [`WriteError::ReadOnly`] (the default) for a file that cannot be
    /// written, [`WriteError::Invalid`] for text it does not accept.
    fn write(&self, path: &[&str], data: &[u8]) -> Result<(), WriteError> {
        let _ = (path, data);
        Err(WriteError::ReadOnly)
    }

    /// What `path` is, `None` if nothing; by default found in its parent's
    /// listing.
    fn kind(&self, path: &[&str]) -> Option<Kind> {
        match path.split_last() {
            None => Some(Kind::Dir),
            Some((name, parent)) => self
                .list(parent)?
                .into_iter()
                .find(|entry| entry.name == *name)
                .map(|entry| entry.kind),
        }
    }
}

type Render = Box<dyn Fn() -> String + Send + Sync>;
type Accept = Box<dyn Fn(&str) -> Result<(), WriteError> + Send + Sync>;

enum Item {
    Dir(Dir),
    File(Render),
    Knob(Render, Accept),
}

/// A [`Tree`] built from closures: POE's Filesys::Virtual::Async::inMemory
/// in callback mode, which the original asked module authors to use.
///
/// Each file's closure runs when the file is opened and its text becomes
/// the file's contents, with a newline added if it lacks one (one value,
/// newline-terminated). Names are kept in sorted order.
///
/// # Panics
///
/// The builder methods panic on a name that is empty, `.` or `..`, or
/// holds `/` or NUL: such a name is a bug in the program, not input.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use roe_fs::{Dir, Kind, Tree, WriteError};
///
/// let hits = Arc::new(AtomicU64::new(0));
/// let limit = Arc::new(AtomicU64::new(10));
/// let tree = Dir::new()
///     .value("version", "1.2")
///     .file("hits", { let hits = hits.clone(); move || hits.load(Ordering::Relaxed).to_string() })
///     .knob(
///         "limit",
///         { let limit = limit.clone(); move || limit.load(Ordering::Relaxed).to_string() },
///         { let limit = limit.clone(); move |text: &str| {
///             let n = text.trim().parse().map_err(|_| WriteError::Invalid("not a number".into()))?;
///             limit.store(n, Ordering::Relaxed);
///             Ok(())
///         } },
///     )
///     .dir("empty", Dir::new());
///
/// hits.store(3, Ordering::Relaxed);
/// assert_eq!(tree.read(&["hits"]), Some(b"3\n".to_vec()));
/// assert_eq!(tree.read(&["version"]), Some(b"1.2\n".to_vec()));
/// assert_eq!(tree.kind(&["limit"]), Some(Kind::Writable));
/// tree.write(&["limit"], b"25\n")?;
/// assert_eq!(limit.load(Ordering::Relaxed), 25);
/// assert!(tree.write(&["limit"], b"lots\n").is_err());
/// assert_eq!(tree.write(&["hits"], b"0\n"), Err(WriteError::ReadOnly));
/// # Ok::<(), WriteError>(())
/// ```
#[derive(Default)]
pub struct Dir {
    entries: BTreeMap<String, Item>,
}

impl Dir {
    /// An empty directory.
    pub fn new() -> Dir {
        Dir::default()
    }

    /// Adds a subdirectory.
    pub fn dir(mut self, name: impl Into<String>, dir: Dir) -> Dir {
        self.entries.insert(checked(name.into()), Item::Dir(dir));
        self
    }

    /// Adds a file whose contents never change.
    pub fn value(self, name: impl Into<String>, value: impl fmt::Display) -> Dir {
        let text = value.to_string();
        self.file(name, move || text.clone())
    }

    /// Adds a read-only file rendered by `render` at each open.
    pub fn file(
        mut self,
        name: impl Into<String>,
        render: impl Fn() -> String + Send + Sync + 'static,
    ) -> Dir {
        self.entries
            .insert(checked(name.into()), Item::File(Box::new(render)));
        self
    }

    /// Adds a writable file: `render` gives its contents at each open, and
    /// `accept` takes each write, with one trailing newline removed.
    pub fn knob(
        mut self,
        name: impl Into<String>,
        render: impl Fn() -> String + Send + Sync + 'static,
        accept: impl Fn(&str) -> Result<(), WriteError> + Send + Sync + 'static,
    ) -> Dir {
        self.entries.insert(
            checked(name.into()),
            Item::Knob(Box::new(render), Box::new(accept)),
        );
        self
    }

    fn item(&self, path: &[&str]) -> Option<&Item> {
        let (name, parent) = path.split_last()?;
        let mut dir = self;
        for component in parent {
            match dir.entries.get(*component)? {
                Item::Dir(sub) => dir = sub,
                _ => return None,
            }
        }
        dir.entries.get(*name)
    }

    fn dir_at(&self, path: &[&str]) -> Option<&Dir> {
        if path.is_empty() {
            return Some(self);
        }
        match self.item(path)? {
            Item::Dir(dir) => Some(dir),
            _ => None,
        }
    }
}

impl fmt::Debug for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dir")
            .field("entries", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Tree for Dir {
    fn list(&self, path: &[&str]) -> Option<Vec<Entry>> {
        let dir = self.dir_at(path)?;
        Some(
            dir.entries
                .iter()
                .map(|(name, item)| {
                    let kind = match item {
                        Item::Dir(_) => Kind::Dir,
                        Item::File(_) => Kind::File,
                        Item::Knob(..) => Kind::Writable,
                    };
                    Entry::new(name.clone(), kind)
                })
                .collect(),
        )
    }

    fn read(&self, path: &[&str]) -> Option<Vec<u8>> {
        match self.item(path)? {
            Item::File(render) | Item::Knob(render, _) => Some(value_line(render())),
            Item::Dir(_) => None,
        }
    }

    fn write(&self, path: &[&str], data: &[u8]) -> Result<(), WriteError> {
        match self.item(path) {
            Some(Item::Knob(_, accept)) => {
                let text = std::str::from_utf8(data)
                    .map_err(|_| WriteError::Invalid("not UTF-8 text".into()))?;
                accept(text.strip_suffix('\n').unwrap_or(text))
            }
            Some(_) => Err(WriteError::ReadOnly),
            None => Err(WriteError::NotFound),
        }
    }

    fn kind(&self, path: &[&str]) -> Option<Kind> {
        if path.is_empty() {
            return Some(Kind::Dir);
        }
        Some(match self.item(path)? {
            Item::Dir(_) => Kind::Dir,
            Item::File(_) => Kind::File,
            Item::Knob(..) => Kind::Writable,
        })
    }
}

/// `text` as a file's contents: newline-terminated.
fn value_line(mut text: String) -> Vec<u8> {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.into_bytes()
}

/// Whether `name` can be one component of a path.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

fn checked(name: String) -> String {
    assert!(is_valid_name(&name), "bad name in a Dir: {name:?}");
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_directories_resolve_and_list_in_order() {
        let tree = Dir::new()
            .dir("b", Dir::new().value("x", 1).dir("c", Dir::new()))
            .value("a", "alpha");
        assert_eq!(
            tree.list(&[]).unwrap(),
            [Entry::new("a", Kind::File), Entry::new("b", Kind::Dir)]
        );
        assert_eq!(tree.list(&["b"]).unwrap().len(), 2);
        assert_eq!(tree.list(&["b", "c"]).unwrap(), []);
        assert_eq!(tree.read(&["b", "x"]).unwrap(), b"1\n");
        assert_eq!(tree.list(&["a"]), None);
        assert_eq!(tree.read(&["b"]), None);
        assert_eq!(tree.kind(&["b", "nope"]), None);
        assert_eq!(tree.kind(&["a", "below a file"]), None);
    }

    #[test]
    fn an_empty_value_is_a_lone_newline() {
        let tree = Dir::new()
            .value("undef", "")
            .file("two", || "a\nb\n".into());
        assert_eq!(tree.read(&["undef"]).unwrap(), b"\n");
        assert_eq!(tree.read(&["two"]).unwrap(), b"a\nb\n");
    }

    #[test]
    fn writes_reach_only_knobs() {
        let tree = Dir::new().value("ro", 1).knob("rw", String::new, |text| {
            if text == "ok" {
                Ok(())
            } else {
                Err(WriteError::Invalid(text.into()))
            }
        });
        assert_eq!(tree.write(&["rw"], b"ok\n"), Ok(()));
        assert_eq!(tree.write(&["rw"], b"ok"), Ok(()));
        assert!(matches!(
            tree.write(&["rw"], b"no\n"),
            Err(WriteError::Invalid(_))
        ));
        assert!(matches!(
            tree.write(&["rw"], b"\xff"),
            Err(WriteError::Invalid(_))
        ));
        assert_eq!(tree.write(&["ro"], b"2"), Err(WriteError::ReadOnly));
        assert_eq!(tree.write(&["none"], b"2"), Err(WriteError::NotFound));
    }

    #[test]
    #[should_panic(expected = "bad name")]
    fn a_slash_in_a_name_is_a_bug() {
        let _ = Dir::new().value("a/b", 1);
    }

    #[test]
    fn names() {
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
        for good in ["a", "...", "poe-component-ikc", "é"] {
            assert!(is_valid_name(good), "{good:?}");
        }
    }
}
