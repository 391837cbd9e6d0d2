//! The handshake, as two state machines that take decoded frames and give
//! back bytes to send: no sockets, no clocks. The caller reads and writes,
//! and bounds the handshake's time with a timer of its own.

use std::{borrow::Cow, fmt, io};

use super::{
    HANDSHAKE_MAX_FRAME, MAGIC, Versions, capabilities,
    frame::{Frame, FrameError, Published},
    mac::{client_proof, constant_time_eq, server_proof},
};

/// The most names a kernel may give: its name and up to 63 aliases.
pub const MAX_NAMES: usize = 64;
/// The longest name, kernel id, published session or state, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// The most sessions a kernel may publish in its handshake.
pub const MAX_PUBLISHED_SESSIONS: usize = 1024;
/// The most states of one published session in a handshake.
pub const MAX_PUBLISHED_STATES: usize = 1024;

/// A name that breaks the handshake's rules: every name (kernel id, kernel
/// name, alias, published session and state) is 1 to [`MAX_NAME_LEN`]
/// bytes of ASCII letters, digits, `_`, `-`, `:` and `.` (Perl's
/// `[-:.\w]` under `/a`), which keeps them usable in `poe://` specifiers.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{HandshakeConfig, NameError};
///
/// assert!(HandshakeConfig::new("host-1", "Worker::One").is_ok());
/// assert_eq!(
///     HandshakeConfig::new("host-1", "a/b").unwrap_err(),
///     NameError::BadChar { what: "kernel name", name: "a/b".into(), ch: '/' }
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// An empty name.
    Empty {
        /// What the name is for.
        what: &'static str,
    },
    /// A name over [`MAX_NAME_LEN`] bytes.
    TooLong {
        /// What the name is for.
        what: &'static str,
        /// Its length in bytes.
        length: usize,
    },
    /// A character outside `[-:.\w]`.
    BadChar {
        /// What the name is for.
        what: &'static str,
        /// The name (its first 64 bytes, when longer).
        name: String,
        /// The first character refused.
        ch: char,
    },
    /// More names than allowed.
    TooMany {
        /// What the names are.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The most allowed.
        max: usize,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty { what } => write!(f, "empty {what}"),
            NameError::TooLong { what, length } => {
                write!(f, "{what} of {length} bytes is over {MAX_NAME_LEN}")
            }
            NameError::BadChar { what, name, ch } => {
                write!(f, "{what} {name:?} has {ch:?}, outside [-:.\\w]")
            }
            NameError::TooMany { what, count, max } => {
                write!(f, "{count} {what}, more than {max}")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Cuts a peer's text to `max` bytes (at a character boundary), for
/// errors and logs.
fn shorten(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn check_name(what: &'static str, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            what,
            length: name.len(),
        });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.');
    match name.chars().find(|&c| !allowed(c)) {
        Some(ch) => Err(NameError::BadChar {
            what,
            name: shorten(name, 64),
            ch,
        }),
        None => Ok(()),
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), NameError> {
    if count > max {
        return Err(NameError::TooMany { what, count, max });
    }
    Ok(())
}

/// Checks a kernel's id, names and published sessions, its own or a
/// peer's.
fn check_identity<S: AsRef<str>>(
    kernel_id: &str,
    names: &[S],
    published: &[Published<'_>],
) -> Result<(), NameError> {
    check_name("kernel id", kernel_id)?;
    let Some((name, aliases)) = names.split_first() else {
        return Err(NameError::Empty {
            what: "kernel name",
        });
    };
    check_count("names", names.len(), MAX_NAMES)?;
    check_name("kernel name", name.as_ref())?;
    for alias in aliases {
        check_name("alias", alias.as_ref())?;
    }
    check_count(
        "published sessions",
        published.len(),
        MAX_PUBLISHED_SESSIONS,
    )?;
    for p in published {
        check_name("published session", &p.session)?;
        check_count("published states", p.states.len(), MAX_PUBLISHED_STATES)?;
        for state in &p.states {
            check_name("published state", state)?;
        }
    }
    Ok(())
}

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
    kernel_id: String,
    names: Vec<String>,
    pid: u32,
    published: Vec<Published<'static>>,
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
        Ok(self)
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
    fn capabilities(&self) -> u64 {
        if self.key.is_some() {
            capabilities::PRE_SHARED_KEY
        } else {
            0
        }
    }

    fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_ref().map(|k| k.0.as_slice())
    }

    fn borrowed_names(&self) -> Vec<Cow<'_, str>> {
        self.names
            .iter()
            .map(|n| Cow::Borrowed(n.as_str()))
            .collect()
    }
}

/// The other kernel, as its handshake described it.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{Peer, capabilities};
///
/// let peer = Peer {
///     version: 1,
///     capabilities: capabilities::PRE_SHARED_KEY,
///     kernel_id: "host-7".into(),
///     names: vec!["Server".into(), "srv".into()],
///     pid: 7,
///     published: vec![],
/// };
/// assert_eq!(peer.name(), "Server");
/// assert!(peer.authenticated());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The protocol version agreed.
    pub version: u16,
    /// The capabilities agreed.
    pub capabilities: u64,
    /// The peer kernel's unique id.
    pub kernel_id: String,
    /// The peer kernel's name, then its aliases.
    pub names: Vec<String>,
    /// The peer's process id (as it says).
    pub pid: u32,
    /// The sessions the peer publishes.
    pub published: Vec<Published<'static>>,
}

impl Peer {
    /// The peer kernel's name.
    pub fn name(&self) -> &str {
        self.names.first().map_or("", String::as_str)
    }

    /// Whether both sides proved they hold the same pre-shared key.
    pub fn authenticated(&self) -> bool {
        self.capabilities & capabilities::PRE_SHARED_KEY != 0
    }

    fn from_handshake(
        version: u16,
        capabilities: u64,
        kernel_id: &str,
        names: &[Cow<'_, str>],
        pid: u32,
        published: Vec<Published<'_>>,
    ) -> Peer {
        Peer {
            version,
            capabilities,
            kernel_id: kernel_id.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
            pid,
            published: published.into_iter().map(Published::into_owned).collect(),
        }
    }
}

/// What a handshake step asks of the caller.
///
/// # Examples
///
/// A server without a key is done as soon as it answers the `Hello`:
///
/// ```
/// use roe_ikc::native::{
///     ClientHandshake, Frame, FrameReader, HandshakeConfig, HandshakeStep, ServerHandshake,
/// };
///
/// let (_, hello) = ClientHandshake::start(HandshakeConfig::new("c-1", "Client")?)?;
/// let mut server = ServerHandshake::new(HandshakeConfig::new("s-1", "Server")?)?;
/// let mut reader = FrameReader::after_magic();
/// reader.feed(&hello);
/// let step = server.on_frame(reader.next_frame()?.unwrap())?;
/// let HandshakeStep::Done { send, peer } = step else {
///     panic!("no key, no proof to wait for");
/// };
/// assert_eq!(peer.name(), "Client");
/// let mut reader = FrameReader::new();
/// reader.feed(&send);
/// assert!(matches!(reader.next_frame()?, Some(Frame::Welcome { version: 1, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeStep {
    /// Send these bytes and wait for the peer's next frame.
    Continue {
        /// Bytes to write.
        send: Vec<u8>,
    },
    /// The handshake is done: send these bytes (maybe none); traffic frames
    /// may follow them.
    Done {
        /// Bytes to write.
        send: Vec<u8>,
        /// The other kernel.
        peer: Peer,
    },
}

/// Why a handshake failed. The connection is to be closed, after sending
/// the [`refusal`](HandshakeError::refusal) when there is one.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{FrameError, HandshakeError, Versions};
///
/// let error = HandshakeError::NoCommonVersion {
///     ours: Versions::SUPPORTED,
///     theirs: Versions { min: 2, max: 2 },
/// };
/// assert_eq!(
///     error.to_string(),
///     "no common protocol version: this side speaks 1..=1, the peer 2..=2"
/// );
/// // A reader's wrong magic is the handshake's too.
/// assert_eq!(HandshakeError::from(FrameError::WrongMagic), HandshakeError::WrongMagic);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The client's first bytes are not [`MAGIC`]: not a native peer.
    WrongMagic,
    /// A frame could not be read (or this side's could not be written).
    Frame(FrameError),
    /// A frame the handshake does not expect now.
    UnexpectedFrame {
        /// What it expected.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
    /// No protocol version both sides speak.
    NoCommonVersion {
        /// The versions this side speaks.
        ours: Versions,
        /// The versions the peer speaks.
        theirs: Versions,
    },
    /// The server chose a version the client did not offer.
    VersionNotOffered {
        /// The version chosen.
        version: u16,
        /// The versions offered.
        offered: Versions,
    },
    /// This side has a pre-shared key and the peer offered none.
    KeyRequired,
    /// The peer wants a pre-shared key and this side has none.
    NoKey,
    /// The peer's proof is missing.
    MissingProof,
    /// The peer's proof does not match the key: it does not hold the same
    /// one.
    BadProof,
    /// The server sent a proof though no key was agreed.
    UnexpectedProof,
    /// The peer's names break the rules.
    BadName(NameError),
    /// The peer refused the handshake.
    Refused {
        /// Its reason (the first 512 bytes).
        reason: String,
    },
    /// The handshake is over (done or failed) and takes no more frames.
    Finished,
    /// The OS gave no random bytes for a nonce.
    Randomness {
        /// The OS error number.
        errno: i32,
    },
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::WrongMagic => f.write_str("not a roe native IKC peer (wrong magic)"),
            HandshakeError::Frame(e) => e.fmt(f),
            HandshakeError::UnexpectedFrame { expected, got } => {
                write!(f, "expected {expected}, got {got}")
            }
            HandshakeError::NoCommonVersion { ours, theirs } => write!(
                f,
                "no common protocol version: this side speaks {ours}, the peer {theirs}"
            ),
            HandshakeError::VersionNotOffered { version, offered } => {
                write!(f, "version {version} chosen, but {offered} offered")
            }
            HandshakeError::KeyRequired => {
                f.write_str("a pre-shared key is required and the peer has none")
            }
            HandshakeError::NoKey => {
                f.write_str("the peer wants a pre-shared key and this side has none")
            }
            HandshakeError::MissingProof => f.write_str("the key proof is missing"),
            HandshakeError::BadProof => f.write_str("the key proof does not match"),
            HandshakeError::UnexpectedProof => f.write_str("a key proof, but no key agreed"),
            HandshakeError::BadName(e) => e.fmt(f),
            HandshakeError::Refused { reason } => write!(f, "refused by the peer: {reason}"),
            HandshakeError::Finished => f.write_str("the handshake is over"),
            HandshakeError::Randomness { errno } => write!(
                f,
                "no random bytes for a nonce: {}",
                io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<FrameError> for HandshakeError {
    fn from(error: FrameError) -> HandshakeError {
        match error {
            FrameError::WrongMagic => HandshakeError::WrongMagic,
            other => HandshakeError::Frame(other),
        }
    }
}

impl From<NameError> for HandshakeError {
    fn from(error: NameError) -> HandshakeError {
        HandshakeError::BadName(error)
    }
}

impl HandshakeError {
    /// The [`Refused`](Frame::Refused) frame to send the peer before
    /// closing, saying why; none when the peer refused, the handshake was
    /// already over, the peer is not a native one, or the failure was this
    /// side's own.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::native::{Frame, FrameReader, HandshakeError};
    ///
    /// let bytes = HandshakeError::BadProof.refusal().unwrap();
    /// let mut reader = FrameReader::new();
    /// reader.feed(&bytes);
    /// assert_eq!(
    ///     reader.next_frame()?,
    ///     Some(Frame::Refused { reason: "the key proof does not match".into() })
    /// );
    /// assert_eq!(HandshakeError::WrongMagic.refusal(), None);
    /// # Ok::<(), roe_ikc::native::FrameError>(())
    /// ```
    pub fn refusal(&self) -> Option<Vec<u8>> {
        match self {
            HandshakeError::WrongMagic
            | HandshakeError::Refused { .. }
            | HandshakeError::Finished
            | HandshakeError::Randomness { .. }
            | HandshakeError::Frame(FrameError::Unencodable { .. }) => None,
            _ => {
                let mut out = Vec::new();
                Frame::Refused {
                    reason: self.to_string().into(),
                }
                .encode(&mut out)
                .ok()?;
                Some(out)
            }
        }
    }

    fn refused(reason: &str) -> HandshakeError {
        HandshakeError::Refused {
            reason: shorten(reason, 512),
        }
    }
}

/// 16 random bytes from the OS, for a handshake's nonce.
///
/// # Errors
///
/// [`HandshakeError::Randomness`] when the OS has none to give.
///
/// # Examples
///
/// ```
/// let a = roe_ikc::native::random_nonce()?;
/// let b = roe_ikc::native::random_nonce()?;
/// assert_ne!(a, b);
/// # Ok::<(), roe_ikc::native::HandshakeError>(())
/// ```
pub fn random_nonce() -> Result<[u8; 16], HandshakeError> {
    let mut nonce = [0u8; 16];
    let mut filled = 0;
    while filled < nonce.len() {
        match rustix::rand::getrandom(&mut nonce[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(0) => {
                return Err(HandshakeError::Randomness {
                    errno: rustix::io::Errno::IO.raw_os_error(),
                });
            }
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                return Err(HandshakeError::Randomness {
                    errno: e.raw_os_error(),
                });
            }
        }
    }
    Ok(nonce)
}

fn encode(frame: &Frame<'_>, out: &mut Vec<u8>) -> Result<(), HandshakeError> {
    frame
        .encode_with_limit(HANDSHAKE_MAX_FRAME, out)
        .map_err(HandshakeError::Frame)
}

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
/// [`FrameReader`]: super::FrameReader
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

fn unexpected(expected: &'static str, frame: &Frame<'_>) -> HandshakeError {
    match frame {
        Frame::Refused { reason } => HandshakeError::refused(reason),
        other => HandshakeError::UnexpectedFrame {
            expected,
            got: other.kind(),
        },
    }
}

#[derive(Debug)]
enum ServerState {
    AwaitHello,
    AwaitProof { client_nonce: [u8; 16], peer: Peer },
    Over,
}

/// The server's side of the handshake.
///
/// Read the client's bytes with [`FrameReader::after_magic`] limited to
/// [`HANDSHAKE_MAX_FRAME`] (it checks the magic) and give each frame to
/// [`on_frame`](ServerHandshake::on_frame): the `Hello` is answered with a
/// `Welcome`, and, with a key, the client's `Proof` ends the handshake. How
/// long to wait is the caller's to decide: the codec has no clock.
///
/// [`FrameReader::after_magic`]: super::FrameReader::after_magic
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
            ServerState::AwaitProof { client_nonce, peer } => {
                let Frame::Proof { proof } = frame else {
                    return Err(unexpected("Proof", &frame));
                };
                let key = self.config.key_bytes().unwrap_or_default();
                if !constant_time_eq(&proof, &client_proof(key, &client_nonce, &self.nonce)) {
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
        if key.is_some() {
            self.state = ServerState::AwaitProof { client_nonce, peer };
            Ok(HandshakeStep::Continue { send })
        } else {
            Ok(HandshakeStep::Done { send, peer })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{FrameReader, PROTOCOL_VERSION};

    fn config(id: &str, name: &str) -> HandshakeConfig {
        HandshakeConfig::new(id, name).unwrap().pid(42)
    }

    /// Feeds `bytes` to a reader and decodes the one frame in them, owned.
    fn frame_in(bytes: &[u8], after_magic: bool) -> Frame<'static> {
        let mut reader = if after_magic {
            FrameReader::after_magic()
        } else {
            FrameReader::new()
        };
        reader.feed(bytes);
        let frame = reader.next_frame().unwrap().unwrap().into_owned();
        assert_eq!(reader.next_frame(), Ok(None));
        frame
    }

    fn hello(tweak: impl FnOnce(&mut Frame<'static>)) -> Frame<'static> {
        let (_, bytes) =
            ClientHandshake::start_with_nonce(config("c-1", "Client"), [1; 16]).unwrap();
        let mut frame = frame_in(&bytes, true);
        tweak(&mut frame);
        frame
    }

    /// Runs a whole handshake; returns (client's view of the server,
    /// server's view of the client), or the first error and who raised it.
    fn run(
        client: HandshakeConfig,
        server: HandshakeConfig,
    ) -> Result<(Peer, Peer), (&'static str, HandshakeError)> {
        let (mut c, hello) = ClientHandshake::start_with_nonce(client, [1; 16]).unwrap();
        let mut s = ServerHandshake::with_nonce(server, [2; 16]);
        let step = s
            .on_frame(frame_in(&hello, true))
            .map_err(|e| ("server", e))?;
        let (welcome, done_server) = match step {
            HandshakeStep::Continue { send } => (send, None),
            HandshakeStep::Done { send, peer } => (send, Some(peer)),
        };
        let HandshakeStep::Done {
            send,
            peer: server_peer,
        } = c
            .on_frame(frame_in(&welcome, false))
            .map_err(|e| ("client", e))?
        else {
            panic!("the client is done after Welcome");
        };
        let client_peer = match done_server {
            Some(peer) => {
                assert!(send.is_empty(), "no proof without a key");
                peer
            }
            None => match s
                .on_frame(frame_in(&send, false))
                .map_err(|e| ("server", e))?
            {
                HandshakeStep::Done { send, peer } => {
                    assert!(send.is_empty());
                    peer
                }
                step => panic!("{step:?}"),
            },
        };
        assert_eq!(
            c.on_frame(Frame::Ping { id: 0 }),
            Err(HandshakeError::Finished)
        );
        assert_eq!(
            s.on_frame(Frame::Ping { id: 0 }),
            Err(HandshakeError::Finished)
        );
        Ok((server_peer, client_peer))
    }

    #[test]
    fn without_keys_the_handshake_is_hello_then_welcome() {
        let client = config("c-1", "Client").alias("cli").unwrap();
        let server = config("s-1", "Server")
            .publish("echo", ["ping", "pong"])
            .unwrap();
        let (server_peer, client_peer) = run(client, server).unwrap();
        assert_eq!(
            server_peer,
            Peer {
                version: PROTOCOL_VERSION,
                capabilities: 0,
                kernel_id: "s-1".into(),
                names: vec!["Server".into()],
                pid: 42,
                published: vec![Published::new("echo", ["ping", "pong"])],
            }
        );
        assert_eq!(client_peer.names, ["Client", "cli"]);
        assert!(!client_peer.authenticated());
    }

    #[test]
    fn with_the_same_key_both_sides_prove_it() {
        let key = b"k".repeat(32);
        let (a, b) = run(
            config("c-1", "Client").key(key.clone()),
            config("s-1", "Server").key(key),
        )
        .unwrap();
        assert!(a.authenticated() && b.authenticated());
        assert_eq!(a.capabilities, capabilities::PRE_SHARED_KEY);
    }

    #[test]
    fn a_different_key_fails_the_first_proof_checked() {
        // The client checks the server's proof first.
        let got = run(
            config("c-1", "Client").key(b"one".to_vec()),
            config("s-1", "Server").key(b"two".to_vec()),
        );
        assert_eq!(got.unwrap_err(), ("client", HandshakeError::BadProof));
    }

    #[test]
    fn a_key_on_one_side_only_is_refused_by_either() {
        let got = run(config("c", "C"), config("s", "S").key(b"k".to_vec()));
        assert_eq!(got.unwrap_err(), ("server", HandshakeError::KeyRequired));
        let got = run(config("c", "C").key(b"k".to_vec()), config("s", "S"));
        assert_eq!(got.unwrap_err(), ("server", HandshakeError::NoKey));
        // A server that sends no proof and no key bit, to a client with a
        // key; and one that claims the key bit to a client without one.
        let welcome = |capabilities, proof| Frame::Welcome {
            version: 1,
            capabilities,
            kernel_id: "s".into(),
            names: vec!["S".into()],
            pid: 1,
            nonce: [2; 16],
            proof,
            published: vec![],
        };
        let start = |c| ClientHandshake::start_with_nonce(c, [1; 16]).unwrap().0;
        let mut keyed = start(config("c", "C").key(b"k".to_vec()));
        assert_eq!(
            keyed.on_frame(welcome(0, None)),
            Err(HandshakeError::KeyRequired)
        );
        let mut keyed = start(config("c", "C").key(b"k".to_vec()));
        assert_eq!(
            keyed.on_frame(welcome(capabilities::PRE_SHARED_KEY, None)),
            Err(HandshakeError::MissingProof)
        );
        let mut plain = start(config("c", "C"));
        assert_eq!(
            plain.on_frame(welcome(capabilities::PRE_SHARED_KEY, Some([0; 32]))),
            Err(HandshakeError::NoKey)
        );
        let mut plain = start(config("c", "C"));
        assert_eq!(
            plain.on_frame(welcome(0, Some([0; 32]))),
            Err(HandshakeError::UnexpectedProof)
        );
        // Unknown capability bits are ignored: the agreed set is what both
        // know.
        let mut plain = start(config("c", "C"));
        let Ok(HandshakeStep::Done { peer, .. }) = plain.on_frame(welcome(!1, None)) else {
            panic!("unknown bits are ignored");
        };
        assert_eq!(peer.capabilities, 0);
    }

    #[test]
    fn a_bad_client_proof_is_refused() {
        let key = b"k".to_vec();
        let mut s = ServerHandshake::with_nonce(config("s", "S").key(key.clone()), [2; 16]);
        let (_, bytes) =
            ClientHandshake::start_with_nonce(config("c", "C").key(key.clone()), [1; 16]).unwrap();
        assert!(matches!(
            s.on_frame(frame_in(&bytes, true)),
            Ok(HandshakeStep::Continue { .. })
        ));
        // The server's own proof, played back, is not the client's.
        let replayed = server_proof(&key, &[1; 16], &[2; 16]);
        assert_eq!(
            s.on_frame(Frame::Proof { proof: replayed }),
            Err(HandshakeError::BadProof)
        );
        assert_eq!(
            s.on_frame(Frame::Proof { proof: replayed }),
            Err(HandshakeError::Finished)
        );
    }

    #[test]
    fn the_server_picks_the_highest_common_version_or_refuses() {
        let mut s = ServerHandshake::with_nonce(config("s", "S"), [2; 16]);
        let step = s.on_frame(hello(|h| {
            if let Frame::Hello { max_version, .. } = h {
                *max_version = 9;
            }
        }));
        let Ok(HandshakeStep::Done { send, peer }) = step else {
            panic!("{step:?}");
        };
        assert_eq!(peer.version, 1);
        assert!(matches!(
            frame_in(&send, false),
            Frame::Welcome { version: 1, .. }
        ));

        let mut s = ServerHandshake::with_nonce(config("s", "S"), [2; 16]);
        let error = s
            .on_frame(hello(|h| {
                if let Frame::Hello {
                    max_version,
                    min_version,
                    ..
                } = h
                {
                    (*min_version, *max_version) = (2, 3);
                }
            }))
            .unwrap_err();
        assert_eq!(
            error,
            HandshakeError::NoCommonVersion {
                ours: Versions { min: 1, max: 1 },
                theirs: Versions { min: 2, max: 3 },
            }
        );
        let Frame::Refused { reason } = frame_in(&error.refusal().unwrap(), false) else {
            panic!("a refusal");
        };
        assert_eq!(
            reason,
            "no common protocol version: this side speaks 1..=1, the peer 2..=3"
        );

        let mut c = ClientHandshake::start_with_nonce(config("c", "C"), [1; 16])
            .unwrap()
            .0;
        let welcome = Frame::Welcome {
            version: 2,
            capabilities: 0,
            kernel_id: "s".into(),
            names: vec!["S".into()],
            pid: 1,
            nonce: [0; 16],
            proof: None,
            published: vec![],
        };
        assert_eq!(
            c.on_frame(welcome),
            Err(HandshakeError::VersionNotOffered {
                version: 2,
                offered: Versions::SUPPORTED
            })
        );
    }

    /// A change to a `Hello`.
    type Tweak = fn(&mut Frame<'static>);

    #[test]
    fn peers_names_are_checked() {
        let cases: [(Tweak, NameError); 5] = [
            (
                |h| {
                    if let Frame::Hello { names, .. } = h {
                        names.clear();
                    }
                },
                NameError::Empty {
                    what: "kernel name",
                },
            ),
            (
                |h| {
                    if let Frame::Hello { names, .. } = h {
                        names.push("has space".into());
                    }
                },
                NameError::BadChar {
                    what: "alias",
                    name: "has space".into(),
                    ch: ' ',
                },
            ),
            (
                |h| {
                    if let Frame::Hello { kernel_id, .. } = h {
                        *kernel_id = "x".repeat(256).into();
                    }
                },
                NameError::TooLong {
                    what: "kernel id",
                    length: 256,
                },
            ),
            (
                |h| {
                    if let Frame::Hello { names, .. } = h {
                        names.resize(65, "n".into());
                    }
                },
                NameError::TooMany {
                    what: "names",
                    count: 65,
                    max: 64,
                },
            ),
            (
                |h| {
                    if let Frame::Hello { published, .. } = h {
                        published.push(Published::new("svc", ["ok", "é"]));
                    }
                },
                NameError::BadChar {
                    what: "published state",
                    name: "é".into(),
                    ch: 'é',
                },
            ),
        ];
        for (tweak, expected) in cases {
            let mut s = ServerHandshake::with_nonce(config("s", "S"), [2; 16]);
            assert_eq!(
                s.on_frame(hello(tweak)),
                Err(HandshakeError::BadName(expected))
            );
        }
        // The ASCII letters, digits and `_-:.` are all fine.
        assert!(config("a-b_c:d.9", "Z::Y-x.1_").alias("A").is_ok());
        assert!(matches!(
            config("c", "C").publish("s", [""]),
            Err(NameError::Empty { .. })
        ));
    }

    #[test]
    fn unexpected_frames_and_refusals_end_the_handshake() {
        let mut s = ServerHandshake::with_nonce(config("s", "S"), [2; 16]);
        assert_eq!(
            s.on_frame(Frame::Ping { id: 1 }),
            Err(HandshakeError::UnexpectedFrame {
                expected: "Hello",
                got: "Ping"
            })
        );
        assert_eq!(s.on_frame(hello(|_| {})), Err(HandshakeError::Finished));
        let mut c = ClientHandshake::start_with_nonce(config("c", "C"), [1; 16])
            .unwrap()
            .0;
        let long = "é".repeat(400);
        let Err(HandshakeError::Refused { reason }) = c.on_frame(Frame::Refused {
            reason: long.as_str().into(),
        }) else {
            panic!("a refusal");
        };
        assert_eq!(reason, "é".repeat(256));
        assert_eq!(
            HandshakeError::Refused { reason }.refusal(),
            None,
            "a refusal is not answered"
        );
    }

    #[test]
    fn wrong_magic_is_its_own_error() {
        let mut reader = FrameReader::after_magic();
        reader.feed(b"SETUP KERNEL=perl;FREEZER=Storable");
        let error = HandshakeError::from(reader.next_frame().unwrap_err());
        assert_eq!(error, HandshakeError::WrongMagic);
        assert_eq!(error.refusal(), None);
    }

    #[test]
    fn oversized_identities_are_refused_before_sending() {
        // 200 sessions of 40 states of 200 bytes: over 1.5 MiB of Hello.
        let states: Vec<String> = (0..40).map(|i| format!("{i:0>200}")).collect();
        let mut config = config("c", "C");
        for i in 0..200 {
            config = config
                .publish(&format!("s{i}"), states.iter().map(String::as_str))
                .unwrap();
        }
        assert!(matches!(
            ClientHandshake::start(config),
            Err(HandshakeError::Frame(FrameError::TooLong { .. }))
        ));
    }
}
