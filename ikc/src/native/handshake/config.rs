//! [`HandshakeConfig`]: who this kernel is, for its side of the
//! handshake, and the key it holds.

use std::{borrow::Cow, fmt};

use super::names::{
    MAX_NAMES, MAX_PUBLISHED_SESSIONS, MAX_PUBLISHED_STATES, NameError, check_count, check_name,
};
use crate::native::{Published, capabilities};

/// A pre-shared key: both ends hold it, neither sends it. Its bytes are
/// kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
struct PreSharedKey(Vec<u8>);

impl fmt::Debug for PreSharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreSharedKey(..)")
    }
}

/// Who this kernel is, for its side of the handshake.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::HandshakeConfig;
///
/// let config = HandshakeConfig::new("host-4242", "Worker")?
///     .alias("worker.example")?
///     .publish("echo", ["ping", "shout"])?
///     .key(b"thirty-two bytes of shared secret".to_vec());
/// assert_eq!(config.names(), ["Worker", "worker.example"]);
/// assert!(config.has_key());
/// # Ok::<(), roe_ikc::native::NameError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HandshakeConfig {
    pub(super) kernel_id: String,
    names: Vec<String>,
    pub(super) pid: u32,
    pub(super) published: Vec<Published<'static>>,
    key: Option<PreSharedKey>,
}

impl HandshakeConfig {
    /// A kernel with this unique id and name, this process's id, nothing
    /// published and no key.
    ///
    /// # Errors
    ///
    /// A [`NameError`] for an id or name outside the rules.
    pub fn new(kernel_id: &str, name: &str) -> Result<HandshakeConfig, NameError> {
        check_name("kernel id", kernel_id)?;
        check_name("kernel name", name)?;
        Ok(HandshakeConfig {
            kernel_id: kernel_id.to_string(),
            names: vec![name.to_string()],
            pid: std::process::id(),
            published: Vec::new(),
            key: None,
        })
    }

    /// Adds an alias.
    ///
    /// # Errors
    ///
    /// A [`NameError`] for an alias outside the rules, or one too many.
    pub fn alias(mut self, alias: &str) -> Result<HandshakeConfig, NameError> {
        check_name("alias", alias)?;
        check_count("names", self.names.len() + 1, MAX_NAMES)?;
        self.names.push(alias.to_string());
        Ok(self)
    }

    /// Publishes a session's states.
    ///
    /// # Errors
    ///
    /// A [`NameError`] for a name outside the rules, or too many sessions
    /// or states.
    pub fn publish<'s>(
        mut self,
        session: &str,
        states: impl IntoIterator<Item = &'s str>,
    ) -> Result<HandshakeConfig, NameError> {
        self.try_publish(session, states)?;
        Ok(self)
    }

    /// [`publish`](HandshakeConfig::publish) in place: a config built from
    /// many sessions is not copied once per session. On an error nothing
    /// is added.
    ///
    /// # Errors
    ///
    /// As [`publish`](HandshakeConfig::publish).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::native::{HandshakeConfig, MAX_PUBLISHED_SESSIONS};
    ///
    /// let mut config = HandshakeConfig::new("host-1", "Worker")?;
    /// for n in 0..MAX_PUBLISHED_SESSIONS {
    ///     config.try_publish(&format!("s{n}"), ["ping"])?;
    /// }
    /// assert!(config.try_publish("one-more", ["ping"]).is_err());
    /// assert_eq!(config.published().len(), MAX_PUBLISHED_SESSIONS);
    /// # Ok::<(), roe_ikc::native::NameError>(())
    /// ```
    pub fn try_publish<'s>(
        &mut self,
        session: &str,
        states: impl IntoIterator<Item = &'s str>,
    ) -> Result<(), NameError> {
        let published = Published::new(session.to_string(), states.into_iter().map(String::from));
        check_name("published session", &published.session)?;
        check_count(
            "published states",
            published.states.len(),
            MAX_PUBLISHED_STATES,
        )?;
        for state in &published.states {
            check_name("published state", state)?;
        }
        check_count(
            "published sessions",
            self.published.len() + 1,
            MAX_PUBLISHED_SESSIONS,
        )?;
        self.published.push(published);
        Ok(())
    }

    /// Sets the process id announced (by default this process's).
    pub fn pid(mut self, pid: u32) -> HandshakeConfig {
        self.pid = pid;
        self
    }

    /// Sets the pre-shared key: the peer must prove it holds the same key,
    /// and this side proves it too, without either sending it. Use at
    /// least 32 random bytes.
    pub fn key(mut self, key: Vec<u8>) -> HandshakeConfig {
        self.key = Some(PreSharedKey(key));
        self
    }

    /// The kernel's unique id.
    pub fn kernel_id(&self) -> &str {
        &self.kernel_id
    }

    /// The kernel's name, then its aliases.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The sessions published.
    pub fn published(&self) -> &[Published<'static>] {
        &self.published
    }

    /// Whether a pre-shared key is set.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The capability bits this side supports.
    pub(super) fn capabilities(&self) -> u64 {
        if self.key.is_some() {
            capabilities::PRE_SHARED_KEY
        } else {
            0
        }
    }

    pub(super) fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_ref().map(|k| k.0.as_slice())
    }

    pub(super) fn borrowed_names(&self) -> Vec<Cow<'_, str>> {
        self.names
            .iter()
            .map(|n| Cow::Borrowed(n.as_str()))
            .collect()
    }
}
