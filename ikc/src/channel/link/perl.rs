//! Perl IKC's dialect on a link: the line handshake, then Storable
//! frames, translated to and from what a channel speaks (the native
//! [`Frame`]s and [`Incoming`]s), so the channel serves a Perl peer as it
//! serves a roe one.
//!
//! What Perl IKC does on its own side of a request, the dialect does here,
//! as a Perl server would: it answers `IKC/ping` with `PONG`, refuses a
//! request for anything unpublished with Perl's own `remote_error` (its
//! words, so a Perl peer's monitors read what they would from Perl), sends
//! no reply to a call whose handler returned `undef`, and answers a
//! subscription request with Perl's receipt. Perl IKC has no call ids:
//! the dialect remembers each of the peer's calls (its RSVP and calling
//! context) under an id of its own until the channel answers it, and its
//! own calls to the peer name an RSVP, `IKC/roe-ikc:reply <id>`, that the
//! peer's answer comes back to.

use std::collections::{HashMap, VecDeque};

use roe_engine::{Answer, Args, Value, stream::Outbox};

use super::{Incoming, SendError, Step, push_bytes};
use crate::{
    WireValue,
    ikc::Ikc,
    native::{self, Frame, NameError, Origin, Outcome, SessionRef, Target},
    perl::{
        Address, Call, CallContext, ClientHandshake, DoYouHave, ErrorStage, FrameReader,
        HandshakeConfig, HandshakeStep, IKC_SESSION, LineReader, Message, Post, ProxyPost,
        RECEIPT_PREFIX, Receipt, ReceiptAnswer, ServerHandshake, SessionName, Spec,
    },
    request::{PostKind, pack_parts, unpack},
};

/// The state a Perl peer posts the answer to one of this side's calls to,
/// on the session `IKC`, followed by the call's id.
const REPLY_STATE: &str = "roe-ikc:reply ";

/// Peer sessions remembered for the shape of a post back to them.
const MAX_ORIGINS: usize = 1024;

/// The peer's calls and subscription requests waiting for this side's
/// answer; past this, new ones are refused.
const MAX_WAITING: usize = 65_536;

enum Phase {
    Server(ServerHandshake, LineReader),
    Client(ClientHandshake, LineReader),
    Open(FrameReader),
    /// Between two phases (never seen outside `next_step`).
    Moving,
}

/// What the peer asked that this side has yet to answer.
enum Waiting {
    /// A call: where its answer goes, the caller's context, and the
    /// session called (the answer's `from`).
    Call {
        rsvp: Spec,
        context: Option<CallContext>,
        session: String,
    },
    /// A subscription request: where the receipt goes and what was asked.
    Ask { rsvp: Spec, wanted: Spec },
}

/// One of the peer's requests the dialect refused, having told the peer:
/// what the channel hears of it (as [`Incoming::Refused`]).
struct Refused {
    op: &'static str,
    message: String,
}

/// Perl IKC's dialect on one connection.
pub(super) struct PerlWire {
    ikc: Ikc,
    our_id: String,
    /// The peer's unique ID, once its handshake named it.
    peer_id: String,
    /// Where the peer is, its ID when it named none.
    label: String,
    phase: Phase,
    max_frame: usize,
    waiting: HashMap<u64, Waiting>,
    next_id: u64,
    /// The `from` of the peer's sessions, by how the channel names them:
    /// a post back to one takes the shape Perl sends to it.
    origins: HashMap<SessionRef<'static>, Address>,
    origin_order: VecDeque<SessionRef<'static>>,
}

/// This side's handshake: its kernel ID, then its name and aliases, and
/// (a server's) the address it was reached at, as Perl IKC names itself.
fn config(ikc: &Ikc, local: Option<String>) -> Result<HandshakeConfig, NameError> {
    let mut names = ikc.names();
    names.extend(local);
    HandshakeConfig::new(ikc.kernel_id(), names, std::process::id())
}

impl PerlWire {
    fn new(ikc: &Ikc, label: &str, phase: Phase, max_frame: usize) -> PerlWire {
        PerlWire {
            ikc: ikc.clone(),
            our_id: ikc.kernel_id().to_owned(),
            peer_id: label.to_owned(),
            label: label.to_owned(),
            phase,
            max_frame,
            waiting: HashMap::new(),
            next_id: 1,
            origins: HashMap::new(),
            origin_order: VecDeque::new(),
        }
    }

    /// A server's side, once the client's first line said it is a Perl
    /// peer.
    pub fn server(
        ikc: &Ikc,
        label: &str,
        local: Option<String>,
        max_frame: usize,
    ) -> Result<PerlWire, NameError> {
        let server = ServerHandshake::new(config(ikc, local)?);
        Ok(PerlWire::new(
            ikc,
            label,
            Phase::Server(server, LineReader::new()),
            max_frame,
        ))
    }

    /// A client's side, dialling a Perl server: its first line goes into
    /// `out` at once.
    pub fn client(
        ikc: &Ikc,
        label: &str,
        legacy: bool,
        max_frame: usize,
        out: &mut Outbox,
    ) -> Result<PerlWire, NameError> {
        let (client, first) = if legacy {
            ClientHandshake::start_legacy(config(ikc, None)?)
        } else {
            ClientHandshake::start(config(ikc, None)?)
        };
        push_bytes(out, &first);
        Ok(PerlWire::new(
            ikc,
            label,
            Phase::Client(client, LineReader::new()),
            max_frame,
        ))
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        match &mut self.phase {
            Phase::Server(_, lines) | Phase::Client(_, lines) => lines.feed(bytes),
            Phase::Open(frames) => frames.feed(bytes),
            Phase::Moving => {}
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// The next thing the bytes read hold; what the dialect answers by
    /// itself goes into `out`.
    pub fn next_step(&mut self, out: &mut Outbox) -> Option<Step> {
        loop {
            let step = match &mut self.phase {
                Phase::Server(handshake, lines) => match lines.next_line() {
                    Ok(Some(line)) => handshake.on_line(line),
                    Ok(None) => return None,
                    Err(error) => return Some(Step::Down(format!("a bad line: {error}"))),
                },
                Phase::Client(handshake, lines) => match lines.next_line() {
                    Ok(Some(line)) => handshake.on_line(line),
                    Ok(None) => return None,
                    Err(error) => return Some(Step::Down(format!("a bad line: {error}"))),
                },
                Phase::Open(frames) => {
                    let message = match frames.next_message() {
                        Ok(Some(message)) => message,
                        Ok(None) => return None,
                        Err(error) => {
                            return Some(Step::Down(format!("a bad Perl frame: {error}")));
                        }
                    };
                    match self.incoming(message, out) {
                        Some(step) => return Some(step),
                        None => continue,
                    }
                }
                Phase::Moving => return None,
            };
            match step {
                Ok(HandshakeStep::Continue { send }) => push_bytes(out, &send),
                Ok(HandshakeStep::Done { send, peer }) => {
                    push_bytes(out, &send);
                    let lines = match std::mem::replace(&mut self.phase, Phase::Moving) {
                        Phase::Server(_, lines) | Phase::Client(_, lines) => lines,
                        _ => unreachable!("a handshake was running"),
                    };
                    self.phase = Phase::Open(lines.into_frames(self.max_frame));
                    let mut names = peer.names.clone();
                    if names.is_empty() {
                        // Perl takes the peer's address as its ID then.
                        names.push(self.label.clone());
                    }
                    self.peer_id = names[0].clone();
                    return Some(Step::Up(native::Peer {
                        version: 0,
                        capabilities: 0,
                        kernel_id: self.peer_id.clone(),
                        names,
                        pid: peer.pid.unwrap_or(0),
                        published: Vec::new(),
                    }));
                }
                Err(error) => {
                    return Some(Step::Down(format!("the Perl handshake failed: {error}")));
                }
            }
        }
    }

    /// A message of the peer: what the channel gets, if anything (what
    /// Perl IKC answers on its own is answered here, and a refusal is
    /// reported to the channel as [`Incoming::Refused`]).
    fn incoming(&mut self, message: Message, out: &mut Outbox) -> Option<Step> {
        match self.request(message, out) {
            Ok(step) => step,
            Err(Refused { op, message }) => Some(Step::Frame(Incoming::Refused { op, message })),
        }
    }

    /// [`incoming`](PerlWire::incoming), a refusal as the error.
    fn request(&mut self, message: Message, out: &mut Outbox) -> Result<Option<Step>, Refused> {
        Ok(match message {
            Message::Ping(call) => {
                let pong = Message::reply(
                    call.rsvp,
                    Value::from("PONG"),
                    Some(Address::proxy(self.our_id.as_str(), IKC_SESSION)),
                );
                self.write(&pong, ErrorStage::Invocation, out)?;
                None
            }
            Message::Error(error) => Some(Step::Frame(Incoming::Error {
                op: error.stage.as_str().to_owned(),
                message: error.message,
            })),
            Message::Receipt(receipt) => {
                let id = receipt
                    .to
                    .state
                    .as_deref()
                    .and_then(|s| s.strip_prefix(RECEIPT_PREFIX))
                    .and_then(|n| n.parse().ok());
                let accepted = matches!(receipt.answer, ReceiptAnswer::Accepted { .. });
                id.map(|id| Step::Frame(Incoming::Subscribed { id, accepted }))
            }
            Message::Post(post) => {
                let (session, state) = self.target(&Message::Post(post.clone()), out)?;
                if session == IKC_SESSION
                    && let Some(id) = state.strip_prefix(REPLY_STATE).and_then(|n| n.parse().ok())
                {
                    return Ok(Some(Step::Frame(Incoming::Reply {
                        id,
                        answer: Answer::Returned(post.params),
                    })));
                }
                self.published(&session, &state, &Message::Post(post.clone()), out)?;
                let from = self.origin(post.from);
                Some(Step::Frame(Incoming::Post {
                    to: Target::new(session, state),
                    args: Args::from((post.params,)),
                    from,
                }))
            }
            Message::Proxy(proxy) => {
                let session = proxy.to.session_text().unwrap_or_default();
                let whole = Message::Proxy(proxy.clone());
                self.published(&session, &proxy.state, &whole, out)?;
                let from = self.origin(proxy.from);
                Some(Step::Frame(Incoming::Post {
                    to: Target::new(session, proxy.state),
                    args: proxy.args.into(),
                    from,
                }))
            }
            Message::Call(call) => {
                let whole = Message::Call(call.clone());
                let (session, state) = self.target(&whole, out)?;
                self.published(&session, &state, &whole, out)?;
                let id = self.wait(
                    Waiting::Call {
                        rsvp: call.rsvp,
                        context: call.wantarray,
                        session: session.clone(),
                    },
                    out,
                )?;
                let from = self.origin(call.from);
                Some(Step::Frame(Incoming::Call {
                    id,
                    to: Target::new(session, state),
                    args: Args::from((call.params,)),
                    from,
                    wants_list: Some(call.wantarray.is_some_and(CallContext::is_list)),
                }))
            }
            Message::DoYouHave(ask) => {
                let Some((session, state)) = ask.wanted.specifier().ok().and_then(|wanted| {
                    let state = wanted.state.filter(|s| !s.is_empty());
                    Some((wanted.session?, state))
                }) else {
                    return Ok(None);
                };
                let id = self.wait(
                    Waiting::Ask {
                        rsvp: ask.rsvp,
                        wanted: ask.wanted,
                    },
                    out,
                )?;
                Some(Step::Frame(Incoming::Subscribe { id, session, state }))
            }
        })
    }

    /// The session and state a request names; a request that names none
    /// gets Perl's `request` error.
    fn target(&mut self, message: &Message, out: &mut Outbox) -> Result<(String, String), Refused> {
        let spec = message.target().ok();
        match spec
            .as_ref()
            .and_then(|s| Some((s.session.clone()?, s.state.clone()?)))
        {
            Some(found) => Ok(found),
            None => {
                let text = format!("Invalid request {:?}", message.kind());
                Err(self.refuse(text, None, ErrorStage::Request, out))
            }
        }
    }

    /// Whether `session` published `state`; if not, the peer gets Perl's
    /// own error report, word for word.
    fn published(
        &mut self,
        session: &str,
        state: &str,
        message: &Message,
        out: &mut Outbox,
    ) -> Result<(), Refused> {
        if self.ikc.directory().is_published(session, state) {
            return Ok(());
        }
        let spec = message.target().ok();
        let request = spec
            .as_ref()
            .map(Address::from_specifier)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut text =
            format!("Session '{session}' has not published state '{state}'.  Request {request}");
        if let Some(from) = message.from() {
            text.push_str(&format!(" sent by {from}"));
        }
        let kernel = spec.map(|s| s.kernel.as_str().to_owned());
        Err(self.refuse(text, kernel, ErrorStage::Check, out))
    }

    /// Tells the peer, as Perl would, that one of its requests was
    /// refused.
    fn refuse(
        &mut self,
        text: String,
        kernel: Option<String>,
        stage: ErrorStage,
        out: &mut Outbox,
    ) -> Refused {
        let to = Spec::Hash(Address::remote_error(self.peer_id.as_str()));
        let error = Message::remote_error(to, text.as_str(), kernel, stage);
        match self.write(&error, stage, out) {
            Ok(()) => Refused {
                op: stage.as_str(),
                message: text,
            },
            Err(unwritten) => unwritten,
        }
    }

    /// Keeps what the peer waits for under a fresh id; the peer is told
    /// when too much already waits.
    fn wait(&mut self, waiting: Waiting, out: &mut Outbox) -> Result<u64, Refused> {
        if self.waiting.len() >= MAX_WAITING {
            let text = format!("{MAX_WAITING} requests already wait for an answer");
            return Err(self.refuse(text, None, ErrorStage::Invocation, out));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.insert(id, waiting);
        Ok(id)
    }

    /// The origin the channel is told of, remembering the peer's own
    /// `from` so that a post back to it takes Perl's shape.
    fn origin(&mut self, from: Option<Address>) -> Option<Origin<'static>> {
        let from = from?;
        let session = match from.session.clone()? {
            // A name outside the handshake's rules is no name: its text
            // would be kept here and in the responder's thunks.
            SessionName::Alias(alias) if native::check_name("peer session", &alias).is_err() => {
                return None;
            }
            SessionName::Alias(alias) => SessionRef::Alias(alias.into()),
            SessionName::Id(id) => match u64::try_from(id) {
                Ok(number) => SessionRef::Number(number),
                Err(_) => SessionRef::Alias(id.to_string().into()),
            },
        };
        let state = from.state.clone().filter(|s| !s.is_empty());
        if !self.origins.contains_key(&session) {
            if self.origin_order.len() >= MAX_ORIGINS
                && let Some(oldest) = self.origin_order.pop_front()
            {
                self.origins.remove(&oldest);
            }
            self.origin_order.push_back(session.clone());
        }
        self.origins.insert(session.clone(), from);
        Some(Origin {
            session,
            state: state.map(Into::into),
        })
    }

    /// How Perl is told who sent something: the name the sending session
    /// published, if it published any (Perl IKC sets `from` only then).
    fn sender_address(&self, from: Option<&Origin<'_>>) -> Option<Address> {
        let SessionRef::Number(number) = from?.session else {
            return None;
        };
        let name = self.ikc.directory().published_name(unpack(number))?;
        Some(Address::proxy(self.our_id.as_str(), name))
    }

    /// Arguments as Perl gets them; this side's sessions among them become
    /// specifiers of them.
    fn values(&self, args: &[WireValue<'_>]) -> Vec<Value> {
        let our_id = &self.our_id;
        args.iter()
            .map(|v| {
                v.clone().into_value_with(&mut |kernel, number| {
                    Value::from(format!("poe://{our_id}/{}", pack_parts(kernel, number)))
                })
            })
            .collect()
    }

    /// Writes `frame`, translated into what Perl IKC sends for it; what
    /// Perl has no word for (publishing, pings, goodbyes) is not sent.
    pub fn send(
        &mut self,
        frame: &Frame<'_>,
        kind: PostKind,
        out: &mut Outbox,
    ) -> Result<(), SendError> {
        let message = match frame {
            Frame::Post { to, args, from } => {
                let values = self.values(args);
                let from = self.sender_address(from.as_ref());
                let session = session_name(&to.session);
                let origin = self.origins.get(&to.session.clone().into_owned());
                match (kind, origin) {
                    (PostKind::Back, Some(origin)) => {
                        Message::post_back(origin, to.state.as_ref(), values, from)
                    }
                    (PostKind::Plain | PostKind::Back, _) if values.len() == 1 => {
                        Message::Post(Post {
                            to: Spec::Hash(Address::new(
                                self.peer_id.as_str(),
                                session,
                                to.state.as_ref(),
                            )),
                            params: values.into_iter().next().unwrap_or_default(),
                            from,
                        })
                    }
                    _ => Message::Proxy(ProxyPost {
                        to: Address::proxy(self.peer_id.as_str(), session),
                        state: to.state.to_string(),
                        args: values,
                        from,
                    }),
                }
            }
            Frame::Call { id, to, args, from } => {
                let mut values = self.values(args);
                let params = if values.len() == 1 {
                    values.remove(0)
                } else {
                    Value::List(values)
                };
                Message::Call(Call {
                    to: Spec::Hash(Address::new(
                        self.peer_id.as_str(),
                        session_name(&to.session),
                        to.state.as_ref(),
                    )),
                    params,
                    rsvp: Spec::Hash(Address::new(
                        self.our_id.as_str(),
                        IKC_SESSION,
                        format!("{REPLY_STATE}{id}"),
                    )),
                    wantarray: None,
                    from: self.sender_address(from.as_ref()),
                })
            }
            Frame::Reply { id, outcome } => return self.send_reply(*id, outcome, out),
            Frame::Error { op, message } => {
                let stage = ErrorStage::from_word(op.strip_prefix("local-").unwrap_or(op))
                    .unwrap_or(ErrorStage::Invocation);
                let to = Spec::Hash(Address::remote_error(self.peer_id.as_str()));
                Message::remote_error(to, message.as_ref(), None, stage)
            }
            Frame::Subscribe { id, session, state } => Message::DoYouHave(DoYouHave {
                to: Spec::Hash(Address::new(
                    self.peer_id.as_str(),
                    IKC_SESSION,
                    "do_you_have",
                )),
                wanted: Spec::Hash(Address::new(
                    self.peer_id.as_str(),
                    session.as_ref(),
                    state.as_deref().unwrap_or(""),
                )),
                kernel: self.our_id.clone(),
                rsvp: Spec::Hash(Address::new(
                    self.our_id.as_str(),
                    IKC_SESSION,
                    format!("{RECEIPT_PREFIX}{id}"),
                )),
                from: Some(Address {
                    state: None,
                    ..Address::new(self.our_id.as_str(), IKC_SESSION, "")
                }),
            }),
            Frame::Subscribed { id, accepted } => match self.receipt(*id, *accepted) {
                Some(message) => message,
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        out.push(|buf| message.encode_with_limit(self.max_frame, buf))
            .map_err(|e| SendError::Unsendable(e.to_string()))
    }

    /// Writes the answer to the peer's call `id`, and forgets the call
    /// once it is answered. A value that cannot be written keeps the call
    /// waiting: the channel answers it again, with why it failed (which
    /// ends it either way), so no call is forgotten unanswered, nor kept
    /// once it cannot be answered.
    fn send_reply(
        &mut self,
        id: u64,
        outcome: &Outcome<'_>,
        out: &mut Outbox,
    ) -> Result<(), SendError> {
        let Some(waiting) = self.waiting.get(&id) else {
            return Ok(());
        };
        let written = match self.reply(waiting, outcome) {
            Some(message) => out
                .push(|buf| message.encode_with_limit(self.max_frame, buf))
                .map_err(|e| SendError::Unsendable(e.to_string())),
            None => Ok(()),
        };
        if written.is_ok() || !matches!(outcome, Outcome::Returned(_)) {
            self.waiting.remove(&id);
        }
        written
    }

    /// The answer to the peer's call `waiting`, as Perl sends it: the
    /// value to the RSVP (the list, in list context; nothing for `undef`
    /// or an empty list), or an error report when the call failed.
    fn reply(&self, waiting: &Waiting, outcome: &Outcome<'_>) -> Option<Message> {
        let Waiting::Call {
            rsvp,
            context,
            session,
        } = waiting
        else {
            return None;
        };
        let from = Some(Address::proxy(self.our_id.as_str(), session.as_str()));
        let failed = |why: &str| {
            let to = Spec::Hash(Address::remote_error(self.peer_id.as_str()));
            Some(Message::remote_error(to, why, None, ErrorStage::Invocation))
        };
        match outcome {
            Outcome::Returned(value) => {
                let value = self.values(std::slice::from_ref(value)).remove(0);
                let value = match (context, value) {
                    (Some(CallContext::List), Value::List(list)) if list.is_empty() => {
                        return None;
                    }
                    (Some(CallContext::List), Value::List(list)) => Value::List(list),
                    (Some(CallContext::List), Value::Undef) => return None,
                    (Some(CallContext::List), one) => Value::List(vec![one]),
                    (_, Value::Undef) => return None,
                    (_, one) => one,
                };
                Some(Message::reply(rsvp.clone(), value, from))
            }
            Outcome::NoHandler => failed(&format!("Session '{session}' has no such state")),
            Outcome::NoSession => failed(&format!("Session '{session}' is gone")),
            Outcome::Died(why) | Outcome::Refused(why) => failed(why),
        }
    }

    /// The receipt for the peer's subscription request `id`.
    fn receipt(&mut self, id: u64, accepted: bool) -> Option<Message> {
        let Waiting::Ask { rsvp, wanted } = self.waiting.remove(&id)? else {
            return None;
        };
        let to = match rsvp {
            Spec::Hash(address) => address,
            Spec::Text(text) => Address::from_specifier(&text.parse().ok()?),
        };
        let answer = if accepted {
            let spec = match wanted {
                Spec::Hash(mut address) => {
                    if address.kernel.as_deref().unwrap_or("").is_empty() {
                        address.kernel = Some(self.our_id.clone());
                    }
                    Spec::Hash(address)
                }
                text => text,
            };
            ReceiptAnswer::Accepted {
                spec,
                kernel: self.our_id.clone(),
            }
        } else {
            let asked = wanted
                .specifier()
                .map(|s| Address::from_specifier(&s).to_string())
                .unwrap_or_default();
            ReceiptAnswer::Refused(format!("Refused subscription {asked}"))
        };
        Some(Message::Receipt(Receipt {
            to,
            answer,
            from: Some(Address::proxy(self.our_id.as_str(), IKC_SESSION)),
        }))
    }

    /// Writes an answer of the dialect's own; one that cannot be written
    /// (past the peer's frame limit) is reported to the channel as a
    /// refusal at `stage`.
    fn write(&self, message: &Message, stage: ErrorStage, out: &mut Outbox) -> Result<(), Refused> {
        out.push(|buf| message.encode_with_limit(self.max_frame, buf))
            .map_err(|error| Refused {
                op: stage.as_str(),
                message: format!("an answer to the Perl peer could not be written: {error}"),
            })
    }
}

/// How Perl names a session the channel names.
fn session_name(session: &SessionRef<'_>) -> SessionName {
    match session {
        SessionRef::Alias(alias) => SessionName::Alias(alias.to_string()),
        SessionRef::Number(number) => match i64::try_from(*number) {
            Ok(id) => SessionName::Id(id),
            Err(_) => SessionName::Alias(number.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IkcConfig;

    /// A Perl wire past its handshake in all but name, writing frames up
    /// to `max_frame` bytes.
    fn wire(max_frame: usize) -> PerlWire {
        let ikc = Ikc::new(IkcConfig::new("Here")).unwrap();
        PerlWire::new(&ikc, "127.0.0.1:1", Phase::Moving, max_frame)
    }

    fn call(wire: &mut PerlWire) -> u64 {
        let waiting = Waiting::Call {
            rsvp: Spec::Hash(Address::new("peer", "caller", "answer")),
            context: None,
            session: "echo".into(),
        };
        let mut out = Outbox::default();
        wire.wait(waiting, &mut out).ok().unwrap()
    }

    #[test]
    fn a_call_is_forgotten_once_answered_and_not_before() {
        let mut wire = wire(4096);
        let mut out = Outbox::default();
        // An answer too large for the peer's frames: the call waits on,
        // for the channel's answer saying so.
        let id = call(&mut wire);
        let big = Outcome::Returned(crate::WireValue::Str("x".repeat(10_000).into()));
        let sent = wire.send(
            &Frame::Reply { id, outcome: big },
            PostKind::Plain,
            &mut out,
        );
        assert!(matches!(sent, Err(SendError::Unsendable(_))), "{sent:?}");
        assert!(wire.waiting.contains_key(&id));
        let refused = Outcome::Refused("too large".into());
        let reply = Frame::Reply {
            id,
            outcome: refused,
        };
        wire.send(&reply, PostKind::Plain, &mut out).unwrap();
        assert!(wire.waiting.is_empty());
        assert!(out.waiting() > 0);
        // A failure that cannot be written either ends the call too.
        let id = call(&mut wire);
        let died = Outcome::Died("y".repeat(10_000).into());
        let reply = Frame::Reply { id, outcome: died };
        assert!(wire.send(&reply, PostKind::Plain, &mut out).is_err());
        assert!(wire.waiting.is_empty());
        // So does an answer Perl sends nothing for.
        let id = call(&mut wire);
        let undef = Outcome::Returned(crate::WireValue::Undef);
        let reply = Frame::Reply { id, outcome: undef };
        wire.send(&reply, PostKind::Plain, &mut out).unwrap();
        assert!(wire.waiting.is_empty());
    }
}
