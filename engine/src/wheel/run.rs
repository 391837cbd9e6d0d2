//! POE::Wheel::Run: a child process with pipes for its standard streams.

use std::{
    cell::RefCell,
    ffi::OsStr,
    io::{self, ErrorKind},
    os::fd::{AsRawFd, RawFd},
    process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio},
    rc::Rc,
};

use rustix::{
    io::Errno,
    process::{Pid, Signal},
};

use super::{
    Decoder, Next, WheelId, emit_records, error_args, filter_error_args, set_nonblocking,
    stream::{Duplex, Filled, Outbox, fill},
};
use crate::{
    error::{Error, Result},
    event::Event,
    filter::{Filter, FilterError, Line},
    kernel::{Context, Io, Readiness, Source, SourceRef},
    reactor::Mode,
    value::Args,
};

/// Bytes read from one stream per readiness event, so a chatty child
/// cannot hold a slice (the watcher is level-triggered).
const READ_BUDGET: usize = 256 * 1024;

/// Runs a child process with pipes for its stdin, stdout and stderr
/// (POE::Wheel::Run).
///
/// Made with [`Run::builder`] (a [`Command`] of your own, for its
/// environment or working directory), [`Run::program`] or [`Run::shell`]
/// inside a handler, it starts the process at once. Each line (record) the
/// child writes to stdout calls the stdout event with `(record, wheel ID)`,
/// and likewise for stderr; each stream has its own filter, [`Line`] by
/// default. [`put`](Run::put) encodes records for the child's stdin and
/// writes them without blocking; once everything put has been written, the
/// stdin event gets `(wheel ID)`. When the child has closed both stdout and
/// stderr (usually by exiting), the close event gets `(wheel ID)`. Errors
/// call the error event with `(operation, errno, message, wheel ID, handle
/// name)`, the handle being `STDIN`, `STDOUT` or `STDERR`; the end of an
/// output stream is a `read` error with errno 0, as in POE, just before the
/// close event if it was the last one.
///
/// As in POE, the wheel does **not** report the process's exit: watch it
/// with [`Context::sig_child`] on [`pid`](Run::pid), which also reaps it.
/// The close event and the `CHLD` event may come in either order. The
/// kernel reaps only watched processes, so a child nobody watches stays a
/// zombie until this process ends. Dropping the wheel closes the pipes but
/// neither kills nor reaps the child.
///
/// # Examples
///
/// A child's output, line by line, and its exit status:
///
/// ```
/// use roe_engine::{ChildExit, Kernel, Run, Session};
///
/// #[derive(Default)]
/// struct Heap { run: Option<Run>, lines: Vec<String>, code: Option<i32> }
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(Heap::default())
///         .on_start(|cx, _| {
///             let run = Run::shell("echo one; echo two; exit 3")
///                 .stdout("line")
///                 .close("closed")
///                 .start(cx)?;
///             // The wheel does not report the exit: watching the process
///             // does, and reaps it.
///             cx.sig_child(run.pid(), "exited", ())?;
///             cx.heap.run = Some(run);
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("line", |cx, args| cx.heap.lines.push(args[0].to_string()))
///         // Both output streams are closed: the wheel has nothing more.
///         .on("closed", |cx, _| cx.heap.run = None)
///         .on("exited", |cx, args| {
///             cx.heap.code = ChildExit::from_args(&args).and_then(|exit| exit.status.code());
///         })
///         .on("_stop", |cx, _| {
///             assert_eq!(cx.heap.lines, ["one", "two"]);
///             assert_eq!(cx.heap.code, Some(3));
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
///
/// Differences from POE: `Program` is a [`Command`] (or a program and its
/// arguments, or a shell command line); a Perl code reference to run in the
/// fork has no equivalent. The conduit is always pipes (no pty). A program
/// that cannot be started is an error from [`start`](RunBuilder::start)
/// rather than a message on the child's stderr and an exit status. Both
/// output streams are read even without an event for them, so a child
/// never blocks on a full pipe; their records are then dropped. Filter
/// errors call the error event with the operation `filter` and errno 0.
pub struct Run<I: Filter = Line> {
    inner: Rc<Inner<I>>,
}

/// Builds a [`Run`]: the command, the filters and the events.
///
/// # Examples
///
/// Talking to `cat` through its stdin and stdout:
///
/// ```
/// use std::process::Command;
/// use roe_engine::{Kernel, Run, Session};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new((None::<Run>, Vec::<String>::new()))
///         .on_start(|cx, _| {
///             let run = Run::builder(Command::new("cat"))
///                 .stdin("written")
///                 .stdout("line")
///                 .close("closed")
///                 .start(cx)?;
///             cx.sig_child(run.pid(), "exited", ())?;
///             run.put("hello")?;
///             cx.heap.0 = Some(run);
///             Ok::<_, roe_engine::Error>(())
///         })
///         // All that was put is written: closing stdin ends `cat`.
///         .on("written", |cx, _| {
///             if let Some(run) = &cx.heap.0 {
///                 run.shutdown_stdin();
///             }
///         })
///         .on("line", |cx, args| cx.heap.1.push(args[0].to_string()))
///         .on("closed", |cx, _| cx.heap.0 = None)
///         .on("exited", |_, _| {})
///         .on("_stop", |cx, _| assert_eq!(cx.heap.1, ["hello"])),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct RunBuilder<I> {
    command: Command,
    stdin_filter: I,
    stdout_filter: Box<dyn Decoder>,
    stderr_filter: Box<dyn Decoder>,
    events: Events,
    /// How the filters were given: one for every stream (`filter`), or
    /// per stream; POE refuses both at once.
    filters: Filters,
}

/// How a `RunBuilder`'s filters were given.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Filters {
    combined: bool,
    separate: bool,
}

/// The events a `Run` calls.
#[derive(Clone, Copy, Default)]
struct Events {
    stdout: Option<Event>,
    stderr: Option<Event>,
    stdin: Option<Event>,
    close: Option<Event>,
    error: Option<Event>,
}

struct Inner<I: Filter> {
    id: WheelId,
    pid: u32,
    source: SourceRef,
    state: RefCell<State<I>>,
}

/// One of the child's output streams.
struct Output {
    pipe: Option<Rc<dyn Duplex>>,
    fd: RawFd,
    filter: Box<dyn Decoder>,
    name: &'static str,
}

struct State<I> {
    stdin: Option<Rc<ChildStdin>>,
    stdin_fd: RawFd,
    stdin_filter: I,
    /// Encoded input for the child, not yet written.
    output: Outbox,
    outputs: [Output; 2],
    events: Events,
}

impl<I> State<I> {
    /// Writes buffered input until it is all written or the pipe is full.
    /// `true` when nothing is left.
    fn flush(&mut self) -> io::Result<bool> {
        let Some(stdin) = self.stdin.as_ref() else {
            return Err(io::Error::from(Errno::PIPE));
        };
        self.output.write_to(&**stdin)
    }

    /// Closes stdin, dropping unwritten input; the descriptor it had, if
    /// it was open.
    fn close_stdin(&mut self) -> Option<RawFd> {
        self.output.clear();
        self.stdin.take().map(|_| self.stdin_fd)
    }
}

impl Output {
    /// Reads what the pipe has now, up to the budget, into the filter.
    fn fill(&mut self) -> Filled {
        let Some(pipe) = self.pipe.as_ref() else {
            return Filled::More;
        };
        let filter = &mut self.filter;
        fill(&**pipe, READ_BUDGET, &mut |bytes| filter.feed(bytes))
    }
}

impl Run<Line> {
    /// Starts building a wheel that runs `command`; its stdin, stdout and
    /// stderr are replaced by pipes to the wheel (POE's `Program`).
    pub fn builder(command: Command) -> RunBuilder<Line> {
        RunBuilder {
            command,
            stdin_filter: Line::new(),
            stdout_filter: Box::new(Line::new()),
            stderr_filter: Box::new(Line::new()),
            events: Events::default(),
            filters: Filters::default(),
        }
    }

    /// Starts building a wheel that runs `program` with `args`, found on
    /// `PATH` as `execvp` finds it (POE's `Program => [...]`).
    pub fn program<S, A>(program: S, args: A) -> RunBuilder<Line>
    where
        S: AsRef<OsStr>,
        A: IntoIterator,
        A::Item: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        command.args(args);
        Run::builder(command)
    }

    /// Starts building a wheel that runs `command_line` with `sh -c` (POE's
    /// `Program => $string`, which Perl's `exec` hands to the shell).
    pub fn shell(command_line: impl AsRef<OsStr>) -> RunBuilder<Line> {
        let mut command = Command::new("sh");
        command.arg("-c").arg(command_line);
        Run::builder(command)
    }
}

impl<I: Filter + 'static> Run<I> {
    /// This wheel's ID (POE's `ID`), the last argument of its events.
    pub fn id(&self) -> WheelId {
        self.inner.id
    }

    /// The child's process ID (POE's `PID`), for [`Context::sig_child`].
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// Sends the signal named `signal` to the child (POE's `kill`): a POE
    /// name such as `TERM`, `INT`, `HUP` or `KILL` (a `SIG` prefix is
    /// accepted), or a number.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a name that is not a signal; the operating
    /// system's error (`ESRCH` once the child has been reaped).
    pub fn kill(&self, signal: &str) -> io::Result<()> {
        let name = signal.strip_prefix("SIG").unwrap_or(signal);
        let number = match name {
            "KILL" => Some(Signal::KILL.as_raw()),
            "STOP" => Some(Signal::STOP.as_raw()),
            _ => crate::signal::number(name).or_else(|| name.parse().ok()),
        };
        let signal = number.and_then(Signal::from_named_raw).ok_or_else(|| {
            io::Error::new(ErrorKind::InvalidInput, format!("no signal named {name:?}"))
        })?;
        let pid = i32::try_from(self.inner.pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(Errno::SRCH))?;
        rustix::process::kill_process(pid, signal)?;
        Ok(())
    }

    /// Encodes `record` for the child's stdin and queues it (POE's `put`);
    /// the wheel writes it when the pipe is writable, after the running
    /// handler. Once the pipe has taken everything put, the stdin event
    /// follows, once. After stdin was closed, the error event reports
    /// `("write", EPIPE, ...)`.
    ///
    /// # Errors
    ///
    /// The filter's refusal to encode the record; nothing is buffered then.
    pub fn put(&self, record: impl Into<I::Record>) -> Result<(), FilterError> {
        let inner = &self.inner;
        let mut state = inner.state.borrow_mut();
        if state.stdin.is_none() {
            if let Some(event) = state.events.error {
                let error = io::Error::from(Errno::PIPE);
                inner
                    .source
                    .post_later(event, stdin_error("write", &error, inner.id));
            }
            return Ok(());
        }
        let was_empty = state.output.waiting() == 0;
        let State {
            stdin_filter,
            output,
            ..
        } = &mut *state;
        output.push(|buf| stdin_filter.encode(record.into(), buf))?;
        // As POE's `put`: buffer, and let the write watcher flush, so one
        // stdin event follows everything put in a row.
        if was_empty && state.output.waiting() > 0 {
            inner.source.pause_later(state.stdin_fd, Mode::Write, false);
        }
        Ok(())
    }

    /// Bytes put but not yet written to the child's stdin.
    pub fn pending_input(&self) -> usize {
        self.inner.state.borrow().output.waiting()
    }

    /// Closes the child's stdin now, so it reads end of file (POE's
    /// `shutdown_stdin`). Input not yet written is dropped, as in POE: wait
    /// for the stdin event first to send everything.
    pub fn shutdown_stdin(&self) {
        let fd = self.inner.state.borrow_mut().close_stdin();
        if let Some(fd) = fd {
            // The kernel's watcher holds the pipe open until it goes.
            self.inner.source.unwatch_later(&fd);
        }
    }

    /// Stops reading the child's stdout (POE's `pause_stdout`); the child
    /// blocks once the pipe is full.
    pub fn pause_stdout(&self) {
        self.set_reading(0, false);
    }

    /// Reads stdout again (POE's `resume_stdout`).
    pub fn resume_stdout(&self) {
        self.set_reading(0, true);
    }

    /// Stops reading the child's stderr (POE's `pause_stderr`).
    pub fn pause_stderr(&self) {
        self.set_reading(1, false);
    }

    /// Reads stderr again (POE's `resume_stderr`).
    pub fn resume_stderr(&self) {
        self.set_reading(1, true);
    }

    fn set_reading(&self, stream: usize, on: bool) {
        let state = self.inner.state.borrow();
        let output = &state.outputs[stream];
        // A closed stream's descriptor number may belong to someone else.
        if output.pipe.is_some() {
            self.inner.source.pause_later(output.fd, Mode::Read, !on);
        }
    }
}

impl<I: Filter + 'static> RunBuilder<I> {
    /// The event called per stdout record: `(record, wheel ID)` (POE's
    /// `StdoutEvent`).
    pub fn stdout(mut self, event: impl Into<Event>) -> RunBuilder<I> {
        self.events.stdout = Some(event.into());
        self
    }

    /// The event called per stderr record: `(record, wheel ID)` (POE's
    /// `StderrEvent`).
    pub fn stderr(mut self, event: impl Into<Event>) -> RunBuilder<I> {
        self.events.stderr = Some(event.into());
        self
    }

    /// The event called when everything [`put`](Run::put) has been written
    /// to the child's stdin: `(wheel ID)` (POE's `StdinEvent`).
    pub fn stdin(mut self, event: impl Into<Event>) -> RunBuilder<I> {
        self.events.stdin = Some(event.into());
        self
    }

    /// The event called once the child has closed both stdout and stderr:
    /// `(wheel ID)` (POE's `CloseEvent`).
    pub fn close(mut self, event: impl Into<Event>) -> RunBuilder<I> {
        self.events.close = Some(event.into());
        self
    }

    /// The event called on errors: `(operation, errno, message, wheel ID,
    /// handle name)` (POE's `ErrorEvent`).
    pub fn error(mut self, event: impl Into<Event>) -> RunBuilder<I> {
        self.events.error = Some(event.into());
        self
    }

    /// One filter for stdin, stdout and stderr alike (POE's `Filter`);
    /// `make` is called once per stream. It cannot be mixed with the
    /// per-stream filters, as POE refuses.
    pub fn filter<J, M>(self, make: M) -> RunBuilder<J>
    where
        J: Filter + 'static,
        M: Fn() -> J,
    {
        RunBuilder {
            command: self.command,
            stdin_filter: make(),
            stdout_filter: Box::new(make()),
            stderr_filter: Box::new(make()),
            events: self.events,
            filters: Filters {
                combined: true,
                ..self.filters
            },
        }
    }

    /// The filter that encodes records for the child's stdin (POE's
    /// `StdinFilter`).
    pub fn stdin_filter<J: Filter + 'static>(self, filter: J) -> RunBuilder<J> {
        RunBuilder {
            command: self.command,
            stdin_filter: filter,
            stdout_filter: self.stdout_filter,
            stderr_filter: self.stderr_filter,
            events: self.events,
            filters: Filters {
                separate: true,
                ..self.filters
            },
        }
    }

    /// The filter that parses the child's stdout (POE's `StdoutFilter`).
    pub fn stdout_filter(mut self, filter: impl Filter + 'static) -> RunBuilder<I> {
        self.stdout_filter = Box::new(filter);
        self.filters.separate = true;
        self
    }

    /// The filter that parses the child's stderr (POE's `StderrFilter`).
    pub fn stderr_filter(mut self, filter: impl Filter + 'static) -> RunBuilder<I> {
        self.stderr_filter = Box::new(filter);
        self.filters.separate = true;
        self
    }

    /// Starts the child and watches its pipes for the running session.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the program cannot be started (not found, not
    /// executable, out of processes) or its pipes cannot be watched; a
    /// child that started is then killed and reaped before this returns.
    /// [`Error::InvalidArgument`] when one filter for every stream was
    /// mixed with per-stream filters (nothing is started then).
    pub fn start<H: 'static>(mut self, cx: &mut Context<'_, H>) -> Result<Run<I>> {
        if self.filters.combined && self.filters.separate {
            return Err(Error::InvalidArgument(
                "one filter for every stream cannot be mixed with per-stream filters",
            ));
        }
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn()?;
        let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
            abandon(child);
            return Err(Error::Io(io::Error::other("the child's pipes are missing")));
        };
        let pid = child.id();
        match self.watch_pipes(cx, pid, stdin, stdout, stderr) {
            Ok(run) => Ok(run),
            Err(e) => {
                abandon(child);
                Err(e)
            }
        }
    }

    fn watch_pipes<H: 'static>(
        self,
        cx: &mut Context<'_, H>,
        pid: u32,
        stdin: ChildStdin,
        stdout: ChildStdout,
        stderr: ChildStderr,
    ) -> Result<Run<I>> {
        set_nonblocking(&stdin)?;
        set_nonblocking(&stdout)?;
        set_nonblocking(&stderr)?;
        let id = WheelId::next();
        let (stdin_fd, stdout_fd, stderr_fd) =
            (stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd());
        let mut io = cx.io();
        let inner = io.add(|source| Inner {
            id,
            pid,
            source,
            state: RefCell::new(State {
                stdin: None,
                stdin_fd,
                stdin_filter: self.stdin_filter,
                output: Outbox::default(),
                outputs: [
                    Output {
                        pipe: None,
                        fd: stdout_fd,
                        filter: self.stdout_filter,
                        name: "STDOUT",
                    },
                    Output {
                        pipe: None,
                        fd: stderr_fd,
                        filter: self.stderr_filter,
                        name: "STDERR",
                    },
                ],
                events: self.events,
            }),
        });
        // Each pipe becomes the wheel's once watched, so a failure releases
        // exactly what was watched.
        let (stdin, stdout, stderr) = (Rc::new(stdin), Rc::new(stdout), Rc::new(stderr));
        io.watch(&inner.source, stdout.clone(), Mode::Read)?;
        inner.state.borrow_mut().outputs[0].pipe = Some(stdout);
        io.watch(&inner.source, stderr.clone(), Mode::Read)?;
        inner.state.borrow_mut().outputs[1].pipe = Some(stderr);
        // The write watcher exists from the start, paused until input is
        // buffered (POE's Run does the same).
        io.watch(&inner.source, stdin.clone(), Mode::Write)?;
        io.pause(&inner.source, stdin_fd, Mode::Write, true);
        inner.state.borrow_mut().stdin = Some(stdin);
        Ok(Run { inner })
    }
}

/// Kills and reaps a child the wheel could not take on. Nothing watches it
/// yet, so waiting here takes it from nobody.
fn abandon(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Error-event arguments for stdin.
fn stdin_error(operation: &str, error: &io::Error, id: WheelId) -> Args {
    let mut args = error_args(operation, error, id);
    args.push("STDIN");
    args
}

impl<I: Filter + 'static> Source for Inner<I> {
    fn ready(self: Rc<Self>, io: &mut Io<'_>, ready: Readiness) -> Result<()> {
        let Readiness { fd, mode } = ready;
        match mode {
            Mode::Read => {
                let stream = {
                    let state = self.state.borrow();
                    state
                        .outputs
                        .iter()
                        .position(|o| o.fd == fd && o.pipe.is_some())
                };
                match stream {
                    Some(stream) => self.readable(io, stream),
                    None => Ok(()),
                }
            }
            Mode::Write => self.writable(io),
            Mode::Expedite => Ok(()),
        }
    }
}

impl<I: Filter + 'static> Inner<I> {
    /// Whether only the kernel's dispatch still holds this wheel.
    fn is_dropped(self: &Rc<Self>) -> bool {
        Rc::strong_count(self) == 1
    }

    fn readable(self: Rc<Self>, io: &mut Io<'_>, stream: usize) -> Result<()> {
        let filled = {
            let mut state = self.state.borrow_mut();
            state.outputs[stream].fill()
        };
        let name = self.state.borrow().outputs[stream].name;
        emit_records(
            io,
            self.id,
            || !self.is_dropped(),
            || {
                let mut state = self.state.borrow_mut();
                let events = state.events;
                Next {
                    record: state.outputs[stream].filter.next_value(),
                    on_record: if stream == 0 {
                        events.stdout
                    } else {
                        events.stderr
                    },
                    on_error: events.error,
                }
            },
            |error| {
                let mut args = filter_error_args(error, self.id);
                args.push(name);
                args
            },
        )?;
        if self.is_dropped() {
            return Ok(());
        }
        let mut failure = match filled {
            Filled::More => return Ok(()),
            Filled::Eof => Args::from(("read", 0, "", self.id.number())),
            Filled::Failed(e) => error_args("read", &e, self.id),
        };
        // The stream is finished either way: stop watching, then close.
        let (fd, name, all_closed, events) = {
            let mut state = self.state.borrow_mut();
            let output = &mut state.outputs[stream];
            let fd = output.fd;
            let name = output.name;
            io.unwatch(&self.source, fd, Mode::Read);
            output.pipe = None;
            let all_closed = state.outputs.iter().all(|o| o.pipe.is_none());
            (fd, name, all_closed, state.events)
        };
        debug_assert!(fd >= 0);
        failure.push(name);
        if let Some(event) = events.error.filter(|_| !self.is_dropped()) {
            io.emit(event, failure)?;
        }
        if all_closed && let Some(event) = events.close.filter(|_| !self.is_dropped()) {
            io.emit(event, (self.id.number(),))?;
        }
        Ok(())
    }

    fn writable(self: Rc<Self>, io: &mut Io<'_>) -> Result<()> {
        let (flushed, events, fd) = {
            let mut state = self.state.borrow_mut();
            if state.stdin.is_none() {
                return Ok(());
            }
            (state.flush(), state.events, state.stdin_fd)
        };
        match flushed {
            Ok(false) => Ok(()),
            Ok(true) => {
                io.pause(&self.source, fd, Mode::Write, true);
                match events.stdin {
                    Some(event) if !self.is_dropped() => {
                        io.emit(event, (self.id.number(),)).map(drop)
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => {
                // A pipe that cannot be written never will be: POE stops
                // watching it.
                io.unwatch(&self.source, fd, Mode::Write);
                self.state.borrow_mut().close_stdin();
                match events.error {
                    Some(event) if !self.is_dropped() => {
                        io.emit(event, stdin_error("write", &e, self.id)).map(drop)
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

impl<I: Filter> Drop for Inner<I> {
    fn drop(&mut self) {
        self.source.remove();
    }
}
