//! [`Peer`]: the other kernel, as its handshake described it.

use std::borrow::Cow;

use crate::native::{Published, capabilities};

/// The other kernel, as its handshake described it.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{Peer, capabilities};
///
/// let peer = Peer {
///     version: 1,
///     capabilities: capabilities::PRE_SHARED_KEY,
///     kernel_id: "host-7".into(),
///     names: vec!["Server".into(), "srv".into()],
///     pid: 7,
///     published: vec![],
/// };
/// assert_eq!(peer.name(), "Server");
/// assert!(peer.authenticated());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The protocol version agreed.
    pub version: u16,
    /// The capabilities agreed.
    pub capabilities: u64,
    /// The peer kernel's unique id.
    pub kernel_id: String,
    /// The peer kernel's name, then its aliases.
    pub names: Vec<String>,
    /// The peer's process id (as it says).
    pub pid: u32,
    /// The sessions the peer publishes.
    pub published: Vec<Published<'static>>,
}

impl Peer {
    /// The peer kernel's name.
    pub fn name(&self) -> &str {
        self.names.first().map_or("", String::as_str)
    }

    /// Whether both sides proved they hold the same pre-shared key.
    pub fn authenticated(&self) -> bool {
        self.capabilities & capabilities::PRE_SHARED_KEY != 0
    }

    pub(super) fn from_handshake(
        version: u16,
        capabilities: u64,
        kernel_id: &str,
        names: &[Cow<'_, str>],
        pid: u32,
        published: Vec<Published<'_>>,
    ) -> Peer {
        Peer {
            version,
            capabilities,
            kernel_id: kernel_id.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
            pid,
            published: published.into_iter().map(Published::into_owned).collect(),
        }
    }
}
