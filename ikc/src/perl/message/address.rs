//! [`Address`] (IKC's hash form of a specifier, exactly as it travels),
//! [`SessionName`] and [`Spec`] (a specifier in either form).

use std::fmt;

use roe_engine::{Map, Str, Value};

use super::{MessageError, text};
use crate::{Kernel, Specifier, SpecifierError};

/// A session in IKC's hash form: an alias, or a POE session ID, which
/// Perl sends as a number (a full IKC client's `rsvp` names the calling
/// session by its ID: `{kernel => 'PoeClient', session => 2, state =>
/// 'echo_back'}`).
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::SessionName;
///
/// assert_eq!(SessionName::from("echo").to_string(), "echo");
/// assert_eq!(SessionName::from(2).to_string(), "2");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SessionName {
    /// An alias (or any other text).
    Alias(String),
    /// A session ID, a number on the wire.
    Id(i64),
}

impl From<&str> for SessionName {
    fn from(alias: &str) -> SessionName {
        SessionName::Alias(alias.to_owned())
    }
}

impl From<String> for SessionName {
    fn from(alias: String) -> SessionName {
        SessionName::Alias(alias)
    }
}

impl From<i64> for SessionName {
    fn from(id: i64) -> SessionName {
        SessionName::Id(id)
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionName::Alias(alias) => f.write_str(alias),
            SessionName::Id(id) => write!(f, "{id}"),
        }
    }
}

/// IKC's hash form of a specifier, as it travels: the keys `kernel`,
/// `session`, `state` and `args`, each present (`Some`) or not.
///
/// Perl IKC leaves keys out that matter to the exact shape of what it
/// sends: ClientLite's `from` is `{kernel, session}` without a `state`,
/// while a full kernel's is `{kernel, session, state => 'IKC:proxy'}`; a
/// subscription names `{kernel, session, state => ''}` with an empty
/// state. An `Address` keeps those differences, and a session sent as a
/// number, so that decoding and encoding give back what was read.
/// [`to_specifier`](Address::to_specifier) turns it into roe's
/// [`Specifier`] for routing.
///
/// A key whose value is `undef` reads as absent. Text is read from Perl
/// strings as Perl sees their characters: a byte string with bytes above
/// 0x7F as Latin-1, and a number as its decimal digits (except a session,
/// which stays a number).
///
/// [`Display`](fmt::Display) writes the string IKC's `specifier_name`
/// writes, as in its error messages: `poe://kernel/session/state`, each
/// part left out when empty or `0` (Perl's false), the `poe:` kept.
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::{Address, SessionName};
///
/// let from = Address::proxy("vm-6b0198cd-00000f20-00000001", "client");
/// assert_eq!(from.state.as_deref(), Some("IKC:proxy"));
/// assert_eq!(from.to_string(), "poe://vm-6b0198cd-00000f20-00000001/client/IKC:proxy");
///
/// let rsvp = Address::new("PoeClient", 2, "echo_back");
/// assert_eq!(rsvp.session, Some(SessionName::Id(2)));
/// assert_eq!(rsvp.to_specifier().session.as_deref(), Some("2"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Address {
    /// `kernel`: a kernel's ID, name or alias.
    pub kernel: Option<String>,
    /// `session`.
    pub session: Option<SessionName>,
    /// `state`: the event's name (maybe empty, when the key is there).
    pub state: Option<String>,
    /// `args`: an argument the receiving kernel pushes after the others.
    pub args: Option<String>,
}

/// The state of every message a full Perl kernel proxies: a post through
/// a subscribed session, and the return address (`from`) of its requests.
pub const PROXY_STATE: &str = "IKC:proxy";

/// The session of IKC's responder on every kernel.
pub const IKC_SESSION: &str = "IKC";

impl Address {
    /// `{kernel, session, state}`, all three keys present.
    pub fn new(
        kernel: impl Into<String>,
        session: impl Into<SessionName>,
        state: impl Into<String>,
    ) -> Address {
        Address {
            kernel: Some(kernel.into()),
            session: Some(session.into()),
            state: Some(state.into()),
            args: None,
        }
    }

    /// `{kernel, session, state => 'IKC:proxy'}`: the `from` a full Perl
    /// kernel puts on what a session of its sends (replies included), and
    /// what a post through a proxy session is sent to.
    pub fn proxy(kernel: impl Into<String>, session: impl Into<SessionName>) -> Address {
        Address::new(kernel, session, PROXY_STATE)
    }

    /// `{kernel, session => 'IKC', state => 'remote_error'}`: where a
    /// kernel sends its error reports about a peer's request (the peer's
    /// unique ID as `kernel`).
    pub fn remote_error(kernel: impl Into<String>) -> Address {
        Address::new(kernel, IKC_SESSION, "remote_error")
    }

    /// This address with every missing key of `kernel`, `session` and
    /// `state` set to `''`, as Perl IKC's `specifier_parse` leaves a hash
    /// it reads (which is why the `event` of what it sends always has all
    /// three).
    pub fn filled(mut self) -> Address {
        self.kernel.get_or_insert_with(String::new);
        self.session
            .get_or_insert_with(|| SessionName::Alias(String::new()));
        self.state.get_or_insert_with(String::new);
        self
    }

    /// The session as text: an alias, or an ID's digits.
    pub fn session_text(&self) -> Option<String> {
        self.session.as_ref().map(SessionName::to_string)
    }

    /// roe's [`Specifier`] of this address: the same parts, a session ID
    /// as its digits, an empty part as absent.
    pub fn to_specifier(&self) -> Specifier {
        let mut spec = Specifier::default();
        if let Some(kernel) = &self.kernel {
            spec = spec.with_kernel(kernel.as_str());
        }
        if let Some(session) = &self.session {
            spec = spec.with_session(session.to_string());
        }
        if let Some(state) = &self.state {
            spec = spec.with_state(state.as_str());
        }
        if let Some(args) = &self.args {
            spec = spec.with_arg(args.as_str());
        }
        spec
    }

    /// The address of `spec` as IKC's hash form writes it: `kernel`,
    /// `session` and `state` always (an absent part as `''`), `args` when
    /// there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Specifier, perl::Address};
    ///
    /// let spec: Specifier = "poe://EchoServer/echo".parse()?;
    /// assert_eq!(Address::from_specifier(&spec), Address::new("EchoServer", "echo", ""));
    /// # Ok::<(), roe_ikc::SpecifierError>(())
    /// ```
    pub fn from_specifier(spec: &Specifier) -> Address {
        let kernel = match &spec.kernel {
            Kernel::Default => String::new(),
            other => other.as_str().to_owned(),
        };
        Address {
            kernel: Some(kernel),
            session: Some(SessionName::Alias(spec.session.clone().unwrap_or_default())),
            state: Some(spec.state.clone().unwrap_or_default()),
            args: spec.arg.clone(),
        }
    }

    /// The hash: each present key, a session ID as a number.
    pub fn to_map(&self) -> Map {
        let mut map = Map::new();
        if let Some(kernel) = &self.kernel {
            map.insert(Str::new("kernel"), Value::from(kernel.as_str()));
        }
        if let Some(session) = &self.session {
            let value = match session {
                SessionName::Alias(alias) => Value::from(alias.as_str()),
                SessionName::Id(id) => Value::Int(*id),
            };
            map.insert(Str::new("session"), value);
        }
        if let Some(state) = &self.state {
            map.insert(Str::new("state"), Value::from(state.as_str()));
        }
        if let Some(args) = &self.args {
            map.insert(Str::new("args"), Value::from(args.as_str()));
        }
        map
    }

    /// Reads a hash; `what` names it in errors (`"from"`, `"rsvp"`...).
    /// Keys other than the four are ignored, as Perl IKC ignores them.
    ///
    /// # Errors
    ///
    /// [`MessageError::WrongType`] for a part that is not text (or, for
    /// the session, a number).
    pub fn from_map(map: &Map, what: &str) -> Result<Address, MessageError> {
        let part = |key: &str| -> Result<Option<String>, MessageError> {
            match map.get(key) {
                None | Some(Value::Undef) => Ok(None),
                Some(value) => text(value).map(Some).ok_or_else(|| {
                    MessageError::wrong_type(format!("{what}.{key}"), "text", value)
                }),
            }
        };
        let session = match map.get("session") {
            None | Some(Value::Undef) => None,
            Some(Value::Int(id)) => Some(SessionName::Id(*id)),
            Some(value) => Some(SessionName::Alias(text(value).ok_or_else(|| {
                MessageError::wrong_type(format!("{what}.session"), "text or a number", value)
            })?)),
        };
        Ok(Address {
            kernel: part("kernel")?,
            session,
            state: part("state")?,
            args: part("args")?,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Perl's truth: neither '' nor '0'.
        let truthy = |part: &str| !part.is_empty() && part != "0";
        f.write_str("poe:")?;
        if let Some(kernel) = self.kernel.as_deref().filter(|k| truthy(k)) {
            write!(f, "//{kernel}")?;
        }
        if let Some(session) = self.session_text().filter(|s| truthy(s)) {
            write!(f, "/{session}")?;
        }
        if let Some(state) = self.state.as_deref().filter(|s| truthy(s)) {
            write!(f, "/{state}")?;
        }
        Ok(())
    }
}

/// A specifier as a message carries it: the string form (as ClientLite
/// sends its `event`s), or the hash form (as replies, proxies and
/// subscriptions do).
///
/// The string is kept as it came, so that it is sent back unchanged;
/// [`specifier`](Spec::specifier) reads it.
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::{Address, Spec};
///
/// let event = Spec::Text("poe://EchoServer/echo/upper".into());
/// assert_eq!(event.specifier()?.state.as_deref(), Some("upper"));
/// let rsvp = Spec::Hash(Address::new("LiteClient", "IKCLite", "response0"));
/// assert_eq!(rsvp.to_string(), "poe://LiteClient/IKCLite/response0");
/// # Ok::<(), roe_ikc::SpecifierError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Spec {
    /// The string form, e.g. `poe://kernel/session/state`.
    Text(String),
    /// The hash form.
    Hash(Address),
}

impl Spec {
    /// roe's [`Specifier`]: the string form parsed as IKC parses it, the
    /// hash form's parts.
    ///
    /// # Errors
    ///
    /// A [`SpecifierError`] for a string that is no specifier.
    pub fn specifier(&self) -> Result<Specifier, SpecifierError> {
        match self {
            Spec::Text(text) => text.parse(),
            Spec::Hash(address) => Ok(address.to_specifier()),
        }
    }

    /// The value: a string, or a hash.
    pub fn to_value(&self) -> Value {
        match self {
            Spec::Text(text) => Value::from(text.as_str()),
            Spec::Hash(address) => Value::Map(address.to_map()),
        }
    }

    /// Reads a string or a hash; `what` names it in errors.
    ///
    /// # Errors
    ///
    /// [`MessageError::WrongType`] for any other value, or a hash with a
    /// part that is not text.
    pub fn from_value(value: &Value, what: &str) -> Result<Spec, MessageError> {
        match value {
            Value::Map(map) => Address::from_map(map, what).map(Spec::Hash),
            other => text(other)
                .map(Spec::Text)
                .ok_or_else(|| MessageError::wrong_type(what.to_owned(), "a specifier", other)),
        }
    }

    /// The session and state it names (`None` for a string that does not
    /// parse, or a part that is absent).
    pub(super) fn session_and_state(&self) -> (Option<String>, Option<String>) {
        match self {
            Spec::Text(_) => match self.specifier() {
                Ok(spec) => (spec.session, spec.state),
                Err(_) => (None, None),
            },
            Spec::Hash(address) => (address.session_text(), address.state.clone()),
        }
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Text(text) => f.write_str(text),
            Spec::Hash(address) => address.fmt(f),
        }
    }
}

impl From<Address> for Spec {
    fn from(address: Address) -> Spec {
        Spec::Hash(address)
    }
}
