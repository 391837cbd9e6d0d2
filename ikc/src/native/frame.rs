//! The native wire's frames: what they hold, how they are written, and
//! [`FrameReader`], which cuts them out of a byte stream and decodes them
//! borrowed from its buffer.

use std::{borrow::Cow, fmt};

use roe_engine::{FilterError, FrameBuffer, Framing};
use speedy::{LittleEndian, Writable};

use super::{DEFAULT_MAX_FRAME, MAGIC, MAX_VALUE_DEPTH, decode::Wire};
use crate::WireValue;

/// One frame of the native wire, either way.
///
/// On the wire a frame is its body's length as a little-endian `u32`, then
/// the body: speedy's little-endian encoding of the frame, a `u32` tag (the
/// number on each variant below) and the fields in the order written.
/// Text decoded by [`Frame::decode`] or a [`FrameReader`] is borrowed from
/// the bytes read ([`Cow::Borrowed`]); [`Frame::into_owned`] copies it out.
///
/// `Hello`, `Welcome` and `Refused` keep their tags and layout in every
/// protocol version, so two kernels can always negotiate one; the others
/// belong to version 1.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
///
/// use roe_ikc::WireValue;
/// use roe_ikc::native::{Frame, SessionRef, Target};
///
/// let post = Frame::Post {
///     to: Target {
///         session: SessionRef::Alias("echo".into()),
///         state: "ping".into(),
///     },
///     args: vec![WireValue::Int(7), WireValue::Str("seven".into())],
///     from: None,
/// };
/// let mut wire = Vec::new();
/// post.encode(&mut wire)?;
/// // A little-endian length, then the body, whose first u32 is the tag.
/// assert_eq!(wire[..4], ((wire.len() - 4) as u32).to_le_bytes());
/// assert_eq!(wire[4..8], 4u32.to_le_bytes());
/// let back = Frame::decode(&wire[4..])?;
/// assert_eq!(back, post);
/// let Frame::Post { args, .. } = back else { unreachable!() };
/// assert!(matches!(&args[1], WireValue::Str(Cow::Borrowed("seven"))));
/// # Ok::<(), roe_ikc::native::FrameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Writable)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// Tag 0, client to server, first: who the client is and what it can
    /// speak.
    #[speedy(tag = 0)]
    Hello {
        /// The newest protocol version the client speaks.
        max_version: u16,
        /// The oldest protocol version the client speaks.
        min_version: u16,
        /// Capability bits the client offers ([`capabilities`](super::capabilities)).
        capabilities: u64,
        /// The client kernel's unique id.
        kernel_id: Cow<'a, str>,
        /// The kernel's name, then its aliases.
        names: Vec<Cow<'a, str>>,
        /// The client's process id.
        pid: u32,
        /// 16 fresh random bytes, for the key proofs.
        nonce: [u8; 16],
        /// The sessions the client publishes, and their states.
        published: Vec<Published<'a>>,
    },
    /// Tag 1, server to client: the handshake's terms and who the server
    /// is.
    #[speedy(tag = 1)]
    Welcome {
        /// The protocol version chosen: the highest both speak.
        version: u16,
        /// The capabilities agreed: offered by the client and supported by
        /// the server.
        capabilities: u64,
        /// The server kernel's unique id.
        kernel_id: Cow<'a, str>,
        /// The kernel's name, then its aliases.
        names: Vec<Cow<'a, str>>,
        /// The server's process id.
        pid: u32,
        /// 16 fresh random bytes, for the key proofs.
        nonce: [u8; 16],
        /// With a pre-shared key, the server's proof that it holds it.
        proof: Option<[u8; 32]>,
        /// The sessions the server publishes, and their states.
        published: Vec<Published<'a>>,
    },
    /// Tag 2, client to server, with a pre-shared key only: the client's
    /// proof that it holds the key.
    #[speedy(tag = 2)]
    Proof {
        /// HMAC-SHA-256 of the key over the nonces.
        proof: [u8; 32],
    },
    /// Tag 3, either way during the handshake: the sender will not go on,
    /// and closes.
    #[speedy(tag = 3)]
    Refused {
        /// Why, for the other side's log.
        reason: Cow<'a, str>,
    },
    /// Tag 4: post an event to a session of the receiving kernel.
    #[speedy(tag = 4)]
    Post {
        /// The session and state.
        to: Target<'a>,
        /// The event's arguments.
        args: Vec<WireValue<'a>>,
        /// Where a reply may be posted, if anywhere.
        from: Option<Origin<'a>>,
    },
    /// Tag 5: call a state of a session of the receiving kernel; answered
    /// by one [`Reply`](Frame::Reply) with the same `id`.
    #[speedy(tag = 5)]
    Call {
        /// Chosen by the caller, unique among its calls still unanswered on
        /// this connection.
        id: u64,
        /// The session and state.
        to: Target<'a>,
        /// The call's arguments.
        args: Vec<WireValue<'a>>,
        /// The calling session, for the callee's `sender`.
        from: Option<Origin<'a>>,
    },
    /// Tag 6: the answer to the [`Call`](Frame::Call) with this `id`.
    #[speedy(tag = 6)]
    Reply {
        /// The call's id.
        id: u64,
        /// What became of it.
        outcome: Outcome<'a>,
    },
    /// Tag 7: the sender now publishes these states of this session
    /// (added to what it published before).
    #[speedy(tag = 7)]
    Publish {
        /// The session's published name.
        session: Cow<'a, str>,
        /// The states published.
        states: Vec<Cow<'a, str>>,
    },
    /// Tag 8: the sender no longer publishes these states of this session;
    /// no states means the whole session.
    #[speedy(tag = 8)]
    Retract {
        /// The session's published name.
        session: Cow<'a, str>,
        /// The states retracted, or none for all of them.
        states: Vec<Cow<'a, str>>,
    },
    /// Tag 9: ask to be told when the receiver publishes this session (or
    /// this state of it); answered by [`Subscribed`](Frame::Subscribed).
    #[speedy(tag = 9)]
    Subscribe {
        /// Chosen by the sender, echoed in the answer.
        id: u64,
        /// The session's published name.
        session: Cow<'a, str>,
        /// One state, or the whole session.
        state: Option<Cow<'a, str>>,
    },
    /// Tag 10: the answer to the [`Subscribe`](Frame::Subscribe) with this
    /// `id`.
    #[speedy(tag = 10)]
    Subscribed {
        /// The subscription's id.
        id: u64,
        /// Whether the receiver publishes what was asked for.
        accepted: bool,
    },
    /// Tag 11: drop the subscriptions to this session.
    #[speedy(tag = 11)]
    Unsubscribe {
        /// The session's published name.
        session: Cow<'a, str>,
    },
    /// Tag 12: answer with a [`Pong`](Frame::Pong) of the same `id`.
    #[speedy(tag = 12)]
    Ping {
        /// Chosen by the sender.
        id: u64,
    },
    /// Tag 13: the answer to the [`Ping`](Frame::Ping) with this `id`.
    #[speedy(tag = 13)]
    Pong {
        /// The ping's id.
        id: u64,
    },
    /// Tag 14: the sender closes the connection after this frame.
    #[speedy(tag = 14)]
    Goodbye {
        /// Why, for the other side's log.
        reason: Cow<'a, str>,
    },
    /// Tag 15: the receiver refused or could not carry out a request that
    /// has no reply of its own (a [`Post`](Frame::Post) to a state it does
    /// not publish, say): IKC's remote error, for the sender's error
    /// monitors and log.
    #[speedy(tag = 15)]
    Error {
        /// What failed, as IKC names it: `check` (not published),
        /// `resolve` (no such session or kernel), `invocation` (the
        /// handler could not be run) or `request` (a malformed request).
        op: Cow<'a, str>,
        /// What happened, in words.
        message: Cow<'a, str>,
    },
}

/// A session a kernel publishes, with the states it publishes.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::Published;
///
/// let echo = Published::new("echo", ["ping", "shout"]);
/// assert_eq!(echo.states.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Writable)]
pub struct Published<'a> {
    /// The session's published name.
    pub session: Cow<'a, str>,
    /// Its published states.
    pub states: Vec<Cow<'a, str>>,
}

/// A session of the receiving kernel and one of its states (the kernel
/// part of IKC's `poe://kernel/session/state` is the peer itself).
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{SessionRef, Target};
///
/// let to = Target::new("echo", "ping");
/// assert_eq!(to.session, SessionRef::Alias("echo".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Writable)]
pub struct Target<'a> {
    /// The session.
    pub session: SessionRef<'a>,
    /// The state.
    pub state: Cow<'a, str>,
}

/// A session named across the wire: by alias, or by its number in its
/// kernel (a session with no alias can still be posted back to).
///
/// # Examples
///
/// ```
/// use roe_ikc::native::SessionRef;
///
/// assert_eq!(SessionRef::from("echo"), SessionRef::Alias("echo".into()));
/// assert_eq!(SessionRef::from(7u64), SessionRef::Number(7));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Writable)]
pub enum SessionRef<'a> {
    /// Tag 0: an alias (or published name).
    #[speedy(tag = 0)]
    Alias(Cow<'a, str>),
    /// Tag 1: POE's session number.
    #[speedy(tag = 1)]
    Number(u64),
}

/// Where a post or call came from: enough for the receiver to post back.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{Origin, SessionRef};
///
/// let from = Origin {
///     session: SessionRef::Number(3),
///     state: Some("got_answer".into()),
/// };
/// assert_eq!(from.reply_to("pong").state, "got_answer");
/// assert_eq!(Origin::from(SessionRef::Number(3)).reply_to("pong").state, "pong");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Writable)]
pub struct Origin<'a> {
    /// The sending session, on the sending kernel.
    pub session: SessionRef<'a>,
    /// The state a reply goes to, if the sender named one.
    pub state: Option<Cow<'a, str>>,
}

/// What became of a [`Call`](Frame::Call).
///
/// # Examples
///
/// ```
/// use roe_ikc::WireValue;
/// use roe_ikc::native::Outcome;
///
/// let done = Outcome::Returned(WireValue::Int(42));
/// assert_ne!(done, Outcome::NoHandler);
/// ```
#[derive(Clone, Debug, PartialEq, Writable)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// Tag 0: the handler returned this value.
    #[speedy(tag = 0)]
    Returned(WireValue<'a>),
    /// Tag 1: the session has no handler for the state.
    #[speedy(tag = 1)]
    NoHandler,
    /// Tag 2: no such session (or it is not published).
    #[speedy(tag = 2)]
    NoSession,
    /// Tag 3: the handler died (failed) with this message.
    #[speedy(tag = 3)]
    Died(Cow<'a, str>),
    /// Tag 4: the receiver would not run the call, for this reason.
    #[speedy(tag = 4)]
    Refused(Cow<'a, str>),
}

impl<'a> Published<'a> {
    /// A published session and its states.
    pub fn new<S: Into<Cow<'a, str>>>(
        session: impl Into<Cow<'a, str>>,
        states: impl IntoIterator<Item = S>,
    ) -> Published<'a> {
        Published {
            session: session.into(),
            states: states.into_iter().map(Into::into).collect(),
        }
    }

    /// The same, owning its text.
    pub fn into_owned(self) -> Published<'static> {
        Published {
            session: owned(self.session),
            states: owned_all(self.states),
        }
    }
}

impl<'a> Target<'a> {
    /// A state of the session with this alias.
    pub fn new(session: impl Into<Cow<'a, str>>, state: impl Into<Cow<'a, str>>) -> Target<'a> {
        Target {
            session: SessionRef::Alias(session.into()),
            state: state.into(),
        }
    }

    /// The same, owning its text.
    pub fn into_owned(self) -> Target<'static> {
        Target {
            session: self.session.into_owned(),
            state: owned(self.state),
        }
    }
}

impl SessionRef<'_> {
    /// The same, owning its text.
    pub fn into_owned(self) -> SessionRef<'static> {
        match self {
            SessionRef::Alias(alias) => SessionRef::Alias(owned(alias)),
            SessionRef::Number(n) => SessionRef::Number(n),
        }
    }
}

impl<'a> From<&'a str> for SessionRef<'a> {
    fn from(alias: &'a str) -> SessionRef<'a> {
        SessionRef::Alias(Cow::Borrowed(alias))
    }
}

impl From<u64> for SessionRef<'_> {
    fn from(number: u64) -> SessionRef<'static> {
        SessionRef::Number(number)
    }
}

impl<'a> Origin<'a> {
    /// Where to post a reply: the state the sender named, else `default`.
    pub fn reply_to(&self, default: &'a str) -> Target<'a> {
        Target {
            session: self.session.clone(),
            state: self.state.clone().unwrap_or(Cow::Borrowed(default)),
        }
    }

    /// The same, owning its text.
    pub fn into_owned(self) -> Origin<'static> {
        Origin {
            session: self.session.into_owned(),
            state: self.state.map(owned),
        }
    }
}

impl<'a> From<SessionRef<'a>> for Origin<'a> {
    fn from(session: SessionRef<'a>) -> Origin<'a> {
        Origin {
            session,
            state: None,
        }
    }
}

impl Outcome<'_> {
    /// The same, owning its text and bytes.
    pub fn into_owned(self) -> Outcome<'static> {
        match self {
            Outcome::Returned(value) => Outcome::Returned(value.into_owned()),
            Outcome::NoHandler => Outcome::NoHandler,
            Outcome::NoSession => Outcome::NoSession,
            Outcome::Died(text) => Outcome::Died(owned(text)),
            Outcome::Refused(text) => Outcome::Refused(owned(text)),
        }
    }
}

fn owned(text: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(text.into_owned())
}

fn owned_all(texts: Vec<Cow<'_, str>>) -> Vec<Cow<'static, str>> {
    texts.into_iter().map(owned).collect()
}

fn owned_values(values: Vec<WireValue<'_>>) -> Vec<WireValue<'static>> {
    values.into_iter().map(WireValue::into_owned).collect()
}

fn owned_published(published: Vec<Published<'_>>) -> Vec<Published<'static>> {
    published.into_iter().map(Published::into_owned).collect()
}

impl<'a> Frame<'a> {
    /// Decodes one frame from a whole body (the bytes after the length
    /// prefix), borrowing its text and bytes from `body`.
    ///
    /// Safe on hostile input: it never panics, refuses a collection that
    /// claims more elements than the body's remaining bytes could hold
    /// before reading any of it, reserves no room from a claimed count
    /// (room grows with the elements actually read), and refuses values
    /// nested deeper than [`MAX_VALUE_DEPTH`].
    ///
    /// # Errors
    ///
    /// [`FrameError::Truncated`] when the body ends inside the frame,
    /// [`FrameError::TrailingBytes`] when bytes are left after it, and
    /// [`FrameError::Malformed`] for anything else that is not a frame.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::native::{Frame, FrameError, Malformed};
    ///
    /// // Tag 12 (Ping), id 5.
    /// let body = [12, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0];
    /// assert_eq!(Frame::decode(&body)?, Frame::Ping { id: 5 });
    /// assert_eq!(Frame::decode(&body[..6]), Err(FrameError::Truncated));
    /// assert_eq!(
    ///     Frame::decode(&[99, 0, 0, 0]),
    ///     Err(FrameError::Malformed(Malformed::UnknownTag { of: "frame", tag: 99 }))
    /// );
    /// # Ok::<(), FrameError>(())
    /// ```
    pub fn decode(body: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        let (frame, used) =
            <Frame<'a> as speedy::Readable<'a, Wire>>::read_with_length_from_buffer_with_ctx(
                Wire, body,
            );
        let frame = frame?;
        match body.len() - used {
            0 => Ok(frame),
            extra => Err(FrameError::TrailingBytes { extra }),
        }
    }

    /// Appends the frame to `out`, length prefix and body, refusing a body
    /// over [`DEFAULT_MAX_FRAME`] as a reader with the default limit would.
    ///
    /// # Errors
    ///
    /// As [`encode_with_limit`](Frame::encode_with_limit).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        self.encode_with_limit(DEFAULT_MAX_FRAME, out)
    }

    /// Appends the frame to `out`, refusing a body over `max_frame` bytes.
    /// `out` is left as it was on error.
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLong`] for a body over the limit;
    /// [`FrameError::Unencodable`] for a value nested deeper than
    /// [`MAX_VALUE_DEPTH`] (the peer would refuse it) or a collection of
    /// 2³² elements or more.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::native::{Frame, FrameError};
    ///
    /// let mut out = Vec::new();
    /// let bye = Frame::Goodbye { reason: "shutting down".into() };
    /// assert!(matches!(
    ///     bye.encode_with_limit(8, &mut out),
    ///     Err(FrameError::TooLong { limit: 8, .. })
    /// ));
    /// assert!(out.is_empty());
    /// bye.encode_with_limit(64, &mut out)?;
    /// assert_eq!(out.len(), 4 + 4 + 4 + "shutting down".len());
    /// # Ok::<(), FrameError>(())
    /// ```
    pub fn encode_with_limit(&self, max_frame: usize, out: &mut Vec<u8>) -> Result<(), FrameError> {
        if !self.values_fit() {
            return Err(FrameError::Unencodable {
                reason: "a value nests deeper than MAX_VALUE_DEPTH",
            });
        }
        let length =
            Writable::<LittleEndian>::bytes_needed(self).map_err(|_| FrameError::Unencodable {
                reason: "speedy cannot size the frame",
            })?;
        let start = out.len();
        FrameBuffer::new(Framing::U32Le)
            .max_length(max_frame)
            .put_prefix(length, out)?;
        let body = out.len();
        out.resize(body + length, 0);
        if self
            .write_to_buffer_with_ctx(LittleEndian::default(), &mut out[body..])
            .is_err()
        {
            out.truncate(start);
            return Err(FrameError::Unencodable {
                reason: "a collection has 2^32 elements or more",
            });
        }
        Ok(())
    }

    /// The variant's name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "Hello",
            Frame::Welcome { .. } => "Welcome",
            Frame::Proof { .. } => "Proof",
            Frame::Refused { .. } => "Refused",
            Frame::Post { .. } => "Post",
            Frame::Call { .. } => "Call",
            Frame::Reply { .. } => "Reply",
            Frame::Publish { .. } => "Publish",
            Frame::Retract { .. } => "Retract",
            Frame::Subscribe { .. } => "Subscribe",
            Frame::Subscribed { .. } => "Subscribed",
            Frame::Unsubscribe { .. } => "Unsubscribe",
            Frame::Ping { .. } => "Ping",
            Frame::Pong { .. } => "Pong",
            Frame::Goodbye { .. } => "Goodbye",
            Frame::Error { .. } => "Error",
        }
    }

    /// The same frame, owning its text and bytes (to keep it past the next
    /// read).
    pub fn into_owned(self) -> Frame<'static> {
        match self {
            Frame::Hello {
                max_version,
                min_version,
                capabilities,
                kernel_id,
                names,
                pid,
                nonce,
                published,
            } => Frame::Hello {
                max_version,
                min_version,
                capabilities,
                kernel_id: owned(kernel_id),
                names: owned_all(names),
                pid,
                nonce,
                published: owned_published(published),
            },
            Frame::Welcome {
                version,
                capabilities,
                kernel_id,
                names,
                pid,
                nonce,
                proof,
                published,
            } => Frame::Welcome {
                version,
                capabilities,
                kernel_id: owned(kernel_id),
                names: owned_all(names),
                pid,
                nonce,
                proof,
                published: owned_published(published),
            },
            Frame::Proof { proof } => Frame::Proof { proof },
            Frame::Refused { reason } => Frame::Refused {
                reason: owned(reason),
            },
            Frame::Post { to, args, from } => Frame::Post {
                to: to.into_owned(),
                args: owned_values(args),
                from: from.map(Origin::into_owned),
            },
            Frame::Call { id, to, args, from } => Frame::Call {
                id,
                to: to.into_owned(),
                args: owned_values(args),
                from: from.map(Origin::into_owned),
            },
            Frame::Reply { id, outcome } => Frame::Reply {
                id,
                outcome: outcome.into_owned(),
            },
            Frame::Publish { session, states } => Frame::Publish {
                session: owned(session),
                states: owned_all(states),
            },
            Frame::Retract { session, states } => Frame::Retract {
                session: owned(session),
                states: owned_all(states),
            },
            Frame::Subscribe { id, session, state } => Frame::Subscribe {
                id,
                session: owned(session),
                state: state.map(owned),
            },
            Frame::Subscribed { id, accepted } => Frame::Subscribed { id, accepted },
            Frame::Unsubscribe { session } => Frame::Unsubscribe {
                session: owned(session),
            },
            Frame::Ping { id } => Frame::Ping { id },
            Frame::Pong { id } => Frame::Pong { id },
            Frame::Goodbye { reason } => Frame::Goodbye {
                reason: owned(reason),
            },
            Frame::Error { op, message } => Frame::Error {
                op: owned(op),
                message: owned(message),
            },
        }
    }

    /// Whether every value in the frame nests within [`MAX_VALUE_DEPTH`].
    fn values_fit(&self) -> bool {
        match self {
            Frame::Post { args, .. } | Frame::Call { args, .. } => {
                args.iter().all(|v| fits(v, MAX_VALUE_DEPTH))
            }
            Frame::Reply {
                outcome: Outcome::Returned(value),
                ..
            } => fits(value, MAX_VALUE_DEPTH),
            _ => true,
        }
    }
}

/// Whether `value` nests no more than `depth` containers deep (the
/// decoder's rule: a scalar is depth 0, a list or map one more than its
/// deepest element).
pub(super) fn fits(value: &WireValue<'_>, depth: usize) -> bool {
    match value {
        WireValue::List(items) => depth > 0 && items.iter().all(|v| fits(v, depth - 1)),
        WireValue::Map(entries) => depth > 0 && entries.iter().all(|(_, v)| fits(v, depth - 1)),
        _ => true,
    }
}

/// Why a frame cannot be read or written.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{FrameError, FrameReader};
///
/// let mut reader = FrameReader::new().max_frame(1024);
/// reader.feed(&u32::MAX.to_le_bytes());
/// assert_eq!(
///     reader.next_frame(),
///     Err(FrameError::TooLong { limit: 1024, length: u32::MAX as usize })
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A length prefix announced a body over the limit (refused before any
    /// of it is buffered; a reader skips the body as it arrives), or a
    /// frame to write is over it.
    TooLong {
        /// The limit.
        limit: usize,
        /// The body's length.
        length: usize,
    },
    /// The client's stream did not start with [`MAGIC`]: not a native
    /// peer. Nothing more is read.
    WrongMagic,
    /// The body ends inside the frame.
    Truncated,
    /// Bytes are left in the body after the frame.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The body is not a frame.
    Malformed(Malformed),
    /// A frame cannot be written.
    Unencodable {
        /// Why.
        reason: &'static str,
    },
    /// The framing layer failed otherwise.
    Framing(FilterError),
}

/// What is wrong with a body that is not a frame.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{Frame, FrameError, Malformed};
///
/// // A Post whose target alias claims 2^32 - 1 bytes in a 12-byte body.
/// let body = [4, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
/// assert_eq!(
///     Frame::decode(&body),
///     Err(FrameError::Malformed(Malformed::LengthPastEnd { claimed: u32::MAX }))
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// An enum tag that names no variant.
    UnknownTag {
        /// Which enum: "frame", "value", "outcome" or "session reference".
        of: &'static str,
        /// The tag read.
        tag: u32,
    },
    /// Text that is not UTF-8.
    NotUtf8,
    /// A length or count that the rest of the body cannot hold, refused
    /// before anything of it is read or reserved.
    LengthPastEnd {
        /// The length or count claimed.
        claimed: u32,
    },
    /// Lists and maps nested deeper than [`MAX_VALUE_DEPTH`].
    TooDeep,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { limit, length } => {
                write!(f, "frame of {length} bytes is over the limit of {limit}")
            }
            FrameError::WrongMagic => f.write_str("the stream does not start with roe's magic"),
            FrameError::Truncated => f.write_str("frame ends before its contents do"),
            FrameError::TrailingBytes { extra } => {
                write!(f, "frame has {extra} bytes left over after its contents")
            }
            FrameError::Malformed(m) => write!(f, "malformed frame: {m}"),
            FrameError::Unencodable { reason } => write!(f, "cannot encode frame: {reason}"),
            FrameError::Framing(e) => write!(f, "framing: {e}"),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::UnknownTag { of, tag } => write!(f, "unknown {of} tag {tag}"),
            Malformed::NotUtf8 => f.write_str("text is not UTF-8"),
            Malformed::LengthPastEnd { claimed } => {
                write!(f, "a length of {claimed} runs past the end of the frame")
            }
            Malformed::TooDeep => write!(f, "values nest deeper than {MAX_VALUE_DEPTH}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl std::error::Error for Malformed {}

impl From<Malformed> for FrameError {
    fn from(malformed: Malformed) -> FrameError {
        FrameError::Malformed(malformed)
    }
}

impl From<FilterError> for FrameError {
    fn from(error: FilterError) -> FrameError {
        match error {
            FilterError::TooLong { limit, length } => FrameError::TooLong { limit, length },
            other => FrameError::Framing(other),
        }
    }
}

/// What the first bytes from a client say it is.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{MAGIC, Sniffed, sniff};
///
/// assert_eq!(sniff(&MAGIC[..3]), Sniffed::NeedMore);
/// assert_eq!(sniff(&MAGIC), Sniffed::Native);
/// assert_eq!(sniff(b"SETUP KERNEL=a"), Sniffed::Other);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// The bytes so far are the start of [`MAGIC`].
    NeedMore,
    /// [`MAGIC`]: a native peer; frames follow it.
    Native,
    /// Anything else (a Perl IKC peer's first line is ASCII).
    Other,
}

/// Tells a native client from any other by the first bytes it sent.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{Sniffed, sniff};
///
/// assert_eq!(sniff(b""), Sniffed::NeedMore);
/// assert_eq!(sniff(b"\xffROEIKC\x00 and frames"), Sniffed::Native);
/// assert_eq!(sniff(b"HELLO"), Sniffed::Other);
/// ```
pub fn sniff(first: &[u8]) -> Sniffed {
    let n = first.len().min(MAGIC.len());
    if first[..n] != MAGIC[..n] {
        Sniffed::Other
    } else if n < MAGIC.len() {
        Sniffed::NeedMore
    } else {
        Sniffed::Native
    }
}

/// Reads frames from a byte stream: feed it what was read, take whole
/// frames out, each decoded borrowed from the reader's buffer (valid until
/// the reader is used again).
///
/// A length prefix over the limit is [`FrameError::TooLong`] before any of
/// its body is buffered, and the body is skipped as it arrives; a body that
/// does not decode is reported and dropped. Either way the next call reads
/// the next frame, but a peer that sends either is broken or hostile, and
/// the caller will usually close. A server's reader
/// ([`after_magic`](FrameReader::after_magic)) first checks the client's
/// [`MAGIC`], byte by byte as it arrives.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{Frame, FrameReader, MAGIC};
///
/// let mut wire = MAGIC.to_vec();
/// Frame::Ping { id: 1 }.encode(&mut wire)?;
/// Frame::Pong { id: 2 }.encode(&mut wire)?;
/// let mut reader = FrameReader::after_magic();
/// reader.feed(&wire[..10]);
/// assert_eq!(reader.next_frame()?, None);
/// reader.feed(&wire[10..]);
/// assert_eq!(reader.next_frame()?, Some(Frame::Ping { id: 1 }));
/// assert_eq!(reader.next_frame()?, Some(Frame::Pong { id: 2 }));
/// assert_eq!(reader.next_frame()?, None);
/// # Ok::<(), roe_ikc::native::FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameReader {
    frames: FrameBuffer,
    /// Bytes of [`MAGIC`] already matched; `MAGIC.len()` when none are
    /// expected.
    magic_seen: usize,
    wrong_magic: bool,
}

impl FrameReader {
    /// A reader of frames with no magic before them (a client reading its
    /// server), with the limit [`DEFAULT_MAX_FRAME`].
    pub fn new() -> FrameReader {
        FrameReader {
            frames: FrameBuffer::new(Framing::U32Le).max_length(DEFAULT_MAX_FRAME),
            magic_seen: MAGIC.len(),
            wrong_magic: false,
        }
    }

    /// A reader that expects [`MAGIC`] before the frames (a server reading
    /// its client).
    pub fn after_magic() -> FrameReader {
        FrameReader {
            magic_seen: 0,
            ..FrameReader::new()
        }
    }

    /// Sets the largest body accepted (at most `u32::MAX`).
    pub fn max_frame(mut self, bytes: usize) -> FrameReader {
        self.set_max_frame(bytes);
        self
    }

    /// Changes the largest body accepted, keeping what is buffered (to
    /// raise the limit from [`HANDSHAKE_MAX_FRAME`](super::HANDSHAKE_MAX_FRAME)
    /// once the handshake is done).
    pub fn set_max_frame(&mut self, bytes: usize) {
        let frames = std::mem::replace(&mut self.frames, FrameBuffer::new(Framing::U32Le));
        self.frames = frames.max_length(bytes);
    }

    /// The largest body accepted.
    pub fn limit(&self) -> usize {
        self.frames.limit()
    }

    /// Bytes held that are not yet handed out.
    pub fn buffered(&self) -> usize {
        self.frames.buffered()
    }

    /// Appends bytes read from the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.wrong_magic {
            return;
        }
        if self.magic_seen < MAGIC.len() {
            let n = bytes.len().min(MAGIC.len() - self.magic_seen);
            if bytes[..n] != MAGIC[self.magic_seen..self.magic_seen + n] {
                // Not a native peer: keep nothing of what it sends.
                self.wrong_magic = true;
                return;
            }
            self.magic_seen += n;
            bytes = &bytes[n..];
        }
        self.frames.feed(bytes);
    }

    /// The next whole frame, decoded borrowed from the buffer; `Ok(None)`
    /// until one has arrived.
    ///
    /// # Errors
    ///
    /// [`FrameError::WrongMagic`] (for good) when the stream did not start
    /// with the magic; [`FrameError::TooLong`] for a prefix over the limit;
    /// the errors of [`Frame::decode`] for a body that is not a frame.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        if self.wrong_magic {
            return Err(FrameError::WrongMagic);
        }
        match self.frames.next_frame()? {
            Some(body) => Frame::decode(body).map(Some),
            None => Ok(None),
        }
    }
}

impl Default for FrameReader {
    fn default() -> FrameReader {
        FrameReader::new()
    }
}
