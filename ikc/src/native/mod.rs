//! roe's native IKC wire: a versioned handshake, then speedy-encoded
//! frames, as a codec without I/O (bytes in, frames and bytes out; no
//! sockets, no clocks).
//!
//! [`FrameReader`] cuts frames out of the bytes read and decodes them
//! borrowed from its buffer; [`Frame::encode`] writes one;
//! [`ClientHandshake`] and [`ServerHandshake`] are the two sides of the
//! handshake as state machines; [`sniff`] tells a native client from a
//! Perl IKC peer by its first bytes; [`mac`] holds the key proofs.
//!
//! The wire, version [`PROTOCOL_VERSION`], is specified byte by byte in
//! `docs/wire.md` in the repository ("Native IKC wire"): the magic, the
//! frame layout and the encoding of each type, every frame and its tag
//! ([`Frame`], [`Published`], [`Target`], [`SessionRef`], [`Origin`],
//! [`Outcome`], [`WireValue`](crate::WireValue)), the handshake step by
//! step (versions, [`capabilities`], the pre-shared key and exactly what
//! is MACed), the limits, what a reader does with a malformed frame, and
//! worked hex examples. In short:
//!
//! - The client writes [`MAGIC`] (`ff 52 4f 45 49 4b 43 00`), then
//!   frames; the server writes frames only. A frame is its body's length
//!   as a little-endian `u32`, then the body: one [`Frame`] in speedy's
//!   little-endian encoding, a `u32` tag and the fields in order.
//! - The handshake is `Hello` (client), `Welcome` (server) and, with a
//!   pre-shared key, `Proof` (client): the server picks the highest
//!   version both speak, the agreed capabilities are the bits both
//!   support, and each side proves it holds the key with an HMAC-SHA-256
//!   over both nonces, never sending the key. Whoever fails the handshake
//!   sends `Refused` and closes; the caller bounds its time.
//! - A reader refuses a body over its limit ([`DEFAULT_MAX_FRAME`], or
//!   [`HANDSHAKE_MAX_FRAME`] during the handshake) before buffering any
//!   of it, a length or count the rest of the body cannot hold, values
//!   nested deeper than [`MAX_VALUE_DEPTH`], and anything else that is
//!   not a frame. After the handshake a refused frame is reported and
//!   dropped and the stream stays in step, but a peer that sends one is
//!   broken or hostile: close the connection.

mod decode;
mod frame;
mod handshake;
pub mod mac;

pub use self::{
    frame::{
        Frame, FrameError, FrameReader, Malformed, Origin, Outcome, Published, SessionRef, Sniffed,
        Target, sniff,
    },
    handshake::{
        ClientHandshake, HandshakeConfig, HandshakeError, HandshakeStep, MAX_NAME_LEN, MAX_NAMES,
        MAX_PUBLISHED_SESSIONS, MAX_PUBLISHED_STATES, NameError, Peer, ServerHandshake, check_name,
        random_nonce,
    },
};

pub(crate) use self::decode::read_value;

use std::fmt;

/// What a client writes before its first frame: `"\xffROEIKC\0"`.
pub const MAGIC: [u8; 8] = *b"\xffROEIKC\x00";

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// The largest frame body read or written by default: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// The largest frame body during the handshake: 1 MiB.
pub const HANDSHAKE_MAX_FRAME: usize = 1024 * 1024;

/// How deep lists and maps may nest in a value: a scalar is depth 0, a
/// list or map one more than its deepest element.
pub const MAX_VALUE_DEPTH: usize = 64;

/// The capability bits of `Hello` and `Welcome`.
pub mod capabilities {
    /// Bit 0: the sender holds a pre-shared key, and the handshake proves
    /// it.
    pub const PRE_SHARED_KEY: u64 = 1;

    /// Every bit this crate knows; the others are reserved, and ignored
    /// when received.
    pub const KNOWN: u64 = PRE_SHARED_KEY;
}

/// A range of protocol versions, both ends included.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::Versions;
///
/// let ours = Versions { min: 1, max: 3 };
/// assert_eq!(ours.highest_common(Versions { min: 2, max: 5 }), Some(3));
/// assert_eq!(ours.highest_common(Versions { min: 4, max: 5 }), None);
/// assert_eq!(Versions::SUPPORTED.to_string(), "1..=1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Versions {
    /// The oldest.
    pub min: u16,
    /// The newest.
    pub max: u16,
}

impl Versions {
    /// The versions this crate speaks.
    pub const SUPPORTED: Versions = Versions {
        min: PROTOCOL_VERSION,
        max: PROTOCOL_VERSION,
    };

    /// Whether `version` is in the range.
    pub fn contains(self, version: u16) -> bool {
        self.min <= version && version <= self.max
    }

    /// The highest version in both ranges, if any.
    pub fn highest_common(self, other: Versions) -> Option<u16> {
        let highest = self.max.min(other.max);
        (self.min.max(other.min) <= highest).then_some(highest)
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_is_not_ascii_and_ends_in_nul() {
        assert_eq!(MAGIC, [0xff, b'R', b'O', b'E', b'I', b'K', b'C', 0]);
        assert!(!MAGIC[0].is_ascii());
    }

    #[test]
    fn a_ping_is_the_bytes_the_docs_show() {
        let mut out = Vec::new();
        Frame::Ping { id: 5 }.encode(&mut out).unwrap();
        assert_eq!(out, [12, 0, 0, 0, 12, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn an_empty_version_range_has_nothing_in_common() {
        let empty = Versions { min: 2, max: 1 };
        assert_eq!(Versions::SUPPORTED.highest_common(empty), None);
        assert!(!empty.contains(1));
    }
}
