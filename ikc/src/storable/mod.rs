//! Perl Storable's network-order images (`nfreeze` / `thaw`), the encoding
//! unmodified Perl IKC peers use for every message.
//!
//! A Perl POE::Component::IKC peer serializes each message, a hash
//! reference, with `Storable::nfreeze`, and reads what it receives with
//! `Storable::thaw`. [`thaw`] reads such an image into a roe [`Value`];
//! [`nfreeze`] writes a `Value` as an image core Perl's `thaw` accepts. Both
//! are pure functions over bytes: the caller frames the messages and limits
//! their length.
//!
//! # The image
//!
//! An image starts with `0x05` (Storable's format 2, network byte order)
//! and a minor version byte; the frozen value follows, with every integer
//! and length big-endian. [`nfreeze`] writes minor version 11, what
//! Storable 3.x writes; [`thaw`] accepts any minor version, as Perl does by
//! default (`$Storable::accept_future_minor`), and refuses, naming it, any
//! opcode it does not know. Native byte order images (`Storable::freeze`
//! rather than `nfreeze`) are refused: IKC always uses network order.
//!
//! # How Perl data maps to [`Value`]
//!
//! | Perl (Storable opcode)                          | `Value`                     |
//! |-------------------------------------------------|-----------------------------|
//! | `undef` (`SX_UNDEF`, `SX_SV_UNDEF`, `SX_SVUNDEF_ELEM`) | `Undef`              |
//! | small integer (`SX_BYTE`), 32-bit integer (`SX_NETINT`) | `Int`               |
//! | byte string of ASCII only (`SX_SCALAR`, `SX_LSCALAR`) | `Str`                 |
//! | byte string with a byte above 0x7F               | `Bytes`, unchanged          |
//! | character string (`SX_UTF8STR`, `SX_LUTF8STR`)   | `Str` (invalid UTF-8: error)|
//! | `PL_sv_yes` / `PL_sv_no`, booleans of Storable 3.32 | `Bool`                   |
//! | array                                           | `List`                      |
//! | hash                                            | `Map`                       |
//! | reference (`SX_REF`, `SX_WEAKREF`)              | the referenced value        |
//! | second sight of a shared value (`SX_OBJECT`)    | a copy of the first         |
//!
//! Why byte strings become text only when they are ASCII: a Perl string
//! without the UTF-8 flag is a sequence of bytes that Perl reads as
//! Latin-1 characters, but that in practice may just as well be UTF-8 text
//! a program never decoded, or binary data. Perl itself cannot tell, and
//! neither can roe: guessing UTF-8 would turn the Latin-1 `"café"`, which
//! travels as `63 61 66 e9`, into either an error or different text, and
//! would send a string back to Perl as characters where Perl had bytes (the
//! two no longer compare equal in Perl). So bytes above 0x7F stay
//! [`Value::Bytes`], untouched; a handler that knows the text's encoding
//! decodes them (`String::from_utf8`, or a Latin-1 map of bytes to chars).
//! ASCII reads the same in every one of those interpretations, so it becomes
//! [`Value::Str`].
//!
//! Large integers and floats arrive as text, because that is how `nfreeze`
//! writes every number outside 32 bits: `5000000000` and `1.5` decode to
//! `Str("5000000000")` and `Str("1.5")`.
//!
//! Hash keys are text in a [`Map`](roe_engine::Map). A key Storable flags
//! as UTF-8 is decoded as UTF-8 (invalid UTF-8 is an error); any other key
//! is decoded as Latin-1, one byte to one character, because that is the
//! key Perl itself sees: in Perl, the byte key `"\xe9"` and the character
//! key `"é"` are the same hash entry, and writing the decoded key back
//! reaches that same entry. Keys of restricted hashes that were deleted
//! (Storable's placeholders) are left out, as Perl's `exists` would; a
//! restricted hash becomes a plain map.
//!
//! A reference is transparent: `\"x"` decodes to `"x"` and a nested array
//! `[1, [2]]` to a list in a list. An image's top level is the referenced
//! value itself (Perl's `thaw` returns a reference to it), so the hash
//! reference of an IKC message decodes to a `Map`.
//!
//! Shared data (one Perl value referenced from two places) decodes to
//! copies, since a `Value` is a tree. Copies are paid for from a budget
//! proportional to the image's length (four times it, in values and bytes,
//! plus a small allowance), so an image built to double its size at every
//! level of sharing is refused rather than grown without end. A *cycle*
//! (a value that contains itself, such as `$h->{self} = $h`) has no tree
//! form at all: it is refused, naming the tag of the value it loops back
//! to.
//!
//! Refused with an error naming the opcode and its offset: blessed objects
//! (IKC's messages never need them, and roe never runs a class's code),
//! tied containers, code references, regular expressions, v-strings,
//! Storable's native-order numbers, and any byte that is no opcode at all.
//! Bytes after the frozen value are refused too (`nfreeze` never writes
//! them, so they mean the frame was cut wrongly).
//!
//! # How [`Value`] maps to Perl data
//!
//! | `Value`                      | written as                       | Perl's `thaw` gives   |
//! |------------------------------|----------------------------------|-----------------------|
//! | `Undef`                      | `SX_UNDEF`                       | `undef`               |
//! | `Int` in -128..=127          | `SX_BYTE`                        | the integer           |
//! | `Int` in 32 bits             | `SX_NETINT`                      | the integer           |
//! | other `Int`                  | its decimal text (`SX_SCALAR`)   | the number, as text   |
//! | `Float`, integral, in `i64`  | as the `Int` it equals           | the integer           |
//! | other `Float`                | shortest text that reads back exactly | the number, as text |
//! | `Bool(true)` / `Bool(false)` | `SX_BYTE` 1 / empty `SX_SCALAR`  | `1` / `""`            |
//! | `Str` of ASCII               | `SX_SCALAR` / `SX_LSCALAR`       | a byte string         |
//! | other `Str`                  | `SX_UTF8STR` / `SX_LUTF8STR`     | a character string    |
//! | `Bytes`                      | `SX_SCALAR` / `SX_LSCALAR`       | a byte string         |
//! | `List` / `Map`               | `SX_REF` and the container (none at the top level) | an array / hash reference |
//!
//! This is what `nfreeze` itself writes for the same Perl data, with three
//! choices of roe's:
//!
//! - Booleans are written as Perl's `1` and `""` (what `nfreeze` writes for
//!   a copy of `!!1` or `!!0`) rather than as `PL_sv_yes` / `PL_sv_no`:
//!   Perl's `thaw` puts those immortal values into the container itself,
//!   read-only, so a Perl handler assigning to such an element would die
//!   with "Modification of a read-only value attempted".
//! - Floats are written as the shortest decimal text that Perl numifies
//!   back to the same `f64` (`0.30000000000000004`, `1e-7`; `Inf`, `-Inf`,
//!   `NaN` as Perl spells them), where `nfreeze` writes Perl's 15-digit
//!   `%g` and can lose the last digits.
//! - A map whose keys are all ASCII is a plain hash (`SX_HASH`); a map with
//!   any other key is a hash with flagged keys (`SX_FLAG_HASH`), each
//!   non-ASCII key written in UTF-8 and flagged so, which Perl stores as the
//!   character key.
//!
//! A value written and read back is not always the same variant: ASCII
//! `Bytes` come back as `Str`, `Bool`s as `Int(1)` and `Str("")`, and
//! large integers and floats as text, since Perl does not keep those
//! distinctions. Perl's data does survive the trip the other way: a Perl
//! value thawed by roe and frozen again thaws in Perl to a value whose
//! strings and numbers are `eq` to the original's, element by element
//! (references to scalars aside, being transparent, and shared data, now
//! copies).
//!
//! [`Value::Session`] and [`Value::Local`] have no Perl form and are
//! refused; so is a string or container longer than Storable's 32-bit
//! lengths (2^31 - 1).
//!
//! # Hostile input
//!
//! [`thaw`] faces bytes from the network. It never panics; it reserves room
//! for a container only once the rest of the image is long enough to hold
//! its announced elements (counting every container still open), so a
//! count of two billion in a ten-byte image costs nothing; it refuses nesting
//! deeper than [`MAX_DEPTH`]; and the copies of shared data are limited as
//! above, so the memory a decoded image takes is bounded by a multiple of
//! its length.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub(crate) use self::encode::Tree;

use std::fmt;

use roe_engine::Value;

/// The deepest nesting [`thaw`] and [`nfreeze`] accept, counting every
/// array, hash and reference on the way down: a nested array is two levels
/// (its reference and itself), so this allows 127 arrays inside an image's
/// top-level array. Perl's IKC messages are a few levels deep; the limit
/// keeps a hostile image from exhausting the stack.
pub const MAX_DEPTH: usize = 256;

/// Reads a Storable network-order image (Perl's `nfreeze`) into a
/// [`Value`]; see the [module documentation](self) for how Perl data maps
/// to values.
///
/// # Errors
///
/// A [`StorableError`] naming the offset in `image` and the reason, when
/// the image is cut short, is not in network order, holds what roe does not
/// decode (a blessed object, a cycle, an unknown opcode), nests deeper than
/// [`MAX_DEPTH`], shares data beyond the copy budget, or has bytes after
/// its value.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
/// use roe_ikc::storable::thaw;
///
/// // Perl: nfreeze({ a => 1 })
/// let image = [0x05, 0x0b, 0x03, 0, 0, 0, 1, 0x08, 0x81, 0, 0, 0, 1, b'a'];
/// let value = thaw(&image)?;
/// assert_eq!(value.as_map().and_then(|m| m.get("a")), Some(&Value::Int(1)));
///
/// // Latin-1 bytes stay bytes; ASCII is text.
/// // Perl: nfreeze(["caf\xe9", "cafe"])
/// let image = [
///     0x05, 0x0b, 0x02, 0, 0, 0, 2, 0x0a, 4, b'c', b'a', b'f', 0xe9, 0x0a, 4, b'c', b'a', b'f',
///     b'e',
/// ];
/// let expected = Value::List(vec![Value::Bytes(b"caf\xe9".to_vec()), Value::from("cafe")]);
/// assert_eq!(thaw(&image)?, expected);
///
/// let err = thaw(&image[..10]).unwrap_err();
/// assert_eq!(err.offset(), 10);
/// # Ok::<(), roe_ikc::storable::StorableError>(())
/// ```
pub fn thaw(image: &[u8]) -> Result<Value, StorableError> {
    decode::thaw(image)
}

/// Writes `value` as a Storable network-order image that core Perl's
/// `Storable::thaw` reads; see the [module documentation](self) for how
/// values map to Perl data.
///
/// # Errors
///
/// A [`StorableError`] when `value` holds a [`Value::Session`] or a
/// [`Value::Local`], a string or container too long for Storable's 32-bit
/// lengths, or nests deeper than [`MAX_DEPTH`]; its offset is where in the
/// image that value would have started.
///
/// # Examples
///
/// ```
/// use roe_engine::{Map, Value};
/// use roe_ikc::storable::{nfreeze, thaw};
///
/// let mut message = Map::new();
/// message.insert("a".into(), Value::from(1));
/// let image = nfreeze(&Value::Map(message))?;
/// // What Perl's nfreeze({ a => 1 }) writes.
/// assert_eq!(image, [0x05, 0x0b, 0x03, 0, 0, 0, 1, 0x08, 0x81, 0, 0, 0, 1, b'a']);
///
/// let list = Value::List(vec![Value::from("x"), Value::from(300), Value::Undef]);
/// assert_eq!(thaw(&nfreeze(&list)?)?, list);
/// assert!(nfreeze(&Value::local(1u8)).is_err());
/// # Ok::<(), roe_ikc::storable::StorableError>(())
/// ```
pub fn nfreeze(value: &Value) -> Result<Vec<u8>, StorableError> {
    let mut image = Vec::new();
    nfreeze_into(value, &mut image)?;
    Ok(image)
}

/// Appends the image of `value` to `out`, as [`nfreeze`] writes it, so a
/// caller can put it after a frame header it has already written.
///
/// # Errors
///
/// As [`nfreeze`]; `out` is then left as it was.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
/// use roe_ikc::storable::nfreeze_into;
///
/// let mut frame = b"7\0".to_vec();
/// nfreeze_into(&Value::from(7), &mut frame)?;
/// assert_eq!(frame, [b'7', 0, 0x05, 0x0b, 0x08, 0x87]);
/// assert!(nfreeze_into(&Value::local(1u8), &mut frame).is_err());
/// assert_eq!(frame.len(), 6);
/// # Ok::<(), roe_ikc::storable::StorableError>(())
/// ```
pub fn nfreeze_into(value: &Value, out: &mut Vec<u8>) -> Result<(), StorableError> {
    nfreeze_tree_into(&Tree::Borrowed(value), out)
}

/// Appends the image of `tree` to `out`: the image of the value it stands
/// for ([`Tree::to_value`]), written from where its parts lie.
///
/// # Errors
///
/// As [`nfreeze`]; `out` is then left as it was.
pub(crate) fn nfreeze_tree_into(tree: &Tree<'_>, out: &mut Vec<u8>) -> Result<(), StorableError> {
    let start = out.len();
    encode::image(tree, out).map_err(|err| {
        out.truncate(start);
        StorableError {
            offset: err.offset - start,
            reason: err.reason,
        }
    })
}

/// Why an image could not be read or written, and where.
///
/// For [`thaw`] the offset is in the image read; for [`nfreeze`] it is
/// where in the image the value that could not be written would have
/// started.
///
/// # Examples
///
/// ```
/// use roe_ikc::storable::{thaw, Reason};
///
/// // A code reference (SX_CODE) as the second element of an array.
/// let err = thaw(&[0x05, 0x0b, 0x02, 0, 0, 0, 2, 0x05, 0x1a]).unwrap_err();
/// assert_eq!(err.offset(), 8);
/// assert!(matches!(err.reason(), Reason::Unsupported { opcode: 0x1a, .. }));
/// assert_eq!(
///     err.to_string(),
///     "Storable image, offset 8: opcode 0x1a (a code reference) is not supported"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorableError {
    offset: usize,
    reason: Reason,
}

impl StorableError {
    fn new(offset: usize, reason: Reason) -> StorableError {
        StorableError { offset, reason }
    }

    /// Where in the image it went wrong.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What went wrong.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

/// What went wrong in a [`StorableError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The image ends before the value does.
    Truncated,
    /// The first byte is not `0x05`, Storable's network-order format 2.
    NotNetworkOrder {
        /// The byte found.
        found: u8,
    },
    /// An array or hash announcing more elements than the rest of the image
    /// could hold.
    TooManyElements {
        /// The count announced.
        count: usize,
    },
    /// A byte that is no Storable opcode.
    UnknownOpcode {
        /// The byte.
        opcode: u8,
    },
    /// A Storable opcode for something roe does not decode.
    Unsupported {
        /// The opcode.
        opcode: u8,
        /// What Storable uses it for.
        what: &'static str,
    },
    /// A blessed object.
    Blessed {
        /// Its class, or its class's number for `SX_IX_BLESS`.
        class: String,
    },
    /// A hash key flagged as stored as a whole scalar, which Storable's
    /// writer never produces.
    KeyAsScalar,
    /// A back-reference to a value that contains it: a cycle.
    Cycle {
        /// The tag of the value the data loops back to.
        tag: u64,
    },
    /// A back-reference to a value not yet read.
    UnknownTag {
        /// The tag referred to.
        tag: u64,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// The copies of shared data would pass the budget the image's length
    /// allows.
    TooMuchSharing,
    /// A string or hash key flagged as UTF-8 that is not valid UTF-8 (a
    /// surrogate, or a code point beyond Unicode, in Perl's extended form).
    InvalidUtf8,
    /// Bytes after the image's value.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A value with no Perl form: a session reference or a local value.
    NotPortable {
        /// Which.
        what: &'static str,
    },
    /// A string or container longer than Storable's 32-bit lengths
    /// (written), or a length with the top bit set, which Storable reads as
    /// negative (read).
    TooLong {
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for StorableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Storable image, offset {}: ", self.offset)?;
        match &self.reason {
            Reason::Truncated => f.write_str("the image ends inside a value"),
            Reason::NotNetworkOrder { found } => write!(
                f,
                "header byte 0x{found:02x} is not 0x05 (network-order format 2, as nfreeze writes)"
            ),
            Reason::TooManyElements { count } => write!(
                f,
                "{count} elements announced, more than the rest of the image can hold"
            ),
            Reason::UnknownOpcode { opcode } => write!(f, "0x{opcode:02x} is no Storable opcode"),
            Reason::Unsupported { opcode, what } => {
                write!(f, "opcode 0x{opcode:02x} ({what}) is not supported")
            }
            Reason::Blessed { class } => {
                write!(f, "an object blessed into {class} is not supported")
            }
            Reason::KeyAsScalar => f.write_str("a hash key stored as a scalar is not supported"),
            Reason::Cycle { tag } => write!(
                f,
                "a cycle: the data refers back to value #{tag}, which contains it"
            ),
            Reason::UnknownTag { tag } => {
                write!(f, "a reference to value #{tag}, which has not been read")
            }
            Reason::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
            Reason::TooMuchSharing => {
                f.write_str("copies of shared data would outgrow the image's budget")
            }
            Reason::InvalidUtf8 => f.write_str("a string flagged as UTF-8 is not valid UTF-8"),
            Reason::TrailingBytes { count } => write!(f, "{count} bytes after the value"),
            Reason::NotPortable { what } => write!(f, "{what} has no Perl form"),
            Reason::TooLong { len } => {
                write!(f, "length {len} does not fit Storable's 32-bit lengths")
            }
        }
    }
}

impl std::error::Error for StorableError {}

/// Storable's opcodes (its `SX_` constants), as far as roe reads or names
/// them.
mod op {
    pub const OBJECT: u8 = 0x00;
    pub const LSCALAR: u8 = 0x01;
    pub const ARRAY: u8 = 0x02;
    pub const HASH: u8 = 0x03;
    pub const REF: u8 = 0x04;
    pub const UNDEF: u8 = 0x05;
    pub const BYTE: u8 = 0x08;
    pub const NETINT: u8 = 0x09;
    pub const SCALAR: u8 = 0x0a;
    pub const SV_UNDEF: u8 = 0x0e;
    pub const SV_YES: u8 = 0x0f;
    pub const SV_NO: u8 = 0x10;
    pub const BLESS: u8 = 0x11;
    pub const IX_BLESS: u8 = 0x12;
    pub const UTF8STR: u8 = 0x17;
    pub const LUTF8STR: u8 = 0x18;
    pub const FLAG_HASH: u8 = 0x19;
    pub const WEAKREF: u8 = 0x1b;
    pub const SVUNDEF_ELEM: u8 = 0x1f;
    pub const BOOLEAN_TRUE: u8 = 0x22;
    pub const BOOLEAN_FALSE: u8 = 0x23;

    /// What Storable uses an opcode for that roe refuses, or `None` for a
    /// byte that is no opcode (or one roe reads).
    pub fn unsupported(opcode: u8) -> Option<&'static str> {
        Some(match opcode {
            0x06 => "a native-order integer, never in network order",
            0x07 => "a native-order double, never in network order",
            0x0b => "a tied array",
            0x0c => "a tied hash",
            0x0d => "a tied scalar",
            0x13 => "an object frozen by its class's hooks",
            0x14 => "a reference to an object with overloading",
            0x15 => "a tied hash element",
            0x16 => "a tied array element",
            0x1a => "a code reference",
            0x1c => "a weak reference to an object with overloading",
            0x1d | 0x1e => "a v-string",
            0x20 => "a regular expression",
            0x21 => "a value over 2 GiB",
            _ => return None,
        })
    }
}

/// The first byte of a network-order image: format 2, shifted left, with
/// the network-order bit set.
const NETWORK_ORDER: u8 = (2 << 1) | 1;

/// The minor version written: Storable 3.x's, whose readers (and every
/// later one) accept it.
const MINOR_WRITTEN: u8 = 11;
