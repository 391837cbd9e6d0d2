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

mod display;
mod error;
mod grammar;
mod hash;
mod kernel;
mod parse;
#[cfg(test)]
mod tests;

pub use self::{
    error::{Expected, Part, Reason, SpecifierError},
    kernel::Kernel,
};

/// An IKC specifier: a kernel, a session on it, a state of that session,
/// and an argument to push after the event's parameters.
///
/// A part that is absent is `None` ([`Kernel::Default`] for the kernel);
/// an empty string is not a part, and the builders (`with_*`), parsing and
/// [`Specifier::from_map`] never make one.
///
/// [`FromStr`] reads the string form as IKC's `specifier_parse` does;
/// [`Display`] writes the canonical string form, which
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
///
/// [`FromStr`]: std::str::FromStr
/// [`Display`]: std::fmt::Display
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
}

/// The scheme that starts IKC's absolute form.
const SCHEME: &str = "poe:";

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
