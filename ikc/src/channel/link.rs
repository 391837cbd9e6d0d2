//! [`Link`]: one connection's socket as an I/O source: the handshake, the
//! frames both ways, and the bounds that keep a peer from costing more
//! than it should.
//!
//! The link does the transport's part alone (answering pings, the
//! handshake, reading limits, buffering output) and reports the rest to
//! its channel session by emitting events: [`UP`] with the [`Peer`] once
//! the handshake is done, [`FRAME`] with each request as an [`Incoming`]
//! (its values read out of the read buffer once, into the arguments the
//! receiving handler gets), and [`DOWN`] with the reason, once, when the
//! connection is over.
//!
//! Output is bounded: past the channel's limit the link stops reading the
//! peer (its own requests would add replies) and [`Link::send`] refuses
//! more, until the peer has taken what waits; output that makes no
//! progress for the write timeout ends the connection.

use std::{
    cell::{Cell, RefCell},
    os::fd::{AsFd, AsRawFd, RawFd},
    rc::Rc,
    time::{Duration, Instant},
};

use roe_engine::{
    Answer, Args, Context, Io, Mode, Readiness, Result, Source, SourceRef, TimerId, Value,
    stream::{Duplex, Filled, Outbox, fill},
};

use crate::{
    WireValue,
    native::{
        ClientHandshake, Frame, FrameError, FrameReader, HANDSHAKE_MAX_FRAME, HandshakeConfig,
        HandshakeError, HandshakeStep, Origin, Outcome, ServerHandshake, Target,
    },
};

/// The channel's event: the handshake is done (`ARG0` the [`Peer`]).
pub(crate) const UP: &str = "roe-ikc:up";
/// The channel's event: a frame came (`ARG0` an [`Incoming`]).
pub(crate) const FRAME: &str = "roe-ikc:frame";
/// The channel's event: the connection is over (`ARG0` why).
pub(crate) const DOWN: &str = "roe-ikc:down";

/// Bytes read per readiness event, so one busy peer cannot hold a slice.
const READ_BUDGET: usize = 256 * 1024;

/// Which end of the connection this is.
pub(crate) enum Side {
    /// It accepted the connection: it waits for the client's magic.
    Server,
    /// It dialled.
    Client,
}

/// A connection's limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_frame: usize,
    pub handshake_timeout: Duration,
    pub max_output: usize,
    pub write_timeout: Duration,
}

/// A peer's frame, owned, with its values turned into arguments.
#[derive(Debug)]
pub(crate) enum Incoming {
    Post {
        to: Target<'static>,
        args: Args,
        from: Option<Origin<'static>>,
    },
    Call {
        id: u64,
        to: Target<'static>,
        args: Args,
        from: Option<Origin<'static>>,
    },
    Reply {
        id: u64,
        answer: Answer,
    },
    Publish {
        session: String,
        states: Vec<String>,
    },
    Retract {
        session: String,
        states: Vec<String>,
    },
    Subscribe {
        id: u64,
        session: String,
        state: Option<String>,
    },
    Subscribed {
        id: u64,
        accepted: bool,
    },
    Error {
        op: String,
        message: String,
    },
}

/// Why [`Link::send`] did not take a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The connection is over or closing.
    Closed,
    /// The peer has not taken what waits: more would pass the bound.
    Backlogged,
    /// The frame is larger than the peer accepts, or holds a value that
    /// cannot cross a process.
    Unsendable(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closed"),
            SendError::Backlogged => f.write_str("the peer is not reading what it was sent"),
            SendError::Unsendable(why) => f.write_str(why),
        }
    }
}

enum Phase {
    Server(ServerHandshake),
    Client(ClientHandshake),
    Open { peer_id: String },
    Over,
}

struct State {
    reader: FrameReader,
    out: Outbox,
    phase: Phase,
    /// Reading stopped for the output bound.
    held: bool,
    /// Closing: nothing more is read or taken; the link ends once what
    /// waits is written.
    closing: Option<String>,
    reported_down: bool,
}

/// One connection's socket, as the channel session's I/O source.
pub(crate) struct Link {
    source: SourceRef,
    fd: RawFd,
    stream: Rc<dyn Duplex>,
    state: RefCell<State>,
    limits: Limits,
    /// When output last made progress.
    progress: Cell<Instant>,
    /// The pending check of the handshake's or the output's time.
    timer: Cell<Option<TimerId>>,
    started: Instant,
}

/// What reading found, handled once the state is let go.
enum Step {
    Emit(&'static str, Value),
    Down(String),
}

impl Link {
    /// Starts the link on `stream` for the running session: it watches the
    /// socket and begins the handshake (a client writes its `Hello`).
    pub(crate) fn start<H: 'static>(
        cx: &mut Context<'_, H>,
        stream: Rc<dyn Duplex>,
        side: Side,
        handshake: HandshakeConfig,
        limits: Limits,
    ) -> Result<Rc<Link>> {
        let handshake_error = |e: HandshakeError| roe_engine::Error::Handler(Box::new(e));
        let mut out = Outbox::default();
        let (phase, reader) = match side {
            Side::Server => (
                Phase::Server(ServerHandshake::new(handshake).map_err(handshake_error)?),
                FrameReader::after_magic(),
            ),
            Side::Client => {
                let (client, hello) = ClientHandshake::start(handshake).map_err(handshake_error)?;
                let _ = out.push(|buf| {
                    buf.extend_from_slice(&hello);
                    Ok::<(), std::convert::Infallible>(())
                });
                (Phase::Client(client), FrameReader::new())
            }
        };
        let fd = stream.as_fd().as_raw_fd();
        let mut io = cx.io();
        let link = io.add(|source| Link {
            source,
            fd,
            stream: Rc::clone(&stream),
            state: RefCell::new(State {
                reader: reader.max_frame(HANDSHAKE_MAX_FRAME),
                out,
                phase,
                held: false,
                closing: None,
                reported_down: false,
            }),
            limits,
            progress: Cell::new(Instant::now()),
            timer: Cell::new(None),
            started: Instant::now(),
        });
        io.watch(&link.source, stream.clone(), Mode::Read)?;
        io.watch(&link.source, stream, Mode::Write)?;
        io.pause(&link.source, fd, Mode::Write, true);
        let timer = io.delay(&link.source, limits.handshake_timeout)?;
        link.timer.set(Some(timer));
        link.source.flush_later();
        Ok(link)
    }

    /// Queues `frame` for the peer; it is written once the running
    /// dispatch returns.
    pub(crate) fn send(&self, frame: &Frame<'_>) -> std::result::Result<(), SendError> {
        let mut state = self.state.borrow_mut();
        if state.closing.is_some() || !matches!(state.phase, Phase::Open { .. }) {
            return Err(SendError::Closed);
        }
        if state.out.waiting() > self.limits.max_output {
            return Err(SendError::Backlogged);
        }
        state
            .out
            .push(|buf| frame.encode_with_limit(self.limits.max_frame, buf))
            .map_err(|e: FrameError| SendError::Unsendable(e.to_string()))?;
        if state.out.waiting() > self.limits.max_output && !state.held {
            // The peer is not keeping up: stop reading it (its requests
            // would add replies) until it has.
            state.held = true;
            self.source.pause_later(self.fd, Mode::Read, true);
        }
        drop(state);
        self.source.flush_later();
        Ok(())
    }

    /// Whether the peer is behind on its output past the bound.
    pub(crate) fn is_backlogged(&self) -> bool {
        self.state.borrow().out.waiting() > self.limits.max_output
    }

    /// Says goodbye and ends the connection once what waits is written
    /// (or the write timeout passes).
    pub(crate) fn close(&self, reason: &str) {
        let mut state = self.state.borrow_mut();
        if state.closing.is_some() || matches!(state.phase, Phase::Over) {
            return;
        }
        if matches!(state.phase, Phase::Open { .. }) {
            let goodbye = Frame::Goodbye {
                reason: reason.into(),
            };
            let _ = state.out.push(|buf| goodbye.encode(buf));
        }
        state.closing = Some(reason.to_owned());
        drop(state);
        self.source.pause_later(self.fd, Mode::Read, true);
        self.source.flush_later();
    }

    /// Ends the connection now: nothing more is read or written, and the
    /// channel hears `reason` (through `post` when `queued`, as inside a
    /// flush, where no handler of the session may run).
    fn down(&self, io: &mut Io<'_>, reason: String, queued: bool) -> Result<()> {
        let mut state = self.state.borrow_mut();
        if state.reported_down {
            return Ok(());
        }
        state.reported_down = true;
        state.phase = Phase::Over;
        // A last try at what waits (a refusal, a goodbye).
        let _ = state.out.write_to(&*self.stream);
        state.out.clear();
        drop(state);
        io.unwatch(&self.source, self.fd, Mode::Read);
        io.unwatch(&self.source, self.fd, Mode::Write);
        if let Some(timer) = self.timer.take() {
            io.cancel(&self.source, timer);
        }
        let _ = rustix::net::shutdown(self.stream.as_fd(), rustix::net::Shutdown::Both);
        if queued {
            io.post(DOWN, (reason,));
            Ok(())
        } else {
            io.emit(DOWN, (reason,)).map(drop)
        }
    }

    /// The next thing reading found, if any.
    fn next_step(&self, state: &mut State) -> Option<Step> {
        let State {
            reader, out, phase, ..
        } = state;
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return None,
                Err(error) => return Some(Step::Down(format!("a bad frame: {error}"))),
            };
            match phase {
                Phase::Open { peer_id } => match frame {
                    Frame::Ping { id } => {
                        let _ = out.push(|buf| Frame::Pong { id }.encode(buf));
                        self.source.flush_later();
                    }
                    Frame::Pong { .. } => {}
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
                    Frame::Unsubscribe { .. } => {}
                    other => {
                        let incoming = incoming(other, peer_id);
                        return Some(Step::Emit(FRAME, Value::local(incoming)));
                    }
                },
                Phase::Server(_) | Phase::Client(_) => {
                    let step = match phase {
                        Phase::Server(server) => server.on_frame(frame),
                        Phase::Client(client) => client.on_frame(frame),
                        _ => unreachable!("matched just above"),
                    };
                    match step {
                        Ok(HandshakeStep::Continue { send }) => {
                            let _ = out.push(|buf| {
                                buf.extend_from_slice(&send);
                                Ok::<(), std::convert::Infallible>(())
                            });
                            self.source.flush_later();
                        }
                        Ok(HandshakeStep::Done { send, peer }) => {
                            let _ = out.push(|buf| {
                                buf.extend_from_slice(&send);
                                Ok::<(), std::convert::Infallible>(())
                            });
                            self.source.flush_later();
                            reader.set_max_frame(self.limits.max_frame);
                            *phase = Phase::Open {
                                peer_id: peer.kernel_id.clone(),
                            };
                            return Some(Step::Emit(UP, Value::local(peer)));
                        }
                        Err(error) => {
                            if let Some(refusal) = error.refusal() {
                                let _ = out.push(|buf| {
                                    buf.extend_from_slice(&refusal);
                                    Ok::<(), std::convert::Infallible>(())
                                });
                            }
                            return Some(Step::Down(format!("the handshake failed: {error}")));
                        }
                    }
                }
                Phase::Over => return None,
            }
        }
    }

    fn readable(self: Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        let filled = {
            let mut state = self.state.borrow_mut();
            if state.closing.is_some() || state.held || matches!(state.phase, Phase::Over) {
                return Ok(());
            }
            let reader = &mut state.reader;
            fill(&*self.stream, READ_BUDGET, &mut |bytes| reader.feed(bytes))
        };
        loop {
            let step = {
                let mut state = self.state.borrow_mut();
                if state.closing.is_some() || matches!(state.phase, Phase::Over) {
                    return Ok(());
                }
                self.next_step(&mut state)
            };
            match step {
                None => break,
                Some(Step::Emit(event, value)) => {
                    if event == UP
                        && let Some(timer) = self.timer.take()
                    {
                        io.cancel(&self.source, timer);
                    }
                    io.emit(event, (value,))?;
                }
                Some(Step::Down(reason)) => return self.down(io, reason, false),
            }
        }
        match filled {
            Filled::More => Ok(()),
            Filled::Eof => self.down(io, "the peer closed the connection".into(), false),
            Filled::Failed(error) => self.down(io, format!("read: {error}"), false),
        }
    }

    /// Writes what waits, noting progress; `Ok(true)` when nothing waits.
    fn write_out(&self) -> std::io::Result<bool> {
        let mut state = self.state.borrow_mut();
        let before = state.out.waiting();
        let written = state.out.write_to(&*self.stream);
        if state.out.waiting() < before {
            self.progress.set(Instant::now());
        }
        if state.held && state.out.waiting() <= self.limits.max_output / 2 {
            state.held = false;
            self.source.pause_later(self.fd, Mode::Read, false);
        }
        written
    }

    /// After a write: watch for room while output waits, and end a closing
    /// link once it has all gone.
    fn after_write(
        &self,
        io: &mut Io<'_>,
        written: std::io::Result<bool>,
        queued: bool,
    ) -> Result<()> {
        match written {
            Ok(true) => {
                io.pause(&self.source, self.fd, Mode::Write, true);
                let closing = self.state.borrow().closing.clone();
                match closing {
                    Some(reason) => self.down(io, reason, queued),
                    None => Ok(()),
                }
            }
            Ok(false) => {
                io.pause(&self.source, self.fd, Mode::Write, false);
                if self.timer.get().is_none()
                    && let Ok(timer) = io.delay(&self.source, self.limits.write_timeout)
                {
                    self.timer.set(Some(timer));
                }
                Ok(())
            }
            Err(error) => self.down(io, format!("write: {error}"), queued),
        }
    }
}

impl Source for Link {
    fn ready(self: Rc<Self>, io: &mut Io<'_>, ready: Readiness) -> Result<()> {
        match ready.mode {
            Mode::Read => self.readable(io),
            Mode::Write => {
                let written = self.write_out();
                self.after_write(io, written, false)
            }
            Mode::Expedite => Ok(()),
        }
    }

    /// The handshake's time, or the output's: a peer that has not finished
    /// its handshake, or has taken nothing of what waits for the write
    /// timeout, is cut off.
    fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> Result<()> {
        self.timer.set(None);
        let (open, waiting) = {
            let state = self.state.borrow();
            (
                matches!(state.phase, Phase::Open { .. } | Phase::Over),
                state.out.waiting(),
            )
        };
        if !open {
            let reason = format!(
                "the peer did not finish its handshake in {:?}",
                self.limits.handshake_timeout
            );
            tracing::warn!(after = ?self.started.elapsed(), "IKC: {reason}");
            return self.down(io, reason, false);
        }
        if waiting == 0 {
            return Ok(());
        }
        let stalled = self.progress.get().elapsed();
        if stalled < self.limits.write_timeout {
            let timer = io.delay(&self.source, self.limits.write_timeout - stalled)?;
            self.timer.set(Some(timer));
            return Ok(());
        }
        let reason = format!(
            "the peer took none of {waiting} bytes for {:?}",
            self.limits.write_timeout
        );
        tracing::warn!("IKC: {reason}; cut off");
        self.down(io, reason, false)
    }

    fn flush(self: Rc<Self>, io: &mut Io<'_>) {
        if self.state.borrow().reported_down {
            return;
        }
        let written = self.write_out();
        let _ = self.after_write(io, written, true);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.source.remove();
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
