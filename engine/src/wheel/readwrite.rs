//! POE::Wheel::ReadWrite: buffered, filtered I/O on one stream.

use std::{
    cell::RefCell,
    io::{self, ErrorKind, Read, Write},
    os::fd::{AsFd, AsRawFd, RawFd},
    rc::Rc,
};

use super::{WheelId, eof_args, error_args, set_nonblocking};
use crate::{
    error::{Error, Result},
    event::Event,
    filter::{Filter, FilterError},
    kernel::{Context, Io, Readiness, Source, SourceRef},
    reactor::Mode,
    value::Args,
};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read per readiness event, so one busy stream cannot hold a slice;
/// the watcher is level-triggered, so the rest comes next slice.
const READ_BUDGET: usize = 256 * 1024;

/// A stream a wheel can read and write.
pub trait Duplex: Read + Write + AsFd {}

impl<T: Read + Write + AsFd> Duplex for T {}

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
/// `ReadWrite` is a cheap handle: clone it out of the heap to call it while
/// the `Context` is borrowed.
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
    state: RefCell<State<F>>,
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
    stream: Box<dyn Duplex>,
    filter: F,
    /// Encoded output; `output[written..]` is not written yet.
    output: Vec<u8>,
    written: usize,
    events: Events,
    high_mark: Option<usize>,
    low_mark: usize,
    is_high: bool,
    read_buffer: Vec<u8>,
    reading: bool,
}

impl<F> State<F> {
    fn pending(&self) -> usize {
        self.output.len() - self.written
    }

    /// Writes buffered output until it is all written or the stream would
    /// block. `true` when nothing is left.
    fn flush(&mut self) -> io::Result<bool> {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.output.clear();
        self.written = 0;
        Ok(true)
    }

    /// The high- or low-water event a change of buffered output crosses.
    fn watermark(&mut self) -> Option<Event> {
        let high = self.high_mark?;
        let pending = self.pending();
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

/// How a burst of reading ended.
enum Filled {
    /// The stream would block (or the budget ran out).
    More,
    /// End of file.
    Eof,
    /// A read failed.
    Failed(io::Error),
}

impl<F: Filter> State<F> {
    /// Reads what the stream has now, up to the budget, into the filter.
    fn fill(&mut self) -> Filled {
        let mut total = 0;
        while total < READ_BUDGET {
            match self.stream.read(&mut self.read_buffer) {
                Ok(0) => return Filled::Eof,
                Ok(n) => {
                    self.filter.feed(&self.read_buffer[..n]);
                    total += n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Filled::More,
                Err(e) => return Filled::Failed(e),
            }
        }
        Filled::More
    }
}

/// Builds a [`ReadWrite`]: the stream, the filter, and the events to call.
pub struct ReadWriteBuilder<F> {
    stream: Box<dyn Duplex>,
    filter: F,
    events: Events,
    high_mark: Option<usize>,
    low_mark: usize,
}

impl<F: Filter + 'static> ReadWrite<F> {
    /// Starts building a wheel for `stream`, with `filter` for both
    /// directions (POE's `Handle` and `Filter`).
    pub fn builder(stream: impl Duplex + 'static, filter: F) -> ReadWriteBuilder<F> {
        ReadWriteBuilder {
            stream: Box::new(stream),
            filter,
            events: Events::default(),
            high_mark: None,
            low_mark: 0,
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
    pub fn put(&self, record: F::Record) -> Result<(), FilterError> {
        let inner = &self.inner;
        let mut state = inner.state.borrow_mut();
        let State { filter, output, .. } = &mut *state;
        filter.encode(record, output)?;
        if state.pending() > 0 {
            // Written when the running dispatch returns, together with
            // whatever else it puts (`Source::flush`).
            inner.source.flush_later();
        }
        if let Some(event) = state.watermark() {
            inner.source.post_later(event, (inner.id.number(),));
        }
        Ok(())
    }

    /// Bytes written with `put` but not yet taken by the stream (POE's
    /// `get_driver_out_octets`).
    pub fn pending_output(&self) -> usize {
        self.inner.state.borrow().pending()
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
        let state = self.inner.state.borrow();
        let _ = rustix::net::shutdown(state.stream.as_fd(), rustix::net::Shutdown::Read);
        self.inner
            .source
            .pause_later(self.inner.fd, Mode::Read, true);
    }

    /// Shuts the stream down for writing (POE's `shutdown_output`); output
    /// still buffered is dropped, as in POE.
    pub fn shutdown_output(&self) {
        let mut state = self.inner.state.borrow_mut();
        let _ = rustix::net::shutdown(state.stream.as_fd(), rustix::net::Shutdown::Write);
        state.output.clear();
        state.written = 0;
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
    /// output reaches `octets`.
    pub fn high_mark(mut self, octets: usize, event: impl Into<Event>) -> ReadWriteBuilder<F> {
        self.high_mark = Some(octets);
        self.events.high = Some(event.into());
        self
    }

    /// Flow control (POE's `LowMark`/`LowEvent`): `event` once buffered
    /// output falls back to `octets` after reaching the high mark.
    pub fn low_mark(mut self, octets: usize, event: impl Into<Event>) -> ReadWriteBuilder<F> {
        self.low_mark = octets;
        self.events.low = Some(event.into());
        self
    }

    /// Makes the stream non-blocking and starts watching it for the running
    /// session.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the stream cannot be made non-blocking or watched;
    /// [`Error::InvalidArgument`] when the low mark is not below the high
    /// mark.
    pub fn start<H: 'static>(self, cx: &mut Context<'_, H>) -> Result<ReadWrite<F>> {
        if self.high_mark.is_some_and(|high| self.low_mark >= high) {
            return Err(Error::InvalidArgument(
                "the low mark must be below the high mark",
            ));
        }
        set_nonblocking(&self.stream)?;
        let id = WheelId::next();
        let fd = self.stream.as_fd().as_raw_fd();
        let reading = self.events.input.is_some();
        let mut io = cx.io();
        let inner = io.add(|source| Inner {
            id,
            fd,
            source,
            state: RefCell::new(State {
                stream: self.stream,
                filter: self.filter,
                output: Vec::new(),
                written: 0,
                events: self.events,
                high_mark: self.high_mark,
                low_mark: self.low_mark,
                is_high: false,
                read_buffer: vec![0; READ_CHUNK],
                reading,
            }),
        });
        {
            let state = inner.state.borrow();
            if reading {
                io.watch(&inner.source, &state.stream, Mode::Read)?;
            }
            // The write watcher exists from the start, paused until output
            // is buffered (POE's ReadWrite does the same).
            io.watch(&inner.source, &state.stream, Mode::Write)?;
            io.pause(&inner.source, fd, Mode::Write, true);
        }
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

    /// Writes what a handler `put`, once its dispatch has returned.
    fn flush(self: Rc<Self>, io: &mut Io<'_>) {
        let (flushed, events, watermark) = {
            let mut state = self.state.borrow_mut();
            let flushed = state.flush();
            (flushed, state.events, state.watermark())
        };
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

    fn readable(self: Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        let filled = {
            let mut state = self.state.borrow_mut();
            if !state.reading {
                return Ok(());
            }
            state.fill()
        };
        // Records one at a time: a handler may switch filters in between.
        loop {
            if self.is_dropped() {
                return Ok(());
            }
            let (record, events) = {
                let mut state = self.state.borrow_mut();
                (state.filter.next_record(), state.events)
            };
            match record {
                Ok(Some(record)) => {
                    if let Some(event) = events.input {
                        io.emit(event, (F::record_value(record), self.id.number()))?;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    if let Some(event) = events.error {
                        let args = Args::from(("filter", 0, error.to_string(), self.id.number()));
                        io.emit(event, args)?;
                    }
                }
            }
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
        let (flushed, events, watermark) = {
            let mut state = self.state.borrow_mut();
            let flushed = state.flush();
            let watermark = state.watermark();
            (flushed, state.events, watermark)
        };
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
        let _ = self.state.get_mut().flush();
        self.source.remove();
    }
}
