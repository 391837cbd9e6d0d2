//! The I/O boundary: [`Source`], what reacts to a session's descriptors,
//! and [`Io`], the handle through which it reaches the kernel.
//!
//! Everything that does I/O in roe is written against these two and
//! nothing else of the kernel: POE's wheels, the TCP components, and the
//! crates above the engine. They play the part of calloop's `EventSource`
//! and mio's `Source`, shaped by POE: a source belongs to a session, the
//! kernel calls it with that session's context when one of its descriptors
//! is ready or one of its timers is due (one dispatch), and it reports to
//! the session by running the session's handlers through [`Io::emit`].
//!
//! The session owns its sources (in its heap, as POE's wheels live in
//! `$_[HEAP]`); the kernel keeps only a weak reference, so dropping the
//! source is how the session stops it. A source's [`Drop`] tells the kernel
//! through its [`SourceRef`], which also carries what a source asks for
//! while no handler of its session runs (from a wheel's `put`, say).

use std::{
    cell::{Cell, RefCell},
    fmt,
    os::fd::{AsRawFd, RawFd},
    panic::Location,
    rc::{Rc, Weak},
    time::Duration,
};

use super::{core::Port, dest::Dest};
use crate::{
    error::Result,
    event::Event,
    id::{KernelId, SessionId, TimerId},
    reactor::{Descriptor, Mode},
    value::{Args, Value},
};

/// Something a session owns that reacts to its descriptors and timers.
///
/// The kernel calls it on the session's behalf, with an [`Io`] that acts
/// for the session; an error it returns is the session's, as a handler's
/// (it becomes POE's `DIE` signal). `self` is the kernel's temporary strong
/// reference: a strong count of one means the session has dropped the
/// source meanwhile, and it should do no more.
///
/// # Examples
///
/// A source that reports each line read from a pipe as the session's
/// `line` event, and `closed` at the end:
///
/// ```
/// use std::{cell::RefCell, io::{PipeReader, Read, Write}, os::fd::AsRawFd, rc::Rc};
/// use roe_engine::{Io, Kernel, Mode, Readiness, Session, Source, SourceRef};
///
/// struct Lines { pipe: Rc<PipeReader>, partial: RefCell<Vec<u8>>, me: SourceRef }
///
/// impl Source for Lines {
///     fn ready(self: Rc<Self>, io: &mut Io<'_>, _: Readiness) -> roe_engine::Result<()> {
///         let mut chunk = [0; 512];
///         let n = (&*self.pipe).read(&mut chunk)?;
///         if n == 0 {
///             io.unwatch(&self.me, self.pipe.as_raw_fd(), Mode::Read);
///             io.emit("closed", ())?;
///             return Ok(());
///         }
///         self.partial.borrow_mut().extend_from_slice(&chunk[..n]);
///         loop {
///             let line = {
///                 let mut partial = self.partial.borrow_mut();
///                 let Some(end) = partial.iter().position(|&b| b == b'\n') else { break };
///                 let line: Vec<u8> = partial.drain(..=end).collect();
///                 String::from_utf8_lossy(&line[..end]).into_owned()
///             };
///             io.emit("line", (line,))?;
///         }
///         Ok(())
///     }
/// }
///
/// let (reader, mut writer) = std::io::pipe()?;
/// writer.write_all(b"one\ntwo\n")?;
/// drop(writer);
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new((None::<Rc<Lines>>, Vec::<String>::new()))
///         .on_start(move |cx, _| {
///             let pipe = Rc::new(reader);
///             let lines = cx.io().add(|me| Lines { pipe: pipe.clone(), partial: RefCell::default(), me });
///             // The kernel keeps a clone of the `Rc` while it watches.
///             cx.io().watch(&lines.me, pipe, Mode::Read)?;
///             cx.heap.0 = Some(lines);
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("line", |cx, args| cx.heap.1.push(args[0].to_string()))
///         .on("closed", |cx, _| {
///             assert_eq!(cx.heap.1, ["one", "two"]);
///             cx.heap.0 = None; // dropping the source stops it
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub trait Source {
    /// A descriptor this source watches is ready.
    ///
    /// # Errors
    ///
    /// The source's failure, which becomes the session's `DIE` signal.
    fn ready(self: Rc<Self>, io: &mut Io<'_>, ready: Readiness) -> Result<()>;

    /// A timer this source set with [`Io::delay`] is due.
    ///
    /// # Errors
    ///
    /// As [`Source::ready`].
    fn timer(self: Rc<Self>, io: &mut Io<'_>, timer: TimerId) -> Result<()> {
        let _ = (io, timer);
        Ok(())
    }

    /// Asked for with [`SourceRef::flush_later`]: runs once the dispatch
    /// that asked returns (or, outside any handler, at the next slice),
    /// so everything a handler wrote goes out in one write. No handler of
    /// the session runs at that time, so what it [`emit`](Io::emit)s is
    /// queued instead.
    fn flush(self: Rc<Self>, io: &mut Io<'_>) {
        let _ = io;
    }
}

/// A descriptor's readiness, as a [`Source`] is told of it.
///
/// # Examples
///
/// A source that tells its session once that a pipe can be written to:
///
/// ```
/// use std::{os::fd::AsRawFd, rc::Rc};
/// use roe_engine::{Io, Kernel, Mode, Readiness, Session, Source, SourceRef};
///
/// struct Writable { me: SourceRef, pipe: Rc<std::io::PipeWriter> }
///
/// impl Source for Writable {
///     fn ready(self: Rc<Self>, io: &mut Io<'_>, ready: Readiness) -> roe_engine::Result<()> {
///         assert_eq!(ready, Readiness { fd: self.pipe.as_raw_fd(), mode: Mode::Write });
///         io.unwatch(&self.me, ready.fd, ready.mode);
///         io.emit("writable", ())?;
///         Ok(())
///     }
/// }
///
/// let (_reader, writer) = std::io::pipe()?;
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(None::<Rc<Writable>>)
///         .on_start(move |cx, _| {
///             let source = cx.io().add(|me| Writable { me, pipe: Rc::new(writer) });
///             cx.io().watch(&source.me, source.pipe.clone(), Mode::Write)?;
///             *cx.heap = Some(source);
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("writable", |cx, _| *cx.heap = None),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// The descriptor, as the source gave it to [`Io::watch`].
    pub fd: RawFd,
    /// What it is ready for.
    pub mode: Mode,
}

/// The kernel's I/O operations, acting for the session whose handler (or
/// source) is running: [`Context::io`](crate::Context::io) outside a
/// source, the argument of every [`Source`] method inside one. It does not
/// name the session's heap type, so sources are ordinary, non-generic
/// types.
///
/// # Examples
///
/// A source driven by its own timer, which reports `tick` three times:
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use roe_engine::{Io, Kernel, Readiness, Session, Source, SourceRef, TimerId};
///
/// struct Ticker { me: SourceRef, left: Cell<u32> }
///
/// impl Source for Ticker {
///     fn ready(self: Rc<Self>, _: &mut Io<'_>, _: Readiness) -> roe_engine::Result<()> {
///         Ok(()) // it watches no descriptor
///     }
///
///     fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> roe_engine::Result<()> {
///         self.left.set(self.left.get() - 1);
///         if self.left.get() > 0 {
///             io.delay(&self.me, Duration::from_millis(1))?;
///         }
///         io.emit("tick", ())?;
///         Ok(())
///     }
/// }
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new((None::<Rc<Ticker>>, 0))
///         .on("_start", |cx, _| {
///             let ticker = cx.io().add(|me| Ticker { me, left: Cell::new(3) });
///             cx.io().delay(&ticker.me, Duration::from_millis(1))?;
///             cx.heap.0 = Some(ticker);
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("tick", |cx, _| cx.heap.1 += 1)
///         .on("_stop", |cx, _| assert_eq!(cx.heap.1, 3)),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct Io<'a> {
    port: &'a mut dyn Port,
}

impl<'a> Io<'a> {
    pub(crate) fn new(port: &'a mut dyn Port) -> Io<'a> {
        Io { port }
    }

    /// The session this handle acts for.
    pub fn session(&self) -> SessionId {
        self.port.session()
    }

    /// The kernel's number.
    pub fn kernel_id(&mut self) -> KernelId {
        self.port.core().id()
    }

    /// Adds a source for the session: `make` gets the source's
    /// [`SourceRef`] (keep it: every other call here takes it), and the
    /// source it returns is the session's to hold. The kernel keeps only a
    /// weak reference.
    #[track_caller]
    pub fn add<S: Source + 'static>(&mut self, make: impl FnOnce(SourceRef) -> S) -> Rc<S> {
        let session = self.port.session();
        let source = self.port.core().reserve_source(session, Location::caller());
        let it = Rc::new(make(source.clone()));
        let weak: Weak<dyn Source> = Rc::downgrade(&(it.clone() as Rc<dyn Source>));
        self.port.core().attach_source(&source, weak);
        it
    }

    /// Watches `fd` in `mode` for `source`: its [`Source::ready`] runs
    /// whenever the descriptor is ready (level-triggered, as POE's
    /// watchers), until [`unwatch`](Io::unwatch) or the source is dropped.
    /// The watcher keeps the session alive, as a `select_*` watcher does.
    /// Watching again only resumes a paused watcher. The kernel keeps a
    /// clone of `fd` while it watches, so the descriptor stays open until
    /// then however the source drops its own, and no duplicate is made. A
    /// regular file is always ready, as POE's `select` finds it.
    ///
    /// # Errors
    ///
    /// [`Error::NotPermitted`](crate::Error::NotPermitted) when another
    /// session watches `fd` in this mode, [`Error::Io`](crate::Error::Io)
    /// when the operating system refuses the descriptor, and
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when its
    /// number was reused while still watched.
    pub fn watch(&mut self, source: &SourceRef, fd: Rc<dyn Descriptor>, mode: Mode) -> Result<()> {
        self.port.core().watch_source(source, fd, mode)
    }

    /// Stops watching `fd` in `mode` for `source`.
    pub fn unwatch(&mut self, source: &SourceRef, fd: RawFd, mode: Mode) {
        self.port.core().unwatch_source(source, fd, mode);
    }

    /// Pauses (or resumes) `source`'s watcher of `fd` in `mode`, keeping it
    /// and its hold on the session; `false` when there is none.
    pub fn pause(&mut self, source: &SourceRef, fd: RawFd, mode: Mode, paused: bool) -> bool {
        self.port.core().pause_source(source, fd, mode, paused)
    }

    /// Sets a timer `delay` from now for `source`: its [`Source::timer`]
    /// runs when it is due. It keeps the session alive, as a `delay` does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when the
    /// delay is beyond the clock's range.
    #[track_caller]
    pub fn delay(&mut self, source: &SourceRef, delay: Duration) -> Result<TimerId> {
        self.port
            .core()
            .delay_source(source, delay, Location::caller())
    }

    /// Removes a timer `source` set, if it is still pending.
    pub fn cancel(&mut self, source: &SourceRef, timer: TimerId) {
        self.port.core().cancel_source_timer(source, timer);
    }

    /// Runs the session's handler for `event` now, with `args`, and
    /// returns its value: how a source reports to its session, as POE's
    /// wheels `call` their session. The handler sees SENDER and the active
    /// session as the session itself. Inside [`Source::flush`], where no
    /// handler of the session runs, the event is queued instead.
    ///
    /// # Errors
    ///
    /// The handler's own error.
    #[track_caller]
    pub fn emit(&mut self, event: impl Into<Event>, args: impl Into<Args>) -> Result<Value> {
        self.port
            .emit(event.into(), args.into(), Location::caller())
    }

    /// Posts `event` with `args` to `dest` from the session (its SENDER is
    /// the session), as the session's own `post` would.
    ///
    /// # Errors
    ///
    /// As [`Context::post`](crate::Context::post).
    #[track_caller]
    pub fn post_to(
        &mut self,
        dest: impl Into<Dest>,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<()> {
        let session = self.port.session();
        self.port.core().post_from(
            session,
            &dest.into(),
            event.into(),
            args.into(),
            Location::caller(),
        )
    }

    /// Queues `event` for the session (a `yield` on its behalf).
    #[track_caller]
    pub fn post(&mut self, event: impl Into<Event>, args: impl Into<Args>) {
        let session = self.port.session();
        self.port
            .core()
            .post_self(session, event.into(), args.into(), Location::caller());
    }
}

impl fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("session", &self.session())
            .finish()
    }
}

/// Names a source to the kernel, and carries what it asks for while no
/// handler of its session runs. Cheap to clone; not `Send` (a source lives
/// on its kernel's thread).
///
/// # Examples
///
/// A source that buffers what its session puts and writes it in one go
/// once the running handler returns, and tells the kernel when it is
/// dropped:
///
/// ```
/// use std::{cell::{Cell, RefCell}, io::{Read, Write}, rc::Rc};
/// use roe_engine::{Io, Kernel, Readiness, Session, Source, SourceRef};
///
/// struct Outbox { me: SourceRef, pipe: RefCell<std::io::PipeWriter>, buf: RefCell<Vec<u8>>, writes: Cell<u32> }
///
/// impl Outbox {
///     fn put(&self, line: &str) {
///         self.buf.borrow_mut().extend_from_slice(line.as_bytes());
///         self.me.flush_later();
///     }
/// }
///
/// impl Source for Outbox {
///     fn ready(self: Rc<Self>, _: &mut Io<'_>, _: Readiness) -> roe_engine::Result<()> {
///         Ok(())
///     }
///
///     fn flush(self: Rc<Self>, _: &mut Io<'_>) {
///         let buf = std::mem::take(&mut *self.buf.borrow_mut());
///         self.pipe.borrow_mut().write_all(&buf).expect("the pipe has room");
///         self.writes.set(self.writes.get() + 1);
///     }
/// }
///
/// impl Drop for Outbox {
///     fn drop(&mut self) {
///         self.me.remove();
///     }
/// }
///
/// let (mut reader, writer) = std::io::pipe()?;
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(None::<Rc<Outbox>>)
///         .on_start(move |cx, _| {
///             let outbox = cx.io().add(|me| Outbox {
///                 me, pipe: RefCell::new(writer), buf: RefCell::default(), writes: Cell::new(0),
///             });
///             outbox.put("one\n");
///             outbox.put("two\n");
///             *cx.heap = Some(outbox);
///             cx.yield_("check", ());
///         })
///         .on("check", |cx, _| {
///             let outbox = cx.heap.take().expect("set at _start");
///             assert_eq!(outbox.writes.get(), 1); // both lines, one write
///         }),
/// )?;
/// kernel.run()?;
/// let mut text = String::new();
/// reader.read_to_string(&mut text)?; // the writer went with the outbox
/// assert_eq!(text, "one\ntwo\n");
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct SourceRef {
    pub(crate) key: SourceKey,
    pub(crate) session: SessionId,
    pub(crate) requests: Rc<Requests>,
}

/// A source's place in its kernel: a slot, and the slot's generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SourceKey {
    pub slot: u32,
    pub generation: u32,
}

/// What sources ask of the kernel between its looks.
#[derive(Default)]
pub(crate) struct Requests {
    /// Set whenever `list` or `flush` has something.
    pending: Cell<bool>,
    list: RefCell<Vec<Request>>,
    /// Sources whose `flush` runs after the running dispatch.
    flush: RefCell<Vec<SourceKey>>,
    flush_pending: Cell<bool>,
    /// Sources whose `flush` runs at the next slice (or after a bounded
    /// number of dispatches): several dispatches' output in one write.
    deferred: RefCell<Vec<SourceKey>>,
    deferred_pending: Cell<bool>,
    /// Per source slot, which of the two lists hold it: asking again is
    /// then one look, not a scan of the list (a connection asks per frame).
    queued: RefCell<Vec<Queued>>,
}

/// A slot's place in the flush lists: the generation (plus one) of the
/// key each list holds for it, 0 for none.
#[derive(Clone, Copy, Default)]
struct Queued {
    flush: u32,
    deferred: u32,
}

impl Queued {
    fn mark(key: SourceKey) -> u32 {
        key.generation.wrapping_add(1).max(1)
    }
}

pub(crate) enum Request {
    Pause {
        key: SourceKey,
        fd: RawFd,
        mode: Mode,
        paused: bool,
    },
    Unwatch {
        key: SourceKey,
        fd: RawFd,
    },
    Post {
        key: SourceKey,
        session: SessionId,
        event: Event,
        args: Args,
    },
    Remove(SourceKey),
}

impl Requests {
    /// Whether anything waits (one `Cell` read).
    #[inline]
    pub fn is_pending(&self) -> bool {
        self.pending.get()
    }

    /// Whether a flush waits.
    #[inline]
    pub fn has_flush(&self) -> bool {
        self.flush_pending.get()
    }

    fn push(&self, request: Request) {
        self.list.borrow_mut().push(request);
        self.pending.set(true);
    }

    /// Takes the requests, in the order they were made.
    pub fn take(&self) -> Vec<Request> {
        self.pending.set(false);
        std::mem::take(&mut *self.list.borrow_mut())
    }

    /// Whether a deferred flush waits.
    #[inline]
    pub fn has_deferred(&self) -> bool {
        self.deferred_pending.get()
    }

    /// Makes the deferred flushes due now.
    pub fn promote_deferred(&self) {
        self.deferred_pending.set(false);
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        for key in deferred {
            self.slot(key).deferred = 0;
            self.ask_flush(key);
        }
    }

    /// Takes the sources to flush, in the order they asked.
    pub fn take_flush(&self) -> Vec<SourceKey> {
        self.flush_pending.set(false);
        let taken = std::mem::take(&mut *self.flush.borrow_mut());
        for key in &taken {
            self.slot(*key).flush = 0;
        }
        taken
    }

    /// Puts `key` on the list flushed after the running dispatch, once.
    fn ask_flush(&self, key: SourceKey) {
        let mark = Queued::mark(key);
        let mut slot = self.slot(key);
        if slot.flush != mark {
            slot.flush = mark;
            drop(slot);
            self.flush.borrow_mut().push(key);
        }
        self.flush_pending.set(true);
    }

    /// Puts `key` on the list flushed at the next slice, once.
    fn ask_deferred(&self, key: SourceKey) {
        let mark = Queued::mark(key);
        let mut slot = self.slot(key);
        if slot.deferred != mark {
            slot.deferred = mark;
            drop(slot);
            self.deferred.borrow_mut().push(key);
        }
        self.deferred_pending.set(true);
    }

    fn slot(&self, key: SourceKey) -> std::cell::RefMut<'_, Queued> {
        std::cell::RefMut::map(self.queued.borrow_mut(), |queued| {
            let at = key.slot as usize;
            if queued.len() <= at {
                queued.resize(at + 1, Queued::default());
            }
            &mut queued[at]
        })
    }
}

impl SourceRef {
    /// The session the source belongs to.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// Asks for [`Source::flush`] once the running dispatch returns (at the
    /// next slice, outside handlers). Asking twice before it runs flushes
    /// once.
    pub fn flush_later(&self) {
        self.requests.ask_flush(self.key);
    }

    /// Asks for [`Source::flush`] at the start of the kernel's next slice
    /// (before it waits), or after a bounded number of dispatches if the
    /// slice is long: what several handlers of the slice wrote goes out in
    /// one write. For a source that sends many small messages from
    /// separate events (a connection carrying posts), this trades a slice's
    /// worth of latency for fewer system calls; use
    /// [`flush_later`](SourceRef::flush_later) where output must go before
    /// the next handler runs.
    pub fn flush_soon(&self) {
        self.requests.ask_deferred(self.key);
    }

    /// Pauses or resumes the source's watcher of `fd` in `mode` once the
    /// running handler returns.
    pub fn pause_later(&self, fd: RawFd, mode: Mode, paused: bool) {
        self.requests.push(Request::Pause {
            key: self.key,
            fd,
            mode,
            paused,
        });
    }

    /// Drops the source's watchers of `fd`, every mode, once the running
    /// handler returns.
    pub fn unwatch_later(&self, fd: &impl AsRawFd) {
        self.requests.push(Request::Unwatch {
            key: self.key,
            fd: fd.as_raw_fd(),
        });
    }

    /// Queues `event` for the session, once the running handler returns.
    pub fn post_later(&self, event: impl Into<Event>, args: impl Into<Args>) {
        self.requests.push(Request::Post {
            key: self.key,
            session: self.session,
            event: event.into(),
            args: args.into(),
        });
    }

    /// The source is gone: its watchers and timers go, and their hold on
    /// the session. Call it from the source's `Drop`.
    pub fn remove(&self) {
        self.requests.push(Request::Remove(self.key));
    }
}

impl fmt::Debug for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceRef")
            .field("slot", &self.key.slot)
            .field("session", &self.session)
            .finish()
    }
}
