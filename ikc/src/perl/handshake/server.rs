//! [`ServerHandshake`]: a server's side of the handshake with a Perl
//! client, IKC0 or legacy.

use super::{
    HandshakeConfig, HandshakeError, HandshakeStep, Peer, Serializer,
    common::{Hearing, LineBudget, Telling},
    setup,
    words::{self, DONE, HELLO, WORLD, crlf, prod},
};
use crate::perl::sniff::is_hello_ikc;

#[derive(Debug)]
enum State {
    /// IKC0's phase: waiting for `SETUP`, or `HELLO` to fall back.
    Setup,
    /// Legacy: we said `IAM <id>`; each `OK` gets the next name, from the
    /// last, then `DONE`.
    Telling(Telling),
    /// Legacy: the client's `IAM`s, until its `DONE`.
    Hearing(Hearing),
    /// Legacy: the client's `FREEZER`s, until its `WORLD`.
    Freezer {
        names: Vec<String>,
    },
    Over,
}

/// A server's side of the handshake with a Perl IKC client, answering
/// line for line what Perl IKC's server answers, for either handshake.
///
/// Read the client's lines with a [`LineReader`](crate::perl::LineReader)
/// and give each to [`on_line`](ServerHandshake::on_line), writing what it
/// returns; once it returns [`HandshakeStep::Done`], read frames with
/// [`LineReader::into_frames`](crate::perl::LineReader::into_frames). How
/// long to wait is the caller's: the machine has no clock.
///
/// IKC0: a `SETUP` line offering `Storable` among its `FREEZER`s is
/// answered with this server's `SETUP` (`KERNEL=<id>,<names...>;
/// FREEZER=Storable;PID=<pid>`), and the handshake is done. A `SETUP`
/// that does not offer Storable, or that roe cannot read, is answered
/// `NOT`, and the server waits on the same connection, as Perl's does: a
/// Perl client then starts the legacy handshake. `HELLO IKC<digit>` is
/// answered `NOT`; other lines, nothing.
///
/// Legacy (after `HELLO`): `IAM <id>`, then at each `OK` the next name from
/// the last, then `DONE`; each client `IAM` is answered `OK` until its
/// `DONE`; `FREEZER Storable` is answered `OK`, any other package `NOT`;
/// `WORLD` is answered `UP`, and the handshake is done: the frames are
/// Storable's even if no `FREEZER` was agreed, as POE's default filter
/// makes them on both Perl sides. A line out of place gets `NOT` (unless
/// it is `NOT`).
///
/// # Examples
///
/// What a Perl server says to a ClientLite (the capture
/// `lite-ikc0-storable`):
///
/// ```
/// use roe_ikc::perl::{Dialect, HandshakeConfig, HandshakeStep, ServerHandshake};
///
/// let config = HandshakeConfig::new(
///     "vm-6b0198c6-00000af1-00000001",
///     ["EchoServer", "127.0.0.1:45711"],
///     2801,
/// )?;
/// let mut server = ServerHandshake::new(config);
/// let step = server.on_line(b"SETUP KERNEL=LiteClient;FREEZER=Storable;PID=2885")?;
/// let HandshakeStep::Done { send, peer } = step else { panic!("IKC0 is one line") };
/// assert_eq!(
///     send,
///     b"SETUP KERNEL=vm-6b0198c6-00000af1-00000001,EchoServer,127.0.0.1:45711;\
///       FREEZER=Storable;PID=2801\r\n"
/// );
/// assert_eq!(peer.names, ["LiteClient"]);
/// assert_eq!((peer.pid, peer.dialect), (Some(2885), Dialect::Ikc0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    config: HandshakeConfig,
    state: State,
    budget: LineBudget,
}

impl ServerHandshake {
    /// A server's handshake, naming itself by `config`.
    pub fn new(config: HandshakeConfig) -> ServerHandshake {
        ServerHandshake {
            config,
            state: State::Setup,
            budget: LineBudget::default(),
        }
    }

    /// Takes the client's next line (without its terminator).
    ///
    /// # Errors
    ///
    /// [`HandshakeError::TooManyLines`] past
    /// [`MAX_HANDSHAKE_LINES`](crate::perl::MAX_HANDSHAKE_LINES),
    /// [`HandshakeError::TooManyNames`] past
    /// [`MAX_NAMES`](crate::native::MAX_NAMES) `IAM`s,
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
                if line.starts_with(setup::SETUP) && line.len() > setup::SETUP.len() {
                    self.on_setup(line)
                } else if line == HELLO {
                    let (telling, send) = Telling::start(&self.config);
                    self.state = State::Telling(telling);
                    continued(send)
                } else if is_hello_ikc(line) {
                    continued(crlf(words::NOT))
                } else {
                    // Perl's server waits, silent, for a line it knows.
                    continued(Vec::new())
                }
            }
            State::Telling(telling) => match telling.on_line(line) {
                Some(send) => continued(send),
                None => {
                    self.state = State::Hearing(Hearing::default());
                    continued(crlf(DONE))
                }
            },
            State::Hearing(hearing) => match hearing.on_line(line)? {
                Some(send) => continued(send),
                None => {
                    let names = std::mem::take(hearing).into_names();
                    self.state = State::Freezer { names };
                    continued(Vec::new())
                }
            },
            State::Freezer { names } => {
                if let Some(package) = words::freezer(line) {
                    let known = package.and_then(Serializer::from_package).is_some();
                    continued(crlf(if known { words::OK } else { words::NOT }))
                } else if line == WORLD {
                    let peer = Peer::legacy(std::mem::take(names));
                    self.state = State::Over;
                    Ok(HandshakeStep::Done {
                        send: crlf(words::UP),
                        peer,
                    })
                } else {
                    continued(prod(line))
                }
            }
            State::Over => Err(HandshakeError::Finished),
        }
    }

    fn on_setup(&mut self, line: &[u8]) -> Result<HandshakeStep, HandshakeError> {
        let accepted = setup::parse(line).ok().filter(|offer| {
            offer
                .freezers
                .iter()
                .any(|package| Serializer::from_package(package).is_some())
        });
        let Some(offer) = accepted else {
            return Ok(HandshakeStep::Continue {
                send: crlf(words::NOT),
            });
        };
        let serializer = Serializer::Storable;
        let send = setup::line(
            self.config.all_names(),
            serializer.package(),
            self.config.pid(),
        );
        self.state = State::Over;
        Ok(HandshakeStep::Done {
            send,
            peer: Peer::ikc0(offer.kernels, offer.pid, serializer),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{super::Dialect, *};
    use crate::{native::MAX_NAMES, perl::MAX_HANDSHAKE_LINES};

    fn server() -> ServerHandshake {
        let config = HandshakeConfig::new("vm-s", ["Echo", "127.0.0.1:9"], 5).unwrap();
        ServerHandshake::new(config)
    }

    fn sent(step: Result<HandshakeStep, HandshakeError>) -> Vec<u8> {
        match step.unwrap() {
            HandshakeStep::Continue { send } => send,
            HandshakeStep::Done { .. } => panic!("not done yet"),
        }
    }

    #[test]
    fn a_setup_without_storable_is_answered_not_and_the_server_waits() {
        let mut server = server();
        let line = b"SETUP KERNEL=Lite;FREEZER=FreezeThaw,POE::Component::IKC::Freezer;PID=1";
        assert_eq!(sent(server.on_line(line)), b"NOT\r\n");
        assert_eq!(
            sent(server.on_line(b"SETUP KERNEL=a,,b;FREEZER=Storable")),
            b"NOT\r\n"
        );
        assert_eq!(sent(server.on_line(b"HELLO IKC2")), b"NOT\r\n");
        assert_eq!(sent(server.on_line(b"SETUP")), b"");
        assert_eq!(sent(server.on_line(b"whatever")), b"");
        let Ok(HandshakeStep::Done { peer, .. }) =
            server.on_line(b"SETUP KERNEL=Lite;FREEZER=FreezeThaw,Storable")
        else {
            panic!("Storable was offered");
        };
        assert_eq!(peer.pid, None);
        assert_eq!(server.on_line(b"SETUP x"), Err(HandshakeError::Finished));
    }

    #[test]
    fn the_legacy_handshake_goes_line_by_line() {
        let mut server = server();
        assert_eq!(sent(server.on_line(b"HELLO")), b"IAM vm-s\r\n");
        assert_eq!(sent(server.on_line(b"NOT")), b"");
        assert_eq!(sent(server.on_line(b"DONE")), b"NOT\r\n");
        assert_eq!(sent(server.on_line(b"OK")), b"IAM 127.0.0.1:9\r\n");
        assert_eq!(sent(server.on_line(b"OK")), b"IAM Echo\r\n");
        assert_eq!(sent(server.on_line(b"OK")), b"DONE\r\n");
        assert_eq!(sent(server.on_line(b"IAM c-1")), b"OK\r\n");
        assert_eq!(sent(server.on_line(b"IAM bad/name")), b"NOT\r\n");
        assert_eq!(sent(server.on_line(b"IAM Client")), b"OK\r\n");
        assert_eq!(sent(server.on_line(b"DONE")), b"");
        assert_eq!(sent(server.on_line(b"FREEZER FreezeThaw")), b"NOT\r\n");
        assert_eq!(sent(server.on_line(b"FREEZER Sto rable")), b"NOT\r\n");
        assert_eq!(sent(server.on_line(b"FREEZER Storable")), b"OK\r\n");
        assert_eq!(sent(server.on_line(b"UP")), b"NOT\r\n");
        let Ok(HandshakeStep::Done { send, peer }) = server.on_line(b"WORLD") else {
            panic!("WORLD ends it");
        };
        assert_eq!(send, b"UP\r\n");
        assert_eq!(peer.names, ["c-1", "Client"]);
        assert_eq!(peer.dialect, Dialect::Legacy);
    }

    #[test]
    fn a_flood_of_lines_or_names_ends_the_handshake() {
        let mut server = server();
        for _ in 0..MAX_HANDSHAKE_LINES {
            sent(server.on_line(b"junk"));
        }
        assert_eq!(
            server.on_line(b"junk"),
            Err(HandshakeError::TooManyLines {
                limit: MAX_HANDSHAKE_LINES
            })
        );
        assert_eq!(server.on_line(b"HELLO"), Err(HandshakeError::Finished));

        let mut server = ServerHandshake::new(HandshakeConfig::new("s", [""; 0], 1).unwrap());
        sent(server.on_line(b"HELLO"));
        sent(server.on_line(b"OK"));
        for n in 0..MAX_NAMES {
            assert_eq!(
                sent(server.on_line(format!("IAM n{n}").as_bytes())),
                b"OK\r\n"
            );
        }
        assert_eq!(
            server.on_line(b"IAM one-more"),
            Err(HandshakeError::TooManyNames)
        );
    }
}
