//! [`MessageError`]: why a value is not an IKC message.

use std::fmt;

use roe_engine::Value;

/// Why a thawed value is not an IKC message roe can read.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
/// use roe_ikc::perl::{Message, MessageError};
///
/// assert_eq!(
///     Message::from_value(Value::List(vec![])),
///     Err(MessageError::NotAHash { found: "a list" })
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The frame's value is not a hash.
    NotAHash {
        /// What it is.
        found: &'static str,
    },
    /// The hash has no `event` (or it is `undef`): there is nowhere to
    /// deliver it.
    NoEvent,
    /// A key's value has the wrong type.
    WrongType {
        /// Where: the key, e.g. `"rsvp"`, `"from.session"`, `"params[0]"`.
        key: String,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// An error report (`is_error`) whose stage is none of IKC's four.
    UnknownStage {
        /// The stage given.
        stage: String,
    },
}

impl MessageError {
    pub(super) fn wrong_type(key: String, expected: &'static str, found: &Value) -> MessageError {
        MessageError::WrongType {
            key,
            expected,
            found: kind(found),
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IKC message: ")?;
        match self {
            MessageError::NotAHash { found } => write!(f, "{found}, not a hash"),
            MessageError::NoEvent => f.write_str("no event"),
            MessageError::WrongType {
                key,
                expected,
                found,
            } => write!(f, "{key} is {found}, not {expected}"),
            MessageError::UnknownStage { stage } => write!(
                f,
                "an error report's stage {stage:?} is not request, check, resolve or invocation"
            ),
        }
    }
}

impl std::error::Error for MessageError {}

/// What a value is, for an error.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Undef => "undef",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Str(_) => "text",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "a list",
        Value::Map(_) => "a hash",
        Value::Session(_) => "a session",
        Value::Local(_) => "a local value",
    }
}
