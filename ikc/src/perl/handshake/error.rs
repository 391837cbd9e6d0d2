//! [`HandshakeError`]: why a handshake with a Perl peer failed.

use std::fmt;

use crate::{native::MAX_NAMES, perl::LineError};

/// Why a handshake failed. It is then over: close the connection (Perl IKC
/// has no word for goodbye).
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::HandshakeError;
///
/// let error = HandshakeError::Refused { serializer: "FreezeThaw".into() };
/// assert_eq!(
///     error.to_string(),
///     "the Perl peer chose the serializer FreezeThaw; roe speaks only Storable"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A line could not be read.
    Line(LineError),
    /// More lines than a handshake needs (a peer flooding it, or one that
    /// never settles): [`MAX_HANDSHAKE_LINES`](crate::perl::MAX_HANDSHAKE_LINES).
    TooManyLines {
        /// The limit.
        limit: usize,
    },
    /// A legacy peer gave more than [`MAX_NAMES`] `IAM` names.
    TooManyNames,
    /// (Client) The server chose a serializer roe does not speak.
    Refused {
        /// The package it chose.
        serializer: String,
    },
    /// (Client) The server's `SETUP` line is not one roe can use (the server
    /// has already moved on to frames, so there is nothing to answer).
    BadSetup {
        /// Why.
        reason: &'static str,
    },
    /// (Client) The server answered the `SETUP` line with something other
    /// than its own `SETUP` or `NOT`.
    UnexpectedReply {
        /// The line (at most its first 64 bytes, as text).
        line: String,
    },
    /// A line came after the handshake was over.
    Finished,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Line(e) => e.fmt(f),
            HandshakeError::TooManyLines { limit } => {
                write!(f, "the Perl peer sent more than {limit} handshake lines")
            }
            HandshakeError::TooManyNames => {
                write!(f, "the Perl peer gave more than {MAX_NAMES} names")
            }
            HandshakeError::Refused { serializer } => write!(
                f,
                "the Perl peer chose the serializer {serializer}; roe speaks only Storable"
            ),
            HandshakeError::BadSetup { reason } => {
                write!(f, "the Perl server's SETUP line is bad: {reason}")
            }
            HandshakeError::UnexpectedReply { line } => {
                write!(f, "the Perl server answered SETUP with {line:?}")
            }
            HandshakeError::Finished => f.write_str("the handshake is over"),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandshakeError::Line(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LineError> for HandshakeError {
    fn from(error: LineError) -> HandshakeError {
        HandshakeError::Line(error)
    }
}

/// The most of a peer's line an error shows, in bytes.
const MAX_SHOWN: usize = 64;

/// A peer's line as text for an error: at most its first [`MAX_SHOWN`]
/// bytes, lossily, cut at a character boundary (a character the cut split
/// is left out).
pub(super) fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(MAX_SHOWN)]);
    text[..text.floor_char_boundary(MAX_SHOWN)].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_shown_cut_at_a_character_boundary() {
        assert_eq!(shown(b"IAM s"), "IAM s");
        let long = "x".repeat(100);
        assert_eq!(shown(long.as_bytes()), "x".repeat(MAX_SHOWN));
        // 'é' is two bytes, split by the cut: left out, not half shown.
        let split = format!("{}é", "x".repeat(MAX_SHOWN - 1));
        assert_eq!(shown(split.as_bytes()), "x".repeat(MAX_SHOWN - 1));
        // Bytes that are not UTF-8 become U+FFFD, within the bytes shown.
        let bad = [b'a', 0xff, b'b'];
        assert_eq!(shown(&bad), "a\u{fffd}b");
        assert!(shown(&[0xff; 100]).len() <= MAX_SHOWN);
    }
}
