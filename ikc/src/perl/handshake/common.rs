//! What the client's and the server's machines share: the budget of lines
//! a handshake may take, and the legacy handshake's two halves that both
//! sides speak, hearing the peer's names and telling ours.

use super::{
    HandshakeConfig, HandshakeError,
    words::{DONE, OK, crlf, iam, iam_name, prod},
};
use crate::{native::MAX_NAMES, perl::MAX_HANDSHAKE_LINES};

/// Counts a handshake's lines against [`MAX_HANDSHAKE_LINES`], so that a
/// peer that floods the handshake or never settles it is let go.
#[derive(Debug, Default)]
pub(super) struct LineBudget {
    lines: usize,
}

impl LineBudget {
    /// Counts one more line.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::TooManyLines`] past the limit.
    pub(super) fn spend(&mut self) -> Result<(), HandshakeError> {
        self.lines += 1;
        if self.lines > MAX_HANDSHAKE_LINES {
            return Err(HandshakeError::TooManyLines {
                limit: MAX_HANDSHAKE_LINES,
            });
        }
        Ok(())
    }
}

/// Legacy: hearing the peer's names, an `IAM` each (answered `OK`), until
/// its `DONE`.
#[derive(Debug, Default)]
pub(super) struct Hearing {
    names: Vec<String>,
}

impl Hearing {
    /// Takes the peer's line: `Some` bytes to write while the names go on
    /// (`OK` to an `IAM`, a prod to anything else), `None` at `DONE`.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::TooManyNames`] for an `IAM` past [`MAX_NAMES`].
    pub(super) fn on_line(&mut self, line: &[u8]) -> Result<Option<Vec<u8>>, HandshakeError> {
        if line == DONE {
            return Ok(None);
        }
        let Some(name) = iam_name(line) else {
            return Ok(Some(prod(line)));
        };
        if self.names.len() == MAX_NAMES {
            return Err(HandshakeError::TooManyNames);
        }
        self.names.push(name.to_owned());
        Ok(Some(crlf(OK)))
    }

    /// The names heard, in the order they came.
    pub(super) fn into_names(self) -> Vec<String> {
        self.names
    }
}

/// Legacy: telling the peer our names: `IAM <id>` first, then at each of
/// its `OK`s the next name, from the last.
#[derive(Debug)]
pub(super) struct Telling {
    left: Vec<String>,
}

impl Telling {
    /// Starts: the state, and the `IAM <id>` line to write.
    pub(super) fn start(config: &HandshakeConfig) -> (Telling, Vec<u8>) {
        let left = config.names().to_vec();
        (Telling { left }, iam(config.kernel_id()))
    }

    /// Takes the peer's line: `Some` bytes to write while names are left
    /// (the next `IAM`) or the line is not `OK` (a prod), `None` once the
    /// last is told.
    pub(super) fn on_line(&mut self, line: &[u8]) -> Option<Vec<u8>> {
        if line != OK {
            return Some(prod(line));
        }
        self.left.pop().map(|name| iam(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_max_handshake_lines() {
        let mut budget = LineBudget::default();
        for _ in 0..MAX_HANDSHAKE_LINES {
            assert_eq!(budget.spend(), Ok(()));
        }
        assert_eq!(
            budget.spend(),
            Err(HandshakeError::TooManyLines {
                limit: MAX_HANDSHAKE_LINES
            })
        );
    }

    #[test]
    fn hearing_answers_each_iam_until_done() {
        let mut hearing = Hearing::default();
        assert_eq!(hearing.on_line(b"IAM a"), Ok(Some(b"OK\r\n".to_vec())));
        assert_eq!(hearing.on_line(b"IAM a/b"), Ok(Some(b"NOT\r\n".to_vec())));
        assert_eq!(hearing.on_line(b"NOT"), Ok(Some(Vec::new())));
        assert_eq!(hearing.on_line(b"IAM b"), Ok(Some(b"OK\r\n".to_vec())));
        assert_eq!(hearing.on_line(b"DONE"), Ok(None));
        assert_eq!(hearing.into_names(), ["a", "b"]);
    }

    #[test]
    fn telling_gives_the_id_then_the_names_from_the_last() {
        let config = HandshakeConfig::new("id", ["one", "two"], 1).unwrap();
        let (mut telling, first) = Telling::start(&config);
        assert_eq!(first, b"IAM id\r\n");
        assert_eq!(telling.on_line(b"huh"), Some(b"NOT\r\n".to_vec()));
        assert_eq!(telling.on_line(b"OK"), Some(b"IAM two\r\n".to_vec()));
        assert_eq!(telling.on_line(b"OK"), Some(b"IAM one\r\n".to_vec()));
        assert_eq!(telling.on_line(b"OK"), None);
    }
}
