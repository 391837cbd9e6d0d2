//! [`WireValue`]: a value as it crosses a process.
//!
//! roe's [`Value`] can carry what never leaves a process (a
//! [`Local`](roe_engine::Local): a socket, a typed Rust value); everything
//! else converts to a `WireValue` and back without loss. Decoded from a
//! frame, a `WireValue` borrows its text and bytes from the read buffer,
//! so a message costs no copy until its values become roe `Value`s for a
//! handler.
//!
//! Its `speedy::Readable` is written by hand, not derived: it is the
//! native wire's bounded reader (see [`Frame::decode`](crate::native::Frame::decode)),
//! because speedy's derived reader reserves memory from the counts a peer
//! claims and recurses as deep as the peer nests.

use std::{borrow::Cow, fmt};

use roe_engine::{KernelId, Map, SessionId, Str, Value};
use speedy::{Context, Readable, Reader, Writable};

use crate::native::{MAX_VALUE_DEPTH, Malformed};

/// A value that can cross a process (the portable part of [`Value`]).
///
/// A session reference crosses as its kernel and POE number: on the other
/// side it names that session on that kernel, which is what a reply or a
/// post back needs.
///
/// Its speedy encoding is the native wire's (`docs/wire.md`). Reading it
/// with speedy (`WireValue::read_from_buffer` and the rest, or the
/// engine's `Speedy` filter) is safe on a peer's bytes: a length or count
/// the rest of the input cannot hold is refused before anything is
/// reserved for it, collections grow only with the elements actually read,
/// and lists and maps nest at most [`MAX_VALUE_DEPTH`] deep. Readers whose
/// context errors are speedy's own report those refusals as a custom
/// [`speedy::Error`] carrying the [`Malformed`] text.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
/// use roe_ikc::WireValue;
///
/// let value = Value::List(vec![Value::from("hi"), Value::from(7), Value::Undef]);
/// let wire = WireValue::try_from(&value)?;
/// assert_eq!(Value::from(wire), value);
/// assert!(WireValue::try_from(&Value::local(3u8)).is_err());
/// # Ok::<(), roe_ikc::NotPortable>(())
/// ```
///
/// Bytes from a peer that claim a list of four billion values are refused
/// before anything is reserved for them:
///
/// ```
/// use roe_ikc::WireValue;
/// use speedy::{LittleEndian, Readable};
///
/// // Tag 6 (List), then a count of u32::MAX and nothing behind it.
/// let hostile = [6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
/// let error = WireValue::read_from_buffer_with_ctx(LittleEndian::default(), &hostile);
/// assert!(error.unwrap_err().to_string().contains("4294967295"));
/// ```
#[derive(Clone, Debug, PartialEq, Writable)]
pub enum WireValue<'a> {
    /// Perl's `undef`.
    Undef,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// UTF-8 text.
    Str(Cow<'a, str>),
    /// Bytes that need not be text.
    Bytes(Cow<'a, [u8]>),
    /// A list.
    List(Vec<WireValue<'a>>),
    /// A map, in key order.
    Map(Vec<(Cow<'a, str>, WireValue<'a>)>),
    /// A session: its kernel's number and its POE number.
    Session {
        /// The kernel's number in its process.
        kernel: u16,
        /// POE's session number.
        number: u64,
    },
}

/// The native wire's bounded reader, in place of speedy's derived one: see
/// the type's docs, and `native/decode.rs` for why speedy's own would not
/// do on a peer's bytes.
impl<'a, C> Readable<'a, C> for WireValue<'a>
where
    C: Context,
    C::Error: From<Malformed>,
{
    fn read_from<R: Reader<'a, C>>(r: &mut R) -> Result<WireValue<'a>, C::Error> {
        crate::native::read_value(r, MAX_VALUE_DEPTH)
    }

    /// The tag: a `u32`.
    fn minimum_bytes_needed() -> usize {
        4
    }
}

/// A value that cannot leave its process: a [`Local`](roe_engine::Local),
/// somewhere in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotPortable;

impl fmt::Display for NotPortable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a local value cannot leave its process")
    }
}

impl std::error::Error for NotPortable {}

impl<'a> TryFrom<&'a Value> for WireValue<'a> {
    type Error = NotPortable;

    /// Borrows `value`'s text and bytes.
    fn try_from(value: &'a Value) -> Result<WireValue<'a>, NotPortable> {
        WireValue::from_value_with(value, &mut |id| WireValue::Session {
            kernel: id.kernel().0,
            number: id.number(),
        })
    }
}

impl From<WireValue<'_>> for Value {
    /// Reads a session as one of this process (see
    /// [`WireValue::into_value_with`] for a peer's).
    fn from(wire: WireValue<'_>) -> Value {
        wire.into_value_with(&mut |kernel, number| {
            Value::Session(SessionId::from_number(KernelId(kernel), number))
        })
    }
}

impl<'a> WireValue<'a> {
    /// Borrows `value`'s text and bytes, writing each session it holds as
    /// `session` says: a connection notes the sessions it lets its peer
    /// post back to.
    ///
    /// # Errors
    ///
    /// [`NotPortable`] for a [`Local`](roe_engine::Local) anywhere in it.
    pub fn from_value_with(
        value: &'a Value,
        session: &mut dyn FnMut(SessionId) -> WireValue<'a>,
    ) -> Result<WireValue<'a>, NotPortable> {
        Ok(match value {
            Value::Undef => WireValue::Undef,
            Value::Bool(b) => WireValue::Bool(*b),
            Value::Int(n) => WireValue::Int(*n),
            Value::Float(x) => WireValue::Float(*x),
            Value::Str(s) => WireValue::Str(Cow::Borrowed(s.as_str())),
            Value::Bytes(b) => WireValue::Bytes(Cow::Borrowed(b)),
            Value::List(items) => WireValue::List(
                items
                    .iter()
                    .map(|item| WireValue::from_value_with(item, session))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(map) => WireValue::Map(
                map.iter()
                    .map(|(k, v)| {
                        Ok((
                            Cow::Borrowed(k.as_str()),
                            WireValue::from_value_with(v, session)?,
                        ))
                    })
                    .collect::<Result<_, NotPortable>>()?,
            ),
            Value::Session(id) => session(*id),
            Value::Local(_) => return Err(NotPortable),
        })
    }

    /// Converts to a roe [`Value`], making each session (a kernel number
    /// and a session number *of the sending process*) as `session` says:
    /// a connection turns a peer's sessions into local stand-ins that post
    /// back across it.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Value;
    /// use roe_ikc::WireValue;
    ///
    /// let wire = WireValue::List(vec![WireValue::Session { kernel: 1, number: 9 }]);
    /// let value = wire.into_value_with(&mut |kernel, number| Value::from(format!("{kernel}/{number}")));
    /// assert_eq!(value, Value::List(vec![Value::from("1/9")]));
    /// ```
    pub fn into_value_with(self, session: &mut dyn FnMut(u16, u64) -> Value) -> Value {
        match self {
            WireValue::Undef => Value::Undef,
            WireValue::Bool(b) => Value::Bool(b),
            WireValue::Int(n) => Value::Int(n),
            WireValue::Float(x) => Value::Float(x),
            WireValue::Str(s) => Value::Str(Str::new(&s)),
            WireValue::Bytes(b) => Value::Bytes(b.into_owned()),
            WireValue::List(items) => Value::List(
                items
                    .into_iter()
                    .map(|item| item.into_value_with(session))
                    .collect(),
            ),
            WireValue::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (Str::new(&k), v.into_value_with(session)))
                    .collect::<Map>(),
            ),
            WireValue::Session { kernel, number } => session(kernel, number),
        }
    }
}

impl WireValue<'_> {
    /// The same value, owning its text and bytes.
    pub fn into_owned(self) -> WireValue<'static> {
        match self {
            WireValue::Undef => WireValue::Undef,
            WireValue::Bool(b) => WireValue::Bool(b),
            WireValue::Int(n) => WireValue::Int(n),
            WireValue::Float(x) => WireValue::Float(x),
            WireValue::Str(s) => WireValue::Str(Cow::Owned(s.into_owned())),
            WireValue::Bytes(b) => WireValue::Bytes(Cow::Owned(b.into_owned())),
            WireValue::List(items) => {
                WireValue::List(items.into_iter().map(WireValue::into_owned).collect())
            }
            WireValue::Map(entries) => WireValue::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
            WireValue::Session { kernel, number } => WireValue::Session { kernel, number },
        }
    }
}

#[cfg(test)]
mod tests {
    use speedy::{LittleEndian, Readable, Writable};

    use super::*;

    fn sample() -> Value {
        let mut map = Map::new();
        map.insert("kernel".into(), "EchoServer".into());
        map.insert("n".into(), Value::from(-7));
        Value::List(vec![
            Value::Undef,
            Value::Bool(true),
            Value::Float(1.5),
            Value::Bytes(vec![0, 0xff]),
            Value::from("é"),
            Value::Map(map),
            Value::Session(SessionId::from_number(KernelId(2), 9)),
        ])
    }

    #[test]
    fn values_round_trip_through_speedy_and_decode_borrowed() {
        let value = sample();
        let wire = WireValue::try_from(&value).unwrap();
        let bytes = wire.write_to_vec_with_ctx(LittleEndian::default()).unwrap();
        let back = WireValue::read_from_buffer_with_ctx(LittleEndian::default(), &bytes).unwrap();
        let WireValue::List(items) = &back else {
            panic!("a list");
        };
        // Text decoded from the buffer is borrowed from it, not copied.
        assert!(matches!(&items[4], WireValue::Str(Cow::Borrowed(_))));
        assert_eq!(Value::from(back), value);
    }

    #[test]
    fn a_local_value_anywhere_is_not_portable() {
        let nested = Value::List(vec![Value::from(1), Value::local(String::from("x"))]);
        assert_eq!(WireValue::try_from(&nested), Err(NotPortable));
    }
}
