//! Event arguments: values that could cross a process boundary, plus local
//! typed payloads.

mod args;
mod text;

use std::{any::Any, collections::BTreeMap, fmt, sync::Arc};

pub use self::{args::Args, text::Str};
use crate::id::SessionId;

/// A map of values keyed by text, as a Perl hash is.
///
/// # Examples
///
/// ```
/// use roe_engine::{Map, Value};
///
/// let mut details = Map::new();
/// details.insert("event".into(), "tick".into());
/// details.insert("line".into(), 7.into());
/// let value = Value::from(details);
/// assert_eq!(value.as_map().and_then(|m| m.get("line")), Some(&Value::Int(7)));
/// ```
pub type Map = BTreeMap<Str, Value>;

/// One event argument: what a Perl scalar can carry, in Rust types.
///
/// Every variant but [`Value::Local`] can be sent to another process (IKC
/// encodes them); `Local` carries a typed Rust value that never leaves the
/// process, such as a socket handed from one session to another.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
///
/// assert_eq!(Value::from(3).as_int(), Some(3));
/// assert_eq!(Value::from("3").as_str(), Some("3"));
/// assert!(!Value::from(0).is_true() && Value::from("0.0").is_true()); // Perl's truth
/// assert_eq!(Value::List(vec![Value::from(1), Value::from("a")]).to_string(), "[1, a]");
/// assert!(Value::Undef.is_undef());
/// ```
#[derive(Clone, Default)]
pub enum Value {
    /// Perl's `undef`.
    #[default]
    Undef,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// UTF-8 text.
    Str(Str),
    /// Bytes that need not be text.
    Bytes(Vec<u8>),
    /// A list (Perl's array reference).
    List(Vec<Value>),
    /// A map (Perl's hash reference).
    Map(Map),
    /// A reference to a session.
    Session(SessionId),
    /// A typed Rust value local to this process.
    Local(Local),
}

/// A typed Rust value carried in an event, shared until taken.
///
/// Cloning shares the value; [`Value::take_local`] gets it back by value
/// when no other clone remains.
///
/// # Examples
///
/// ```
/// use roe_engine::{Local, Value};
///
/// struct Job { id: u32 }
///
/// let local = Local::new(Job { id: 7 });
/// assert_eq!(local.downcast_ref::<Job>().map(|job| job.id), Some(7));
/// let job: Job = Value::from(local).take_local()?;
/// assert_eq!(job.id, 7);
/// # Ok::<(), roe_engine::NotLocal>(())
/// ```
#[derive(Clone)]
pub struct Local(Arc<dyn Any + Send + Sync>);

impl Local {
    /// Wraps a value.
    pub fn new<T: Any + Send + Sync>(value: T) -> Local {
        Local(Arc::new(value))
    }

    /// Borrows the value if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl Value {
    /// Wraps a typed Rust value (see [`Value::Local`]).
    pub fn local<T: Any + Send + Sync>(value: T) -> Value {
        Value::Local(Local::new(value))
    }

    /// Whether this is `undef`.
    pub fn is_undef(&self) -> bool {
        matches!(self, Value::Undef)
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The number, if this is an integer or a float.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The bytes of a string or byte value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s.as_bytes()),
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Takes the bytes of a string or byte value (a byte value's without a
    /// copy); any other value comes back as it was.
    ///
    /// # Errors
    ///
    /// The value itself, when it is neither bytes nor a string.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Value;
    ///
    /// assert_eq!(Value::Bytes(vec![0xff]).into_bytes(), Ok(vec![0xff]));
    /// assert_eq!(Value::from("hi").into_bytes(), Ok(b"hi".to_vec()));
    /// assert_eq!(Value::from(1).into_bytes(), Err(Value::from(1)));
    /// ```
    pub fn into_bytes(self) -> Result<Vec<u8>, Value> {
        match self {
            Value::Bytes(bytes) => Ok(bytes),
            Value::Str(text) => Ok(String::from(text).into_bytes()),
            other => Err(other),
        }
    }

    /// The session, if this refers to one.
    pub fn as_session(&self) -> Option<SessionId> {
        match self {
            Value::Session(id) => Some(*id),
            _ => None,
        }
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// Borrows a local payload if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match self {
            Value::Local(local) => local.downcast_ref(),
            _ => None,
        }
    }

    /// Takes a local payload of type `T` out by value.
    ///
    /// # Errors
    ///
    /// [`NotLocal`], holding the value unchanged, when it is not a `Local`
    /// holding a `T`, or when another clone of the payload still exists. It
    /// converts into the kernel's `Error`, so `?` works in a handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Value;
    ///
    /// let socket = Value::local(String::from("a connection"));
    /// let not_a_number = socket.take_local::<u32>().unwrap_err();
    /// let socket = not_a_number.into_value();
    /// assert_eq!(socket.take_local::<String>()?, "a connection");
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    pub fn take_local<T: Any + Send + Sync>(self) -> Result<T, NotLocal> {
        let wanted = std::any::type_name::<T>();
        let back = |value| NotLocal { value, wanted };
        match self {
            Value::Local(Local(shared)) => match shared.downcast::<T>() {
                Ok(typed) => {
                    Arc::try_unwrap(typed).map_err(|typed| back(Value::Local(Local(typed))))
                }
                Err(shared) => Err(back(Value::Local(Local(shared)))),
            },
            other => Err(back(other)),
        }
    }

    /// Whether Perl would take this scalar as true: everything but `undef`,
    /// `0`, `0.0`, `""` and `"0"` (and false, an empty byte string).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Value;
    ///
    /// assert!(Value::from(1).is_true());
    /// assert!(Value::from("0.0").is_true());
    /// assert!(!Value::from("0").is_true());
    /// assert!(!Value::Undef.is_true());
    /// ```
    pub fn is_true(&self) -> bool {
        match self {
            Value::Undef => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Float(x) => *x != 0.0,
            Value::Str(s) => !s.is_empty() && s.as_str() != "0",
            Value::Bytes(b) => !b.is_empty() && b.as_slice() != b"0",
            Value::List(_) | Value::Map(_) | Value::Session(_) | Value::Local(_) => true,
        }
    }

    /// Whether this value, and everything in it, can leave the process.
    pub fn is_portable(&self) -> bool {
        match self {
            Value::Local(_) => false,
            Value::List(items) => items.iter().all(Value::is_portable),
            Value::Map(map) => map.values().all(Value::is_portable),
            _ => true,
        }
    }
}

/// A value that [`Value::take_local`] could not take as the type asked
/// for; it holds the value, unchanged. It converts into [`Error`](crate::Error),
/// so `?` works in a handler.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
///
/// let err = Value::from("not a job").take_local::<u32>().unwrap_err();
/// assert_eq!(err.into_value(), Value::from("not a job"));
///
/// fn handler(value: Value) -> roe_engine::Result<u32> {
///     Ok(value.take_local::<u32>()?)
/// }
/// assert_eq!(handler(Value::local(5u32))?, 5);
/// assert!(handler(Value::from(5)).is_err());
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Debug)]
pub struct NotLocal {
    value: Value,
    wanted: &'static str,
}

impl NotLocal {
    /// The value, as it was.
    pub fn into_value(self) -> Value {
        self.value
    }
}

impl fmt::Display for NotLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Value::Local(_) => write!(
                f,
                "the local value is not a {} or is still shared",
                self.wanted
            ),
            other => write!(f, "expected a local {}, got {other:?}", self.wanted),
        }
    }
}

impl std::error::Error for NotLocal {}

/// Formats as Perl's `print` would show the scalar: `undef` as `undef`,
/// strings bare, lists and maps in brackets.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undef => f.write_str("undef"),
            Value::Bool(b) => write!(f, "{}", u8::from(*b)),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => f.write_str(&String::from_utf8_lossy(b)),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(map) => {
                f.write_str("{")?;
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key} => {item}")?;
                }
                f.write_str("}")
            }
            Value::Session(id) => write!(f, "session {id}"),
            Value::Local(_) => f.write_str("(local value)"),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undef => f.write_str("Undef"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(n) => write!(f, "Int({n})"),
            Value::Float(x) => write!(f, "Float({x})"),
            Value::Str(s) => write!(f, "Str({s:?})"),
            Value::Bytes(b) => write!(f, "Bytes({b:?})"),
            Value::List(items) => f.debug_tuple("List").field(items).finish(),
            Value::Map(map) => f.debug_tuple("Map").field(map).finish(),
            Value::Session(id) => write!(f, "Session({id})"),
            Value::Local(_) => f.write_str("Local(..)"),
        }
    }
}

impl PartialEq for Value {
    /// Locals are equal when they share one payload.
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Undef, Value::Undef) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Session(a), Value::Session(b)) => a == b,
            (Value::Local(a), Value::Local(b)) => Arc::ptr_eq(&a.0, &b.0),
            _ => false,
        }
    }
}

impl From<()> for Value {
    fn from((): ()) -> Value {
        Value::Undef
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Int(i64::from(n))
            }
        }
    )*};
}
int_values!(i8, i16, i32, i64, u8, u16, u32);

impl From<usize> for Value {
    /// Saturates at `i64::MAX` (no count in practice comes near it).
    fn from(n: usize) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<u64> for Value {
    /// Saturates at `i64::MAX`.
    fn from(n: u64) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(Str::new(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(Str::from(s))
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Str(Str::new(s))
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Value {
        Value::Str(s)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bytes(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(items)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Value {
        Value::Map(map)
    }
}

impl From<SessionId> for Value {
    fn from(id: SessionId) -> Value {
        Value::Session(id)
    }
}

impl From<Local> for Value {
    fn from(local: Local) -> Value {
        Value::Local(local)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is `undef`.
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Undef, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_payload_is_taken_back_by_value() {
        let v = Value::local(vec![1u8, 2, 3]);
        assert_eq!(v.downcast_ref::<Vec<u8>>(), Some(&vec![1, 2, 3]));
        let v = v.take_local::<String>().unwrap_err().into_value();
        assert_eq!(v.take_local::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn shared_local_payload_is_not_taken() {
        let v = Value::local(7u32);
        let other = v.clone();
        let v = v.take_local::<u32>().unwrap_err().into_value();
        drop(other);
        assert_eq!(v.take_local::<u32>().unwrap(), 7);
    }

    #[test]
    fn portability_looks_inside_containers() {
        assert!(Value::List(vec![1.into(), "x".into()]).is_portable());
        assert!(!Value::List(vec![Value::local(1u8)]).is_portable());
    }

    #[test]
    fn display_matches_perl_print() {
        assert_eq!(Value::Undef.to_string(), "undef");
        assert_eq!(Value::from("a b").to_string(), "a b");
        assert_eq!(Value::from(3).to_string(), "3");
    }
}
