//! [`Conn`]: one client's connection, on any of the three ports, as an
//! I/O source of the server's session.
//!
//! A connection reads what the client sends through one [`LineReader`]
//! (lines of at most [`MAX_LINE`](crate::MAX_LINE) bytes, split at
//! newlines outside quotes), hands each line to its port's part
//! ([`Role`]), and writes what that part owes through one
//! [`Outbox`], adding to it only while it holds less than the configured
//! bound. Its life:
//!
//! - **open**: lines are read and answered;
//! - **closing**: no more lines are taken (what comes is read and
//!   dropped); what is owed is written: a refusal, the rest of a find
//!   answer;
//! - **lingering**: everything is written and the write side shut; the
//!   server reads and drops what the client still sends, until the client
//!   closes or the linger time passes, so that the client gets the last
//!   line rather than a reset;
//! - **over**: the session drops the connection (the `CLOSED` event).
//!
//! Three clocks watch it: a client of the new port must register, and a
//! client of the find port send its query, within the first-line timeout;
//! output must make progress within the write timeout; and lingering ends
//! with the linger time. One source timer at a time serves all three: it
//! is set for the nearest deadline, and looks at all of them when it is
//! due.
//!
//! Progress is real progress: the client takes everything that waits, or
//! at least the configured minimum of bytes, within each write timeout.
//! Taking a byte now and then does not count, so a client cannot hold an
//! answer (and the lines it keeps alive) for ever. What an answer holds
//! is bounded too: a find or a watch's first listing of more than the
//! configured bytes is refused before anything is written.

use std::cell::{Cell, RefCell};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use roe_engine::stream::{Filled, Outbox, fill};
use roe_engine::{Io, Mode, Readiness, Source, SourceRef, TimerId};

use super::config::Limits;
use super::core::{Core, Listing, Wake};
use super::feed::{Feed, push_line};
use super::registration::Registration;
use crate::error::{Error, Result};
use crate::line::{EventLine, LineReader, Port, Refusal, parse_find};
use crate::owner::OwnerId;

/// The session's event: a connection is over (`ARG0` its number).
pub(super) const CLOSED: &str = "roe-registry:closed";
/// The session's event: a change waits to be written to the state file.
pub(super) const SAVE_SOON: &str = "roe-registry:save-soon";

/// Bytes read per readiness event, so that one client that sends fast
/// cannot hold a slice.
const READ_BUDGET: usize = 64 * 1024;

/// The most a closing connection reads and drops of what its client goes
/// on sending before it is ended without more ado.
const DISCARD_MAX: usize = 1024 * 1024;

/// The reason a new-port client that does not register in time is given.
const TIMEOUT: &str = "timeout";

/// One client's connection.
pub(super) struct Conn {
    id: u64,
    port: Port,
    me: SourceRef,
    fd: RawFd,
    stream: Rc<TcpStream>,
    peer: String,
    core: Rc<RefCell<Core>>,
    limits: Limits,
    state: RefCell<State>,
    opened: Instant,
    /// When the current window for output to make progress began: when
    /// output last drained, began to wait, or was taken by enough bytes.
    progress: Cell<Instant>,
    /// Bytes the client has taken since `progress`.
    taken: Cell<usize>,
    /// The pending source timer, and when it is due.
    timer: Cell<Option<(TimerId, Instant)>>,
    /// Set by the core when it wakes the connection after changes.
    woken: Rc<Cell<bool>>,
}

struct State {
    reader: LineReader,
    out: Outbox,
    role: Role,
    phase: Phase,
    /// The client has closed its side.
    eof: bool,
    /// Bytes read and dropped since the connection stopped taking lines.
    discarded: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    Closing,
    Lingering(Instant),
    Over,
}

/// What one port does with a connection's lines.
enum Role {
    New(Registration),
    Find(Answer),
    Event(Feed),
}

/// A connection to the find port: its query, then its answer.
#[derive(Default)]
struct Answer {
    asked: bool,
    lines: Listing,
    /// The answer was too large to hold: the connection is reset rather
    /// than closed, so that the client sees an error, not an empty answer.
    reset: bool,
}

impl Answer {
    /// The query: the answer is the lines of the services that match now;
    /// a query that cannot be read gets none, and an answer past
    /// `max_answer` bytes none and a reset.
    fn ask(&mut self, core: &Core, line: &[u8], max_answer: usize) -> Result<()> {
        if std::mem::replace(&mut self.asked, true) {
            return Ok(());
        }
        self.lines = core
            .find(&parse_find(line)?, max_answer)
            .inspect_err(|_| self.reset = true)?;
        Ok(())
    }
}

impl Role {
    /// A line from the client; `Err` when the connection is to close, with
    /// what the client is told already in `out` (a find connection closes
    /// after its one query, with `Err(None)`).
    fn line(
        &mut self,
        core: &RefCell<Core>,
        out: &mut Outbox,
        limits: &Limits,
        line: &[u8],
    ) -> Result<(), Option<Error>> {
        match self {
            Role::New(registration) => match registration.line(&mut core.borrow_mut(), line) {
                Ok(answer) => {
                    if let Some(answer) = answer {
                        push_line(out, answer);
                    }
                    Ok(())
                }
                Err(error) => {
                    push_line(out, Refusal::from(&error));
                    Err(Some(error))
                }
            },
            Role::Find(answer) => Err(answer.ask(&core.borrow(), line, limits.max_answer).err()),
            Role::Event(feed) => {
                feed.line(line, &core.borrow(), limits.max_answer)
                    .map_err(|error| {
                        push_line(out, EventLine::Error(error.reason().to_owned()));
                        Some(error)
                    })
            }
        }
    }

    /// The client's line is too long to read: the connection ends, with
    /// an error line where the port has them.
    fn refuse(&mut self, out: &mut Outbox, error: &Error) {
        match self {
            Role::New(_) => push_line(out, Refusal::from(error)),
            Role::Find(answer) => answer.asked = true,
            Role::Event(_) => push_line(out, EventLine::Error(error.reason().to_owned())),
        }
    }

    /// The client closed its side while the connection was open, with
    /// `last` a line it did not end with a newline. `false` when the
    /// connection ends at once (nothing more is owed).
    fn input_ended(
        &mut self,
        core: &RefCell<Core>,
        out: &mut Outbox,
        limits: &Limits,
        last: Option<&[u8]>,
    ) -> bool {
        match self {
            Role::New(_) => {
                if let Some(last) = last {
                    let _ = self.line(core, out, limits, last);
                }
                true
            }
            Role::Find(answer) => {
                // No query at all asks for every service, as registry(4)'s
                // bridge does.
                let _ = answer.ask(&core.borrow(), last.unwrap_or_default(), limits.max_answer);
                true
            }
            Role::Event(_) => false,
        }
    }

    /// The first line did not come in time.
    fn timed_out(&mut self, out: &mut Outbox) {
        match self {
            Role::New(_) => push_line(
                out,
                Refusal {
                    reason: TIMEOUT.into(),
                },
            ),
            Role::Find(answer) => answer.asked = true,
            Role::Event(_) => {}
        }
    }

    /// Whether the connection waits for its first line, under the
    /// first-line timeout.
    fn is_awaiting(&self) -> bool {
        match self {
            Role::New(registration) => !registration.is_registered(),
            Role::Find(answer) => !answer.asked,
            Role::Event(_) => false,
        }
    }

    /// Whether the connection ends with a reset rather than a close.
    fn is_reset(&self) -> bool {
        matches!(self, Role::Find(answer) if answer.reset)
    }

    /// Whether something is owed beyond what `out` holds.
    fn has_more(&self) -> bool {
        match self {
            Role::Find(answer) => !answer.lines.is_empty(),
            Role::New(_) | Role::Event(_) => false,
        }
    }

    /// Adds what is owed to `out`, up to the bound; whether it added
    /// anything.
    fn pump(&mut self, core: &Core, out: &mut Outbox, limits: &Limits, open: bool) -> Result<bool> {
        match self {
            Role::Find(answer) => {
                let mut added = false;
                while out.waiting() < limits.max_output {
                    let Some(line) = answer.lines.pop() else {
                        break;
                    };
                    push_line(out, line);
                    added = true;
                }
                Ok(added)
            }
            Role::Event(feed) if open => {
                feed.pump(core, out, limits.max_output, limits.sync_interval)
            }
            // With an etcd backend a refusal can come after the line.
            Role::New(registration) if open => match core.refusal(registration.owner()) {
                Some(error) => Err(error),
                None => Ok(false),
            },
            Role::New(_) | Role::Event(_) => Ok(false),
        }
    }
}

/// What a timer found due.
enum Due {
    FirstLine,
    Write(usize),
    Linger,
}

impl Conn {
    /// Starts a connection accepted on `port` for the running session: it
    /// watches the socket, and on the event port writes `READY` at once.
    ///
    /// # Errors
    ///
    /// The socket cannot be made non-blocking or watched.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start(
        io: &mut Io<'_>,
        id: u64,
        port: Port,
        stream: TcpStream,
        peer: String,
        core: Rc<RefCell<Core>>,
        limits: Limits,
    ) -> roe_engine::Result<Rc<Conn>> {
        stream.set_nonblocking(true)?;
        let stream = Rc::new(stream);
        let fd = stream.as_raw_fd();
        let mut out = Outbox::default();
        let role = match port {
            Port::New => Role::New(Registration::new(OwnerId::new(id))),
            Port::Find => Role::Find(Answer::default()),
            Port::Event => {
                // Watching starts before READY is written, so no change
                // after it is missed.
                push_line(&mut out, EventLine::Ready);
                Role::Event(Feed::new(&core.borrow()))
            }
        };
        let now = Instant::now();
        let conn = io.add(|me| Conn {
            id,
            port,
            me,
            fd,
            stream: Rc::clone(&stream),
            peer,
            core,
            limits,
            state: RefCell::new(State {
                reader: LineReader::new(),
                out,
                role,
                phase: Phase::Open,
                eof: false,
                discarded: 0,
            }),
            opened: now,
            progress: Cell::new(now),
            taken: Cell::new(0),
            timer: Cell::new(None),
            woken: Rc::new(Cell::new(false)),
        });
        io.watch(&conn.me, Rc::clone(&stream) as Rc<_>, Mode::Read)?;
        io.watch(&conn.me, stream as Rc<_>, Mode::Write)?;
        io.pause(&conn.me, fd, Mode::Write, true);
        if port == Port::New {
            conn.core
                .borrow_mut()
                .hold(OwnerId::new(id), conn.me.clone());
        }
        if port == Port::Event {
            let wake = Wake {
                source: conn.me.clone(),
                pending: Rc::clone(&conn.woken),
            };
            conn.core.borrow_mut().watch(id, wake);
        }
        tracing::debug!(connection = id, peer = %conn.peer, %port, "registry: connected");
        conn.drive(io);
        Ok(conn)
    }

    /// Reads what the client sent, up to the budget.
    fn readable(&self, io: &mut Io<'_>) {
        if self.state.borrow().phase == Phase::Over {
            return;
        }
        let filled = fill(&*self.stream, READ_BUDGET, &mut |bytes| self.input(bytes));
        let flooding = self.state.borrow().discarded > DISCARD_MAX;
        match filled {
            _ if flooding => {
                return self.end(io, "the client goes on sending after its last line");
            }
            Filled::More => {}
            Filled::Eof => self.input_ended(io),
            Filled::Failed(error) => return self.end(io, &format!("read: {error}")),
        }
        self.after_changes(io);
        self.drive(io);
    }

    /// Takes the lines in `bytes`, while the connection is open; drops
    /// them after.
    fn input(&self, bytes: &[u8]) {
        let mut state = self.state.borrow_mut();
        let State {
            reader,
            out,
            role,
            phase,
            discarded,
            ..
        } = &mut *state;
        let mut rest = bytes;
        if *phase != Phase::Open {
            *discarded += rest.len();
        }
        while *phase == Phase::Open {
            match reader.read_line(&mut rest) {
                Ok(Some(line)) => {
                    if let Err(error) = role.line(&self.core, out, &self.limits, line) {
                        self.closing(phase, error.as_ref());
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    role.refuse(out, &error);
                    self.closing(phase, Some(&error));
                }
            }
            if *phase != Phase::Open {
                *discarded += rest.len();
            }
        }
    }

    /// No more lines: what is owed is written, then the connection
    /// closes; `why` is the error that closes it, if any.
    fn closing(&self, phase: &mut Phase, why: Option<&Error>) {
        *phase = Phase::Closing;
        if let Some(why) = why {
            tracing::debug!(connection = self.id, peer = %self.peer, port = %self.port, "registry: refused: {why}");
        }
    }

    /// The client closed its side.
    fn input_ended(&self, io: &mut Io<'_>) {
        io.unwatch(&self.me, self.fd, Mode::Read);
        let end_now = {
            let mut state = self.state.borrow_mut();
            state.eof = true;
            let State {
                reader,
                out,
                role,
                phase,
                ..
            } = &mut *state;
            match *phase {
                Phase::Open => {
                    let owed = role.input_ended(&self.core, out, &self.limits, reader.finish());
                    *phase = Phase::Closing;
                    !owed
                }
                Phase::Lingering(_) => true,
                Phase::Closing | Phase::Over => false,
            }
        };
        if end_now {
            self.end(io, "the client closed the connection");
        }
    }

    /// Adds what is owed and writes, until the client takes no more or
    /// nothing more is owed; then closes, lingers or waits, as the phase
    /// says.
    fn drive(&self, io: &mut Io<'_>) {
        // What follows catches up with the store as it is now; a change
        // after it wakes the connection again.
        self.woken.set(false);
        loop {
            let added = {
                let mut state = self.state.borrow_mut();
                let state = &mut *state;
                if state.phase == Phase::Over {
                    return;
                }
                if state.out.waiting() == 0 {
                    self.made_progress();
                }
                let open = state.phase == Phase::Open;
                let core = self.core.borrow();
                match state.role.pump(&core, &mut state.out, &self.limits, open) {
                    Ok(added) => added,
                    Err(error) => {
                        push_line(&mut state.out, EventLine::Error(error.reason().to_owned()));
                        self.closing(&mut state.phase, Some(&error));
                        true
                    }
                }
            };
            match self.write_out() {
                Err(error) => return self.end(io, &format!("write: {error}")),
                Ok(false) => {
                    io.pause(&self.me, self.fd, Mode::Write, false);
                    return self.arm(io);
                }
                Ok(true) if !added => break,
                Ok(true) => {}
            }
        }
        io.pause(&self.me, self.fd, Mode::Write, true);
        let (done, eof, reset) = {
            let state = self.state.borrow();
            (
                state.phase == Phase::Closing && !state.role.has_more(),
                state.eof,
                state.role.is_reset(),
            )
        };
        if done {
            if reset {
                return self.reset(io, "reset: the answer is larger than the server holds");
            }
            if eof || self.limits.linger.is_zero() {
                return self.end(io, "closed");
            }
            // The client gets our last line, then the end of the stream.
            let _ = self.stream.shutdown(Shutdown::Write);
            self.state.borrow_mut().phase = Phase::Lingering(Instant::now() + self.limits.linger);
        }
        self.arm(io);
    }

    /// Writes what waits; `Ok(true)` when nothing does.
    fn write_out(&self) -> std::io::Result<bool> {
        let mut state = self.state.borrow_mut();
        let before = state.out.waiting();
        let written = state.out.write_to(&*self.stream);
        let after = state.out.waiting();
        if after < before {
            let taken = self.taken.get() + (before - after);
            if after == 0 || taken >= self.limits.min_progress {
                self.made_progress();
            } else {
                self.taken.set(taken);
            }
        }
        written
    }

    /// Output drained, or the client took enough: a new window begins.
    fn made_progress(&self) {
        self.progress.set(Instant::now());
        self.taken.set(0);
    }

    /// The nearest deadline the connection has.
    fn deadline(&self) -> Option<Instant> {
        let state = self.state.borrow();
        let first_line = (state.phase == Phase::Open && state.role.is_awaiting())
            .then(|| self.opened + self.limits.first_line_timeout);
        let linger = match state.phase {
            Phase::Lingering(at) => Some(at),
            _ => None,
        };
        let write =
            (state.out.waiting() > 0).then(|| self.progress.get() + self.limits.write_timeout);
        [first_line, linger, write].into_iter().flatten().min()
    }

    /// Sets the timer for the nearest deadline, unless one is set for it
    /// or earlier.
    fn arm(&self, io: &mut Io<'_>) {
        let Some(at) = self.deadline() else {
            return;
        };
        if let Some((timer, due)) = self.timer.get() {
            if due <= at {
                return;
            }
            io.cancel(&self.me, timer);
            self.timer.set(None);
        }
        if let Ok(timer) = io.delay(&self.me, at.saturating_duration_since(Instant::now())) {
            self.timer.set(Some((timer, at)));
        }
    }

    /// What is due now, if anything.
    fn due(&self) -> Option<Due> {
        let now = Instant::now();
        let state = self.state.borrow();
        let waiting = state.out.waiting();
        if waiting > 0 && now >= self.progress.get() + self.limits.write_timeout {
            return Some(Due::Write(waiting));
        }
        match state.phase {
            Phase::Lingering(at) if now >= at => Some(Due::Linger),
            Phase::Open
                if state.role.is_awaiting()
                    && now >= self.opened + self.limits.first_line_timeout =>
            {
                Some(Due::FirstLine)
            }
            _ => None,
        }
    }

    /// Ends the connection with a reset: the client reads an error, not
    /// the end of the stream (a find whose answer is too large, which
    /// would otherwise look like an answer of no services).
    fn reset(&self, io: &mut Io<'_>, why: &str) {
        let _ = rustix::net::sockopt::set_socket_linger(&*self.stream, Some(Duration::ZERO));
        self.finish(io, why, false);
    }

    /// Ends the connection now: its services go (unless they persist), it
    /// stops watching, and the session is told to drop it.
    fn end(&self, io: &mut Io<'_>, why: &str) {
        self.finish(io, why, true);
    }

    /// [`end`](Conn::end), with the socket shut both ways (`shut`), or left
    /// for closing to reset.
    fn finish(&self, io: &mut Io<'_>, why: &str, shut: bool) {
        {
            let mut state = self.state.borrow_mut();
            if state.phase == Phase::Over {
                return;
            }
            state.phase = Phase::Over;
            state.out.clear();
            match &state.role {
                Role::New(registration) => {
                    self.core.borrow_mut().remove_owner(registration.owner());
                }
                Role::Event(_) => self.core.borrow_mut().unwatch(self.id),
                Role::Find(_) => {}
            }
        }
        io.unwatch(&self.me, self.fd, Mode::Read);
        io.unwatch(&self.me, self.fd, Mode::Write);
        if let Some((timer, _)) = self.timer.take() {
            io.cancel(&self.me, timer);
        }
        if shut {
            let _ = self.stream.shutdown(Shutdown::Both);
        }
        tracing::debug!(connection = self.id, peer = %self.peer, port = %self.port, "registry: over: {why}");
        self.after_changes(io);
        io.post(CLOSED, (i64::try_from(self.id).unwrap_or(i64::MAX),));
    }

    /// Asks the session to schedule a save of the state file, if a change
    /// needs one.
    fn after_changes(&self, io: &mut Io<'_>) {
        if self.core.borrow_mut().wants_save() {
            io.post(SAVE_SOON, ());
        }
    }
}

impl Source for Conn {
    fn ready(self: Rc<Self>, io: &mut Io<'_>, ready: Readiness) -> roe_engine::Result<()> {
        if Rc::strong_count(&self) == 1 {
            return Ok(());
        }
        match ready.mode {
            Mode::Read => self.readable(io),
            Mode::Write => self.drive(io),
            Mode::Expedite => {}
        }
        Ok(())
    }

    fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> roe_engine::Result<()> {
        self.timer.set(None);
        match self.due() {
            Some(Due::Write(waiting)) => {
                let why = format!(
                    "cut off: the client took {} of {waiting} bytes in {:?}, less than {}",
                    self.taken.get(),
                    self.limits.write_timeout,
                    self.limits.min_progress,
                );
                tracing::info!(connection = self.id, peer = %self.peer, port = %self.port, "registry: {why}");
                self.end(io, &why);
            }
            Some(Due::Linger) => self.end(io, "closed"),
            Some(Due::FirstLine) => {
                {
                    let mut state = self.state.borrow_mut();
                    let State {
                        out, role, phase, ..
                    } = &mut *state;
                    role.timed_out(out);
                    *phase = Phase::Closing;
                }
                tracing::debug!(connection = self.id, peer = %self.peer, port = %self.port, "registry: no first line in time");
                self.drive(io);
            }
            None => self.arm(io),
        }
        Ok(())
    }

    /// The core woke the connection after changes (an event-port
    /// connection catches up).
    fn flush(self: Rc<Self>, io: &mut Io<'_>) {
        if Rc::strong_count(&self) > 1 {
            self.drive(io);
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.me.remove();
    }
}
