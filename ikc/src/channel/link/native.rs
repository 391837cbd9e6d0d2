//! roe's native wire on a link: the handshake, then speedy frames, each
//! peer frame turned into an [`Incoming`] once.

use roe_engine::{Answer, Args, Value, stream::Outbox};

use super::{Incoming, SendError, Step, push_bytes};
use crate::{
    WireValue,
    native::{
        ClientHandshake, Frame, FrameError, FrameReader, HANDSHAKE_MAX_FRAME, HandshakeConfig,
        HandshakeError, HandshakeStep, Origin, Outcome, ServerHandshake,
    },
};

enum Phase {
    Server(ServerHandshake),
    Client(ClientHandshake),
    Open { peer_id: String },
}

/// The native wire's state on one connection.
pub(super) struct NativeWire {
    reader: FrameReader,
    phase: Phase,
    max_frame: usize,
}

impl NativeWire {
    /// A server's side: the client's magic and `Hello` are next.
    pub fn server(
        handshake: HandshakeConfig,
        max_frame: usize,
    ) -> Result<NativeWire, HandshakeError> {
        Ok(NativeWire {
            reader: FrameReader::after_magic().max_frame(HANDSHAKE_MAX_FRAME),
            phase: Phase::Server(ServerHandshake::new(handshake)?),
            max_frame,
        })
    }

    /// A client's side: its magic and `Hello` go into `out` at once.
    pub fn client(
        handshake: HandshakeConfig,
        max_frame: usize,
        out: &mut Outbox,
    ) -> Result<NativeWire, HandshakeError> {
        let (client, hello) = ClientHandshake::start(handshake)?;
        push_bytes(out, &hello);
        Ok(NativeWire {
            reader: FrameReader::new().max_frame(HANDSHAKE_MAX_FRAME),
            phase: Phase::Client(client),
            max_frame,
        })
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.reader.feed(bytes);
    }

    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// The next thing the bytes read hold, writing what the wire answers
    /// by itself (handshake steps, pongs) into `out`.
    pub fn next_step(&mut self, out: &mut Outbox) -> Option<Step> {
        loop {
            let frame = match self.reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return None,
                Err(error) => return Some(Step::Down(format!("a bad frame: {error}"))),
            };
            match &mut self.phase {
                Phase::Open { peer_id } => match frame {
                    Frame::Ping { id } => {
                        let _ = out.push(|buf| Frame::Pong { id }.encode(buf));
                    }
                    Frame::Pong { .. } | Frame::Unsubscribe { .. } => {}
                    Frame::Goodbye { reason } => {
                        return Some(Step::Down(format!("the peer closed: {reason}")));
                    }
                    Frame::Refused { reason } => {
                        return Some(Step::Down(format!("the peer refused: {reason}")));
                    }
                    Frame::Hello { .. } | Frame::Welcome { .. } | Frame::Proof { .. } => {
                        return Some(Step::Down(format!(
                            "a {} frame after the handshake",
                            frame.kind()
                        )));
                    }
                    other => return Some(Step::Frame(incoming(other, peer_id))),
                },
                phase => {
                    let step = match phase {
                        Phase::Server(server) => server.on_frame(frame),
                        Phase::Client(client) => client.on_frame(frame),
                        Phase::Open { .. } => unreachable!("matched above"),
                    };
                    match step {
                        Ok(HandshakeStep::Continue { send }) => push_bytes(out, &send),
                        Ok(HandshakeStep::Done { send, peer }) => {
                            push_bytes(out, &send);
                            self.reader.set_max_frame(self.max_frame);
                            self.phase = Phase::Open {
                                peer_id: peer.kernel_id.clone(),
                            };
                            return Some(Step::Up(peer));
                        }
                        Err(error) => {
                            if let Some(refusal) = error.refusal() {
                                push_bytes(out, &refusal);
                            }
                            return Some(Step::Down(format!("the handshake failed: {error}")));
                        }
                    }
                }
            }
        }
    }

    /// Writes `frame` into `out`.
    pub fn send(&mut self, frame: &Frame<'_>, out: &mut Outbox) -> Result<(), SendError> {
        out.push(|buf| frame.encode_with_limit(self.max_frame, buf))
            .map_err(|e: FrameError| SendError::Unsendable(e.to_string()))
    }

    /// The goodbye written before closing.
    pub fn goodbye(&mut self, reason: &str, out: &mut Outbox) {
        if self.is_open() {
            let goodbye = Frame::Goodbye {
                reason: reason.into(),
            };
            let _ = out.push(|buf| goodbye.encode(buf));
        }
    }
}

/// A peer's frame as the channel takes it. Sessions of the peer in the
/// arguments become specifiers of them, `poe://<peer ID>/<number>`: a post
/// to one goes back across the link.
fn incoming(frame: Frame<'_>, peer_id: &str) -> Incoming {
    let values = |args: Vec<WireValue<'_>>| -> Args {
        let mut session = |kernel: u16, number: u64| {
            Value::from(format!(
                "poe://{peer_id}/{}",
                crate::request::pack_parts(kernel, number)
            ))
        };
        args.into_iter()
            .map(|v| v.into_value_with(&mut session))
            .collect::<Vec<Value>>()
            .into()
    };
    let strings = |list: Vec<std::borrow::Cow<'_, str>>| -> Vec<String> {
        list.into_iter().map(|s| s.into_owned()).collect()
    };
    match frame {
        Frame::Post { to, args, from } => Incoming::Post {
            to: to.into_owned(),
            args: values(args),
            from: from.map(Origin::into_owned),
        },
        Frame::Call { id, to, args, from } => Incoming::Call {
            id,
            to: to.into_owned(),
            args: values(args),
            from: from.map(Origin::into_owned),
            wants_list: None,
        },
        Frame::Reply { id, outcome } => Incoming::Reply {
            id,
            answer: match outcome {
                Outcome::Returned(value) => {
                    let mut args = values(vec![value]);
                    Answer::Returned(args.take(0))
                }
                Outcome::NoHandler => Answer::NoHandler,
                Outcome::NoSession => Answer::NoSession("no such session on the peer".into()),
                Outcome::Died(message) => Answer::Died(message.into_owned()),
                Outcome::Refused(message) => Answer::Failed(message.into_owned()),
            },
        },
        Frame::Publish { session, states } => Incoming::Publish {
            session: session.into_owned(),
            states: strings(states),
        },
        Frame::Retract { session, states } => Incoming::Retract {
            session: session.into_owned(),
            states: strings(states),
        },
        Frame::Subscribe { id, session, state } => Incoming::Subscribe {
            id,
            session: session.into_owned(),
            state: state.map(|s| s.into_owned()),
        },
        Frame::Subscribed { id, accepted } => Incoming::Subscribed { id, accepted },
        Frame::Error { op, message } => Incoming::Error {
            op: op.into_owned(),
            message: message.into_owned(),
        },
        other => Incoming::Error {
            op: "remote-request".into(),
            message: format!("an unexpected {} frame", other.kind()),
        },
    }
}
