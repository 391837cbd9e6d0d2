//! The Perl dialect: the wire of unmodified Perl POE::Component::IKC
//! (0.2402) peers, as a codec without I/O.
//!
//! A connection from or to a Perl IKC kernel (a full `IKC::Server` or
//! `IKC::Client`, or a blocking `IKC::ClientLite`) runs in two phases: a
//! handshake in lines of text, then frames, each one Perl hash frozen by
//! Storable. This module holds every piece a connection needs, each pure:
//!
//! - [`sniff`]: which protocol a new connection speaks (roe's native wire,
//!   IKC0, or the legacy handshake), from its first bytes.
//! - [`LineReader`]: the handshake's lines.
//! - [`ServerHandshake`] and [`ClientHandshake`]: the two sides of the
//!   handshake, fed lines, giving back the bytes to write and, at the end,
//!   the [`Peer`] (its names, unique ID first) and the [`Serializer`].
//! - [`FrameReader`] and [`write_frame`]: the frames, `<length>\0<image>`.
//! - [`Message`]: a frame's hash, typed (post, call, ping, proxy post,
//!   subscription and its receipt, error report), read and written in the
//!   exact shapes Perl IKC sends.
//!
//! It holds no socket, no clock and no IKC semantics beyond the shapes of
//! messages: the caller reads and writes, bounds the handshake's time, and
//! decides what a message does (published states, the one-shot `rsvp`,
//! post-backs). Storable images are read and written by
//! [`storable`](crate::storable); specifiers by [`Specifier`](crate::Specifier).
//!
//! # Driving a connection
//!
//! A server, for each connection it accepts:
//!
//! 1. Read until [`sniff`] decides. [`Sniffed::Native`]: roe's native wire
//!    (give the same bytes to [`native::FrameReader::after_magic`](crate::native::FrameReader::after_magic)).
//!    [`Sniffed::Setup`] or [`Sniffed::Hello`]: a Perl peer, go on.
//!    Anything else: close.
//! 2. Feed every byte read (the sniffed ones first) to a [`LineReader`];
//!    give each line to a [`ServerHandshake`] and write what each
//!    [`HandshakeStep`] says to send.
//! 3. At [`HandshakeStep::Done`], register the [`Peer`] (under its names
//!    and the address it connected from), and turn the line reader into a
//!    [`FrameReader`] with [`LineReader::into_frames`]: it keeps what the
//!    peer sent after its last line.
//! 4. From then on, [`FrameReader::next_message`] gives each [`Message`],
//!    and [`Message::encode`] writes one. An error from the frame reader
//!    means the peer is broken or hostile: close.
//!
//! A client writes what [`ClientHandshake::start`] returns, then does 2 to
//! 4 with the server's lines and a [`ClientHandshake`]. Neither side sends
//! anything to say goodbye: closing the socket is the end.
//!
//! # The wire, byte by byte
//!
//! ## Handshake lines
//!
//! Lines are ASCII. Perl writes each with CRLF, and reads CR, LF, CRLF or
//! LFCR as a line's end; so does roe ([`LineReader`]), writing CRLF. roe
//! refuses a line over [`MAX_LINE`] bytes and a handshake of more than
//! [`MAX_HANDSHAKE_LINES`] lines. The client always speaks first.
//!
//! **IKC0**, one line each way:
//!
//! ```text
//! C: SETUP KERNEL=<id>[,<name>...];FREEZER=<package>[,<package>...];PID=<pid>
//! S: SETUP KERNEL=<id>,<name>,<alias>...,<ip:port>;FREEZER=Storable;PID=<pid>
//! ```
//!
//! A full Perl kernel lists its kernel ID, name, aliases and local
//! `ip:port`, and the serializers it can load (by default `Storable,
//! FreezeThaw,POE::Component::IKC::Freezer`); a ClientLite gives its one
//! name and one serializer (`SETUP KERNEL=LiteClient;FREEZER=Storable;
//! PID=2885`). The server answers with its own names and the one serializer
//! it chose, and both switch to frames. A server that cannot serve the
//! offer answers `NOT` and waits; a Perl client then starts the legacy
//! handshake on the same connection.
//!
//! **Legacy**, in lock-step (a Perl client forced to `protocol => 'IKC'`,
//! or after `NOT`):
//!
//! ```text
//! C: HELLO                  S: IAM <id>
//! C: OK                     S: IAM <ip:port>       (the server's names,
//! C: OK                     S: IAM <name>           last first)
//! C: OK                     S: DONE
//! C: IAM <id>               S: OK                  (the client's, the same
//! C: IAM <name>...          S: OK                   way; a ClientLite: one)
//! C: DONE
//! C: FREEZER Storable       S: OK                  (or NOT: the client
//! C: WORLD                  S: UP                   may offer another)
//! ```
//!
//! A side that gets a line it did not expect answers `NOT` (never to a
//! `NOT`).
//!
//! ## What roe answers differently from a Perl server
//!
//! roe speaks Storable only. A Perl server accepts any serializer package
//! it can load, including `POE::Component::IKC::Freezer`, whose thaw is
//! Perl's `eval` of the peer's text; roe never runs a peer's code. So an
//! IKC0 `SETUP` that does not offer Storable gets `NOT` (where Perl would
//! accept FreezeThaw), and in the legacy handshake `FREEZER` of anything
//! but Storable gets `NOT`. A ClientLite configured for another serializer
//! then fails its handshake cleanly ("refused"); a full client runs out of
//! serializers, says `WORLD`, and both sides use POE's default, Storable.
//! A client offering several serializers gets Storable whatever its order
//! (Perl takes the first it can load). Beyond that, roe refuses names
//! outside `[-:.\w]` (see [`check_name`](crate::native::check_name)),
//! bounds a line's length, the names and the lines of a handshake, and
//! reads `SETUP`'s fields
//! by their start only (Perl finds `KERNEL=` anywhere in a field).
//!
//! ## Frames
//!
//! ```text
//! frame = 1*DIGIT %x00 image     ; the image's length in ASCII decimal, a NUL
//! image = Storable network order  ; nfreeze of one hash, e.g. 05 0b 03 <count> ...
//! ```
//!
//! e.g. `32 32 37 00 05 0b 03 00 00 00 05 ...`: 227 bytes of image, a
//! hash of 5 entries. There is nothing else on the wire: no heartbeat,
//! no sequence number, no goodbye. [`FrameReader`] refuses a length over
//! its limit ([`DEFAULT_MAX_FRAME`]) before holding any of the image, and
//! a length that is not 1 to 20 digits and a NUL; it reads the image with
//! [`storable::thaw`](crate::storable::thaw), which refuses blessed
//! objects, code references and everything else roe does not read, naming
//! the opcode.
//!
//! ## Messages
//!
//! Each image is a hash: `event` (where it goes: a specifier string, or
//! the hash `{kernel, session, state}`), `params` (the receiving state's
//! `ARG0`), `from` (who sent it), `rsvp` (where a call's result goes),
//! `wantarray` (ClientLite's calling context) and `is_error`. What each
//! shape means, and how it maps to [`Message`]'s variants, is on
//! [`Message`]. Two examples from real traffic, as Perl IKC sends them:
//!
//! ```text
//! ClientLite call('echo/echo', 'hello'):
//!   { event => 'poe://<server ID>/echo/echo', params => 'hello', wantarray => '',
//!     rsvp => { kernel => 'LiteClient', session => 'IKCLite', state => 'response0' },
//!     from => { kernel => 'LiteClient', session => 'IKCLite' } }
//! the server's reply:
//!   { event => { kernel => 'LiteClient', session => 'IKCLite', state => 'response0' },
//!     params => 'hello',
//!     from => { kernel => '<server ID>', session => 'echo', state => 'IKC:proxy' } }
//! ```

mod frame;
mod handshake;
mod line;
mod message;
mod sniff;

pub use self::{
    frame::{FrameError, FrameReader, write_frame, write_frame_with_limit},
    handshake::{
        ClientHandshake, Dialect, HandshakeConfig, HandshakeError, HandshakeStep, Peer, Serializer,
        ServerHandshake,
    },
    line::{LineError, LineReader},
    message::{
        Address, Call, CallContext, DoYouHave, ErrorStage, IKC_SESSION, Message, MessageError,
        PROXY_STATE, Post, ProxyPost, RECEIPT_PREFIX, Receipt, ReceiptAnswer, RemoteError,
        SessionName, Spec,
    },
    sniff::{Sniffed, sniff},
};

/// The longest handshake line read, in bytes (terminator excluded). Perl
/// IKC's lines are a few dozen bytes; a `SETUP` with many aliases, a few
/// hundred.
pub const MAX_LINE: usize = 4096;

/// The most lines one side's handshake may take: enough for the legacy
/// handshake with [`MAX_NAMES`](crate::native::MAX_NAMES) names each way,
/// with room for a few `NOT`s and `FREEZER`s.
pub const MAX_HANDSHAKE_LINES: usize = 2 * crate::native::MAX_NAMES + 16;

/// The largest frame image read or written by default: 16 MiB, as roe's
/// native wire. (Perl IKC refuses to send over 100 MiB, and POE's filter
/// holds up to 512 MiB.)
pub const DEFAULT_MAX_FRAME: usize = crate::native::DEFAULT_MAX_FRAME;
