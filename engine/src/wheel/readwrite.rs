//! POE::Wheel::ReadWrite: buffered, filtered I/O on one stream.

use std::{
    cell::{Cell, RefCell},
    io,
    os::fd::{AsFd, AsRawFd, RawFd},
    rc::Rc,
    time::{Duration, Instant},
};

use super::{
    Next, WheelId, emit_records, eof_args, error_args, filter_error_args, set_nonblocking,
    stream::{Duplex, Filled, Outbox, fill},
};
use crate::{
    error::{Error, Result},
    event::Event,
    filter::{Filter, FilterError},
    id::TimerId,
    kernel::{Context, Io, Readiness, Source, SourceRef},
    reactor::Mode,
};

/// Bytes read per readiness event, so one busy stream cannot hold a slice;
/// the watcher is level-triggered, so the rest comes next slice.
const READ_BUDGET: usize = 256 * 1024;

/// Buffered, filtered I/O on a stream (POE::Wheel::ReadWrite).
///
/// Made with [`ReadWrite::builder`] inside a handler, it reads the stream
/// whenever it is readable, runs the bytes through its [`Filter`], and
/// calls the session's input event once per record with `(record, wheel
/// ID)`. [`put`](ReadWrite::put) encodes records into a buffer that the
/// kernel writes when the running dispatch returns, so all of a handler's
/// output goes out in one write; what the stream refuses waits for the
/// write watcher, which is on only while output is buffered. Errors (and
/// end of file, as a `read` error with errno 0) call the error event with
/// `(operation, errno, message, wheel ID)`. Dropping the last `ReadWrite`
/// value stops everything and closes the stream.
///
/// Memory follows what is waiting: reads go through one buffer per thread
/// (an idle stream holds none), and written output is freed as it goes.
/// With a [`write_timeout`](ReadWriteBuilder::write_timeout), output that
/// makes no progress for that long is an error (`"write"`, `ETIMEDOUT`).
/// A regular file is always ready, as POE's `select` finds it: the wheel
/// reads it a chunk per slice.
///
/// `ReadWrite` is a cheap handle: clone it out of the heap to call it while
/// the `Context` is borrowed.
///
/// # Examples
///
/// POE's "one session, many wheels keyed by wheel ID": a session that
/// talks over both ends of a socket pair, finding each wheel by the ID its
/// events carry.
///
/// ```
/// use std::{collections::HashMap, os::unix::net::UnixStream};
/// use roe_engine::{Kernel, Line, ReadWrite, Session, WheelId};
///
/// #[derive(Default)]
/// struct Heap { wheels: HashMap<WheelId, ReadWrite<Line>>, heard: Vec<String> }
///
/// let (left, right) = UnixStream::pair()?;
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(Heap::default())
///         .on_start(move |cx, _| {
///             for stream in [left, right] {
///                 let wheel = ReadWrite::builder(stream, Line::new())
///                     .input("got")
///                     .error("gone")
///                     .start(cx)?;
///                 cx.heap.wheels.insert(wheel.id(), wheel);
///             }
///             let first = cx.heap.wheels.values().next().cloned().expect("two wheels");
///             first.put(b"hello".to_vec())?;
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("got", |cx, args| {
///             let id = WheelId::from_value(&args[1]).expect("ARG1 is the wheel");
///             cx.heap.heard.push(format!("{}", args[0]));
///             // Everything is said: dropping the wheels ends the session.
///             cx.heap.wheels.remove(&id);
///             cx.heap.wheels.clear();
///         })
///         .on("gone", |_, _| {})
///         .on("_stop", |cx, _| assert_eq!(cx.heap.heard, ["hello"])),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
///
/// Differences from POE: writing starts when the dispatch that put the
/// output returns rather than at the next slice's write watcher; a buffer
/// emptied by that first write reports the flushed event as a queued event
/// rather than a call, and the high- and low-water events are queued too
/// (POE calls them from inside `put`); filter errors (an oversized line,
/// say) call the error event with the operation `filter` and errno 0, and
/// reading goes on.
pub struct ReadWrite<F: Filter> {
    inner: Rc<Inner<F>>,
}

impl<F: Filter> Clone for ReadWrite<F> {
    fn clone(&self) -> ReadWrite<F> {
        ReadWrite {
            inner: Rc::clone(&self.inner),
        }
    }
}

struct Inner<F: Filter> {
    id: WheelId,
    fd: RawFd,
    source: SourceRef,
    stream: Rc<dyn Duplex>,
    state: RefCell<State<F>>,
    /// Output waits without progress for at most this long.
    write_timeout: Option<Duration>,
    /// When output last made progress (or began to wait).
    progress: Cell<Instant>,
    /// The pending write-timeout check.
    timer: Cell<Option<TimerId>>,
}

/// The events a `ReadWrite` calls.
#[derive(Clone, Copy, Default)]
struct Events {
    input: Option<Event>,
    error: Option<Event>,
    flushed: Option<Event>,
    high: Option<Event>,
    low: Option<Event>,
}

struct State<F> {
    filter: F,
    output: Outbox,
    events: Events,
    high_mark: Option<usize>,
    low_mark: usize,
    is_high: bool,
    reading: bool,
    /// Stop reading while output is at the high mark (see
    /// `ReadWriteBuilder::pause_input_while_high`).
    hold_input_when_high: bool,
}

impl<F> State<F> {
    /// Whether reading waits for output to drain.
    fn input_held(&self) -> bool {
        self.hold_input_when_high && self.is_high
    }

    /// The high- or low-water event a change of buffered output crosses.
    fn watermark(&mut self) -> Option<Event> {
        let high = self.high_mark?;
        let pending = self.output.waiting();
        if !self.is_high && pending >= high {
            self.is_high = true;
            self.events.high
        } else if self.is_high && pending <= self.low_mark {
            self.is_high = false;
            self.events.low
        } else {
            None
        }
    }
}

/// Builds a [`ReadWrite`]: the stream, the filter, and the events to call.
///
/// # Examples
///
/// Flow control on a stream whose reader is slow: the wheel stops reading
/// while 64 KiB of output wait, and a stalled write is an error after a
/// second.
///
/// ```
/// use std::{os::unix::net::UnixStream, time::Duration};
/// use roe_engine::{Block, Kernel, ReadWrite, Session};
///
/// let (ours, _theirs) = UnixStream::pair()?;
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on_start(move |cx, _| {
///     let wheel = ReadWrite::builder(ours, Block::fixed(4))
///         .input("record")
///         .error("failed")
///         .high_mark(64 * 1024, "full")
///         .low_mark(16 * 1024, "drained")
///         .pause_input_while_high()
///         .write_timeout(Duration::from_secs(1))
///         .start(cx)?;
///     wheel.put(b"ping".to_vec())?;
///     Ok::<_, roe_engine::Error>(())
/// }))?;
/// // The session dropped its wheel at once; nothing keeps the kernel.
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct ReadWriteBuilder<F> {
    stream: Rc<dyn Duplex>,
    filter: F,
    events: Events,
    high_mark: Option<usize>,
    low_mark: Option<usize>,
    write_timeout: Option<Duration>,
    hold_input_when_high: bool,
}

impl<F: Filter + 'static> ReadWrite<F> {
    /// Starts building a wheel for `stream`, with `filter` for both
    /// directions (POE's `Handle` and `Filter`).
    pub fn builder(stream: impl Duplex + 'static, filter: F) -> ReadWriteBuilder<F> {
        ReadWriteBuilder {
            stream: Rc::new(stream),
            filter,
            events: Events::default(),
            high_mark: None,
            low_mark: None,
            write_timeout: None,
            hold_input_when_high: false,
        }
    }

    /// This wheel's ID (POE's `ID`), the last argument of its events.
    pub fn id(&self) -> WheelId {
        self.inner.id
    }

    /// Encodes `record` and writes it, buffering what the stream does not
    /// take at once (POE's `put`). Data is never lost or reordered by a
    /// partial write.
    ///
    /// # Errors
    ///
    /// The filter's refusal to encode the record; nothing is buffered then.
    pub fn put(&self, record: impl Into<F::Record>) -> Result<(), FilterError> {
        let inner = &self.inner;
        let mut state = inner.state.borrow_mut();
        let State { filter, output, .. } = &mut *state;
        let was_waiting = output.waiting() > 0;
        output.push(|buf| filter.encode(record.into(), buf))?;
        if state.output.waiting() > 0 {
            if !was_waiting {
                inner.progress.set(Instant::now());
            }
            // Written when the running dispatch returns, together with
            // whatever else it puts (`Source::flush`).
            inner.source.flush_later();
        }
        let crossed = state.watermark();
        if state.input_held() {
            // Stop now: the rest of this read's records are still handled,
            // but no more is read until the output drains.
            inner.source.pause_later(inner.fd, Mode::Read, true);
        }
        if let Some(event) = crossed {
            inner.source.post_later(event, (inner.id.number(),));
        }
        Ok(())
    }

    /// Bytes written with `put` but not yet taken by the stream (POE's
    /// `get_driver_out_octets`).
    pub fn pending_output(&self) -> usize {
        self.inner.state.borrow().output.waiting()
    }

    /// Stops reading, keeping the watcher and its hold on the session (POE's
    /// `pause_input`): the kernel applies it after the running handler.
    pub fn pause_input(&self) {
        self.inner
            .source
            .pause_later(self.inner.fd, Mode::Read, true);
    }

    /// Reads again after [`pause_input`](ReadWrite::pause_input) (POE's
    /// `resume_input`).
    pub fn resume_input(&self) {
        self.inner
            .source
            .pause_later(self.inner.fd, Mode::Read, false);
    }

    /// Shuts the stream down for reading (POE's `shutdown_input`).
    pub fn shutdown_input(&self) {
        let _ = rustix::net::shutdown(self.inner.stream.as_fd(), rustix::net::Shutdown::Read);
        self.inner
            .source
            .pause_later(self.inner.fd, Mode::Read, true);
    }

    /// Shuts the stream down for writing (POE's `shutdown_output`); output
    /// still buffered is dropped, as in POE.
    pub fn shutdown_output(&self) {
        let _ = rustix::net::shutdown(self.inner.stream.as_fd(), rustix::net::Shutdown::Write);
        self.inner.state.borrow_mut().output.clear();
        self.inner
            .source
            .pause_later(self.inner.fd, Mode::Write, true);
    }

    /// Switches filters mid-stream (POE's `set_filter`): bytes read but not
    /// yet parsed go to the new filter, so nothing is lost.
    pub fn set_filter(&self, mut filter: F) {
        let mut state = self.inner.state.borrow_mut();
        let pending = state.filter.take_pending();
        filter.feed(&pending);
        state.filter = filter;
    }

    /// Renames the input event (POE's `event(InputEvent => ...)`).
    pub fn set_input_event(&self, event: Option<Event>) {
        self.inner.state.borrow_mut().events.input = event;
    }

    /// Renames the error event.
    pub fn set_error_event(&self, event: Option<Event>) {
        self.inner.state.borrow_mut().events.error = event;
    }

    /// Renames the flushed event.
    pub fn set_flushed_event(&self, event: Option<Event>) {
        self.inner.state.borrow_mut().events.flushed = event;
    }
}

impl<F: Filter + 'static> ReadWriteBuilder<F> {
    /// The event called once per input record: `(record, wheel ID)`.
    pub fn input(mut self, event: impl Into<Event>) -> ReadWriteBuilder<F> {
        self.events.input = Some(event.into());
        self
    }

    /// The event called on errors: `(operation, errno, message, wheel ID)`;
    /// end of file is `("read", 0, "", ID)`.
    pub fn error(mut self, event: impl Into<Event>) -> ReadWriteBuilder<F> {
        self.events.error = Some(event.into());
        self
    }

    /// The event called when buffered output has all been written:
    /// `(wheel ID)`.
    pub fn flushed(mut self, event: impl Into<Event>) -> ReadWriteBuilder<F> {
        self.events.flushed = Some(event.into());
        self
    }

    /// Flow control (POE's `HighMark`/`HighEvent`): `event` once buffered
    /// output reaches `octets`. Needs a [`low_mark`](Self::low_mark), as
    /// POE's does.
    pub fn high_mark(mut self, octets: usize, event: impl Into<Event>) -> ReadWriteBuilder<F> {
        self.high_mark = Some(octets);
        self.events.high = Some(event.into());
        self
    }

    /// Flow control (POE's `LowMark`/`LowEvent`): `event` once buffered
    /// output falls back to `octets` after reaching the high mark. Needs a
    /// [`high_mark`](Self::high_mark), as POE's does.
    pub fn low_mark(mut self, octets: usize, event: impl Into<Event>) -> ReadWriteBuilder<F> {
        self.low_mark = Some(octets);
        self.events.low = Some(event.into());
        self
    }

    /// Stops reading while output is at or over the high mark, and reads
    /// again once it is down to the low mark, by itself and at once (not
    /// when the high- and low-water events are handled): a peer that does
    /// not read what it asks for cannot make the wheel hold more than the
    /// high mark and one read's worth of answers. Needs the marks.
    pub fn pause_input_while_high(mut self) -> ReadWriteBuilder<F> {
        self.hold_input_when_high = true;
        self
    }

    /// Output that waits this long without any of it being written is an
    /// error: the error event gets `("write", ETIMEDOUT, ...)`, as for a
    /// failed write. Off by default, as in POE.
    pub fn write_timeout(mut self, timeout: Duration) -> ReadWriteBuilder<F> {
        self.write_timeout = Some(timeout);
        self
    }

    /// Makes the stream non-blocking and starts watching it for the running
    /// session.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the stream cannot be made non-blocking or watched;
    /// [`Error::InvalidArgument`] for a high mark without a low mark or the
    /// reverse (POE refuses either alone), or a low mark not below the high
    /// mark.
    pub fn start<H: 'static>(self, cx: &mut Context<'_, H>) -> Result<ReadWrite<F>> {
        let (high_mark, low_mark) = match (self.high_mark, self.low_mark) {
            (None, None) => (None, 0),
            (Some(high), Some(low)) if low < high => (Some(high), low),
            (Some(_), Some(_)) => {
                return Err(Error::InvalidArgument(
                    "the low mark must be below the high mark",
                ));
            }
            (Some(_), None) => {
                return Err(Error::InvalidArgument("a high mark needs a low mark"));
            }
            (None, Some(_)) => {
                return Err(Error::InvalidArgument("a low mark needs a high mark"));
            }
        };
        set_nonblocking(&self.stream.as_fd())?;
        let id = WheelId::next();
        let fd = self.stream.as_fd().as_raw_fd();
        let reading = self.events.input.is_some();
        let stream = self.stream;
        let mut io = cx.io();
        let inner = io.add(|source| Inner {
            id,
            fd,
            source,
            stream: Rc::clone(&stream),
            state: RefCell::new(State {
                filter: self.filter,
                output: Outbox::default(),
                events: self.events,
                high_mark,
                low_mark,
                is_high: false,
                reading,
                hold_input_when_high: self.hold_input_when_high && high_mark.is_some(),
            }),
            write_timeout: self.write_timeout,
            progress: Cell::new(Instant::now()),
            timer: Cell::new(None),
        });
        if reading {
            io.watch(&inner.source, stream.clone(), Mode::Read)?;
        }
        // The write watcher exists from the start, paused until output is
        // buffered (POE's ReadWrite does the same).
        io.watch(&inner.source, stream, Mode::Write)?;
        io.pause(&inner.source, fd, Mode::Write, true);
        Ok(ReadWrite { inner })
    }
}

impl<F: Filter + 'static> Source for Inner<F> {
    fn ready(self: Rc<Self>, io: &mut Io<'_>, ready: Readiness) -> Result<()> {
        match ready.mode {
            Mode::Read => self.readable(io),
            Mode::Write => self.writable(io),
            Mode::Expedite => Ok(()),
        }
    }

    /// The write-timeout check: output that made no progress since the
    /// last check for the whole timeout is an error.
    fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> Result<()> {
        self.timer.set(None);
        let Some(timeout) = self.write_timeout else {
            return Ok(());
        };
        if self.state.borrow().output.waiting() == 0 {
            return Ok(());
        }
        let stalled = self.progress.get().elapsed();
        if stalled < timeout {
            let timer = io.delay(&self.source, timeout - stalled)?;
            self.timer.set(Some(timer));
            return Ok(());
        }
        // The peer takes nothing: what waits is dropped with the stream.
        self.state.borrow_mut().output.clear();
        io.pause(&self.source, self.fd, Mode::Write, true);
        let error = self.state.borrow().events.error;
        match error {
            Some(event) if !self.is_dropped() => {
                let timed_out = io::Error::from(rustix::io::Errno::TIMEDOUT);
                io.emit(event, error_args("write", &timed_out, self.id))
                    .map(drop)
            }
            _ => Ok(()),
        }
    }

    /// Writes what a handler `put`, once its dispatch has returned.
    fn flush(self: Rc<Self>, io: &mut Io<'_>) {
        let (flushed, events, watermark) = self.write_out();
        let id = self.id.number();
        // Output written here can fall below the low mark as well as when
        // the descriptor is writable later. No handler of the session runs
        // now, so these events are queued.
        if let Some(event) = watermark {
            io.post(event, (id,));
        }
        match flushed {
            Ok(true) => {
                if let Some(event) = events.flushed {
                    io.post(event, (id,));
                }
            }
            Ok(false) => {
                io.pause(&self.source, self.fd, Mode::Write, false);
                self.arm_write_timeout(io);
            }
            Err(e) => {
                if let Some(event) = events.error {
                    io.post(event, error_args("write", &e, self.id));
                }
            }
        }
    }
}

impl<F: Filter + 'static> Inner<F> {
    /// Whether only the kernel's dispatch still holds this wheel: the
    /// session dropped it, so no more of its events should run.
    fn is_dropped(self: &Rc<Self>) -> bool {
        Rc::strong_count(self) == 1
    }

    /// Writes what waits, noting progress: the write's outcome, the events,
    /// and the watermark event the change crosses.
    fn write_out(&self) -> (io::Result<bool>, Events, Option<Event>) {
        let mut state = self.state.borrow_mut();
        let before = state.output.waiting();
        let held = state.input_held();
        let flushed = state.output.write_to(&*self.stream);
        if state.output.waiting() < before {
            self.progress.set(Instant::now());
        }
        let watermark = state.watermark();
        if held && !state.input_held() && state.reading {
            self.source.pause_later(self.fd, Mode::Read, false);
        }
        (flushed, state.events, watermark)
    }

    /// Starts watching for a stalled write, if a timeout is set and no
    /// check is pending.
    fn arm_write_timeout(&self, io: &mut Io<'_>) {
        if let Some(timeout) = self.write_timeout
            && self.timer.get().is_none()
            && let Ok(timer) = io.delay(&self.source, timeout)
        {
            self.timer.set(Some(timer));
        }
    }

    fn readable(self: Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        let filled = {
            let mut state = self.state.borrow_mut();
            if !state.reading || state.input_held() {
                return Ok(());
            }
            let filter = &mut state.filter;
            fill(&*self.stream, READ_BUDGET, &mut |bytes| filter.feed(bytes))
        };
        emit_records(
            io,
            self.id,
            || !self.is_dropped(),
            || {
                let mut state = self.state.borrow_mut();
                Next {
                    record: state.filter.next_record().map(|r| r.map(F::record_value)),
                    on_record: state.events.input,
                    on_error: state.events.error,
                }
            },
            |error| filter_error_args(error, self.id),
        )?;
        if self.is_dropped() {
            return Ok(());
        }
        let failure = match filled {
            Filled::More => return Ok(()),
            Filled::Eof => eof_args(self.id),
            Filled::Failed(e) => error_args("read", &e, self.id),
        };
        // After an error or end of file POE stops reading.
        self.state.borrow_mut().reading = false;
        io.unwatch(&self.source, self.fd, Mode::Read);
        let error = self.state.borrow().events.error;
        if let Some(event) = error.filter(|_| !self.is_dropped()) {
            io.emit(event, failure)?;
        }
        Ok(())
    }

    fn writable(self: Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        let (flushed, events, watermark) = self.write_out();
        if let Some(event) = watermark {
            io.emit(event, (self.id.number(),))?;
        }
        match flushed {
            Ok(false) => Ok(()),
            Ok(true) => {
                io.pause(&self.source, self.fd, Mode::Write, true);
                match events.flushed {
                    Some(event) if !self.is_dropped() => {
                        io.emit(event, (self.id.number(),)).map(drop)
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => {
                io.pause(&self.source, self.fd, Mode::Write, true);
                match events.error {
                    Some(event) if !self.is_dropped() => {
                        io.emit(event, error_args("write", &e, self.id)).map(drop)
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

impl<F: Filter> Drop for Inner<F> {
    fn drop(&mut self) {
        // A last try at output still buffered; what the stream does not
        // take now is lost with the wheel, as in POE.
        let _ = self.state.get_mut().output.write_to(&*self.stream);
        self.source.remove();
    }
}
