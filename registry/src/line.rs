//! The lines of the three TCP ports, both ways, as types: parsed from bytes
//! and written back, without I/O.
//!
//! Inferno's registry is served over TCP by three listeners, one per file
//! of registry(4), and roe serves the same ports ([`Port`]):
//!
//! - **new** (6701): the client's first line registers a service,
//!   `name [attr value]...`; every later line sets attributes of it,
//!   `attr value [attr value]...` ([`NewLine`]). The service lives as long
//!   as the connection, unless `persist` says otherwise. The server writes
//!   nothing on this port, except one `error <reason>` line ([`Refusal`])
//!   before it closes the connection on a refused line.
//! - **find** (6702): the client sends one query line, `[attr value]...`
//!   (an empty line for every service; [`parse_find`]); the server answers
//!   with one line per matching service ([`parse_service`]), nothing when
//!   none match, and closes.
//! - **event** (6703): the server writes `READY`, then one line per change,
//!   the revision as at least eight zero-padded digits (`00000003`); changes
//!   made while a line waits to be written may share one line ([`EventLine`]).
//!   roe adds a detailed mode: a client that sends `watch [attr value]...
//!   [since <revision>]` ([`Watch`]) gets, instead of counter lines, one line
//!   per change that concerns the services matching its query,
//!   `<revision> add|update|remove <name> [attr value]...`, and a
//!   `<revision> sync` line once it has been sent everything up to that
//!   revision.
//!
//! Every line is a list of words in registry(4)'s quoting (see
//! [`words`](crate::words)) ending in a newline outside quotes: a quoted
//! word may hold a newline, so lines are split by a [`LineReader`], which
//! knows where quotes open and close. A line is at most [`MAX_LINE`] bytes
//! without its newline and must be UTF-8; both are checked before anything
//! is built from it. A carriage return is data, as in registry(4).

use std::fmt;

use crate::change::{ChangeKind, Notice};
use crate::error::{Error, Result};
use crate::query::Query;
use crate::quote::{Quoted, words};
use crate::revision::Revision;
use crate::service::{MAX_SERVICE_LEN, Service, pairs};

/// The longest line, in bytes, without its newline, in either direction.
///
/// A client compatible with Inferno never sends more than 8,192 bytes at
/// once (Inferno's bridge reads that much per write); roe allows twice that,
/// and keeps every service short enough that the lines it writes fit too
/// (see [`MAX_SERVICE_LEN`](crate::MAX_SERVICE_LEN)).
pub const MAX_LINE: usize = 16 * 1024;

// The longest line the server writes is a watch line about the longest
// service: a revision of up to 20 digits, ` update `, then the service.
const _: () = assert!(20 + " update ".len() + MAX_SERVICE_LEN <= MAX_LINE);

/// The first line the event port writes.
pub const READY: &str = "READY";

/// One of the registry's three TCP ports.
///
/// # Examples
///
/// ```
/// use roe_registry::Port;
///
/// assert_eq!(Port::New.default_number(), 6701);
/// assert_eq!(Port::Event.to_string(), "event");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Port {
    /// Registration and updates (registry(4)'s `new` file).
    New,
    /// Queries (its `find` file).
    Find,
    /// Change notifications (its `event` file).
    Event,
}

impl Port {
    /// The three ports.
    pub const ALL: [Port; 3] = [Port::New, Port::Find, Port::Event];

    /// The port number Inferno::RegMgr::TCP uses by default: 6701, 6702,
    /// 6703.
    pub fn default_number(self) -> u16 {
        match self {
            Port::New => 6701,
            Port::Find => 6702,
            Port::Event => 6703,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Port::New => "new",
            Port::Find => "find",
            Port::Event => "event",
        })
    }
}

/// `line` as text: without one trailing newline, checked for length, then
/// for UTF-8.
fn text(line: &[u8]) -> Result<&str> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    if line.len() > MAX_LINE {
        return Err(Error::LineTooLong {
            len: line.len(),
            max: MAX_LINE,
        });
    }
    std::str::from_utf8(line).map_err(|error| Error::NotUtf8(error.valid_up_to()))
}

/// A line a client sends on the `new` port.
///
/// # Examples
///
/// ```
/// use roe_registry::NewLine;
///
/// let NewLine::Register(service) = NewLine::parse(b"svc auth none\n", false)? else {
///     unreachable!()
/// };
/// assert_eq!(service.get("auth"), Some("none"));
///
/// let update = NewLine::parse(b"auth 'it''s'", true)?;
/// assert_eq!(update, NewLine::Update(vec![("auth".into(), "it's".into())]));
/// assert_eq!(update.to_string(), "auth 'it''s'");
///
/// // A blank update changes nothing; a blank registration is refused.
/// assert_eq!(NewLine::parse(b"\n", true)?, NewLine::Update(vec![]));
/// assert_eq!(NewLine::parse(b"\n", false).unwrap_err().reason(), "bad syntax");
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewLine {
    /// The first line: the service to register.
    Register(Service),
    /// A later line: attributes to set, in order (none for a blank line).
    Update(Vec<(String, String)>),
}

impl NewLine {
    /// Parses a line of the `new` port: a registration when the connection
    /// has not `registered` yet, an update after.
    ///
    /// # Errors
    ///
    /// [`Error::LineTooLong`], [`Error::NotUtf8`]; for a registration, as
    /// [`Service::from_words`]; for an update, [`Error::OddPairs`].
    pub fn parse(line: &[u8], registered: bool) -> Result<NewLine> {
        let text = text(line)?;
        if registered {
            Ok(NewLine::Update(pairs(words(text))?))
        } else {
            Ok(NewLine::Register(Service::from_words(words(text))?))
        }
    }
}

/// Writes the line without its newline.
impl fmt::Display for NewLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NewLine::Register(service) => write!(f, "{service}"),
            NewLine::Update(attrs) => {
                for (i, (attr, value)) in attrs.iter().enumerate() {
                    let space = if i > 0 { " " } else { "" };
                    write!(f, "{space}{} {}", Quoted(attr), Quoted(value))?;
                }
                Ok(())
            }
        }
    }
}

/// The server's one line on the `new` port: why it refuses a line, before
/// it closes the connection.
///
/// # Examples
///
/// ```
/// use roe_registry::{Error, Refusal};
///
/// let refusal = Refusal::from(&Error::Duplicate("svc".into()));
/// assert_eq!(refusal.to_string(), "error duplicate service name");
/// assert_eq!(Refusal::parse(b"error duplicate service name\n")?, refusal);
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason, as [`Error::reason`] gives it.
    pub reason: String,
}

impl Refusal {
    /// Parses the server's line.
    ///
    /// # Errors
    ///
    /// [`Error::LineTooLong`], [`Error::NotUtf8`], or
    /// [`Error::Unexpected`] for a line that is not `error <reason>`.
    pub fn parse(line: &[u8]) -> Result<Refusal> {
        let text = text(line)?;
        error_reason(text)
            .map(|reason| Refusal {
                reason: reason.to_owned(),
            })
            .ok_or_else(|| Error::unexpected("error <reason>", text))
    }
}

impl From<&Error> for Refusal {
    fn from(error: &Error) -> Refusal {
        Refusal {
            reason: error.reason().to_owned(),
        }
    }
}

/// Writes `error <reason>`, without a newline.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}", self.reason)
    }
}

/// The reason of an `error <reason>` line.
fn error_reason(text: &str) -> Option<&str> {
    if text == "error" {
        return Some("");
    }
    text.strip_prefix("error ")
}

/// Parses the query a client sends on the `find` port (write it with the
/// query's [`Display`](Query)).
///
/// # Errors
///
/// [`Error::LineTooLong`], [`Error::NotUtf8`], [`Error::OddPairs`],
/// [`Error::TooManyPairs`]. (roe's server answers a query it cannot parse
/// with no services.)
///
/// # Examples
///
/// ```
/// use roe_registry::{Query, parse_find};
///
/// assert_eq!(parse_find(b"auth none proto *\n")?, Query::new([("auth", "none"), ("proto", "*")]));
/// assert!(parse_find(b"\n")?.is_all());
/// assert!(parse_find(b"auth").is_err());
/// # Ok::<(), roe_registry::Error>(())
/// ```
pub fn parse_find(line: &[u8]) -> Result<Query> {
    Query::from_words(words(text(line)?))
}

/// Parses a line of a `find` answer: one service (written with the
/// service's [`Display`](Service)).
///
/// # Errors
///
/// [`Error::LineTooLong`], [`Error::NotUtf8`], and as
/// [`Service::from_words`].
///
/// # Examples
///
/// ```
/// use roe_registry::parse_service;
///
/// let service = parse_service(b"'fake''n service' auth none\n");
/// assert!(service.is_err(), "a name never holds a space");
/// let service = parse_service(b"svc note 'fake''n service'\n")?;
/// assert_eq!(service.get("note"), Some("fake'n service"));
/// # Ok::<(), roe_registry::Error>(())
/// ```
pub fn parse_service(line: &[u8]) -> Result<Service> {
    Service::from_words(words(text(line)?))
}

/// A client's request, on the event port, for detailed change lines (roe's
/// extension).
///
/// The line is `watch`, then the query's attribute/value pairs, then
/// optionally `since <revision>`. In a watch line `since` is a keyword, so
/// a watcher cannot filter on an attribute named `since`; it may come once,
/// among the pairs or after them. Lines on the event port that do not start
/// with the word `watch` are ignored, as registry(4)'s bridge discards what
/// clients send there.
///
/// # Examples
///
/// ```
/// use roe_registry::{Query, Revision, Watch};
///
/// let watch = Watch::parse(b"watch auth none since 00000042\n")?.unwrap();
/// assert_eq!(watch.query, Query::new([("auth", "none")]));
/// assert_eq!(watch.since, Some(Revision::new(42)));
/// assert_eq!(watch.to_string(), "watch auth none since 42");
///
/// assert_eq!(Watch::parse(b"watch\n")?.unwrap(), Watch { query: Query::all(), since: None });
/// assert_eq!(Watch::parse(b"hello\n")?, None);
/// assert!(Watch::parse(b"watch auth").is_err());
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watch {
    /// The services whose changes the client wants.
    pub query: Query,
    /// The last revision the client has seen, to resume after; `None` to
    /// start with the services that match now.
    pub since: Option<Revision>,
}

impl Watch {
    /// The keyword that starts the line.
    pub const WORD: &'static str = "watch";

    /// Parses a line a client sends on the event port: `Ok(None)` when it is
    /// not a watch line.
    ///
    /// # Errors
    ///
    /// [`Error::LineTooLong`], [`Error::NotUtf8`]; for a watch line,
    /// [`Error::OddPairs`], [`Error::TooManyPairs`] for more than
    /// [`MAX_PAIRS`](crate::MAX_PAIRS) distinct pairs, or
    /// [`Error::BadRevision`] for a `since` that is not a decimal number
    /// below 2⁶⁴, or that comes twice.
    pub fn parse(line: &[u8]) -> Result<Option<Watch>> {
        let text = text(line)?;
        let mut words = words(text);
        if words.next().as_deref() != Some(Watch::WORD) {
            return Ok(None);
        }
        let mut since = None;
        let mut query = Vec::new();
        for (attr, value) in pairs(words)? {
            if attr != "since" {
                query.push((attr, value));
            } else if since.is_some() {
                return Err(Error::BadRevision(format!(
                    "since given twice, then {value}"
                )));
            } else {
                since = Some(parse_revision(&value).ok_or(Error::BadRevision(value))?);
            }
        }
        Ok(Some(Watch {
            query: Query::checked(query)?,
            since,
        }))
    }
}

/// Writes the watch line, without its newline.
impl fmt::Display for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Watch::WORD)?;
        if !self.query.is_all() {
            write!(f, " {}", self.query)?;
        }
        if let Some(since) = self.since {
            write!(f, " since {since}")?;
        }
        Ok(())
    }
}

/// A revision as lines write it: decimal digits, leading zeros allowed.
fn parse_revision(word: &str) -> Option<Revision> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok().map(Revision::new)
}

/// A line the server writes on the event port.
///
/// # Examples
///
/// ```
/// use roe_registry::{ChangeKind, EventLine, Revision};
///
/// assert_eq!(EventLine::parse(b"READY\n")?, EventLine::Ready);
/// assert_eq!(EventLine::parse(b"00000003\n")?, EventLine::Counter(Revision::new(3)));
/// assert_eq!(EventLine::Counter(Revision::new(3)).to_string(), "00000003");
///
/// let EventLine::Change(notice) = EventLine::parse(b"00000007 update svc auth none\n")? else {
///     unreachable!()
/// };
/// assert_eq!((notice.revision.get(), notice.kind), (7, ChangeKind::Update));
/// assert_eq!(notice.service.get("auth"), Some("none"));
///
/// assert_eq!(EventLine::parse(b"00000007 sync\n")?, EventLine::Sync(Revision::new(7)));
/// assert_eq!(
///     EventLine::parse(b"error revision too old\n")?,
///     EventLine::Error("revision too old".into())
/// );
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventLine {
    /// `READY`: the server is watching for changes on this connection.
    Ready,
    /// The store's revision after one or more changes (registry(4)'s event
    /// line).
    Counter(Revision),
    /// In detailed mode, a change that concerns the watcher's query.
    Change(Notice),
    /// In detailed mode, everything up to this revision has been sent: a
    /// watcher can resume after it.
    Sync(Revision),
    /// The server refuses a watch line, and closes the connection.
    Error(String),
}

impl EventLine {
    /// The word of a sync line.
    pub const SYNC: &'static str = "sync";

    /// Parses a line of the event port.
    ///
    /// # Errors
    ///
    /// [`Error::LineTooLong`], [`Error::NotUtf8`]; [`Error::Unexpected`] for
    /// a line that is none of the above; for a change line, as
    /// [`Service::from_words`].
    pub fn parse(line: &[u8]) -> Result<EventLine> {
        const EXPECTED: &str = "READY, a revision, a change, a sync or an error";
        let text = text(line)?;
        if text == READY {
            return Ok(EventLine::Ready);
        }
        if let Some(reason) = error_reason(text) {
            return Ok(EventLine::Error(reason.to_owned()));
        }
        let mut words = words(text);
        let revision = words
            .next()
            .and_then(|word| parse_revision(&word))
            .ok_or_else(|| Error::unexpected(EXPECTED, text))?;
        let Some(kind) = words.next() else {
            return Ok(EventLine::Counter(revision));
        };
        if kind == EventLine::SYNC {
            return match words.next() {
                None => Ok(EventLine::Sync(revision)),
                Some(_) => Err(Error::unexpected(EXPECTED, text)),
            };
        }
        let kind = ChangeKind::from_word(&kind).ok_or_else(|| Error::unexpected(EXPECTED, text))?;
        let service = Service::from_words(words)?;
        Ok(EventLine::Change(Notice {
            revision,
            kind,
            service,
        }))
    }
}

/// Writes the line, without its newline.
impl fmt::Display for EventLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventLine::Ready => f.write_str(READY),
            EventLine::Counter(revision) => write!(f, "{}", revision.counter()),
            EventLine::Change(notice) => write!(f, "{notice}"),
            EventLine::Sync(revision) => write!(f, "{} {}", revision.counter(), EventLine::SYNC),
            EventLine::Error(reason) => write!(f, "error {reason}"),
        }
    }
}

/// Splits a stream of bytes into lines at each newline outside quotes, with
/// the length of a line bounded.
///
/// Feed it what the socket gives, in pieces of any size: [`read_line`]
/// takes bytes from the front of the input until a line is complete, and
/// lends that line (without its newline) until the next call. It keeps at
/// most `max` bytes of a line, whatever the input.
///
/// A newline inside quotes belongs to its word, as registry(4)'s tokenizer
/// reads it; an unbalanced quote therefore runs to the end of the input,
/// until the line is too long.
///
/// [`read_line`]: LineReader::read_line
///
/// # Examples
///
/// ```
/// use roe_registry::LineReader;
///
/// let mut reader = LineReader::new();
/// let mut lines = Vec::new();
/// for mut piece in [&b"svc note 'two"[..], b"\nlines' a 1\nauth", b" none\n"] {
///     while let Some(line) = reader.read_line(&mut piece)? {
///         lines.push(String::from_utf8(line.to_vec()).unwrap());
///     }
/// }
/// assert_eq!(lines, ["svc note 'two\nlines' a 1", "auth none"]);
/// assert_eq!(reader.finish(), None);
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LineReader {
    line: Vec<u8>,
    /// Whether the line so far ends inside quotes.
    quoted: bool,
    /// Whether `line` is a complete line lent out by the last call.
    complete: bool,
    /// Whether a line was too long: the reader is then done.
    failed: bool,
    max: usize,
}

impl Default for LineReader {
    fn default() -> LineReader {
        LineReader::new()
    }
}

impl LineReader {
    /// A reader of lines of at most [`MAX_LINE`] bytes.
    pub fn new() -> LineReader {
        LineReader::with_max(MAX_LINE)
    }

    /// A reader of lines of at most `max` bytes, without the newline.
    pub fn with_max(max: usize) -> LineReader {
        LineReader {
            line: Vec::new(),
            quoted: false,
            complete: false,
            failed: false,
            max,
        }
    }

    /// Takes bytes from the front of `input` up to the end of the next line,
    /// and returns the line without its newline; `None` when `input` ran out
    /// first (what it held is kept for the next call).
    ///
    /// # Errors
    ///
    /// [`Error::LineTooLong`] as soon as the line passes `max` bytes. The
    /// reader is then done (every later call fails the same way): the
    /// connection cannot be read any further and should be closed.
    pub fn read_line<'s>(&'s mut self, input: &mut &[u8]) -> Result<Option<&'s [u8]>> {
        if self.failed {
            return Err(self.too_long());
        }
        if self.complete {
            self.line.clear();
            self.quoted = false;
            self.complete = false;
        }
        let room = self.max - self.line.len();
        let window = &input[..input.len().min(room.saturating_add(1))];
        let mut quoted = self.quoted;
        let end = window.iter().position(|&b| {
            if b == b'\'' {
                quoted = !quoted;
            }
            b == b'\n' && !quoted
        });
        match end {
            Some(at) => {
                self.line.extend_from_slice(&input[..at]);
                *input = &input[at + 1..];
                self.complete = true;
                Ok(Some(&self.line))
            }
            None if input.len() > room => {
                self.failed = true;
                self.line = Vec::new();
                Err(self.too_long())
            }
            None => {
                self.line.extend_from_slice(input);
                self.quoted = quoted;
                *input = &[];
                Ok(None)
            }
        }
    }

    /// At the end of the input: the last line, when it has bytes but no
    /// newline. (registry(4) takes such a line as it takes any other.)
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.failed || self.complete || self.line.is_empty() {
            return None;
        }
        self.complete = true;
        Some(&self.line)
    }

    /// How many bytes of an incomplete line it holds.
    pub fn pending(&self) -> usize {
        if self.complete { 0 } else { self.line.len() }
    }

    fn too_long(&self) -> Error {
        Error::LineTooLong {
            len: self.max + 1,
            max: self.max,
        }
    }
}

#[cfg(test)]
mod tests;
