//! [`Specifier`]: IKC's address of a kernel, a session or a state,
//! `poe://kernel/session/state?arg`, read and written as IKC does.
//!
//! A specifier travels in two forms. The *string form* is what people
//! write, `poe://Pulse/timeserver/connect`; the *hash form* is a map with
//! the keys `kernel`, `session` and `state` (and `args`), which is how IKC
//! sends the `rsvp` and `from` of a request, and which can carry any text.
//!
//! # String form
//!
//! Every part is optional. IKC reads these shapes (the 18 cases of its own
//! test of them are among this module's tests):
//!
//! | text                         | kernel   | session   | state   |
//! |------------------------------|----------|-----------|---------|
//! | `poe://kernel/session/state` | `kernel` | `session` | `state` |
//! | `poe://kernel/session`       | `kernel` | `session` |         |
//! | `poe://kernel`               | `kernel` |           |         |
//! | `poe:/session/state`         |          | `session` | `state` |
//! | `poe:/session`               |          | `session` |         |
//! | `poe:state`                  |          |           | `state` |
//! | `//kernel/session/state`     | `kernel` | `session` | `state` |
//! | `//kernel/state`             | `kernel` |           | `state` |
//! | `session/state`              |          | `session` | `state` |
//! | `state`                      |          |           | `state` |
//!
//! Any of them may end in `?arg`, an argument the receiving kernel pushes
//! after the event's parameters. `poe:` alone is the empty specifier.
//!
//! What each part may hold follows IKC's regular expressions, with `\w`
//! read as ASCII letters, digits and `_`:
//!
//! - **kernel**: `*` (every connected remote kernel, [`Kernel::All`]);
//!   letters, digits, `_`, `-`, `.` and spaces (a name, an alias, or a
//!   kernel ID such as `host-68a1f2c0-00004cdd-00000001`); `host:port`
//!   (`host` starting with a letter or digit, then letters, digits, `-`,
//!   `.`); or `unix:path` with an optional `:pid-fd` (`path` of letters,
//!   digits, `_`, `-`, `.`). Empty is the default kernel
//!   ([`Kernel::Default`]).
//! - **session** and **state**: letters, digits, `_`, `-` and spaces (no
//!   `.`, no `:`).
//! - **arg**: letters, digits and `_`.
//!
//! Text outside these (a state `IKC:proxy`, a receipt name such as
//! `response 3 (call)`, a non-ASCII name) travels only in the hash form;
//! [`Specifier::check_string_form`] says whether a specifier can be written
//! as a string that reads back as itself.
//!
//! IKC's reading has corners that roe keeps, so that a string means here
//! what it means to a Perl peer: `//kernel/name` names a *state* where
//! `poe://kernel/name` names a *session*; `poe:session/state` is not a
//! specifier; `poe://*connect` is the state `connect` on every kernel, and
//! `poe://host:80x` the state `x` on `host:80`.
//!
//! roe departs from IKC's reading in three places:
//!
//! - IKC tests each part for Perl truth, so a part spelled `0` reads as
//!   absent there (and the text `0` is no specifier at all); roe keeps it as
//!   written.
//! - Perl's `$` lets IKC accept one trailing newline; roe refuses it, since
//!   writing the specifier back would lose it.
//! - Perl's `\w` also matches non-ASCII letters in character strings (not
//!   in byte strings); roe reads ASCII only, so that whatever it writes,
//!   every Perl peer reads alike.
//!
//! # Hash form
//!
//! [`Specifier::to_map`] writes IKC's hash: `kernel`, `session` and `state`
//! always (an absent part as `''`, as IKC's own parsing leaves it), and
//! `args` only when there is an argument (IKC pushes it when the key
//! exists). [`Specifier::from_map`] takes any text in any part; a session
//! may be a number (POE resolves a session by alias, then by ID, alike for
//! a number and its digits).
//!
//! # Examples
//!
//! ```
//! use roe_ikc::{Kernel, Specifier};
//!
//! let spec: Specifier = "poe://Pulse/timeserver/connect".parse()?;
//! assert_eq!(spec.kernel, Kernel::Named("Pulse".into()));
//! assert_eq!(spec.session.as_deref(), Some("timeserver"));
//! assert_eq!(spec.state.as_deref(), Some("connect"));
//! assert_eq!(spec.to_string(), "poe://Pulse/timeserver/connect");
//!
//! // IKC's proxy state has a `:`, which only the hash form carries.
//! let proxy = Specifier::default()
//!     .with_kernel("Client")
//!     .with_session("timeserver")
//!     .with_state("IKC:proxy");
//! assert!(!proxy.is_string_form());
//! let hash = proxy.to_map();
//! assert_eq!(Specifier::from_map(&hash)?, proxy);
//! # Ok::<(), roe_ikc::SpecifierError>(())
//! ```

use std::{fmt, str::FromStr};

use roe_engine::{Map, Str, Value};

/// The kernel part of a specifier: which kernel, or kernels, it addresses.
///
/// IKC resolves a name against every name a connected kernel answers to:
/// its kernel ID, its name, its aliases, and where it was reached
/// (`host:port`, `unix:path`); all of them are [`Kernel::Named`].
///
/// # Examples
///
/// ```
/// use roe_ikc::Kernel;
///
/// assert_eq!(Kernel::from("*"), Kernel::All);
/// assert_eq!(Kernel::from(""), Kernel::Default);
/// assert_eq!(Kernel::from("Pulse"), Kernel::Named("Pulse".into()));
/// assert_eq!(Kernel::All.to_string(), "*");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kernel {
    /// No kernel named: the default kernel (IKC's local kernel for a
    /// subscription, the default remote for a post).
    #[default]
    Default,
    /// `*`: every connected remote kernel.
    All,
    /// A kernel by one of its names. Never empty and never `*` when made
    /// by [`From`], parsing or [`Specifier::from_map`], which give
    /// [`Kernel::Default`] and [`Kernel::All`] for those.
    Named(String),
}

impl Kernel {
    /// The kernel part as IKC's hash holds it: `""`, `"*"` or the name.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Kernel;
    ///
    /// assert_eq!(Kernel::Default.as_str(), "");
    /// assert_eq!(Kernel::All.as_str(), "*");
    /// assert_eq!(Kernel::from("host:6969").as_str(), "host:6969");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Kernel::Default => "",
            Kernel::All => "*",
            Kernel::Named(name) => name,
        }
    }
}

impl From<&str> for Kernel {
    /// `""` is the default kernel and `*` every kernel, as in IKC's hash.
    fn from(name: &str) -> Kernel {
        match name {
            "" => Kernel::Default,
            "*" => Kernel::All,
            _ => Kernel::Named(name.to_owned()),
        }
    }
}

impl From<String> for Kernel {
    /// `""` is the default kernel and `*` every kernel, as in IKC's hash.
    fn from(name: String) -> Kernel {
        match name.as_str() {
            "" => Kernel::Default,
            "*" => Kernel::All,
            _ => Kernel::Named(name),
        }
    }
}

impl fmt::Display for Kernel {
    /// Writes [`Kernel::as_str`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IKC specifier: a kernel, a session on it, a state of that session,
/// and an argument to push after the event's parameters.
///
/// A part that is absent is `None` ([`Kernel::Default`] for the kernel);
/// an empty string is not a part, and the builders (`with_*`), parsing and
/// [`Specifier::from_map`] never make one.
///
/// [`FromStr`] reads the string form as IKC's `specifier_parse` does;
/// [`Display`](fmt::Display) writes the canonical string form, which
/// reads back as the same specifier whenever [`Specifier::is_string_form`]
/// holds. See [the module documentation](self) for both forms.
///
/// # Examples
///
/// ```
/// use roe_ikc::{Kernel, Specifier};
///
/// let spec = Specifier {
///     kernel: Kernel::All,
///     session: Some("timeserver".into()),
///     state: Some("connect".into()),
///     arg: None,
/// };
/// assert_eq!(spec.to_string(), "poe://*/timeserver/connect");
/// assert_eq!("poe://*/timeserver/connect".parse::<Specifier>()?, spec);
///
/// // IKC's relative shapes read to the same parts.
/// let spec: Specifier = "timeserver/connect?now".parse()?;
/// assert_eq!(spec.kernel, Kernel::Default);
/// assert_eq!(spec.arg.as_deref(), Some("now"));
/// assert_eq!(spec.to_string(), "poe:/timeserver/connect?now");
/// # Ok::<(), roe_ikc::SpecifierError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Specifier {
    /// The kernel, or kernels.
    pub kernel: Kernel,
    /// The session: an alias it set, or (in the hash form) its ID.
    pub session: Option<String>,
    /// The state (the event's name).
    pub state: Option<String>,
    /// An argument the receiving kernel pushes after the parameters
    /// (IKC's `?args`).
    pub arg: Option<String>,
}

impl Specifier {
    /// This specifier on `kernel` (`""` and `"*"` as [`Kernel`]'s `From`).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Kernel, Specifier};
    ///
    /// let spec = Specifier::default().with_kernel("Pulse").with_session("timeserver");
    /// assert_eq!(spec.kernel, Kernel::Named("Pulse".into()));
    /// assert_eq!(spec.to_string(), "poe://Pulse/timeserver");
    /// ```
    pub fn with_kernel(mut self, kernel: impl Into<Kernel>) -> Specifier {
        self.kernel = kernel.into();
        self
    }

    /// This specifier on session `session` (none, when empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Specifier;
    ///
    /// assert_eq!(Specifier::default().with_session("echo").to_string(), "poe:/echo");
    /// assert_eq!(Specifier::default().with_session("").session, None);
    /// ```
    pub fn with_session(mut self, session: impl Into<String>) -> Specifier {
        self.session = non_empty(session.into());
        self
    }

    /// This specifier with state `state` (none, when empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Specifier;
    ///
    /// let spec = Specifier::default().with_session("echo").with_state("upper");
    /// assert_eq!(spec.to_string(), "poe:/echo/upper");
    /// ```
    pub fn with_state(mut self, state: impl Into<String>) -> Specifier {
        self.state = non_empty(state.into());
        self
    }

    /// This specifier with argument `arg` (none, when empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Specifier;
    ///
    /// let spec = Specifier::default().with_state("tick").with_arg("fast");
    /// assert_eq!(spec.to_string(), "poe:tick?fast");
    /// ```
    pub fn with_arg(mut self, arg: impl Into<String>) -> Specifier {
        self.arg = non_empty(arg.into());
        self
    }

    /// Reads `text` as IKC's ClientLite does: when it does not start with
    /// `poe:`, it is relative to `kernel`, as if it were
    /// `poe://kernel/text`: `session/state` on that kernel, and a single
    /// name is a *session*. Text that starts with `poe:` reads as itself.
    ///
    /// Positions in the error count in `text`. `kernel` must be writable
    /// in the string form.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Kernel, Specifier};
    ///
    /// let server = Kernel::from("Server");
    /// let spec = Specifier::parse_relative("echo/upper", &server)?;
    /// assert_eq!(spec.to_string(), "poe://Server/echo/upper");
    /// assert_eq!(Specifier::parse_relative("echo", &server)?.session.as_deref(), Some("echo"));
    /// let elsewhere = Specifier::parse_relative("poe://Other/echo/upper", &server)?;
    /// assert_eq!(elsewhere.kernel, Kernel::from("Other"));
    /// assert_eq!(Specifier::parse_relative("echo/up/per", &server).unwrap_err().position(), Some(7));
    /// # Ok::<(), roe_ikc::SpecifierError>(())
    /// ```
    pub fn parse_relative(text: &str, kernel: &Kernel) -> Result<Specifier, SpecifierError> {
        if text.starts_with(SCHEME) {
            return text.parse();
        }
        if let Kernel::Named(name) = kernel
            && !is_kernel_text(name)
        {
            return Err(unwritable(Part::Kernel, name));
        }
        parse_prefixed(&format!("poe://{}/", kernel.as_str()), text)
    }

    /// Reads `text` as IKC's `post` and `call` read their target (and its
    /// `specifier_part`): when it does not start with `poe:`, it is
    /// `kernel/session/state` without the `poe://`. Text that starts with
    /// `poe:` reads as itself.
    ///
    /// Positions in the error count in `text`.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Kernel, Specifier};
    ///
    /// let spec = Specifier::parse_post("Pulse/timeserver/time")?;
    /// assert_eq!(spec.kernel, Kernel::from("Pulse"));
    /// assert_eq!(spec.state.as_deref(), Some("time"));
    /// assert_eq!(Specifier::parse_post("*/timeserver")?.kernel, Kernel::All);
    /// assert_eq!(Specifier::parse_post("poe:/timeserver/time")?.kernel, Kernel::Default);
    /// # Ok::<(), roe_ikc::SpecifierError>(())
    /// ```
    pub fn parse_post(text: &str) -> Result<Specifier, SpecifierError> {
        if text.starts_with(SCHEME) {
            return text.parse();
        }
        parse_prefixed("poe://", text)
    }

    /// Whether [`Display`](fmt::Display) writes a string that reads back
    /// as this specifier: [`Specifier::check_string_form`] succeeds.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Specifier;
    ///
    /// let spec = Specifier::default().with_session("echo").with_state("upper");
    /// assert!(spec.is_string_form());
    /// assert!(!spec.with_state("IKC:proxy").is_string_form());
    /// ```
    pub fn is_string_form(&self) -> bool {
        self.check_string_form().is_ok()
    }

    /// Checks that every part can be written in the string form (see [the
    /// module documentation](self)), so that the canonical string reads
    /// back as this specifier; the error names the first part that cannot.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Part, Reason, Specifier};
    ///
    /// let proxy = Specifier::default().with_kernel("k").with_session("s").with_state("IKC:proxy");
    /// let error = proxy.check_string_form().unwrap_err();
    /// assert_eq!(
    ///     error.reason(),
    ///     &Reason::Unwritable { part: Part::State, text: "IKC:proxy".into(), found: Some(':') }
    /// );
    /// assert!(Specifier::default().with_kernel("unix:sock:12-3").check_string_form().is_ok());
    /// ```
    pub fn check_string_form(&self) -> Result<(), SpecifierError> {
        if let Kernel::Named(name) = &self.kernel
            && !is_kernel_text(name)
        {
            return Err(unwritable(Part::Kernel, name));
        }
        let parts = [
            (Part::Session, &self.session),
            (Part::State, &self.state),
            (Part::Arg, &self.arg),
        ];
        for (part, text) in parts {
            if let Some(text) = text
                && (text.is_empty() || !text.bytes().all(allowed_in(part)))
            {
                return Err(unwritable(part, text));
            }
        }
        Ok(())
    }

    /// Reads IKC's hash form: text (or an integer, or bytes that are UTF-8)
    /// under `kernel`, `session`, `state` and `args`, any of them missing,
    /// `undef` or empty for absent. Other keys are ignored, as IKC ignores
    /// them; a part of another type is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{Map, Value};
    /// use roe_ikc::{Kernel, Part, Reason, Specifier};
    ///
    /// let mut map = Map::new();
    /// map.insert("kernel".into(), Value::from("host-68a1f2c0-00004cdd-00000001"));
    /// map.insert("session".into(), Value::from(7)); // a session ID
    /// map.insert("state".into(), Value::from("IKC:proxy"));
    /// let spec = Specifier::from_map(&map)?;
    /// assert_eq!(spec.session.as_deref(), Some("7"));
    /// assert_eq!(spec.state.as_deref(), Some("IKC:proxy"));
    ///
    /// map.insert("state".into(), Value::List(vec![]));
    /// let error = Specifier::from_map(&map).unwrap_err();
    /// assert_eq!(error.reason(), &Reason::NotText { part: Part::State, found: "a list" });
    /// # Ok::<(), roe_ikc::SpecifierError>(())
    /// ```
    pub fn from_map(map: &Map) -> Result<Specifier, SpecifierError> {
        Ok(Specifier {
            kernel: map_text(map, Part::Kernel)?.map_or(Kernel::Default, Kernel::from),
            session: map_text(map, Part::Session)?,
            state: map_text(map, Part::State)?,
            arg: map_text(map, Part::Arg)?,
        })
    }

    /// Writes IKC's hash form: `kernel`, `session` and `state` as text (an
    /// absent part as `""`), and `args` when there is an argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Value;
    /// use roe_ikc::Specifier;
    ///
    /// let map = "poe://*/timeserver".parse::<Specifier>()?.to_map();
    /// assert_eq!(map.get("kernel"), Some(&Value::from("*")));
    /// assert_eq!(map.get("session"), Some(&Value::from("timeserver")));
    /// assert_eq!(map.get("state"), Some(&Value::from("")));
    /// assert_eq!(map.get("args"), None);
    /// # Ok::<(), roe_ikc::SpecifierError>(())
    /// ```
    pub fn to_map(&self) -> Map {
        let mut map = Map::new();
        map.insert(Str::new("kernel"), Value::from(self.kernel.as_str()));
        let parts = [(Part::Session, &self.session), (Part::State, &self.state)];
        for (part, text) in parts {
            map.insert(
                Str::new(part.key()),
                Value::from(text.as_deref().unwrap_or("")),
            );
        }
        if let Some(arg) = &self.arg {
            map.insert(Str::new(Part::Arg.key()), Value::from(arg.as_str()));
        }
        map
    }
}

impl FromStr for Specifier {
    type Err = SpecifierError;

    /// Reads the string form as IKC's `specifier_parse` does (see [the
    /// module documentation](self) for where roe departs from it).
    fn from_str(text: &str) -> Result<Specifier, SpecifierError> {
        if text.is_empty() {
            return Err(SpecifierError {
                reason: Reason::Empty,
                position: Some(0),
            });
        }
        let parts = if text.starts_with(SCHEME) {
            read_scheme(text)
        } else {
            read_plain(text)
        };
        match parts {
            Ok(parts) => Ok(parts.to_specifier(text)),
            Err(fail) => Err(fail.into_error(text, 0)),
        }
    }
}

impl fmt::Display for Specifier {
    /// Writes the canonical string form: IKC's own way of writing a
    /// specifier (`poe://kernel/session/state`, leaving out absent parts),
    /// with `?arg` after it, except in two cases where that would read
    /// back otherwise: a kernel and a state without a session are written
    /// `//kernel/state`, and a kernel alone whose name would read as a
    /// shorter kernel and a state (`unix:1-2` as `unix:1` and `-2`) gets a
    /// trailing `/`.
    ///
    /// A specifier that is not [in string form](Specifier::is_string_form)
    /// is written the same way with its text as it is, for messages; it
    /// does not read back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kernel = self.kernel.as_str();
        let session = self.session.as_deref().unwrap_or("");
        let state = self.state.as_deref().unwrap_or("");
        if !kernel.is_empty() && session.is_empty() && !state.is_empty() {
            // `poe://kernel/state` reads `state` as a session: only IKC's
            // form without `poe:` holds a kernel and a state alone.
            write!(f, "//{kernel}/{state}")?;
        } else {
            f.write_str(SCHEME)?;
            if !kernel.is_empty() {
                write!(f, "//{kernel}")?;
            }
            if !session.is_empty() {
                write!(f, "/{session}")?;
                if !state.is_empty() {
                    write!(f, "/{state}")?;
                }
            } else if !state.is_empty() {
                f.write_str(state)?;
            } else if kernel.contains(':') && is_kernel_text(kernel) && !reads_alone(kernel) {
                f.write_str("/")?;
            }
        }
        if let Some(arg) = self.arg.as_deref().filter(|arg| !arg.is_empty()) {
            write!(f, "?{arg}")?;
        }
        Ok(())
    }
}

impl TryFrom<&Value> for Specifier {
    type Error = SpecifierError;

    /// Reads a specifier as IKC takes one: a map is the hash form
    /// ([`Specifier::from_map`]), text (or UTF-8 bytes) the string form.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Value;
    /// use roe_ikc::Specifier;
    ///
    /// let spec = Specifier::try_from(&Value::from("poe://Pulse/timeserver/time"))?;
    /// let hash = Value::from(&spec);
    /// assert_eq!(Specifier::try_from(&hash)?, spec);
    /// assert!(Specifier::try_from(&Value::from(1.5)).is_err());
    /// # Ok::<(), roe_ikc::SpecifierError>(())
    /// ```
    fn try_from(value: &Value) -> Result<Specifier, SpecifierError> {
        match value {
            Value::Map(map) => Specifier::from_map(map),
            Value::Str(text) => text.parse(),
            Value::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => text.parse(),
                Err(_) => Err(not_a_specifier(value)),
            },
            _ => Err(not_a_specifier(value)),
        }
    }
}

impl From<&Specifier> for Value {
    /// The hash form ([`Specifier::to_map`]), which carries any text.
    fn from(spec: &Specifier) -> Value {
        Value::Map(spec.to_map())
    }
}

impl From<Specifier> for Value {
    /// The hash form ([`Specifier::to_map`]), which carries any text.
    fn from(spec: Specifier) -> Value {
        Value::Map(spec.to_map())
    }
}

/// A part of a specifier, as an error names it.
///
/// # Examples
///
/// ```
/// use roe_ikc::Part;
///
/// assert_eq!(Part::Arg.key(), "args");
/// assert_eq!(Part::Arg.to_string(), "argument");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// The kernel.
    Kernel,
    /// The session.
    Session,
    /// The state.
    State,
    /// The argument (`?arg`).
    Arg,
}

impl Part {
    /// The part's key in IKC's hash form.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Part;
    ///
    /// assert_eq!(Part::Session.key(), "session");
    /// ```
    pub fn key(self) -> &'static str {
        match self {
            Part::Kernel => "kernel",
            Part::Session => "session",
            Part::State => "state",
            Part::Arg => "args",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Kernel => "kernel",
            Part::Session => "session",
            Part::State => "state",
            Part::Arg => "argument",
        })
    }
}

/// What the string form allows where reading stopped.
///
/// # Examples
///
/// ```
/// use roe_ikc::{Expected, Reason, Specifier};
///
/// let error = "poe:timeserver/connect".parse::<Specifier>().unwrap_err();
/// assert_eq!(error.reason(), &Reason::Syntax { expected: Expected::ArgOrEnd, found: Some('/') });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expected {
    /// At the start of text without `poe:`: `//` and a kernel, a session
    /// or state name, or `?` and an argument.
    Start,
    /// After `poe:`: `//` and a kernel, `/` and a session, a state, `?` and
    /// an argument, or the end.
    AfterScheme,
    /// After `//`: a kernel (`*`, a name, `host:port`, `unix:path`).
    Kernel,
    /// After the kernel of `//kernel/...` (without `poe:`): `/`.
    Slash,
    /// After a kernel or a session: `/` and the next part, `?` and an
    /// argument, or the end.
    NextPart,
    /// Where a session or a state may start: a name, `?` and an argument,
    /// or the end.
    Name,
    /// After a state: `?` and an argument, or the end.
    ArgOrEnd,
    /// After `?`: the argument (ASCII letters, digits, `_`).
    Arg,
    /// After the argument: nothing.
    End,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::Start => {
                "`poe:`, `//` and a kernel, a session or state name, or `?` and an argument"
            }
            Expected::AfterScheme => {
                "`//` and a kernel, `/` and a session, a state, `?` and an argument, or the end"
            }
            Expected::Kernel => "a kernel: `*`, a name, `host:port` or `unix:path`",
            Expected::Slash => "`/` after the kernel",
            Expected::NextPart => "`/` and the next part, `?` and an argument, or the end",
            Expected::Name => "a session or state name, `?` and an argument, or the end",
            Expected::ArgOrEnd => "`?` and an argument, or the end",
            Expected::Arg => "an argument (ASCII letters, digits, `_`)",
            Expected::End => "the end",
        })
    }
}

/// Why a text or a value is not a specifier.
///
/// # Examples
///
/// ```
/// use roe_ikc::{Reason, Specifier};
///
/// assert_eq!("".parse::<Specifier>().unwrap_err().reason(), &Reason::Empty);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The text is empty (`poe:` is the empty specifier).
    Empty,
    /// The string form does not allow this here.
    Syntax {
        /// What it allows.
        expected: Expected,
        /// What was there instead; `None` at the end of the text.
        found: Option<char>,
    },
    /// A part of the hash form holds something other than text, an integer
    /// or UTF-8 bytes.
    NotText {
        /// The part.
        part: Part,
        /// What it holds, as "a list", "a float"...
        found: &'static str,
    },
    /// The value is neither a map (the hash form) nor text (the string
    /// form).
    NotASpecifier {
        /// What it is, as "a list", "a float"...
        found: &'static str,
    },
    /// The part cannot be written in the string form (only the hash form
    /// carries it).
    Unwritable {
        /// The part.
        part: Part,
        /// Its text.
        text: String,
        /// The first character the string form never allows in that part;
        /// `None` when the text is empty or only its shape is wrong.
        found: Option<char>,
    },
}

/// A text or a value that is not a specifier, or a specifier that cannot be
/// written in the string form: the [`Reason`], and for a text, where.
///
/// # Examples
///
/// ```
/// use roe_ikc::{Expected, Reason, Specifier};
///
/// let error = "poe://Pulse/time server/connect!".parse::<Specifier>().unwrap_err();
/// assert_eq!(error.position(), Some(31));
/// assert_eq!(error.reason(), &Reason::Syntax { expected: Expected::ArgOrEnd, found: Some('!') });
/// assert_eq!(
///     error.to_string(),
///     "not an IKC specifier: at byte 31, expected `?` and an argument, or the end, found `!`"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecifierError {
    reason: Reason,
    position: Option<usize>,
}

impl SpecifierError {
    /// Why.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Expected, Reason, Specifier};
    ///
    /// let error = "poe:tick?".parse::<Specifier>().unwrap_err();
    /// assert_eq!(error.reason(), &Reason::Syntax { expected: Expected::Arg, found: None });
    /// ```
    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// For a text, the byte offset in it where reading stopped (the
    /// furthest any reading IKC allows got); `None` for a value or a
    /// specifier.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Specifier;
    ///
    /// assert_eq!("a/b/c".parse::<Specifier>().unwrap_err().position(), Some(3));
    /// let proxy = Specifier::default().with_state("IKC:proxy");
    /// assert_eq!(proxy.check_string_form().unwrap_err().position(), None);
    /// ```
    pub fn position(&self) -> Option<usize> {
        self.position
    }
}

impl fmt::Display for SpecifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IKC specifier: ")?;
        match &self.reason {
            Reason::Empty => f.write_str("the text is empty (`poe:` is the empty specifier)"),
            Reason::Syntax { expected, found } => {
                if let Some(position) = self.position {
                    write!(f, "at byte {position}, ")?;
                }
                write!(f, "expected {expected}, found ")?;
                match found {
                    Some(c) => write!(f, "`{}`", c.escape_debug()),
                    None => f.write_str("the end"),
                }
            }
            Reason::NotText { part, found } => {
                write!(f, "the {part} is {found}, where text is expected")
            }
            Reason::NotASpecifier { found } => {
                write!(f, "{found} is neither a specifier's text nor its hash")
            }
            Reason::Unwritable { part, text, found } => {
                write!(
                    f,
                    "the {part} {text:?} cannot be written in a string specifier"
                )?;
                match found {
                    Some(c) => write!(f, " (`{}` is not allowed there)", c.escape_debug())?,
                    None if text.is_empty() => f.write_str(" (it is empty: leave it out)")?,
                    None => f.write_str(" (it does not have a shape the string form reads)")?,
                }
                f.write_str("; the hash form carries it")
            }
        }
    }
}

impl std::error::Error for SpecifierError {}

/// The scheme that starts IKC's absolute form.
const SCHEME: &str = "poe:";

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Perl's `\w`, read as ASCII (see the module documentation).
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// IKC's `[- \w]`: a session, a state.
fn is_name(b: u8) -> bool {
    is_word(b) || b == b'-' || b == b' '
}

/// IKC's `[-. \w]`: a kernel name.
fn is_kernel_name(b: u8) -> bool {
    is_name(b) || b == b'.'
}

/// IKC's `[-.a-zA-Z0-9]`: a host in `host:port`.
fn is_host(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// IKC's `[-.\w]`: a path in `unix:path`.
fn is_path(b: u8) -> bool {
    is_word(b) || b == b'-' || b == b'.'
}

/// The bytes the string form allows in `part`; for the kernel, in any of
/// its shapes (`:` only in `host:port` and `unix:path`, which
/// [`is_kernel_text`] checks as a whole).
fn allowed_in(part: Part) -> fn(u8) -> bool {
    match part {
        Part::Kernel => |b| is_kernel_name(b) || b == b':',
        Part::Session | Part::State => is_name,
        Part::Arg => is_word,
    }
}

/// Where the run of `allowed` bytes from `from` ends.
fn run(bytes: &[u8], from: usize, allowed: fn(u8) -> bool) -> usize {
    from + bytes
        .get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| allowed(b))
        .count()
}

/// Where each kernel IKC's pattern allows at `at` would end, in the order
/// Perl's regex tries them: `*`; a name; `host:port`; `unix:path` with its
/// `:pid-fd`, then without.
///
/// Perl also backtracks to shorter names, hosts, ports and paths, but
/// where the longest fails to lead to a specifier, a shorter one never
/// does: what it gives up is all session-or-state characters, which can
/// only become the state, before the same remainder that made the longest
/// fail (the parsers' tests check this against IKC's answers).
fn kernel_ends(bytes: &[u8], at: usize) -> Vec<usize> {
    let mut ends = Vec::with_capacity(4);
    if bytes.get(at) == Some(&b'*') {
        ends.push(at + 1);
    }
    let name = run(bytes, at, is_kernel_name);
    if name > at {
        ends.push(name);
    }
    if bytes.get(at).is_some_and(u8::is_ascii_alphanumeric) {
        let host = run(bytes, at + 1, is_host);
        if host > at + 1 && bytes.get(host) == Some(&b':') {
            let port = run(bytes, host + 1, |b| b.is_ascii_digit());
            if port > host + 1 {
                ends.push(port);
            }
        }
    }
    if bytes
        .get(at..)
        .is_some_and(|rest| rest.starts_with(b"unix:"))
    {
        let path = run(bytes, at + 5, is_path);
        if path > at + 5 {
            if bytes.get(path) == Some(&b':') {
                let pid = run(bytes, path + 1, |b| b.is_ascii_digit());
                if pid > path + 1 && bytes.get(pid) == Some(&b'-') {
                    let fd = run(bytes, pid + 1, |b| b.is_ascii_digit());
                    if fd > pid + 1 {
                        ends.push(fd);
                    }
                }
            }
            ends.push(path);
        }
    }
    ends
}

/// Whether `name` is a whole kernel in IKC's pattern (and not `*`, which is
/// [`Kernel::All`]).
fn is_kernel_text(name: &str) -> bool {
    name != "*" && kernel_ends(name.as_bytes(), 0).contains(&name.len())
}

/// Whether `poe://name` reads `name` as the kernel, rather than a shorter
/// kernel followed by a state.
fn reads_alone(name: &str) -> bool {
    let text = format!("poe://{name}");
    read_scheme(&text).is_ok_and(|parts| parts.kernel.is_some_and(|k| &text[k.0..k.1] == name))
}

/// A byte range of the text.
type Span = (usize, usize);

/// The parts read from a text, as ranges of it; an empty part is absent,
/// as IKC's `||= ''` leaves it.
#[derive(Clone, Copy, Debug, Default)]
struct Parts {
    kernel: Option<Span>,
    session: Option<Span>,
    state: Option<Span>,
    arg: Option<Span>,
}

impl Parts {
    fn to_specifier(self, text: &str) -> Specifier {
        let part = |span: Option<Span>| {
            span.filter(|(from, to)| to > from)
                .map(|(from, to)| text[from..to].to_owned())
        };
        Specifier {
            kernel: part(self.kernel).map_or(Kernel::Default, Kernel::from),
            session: part(self.session),
            state: part(self.state),
            arg: part(self.arg),
        }
    }
}

/// Where and why one reading failed.
#[derive(Clone, Copy, Debug)]
struct Fail {
    position: usize,
    expected: Expected,
}

impl Fail {
    /// The failure that got further; the first on a tie, since the reading
    /// Perl prefers is tried first.
    fn further(self, other: Fail) -> Fail {
        if other.position > self.position {
            other
        } else {
            self
        }
    }

    /// The error for `text`, whose reading began `offset` bytes into it.
    fn into_error(self, text: &str, offset: usize) -> SpecifierError {
        let position = self.position.saturating_sub(offset);
        SpecifierError {
            reason: Reason::Syntax {
                expected: self.expected,
                found: text
                    .get(self.position..)
                    .and_then(|rest| rest.chars().next()),
            },
            position: Some(position),
        }
    }
}

/// IKC's first pattern, for text that starts with `poe:`:
///
/// ```text
/// ^poe: (?: (//) (KERNEL)? )? (?: (/) ([- \w]+) )? (?: (/)? ([- \w]*) )? (?: \? (\w+) )? $
/// ```
fn read_scheme(text: &str) -> Result<Parts, Fail> {
    let bytes = text.as_bytes();
    let at = SCHEME.len();
    // Starting with `//`, the text is never read without the kernel
    // group: the tail cannot start with two slashes.
    if !bytes[at..].starts_with(b"//") {
        return read_scheme_tail(bytes, at, Expected::AfterScheme);
    }
    let at = at + 2;
    let mut furthest: Option<Fail> = None;
    for end in kernel_ends(bytes, at) {
        match read_scheme_tail(bytes, end, Expected::NextPart) {
            Ok(parts) => {
                return Ok(Parts {
                    kernel: Some((at, end)),
                    ..parts
                });
            }
            Err(fail) => furthest = Some(furthest.map_or(fail, |f| f.further(fail))),
        }
    }
    // The kernel group's pattern is optional, tried last.
    read_scheme_tail(bytes, at, Expected::Kernel)
        .map_err(|fail| furthest.map_or(fail, |f| f.further(fail)))
}

/// The session, state and argument of IKC's first pattern, from `at` to
/// the end; `first` is what a failure at `at` itself expected.
fn read_scheme_tail(bytes: &[u8], mut at: usize, first: Expected) -> Result<Parts, Fail> {
    let mut parts = Parts::default();
    let mut expected = first;
    if bytes.get(at) == Some(&b'/') {
        let end = run(bytes, at + 1, is_name);
        if end > at + 1 {
            parts.session = Some((at + 1, end));
            at = end;
            expected = Expected::NextPart;
        }
    }
    if bytes.get(at) == Some(&b'/') {
        at += 1;
        expected = Expected::ArgOrEnd;
    }
    let end = run(bytes, at, is_name);
    if end > at {
        parts.state = Some((at, end));
        at = end;
        expected = Expected::ArgOrEnd;
    }
    read_arg_and_end(bytes, at, expected, parts)
}

/// IKC's `(?: \? (\w+) )? $`, the same in both patterns.
fn read_arg_and_end(
    bytes: &[u8],
    mut at: usize,
    mut expected: Expected,
    mut parts: Parts,
) -> Result<Parts, Fail> {
    if bytes.get(at) == Some(&b'?') {
        let end = run(bytes, at + 1, is_word);
        if end == at + 1 {
            return Err(Fail {
                position: end,
                expected: Expected::Arg,
            });
        }
        parts.arg = Some((at + 1, end));
        at = end;
        expected = Expected::End;
    }
    if at == bytes.len() {
        Ok(parts)
    } else {
        Err(Fail {
            position: at,
            expected,
        })
    }
}

/// IKC's second pattern, for text without `poe:`:
///
/// ```text
/// ^ (?: // (KERNEL) / )? (?: ([- \w]+) / )? (?: ([- \w]+) )? (?: \? (\w+) )? $
/// ```
fn read_plain(text: &str) -> Result<Parts, Fail> {
    let bytes = text.as_bytes();
    let mut parts = Parts::default();
    let mut at = 0;
    let mut expected = Expected::Start;
    if bytes.starts_with(b"//") {
        // Only the whole of a kernel can be followed by `/` (a shorter
        // one is followed by a character of its own), so the first kernel
        // that is, is the reading; without one the text starts with `/`,
        // which nothing else in the pattern takes.
        let ends = kernel_ends(bytes, 2);
        let Some(&end) = ends.iter().find(|&&end| bytes.get(end) == Some(&b'/')) else {
            return Err(match ends.iter().max() {
                Some(&end) => Fail {
                    position: end,
                    expected: Expected::Slash,
                },
                None => Fail {
                    position: 2,
                    expected: Expected::Kernel,
                },
            });
        };
        parts.kernel = Some((2, end));
        at = end + 1;
        expected = Expected::Name;
    }
    let end = run(bytes, at, is_name);
    if end > at && bytes.get(end) == Some(&b'/') {
        parts.session = Some((at, end));
        at = end + 1;
        expected = Expected::Name;
    }
    let end = run(bytes, at, is_name);
    if end > at {
        parts.state = Some((at, end));
        expected = if parts.session.is_some() {
            Expected::ArgOrEnd
        } else {
            Expected::NextPart
        };
        at = end;
    }
    read_arg_and_end(bytes, at, expected, parts)
}

/// Reads `prefix` followed by `text`, with error positions counted in
/// `text`.
fn parse_prefixed(prefix: &str, text: &str) -> Result<Specifier, SpecifierError> {
    let whole = format!("{prefix}{text}");
    match read_scheme(&whole) {
        Ok(parts) => Ok(parts.to_specifier(&whole)),
        Err(fail) => Err(fail.into_error(&whole, prefix.len())),
    }
}

/// The error for a part the string form cannot write.
fn unwritable(part: Part, text: &str) -> SpecifierError {
    let allowed = allowed_in(part);
    let found = text.chars().find(|&c| !u8::try_from(c).is_ok_and(allowed));
    SpecifierError {
        reason: Reason::Unwritable {
            part,
            text: text.to_owned(),
            found,
        },
        position: None,
    }
}

/// A part of the hash form: text, an integer (Perl's scalars are both), or
/// UTF-8 bytes (a Perl byte string); missing, `undef` or empty is absent.
fn map_text(map: &Map, part: Part) -> Result<Option<String>, SpecifierError> {
    let text = match map.get(part.key()) {
        None | Some(Value::Undef) => return Ok(None),
        Some(Value::Str(text)) => text.as_str().to_owned(),
        Some(Value::Int(n)) => n.to_string(),
        Some(value @ Value::Bytes(bytes)) => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => return Err(not_text(part, value)),
        },
        Some(value) => return Err(not_text(part, value)),
    };
    Ok(non_empty(text))
}

fn not_text(part: Part, value: &Value) -> SpecifierError {
    SpecifierError {
        reason: Reason::NotText {
            part,
            found: kind(value),
        },
        position: None,
    }
}

fn not_a_specifier(value: &Value) -> SpecifierError {
    SpecifierError {
        reason: Reason::NotASpecifier { found: kind(value) },
        position: None,
    }
}

/// What a value is, for an error.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Undef => "undef",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Str(_) => "text",
        Value::Bytes(bytes) if std::str::from_utf8(bytes).is_err() => "bytes that are not UTF-8",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Session(_) => "a session",
        Value::Local(_) => "a local value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IKC's expected hash for a text, as `specifier_parse` returns it:
    /// `kernel`, `session`, `state` (empty when absent), `args` when given.
    fn ikc_hash(kernel: &str, session: &str, state: &str, args: Option<&str>) -> Map {
        let mut map = Map::new();
        map.insert(Str::new("kernel"), Value::from(kernel));
        map.insert(Str::new("session"), Value::from(session));
        map.insert(Str::new("state"), Value::from(state));
        if let Some(args) = args {
            map.insert(Str::new("args"), Value::from(args));
        }
        map
    }

    /// Reads `text`, checks the result against IKC's expected hash, and
    /// checks that the canonical form reads back as the same specifier.
    fn check_ikc_form(text: &str, kernel: &str, session: &str, state: &str, args: Option<&str>) {
        let spec: Specifier = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(
            spec.to_map(),
            ikc_hash(kernel, session, state, args),
            "{text:?}"
        );
        assert_eq!(spec.kernel, Kernel::from(kernel), "{text:?}");
        assert_eq!(spec.session, non_empty(session.into()), "{text:?}");
        assert_eq!(spec.state, non_empty(state.into()), "{text:?}");
        assert_eq!(spec.arg, args.map(str::to_owned), "{text:?}");
        assert_eq!(spec.to_string().parse::<Specifier>(), Ok(spec), "{text:?}");
    }

    /// IKC 0.2402's `t/05_specifier.t`, case by case and in its order: the
    /// text, and the hash `specifier_parse` returns for it.
    macro_rules! ikc_forms {
        ($($name:ident: $text:literal => ($kernel:literal, $session:literal, $state:literal $(, $args:literal)?);)*) => {
            $(
                #[test]
                fn $name() {
                    check_ikc_form($text, $kernel, $session, $state, None $(.or(Some($args)))?);
                }
            )*
        };
    }

    ikc_forms! {
        ikc_t05_session_state: "session/state" => ("", "session", "state");
        ikc_t05_state: "state" => ("", "", "state");
        ikc_t05_slashes_kernel_session_state: "//kernel/session/state" => ("kernel", "session", "state");
        ikc_t05_slashes_all_session_state: "//*/session/state" => ("*", "session", "state");
        ikc_t05_poe_kernel_session_state: "poe://kernel/session/state" => ("kernel", "session", "state");
        ikc_t05_poe_kernel_session: "poe://kernel/session" => ("kernel", "session", "");
        ikc_t05_poe_kernel: "poe://kernel" => ("kernel", "", "");
        ikc_t05_poe_session_state: "poe:/session/state" => ("", "session", "state");
        ikc_t05_poe_state: "poe:state" => ("", "", "state");
        ikc_t05_poe_all_session_state: "poe://*/session/state" => ("*", "session", "state");
        ikc_t05_session_state_args: "session/state?args" => ("", "session", "state", "args");
        ikc_t05_state_args: "state?args" => ("", "", "state", "args");
        ikc_t05_slashes_kernel_session_state_args: "//kernel/session/state?args" => ("kernel", "session", "state", "args");
        ikc_t05_slashes_all_session_state_args: "//*/session/state?args" => ("*", "session", "state", "args");
        ikc_t05_poe_kernel_session_state_args: "poe://kernel/session/state?args" => ("kernel", "session", "state", "args");
        ikc_t05_poe_session_state_args: "poe:/session/state?args" => ("", "session", "state", "args");
        ikc_t05_poe_state_args: "poe:state?args" => ("", "", "state", "args");
        ikc_t05_poe_all_session_state_args: "poe://*/session/state?args" => ("*", "session", "state", "args");
    }

    /// Readings of IKC's patterns away from its test, each as Perl's
    /// `specifier_parse` from IKC 0.2402 answers it (`None`: no specifier).
    #[test]
    fn corners_read_as_ikc_reads_them() {
        type Hash = (
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
        );
        let cases: &[(&str, Option<Hash>)] = &[
            ("poe:", Some(("", "", "", None))),
            ("poe://", Some(("", "", "", None))),
            ("poe:/", Some(("", "", "", None))),
            ("poe:?a", Some(("", "", "", Some("a")))),
            ("?a", Some(("", "", "", Some("a")))),
            ("poe:///session/state", Some(("", "session", "state", None))),
            ("poe://kernel/", Some(("kernel", "", "", None))),
            (
                "poe://kernel/session/",
                Some(("kernel", "session", "", None)),
            ),
            (
                "poe://kernel/session?a",
                Some(("kernel", "session", "", Some("a"))),
            ),
            ("poe://kernel?a", Some(("kernel", "", "", Some("a")))),
            ("poe:/session", Some(("", "session", "", None))),
            ("//kernel/", Some(("kernel", "", "", None))),
            ("//kernel/state", Some(("kernel", "", "state", None))),
            ("poe://kernel/state", Some(("kernel", "state", "", None))),
            ("session/", Some(("", "session", "", None))),
            ("poe://*connect", Some(("*", "", "connect", None))),
            ("poe://host:80x", Some(("host:80", "", "x", None))),
            ("poe://host:80/s/t", Some(("host:80", "s", "t", None))),
            ("poe://h:80", None),
            ("poe://unix:12ab", Some(("unix:12", "", "ab", None))),
            ("poe://unix:1-2", Some(("unix:1", "", "-2", None))),
            ("poe://unix:1-2/", Some(("unix:1-2", "", "", None))),
            (
                "poe://unix:_tmp_sock:123-4/s",
                Some(("unix:_tmp_sock:123-4", "s", "", None)),
            ),
            ("//unix:12ab/s/t", Some(("unix:12ab", "s", "t", None))),
            ("poe://unix:ab cd", Some(("unix:ab", "", " cd", None))),
            (
                "poe://my host.example/a b/c-d",
                Some(("my host.example", "a b", "c-d", None)),
            ),
            (
                "poe://host-68a1f2c0-00004cdd-00000001/IKC/ping",
                Some(("host-68a1f2c0-00004cdd-00000001", "IKC", "ping", None)),
            ),
            ("poe:session/state", None),
            ("poe://kernel//state", None),
            ("//kernel", None),
            ("//kernel/x", Some(("kernel", "", "x", None))),
            ("/state", None),
            ("session/state/extra", None),
            ("poe://k/s/t/u", None),
            ("poe:state?", None),
            ("poe:state?a-b", None),
            ("poe:/IKC:proxy", None),
            ("poe://k/s/IKC:proxy", None),
            ("state?a?b", None),
            ("poe:state.x", None),
            ("//k!/s", None),
        ];
        for &(text, expected) in cases {
            let read = text.parse::<Specifier>().ok().map(|spec| spec.to_map());
            let expected = expected.map(|(k, s, t, a)| ikc_hash(k, s, t, a));
            assert_eq!(read, expected, "{text:?}");
        }
    }

    /// Where roe's reading departs from IKC's, as the module documents.
    #[test]
    fn departures_from_ikc_are_the_documented_ones() {
        // IKC reads `0` parts as absent (Perl's truth); roe keeps them.
        let spec: Specifier = "poe://0/0/0?0".parse().unwrap();
        assert_eq!(spec.kernel, Kernel::from("0"));
        assert_eq!(spec.session.as_deref(), Some("0"));
        assert_eq!(spec.state.as_deref(), Some("0"));
        assert_eq!(spec.arg.as_deref(), Some("0"));
        assert_eq!(
            "0".parse::<Specifier>().unwrap().state.as_deref(),
            Some("0")
        );
        // IKC's `$` takes a trailing newline; roe does not.
        let error = "poe:state\n".parse::<Specifier>().unwrap_err();
        assert_eq!(error.position(), Some(9));
        assert_eq!(
            error.reason(),
            &Reason::Syntax {
                expected: Expected::ArgOrEnd,
                found: Some('\n')
            }
        );
        // `\w` is ASCII.
        let error = "poe:/café/x".parse::<Specifier>().unwrap_err();
        assert_eq!(error.position(), Some(8));
        assert_eq!(
            error.reason(),
            &Reason::Syntax {
                expected: Expected::NextPart,
                found: Some('é')
            }
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases: &[(&str, usize, Expected, Option<char>)] = &[
            ("poe:session/state", 11, Expected::ArgOrEnd, Some('/')),
            ("poe:!", 4, Expected::AfterScheme, Some('!')),
            ("poe://!", 6, Expected::Kernel, Some('!')),
            ("poe://k!", 7, Expected::NextPart, Some('!')),
            ("poe://ho:12ab!", 13, Expected::ArgOrEnd, Some('!')),
            ("poe://k/s!", 9, Expected::NextPart, Some('!')),
            ("poe://k/s/t/u", 11, Expected::ArgOrEnd, Some('/')),
            ("poe:t?", 6, Expected::Arg, None),
            ("poe:t?a!", 7, Expected::End, Some('!')),
            ("/state", 0, Expected::Start, Some('/')),
            ("//!", 2, Expected::Kernel, Some('!')),
            ("//kernel", 8, Expected::Slash, None),
            ("//k/!", 4, Expected::Name, Some('!')),
            ("a!", 1, Expected::NextPart, Some('!')),
            ("a/b/c", 3, Expected::ArgOrEnd, Some('/')),
        ];
        for &(text, position, expected, found) in cases {
            let error = text.parse::<Specifier>().unwrap_err();
            assert_eq!(error.position(), Some(position), "{text:?}");
            assert_eq!(
                error.reason(),
                &Reason::Syntax { expected, found },
                "{text:?}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("not an IKC specifier: at byte")
            );
        }
        assert_eq!(
            "".parse::<Specifier>().unwrap_err().reason(),
            &Reason::Empty
        );
    }

    #[test]
    fn display_writes_ikc_form_and_reads_back() {
        let cases: &[(Specifier, &str)] = &[
            (Specifier::default(), "poe:"),
            (Specifier::default().with_arg("a"), "poe:?a"),
            (Specifier::default().with_state("t"), "poe:t"),
            (Specifier::default().with_session("s"), "poe:/s"),
            (Specifier::default().with_kernel("k"), "poe://k"),
            (Specifier::default().with_kernel("*"), "poe://*"),
            (
                Specifier::default().with_kernel("k").with_state("t"),
                "//k/t",
            ),
            (
                Specifier::default()
                    .with_kernel("*")
                    .with_state("t")
                    .with_arg("a"),
                "//*/t?a",
            ),
            (
                Specifier::default().with_kernel("unix:1-2"),
                "poe://unix:1-2/",
            ),
            (
                Specifier::default().with_kernel("unix:12ab").with_arg("a"),
                "poe://unix:12ab/?a",
            ),
            (Specifier::default().with_kernel("host:80"), "poe://host:80"),
            (
                Specifier::default()
                    .with_kernel("k")
                    .with_session("s")
                    .with_arg("a"),
                "poe://k/s?a",
            ),
        ];
        for (spec, text) in cases {
            assert_eq!(spec.to_string(), *text);
            assert_eq!(text.parse::<Specifier>().as_ref(), Ok(spec), "{text:?}");
        }
        // Text the string form cannot hold is written as it is, for
        // messages, as IKC's `specifier_name` writes it.
        let proxy = Specifier::default()
            .with_kernel("k")
            .with_session("s")
            .with_state("IKC:proxy");
        assert_eq!(proxy.to_string(), "poe://k/s/IKC:proxy");
    }

    #[test]
    fn check_string_form_names_the_part() {
        let unwritable = |spec: Specifier| spec.check_string_form().unwrap_err().reason().clone();
        assert_eq!(
            unwritable(Specifier::default().with_kernel("a/b")),
            Reason::Unwritable {
                part: Part::Kernel,
                text: "a/b".into(),
                found: Some('/')
            }
        );
        assert_eq!(
            unwritable(Specifier::default().with_kernel("a:b")),
            Reason::Unwritable {
                part: Part::Kernel,
                text: "a:b".into(),
                found: None
            }
        );
        assert_eq!(
            unwritable(Specifier {
                kernel: Kernel::Named("*".into()),
                ..Specifier::default()
            }),
            Reason::Unwritable {
                part: Part::Kernel,
                text: "*".into(),
                found: Some('*')
            }
        );
        assert_eq!(
            unwritable(Specifier {
                session: Some(String::new()),
                ..Specifier::default()
            }),
            Reason::Unwritable {
                part: Part::Session,
                text: String::new(),
                found: None
            }
        );
        assert_eq!(
            unwritable(Specifier::default().with_state("response 3 (call)")),
            Reason::Unwritable {
                part: Part::State,
                text: "response 3 (call)".into(),
                found: Some('(')
            }
        );
        assert_eq!(
            unwritable(Specifier::default().with_arg("a b")),
            Reason::Unwritable {
                part: Part::Arg,
                text: "a b".into(),
                found: Some(' ')
            }
        );
        for kernel in ["k", "host:80", "unix:p", "unix:p:1-2", "a b.c", "-", "."] {
            assert!(
                Specifier::default().with_kernel(kernel).is_string_form(),
                "{kernel:?}"
            );
        }
    }

    #[test]
    fn relative_readings_follow_clientlite_and_post() {
        let server = Kernel::from("Server");
        let read = |text| Specifier::parse_relative(text, &server).map(|spec| spec.to_map());
        assert_eq!(read("s/t"), Ok(ikc_hash("Server", "s", "t", None)));
        assert_eq!(read("s"), Ok(ikc_hash("Server", "s", "", None)));
        assert_eq!(read("s/t?a"), Ok(ikc_hash("Server", "s", "t", Some("a"))));
        assert_eq!(read(""), Ok(ikc_hash("Server", "", "", None)));
        assert_eq!(read("poe:t"), Ok(ikc_hash("", "", "t", None)));
        let error = Specifier::parse_relative("s/t/u", &server).unwrap_err();
        assert_eq!(error.position(), Some(3));
        let error = Specifier::parse_relative("//k/s", &server).unwrap_err();
        assert_eq!(error.position(), Some(0));
        let read_on = |kernel: &str| {
            Specifier::parse_relative("s/t", &Kernel::from(kernel)).map(|spec| spec.to_map())
        };
        assert_eq!(read_on(""), Ok(ikc_hash("", "s", "t", None)));
        assert_eq!(read_on("*"), Ok(ikc_hash("*", "s", "t", None)));
        assert_eq!(
            read_on("unix:1-2"),
            Ok(ikc_hash("unix:1-2", "s", "t", None))
        );
        assert_eq!(
            Specifier::parse_relative("s/t", &Kernel::from("a/b"))
                .unwrap_err()
                .reason(),
            &Reason::Unwritable {
                part: Part::Kernel,
                text: "a/b".into(),
                found: Some('/')
            }
        );

        let post = |text| Specifier::parse_post(text).map(|spec| spec.to_map());
        assert_eq!(post("k/s/t"), Ok(ikc_hash("k", "s", "t", None)));
        assert_eq!(post("k"), Ok(ikc_hash("k", "", "", None)));
        assert_eq!(post("*/s/t?a"), Ok(ikc_hash("*", "s", "t", Some("a"))));
        assert_eq!(post(""), Ok(ikc_hash("", "", "", None)));
        assert_eq!(post("poe:/s/t"), Ok(ikc_hash("", "s", "t", None)));
        assert_eq!(
            Specifier::parse_post("k/s/t/u").unwrap_err().position(),
            Some(5)
        );
    }

    #[test]
    fn hash_form_takes_any_text_and_reports_bad_types() {
        let mut map = Map::new();
        map.insert(Str::new("kernel"), Value::from("Client"));
        map.insert(Str::new("session"), Value::from(12));
        map.insert(
            Str::new("state"),
            Value::Bytes(b"response 3 (call)".to_vec()),
        );
        map.insert(Str::new("args"), Value::from("x:y"));
        map.insert(Str::new("extra"), Value::List(vec![]));
        let spec = Specifier::from_map(&map).unwrap();
        assert_eq!(
            spec,
            Specifier {
                kernel: Kernel::Named("Client".into()),
                session: Some("12".into()),
                state: Some("response 3 (call)".into()),
                arg: Some("x:y".into()),
            }
        );
        assert!(!spec.is_string_form());
        assert_eq!(Specifier::from_map(&spec.to_map()), Ok(spec.clone()));
        assert_eq!(Specifier::try_from(&Value::from(spec.clone())), Ok(spec));

        let mut empty = Map::new();
        empty.insert(Str::new("kernel"), Value::from(""));
        empty.insert(Str::new("session"), Value::Undef);
        assert_eq!(Specifier::from_map(&empty), Ok(Specifier::default()));
        empty.insert(Str::new("kernel"), Value::from("*"));
        assert_eq!(Specifier::from_map(&empty).unwrap().kernel, Kernel::All);

        for (key, part, value, found) in [
            ("kernel", Part::Kernel, Value::from(1.5), "a float"),
            ("session", Part::Session, Value::Map(Map::new()), "a map"),
            ("state", Part::State, Value::from(true), "a boolean"),
            (
                "args",
                Part::Arg,
                Value::Bytes(vec![0xff]),
                "bytes that are not UTF-8",
            ),
        ] {
            let mut map = Map::new();
            map.insert(Str::new(key), value);
            let error = Specifier::from_map(&map).unwrap_err();
            assert_eq!(error.reason(), &Reason::NotText { part, found });
            assert_eq!(error.position(), None);
            assert!(error.to_string().contains(found), "{error}");
        }
        assert_eq!(
            Specifier::try_from(&Value::List(vec![]))
                .unwrap_err()
                .reason(),
            &Reason::NotASpecifier { found: "a list" }
        );
        assert_eq!(
            Specifier::try_from(&Value::Bytes(b"poe:/s/t".to_vec())),
            "poe:/s/t".parse()
        );
    }

    /// xorshift64: a small deterministic generator, so a failing case is
    /// the same on every run.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        fn chance(&mut self, in_: usize) -> bool {
            self.below(in_) == 0
        }

        fn text(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
            let len = min + self.below(max - min + 1);
            (0..len)
                .map(|_| char::from(alphabet[self.below(alphabet.len())]))
                .collect()
        }
    }

    const NAME: &[u8] = b"abXZ09_- ";
    const KERNEL_NAME: &[u8] = b"abXZ09_-. ";
    const HOST: &[u8] = b"ab19-.";
    const PATH: &[u8] = b"ab19_-.";
    const WORD: &[u8] = b"aZ09_";
    const DIGIT: &[u8] = b"0123456789";
    const ALNUM: &[u8] = b"aZ19";

    fn kernel(rng: &mut Rng) -> Kernel {
        match rng.below(7) {
            0 => Kernel::Default,
            1 => Kernel::All,
            2 => Kernel::from(rng.text(KERNEL_NAME, 1, 8)),
            3 => Kernel::from(format!(
                "{}{}:{}",
                rng.text(ALNUM, 1, 1),
                rng.text(HOST, 1, 6),
                rng.text(DIGIT, 1, 5)
            )),
            4 => Kernel::from(format!("unix:{}", rng.text(PATH, 1, 6))),
            5 => Kernel::from(format!(
                "unix:{}:{}-{}",
                rng.text(PATH, 1, 6),
                rng.text(DIGIT, 1, 5),
                rng.text(DIGIT, 1, 3)
            )),
            _ => Kernel::from(format!(
                "{}-{:08x}-{:08x}-{:08x}",
                rng.text(HOST, 1, 8),
                rng.next_u64() as u32,
                rng.next_u64() as u32,
                rng.next_u64() as u32
            )),
        }
    }

    fn specifier(rng: &mut Rng) -> Specifier {
        let mut spec = Specifier::default().with_kernel(kernel(rng));
        if rng.chance(2) {
            spec = spec.with_session(rng.text(NAME, 1, 8));
        }
        if rng.chance(2) {
            spec = spec.with_state(rng.text(NAME, 1, 8));
        }
        if rng.chance(3) {
            spec = spec.with_arg(rng.text(WORD, 1, 5));
        }
        spec
    }

    #[test]
    fn property_valid_specifiers_read_back_from_their_display() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let spec = specifier(&mut rng);
            assert_eq!(spec.check_string_form(), Ok(()), "{spec:?}");
            let text = spec.to_string();
            assert_eq!(text.parse::<Specifier>().as_ref(), Ok(&spec), "{text:?}");
            assert_eq!(Specifier::from_map(&spec.to_map()).as_ref(), Ok(&spec));
        }
    }

    #[test]
    fn property_relative_readings_agree_with_the_prefixed_text() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..5_000 {
            let spec = specifier(&mut rng);
            let on = kernel(&mut rng);
            let text = spec.to_string();
            let relative = text
                .strip_prefix(SCHEME)
                .unwrap_or(&text)
                .trim_start_matches('/');
            let prefixed = format!("poe://{on}/{relative}");
            assert_eq!(
                Specifier::parse_relative(relative, &on).ok(),
                prefixed.parse().ok(),
                "{relative:?} on {on:?}"
            );
            assert_eq!(
                Specifier::parse_post(relative).ok(),
                format!("poe://{relative}").parse().ok(),
                "{relative:?}"
            );
        }
    }

    /// Pieces of IKC's grammar and things around it, so that random texts
    /// come near specifiers often.
    const PIECES: &[&str] = &[
        "poe:",
        "poe",
        "//",
        "/",
        "?",
        "*",
        ":",
        "-",
        ".",
        " ",
        "_",
        "a",
        "Z",
        "0",
        "7",
        "12",
        "unix:",
        "host",
        "\n",
        "é",
        "!",
        "\u{0}",
        "IKC:proxy",
    ];

    fn arbitrary(rng: &mut Rng) -> String {
        let pieces = rng.below(12);
        let mut text = String::new();
        for _ in 0..pieces {
            if rng.chance(10) {
                text.push(char::from_u32(rng.next_u64() as u32 % 0x11_0000).unwrap_or('\u{fffd}'));
            } else {
                text.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        text
    }

    #[test]
    fn property_arbitrary_text_reads_or_fails_cleanly() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        let mut read = 0;
        for _ in 0..50_000 {
            let text = arbitrary(&mut rng);
            match text.parse::<Specifier>() {
                Ok(spec) => {
                    read += 1;
                    assert_eq!(spec.check_string_form(), Ok(()), "{text:?}");
                    let canonical = spec.to_string();
                    assert_eq!(
                        canonical.parse::<Specifier>().as_ref(),
                        Ok(&spec),
                        "{text:?}"
                    );
                    assert_eq!(
                        canonical.parse::<Specifier>().map(|s| s.to_string()),
                        Ok(canonical)
                    );
                }
                Err(error) => {
                    let position = error.position().expect("a text's error has a position");
                    assert!(text.is_char_boundary(position), "{text:?} at {position}");
                    assert!(!error.to_string().is_empty());
                }
            }
            for result in [
                Specifier::parse_relative(&text, &Kernel::from("k")),
                Specifier::parse_post(&text),
            ] {
                if let Err(error) = result {
                    let position = error.position().expect("a text's error has a position");
                    assert!(text.is_char_boundary(position), "{text:?} at {position}");
                }
            }
        }
        // The pieces make specifiers often enough to exercise both arms.
        assert!(read > 1_000, "only {read} texts read");
    }
}
