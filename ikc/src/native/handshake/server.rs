//! [`ServerHandshake`]: the server's side of the handshake.

use std::borrow::Cow;

use super::{
    HandshakeConfig, HandshakeError, HandshakeStep, Peer, error::unexpected, names::check_identity,
    nonce::random_nonce, step::encode,
};
use crate::native::{
    Frame, Versions, capabilities,
    mac::{client_proof, constant_time_eq, server_proof},
};

#[derive(Debug)]
enum ServerState {
    AwaitHello,
    /// The `Welcome` went out with the server's proof; the client must
    /// answer with `expected`, computed then from the key, so that no key
    /// need be looked up (nor be missing) when the `Proof` comes.
    AwaitProof {
        expected: ExpectedProof,
        peer: Peer,
    },
    Over,
}

/// The client's proof the server waits for. Whoever reads it can answer
/// for the client, so `Debug` leaves it out, as `HandshakeConfig`'s leaves
/// out the key.
struct ExpectedProof([u8; 32]);

impl std::fmt::Debug for ExpectedProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExpectedProof(..)")
    }
}

/// The server's side of the handshake.
///
/// Read the client's bytes with [`FrameReader::after_magic`] limited to
/// [`HANDSHAKE_MAX_FRAME`] (it checks the magic) and give each frame to
/// [`on_frame`](ServerHandshake::on_frame): the `Hello` is answered with a
/// `Welcome`, and, with a key, the client's `Proof` ends the handshake. How
/// long to wait is the caller's to decide: the codec has no clock.
///
/// [`FrameReader::after_magic`]: crate::native::FrameReader::after_magic
/// [`HANDSHAKE_MAX_FRAME`]: crate::native::HANDSHAKE_MAX_FRAME
///
/// # Examples
///
/// A server without a key refuses a client that has one:
///
/// ```
/// use roe_ikc::native::{
///     ClientHandshake, FrameReader, HandshakeConfig, HandshakeError, ServerHandshake,
/// };
///
/// let client = HandshakeConfig::new("c-1", "Client")?.key(b"secret".to_vec());
/// let (_, hello) = ClientHandshake::start(client)?;
/// let mut server = ServerHandshake::new(HandshakeConfig::new("s-1", "Server")?)?;
/// let mut reader = FrameReader::after_magic();
/// reader.feed(&hello);
/// let error = server.on_frame(reader.next_frame()?.unwrap()).unwrap_err();
/// assert_eq!(error, HandshakeError::NoKey);
/// let refusal = error.refusal().unwrap(); // to send before closing
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    config: HandshakeConfig,
    nonce: [u8; 16],
    state: ServerState,
}

impl ServerHandshake {
    /// A server's handshake, with a fresh nonce from the OS.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Randomness`] without random bytes.
    pub fn new(config: HandshakeConfig) -> Result<ServerHandshake, HandshakeError> {
        Ok(ServerHandshake::with_nonce(config, random_nonce()?))
    }

    /// A server's handshake with a given nonce, for tests: a nonce used
    /// twice with the same key lets a recorded proof be played back.
    pub fn with_nonce(config: HandshakeConfig, nonce: [u8; 16]) -> ServerHandshake {
        ServerHandshake {
            config,
            nonce,
            state: ServerState::AwaitHello,
        }
    }

    /// Takes the client's next frame.
    ///
    /// # Errors
    ///
    /// Any [`HandshakeError`]; the handshake is then over, and the caller
    /// sends the error's [`refusal`](HandshakeError::refusal) (if any) and
    /// closes.
    pub fn on_frame(&mut self, frame: Frame<'_>) -> Result<HandshakeStep, HandshakeError> {
        match std::mem::replace(&mut self.state, ServerState::Over) {
            ServerState::AwaitHello => self.on_hello(frame),
            ServerState::AwaitProof { expected, peer } => {
                let Frame::Proof { proof } = frame else {
                    return Err(unexpected("Proof", &frame));
                };
                if !constant_time_eq(&proof, &expected.0) {
                    return Err(HandshakeError::BadProof);
                }
                Ok(HandshakeStep::Done {
                    send: Vec::new(),
                    peer,
                })
            }
            ServerState::Over => Err(HandshakeError::Finished),
        }
    }

    fn on_hello(&mut self, frame: Frame<'_>) -> Result<HandshakeStep, HandshakeError> {
        let Frame::Hello {
            max_version,
            min_version,
            capabilities,
            kernel_id,
            names,
            pid,
            nonce: client_nonce,
            published,
        } = frame
        else {
            return Err(unexpected("Hello", &frame));
        };
        let theirs = Versions {
            min: min_version,
            max: max_version,
        };
        let version =
            Versions::SUPPORTED
                .highest_common(theirs)
                .ok_or(HandshakeError::NoCommonVersion {
                    ours: Versions::SUPPORTED,
                    theirs,
                })?;
        check_identity(&kernel_id, &names, &published)?;
        let client_has_key = capabilities & capabilities::PRE_SHARED_KEY != 0;
        let key = self.config.key_bytes();
        match (key, client_has_key) {
            (Some(_), false) => return Err(HandshakeError::KeyRequired),
            (None, true) => return Err(HandshakeError::NoKey),
            _ => {}
        }
        let agreed = capabilities & self.config.capabilities();
        let welcome = Frame::Welcome {
            version,
            capabilities: agreed,
            kernel_id: Cow::Borrowed(&self.config.kernel_id),
            names: self.config.borrowed_names(),
            pid: self.config.pid,
            nonce: self.nonce,
            proof: key.map(|key| server_proof(key, &client_nonce, &self.nonce)),
            published: self.config.published.clone(),
        };
        let mut send = Vec::new();
        encode(&welcome, &mut send)?;
        let peer = Peer::from_handshake(version, agreed, &kernel_id, &names, pid, published);
        match key {
            Some(key) => {
                self.state = ServerState::AwaitProof {
                    expected: ExpectedProof(client_proof(key, &client_nonce, &self.nonce)),
                    peer,
                };
                Ok(HandshakeStep::Continue { send })
            }
            None => Ok(HandshakeStep::Done { send, peer }),
        }
    }
}
