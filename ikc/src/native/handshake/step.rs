//! [`HandshakeStep`]: what a step of either side asks of the caller, and
//! the writing of a handshake frame.

use super::{HandshakeError, Peer};
use crate::native::{Frame, HANDSHAKE_MAX_FRAME};

/// What a handshake step asks of the caller.
///
/// # Examples
///
/// A server without a key is done as soon as it answers the `Hello`:
///
/// ```
/// use roe_ikc::native::{
///     ClientHandshake, Frame, FrameReader, HandshakeConfig, HandshakeStep, ServerHandshake,
/// };
///
/// let (_, hello) = ClientHandshake::start(HandshakeConfig::new("c-1", "Client")?)?;
/// let mut server = ServerHandshake::new(HandshakeConfig::new("s-1", "Server")?)?;
/// let mut reader = FrameReader::after_magic();
/// reader.feed(&hello);
/// let step = server.on_frame(reader.next_frame()?.unwrap())?;
/// let HandshakeStep::Done { send, peer } = step else {
///     panic!("no key, no proof to wait for");
/// };
/// assert_eq!(peer.name(), "Client");
/// let mut reader = FrameReader::new();
/// reader.feed(&send);
/// assert!(matches!(reader.next_frame()?, Some(Frame::Welcome { version: 1, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeStep {
    /// Send these bytes and wait for the peer's next frame.
    Continue {
        /// Bytes to write.
        send: Vec<u8>,
    },
    /// The handshake is done: send these bytes (maybe none); traffic frames
    /// may follow them.
    Done {
        /// Bytes to write.
        send: Vec<u8>,
        /// The other kernel.
        peer: Peer,
    },
}

pub(super) fn encode(frame: &Frame<'_>, out: &mut Vec<u8>) -> Result<(), HandshakeError> {
    frame
        .encode_with_limit(HANDSHAKE_MAX_FRAME, out)
        .map_err(HandshakeError::Frame)
}
