//! POE::Filter::Reference's framing: [`FrameReader`] cuts `<length>\0
//! <payload>` frames out of a byte stream; [`write_frame`] writes one.

use std::fmt;

use roe_engine::{FilterError, FrameBuffer, Framing, Value};

use super::{DEFAULT_MAX_FRAME, Message, MessageError};
use crate::storable::{self, StorableError, Tree};

/// Reads the frames that follow the handshake: the payload's length in
/// ASCII decimal, a NUL, then the payload, a Storable network-order image
/// of one message.
///
/// A length over the limit ([`DEFAULT_MAX_FRAME`] unless set) is refused
/// as soon as its NUL arrives, before any of its payload is held, and the
/// payload is then skipped as it arrives. A length that does not start with
/// a digit, has more than 20 digits, or is not ended by a NUL is refused
/// and its bytes dropped. After either refusal the next call reads on, but
/// the stream may be out of step and the peer is broken or hostile: close
/// the connection. Memory stays bounded by the limit plus what one
/// [`feed`](FrameReader::feed) brings.
///
/// Three ways to take frames, one level up each:
/// [`next_body`](FrameReader::next_body) (the payload's bytes, borrowed),
/// [`next_value`](FrameReader::next_value) (thawed) and
/// [`next_message`](FrameReader::next_message) (decoded into a
/// [`Message`]).
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
/// use roe_ikc::perl::{FrameReader, write_frame};
///
/// let mut wire = Vec::new();
/// write_frame(&Value::from("hi"), &mut wire)?;
/// assert_eq!(wire, b"6\0\x05\x0b\x0a\x02hi");
/// let mut reader = FrameReader::new();
/// reader.feed(&wire[..4]);
/// assert_eq!(reader.next_value()?, None);
/// reader.feed(&wire[4..]);
/// assert_eq!(reader.next_value()?, Some(Value::from("hi")));
/// # Ok::<(), roe_ikc::perl::FrameError>(())
/// ```
#[derive(Clone, Debug)]
pub struct FrameReader {
    frames: FrameBuffer,
    /// A byte to drop should it be the next to arrive: the second half of a
    /// handshake line's terminator cut in two.
    lead: Option<u8>,
}

impl FrameReader {
    /// A reader with the limit [`DEFAULT_MAX_FRAME`].
    pub fn new() -> FrameReader {
        FrameReader {
            frames: FrameBuffer::new(Framing::Decimal).max_length(DEFAULT_MAX_FRAME),
            lead: None,
        }
    }

    /// Sets the largest payload accepted, in bytes.
    pub fn max_frame(mut self, bytes: usize) -> FrameReader {
        self.frames = self.frames.max_length(bytes);
        self
    }

    /// The largest payload accepted.
    pub fn limit(&self) -> usize {
        self.frames.limit()
    }

    /// Bytes held that are not yet handed out.
    pub fn buffered(&self) -> usize {
        self.frames.buffered()
    }

    /// Appends bytes read from the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if let Some(&first) = bytes.first()
            && let Some(lead) = self.lead.take()
            && first == lead
        {
            bytes = &bytes[1..];
        }
        self.frames.feed(bytes);
    }

    /// Drops `byte` should it be the next to arrive.
    pub(super) fn skip_leading(&mut self, byte: u8) {
        if self.frames.buffered() == 0 {
            self.lead = Some(byte);
        }
    }

    /// The next whole frame's payload, borrowed from the buffer (valid
    /// until the reader is used again); `Ok(None)` until one has arrived.
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLong`] for a length over the limit,
    /// [`FrameError::Malformed`] for a length that is not one.
    pub fn next_body(&mut self) -> Result<Option<&[u8]>, FrameError> {
        self.frames.next_frame().map_err(FrameError::from)
    }

    /// The next frame's payload, thawed.
    ///
    /// # Errors
    ///
    /// As [`next_body`](FrameReader::next_body), and
    /// [`FrameError::Storable`] for a payload that is not a Storable image
    /// roe reads (another serializer's, a blessed object, a code reference,
    /// a cut or corrupted image); the frame is dropped either way.
    pub fn next_value(&mut self) -> Result<Option<Value>, FrameError> {
        match self.next_body()? {
            Some(body) => storable::thaw(body).map(Some).map_err(FrameError::Storable),
            None => Ok(None),
        }
    }

    /// The next frame, decoded into a [`Message`].
    ///
    /// # Errors
    ///
    /// As [`next_value`](FrameReader::next_value), and
    /// [`FrameError::Message`] for a value that is not an IKC message.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        match self.next_value()? {
            Some(value) => Message::from_value(value)
                .map(Some)
                .map_err(FrameError::Message),
            None => Ok(None),
        }
    }
}

impl Default for FrameReader {
    fn default() -> FrameReader {
        FrameReader::new()
    }
}

/// Appends `value` as one frame to `out`: its Storable image (as Perl's
/// `nfreeze` writes it) behind the image's length in decimal and a NUL.
///
/// # Errors
///
/// As [`write_frame_with_limit`] with the limit [`DEFAULT_MAX_FRAME`].
pub fn write_frame(value: &Value, out: &mut Vec<u8>) -> Result<(), FrameError> {
    write_frame_with_limit(value, DEFAULT_MAX_FRAME, out)
}

/// Appends `value` as one frame to `out`, refusing an image over
/// `max_frame` bytes (the peer's reader would refuse it).
///
/// # Errors
///
/// [`FrameError::Storable`] for a value with no Perl form (a session, a
/// local value, see [`storable`](crate::storable)),
/// [`FrameError::TooLong`] for an image over the limit. `out` is then left
/// as it was.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
/// use roe_ikc::perl::{FrameError, write_frame_with_limit};
///
/// let mut out = Vec::new();
/// let long = Value::from("x".repeat(300));
/// assert!(matches!(
///     write_frame_with_limit(&long, 100, &mut out),
///     Err(FrameError::TooLong { limit: 100, length: 307 })
/// ));
/// assert!(out.is_empty());
/// ```
pub fn write_frame_with_limit(
    value: &Value,
    max_frame: usize,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    write_tree_with_limit(&Tree::Borrowed(value), max_frame, out)
}

/// [`write_frame_with_limit`] for a value put together from borrowed parts
/// (a [`Message`]'s hash around its parameters).
pub(super) fn write_tree_with_limit(
    tree: &Tree<'_>,
    max_frame: usize,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let start = out.len();
    storable::nfreeze_tree_into(tree, out).map_err(FrameError::Storable)?;
    let length = out.len() - start;
    if length > max_frame {
        out.truncate(start);
        return Err(FrameError::TooLong {
            limit: max_frame,
            length,
        });
    }
    let mut prefix = length.to_string().into_bytes();
    prefix.push(0);
    out.splice(start..start, prefix);
    Ok(())
}

/// Why a frame could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A length over the limit: announced by the peer (refused before any
    /// of the payload is held), or of an image to write.
    TooLong {
        /// The limit.
        limit: usize,
        /// The payload's length.
        length: usize,
    },
    /// A length that is not one (it does not start with a digit, has more
    /// than 20 digits, or no NUL ends it); the bad bytes were dropped.
    Malformed {
        /// The stream offset of the first bad byte (counting every byte fed
        /// to the reader).
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A payload that is not a Storable image roe reads, or a value with no
    /// Storable form.
    Storable(StorableError),
    /// A value that is not an IKC message.
    Message(MessageError),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { limit, length } => {
                write!(f, "a frame of {length} bytes is over the limit of {limit}")
            }
            FrameError::Malformed { at, reason } => {
                write!(f, "a bad frame length at byte {at}: {reason}")
            }
            FrameError::Storable(e) => e.fmt(f),
            FrameError::Message(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Storable(e) => Some(e),
            FrameError::Message(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FilterError> for FrameError {
    fn from(error: FilterError) -> FrameError {
        match error {
            FilterError::TooLong { limit, length } => FrameError::TooLong { limit, length },
            FilterError::Malformed { at, reason } => FrameError::Malformed { at, reason },
            // Decimal framing reports nothing else; keep the text if it
            // ever does.
            _ => FrameError::Malformed {
                at: 0,
                reason: "the framing failed",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_length_is_refused_before_its_payload_and_skipped() {
        let mut reader = FrameReader::new().max_frame(1000);
        reader.feed(b"99999999999999\0");
        assert_eq!(
            reader.next_body(),
            Err(FrameError::TooLong {
                limit: 1000,
                length: 99_999_999_999_999
            })
        );
        reader.feed(&[b'x'; 4096]);
        assert_eq!(reader.buffered(), 0);
        assert_eq!(reader.next_body(), Ok(None));
    }

    #[test]
    fn a_length_that_is_not_digits_is_malformed() {
        let mut reader = FrameReader::new();
        reader.feed(b"x5\0hello");
        assert!(matches!(
            reader.next_body(),
            Err(FrameError::Malformed { at: 0, .. })
        ));
        let mut reader = FrameReader::new();
        reader.feed(b"12a\0");
        assert!(matches!(
            reader.next_body(),
            Err(FrameError::Malformed { at: 2, .. })
        ));
        let mut reader = FrameReader::new();
        reader.feed(&[b'1'; 21]);
        assert!(matches!(
            reader.next_body(),
            Err(FrameError::Malformed { .. })
        ));
    }

    #[test]
    fn an_image_at_the_limit_is_written_and_one_over_is_not() {
        let value = Value::from("abc");
        let image = storable::nfreeze(&value).unwrap();
        let mut out = b"before".to_vec();
        write_frame_with_limit(&value, image.len(), &mut out).unwrap();
        let mut expected = b"before".to_vec();
        expected.extend_from_slice(format!("{}\0", image.len()).as_bytes());
        expected.extend_from_slice(&image);
        assert_eq!(out, expected);
        assert!(write_frame_with_limit(&value, image.len() - 1, &mut out).is_err());
        assert_eq!(out, expected);
        assert!(matches!(
            write_frame(&Value::local(1u8), &mut out),
            Err(FrameError::Storable(_))
        ));
        assert_eq!(out, expected);
    }
}
