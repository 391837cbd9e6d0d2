//! [`HandshakeConfig`]: how this side names itself in the handshake.

use crate::native::{MAX_NAMES, NameError, check_name};

/// How this side names itself to a Perl peer: its unique kernel ID, its
/// other names, and its process ID.
///
/// `names` are, in order, what Perl IKC lists after the ID: the kernel's
/// name, its aliases, and the connection's local address as `ip:port`
/// (Perl adds that last one itself; a server without a name has only it).
/// IKC0 sends them all in one line, `KERNEL=<id>,<names...>`; the legacy
/// handshake sends `IAM <id>`, then the names from the last to the first.
/// A ClientLite names itself by one name and no ID: give that name as the
/// ID and no names.
///
/// # Examples
///
/// ```
/// use roe_ikc::{identity::kernel_id, perl::HandshakeConfig};
///
/// let config = HandshakeConfig::new(kernel_id(), ["EchoServer", "127.0.0.1:4321"], 77)?;
/// assert_eq!(config.names(), ["EchoServer", "127.0.0.1:4321"]);
/// assert!(HandshakeConfig::new("a,b", Vec::<String>::new(), 1).is_err());
/// # Ok::<(), roe_ikc::native::NameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeConfig {
    kernel_id: String,
    names: Vec<String>,
    pid: u32,
}

impl HandshakeConfig {
    /// A configuration, its names checked.
    ///
    /// # Errors
    ///
    /// A [`NameError`] for a name outside roe's rules (1 to 255 bytes of
    /// ASCII letters, digits, `_`, `-`, `:` and `.`; see
    /// [`check_name`]), or more than [`MAX_NAMES`] names besides the ID.
    pub fn new<S: Into<String>>(
        kernel_id: impl Into<String>,
        names: impl IntoIterator<Item = S>,
        pid: u32,
    ) -> Result<HandshakeConfig, NameError> {
        let kernel_id = kernel_id.into();
        check_name("kernel ID", &kernel_id)?;
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.len() > MAX_NAMES {
            return Err(NameError::TooMany {
                what: "kernel names",
                count: names.len(),
                max: MAX_NAMES,
            });
        }
        for name in &names {
            check_name("kernel name", name)?;
        }
        Ok(HandshakeConfig {
            kernel_id,
            names,
            pid,
        })
    }

    /// The unique kernel ID.
    pub fn kernel_id(&self) -> &str {
        &self.kernel_id
    }

    /// The names after the ID.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The process ID IKC0 sends.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The ID, then the names.
    pub(super) fn all_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.kernel_id.as_str()).chain(self.names.iter().map(String::as_str))
    }
}
