//! The state file: persistent services saved so that they survive a restart
//! of the registry, written atomically, read back whole or not at all. The
//! format is described on [`StateFile`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::line::{LineReader, MAX_LINE};
use crate::owner::Token;
use crate::quote::{Quoted, words};
use crate::revision::Revision;
use crate::service::Service;
use crate::store::Store;

/// The first line of a state file, without its version.
pub const MAGIC: &str = "roe-registry-state";

/// The version of the format this crate writes and reads.
pub const VERSION: u32 = 1;

/// What a state file holds.
///
/// # Examples
///
/// ```
/// use roe_registry::{Revision, Saved, Service, Store, Token};
///
/// let saved = Saved {
///     revision: Revision::new(7),
///     services: vec![(Service::with_attrs("svc", [("persist", "1")])?, Some(Token::new("k")?))],
/// };
/// let text = saved.encode();
/// assert_eq!(Saved::decode(text.as_bytes())?, saved);
///
/// let mut store = Store::new();
/// saved.restore(&mut store)?;
/// assert_eq!(store.owner("svc"), None);
/// assert!(store.has_token("svc"));
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Saved {
    /// The store's revision when the file was written.
    pub revision: Revision,
    /// The services, in registration order, with their owner tokens.
    pub services: Vec<(Service, Option<Token>)>,
}

impl Saved {
    /// What `store` would save: its revision and its persistent services.
    pub fn of(store: &Store) -> Saved {
        Saved {
            revision: store.revision(),
            services: store
                .persistent()
                .map(|(s, t)| (s.clone(), t.cloned()))
                .collect(),
        }
    }

    /// Adds the services to `store`, without owners, with their tokens (see
    /// [`Store::restore`]).
    ///
    /// # Errors
    ///
    /// As [`Store::restore`]; the services before the failing one stay.
    pub fn restore(&self, store: &mut Store) -> Result<()> {
        for (service, token) in &self.services {
            store.restore(service.clone(), token.clone())?;
        }
        Ok(())
    }

    /// The file's text.
    pub fn encode(&self) -> String {
        encode(
            self.revision,
            self.services.iter().map(|(s, t)| (s, t.as_ref())),
        )
    }

    /// Reads a file's text.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] (without a path) with the line at which the text
    /// stops being a state file.
    pub fn decode(text: &[u8]) -> Result<Saved> {
        decode(text)
    }
}

/// The text of a state file for `revision` and `services`.
fn encode<'a>(
    revision: Revision,
    services: impl IntoIterator<Item = (&'a Service, Option<&'a Token>)>,
) -> String {
    let mut text = format!(
        "{MAGIC} {VERSION}\n# the persistent services of a roe registry\nrevision {revision}\n"
    );
    let mut count = 0usize;
    for (service, token) in services {
        let token = token.map_or("", Token::as_str);
        text.push_str(&format!("service {} {service}\n", Quoted(token)));
        count += 1;
    }
    text.push_str(&format!("end {count}\n"));
    text
}

/// The longest record of a state file: a service, its token, and the words
/// around them.
const MAX_RECORD: usize = MAX_LINE + Token::MAX_LEN + 64;

/// The highest revision a state file may hold: a store that starts there
/// has half the counter's range left, where one at `u64::MAX` could not
/// make a single change (its counter would overflow).
const MAX_REVISION: u64 = u64::MAX / 2;

fn decode(text: &[u8]) -> Result<Saved> {
    let mut reader = LineReader::with_max(MAX_RECORD);
    let mut rest = text;
    // The physical line at which the next record starts, counted from 1.
    let mut line_no = 1usize;
    let mut version_seen = false;
    let mut revision = None;
    let mut services: Vec<(Service, Option<Token>)> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut ended = false;
    loop {
        let at = line_no;
        let corrupt = |why: String| Error::Corrupt {
            path: None,
            line: at,
            why,
        };
        let record = match reader.read_line(&mut rest) {
            Ok(Some(record)) => record,
            Ok(None) => match reader.finish() {
                Some(_) => return Err(corrupt("the last line has no newline".into())),
                None => break,
            },
            Err(error) => return Err(corrupt(error.to_string())),
        };
        line_no += 1 + record.iter().filter(|&&b| b == b'\n').count();
        let record = std::str::from_utf8(record)
            .map_err(|e| corrupt(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
        if ended {
            return Err(corrupt("text after the end line".into()));
        }
        if !version_seen {
            let version = record
                .strip_prefix(MAGIC)
                .and_then(|v| v.strip_prefix(' '))
                .ok_or_else(|| corrupt(format!("not a state file: starts {:?}", first(record))))?;
            if version != VERSION.to_string() {
                return Err(corrupt(format!(
                    "version {version:?}, this registry reads {VERSION}"
                )));
            }
            version_seen = true;
            continue;
        }
        if record.trim().is_empty() || record.starts_with('#') {
            continue;
        }
        let mut words = words(record);
        let keyword = words.next().unwrap_or_default();
        match &*keyword {
            "revision" if revision.is_none() => {
                let n = words.next().and_then(|n| n.parse::<u64>().ok());
                match (n, words.next()) {
                    (Some(n), None) if n > MAX_REVISION => {
                        return Err(corrupt(format!(
                            "revision {n} is past the most a state file holds, {MAX_REVISION}"
                        )));
                    }
                    (Some(n), None) => revision = Some(Revision::new(n)),
                    _ => return Err(corrupt(format!("bad revision line {:?}", first(record)))),
                }
            }
            "service" if revision.is_some() => {
                let token = words
                    .next()
                    .ok_or_else(|| corrupt("a service without a token".into()))?;
                let token = match &*token {
                    "" => None,
                    secret => Some(Token::new(secret).map_err(|e| corrupt(e.to_string()))?),
                };
                let service = Service::from_words(words).map_err(|e| corrupt(e.to_string()))?;
                if !names.insert(service.name().to_owned()) {
                    return Err(corrupt(format!("{:?} a second time", service.name())));
                }
                services.push((service, token));
            }
            "end" if revision.is_some() => {
                let n = words.next().and_then(|n| n.parse::<usize>().ok());
                if n != Some(services.len()) || words.next().is_some() {
                    return Err(corrupt(format!(
                        "the end line {:?} does not count the {} services read",
                        first(record),
                        services.len()
                    )));
                }
                ended = true;
            }
            _ => {
                let expected = if revision.is_none() {
                    "a revision line"
                } else {
                    "a service or end line"
                };
                return Err(corrupt(format!(
                    "expected {expected}, got {:?}",
                    first(record)
                )));
            }
        }
    }
    if !version_seen {
        return Err(Error::Corrupt {
            path: None,
            line: 1,
            why: "empty".into(),
        });
    }
    if !ended {
        return Err(Error::Corrupt {
            path: None,
            line: line_no,
            why: "cut short: no end line".into(),
        });
    }
    Ok(Saved {
        revision: revision.unwrap_or_default(),
        services,
    })
}

/// The start of a record, for an error message.
fn first(record: &str) -> String {
    match record.char_indices().nth(60) {
        Some((at, _)) => format!("{}...", &record[..at]),
        None => record.to_owned(),
    }
}

/// A state file, at a path: where the persistent services are saved so that
/// they survive a restart of the registry.
///
/// registry(4) keeps a persistent service until it is removed, but only in
/// memory. roe can save those services (the ones whose `persist` is a
/// non-zero number, and those whose connection has already gone; see
/// [`Store::persistent`]) to a file, and read them back at start.
///
/// # Format (version 1)
///
/// Text, in registry(4)'s quoting, one record per line (a quoted value may
/// hold a newline, so a record may span lines, as in `find` answers):
///
/// ```text
/// roe-registry-state 1
/// # the persistent services of a roe registry
/// revision 42
/// service '' lp!office auth none persist 1
/// service k3y tcp!db!5432 proto pg persist 1
/// end 2
/// ```
///
/// - the first line names the format and its version;
/// - `revision` is the store's revision when the file was written;
/// - each `service` line holds the owner token (`''` for none) and then the
///   service as `find` writes it;
/// - `end` counts the services: a file without it, or with another count,
///   was cut short;
/// - blank lines and lines starting with `#` are comments.
///
/// The file is mode 0600 (it holds tokens).
///
/// # Writing
///
/// [`StateFile::save`] writes the whole state to a temporary file beside
/// the state file (`<name>.tmp`), flushes it to the disk, renames it over
/// the state file, and flushes the directory. The rename is atomic, so a
/// crash at any point leaves either the previous state file or the new one,
/// never a mix; a temporary file left behind by a crash is overwritten by
/// the next save and never read.
///
/// # Reading
///
/// [`StateFile::load`] reads every record or fails with
/// [`Error::Corrupt`], which names the file and the line: a state file is
/// never silently cut short or skipped over.
///
/// # Examples
///
/// ```
/// use roe_registry::{OwnerId, Service, StateFile, Store};
///
/// # let dir = std::env::temp_dir().join(format!("roe-registry-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let file = StateFile::new(dir.join("registry.state"));
/// assert!(file.load()?.is_none(), "no file yet");
///
/// let mut store = Store::new();
/// store.register(OwnerId::new(1), Service::with_attrs("svc", [("persist", "1")])?, None)?;
/// store.register(OwnerId::new(1), Service::new("gone-with-its-connection")?, None)?;
/// file.save(&store)?;
///
/// let mut restarted = Store::new();
/// file.load()?.unwrap().restore(&mut restarted)?;
/// assert_eq!(restarted.services().map(|s| s.name()).collect::<Vec<_>>(), ["svc"]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file a save writes before renaming it: `<name>.tmp` in
    /// the same directory.
    pub fn temp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    /// Saves `store`'s persistent services, atomically (see "Writing"
    /// above).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written, flushed or renamed;
    /// the previous state file is then as it was.
    pub fn save(&self, store: &Store) -> Result<()> {
        let text = encode(store.revision(), store.persistent());
        self.write(text.as_bytes())
    }

    /// Saves `saved`, atomically.
    ///
    /// # Errors
    ///
    /// As [`StateFile::save`].
    pub fn save_saved(&self, saved: &Saved) -> Result<()> {
        self.write(saved.encode().as_bytes())
    }

    /// Reads the file: `None` when there is none.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read, [`Error::Corrupt`] (naming the
    /// file and the line) when it is not a whole state file.
    pub fn load(&self) -> Result<Option<Saved>> {
        let text = match fs::read(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        match decode(&text) {
            Ok(saved) => Ok(Some(saved)),
            Err(Error::Corrupt { line, why, .. }) => Err(Error::Corrupt {
                path: Some(self.path.clone()),
                line,
                why,
            }),
            Err(error) => Err(error),
        }
    }

    fn write(&self, bytes: &[u8]) -> Result<()> {
        let temp = self.temp_path();
        let written = write_and_sync(&temp, bytes).and_then(|()| fs::rename(&temp, &self.path));
        if let Err(error) = written {
            // The previous state file is untouched; the temporary one is
            // only clutter now.
            let _ = fs::remove_file(&temp);
            return Err(error.into());
        }
        // The rename is durable once the directory is.
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
        Ok(())
    }
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests;
