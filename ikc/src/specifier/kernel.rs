//! [`Kernel`]: the kernel part of a specifier.

use std::fmt;

/// The kernel part of a specifier: which kernel, or kernels, it addresses.
///
/// IKC resolves a name against every name a connected kernel answers to:
/// its kernel ID, its name, its aliases, and where it was reached
/// (`host:port`, `unix:path`); all of them are [`Kernel::Named`].
///
/// # Examples
///
/// ```
/// use roe_ikc::Kernel;
///
/// assert_eq!(Kernel::from("*"), Kernel::All);
/// assert_eq!(Kernel::from(""), Kernel::Default);
/// assert_eq!(Kernel::from("Pulse"), Kernel::Named("Pulse".into()));
/// assert_eq!(Kernel::All.to_string(), "*");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kernel {
    /// No kernel named: the default kernel (IKC's local kernel for a
    /// subscription, the default remote for a post).
    #[default]
    Default,
    /// `*`: every connected remote kernel.
    All,
    /// A kernel by one of its names. Never empty and never `*` when made
    /// by [`From`], parsing or [`Specifier::from_map`], which give
    /// [`Kernel::Default`] and [`Kernel::All`] for those.
    ///
    /// [`Specifier::from_map`]: super::Specifier::from_map
    Named(String),
}

impl Kernel {
    /// The kernel part as IKC's hash holds it: `""`, `"*"` or the name.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Kernel;
    ///
    /// assert_eq!(Kernel::Default.as_str(), "");
    /// assert_eq!(Kernel::All.as_str(), "*");
    /// assert_eq!(Kernel::from("host:6969").as_str(), "host:6969");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Kernel::Default => "",
            Kernel::All => "*",
            Kernel::Named(name) => name,
        }
    }
}

impl From<&str> for Kernel {
    /// `""` is the default kernel and `*` every kernel, as in IKC's hash.
    fn from(name: &str) -> Kernel {
        match name {
            "" => Kernel::Default,
            "*" => Kernel::All,
            _ => Kernel::Named(name.to_owned()),
        }
    }
}

impl From<String> for Kernel {
    /// `""` is the default kernel and `*` every kernel, as in IKC's hash.
    fn from(name: String) -> Kernel {
        match name.as_str() {
            "" => Kernel::Default,
            "*" => Kernel::All,
            _ => Kernel::Named(name),
        }
    }
}

impl fmt::Display for Kernel {
    /// Writes [`Kernel::as_str`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
