//! [`Peer`], [`Serializer`], [`Dialect`] and [`HandshakeStep`]: what a
//! handshake ends with, and each step's output.

use std::fmt;

/// How the two sides freeze their messages. roe speaks one: Storable's
/// network order, what Perl IKC peers choose first by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Serializer {
    /// `Storable`: `nfreeze` / `thaw` (see [`storable`](crate::storable)).
    Storable,
}

impl Serializer {
    /// The Perl package name the handshake carries.
    pub fn package(self) -> &'static str {
        match self {
            Serializer::Storable => "Storable",
        }
    }

    /// The serializer a package name names, when roe speaks it.
    pub fn from_package(package: &str) -> Option<Serializer> {
        (package == "Storable").then_some(Serializer::Storable)
    }
}

impl fmt::Display for Serializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.package())
    }
}

/// Which of Perl IKC's two handshakes was spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// IKC0: one `SETUP` line each way (the default of Perl IKC 0.23 and
    /// later).
    Ikc0,
    /// The legacy handshake: `HELLO`, `IAM`, `OK`, `DONE`, `FREEZER`,
    /// `WORLD`, `UP` in lock-step.
    Legacy,
}

/// The other side, as its handshake named it.
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::{Dialect, Peer, Serializer};
///
/// let peer = Peer {
///     names: vec!["vm-6b0198cd-00000f20-00000001".into(), "PoeClient".into()],
///     pid: Some(3872),
///     serializer: Serializer::Storable,
///     dialect: Dialect::Ikc0,
/// };
/// assert_eq!(peer.id(), Some("vm-6b0198cd-00000f20-00000001"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its names, its unique ID first: a full kernel's kernel ID then its
    /// name, aliases and local address; a ClientLite's one name. Perl IKC
    /// registers the peer under these and the peer's address as seen from
    /// here (`ip:port`, its "sanity alias"), which the caller knows. Empty
    /// only when a legacy peer said `DONE` before any `IAM`; Perl then takes
    /// that address as its ID.
    pub names: Vec<String>,
    /// Its process ID, as IKC0's `PID=` gave it (the legacy handshake
    /// carries none).
    pub pid: Option<u32>,
    /// How the frames that follow are frozen.
    pub serializer: Serializer,
    /// Which handshake it spoke.
    pub dialect: Dialect,
}

impl Peer {
    /// A peer of the legacy handshake: named by its `IAM`s. That handshake
    /// carries no PID, and its frames are Storable's whatever `FREEZER` was
    /// agreed, as POE's default filter makes them on both Perl sides.
    pub(super) fn legacy(names: Vec<String>) -> Peer {
        Peer {
            names,
            pid: None,
            serializer: Serializer::Storable,
            dialect: Dialect::Legacy,
        }
    }

    /// A peer of IKC0, as its `SETUP` line named it.
    pub(super) fn ikc0(names: Vec<String>, pid: Option<u32>, serializer: Serializer) -> Peer {
        Peer {
            names,
            pid,
            serializer,
            dialect: Dialect::Ikc0,
        }
    }

    /// Its unique ID: the first name.
    pub fn id(&self) -> Option<&str> {
        self.names.first().map(String::as_str)
    }
}

/// What a handshake step asks of the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeStep {
    /// Write `send` (maybe nothing) and wait for the peer's next line.
    Continue {
        /// Bytes to write.
        send: Vec<u8>,
    },
    /// The handshake is done: write `send` (maybe nothing); frames follow,
    /// read with [`LineReader::into_frames`](super::super::LineReader::into_frames).
    Done {
        /// Bytes to write.
        send: Vec<u8>,
        /// The other side.
        peer: Peer,
    },
}
