//! IKC's hash form: a map with `kernel`, `session`, `state` and `args`,
//! and a specifier as a [`Value`].

use roe_engine::{Map, Str, Value};

use super::{Kernel, Part, Reason, Specifier, SpecifierError, non_empty};

impl Specifier {
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
