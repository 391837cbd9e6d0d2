//! Who owns a service, and who may change it: [`OwnerId`], [`Token`] and
//! [`Claim`].
//!
//! In registry(4) a service belongs to the file it was created through:
//! closing that file removes it, unless its `persist` attribute is a
//! non-zero number. Over TCP that file is the connection to the `new` port,
//! so the store names each service's owner by the connection it came from,
//! an [`OwnerId`] that the server hands out.
//!
//! registry(4) lets the owning *user* update or remove a service by its
//! file's name; its TCP face has no users, and no way to remove a persistent
//! service at all. roe adds an optional owner [`Token`], a secret given at
//! registration: whoever presents it may update or remove the service, after
//! its connection is gone too (and after a restart, when the service is
//! saved in a state file). A [`Claim`] is what a caller presents.

use std::fmt;

use crate::error::{Error, Result};

/// The connection a service was registered through, as the server numbers
/// its connections.
///
/// The store never makes these up: the server gives each connection a number
/// of its own choosing, unique for as long as the connection lives.
///
/// # Examples
///
/// ```
/// use roe_registry::OwnerId;
///
/// let owner = OwnerId::new(7);
/// assert_eq!(owner.get(), 7);
/// assert_eq!(owner.to_string(), "#7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId(u64);

impl OwnerId {
    /// The owner numbered `n`.
    pub const fn new(n: u64) -> OwnerId {
        OwnerId(n)
    }

    /// Its number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A secret that lets its holder update or remove the service registered
/// with it (roe's extension to registry(4)).
///
/// A token is 1 to [`Token::MAX_LEN`] bytes of characters that need no
/// quoting (nothing up to the space, no `'`, no DEL), so that it is one word
/// on any line. It is never shown: its `Debug` hides it, it has no
/// `Display`, and neither finds nor watch lines carry it. Comparison takes
/// the same time whichever byte differs.
///
/// # Examples
///
/// ```
/// use roe_registry::Token;
///
/// let token = Token::new("k3y-of-the-printer")?;
/// assert_eq!(token.as_str(), "k3y-of-the-printer");
/// assert_eq!(format!("{token:?}"), "Token(..)");
/// assert!(Token::new("").is_err());
/// assert!(Token::new("two words").is_err());
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Eq)]
pub struct Token(String);

impl Token {
    /// The longest token, in bytes.
    pub const MAX_LEN: usize = 256;

    /// `secret` as a token.
    ///
    /// # Errors
    ///
    /// [`Error::BadToken`] when `secret` is empty, longer than
    /// [`Token::MAX_LEN`], or holds a character that would need quoting or
    /// DEL.
    pub fn new(secret: impl Into<String>) -> Result<Token> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(Error::BadToken("empty"));
        }
        if secret.len() > Token::MAX_LEN {
            return Err(Error::BadToken("longer than 256 bytes"));
        }
        if secret
            .chars()
            .any(|c| c <= ' ' || c == '\'' || c == '\u{7f}')
        {
            return Err(Error::BadToken("a space, control character or quote"));
        }
        Ok(Token(secret))
    }

    /// The secret, for whoever must store or send it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `secret` is this token, in time that depends on the lengths
    /// only.
    pub fn is(&self, secret: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), secret.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.is(&other.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// What a caller presents to update or remove a service.
///
/// # Examples
///
/// ```
/// use roe_registry::{Claim, OwnerId, Service, Store, Token};
///
/// let mut store = Store::new();
/// let token = Token::new("s3cret")?;
/// store.register(OwnerId::new(1), Service::new("printer")?, Some(token))?;
///
/// // Another connection, without the token: refused.
/// assert!(store.remove("printer", Claim::Owner(OwnerId::new(2))).is_err());
/// // With it: accepted.
/// store.remove("printer", Claim::Token("s3cret"))?;
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim<'a> {
    /// The connection the service was registered through, while it is open.
    Owner(OwnerId),
    /// The service's owner token.
    Token(&'a str),
    /// The registry itself, or whoever it trusts to act for it (an operator
    /// on the local machine, the program that embeds it): allowed
    /// everything, as registry(4)'s own user is.
    Registry,
}

impl From<OwnerId> for Claim<'_> {
    fn from(owner: OwnerId) -> Self {
        Claim::Owner(owner)
    }
}

impl Claim<'_> {
    /// Whether this claim may change a service owned by `owner` (`None` once
    /// its connection is gone) and registered with `token`.
    pub(crate) fn allows(self, owner: Option<OwnerId>, token: Option<&Token>) -> bool {
        match self {
            Claim::Owner(id) => owner == Some(id),
            Claim::Token(secret) => token.is_some_and(|token| token.is(secret)),
            Claim::Registry => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_refused() {
        for bad in ["", "a b", "tab\t", "it's", "del\u{7f}", "nl\n"] {
            assert!(
                matches!(Token::new(bad), Err(Error::BadToken(_))),
                "{bad:?}"
            );
        }
        assert!(Token::new("x".repeat(Token::MAX_LEN)).is_ok());
        assert!(Token::new("x".repeat(Token::MAX_LEN + 1)).is_err());
        assert!(Token::new("ünïcødé!*").is_ok());
    }

    #[test]
    fn tokens_compare() {
        let token = Token::new("abc").unwrap();
        assert!(token.is("abc"));
        assert!(!token.is("abd"));
        assert!(!token.is("ab"));
        assert!(!token.is("abcd"));
        assert!(!token.is(""));
        assert_eq!(token, Token::new("abc").unwrap());
    }

    #[test]
    fn who_may_change_what() {
        let token = Token::new("t").unwrap();
        let (one, two) = (OwnerId::new(1), OwnerId::new(2));
        assert!(Claim::Owner(one).allows(Some(one), None));
        assert!(!Claim::Owner(two).allows(Some(one), Some(&token)));
        assert!(!Claim::Owner(one).allows(None, None));
        assert!(Claim::Token("t").allows(None, Some(&token)));
        assert!(!Claim::Token("t").allows(Some(one), None));
        assert!(!Claim::Token("u").allows(Some(one), Some(&token)));
        assert!(Claim::Registry.allows(None, None));
    }
}
