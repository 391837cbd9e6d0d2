//! [`ClientHandshake`]: the client's side of the handshake.

use std::borrow::Cow;

use super::{
    HandshakeConfig, HandshakeError, HandshakeStep, Peer, error::unexpected, names::check_identity,
    nonce::random_nonce, step::encode,
};
use crate::native::{
    Frame, MAGIC, Versions, capabilities,
    mac::{client_proof, constant_time_eq, server_proof},
};

#[derive(Debug)]
enum ClientState {
    AwaitWelcome,
    Over,
}

/// The client's side of the handshake.
///
/// [`start`](ClientHandshake::start) gives the bytes to write first (the
/// magic and a `Hello`); each frame read from the server then goes to
/// [`on_frame`](ClientHandshake::on_frame) until it says
/// [`Done`](HandshakeStep::Done) or fails. Read with a [`FrameReader`]
/// limited to [`HANDSHAKE_MAX_FRAME`] until then. How long to wait is the
/// caller's to decide: the codec has no clock.
///
/// [`FrameReader`]: crate::native::FrameReader
/// [`HANDSHAKE_MAX_FRAME`]: crate::native::HANDSHAKE_MAX_FRAME
///
/// # Examples
///
/// A client and a server, both with a key, wired together in memory:
///
/// ```
/// use roe_ikc::native::{
///     ClientHandshake, FrameReader, HANDSHAKE_MAX_FRAME, HandshakeConfig, HandshakeStep,
///     ServerHandshake,
/// };
///
/// let key = b"a key both ends were given".to_vec();
/// let (mut client, hello) =
///     ClientHandshake::start(HandshakeConfig::new("c-1", "Client")?.key(key.clone()))?;
/// let mut server = ServerHandshake::new(
///     HandshakeConfig::new("s-1", "Server")?.publish("echo", ["ping"])?.key(key),
/// )?;
/// let mut at_server = FrameReader::after_magic().max_frame(HANDSHAKE_MAX_FRAME);
/// let mut at_client = FrameReader::new().max_frame(HANDSHAKE_MAX_FRAME);
///
/// at_server.feed(&hello);
/// let hello = at_server.next_frame()?.unwrap();
/// let HandshakeStep::Continue { send: welcome } = server.on_frame(hello)? else {
///     panic!("a keyed server waits for the client's proof");
/// };
/// at_client.feed(&welcome);
/// let HandshakeStep::Done { send: proof, peer: server_kernel } =
///     client.on_frame(at_client.next_frame()?.unwrap())?
/// else {
///     panic!("the client is done");
/// };
/// at_server.feed(&proof);
/// let HandshakeStep::Done { peer: client_kernel, .. } =
///     server.on_frame(at_server.next_frame()?.unwrap())?
/// else {
///     panic!("the server is done");
/// };
/// assert_eq!(server_kernel.name(), "Server");
/// assert_eq!(server_kernel.published[0].session, "echo");
/// assert_eq!(client_kernel.kernel_id, "c-1");
/// assert!(client_kernel.authenticated() && server_kernel.authenticated());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ClientHandshake {
    config: HandshakeConfig,
    nonce: [u8; 16],
    state: ClientState,
}

impl ClientHandshake {
    /// Starts a handshake with a fresh nonce from the OS: returns the
    /// machine and the bytes to write first, [`MAGIC`] and a `Hello`.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Randomness`] without random bytes, and
    /// [`HandshakeError::Frame`] when the `Hello` would be over
    /// [`HANDSHAKE_MAX_FRAME`] (too much published).
    ///
    /// [`HANDSHAKE_MAX_FRAME`]: crate::native::HANDSHAKE_MAX_FRAME
    pub fn start(config: HandshakeConfig) -> Result<(ClientHandshake, Vec<u8>), HandshakeError> {
        ClientHandshake::start_with_nonce(config, random_nonce()?)
    }

    /// [`start`](ClientHandshake::start) with a given nonce, for tests: a
    /// nonce used twice with the same key lets a recorded proof be played
    /// back.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Frame`] when the `Hello` would be over
    /// [`HANDSHAKE_MAX_FRAME`].
    ///
    /// [`HANDSHAKE_MAX_FRAME`]: crate::native::HANDSHAKE_MAX_FRAME
    pub fn start_with_nonce(
        config: HandshakeConfig,
        nonce: [u8; 16],
    ) -> Result<(ClientHandshake, Vec<u8>), HandshakeError> {
        let mut out = MAGIC.to_vec();
        let hello = Frame::Hello {
            max_version: Versions::SUPPORTED.max,
            min_version: Versions::SUPPORTED.min,
            capabilities: config.capabilities(),
            kernel_id: Cow::Borrowed(&config.kernel_id),
            names: config.borrowed_names(),
            pid: config.pid,
            nonce,
            published: config.published.clone(),
        };
        encode(&hello, &mut out)?;
        let client = ClientHandshake {
            config,
            nonce,
            state: ClientState::AwaitWelcome,
        };
        Ok((client, out))
    }

    /// Takes the server's next frame.
    ///
    /// # Errors
    ///
    /// Any [`HandshakeError`]; the handshake is then over, and the caller
    /// sends the error's [`refusal`](HandshakeError::refusal) (if any) and
    /// closes.
    pub fn on_frame(&mut self, frame: Frame<'_>) -> Result<HandshakeStep, HandshakeError> {
        let state = std::mem::replace(&mut self.state, ClientState::Over);
        match state {
            ClientState::AwaitWelcome => self.on_welcome(frame),
            ClientState::Over => Err(HandshakeError::Finished),
        }
    }

    fn on_welcome(&self, frame: Frame<'_>) -> Result<HandshakeStep, HandshakeError> {
        let Frame::Welcome {
            version,
            capabilities,
            kernel_id,
            names,
            pid,
            nonce: server_nonce,
            proof,
            published,
        } = frame
        else {
            return Err(unexpected("Welcome", &frame));
        };
        if !Versions::SUPPORTED.contains(version) {
            return Err(HandshakeError::VersionNotOffered {
                version,
                offered: Versions::SUPPORTED,
            });
        }
        check_identity(&kernel_id, &names, &published)?;
        let server_has_key = capabilities & capabilities::PRE_SHARED_KEY != 0;
        let agreed = capabilities & self.config.capabilities();
        let send = match (self.config.key_bytes(), server_has_key) {
            (Some(_), false) => return Err(HandshakeError::KeyRequired),
            (None, true) => return Err(HandshakeError::NoKey),
            (None, false) if proof.is_some() => return Err(HandshakeError::UnexpectedProof),
            (None, false) => Vec::new(),
            (Some(key), true) => {
                let proof = proof.ok_or(HandshakeError::MissingProof)?;
                if !constant_time_eq(&proof, &server_proof(key, &self.nonce, &server_nonce)) {
                    return Err(HandshakeError::BadProof);
                }
                let mut out = Vec::new();
                encode(
                    &Frame::Proof {
                        proof: client_proof(key, &self.nonce, &server_nonce),
                    },
                    &mut out,
                )?;
                out
            }
        };
        let peer = Peer::from_handshake(version, agreed, &kernel_id, &names, pid, published);
        Ok(HandshakeStep::Done { send, peer })
    }
}
