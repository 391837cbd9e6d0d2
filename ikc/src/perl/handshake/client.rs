//! [`ClientHandshake`]: roe dialling a Perl IKC server.

use super::{
    HandshakeConfig, HandshakeError, HandshakeStep, Peer, Serializer,
    common::{Hearing, LineBudget, Telling},
    error::shown,
    setup,
    words::{self, DONE, HELLO, OK, UP, crlf, prod},
};

#[derive(Debug)]
enum State {
    /// IKC0: we sent `SETUP`; the server's `SETUP` or `NOT` comes.
    Setup,
    /// Legacy: the server's `IAM`s, until its `DONE`.
    Hearing(Hearing),
    /// Legacy: we said `IAM <id>`; each `OK` gets the next of ours.
    Telling {
        theirs: Vec<String>,
        telling: Telling,
    },
    /// Legacy: we offered `FREEZER Storable`.
    Freezer {
        theirs: Vec<String>,
    },
    /// Legacy: we said `WORLD`; `UP` ends it.
    World {
        theirs: Vec<String>,
    },
    Over,
}

/// A client's side of the handshake with a Perl IKC server, saying line
/// for line what Perl IKC's client says.
///
/// [`start`](ClientHandshake::start) gives IKC0's `SETUP` line, offering
/// Storable alone; the server's `SETUP` naming Storable ends it, and its
/// `NOT` (a Perl server that speaks only the legacy handshake, or that
/// cannot load Storable) starts the legacy one on the same connection, as
/// Perl's client does. [`start_legacy`](ClientHandshake::start_legacy)
/// starts with the legacy one (Perl's `protocol => 'IKC'`). The legacy
/// handshake: `OK` to each of the server's `IAM`s; at its `DONE`, `IAM
/// <id>` and at each `OK` the next name from the last, then `DONE` and
/// `FREEZER Storable`; then `WORLD` (whether the server said `OK` or `NOT`
/// to Storable: its default is Storable too), and the server's `UP` ends
/// it. A line out of place gets `NOT` (unless it is `NOT`).
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::{ClientHandshake, HandshakeConfig, HandshakeStep};
///
/// let config = HandshakeConfig::new("vm-c", ["Client", "127.0.0.1:5000"], 42)?;
/// let (mut client, hello) = ClientHandshake::start(config);
/// assert_eq!(hello, b"SETUP KERNEL=vm-c,Client,127.0.0.1:5000;FREEZER=Storable;PID=42\r\n");
/// let step = client.on_line(b"SETUP KERNEL=vm-s,Echo,127.0.0.1:603;FREEZER=Storable;PID=7")?;
/// let HandshakeStep::Done { send, peer } = step else { panic!("one line each way") };
/// assert!(send.is_empty());
/// assert_eq!(peer.id(), Some("vm-s"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ClientHandshake {
    config: HandshakeConfig,
    state: State,
    budget: LineBudget,
}

impl ClientHandshake {
    /// Starts IKC0: the machine, and the `SETUP` line to write.
    pub fn start(config: HandshakeConfig) -> (ClientHandshake, Vec<u8>) {
        let line = setup::line(
            config.all_names(),
            Serializer::Storable.package(),
            config.pid(),
        );
        (ClientHandshake::with_state(config, State::Setup), line)
    }

    /// Starts the legacy handshake: the machine, and `HELLO` to write.
    pub fn start_legacy(config: HandshakeConfig) -> (ClientHandshake, Vec<u8>) {
        let state = State::Hearing(Hearing::default());
        (ClientHandshake::with_state(config, state), crlf(HELLO))
    }

    fn with_state(config: HandshakeConfig, state: State) -> ClientHandshake {
        ClientHandshake {
            config,
            state,
            budget: LineBudget::default(),
        }
    }

    /// Takes the server's next line (without its terminator).
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Refused`] when the server chose another
    /// serializer, [`HandshakeError::BadSetup`] for a `SETUP` line roe
    /// cannot use, [`HandshakeError::UnexpectedReply`] for another answer
    /// to `SETUP`, [`HandshakeError::TooManyLines`] and
    /// [`HandshakeError::TooManyNames`] for a server that will not settle,
    /// [`HandshakeError::Finished`] once it is over. The handshake is then
    /// over: close the connection.
    pub fn on_line(&mut self, line: &[u8]) -> Result<HandshakeStep, HandshakeError> {
        if matches!(self.state, State::Over) {
            return Err(HandshakeError::Finished);
        }
        let result = self.budget.spend().and_then(|()| self.step(line));
        if result.is_err() {
            self.state = State::Over;
        }
        result
    }

    fn step(&mut self, line: &[u8]) -> Result<HandshakeStep, HandshakeError> {
        let continued = |send| Ok(HandshakeStep::Continue { send });
        match &mut self.state {
            State::Setup => {
                if line == words::NOT {
                    self.state = State::Hearing(Hearing::default());
                    continued(crlf(HELLO))
                } else if line.starts_with(setup::SETUP) && line.len() > setup::SETUP.len() {
                    self.on_setup(line)
                } else {
                    Err(HandshakeError::UnexpectedReply { line: shown(line) })
                }
            }
            State::Hearing(hearing) => {
                if let Some(send) = hearing.on_line(line)? {
                    return continued(send);
                }
                let theirs = std::mem::take(hearing).into_names();
                let (telling, send) = Telling::start(&self.config);
                self.state = State::Telling { theirs, telling };
                continued(send)
            }
            State::Telling { theirs, telling } => {
                if let Some(send) = telling.on_line(line) {
                    return continued(send);
                }
                let theirs = std::mem::take(theirs);
                self.state = State::Freezer { theirs };
                let mut send = crlf(DONE);
                send.extend(crlf(
                    format!("FREEZER {}", Serializer::Storable.package()).as_bytes(),
                ));
                continued(send)
            }
            State::Freezer { theirs } => {
                if line == OK || line == words::NOT {
                    let theirs = std::mem::take(theirs);
                    self.state = State::World { theirs };
                    continued(crlf(words::WORLD))
                } else {
                    continued(prod(line))
                }
            }
            State::World { theirs } => {
                if line != UP {
                    return continued(prod(line));
                }
                let peer = Peer::legacy(std::mem::take(theirs));
                self.state = State::Over;
                Ok(HandshakeStep::Done {
                    send: Vec::new(),
                    peer,
                })
            }
            State::Over => Err(HandshakeError::Finished),
        }
    }

    fn on_setup(&mut self, line: &[u8]) -> Result<HandshakeStep, HandshakeError> {
        let answer = setup::parse(line).map_err(|reason| HandshakeError::BadSetup { reason })?;
        let [package] = answer.freezers.as_slice() else {
            return Err(HandshakeError::BadSetup {
                reason: "it does not name exactly one serializer",
            });
        };
        let serializer =
            Serializer::from_package(package).ok_or_else(|| HandshakeError::Refused {
                serializer: package.clone(),
            })?;
        self.state = State::Over;
        Ok(HandshakeStep::Done {
            send: Vec::new(),
            peer: Peer::ikc0(answer.kernels, answer.pid, serializer),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{super::Dialect, *};

    fn config() -> HandshakeConfig {
        HandshakeConfig::new("vm-c", ["Client", "127.0.0.1:5"], 9).unwrap()
    }

    fn sent(step: Result<HandshakeStep, HandshakeError>) -> Vec<u8> {
        match step.unwrap() {
            HandshakeStep::Continue { send } => send,
            HandshakeStep::Done { .. } => panic!("not done yet"),
        }
    }

    #[test]
    fn not_falls_back_to_the_legacy_handshake() {
        let (mut client, _) = ClientHandshake::start(config());
        assert_eq!(sent(client.on_line(b"NOT")), b"HELLO\r\n");
        assert_eq!(sent(client.on_line(b"IAM vm-s")), b"OK\r\n");
        assert_eq!(sent(client.on_line(b"IAM Echo")), b"OK\r\n");
        assert_eq!(sent(client.on_line(b"huh")), b"NOT\r\n");
        assert_eq!(sent(client.on_line(b"DONE")), b"IAM vm-c\r\n");
        assert_eq!(sent(client.on_line(b"OK")), b"IAM 127.0.0.1:5\r\n");
        assert_eq!(sent(client.on_line(b"OK")), b"IAM Client\r\n");
        assert_eq!(sent(client.on_line(b"OK")), b"DONE\r\nFREEZER Storable\r\n");
        assert_eq!(sent(client.on_line(b"NOT")), b"WORLD\r\n");
        let Ok(HandshakeStep::Done { send, peer }) = client.on_line(b"UP") else {
            panic!("UP ends it");
        };
        assert!(send.is_empty());
        assert_eq!(peer.names, ["vm-s", "Echo"]);
        assert_eq!(peer.dialect, Dialect::Legacy);
    }

    #[test]
    fn a_server_setup_that_roe_cannot_use_fails() {
        for (line, error) in [
            (
                &b"SETUP KERNEL=s;FREEZER=FreezeThaw;PID=1"[..],
                HandshakeError::Refused {
                    serializer: "FreezeThaw".into(),
                },
            ),
            (
                b"SETUP KERNEL=s;FREEZER=Storable,FreezeThaw",
                HandshakeError::BadSetup {
                    reason: "it does not name exactly one serializer",
                },
            ),
            (
                b"SETUP FREEZER=Storable",
                HandshakeError::BadSetup {
                    reason: "it has no KERNEL",
                },
            ),
            (
                b"IAM s",
                HandshakeError::UnexpectedReply {
                    line: "IAM s".into(),
                },
            ),
        ] {
            let (mut client, _) = ClientHandshake::start(config());
            assert_eq!(client.on_line(line), Err(error));
            assert_eq!(client.on_line(b"NOT"), Err(HandshakeError::Finished));
        }
    }

    #[test]
    fn a_clientlite_names_itself_by_one_name() {
        let config = HandshakeConfig::new("LiteClient", [""; 0], 2885).unwrap();
        let (_, line) = ClientHandshake::start(config.clone());
        assert_eq!(
            line,
            b"SETUP KERNEL=LiteClient;FREEZER=Storable;PID=2885\r\n"
        );
        let (mut client, hello) = ClientHandshake::start_legacy(config);
        assert_eq!(hello, b"HELLO\r\n");
        assert_eq!(sent(client.on_line(b"DONE")), b"IAM LiteClient\r\n");
        assert_eq!(sent(client.on_line(b"OK")), b"DONE\r\nFREEZER Storable\r\n");
    }
}
