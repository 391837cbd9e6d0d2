//! roe's native IKC wire: a versioned handshake, then speedy-encoded
//! frames, as a codec without I/O (bytes in, frames and bytes out; no
//! sockets, no clocks).
//!
//! [`FrameReader`] cuts frames out of the bytes read and decodes them
//! borrowed from its buffer; [`Frame::encode`] writes one;
//! [`ClientHandshake`] and [`ServerHandshake`] are the two sides of the
//! handshake as state machines. What follows is the wire, version 1.
//!
//! # Connection start
//!
//! The client writes the 8-byte magic [`MAGIC`], `ff 52 4f 45 49 4b 43 00`
//! (`"\xffROEIKC\0"`), then frames. The server writes frames only. The
//! magic's first byte is not ASCII, so a server that also serves Perl IKC
//! peers, whose first line is ASCII text (`SETUP ...`, `HELLO`), tells
//! them apart by the first byte ([`sniff`]).
//!
//! # Frames
//!
//! Every frame, both ways, is the body's length as a little-endian `u32`,
//! then the body: exactly one [`Frame`] in speedy's little-endian encoding
//! (bytes left after it are an error):
//!
//! | type | encoding |
//! |---|---|
//! | `u16`, `u32`, `u64`, `i64` | little-endian (two's complement) |
//! | `f64` | IEEE 754 binary64, little-endian |
//! | bool | 1 byte: 0 is false, anything else true (written as 1) |
//! | text | `u32` length in bytes, then that many bytes of UTF-8 |
//! | bytes | `u32` length, then the bytes |
//! | list of T | `u32` count, then that many T |
//! | option of T | 1 byte: 0 for none; anything else (written as 1), then T |
//! | `[u8; N]` | N bytes, no length |
//! | enum | `u32` tag, then the variant's fields |
//! | struct | the fields in order |
//!
//! | tag | frame | fields, in order | way |
//! |---|---|---|---|
//! | 0 | `Hello` | max_version `u16`, min_version `u16`, capabilities `u64`, kernel_id text, names list of text, pid `u32`, nonce `[u8; 16]`, published list of Published | client → server |
//! | 1 | `Welcome` | version `u16`, capabilities `u64`, kernel_id text, names list of text, pid `u32`, nonce `[u8; 16]`, proof option of `[u8; 32]`, published list of Published | server → client |
//! | 2 | `Proof` | proof `[u8; 32]` | client → server |
//! | 3 | `Refused` | reason text | either |
//! | 4 | `Post` | to Target, args list of Value, from option of Origin | either |
//! | 5 | `Call` | id `u64`, to Target, args list of Value, from option of Origin | either |
//! | 6 | `Reply` | id `u64`, outcome Outcome | either |
//! | 7 | `Publish` | session text, states list of text | either |
//! | 8 | `Retract` | session text, states list of text | either |
//! | 9 | `Subscribe` | id `u64`, session text, state option of text | either |
//! | 10 | `Subscribed` | id `u64`, accepted bool | either |
//! | 11 | `Unsubscribe` | session text | either |
//! | 12 | `Ping` | id `u64` | either |
//! | 13 | `Pong` | id `u64` | either |
//! | 14 | `Goodbye` | reason text | either |
//! | 15 | `Error` | op text, message text | either |
//!
//! The parts:
//!
//! - Published ([`Published`]): session text, states list of text.
//! - Target ([`Target`]): session SessionRef, state text.
//! - SessionRef ([`SessionRef`]), an enum: 0 Alias (text), 1 Number
//!   (`u64`, POE's session number).
//! - Origin ([`Origin`]): session SessionRef, state option of text.
//! - Outcome ([`Outcome`]), an enum: 0 Returned (Value), 1 NoHandler,
//!   2 NoSession, 3 Died (text), 4 Refused (text).
//! - Value ([`WireValue`](crate::WireValue)), an enum: 0 Undef, 1 Bool
//!   (bool), 2 Int (`i64`), 3 Float (`f64`), 4 Str (text), 5 Bytes
//!   (bytes), 6 List (list of Value), 7 Map (list of: key text, then
//!   Value; in key order), 8 Session (kernel `u16`, number `u64`).
//!
//! For example `Ping { id: 5 }` is the 16 bytes
//! `0c 00 00 00` (length 12), `0c 00 00 00` (tag 12),
//! `05 00 00 00 00 00 00 00` (id 5).
//!
//! # Limits
//!
//! A reader refuses:
//!
//! - a length prefix over its limit, before any of the body is buffered
//!   (the body is skipped as it arrives): [`DEFAULT_MAX_FRAME`] (16 MiB)
//!   by default, [`HANDSHAKE_MAX_FRAME`] (1 MiB) during the handshake, so
//!   a peer that has not yet proved anything cannot make the other side
//!   buffer more;
//! - a length or count that the rest of the body cannot hold (each list
//!   element takes at least one byte; a Value at least four), before
//!   anything of it is read, and it reserves no memory from a claimed
//!   count: a hostile frame costs memory in proportion to its real size;
//! - lists and maps nested more than [`MAX_VALUE_DEPTH`] (64) deep;
//! - an unknown tag, text that is not UTF-8, a body that ends early or has
//!   bytes left over.
//!
//! A frame refused after the handshake is reported and dropped and the
//! stream stays in step, but a peer that sends one is broken or hostile:
//! close the connection.
//!
//! # Handshake
//!
//! ```text
//! client                                             server
//!   magic, Hello { versions, capabilities, kernel id,
//!                  names, pid, nonce_c, published }  -->
//!   <--  Welcome { version, capabilities, kernel id,
//!                  names, pid, nonce_s, proof_s, published }
//!   Proof { proof_c }  -->                 (only with a key)
//!   traffic both ways
//! ```
//!
//! - **Versions.** The client sends the range it speaks; the server picks
//!   the highest version in both its range and the client's. If there is
//!   none it sends `Refused` naming both ranges and closes. The client
//!   refuses a version outside its range. This is version 1. `Hello`,
//!   `Welcome` and `Refused` (tags 0, 1 and 3) keep their tags and layout
//!   in every version, so any two versions can negotiate; what a later
//!   version adds comes as capability bits or as frames of that version.
//! - **Capabilities.** `u64` bits ([`capabilities`]). The client offers
//!   the bits it supports; the server answers with the agreed set, the
//!   bits both support. Unknown bits are ignored. Bit 0,
//!   [`PRE_SHARED_KEY`](capabilities::PRE_SHARED_KEY), means "I hold a
//!   pre-shared key"; the others are reserved.
//! - **Pre-shared key.** Both sides have the key, or neither: a server
//!   with a key refuses a client without one and the reverse, and so does
//!   a client. The key is never sent. Each side sends 16 fresh random
//!   bytes from the OS as its nonce, and proves it holds the key with an
//!   HMAC-SHA-256 ([`mac`]) over both nonces:
//!   `proof_s = HMAC(key, "roe-ikc server" ‖ nonce_c ‖ nonce_s)` in the
//!   `Welcome`, `proof_c = HMAC(key, "roe-ikc client" ‖ nonce_s ‖ nonce_c)`
//!   in the `Proof`. Each side checks the other's in constant time and
//!   refuses a bad one. The labels keep a proof from passing for the other
//!   side's; the fresh nonces keep one from being played back. The key
//!   authenticates the kernels when they connect; it neither encrypts nor
//!   signs the frames after: across an untrusted network, carry the
//!   connection in TLS or SSH.
//! - **Names.** The kernel id, the names (the kernel's name first, then
//!   its aliases; at most 64) and the published sessions and states are
//!   each 1 to 255 bytes of ASCII letters, digits, `_`, `-`, `:` and `.`
//!   (Perl's `[-:.\w]`); a handshake that breaks this is refused.
//! - **Refusal.** Whoever fails the handshake sends `Refused` with the
//!   reason (unless the other side refused first, or is not a native
//!   peer) and closes. A frame other than the one expected fails it.
//! - **Time.** The codec has no clock: the caller bounds the handshake
//!   with a timer and closes a connection that does not finish in time.
//!
//! With no key the server is done when it sends `Welcome` and the client
//! when it reads it; traffic may follow at once. With a key the server
//! waits for the client's `Proof` before any traffic.
//!
//! # Traffic
//!
//! - `Post` posts to a state of a session of the receiving kernel, named
//!   by alias or number ([`Target`]; the kernel is the receiver). `from`
//!   names the sending session, and optionally the state a reply goes to,
//!   so the receiver can post back.
//! - `Call` is answered by exactly one `Reply` with the same `id`. Calls
//!   are matched to replies by id, per connection (not by state name, as
//!   Perl IKC does), so any number may be outstanding. `Returned` carries
//!   the handler's value; `NoHandler`, `NoSession`, `Died` and `Refused`
//!   say why there is none.
//! - `Publish` and `Retract` change what the sender publishes after the
//!   handshake (`Retract` with no states retracts the whole session), so
//!   the other side's view of remote names stays current.
//! - `Subscribe` asks to be told of a published session (or one of its
//!   states), answered by `Subscribed` with the same `id`; `Unsubscribe`
//!   drops the subscriptions to a session.
//! - `Ping` is answered by a `Pong` with the same `id`.
//! - `Goodbye` is the last frame its sender writes before closing.
//! - `Error` tells the sender of a request without a reply (a `Post`)
//!   that it was refused or failed: `op` is `check` (the state is not
//!   published), `resolve` (no such session), `invocation` (the handler
//!   could not run) or `request` (the request made no sense).

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
        MAX_PUBLISHED_SESSIONS, MAX_PUBLISHED_STATES, NameError, Peer, ServerHandshake,
        random_nonce,
    },
};

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
