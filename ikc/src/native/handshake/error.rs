//! [`HandshakeError`]: why a handshake failed, and the refusal to send.

use std::{fmt, io};

use super::names::NameError;
use crate::native::{Frame, FrameError, Versions};

/// Why a handshake failed. The connection is to be closed, after sending
/// the [`refusal`](HandshakeError::refusal) when there is one.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{FrameError, HandshakeError, Versions};
///
/// let error = HandshakeError::NoCommonVersion {
///     ours: Versions::SUPPORTED,
///     theirs: Versions { min: 2, max: 2 },
/// };
/// assert_eq!(
///     error.to_string(),
///     "no common protocol version: this side speaks 1..=1, the peer 2..=2"
/// );
/// // A reader's wrong magic is the handshake's too.
/// assert_eq!(HandshakeError::from(FrameError::WrongMagic), HandshakeError::WrongMagic);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The client's first bytes are not [`MAGIC`]: not a native peer.
    ///
    /// [`MAGIC`]: crate::native::MAGIC
    WrongMagic,
    /// A frame could not be read (or this side's could not be written).
    Frame(FrameError),
    /// A frame the handshake does not expect now.
    UnexpectedFrame {
        /// What it expected.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
    /// No protocol version both sides speak.
    NoCommonVersion {
        /// The versions this side speaks.
        ours: Versions,
        /// The versions the peer speaks.
        theirs: Versions,
    },
    /// The server chose a version the client did not offer.
    VersionNotOffered {
        /// The version chosen.
        version: u16,
        /// The versions offered.
        offered: Versions,
    },
    /// This side has a pre-shared key and the peer offered none.
    KeyRequired,
    /// The peer wants a pre-shared key and this side has none.
    NoKey,
    /// The peer's proof is missing.
    MissingProof,
    /// The peer's proof does not match the key: it does not hold the same
    /// one.
    BadProof,
    /// The server sent a proof though no key was agreed.
    UnexpectedProof,
    /// The peer's names break the rules.
    BadName(NameError),
    /// The peer refused the handshake.
    Refused {
        /// Its reason (the first 512 bytes).
        reason: String,
    },
    /// The handshake is over (done or failed) and takes no more frames.
    Finished,
    /// The OS gave no random bytes for a nonce.
    Randomness {
        /// The OS error number.
        errno: i32,
    },
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::WrongMagic => f.write_str("not a roe native IKC peer (wrong magic)"),
            HandshakeError::Frame(e) => e.fmt(f),
            HandshakeError::UnexpectedFrame { expected, got } => {
                write!(f, "expected {expected}, got {got}")
            }
            HandshakeError::NoCommonVersion { ours, theirs } => write!(
                f,
                "no common protocol version: this side speaks {ours}, the peer {theirs}"
            ),
            HandshakeError::VersionNotOffered { version, offered } => {
                write!(f, "version {version} chosen, but {offered} offered")
            }
            HandshakeError::KeyRequired => {
                f.write_str("a pre-shared key is required and the peer has none")
            }
            HandshakeError::NoKey => {
                f.write_str("the peer wants a pre-shared key and this side has none")
            }
            HandshakeError::MissingProof => f.write_str("the key proof is missing"),
            HandshakeError::BadProof => f.write_str("the key proof does not match"),
            HandshakeError::UnexpectedProof => f.write_str("a key proof, but no key agreed"),
            HandshakeError::BadName(e) => e.fmt(f),
            HandshakeError::Refused { reason } => write!(f, "refused by the peer: {reason}"),
            HandshakeError::Finished => f.write_str("the handshake is over"),
            HandshakeError::Randomness { errno } => write!(
                f,
                "no random bytes for a nonce: {}",
                io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<FrameError> for HandshakeError {
    fn from(error: FrameError) -> HandshakeError {
        match error {
            FrameError::WrongMagic => HandshakeError::WrongMagic,
            other => HandshakeError::Frame(other),
        }
    }
}

impl From<NameError> for HandshakeError {
    fn from(error: NameError) -> HandshakeError {
        HandshakeError::BadName(error)
    }
}

impl HandshakeError {
    /// The [`Refused`](Frame::Refused) frame to send the peer before
    /// closing, saying why; none when the peer refused, the handshake was
    /// already over, the peer is not a native one, or the failure was this
    /// side's own.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::native::{Frame, FrameReader, HandshakeError};
    ///
    /// let bytes = HandshakeError::BadProof.refusal().unwrap();
    /// let mut reader = FrameReader::new();
    /// reader.feed(&bytes);
    /// assert_eq!(
    ///     reader.next_frame()?,
    ///     Some(Frame::Refused { reason: "the key proof does not match".into() })
    /// );
    /// assert_eq!(HandshakeError::WrongMagic.refusal(), None);
    /// # Ok::<(), roe_ikc::native::FrameError>(())
    /// ```
    pub fn refusal(&self) -> Option<Vec<u8>> {
        match self {
            HandshakeError::WrongMagic
            | HandshakeError::Refused { .. }
            | HandshakeError::Finished
            | HandshakeError::Randomness { .. }
            | HandshakeError::Frame(FrameError::Unencodable { .. }) => None,
            _ => {
                let mut out = Vec::new();
                Frame::Refused {
                    reason: self.to_string().into(),
                }
                .encode(&mut out)
                .ok()?;
                Some(out)
            }
        }
    }

    fn refused(reason: &str) -> HandshakeError {
        HandshakeError::Refused {
            reason: reason[..reason.floor_char_boundary(512)].to_owned(),
        }
    }
}

pub(super) fn unexpected(expected: &'static str, frame: &Frame<'_>) -> HandshakeError {
    match frame {
        Frame::Refused { reason } => HandshakeError::refused(reason),
        other => HandshakeError::UnexpectedFrame {
            expected,
            got: other.kind(),
        },
    }
}
