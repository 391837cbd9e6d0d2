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
//! more requests (not answers to the peer's), until the peer has taken
//! what waits; output that makes no progress for the write timeout ends
//! the connection.

mod native;
mod perl;

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

use self::{native::NativeWire, perl::PerlWire};
use crate::{
    ikc::Ikc,
    native::{Frame, Origin, Peer, Target},
    request::PostKind,
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
    /// It accepted the connection: the client's first bytes say which
    /// protocol it speaks, roe's native wire or Perl IKC's.
    Server,
    /// It dialled, speaking this.
    Client(Dialect),
}

/// The protocol a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// roe's native wire.
    Native,
    /// Perl IKC's, with the IKC0 handshake or the legacy one.
    Perl {
        /// The legacy handshake (`HELLO`, `IAM`, ...).
        legacy: bool,
    },
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
        /// A Perl caller's context: whether it wants a list.
        wants_list: Option<bool>,
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
    /// The peer refused one of this side's requests.
    Error {
        op: String,
        message: String,
    },
    /// The link refused one of the peer's requests itself, and told the
    /// peer so (the Perl dialect does, in Perl's words): reported as
    /// `local-<op>`.
    Refused {
        op: &'static str,
        message: String,
    },
}

/// Why [`Link::send`] did not take a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The connection is over or closing.
    Closed,
    /// The peer has not taken what waits: more would pass the bound (an
    /// answer to the peer's own request is never refused for this).
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

/// What the connection speaks, as far as is known.
enum Wire {
    /// A server before the client's first bytes tell.
    Sniffing(Vec<u8>),
    Native(Box<NativeWire>),
    Perl(Box<PerlWire>),
    /// The connection is over.
    Over,
}

impl Wire {
    fn feed(&mut self, bytes: &[u8]) {
        match self {
            Wire::Sniffing(seen) => seen.extend_from_slice(bytes),
            Wire::Native(native) => native.feed(bytes),
            Wire::Perl(perl) => perl.feed(bytes),
            Wire::Over => {}
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Wire::Native(native) => native.is_open(),
            Wire::Perl(perl) => perl.is_open(),
            Wire::Sniffing(_) | Wire::Over => false,
        }
    }
}

struct State {
    out: Outbox,
    wire: Wire,
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
    /// Who this side is, for the handshakes and the Perl dialect.
    ikc: Ikc,
    /// Where the peer is (its `ip:port`), which Perl peers count among
    /// their names.
    label: String,
}

/// What reading found, handled once the state is let go.
pub(super) enum Step {
    Up(Peer),
    Frame(Incoming),
    Down(String),
}

/// This end's address as Perl IKC names a server by it (`ip:port`), for a
/// TCP socket.
fn local_name(stream: &dyn Duplex) -> Option<String> {
    let local = rustix::net::getsockname(stream.as_fd()).ok()?;
    std::net::SocketAddr::try_from(local)
        .ok()
        .map(|addr| addr.to_string())
}

/// Appends bytes made elsewhere (a handshake's) to the output.
pub(super) fn push_bytes(out: &mut Outbox, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let _ = out.push(|buf| {
        buf.extend_from_slice(bytes);
        Ok::<(), std::convert::Infallible>(())
    });
}

impl Link {
    /// Starts the link on `stream` for the running session: it watches the
    /// socket and begins the handshake (a client writes its first bytes).
    pub(crate) fn start<H: 'static>(
        cx: &mut Context<'_, H>,
        stream: Rc<dyn Duplex>,
        side: Side,
        ikc: &Ikc,
        label: &str,
    ) -> Result<Rc<Link>> {
        let config = ikc.config();
        let limits = Limits {
            max_frame: config.max_frame,
            handshake_timeout: config.handshake_timeout,
            max_output: config.max_output,
            write_timeout: config.write_timeout,
        };
        let mut out = Outbox::default();
        let wire = match side {
            Side::Server => Wire::Sniffing(Vec::new()),
            Side::Client(Dialect::Native) => {
                let handshake = ikc
                    .handshake_config()
                    .map_err(|e| roe_engine::Error::Handler(Box::new(e)))?;
                let native = NativeWire::client(handshake, limits.max_frame, &mut out)
                    .map_err(|e| roe_engine::Error::Handler(Box::new(e)))?;
                Wire::Native(Box::new(native))
            }
            Side::Client(Dialect::Perl { legacy }) => {
                let perl = PerlWire::client(ikc, label, legacy, limits.max_frame, &mut out)
                    .map_err(|e| roe_engine::Error::Handler(Box::new(e)))?;
                Wire::Perl(Box::new(perl))
            }
        };
        let fd = stream.as_fd().as_raw_fd();
        let mut io = cx.io();
        let link = io.add(|source| Link {
            source,
            fd,
            stream: Rc::clone(&stream),
            state: RefCell::new(State {
                out,
                wire,
                held: false,
                closing: None,
                reported_down: false,
            }),
            limits,
            progress: Cell::new(Instant::now()),
            timer: Cell::new(None),
            started: Instant::now(),
            ikc: ikc.clone(),
            label: label.to_owned(),
        });
        io.watch(&link.source, stream.clone(), Mode::Read)?;
        io.watch(&link.source, stream, Mode::Write)?;
        io.pause(&link.source, fd, Mode::Write, true);
        let timer = io.delay(&link.source, limits.handshake_timeout)?;
        link.timer.set(Some(timer));
        link.source.flush_later();
        Ok(link)
    }

    /// Queues `frame` for the peer (in the peer's dialect); it is written
    /// at the kernel's next slice, with whatever else the slice's handlers
    /// sent the peer (one write for many frames).
    pub(crate) fn send(&self, frame: &Frame<'_>) -> std::result::Result<(), SendError> {
        self.send_post(frame, PostKind::Plain)
    }

    /// [`send`](Link::send), for a post of the `kind` given (the shape a
    /// Perl peer gets it in).
    pub(crate) fn send_post(
        &self,
        frame: &Frame<'_>,
        kind: PostKind,
    ) -> std::result::Result<(), SendError> {
        let mut state = self.state.borrow_mut();
        if state.closing.is_some() || !state.wire.is_open() {
            return Err(SendError::Closed);
        }
        // Answers to the peer's own requests go past the bound: refusing
        // one would leave the peer waiting for it for ever. They cannot
        // pile up: reading the peer stops at the bound, so no more of its
        // requests come, and a peer that never reads what waits is cut off
        // after the write timeout.
        let answer = matches!(frame, Frame::Reply { .. } | Frame::Subscribed { .. });
        if !answer && state.out.waiting() > self.limits.max_output {
            // Output waits for the slice's end: before refusing, see
            // whether the socket takes it now (and have the write watcher
            // and its timeout armed if it does not).
            let before = state.out.waiting();
            let _ = state.out.write_to(&*self.stream);
            if state.out.waiting() < before {
                self.progress.set(Instant::now());
            }
            self.source.flush_later();
            if state.out.waiting() > self.limits.max_output {
                return Err(SendError::Backlogged);
            }
        }
        let State { out, wire, .. } = &mut *state;
        match wire {
            Wire::Native(native) => native.send(frame, out)?,
            Wire::Perl(perl) => perl.send(frame, kind, out)?,
            Wire::Sniffing(_) | Wire::Over => return Err(SendError::Closed),
        }
        if state.out.waiting() > self.limits.max_output && !state.held {
            // The peer is not keeping up: stop reading it (its requests
            // would add replies) until it has.
            state.held = true;
            self.source.pause_later(self.fd, Mode::Read, true);
        }
        drop(state);
        self.source.flush_soon();
        Ok(())
    }

    /// Whether the peer is behind on its output past the bound.
    pub(crate) fn is_backlogged(&self) -> bool {
        self.state.borrow().out.waiting() > self.limits.max_output
    }

    /// Says goodbye (where the dialect has a way to) and ends the
    /// connection once what waits is written (or the write timeout
    /// passes).
    pub(crate) fn close(&self, reason: &str) {
        let mut state = self.state.borrow_mut();
        if state.closing.is_some() || matches!(state.wire, Wire::Over) {
            return;
        }
        let State { out, wire, .. } = &mut *state;
        if let Wire::Native(native) = wire {
            native.goodbye(reason, out);
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
        state.wire = Wire::Over;
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

    /// The next thing reading found, if any; what the wire answers by
    /// itself goes into the output.
    fn next_step(&self, state: &mut State) -> Option<Step> {
        if let Wire::Sniffing(seen) = &state.wire {
            let seen = seen.clone();
            state.wire = match crate::perl::sniff(&seen) {
                crate::perl::Sniffed::NeedMore => return None,
                crate::perl::Sniffed::Native => match self.ikc.handshake_config() {
                    Ok(handshake) => match NativeWire::server(handshake, self.limits.max_frame) {
                        Ok(native) => Wire::Native(Box::new(native)),
                        Err(error) => return Some(Step::Down(format!("no handshake: {error}"))),
                    },
                    Err(error) => return Some(Step::Down(format!("no handshake: {error}"))),
                },
                crate::perl::Sniffed::Setup | crate::perl::Sniffed::Hello => {
                    let local = local_name(&*self.stream);
                    match PerlWire::server(&self.ikc, &self.label, local, self.limits.max_frame) {
                        Ok(perl) => Wire::Perl(Box::new(perl)),
                        Err(error) => return Some(Step::Down(format!("no handshake: {error}"))),
                    }
                }
                crate::perl::Sniffed::Other => {
                    return Some(Step::Down("not an IKC peer (its first bytes)".into()));
                }
                crate::perl::Sniffed::TooLong => {
                    return Some(Step::Down("a first line past the limit".into()));
                }
            };
            state.wire.feed(&seen);
        }
        let State { out, wire, .. } = state;
        let step = match wire {
            Wire::Native(native) => native.next_step(out),
            Wire::Perl(perl) => perl.next_step(out),
            Wire::Sniffing(_) | Wire::Over => None,
        };
        if out.waiting() > 0 {
            self.source.flush_later();
        }
        step
    }

    fn readable(self: Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        let filled = {
            let mut state = self.state.borrow_mut();
            if state.closing.is_some() || state.held || matches!(state.wire, Wire::Over) {
                return Ok(());
            }
            let wire = &mut state.wire;
            fill(&*self.stream, READ_BUDGET, &mut |bytes| wire.feed(bytes))
        };
        loop {
            let step = {
                let mut state = self.state.borrow_mut();
                if state.closing.is_some() || matches!(state.wire, Wire::Over) {
                    return Ok(());
                }
                self.next_step(&mut state)
            };
            match step {
                None => break,
                Some(Step::Up(peer)) => {
                    if let Some(timer) = self.timer.take() {
                        io.cancel(&self.source, timer);
                    }
                    io.emit(UP, (Value::local(peer),))?;
                }
                Some(Step::Frame(incoming)) => {
                    io.emit(FRAME, (Value::local(incoming),))?;
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
                state.wire.is_open() || matches!(state.wire, Wire::Over),
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
