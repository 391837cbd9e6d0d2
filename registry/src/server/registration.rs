//! [`Registration`]: a connection to the new port, and roe's two lines
//! there that registry(4) does not have.
//!
//! A registry(4) client's first line is `name [attr value]...`: an odd
//! number of words. A first line of exactly two words is therefore never
//! a registration registry(4) would take (it is `odd attribute/value
//! pairs`), and roe gives two of them a meaning:
//!
//! - `token <secret>`: the service this connection registers next gets
//!   that owner token, and a `remove` on this connection presents it;
//! - `remove <name>`: removes the service `name`, if this connection may:
//!   with the service's token (given by a `token` line before), or, for a
//!   service without a token whose connection has gone (a persistent
//!   service, immortal over registry(4)'s TCP bridge), without one. The
//!   server answers `ok`, or refuses with `error <reason>` and closes.
//!
//! Both come before the registration, if any; once a connection has
//! registered, every line is an update, as in registry(4). A Perl client
//! never sends either line, so it sees registry(4)'s protocol unchanged.

use super::core::Core;
use crate::error::{Error, Result};
use crate::line::NewLine;
use crate::owner::{OwnerId, Token};
use crate::quote::words;

/// The word of the line that gives an owner token.
pub(super) const TOKEN: &str = "token";
/// The word of the line that removes a service.
pub(super) const REMOVE: &str = "remove";
/// The server's answer to an accepted `remove`.
pub(super) const OK: &str = "ok";

/// A connection to the new port.
#[derive(Debug)]
pub(super) struct Registration {
    owner: OwnerId,
    /// The service it registered.
    name: Option<String>,
    /// The token given by a `token` line.
    token: Option<Token>,
}

/// One of roe's lines.
enum Verb {
    Token(String),
    Remove(String),
}

impl Verb {
    /// The line as one of roe's two, if it is one.
    fn parse(line: &[u8]) -> Result<Option<Verb>> {
        let text = std::str::from_utf8(line).map_err(|e| Error::NotUtf8(e.valid_up_to()))?;
        let mut words = words(text);
        let (Some(verb), Some(arg), None) = (words.next(), words.next(), words.next()) else {
            return Ok(None);
        };
        Ok(match &*verb {
            TOKEN => Some(Verb::Token(arg.into_owned())),
            REMOVE => Some(Verb::Remove(arg.into_owned())),
            _ => None,
        })
    }
}

impl Registration {
    pub(super) fn new(owner: OwnerId) -> Registration {
        Registration {
            owner,
            name: None,
            token: None,
        }
    }

    pub(super) fn owner(&self) -> OwnerId {
        self.owner
    }

    /// Whether the connection has registered its service.
    pub(super) fn is_registered(&self) -> bool {
        self.name.is_some()
    }

    /// A line from the client (without its newline); returns the answer to
    /// write, if any.
    ///
    /// # Errors
    ///
    /// Why the line is refused: the server writes `error <reason>` and
    /// closes the connection.
    pub(super) fn line(&mut self, core: &mut Core, line: &[u8]) -> Result<Option<&'static str>> {
        if let Some(name) = &self.name {
            if let NewLine::Update(attrs) = NewLine::parse(line, true)? {
                core.update(name, self.owner, attrs)?;
            }
            return Ok(None);
        }
        match Verb::parse(line)? {
            Some(Verb::Token(secret)) => {
                self.token = Some(Token::new(secret)?);
                Ok(None)
            }
            Some(Verb::Remove(name)) => {
                core.remove(&name, self.token.as_ref().map(Token::as_str))?;
                Ok(Some(OK))
            }
            None => {
                let NewLine::Register(service) = NewLine::parse(line, false)? else {
                    // Not what `parse` gives for a first line.
                    return Err(Error::BadSyntax);
                };
                let name = service.name().to_owned();
                core.register(self.owner, service, self.token.take())?;
                self.name = Some(name);
                Ok(None)
            }
        }
    }
}
