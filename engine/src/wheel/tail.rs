//! POE::Wheel::FollowTail: following a growing file, like `tail -f`.

use std::{
    cell::RefCell,
    fs::{File, OpenOptions},
    io::{self, ErrorKind},
    os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
    rc::Rc,
    time::Duration,
};

use rustix::fs::OFlags;

use super::{Decoder, WheelId, error_args, filter_error_args};
use crate::{
    error::{Error, Result},
    event::Event,
    filter::{Filter, Line},
    id::TimerId,
    kernel::{Context, Io, Readiness, Source, SourceRef},
};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read per poll; with more waiting, the next poll comes at once
/// (POE yields rather than waiting the interval).
const READ_BUDGET: usize = 256 * 1024;
/// POE's default `PollInterval`.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Follows a file by path as it grows (POE::Wheel::FollowTail).
///
/// Made with [`FollowTail::builder`] inside a handler, it checks the file
/// every poll interval (a timer; 1 s by default, POE's `PollInterval`),
/// reads what was appended, runs it through its filter ([`Line`] by
/// default) and calls the input event once per record with `(record, wheel
/// ID)`. It starts at the end of the file, so only records appended after
/// it started arrive, unless told to [`seek`](FollowTailBuilder::seek) or
/// [`seek_back`](FollowTailBuilder::seek_back).
///
/// When the file at the path is shorter than the position read so far
/// (truncated), or is a different file (rotated: renamed away and
/// recreated), the reset event gets `(wheel ID)` and reading starts again
/// from the beginning of the file now at the path. On rotation the rest of
/// the old file is read first, so records written just before it moved are
/// not lost. While nothing is at the path (between the rename and the
/// creation), the old file is still followed. A file that does not exist
/// yet is waited for and read from its beginning once it appears. Failures
/// call the error event with `(operation, errno, message, wheel ID)`
/// (`open`, `stat`, `read`, or `filter` with errno 0), once per distinct
/// failure; polling goes on. The optional idle event gets `(wheel ID)`
/// after a poll that found nothing new (POE's `IdleEvent`).
///
/// Dropping the wheel stops it; its pending poll timer is removed by an
/// event it posts to the session, in the next slice.
///
/// Differences from POE: only regular files named by a path are followed
/// (POE also reads an open handle, FIFOs and other special files with
/// `select`); on rotation the rest of the old file is read before the
/// reset (POE switches files at once); the partial record left when the
/// file is reset is dropped, so it cannot join the first record of the new
/// contents; a file that appears after the wheel started is not reported as
/// a reset; the default start is the end of the file, where POE seeks 4096
/// bytes back and throws that partial input away, which comes to the same.
pub struct FollowTail {
    inner: Rc<Inner>,
}

/// Builds a [`FollowTail`]: the path, filter, interval, start and events.
pub struct FollowTailBuilder {
    path: PathBuf,
    input: Event,
    filter: Box<dyn Decoder>,
    poll_interval: Duration,
    start: Start,
    reset: Option<Event>,
    error: Option<Event>,
    idle: Option<Event>,
}

/// Where reading starts in a file that exists when the wheel starts.
#[derive(Clone, Copy)]
enum Start {
    End,
    /// Bytes from the beginning (POE's `Seek`).
    Seek(u64),
    /// Bytes back from the end (POE's `SeekBack`).
    SeekBack(u64),
}

struct Inner {
    id: WheelId,
    source: SourceRef,
    state: RefCell<State>,
}

struct State {
    path: PathBuf,
    /// The file followed, with its device and inode.
    file: Option<(File, (u64, u64))>,
    /// Bytes of the current file read so far.
    position: u64,
    filter: Box<dyn Decoder>,
    poll_interval: Duration,
    events: Events,
    timer: Option<TimerId>,
    /// The last failure reported, so a lasting one is reported once.
    last_failure: Option<(&'static str, i32)>,
    buffer: Vec<u8>,
}

#[derive(Clone, Copy)]
struct Events {
    input: Event,
    reset: Option<Event>,
    error: Option<Event>,
    idle: Option<Event>,
}

/// What a poll found, in the order to act on it.
enum Found {
    /// Records (or filter errors) read.
    Records,
    Reset,
    /// Start over at position 0, on a new file if one is given.
    Restart(Option<(File, (u64, u64))>),
    Failure(&'static str, io::Error),
}

impl FollowTail {
    /// Starts building a wheel that follows the file at `path`, calling
    /// `input` per record (POE's `Filename` and `InputEvent`).
    pub fn builder(path: impl Into<PathBuf>, input: impl Into<Event>) -> FollowTailBuilder {
        FollowTailBuilder {
            path: path.into(),
            input: input.into(),
            filter: Box::new(Line::new()),
            poll_interval: DEFAULT_POLL_INTERVAL,
            start: Start::End,
            reset: None,
            error: None,
            idle: None,
        }
    }

    /// This wheel's ID (POE's `ID`), the last argument of its events.
    pub fn id(&self) -> WheelId {
        self.inner.id
    }

    /// The position in the current file up to which it has been read
    /// (POE's `tell`).
    pub fn tell(&self) -> u64 {
        self.inner.state.borrow().position
    }

    /// The path followed.
    pub fn path(&self) -> PathBuf {
        self.inner.state.borrow().path.clone()
    }
}

impl FollowTailBuilder {
    /// The filter that parses the file (POE's `Filter`; default [`Line`]).
    pub fn filter(mut self, filter: impl Filter + 'static) -> FollowTailBuilder {
        self.filter = Box::new(filter);
        self
    }

    /// How often the file is checked (POE's `PollInterval`; default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> FollowTailBuilder {
        self.poll_interval = interval;
        self
    }

    /// Starts reading `offset` bytes into the file (POE's `Seek`), or at its
    /// end if it is shorter.
    pub fn seek(mut self, offset: u64) -> FollowTailBuilder {
        self.start = Start::Seek(offset);
        self
    }

    /// Starts reading `bytes` before the end of the file (POE's
    /// `SeekBack`), or at its beginning if it is shorter.
    pub fn seek_back(mut self, bytes: u64) -> FollowTailBuilder {
        self.start = Start::SeekBack(bytes);
        self
    }

    /// The event called when the file was truncated or replaced: `(wheel
    /// ID)` (POE's `ResetEvent`).
    pub fn reset(mut self, event: impl Into<Event>) -> FollowTailBuilder {
        self.reset = Some(event.into());
        self
    }

    /// The event called on failures: `(operation, errno, message, wheel
    /// ID)` (POE's `ErrorEvent`).
    pub fn error(mut self, event: impl Into<Event>) -> FollowTailBuilder {
        self.error = Some(event.into());
        self
    }

    /// The event called after a poll that found nothing new: `(wheel ID)`
    /// (POE's `IdleEvent`).
    pub fn idle(mut self, event: impl Into<Event>) -> FollowTailBuilder {
        self.idle = Some(event.into());
        self
    }

    /// Opens the file if it exists, positions the wheel, and starts polling
    /// for the running session. A failure to open an existing file is
    /// reported to the error event by the first poll.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when the path names a directory, a FIFO or
    /// another file that is not a regular one.
    pub fn start<H: 'static>(self, cx: &mut Context<'_, H>) -> Result<FollowTail> {
        if std::fs::metadata(&self.path).is_ok_and(|meta| !meta.is_file()) {
            return Err(Error::InvalidArgument(
                "FollowTail follows regular files, not directories or special files",
            ));
        }
        let (file, position) = match open(&self.path) {
            Ok(Some((file, meta))) => {
                let len = meta.len();
                let position = match self.start {
                    Start::End => len,
                    Start::Seek(offset) => offset.min(len),
                    Start::SeekBack(bytes) => len - bytes.min(len),
                };
                (Some((file, (meta.dev(), meta.ino()))), position)
            }
            // Not there yet, or not openable now: the polls keep trying and
            // report what fails.
            Ok(None) | Err(_) => (None, 0),
        };
        let id = WheelId::next();
        let mut io = cx.io();
        let inner = io.add(|source| Inner {
            id,
            source,
            state: RefCell::new(State {
                path: self.path,
                file,
                position,
                filter: self.filter,
                poll_interval: self.poll_interval,
                events: Events {
                    input: self.input,
                    reset: self.reset,
                    error: self.error,
                    idle: self.idle,
                },
                timer: None,
                last_failure: None,
                buffer: vec![0; READ_CHUNK],
            }),
        });
        // The first poll comes at once, as POE's `delay($state, 0)`.
        let timer = io.delay(&inner.source, Duration::ZERO)?;
        inner.state.borrow_mut().timer = Some(timer);
        Ok(FollowTail { inner })
    }
}

/// Opens `path` if something is there. Only regular files are followed;
/// the open does not block on a FIFO (`O_NONBLOCK`), which is refused.
fn open(path: &Path) -> io::Result<Option<(File, std::fs::Metadata)>> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path);
    match opened {
        Ok(file) => {
            let meta = file.metadata()?;
            if !meta.is_file() {
                return Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    "FollowTail follows regular files only",
                ));
            }
            Ok(Some((file, meta)))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl State {
    /// Reads from the current file up to `budget` bytes into the filter;
    /// the bytes read, or the failure.
    fn read(&mut self, budget: usize) -> io::Result<usize> {
        let Some((file, _)) = &self.file else {
            return Ok(0);
        };
        let mut total = 0;
        while total < budget {
            match file.read_at(&mut self.buffer, self.position) {
                Ok(0) => break,
                Ok(n) => {
                    self.filter.feed(&self.buffer[..n]);
                    self.position += n as u64;
                    total += n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Starts over on `file`: position 0, and the partial record dropped.
    fn restart(&mut self, file: Option<(File, (u64, u64))>) {
        if file.is_some() {
            self.file = file;
        }
        self.position = 0;
        self.filter.take_pending();
    }

    /// One look at the path: what changed, in the order to act on it. Reads
    /// are left to the caller, except the rest of a rotated file, whose
    /// records must be handed out before the filter starts over.
    fn check(&mut self) -> Vec<Found> {
        let mut found = Vec::new();
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            // Renamed away and not yet recreated: keep reading the old one.
            Err(e) if e.kind() == ErrorKind::NotFound => return found,
            Err(e) => {
                found.push(Found::Failure("stat", e));
                return found;
            }
        };
        let identity = (meta.dev(), meta.ino());
        match &self.file {
            Some((_, current)) if *current == identity => {
                if meta.len() < self.position {
                    found.push(Found::Reset);
                    found.push(Found::Restart(None));
                }
            }
            current => {
                let rotated = current.is_some();
                let opened = match open(&self.path) {
                    Ok(Some((file, meta))) => (file, (meta.dev(), meta.ino())),
                    Ok(None) => return found,
                    Err(e) => {
                        found.push(Found::Failure("open", e));
                        return found;
                    }
                };
                if rotated {
                    // The old file's last records come first.
                    match self.read(usize::MAX) {
                        Ok(n) if n > 0 => found.push(Found::Records),
                        Ok(_) => {}
                        Err(e) => found.push(Found::Failure("read", e)),
                    }
                    found.push(Found::Reset);
                }
                found.push(Found::Restart(Some(opened)));
            }
        }
        found
    }
}

impl Source for Inner {
    /// FollowTail watches no descriptor: it polls on a timer.
    fn ready(self: Rc<Self>, _: &mut Io<'_>, _: Readiness) -> Result<()> {
        Ok(())
    }

    fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> Result<()> {
        self.state.borrow_mut().timer = None;
        // A failing handler must not stop the polling: re-arm first.
        let polled = self.poll(io);
        if self.is_dropped() {
            return polled.map(drop);
        }
        let delay = match polled {
            Ok(true) => Duration::ZERO,
            _ => self.state.borrow().poll_interval,
        };
        let timer = io.delay(&self.source, delay)?;
        self.state.borrow_mut().timer = Some(timer);
        polled.map(drop)
    }
}

impl Inner {
    /// Whether only the kernel's dispatch still holds this wheel.
    fn is_dropped(self: &Rc<Self>) -> bool {
        Rc::strong_count(self) == 1
    }

    /// One poll: changes at the path, then new records. `true` when more
    /// is waiting than one poll reads.
    fn poll(self: &Rc<Self>, io: &mut Io<'_>) -> Result<bool> {
        let changes = self.state.borrow_mut().check();
        for change in changes {
            self.report(io, change)?;
        }
        let read = self.state.borrow_mut().read(READ_BUDGET);
        match read {
            Ok(n) => {
                self.emit_records(io)?;
                if n == 0 {
                    let idle = self.state.borrow().events.idle;
                    if let Some(event) = idle.filter(|_| !self.is_dropped()) {
                        io.emit(event, (self.id.number(),))?;
                    }
                } else {
                    self.state.borrow_mut().last_failure = None;
                }
                Ok(n >= READ_BUDGET)
            }
            Err(e) => {
                self.report(io, Found::Failure("read", e))?;
                Ok(false)
            }
        }
    }

    fn report(self: &Rc<Self>, io: &mut Io<'_>, found: Found) -> Result<()> {
        match found {
            Found::Records => self.emit_records(io),
            Found::Restart(file) => {
                self.state.borrow_mut().restart(file);
                Ok(())
            }
            Found::Reset => {
                let event = self.state.borrow().events.reset;
                match event.filter(|_| !self.is_dropped()) {
                    Some(event) => io.emit(event, (self.id.number(),)).map(drop),
                    None => Ok(()),
                }
            }
            Found::Failure(operation, error) => {
                let key = (operation, error.raw_os_error().unwrap_or(0));
                let event = {
                    let mut state = self.state.borrow_mut();
                    if state.last_failure == Some(key) {
                        return Ok(());
                    }
                    state.last_failure = Some(key);
                    state.events.error
                };
                match event.filter(|_| !self.is_dropped()) {
                    Some(event) => io
                        .emit(event, error_args(operation, &error, self.id))
                        .map(drop),
                    None => Ok(()),
                }
            }
        }
    }

    /// Calls the input event for each record the filter holds.
    fn emit_records(self: &Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        loop {
            if self.is_dropped() {
                return Ok(());
            }
            let (record, events) = {
                let mut state = self.state.borrow_mut();
                (state.filter.next_value(), state.events)
            };
            match record {
                Ok(Some(record)) => {
                    io.emit(events.input, (record, self.id.number()))?;
                }
                Ok(None) => return Ok(()),
                Err(error) => {
                    if let Some(event) = events.error {
                        io.emit(event, filter_error_args(&error, self.id))?;
                    }
                }
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Its poll timer goes with it.
        self.source.remove();
    }
}
