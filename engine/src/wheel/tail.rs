//! POE::Wheel::FollowTail: following a growing file, like `tail -f`.

use std::{
    cell::RefCell,
    fs::{File, Metadata, OpenOptions},
    io::{self, ErrorKind, Seek, SeekFrom},
    os::{
        fd::AsRawFd,
        unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt},
    },
    path::{Path, PathBuf},
    rc::Rc,
    time::Duration,
};

use rustix::fs::OFlags;

use super::{
    Decoder, Next, WheelId, emit_records, error_args, filter_error_args,
    stream::{Filled, fill},
};
use crate::{
    error::{Error, Result},
    event::Event,
    filter::{Filter, Line},
    id::TimerId,
    kernel::{Context, Io, Readiness, Source, SourceRef},
    reactor::Mode,
};

/// Bytes read per poll, or per readiness of a FIFO. With more waiting, the
/// next poll comes at once (POE yields rather than waiting the interval),
/// and a FIFO's level-triggered watcher brings the rest at the next slice;
/// so one dispatch never reads, nor its filter holds, more than this and
/// one incomplete record.
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
/// Each poll reads at most 256 KiB; with more waiting, the next poll comes
/// at once instead of after the interval. So a file that grew by
/// gigabytes is delivered over many dispatches, other sessions run in
/// between, and the filter never holds more than one poll's bytes and one
/// incomplete record.
///
/// When the file at the path is shorter than the position read so far
/// (truncated), or is a different file (rotated: renamed away and
/// recreated), the reset event gets `(wheel ID)` and reading starts again
/// from the beginning of the file now at the path. On rotation the rest of
/// the old file is read first (a poll's worth at a time), so records
/// written just before it moved are not lost. While nothing is at the path
/// (between the rename and the creation), the old file is still followed.
/// A file that does not exist yet is waited for and read from its
/// beginning once it appears. Failures call the error event with
/// `(operation, errno, message, wheel ID)` (`open`, `stat`, `seek`, `read`,
/// or `filter` with errno 0), once per distinct failure; polling goes on.
/// The optional idle event gets `(wheel ID)` after a poll that found
/// nothing new (POE's `IdleEvent`).
///
/// A FIFO (named pipe) at the path is followed as POE follows one: opened
/// for reading and writing, so neither the open nor a read waits for a
/// writer, and a writer closing is not the end of it: the next writer's
/// records arrive too (a record cut by a closing writer is completed by
/// the next). It is watched for readability instead of polled, so the poll
/// interval, seeking and the idle event do not apply; each readiness reads
/// at most 256 KiB. [`tell`](FollowTail::tell) counts the bytes read from
/// it.
///
/// Dropping the wheel stops it; its pending poll timer is removed by an
/// event it posts to the session, in the next slice.
///
/// # Examples
///
/// Reading a file from its beginning, and stopping once it is all read
/// (the idle event comes after a poll that found nothing new):
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{FollowTail, Kernel, Session};
///
/// let path = std::env::temp_dir().join(format!("roe-doc-tail-{}", std::process::id()));
/// std::fs::write(&path, "one\ntwo\n")?;
/// let followed = path.clone();
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new((None::<FollowTail>, Vec::<String>::new()))
///         .on_start(move |cx, _| {
///             let wheel = FollowTail::builder(followed, "line")
///                 .seek(0)
///                 .poll_interval(Duration::from_millis(10))
///                 .idle("caught_up")
///                 .start(cx)?;
///             cx.heap.0 = Some(wheel);
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("line", |cx, args| cx.heap.1.push(args[0].to_string()))
///         // Dropping the wheel stops it, and the session ends.
///         .on("caught_up", |cx, _| cx.heap.0 = None)
///         .on("_stop", |cx, _| assert_eq!(cx.heap.1, ["one", "two"])),
/// )?;
/// kernel.run()?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Differences from POE: only paths are followed, not open handles, and
/// only regular files and FIFOs (POE also `select`s on other special
/// files); on rotation the rest of the old file is read before the reset
/// (POE switches files at once); the partial record left when the file is
/// reset is dropped, so it cannot join the first record of the new
/// contents; a file that appears after the wheel started is not reported as
/// a reset; the default start is the end of the file, where POE seeks 4096
/// bytes back and throws that partial input away, which comes to the same.
pub struct FollowTail {
    inner: Rc<Inner>,
}

/// Builds a [`FollowTail`]: the path, filter, interval, start and events.
///
/// # Examples
///
/// Following a FIFO, whose writers come and go, with records ended by NUL
/// bytes rather than lines:
///
/// ```
/// use std::{fs::OpenOptions, io::Write};
/// use roe_engine::{FollowTail, Kernel, Line, Session};
///
/// let path = std::env::temp_dir().join(format!("roe-doc-fifo-{}", std::process::id()));
/// std::process::Command::new("mkfifo").arg(&path).status()?;
/// let fifo = path.clone();
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new((None::<FollowTail>, Vec::<String>::new()))
///         .on_start(move |cx, _| {
///             let wheel = FollowTail::builder(fifo.clone(), "record")
///                 .filter(Line::new().input_literal("\0"))
///                 .error("failed")
///                 .start(cx)?;
///             cx.heap.0 = Some(wheel);
///             // Two writers, one after the other: the first one closing
///             // does not end the FIFO for the wheel.
///             for text in ["first\0", "second\0"] {
///                 OpenOptions::new().write(true).open(&fifo)?.write_all(text.as_bytes())?;
///             }
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("record", |cx, args| {
///             cx.heap.1.push(args[0].to_string());
///             if cx.heap.1.len() == 2 {
///                 cx.heap.0 = None;
///             }
///         })
///         .on("failed", |cx, args| cx.heap.1.push(format!("{} failed", args[0])))
///         .on("_stop", |cx, _| assert_eq!(cx.heap.1, ["first", "second"])),
/// )?;
/// kernel.run()?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

/// The file followed.
struct Followed {
    /// Shared with the kernel while a FIFO is watched.
    file: Rc<File>,
    /// Device and inode: a different pair at the path is a rotation.
    identity: (u64, u64),
    /// A FIFO, watched for readability; otherwise a regular file, polled.
    fifo: bool,
}

impl Followed {
    fn new(file: File, meta: &Metadata) -> Followed {
        Followed {
            file: Rc::new(file),
            identity: (meta.dev(), meta.ino()),
            fifo: meta.file_type().is_fifo(),
        }
    }
}

struct State {
    path: PathBuf,
    file: Option<Followed>,
    /// Bytes of the current file read so far; the file's own offset, for a
    /// regular file.
    position: u64,
    filter: Box<dyn Decoder>,
    poll_interval: Duration,
    events: Events,
    timer: Option<TimerId>,
    /// The last failure reported, so a lasting one is reported once.
    last_failure: Option<(&'static str, i32)>,
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
    /// The rest of a rotated file is longer than one poll reads: the next
    /// poll, at once, reads on before switching files.
    Draining,
    Reset,
    /// Start over at position 0, on a new file if one is given.
    Restart(Option<Followed>),
    Failure(&'static str, io::Error),
}

/// What one read got.
struct Got {
    bytes: usize,
    /// The budget ran out (a regular file) or the FIFO is drained for now:
    /// not the end of what there is.
    more: bool,
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
    /// (POE's `tell`); for a FIFO, the bytes read from it.
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
    /// A FIFO is not polled.
    pub fn poll_interval(mut self, interval: Duration) -> FollowTailBuilder {
        self.poll_interval = interval;
        self
    }

    /// Starts reading `offset` bytes into the file (POE's `Seek`), or at its
    /// end if it is shorter. A FIFO is read from what arrives next.
    pub fn seek(mut self, offset: u64) -> FollowTailBuilder {
        self.start = Start::Seek(offset);
        self
    }

    /// Starts reading `bytes` before the end of the file (POE's
    /// `SeekBack`), or at its beginning if it is shorter. A FIFO is read
    /// from what arrives next.
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
    /// it (or watching it, for a FIFO) for the running session. A failure
    /// to open an existing file is reported to the error event by the first
    /// poll.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when the path names a directory or a
    /// special file other than a FIFO; [`Error::Io`] when the file cannot
    /// be positioned or a FIFO cannot be watched.
    pub fn start<H: 'static>(self, cx: &mut Context<'_, H>) -> Result<FollowTail> {
        if std::fs::metadata(&self.path).is_ok_and(|meta| !followable(&meta)) {
            return Err(Error::InvalidArgument(
                "FollowTail follows regular files and FIFOs, not directories or other special files",
            ));
        }
        let (file, position) = match open(&self.path) {
            Ok(Some((file, meta))) if meta.file_type().is_fifo() => {
                (Some(Followed::new(file, &meta)), 0)
            }
            Ok(Some((mut file, meta))) => {
                let len = meta.len();
                let position = match self.start {
                    Start::End => len,
                    Start::Seek(offset) => offset.min(len),
                    Start::SeekBack(bytes) => len - bytes.min(len),
                };
                file.seek(SeekFrom::Start(position))?;
                (Some(Followed::new(file, &meta)), position)
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
            }),
        });
        if !inner.watch_fifo(&mut io)? {
            // The first poll comes at once, as POE's `delay($state, 0)`.
            let timer = io.delay(&inner.source, Duration::ZERO)?;
            inner.state.borrow_mut().timer = Some(timer);
        }
        Ok(FollowTail { inner })
    }
}

/// Whether FollowTail follows what `meta` describes.
fn followable(meta: &Metadata) -> bool {
    meta.is_file() || meta.file_type().is_fifo()
}

/// Opens `path` if something is there, without blocking. A FIFO is opened
/// for reading and writing, as POE opens one (`+<`): the open does not
/// wait for a writer, and the wheel's own write side keeps the FIFO from
/// reaching its end when a writer closes, so it is followed from one
/// writer to the next.
fn open(path: &Path) -> io::Result<Option<(File, Metadata)>> {
    let fifo = match std::fs::metadata(path) {
        Ok(meta) => meta.file_type().is_fifo(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let opened = OpenOptions::new()
        .read(true)
        .write(fifo)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    // Replaced between the look and the open: a FIFO opened read-only
    // would end with its writer, so the next poll opens it again.
    let expected = meta.is_file() || (fifo && meta.file_type().is_fifo());
    if !expected {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "FollowTail follows regular files and FIFOs only",
        ));
    }
    Ok(Some((file, meta)))
}

impl State {
    /// Reads from the current file up to `budget` bytes into the filter.
    fn read(&mut self, budget: usize) -> io::Result<Got> {
        let Some(followed) = &self.file else {
            return Ok(Got {
                bytes: 0,
                more: false,
            });
        };
        let filter = &mut self.filter;
        let mut bytes = 0;
        let filled = fill(&*followed.file, budget, &mut |chunk| {
            filter.feed(chunk);
            bytes += chunk.len();
        });
        // What was read before a failure is in the filter: count it.
        self.position += bytes as u64;
        match filled {
            Filled::More => Ok(Got { bytes, more: true }),
            Filled::Eof => Ok(Got { bytes, more: false }),
            Filled::Failed(e) => Err(e),
        }
    }

    /// Starts over on `file` (or on the current file, from its beginning):
    /// position 0, and the partial record dropped.
    fn restart(&mut self, file: Option<Followed>) -> io::Result<()> {
        self.position = 0;
        self.filter.take_pending();
        match file {
            Some(file) => self.file = Some(file),
            None => {
                if let Some(current) = &self.file {
                    (&*current.file).seek(SeekFrom::Start(0))?;
                }
            }
        }
        Ok(())
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
            Some(current) if current.identity == identity => {
                if meta.len() < self.position {
                    found.push(Found::Reset);
                    found.push(Found::Restart(None));
                }
            }
            current => {
                let rotated = current.is_some();
                if rotated {
                    // The old file's last records come first, a budget at
                    // a time: its rest may be large.
                    match self.read(READ_BUDGET) {
                        Ok(got) => {
                            if got.bytes > 0 {
                                found.push(Found::Records);
                            }
                            if got.more {
                                found.push(Found::Draining);
                                return found;
                            }
                        }
                        Err(e) => found.push(Found::Failure("read", e)),
                    }
                }
                let opened = match open(&self.path) {
                    Ok(Some((file, meta))) => Followed::new(file, &meta),
                    Ok(None) => return found,
                    Err(e) => {
                        found.push(Found::Failure("open", e));
                        return found;
                    }
                };
                if rotated {
                    found.push(Found::Reset);
                }
                found.push(Found::Restart(Some(opened)));
            }
        }
        found
    }
}

impl Source for Inner {
    /// A FIFO has something to read.
    fn ready(self: Rc<Self>, io: &mut Io<'_>, ready: Readiness) -> Result<()> {
        if ready.mode != Mode::Read {
            return Ok(());
        }
        let read = self.state.borrow_mut().read(READ_BUDGET);
        match read {
            Ok(got) => {
                self.emit_records(io)?;
                if !got.more {
                    // The end of a FIFO, which its own write side should
                    // prevent: stop watching, as POE's select loop does,
                    // rather than be woken for it again and again.
                    self.unwatch_fifo(io);
                }
                Ok(())
            }
            Err(e) => {
                // POE stops reading a handle whose read failed.
                self.unwatch_fifo(io);
                self.report(io, Found::Failure("read", e))
            }
        }
    }

    fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> Result<()> {
        self.state.borrow_mut().timer = None;
        // A failing handler must not stop the polling: re-arm first.
        let polled = self.poll(io);
        if self.is_dropped() || self.is_watching_fifo() {
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

    /// Whether the file followed is a FIFO, which readiness drives.
    fn is_watching_fifo(&self) -> bool {
        self.state.borrow().file.as_ref().is_some_and(|f| f.fifo)
    }

    /// Watches the file if it is a FIFO; `true` when it is.
    fn watch_fifo(&self, io: &mut Io<'_>) -> Result<bool> {
        let fifo = match &self.state.borrow().file {
            Some(followed) if followed.fifo => Rc::clone(&followed.file),
            _ => return Ok(false),
        };
        io.watch(&self.source, fifo, Mode::Read)?;
        Ok(true)
    }

    fn unwatch_fifo(&self, io: &mut Io<'_>) {
        let fd = match &self.state.borrow().file {
            Some(followed) if followed.fifo => followed.file.as_raw_fd(),
            _ => return,
        };
        io.unwatch(&self.source, fd, Mode::Read);
    }

    /// One poll: changes at the path, then new records. `true` when more
    /// is waiting than one poll reads.
    fn poll(self: &Rc<Self>, io: &mut Io<'_>) -> Result<bool> {
        let changes = self.state.borrow_mut().check();
        let mut draining = false;
        for change in changes {
            draining |= matches!(change, Found::Draining);
            self.report(io, change)?;
        }
        // The budget went on the old file, or a FIFO now takes over.
        if draining || self.is_watching_fifo() {
            return Ok(draining);
        }
        let read = self.state.borrow_mut().read(READ_BUDGET);
        match read {
            Ok(got) => {
                self.emit_records(io)?;
                if got.bytes == 0 {
                    let idle = self.state.borrow().events.idle;
                    if let Some(event) = idle.filter(|_| !self.is_dropped()) {
                        io.emit(event, (self.id.number(),))?;
                    }
                } else {
                    self.state.borrow_mut().last_failure = None;
                }
                Ok(got.more)
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
            Found::Draining => Ok(()),
            Found::Restart(file) => {
                let restarted = self.state.borrow_mut().restart(file);
                match restarted {
                    Ok(()) => self.watch_fifo(io).map(drop),
                    Err(e) => self.report(io, Found::Failure("seek", e)),
                }
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
        emit_records(
            io,
            self.id,
            || !self.is_dropped(),
            || {
                let mut state = self.state.borrow_mut();
                Next {
                    record: state.filter.next_value(),
                    on_record: Some(state.events.input),
                    on_error: state.events.error,
                }
            },
            |error| filter_error_args(error, self.id),
        )
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Its poll timer, or its FIFO's watcher, goes with it.
        self.source.remove();
    }
}
