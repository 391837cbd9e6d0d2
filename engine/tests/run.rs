//! POE::Wheel::Run with real child processes: output, input, exit status,
//! signals, flow control, and no zombies left behind.

mod common;

use std::{cell::RefCell, process::Command, rc::Rc, time::Duration};

use common::Log;
use roe_engine::{Error, Kernel, Run, Session, Stream};

/// Whether `pid` has been reaped: `waitpid` no longer knows it.
fn is_reaped(pid: u32) -> bool {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    matches!(
        rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG),
        Err(rustix::io::Errno::CHILD)
    )
}

#[derive(Default)]
struct Heap {
    run: Option<Run>,
    pid: u32,
    closed: bool,
    reaped: bool,
}

impl Heap {
    /// The session ends once the child has closed its output and been
    /// reaped, in whichever order those come.
    fn finish_if_done(&mut self) {
        if self.closed && self.reaped {
            self.run = None;
        }
    }
}

/// The required scenario: a child writes lines to stdout, something to
/// stderr, and exits with a chosen status. The session sees every line,
/// the close event, and the CHLD event with that status.
#[test]
fn a_child_s_output_close_and_exit_status_all_arrive() {
    let log = Log::default();
    let stdout = Rc::new(RefCell::new(Vec::new()));
    let pid = Rc::new(RefCell::new(0));
    let mut kernel = Kernel::new().unwrap();
    let (l, out, p) = (log.clone(), Rc::clone(&stdout), Rc::clone(&pid));
    kernel
        .spawn(
            Session::new(Heap::default())
                .on("_start", move |cx, _| {
                    let run = Run::shell(
                        "i=1; while [ $i -le 200 ]; do echo \"line $i\"; i=$((i+1)); done; \
                         echo 'something went wrong' >&2; exit 7",
                    )
                    .stdout("stdout")
                    .stderr("stderr")
                    .close("closed")
                    .error("error")
                    .start(cx)?;
                    cx.heap.pid = run.pid();
                    *p.borrow_mut() = run.pid();
                    cx.sig_child(run.pid(), "chld", ("context",))?;
                    cx.heap.run = Some(run);
                    Ok::<_, Error>(())
                })
                .on("stdout", move |cx, args| {
                    assert_eq!(
                        args[1].as_int().map(|n| n as u64),
                        cx.heap.run.as_ref().map(|r| r.id().number())
                    );
                    out.borrow_mut().push(args[0].to_string());
                })
                .on("stderr", {
                    let l = l.clone();
                    move |_, args| l.push(format!("stderr: {}", args[0]))
                })
                .on("error", {
                    let l = l.clone();
                    move |_, args| {
                        l.push(format!("error: {} {} {}", args[0], args[1], args[4]));
                    }
                })
                .on("closed", {
                    let l = l.clone();
                    move |cx, _| {
                        l.push("closed");
                        cx.heap.closed = true;
                        cx.heap.finish_if_done();
                    }
                })
                .on("chld", move |cx, args| {
                    assert_eq!(args[0].as_str(), Some("CHLD"));
                    assert_eq!(args[1].as_int(), Some(i64::from(cx.heap.pid)));
                    assert_eq!(args[3].as_str(), Some("context"));
                    let status = args[2].as_int().unwrap();
                    l.push(format!("exit {}", status >> 8));
                    cx.heap.reaped = true;
                    cx.heap.finish_if_done();
                }),
        )
        .unwrap();
    kernel.run().unwrap();

    let expected: Vec<String> = (1..=200).map(|n| format!("line {n}")).collect();
    assert_eq!(*stdout.borrow(), expected);
    let mut lines = log.lines();
    // The order of the two output streams' ends, and of the close event
    // against the CHLD event, is the operating system's.
    let closed = lines.iter().position(|l| l == "closed").unwrap();
    let stderr = lines
        .iter()
        .position(|l| l == "stderr: something went wrong");
    assert!(stderr.is_some_and(|s| s < closed), "{lines:?}");
    assert!(
        lines[..closed].contains(&"error: read 0 STDOUT".to_owned())
            && lines[..closed].contains(&"error: read 0 STDERR".to_owned()),
        "both streams end before the close event: {lines:?}"
    );
    lines.sort();
    assert_eq!(
        lines,
        [
            "closed",
            "error: read 0 STDERR",
            "error: read 0 STDOUT",
            "exit 7",
            "stderr: something went wrong",
        ]
    );
    assert!(is_reaped(*pid.borrow()), "the child was left a zombie");
}

/// Records put to stdin reach the child (here `cat`, which echoes them);
/// the stdin event says when they have all been written; closing stdin
/// ends the child.
#[test]
fn input_reaches_the_child_and_shutdown_stdin_ends_it() {
    let log = Log::default();
    let echoed = Rc::new(RefCell::new(Vec::new()));
    let pid = Rc::new(RefCell::new(0));
    let mut kernel = Kernel::new().unwrap();
    let (l, e, p) = (log.clone(), Rc::clone(&echoed), Rc::clone(&pid));
    kernel
        .spawn(
            Session::new(Heap::default())
                .on("_start", move |cx, _| {
                    let run = Run::program("cat", ["-"])
                        .stdout("stdout")
                        .stdin("flushed")
                        .close("closed")
                        .start(cx)?;
                    for n in 0..50 {
                        run.put(format!("record {n}").into_bytes()).unwrap();
                    }
                    *p.borrow_mut() = run.pid();
                    cx.sig_child(run.pid(), "chld", ())?;
                    cx.heap.run = Some(run);
                    Ok::<_, Error>(())
                })
                .on("stdout", move |_, args| {
                    e.borrow_mut().push(args[0].to_string())
                })
                .on("flushed", {
                    let l = l.clone();
                    move |cx, _| {
                        l.push("flushed");
                        cx.heap.run.as_ref().unwrap().shutdown_stdin();
                    }
                })
                .on("closed", {
                    let l = l.clone();
                    move |cx, _| {
                        l.push("closed");
                        cx.heap.closed = true;
                        cx.heap.finish_if_done();
                    }
                })
                .on("chld", move |cx, args| {
                    l.push(format!("exit {}", args[2].as_int().unwrap() >> 8));
                    cx.heap.reaped = true;
                    cx.heap.finish_if_done();
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let expected: Vec<String> = (0..50).map(|n| format!("record {n}")).collect();
    assert_eq!(*echoed.borrow(), expected);
    let mut lines = log.lines();
    lines.sort();
    assert_eq!(lines, ["closed", "exit 0", "flushed"]);
    assert!(is_reaped(*pid.borrow()));
}

/// A megabyte through `cat` with the Stream filter: more than a pipe
/// holds, so input is written across many slices while output is read.
#[test]
fn a_megabyte_round_trips_through_a_child() {
    const SIZE: usize = 1024 * 1024;
    let sent: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
    let received = Rc::new(RefCell::new(Vec::new()));
    let mut kernel = Kernel::new().unwrap();
    let (r, data) = (Rc::clone(&received), sent.clone());

    #[derive(Default)]
    struct Big {
        run: Option<Run<Stream>>,
        closed: bool,
        reaped: bool,
    }
    kernel
        .spawn(
            Session::new(Big::default())
                .on("_start", move |cx, _| {
                    let run = Run::program("cat", std::iter::empty::<&str>())
                        .filter(Stream::new)
                        .stdout("stdout")
                        .stdin("flushed")
                        .close("closed")
                        .start(cx)?;
                    for chunk in data.chunks(10_007) {
                        run.put(chunk.to_vec()).unwrap();
                    }
                    assert!(run.pending_input() > 0, "a pipe took a megabyte at once");
                    cx.sig_child(run.pid(), "chld", ())?;
                    cx.heap.run = Some(run);
                    Ok::<_, Error>(())
                })
                .on("stdout", move |_, args| {
                    r.borrow_mut()
                        .extend_from_slice(args[0].as_bytes().unwrap());
                })
                .on("flushed", |cx, _| {
                    cx.heap.run.as_ref().unwrap().shutdown_stdin()
                })
                .on("closed", |cx, _| {
                    cx.heap.closed = true;
                    if cx.heap.reaped {
                        cx.heap.run = None;
                    }
                })
                .on("chld", |cx, _| {
                    cx.heap.reaped = true;
                    if cx.heap.closed {
                        cx.heap.run = None;
                    }
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert!(*received.borrow() == sent, "the bytes differ");
}

/// `kill` delivers a signal; the CHLD status says the child died of it.
#[test]
fn kill_signals_the_child() {
    let status = Rc::new(RefCell::new(None));
    let mut kernel = Kernel::new().unwrap();
    let s = Rc::clone(&status);
    kernel
        .spawn(
            Session::new(Heap::default())
                .on("_start", |cx, _| {
                    let run = Run::program("sleep", ["30"]).close("closed").start(cx)?;
                    cx.sig_child(run.pid(), "chld", ())?;
                    run.kill("TERM")?;
                    assert!(run.kill("NOT-A-SIGNAL").is_err());
                    cx.heap.run = Some(run);
                    Ok::<_, Error>(())
                })
                .on("closed", |cx, _| {
                    cx.heap.closed = true;
                    cx.heap.finish_if_done();
                })
                .on("chld", move |cx, args| {
                    *s.borrow_mut() = args[2].as_int();
                    cx.heap.reaped = true;
                    cx.heap.finish_if_done();
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let status = status.borrow().unwrap();
    // Killed by SIGTERM: the low seven bits are the signal.
    assert_eq!(
        status & 0x7f,
        i64::from(rustix::process::Signal::TERM.as_raw())
    );
}

/// While stdout is paused nothing is read from it; after resuming every
/// line arrives.
#[test]
fn paused_stdout_is_not_read_until_resumed() {
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();
    let l = log.clone();
    kernel
        .spawn(
            Session::new(Heap::default())
                .on("_start", |cx, _| {
                    let run = Run::shell("echo one; echo two; echo done >&2")
                        .stdout("stdout")
                        .stderr("stderr")
                        .close("closed")
                        .start(cx)?;
                    run.pause_stdout();
                    cx.sig_child(run.pid(), "chld", ())?;
                    cx.heap.run = Some(run);
                    Ok::<_, Error>(())
                })
                .on("stderr", {
                    let l = l.clone();
                    move |cx, _| {
                        // The child has written everything by now; stdout
                        // still waits.
                        l.push("resume");
                        cx.delay("resume", Duration::from_millis(20), ())
                    }
                })
                .on("resume", |cx, _| {
                    cx.heap.run.as_ref().unwrap().resume_stdout()
                })
                .on("stdout", {
                    let l = l.clone();
                    move |_, args| l.push(args[0].to_string())
                })
                .on("closed", |cx, _| {
                    cx.heap.closed = true;
                    cx.heap.finish_if_done();
                })
                .on("chld", |cx, _| {
                    cx.heap.reaped = true;
                    cx.heap.finish_if_done();
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(log.lines(), ["resume", "one", "two"]);
}

/// A program that cannot be started is an error from `start`, and nothing
/// is left running.
#[test]
fn a_missing_program_is_an_error_from_start() {
    let result = Rc::new(RefCell::new(None));
    let mut kernel = Kernel::new().unwrap();
    let r = Rc::clone(&result);
    kernel
        .spawn(Session::new(()).on("_start", move |cx, _| {
            let started = Run::builder(Command::new("/nonexistent/roe-no-such-program"))
                .stdout("stdout")
                .start(cx);
            *r.borrow_mut() = Some(match started {
                Err(Error::Io(e)) => e.kind(),
                Err(other) => panic!("unexpected error {other}"),
                Ok(_) => panic!("a missing program started"),
            });
        }))
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*result.borrow(), Some(std::io::ErrorKind::NotFound));
}

/// Input put after stdin was closed is an error event for `STDIN`, not a
/// panic.
#[test]
fn input_after_shutdown_stdin_is_an_error_event() {
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();
    let l = log.clone();
    kernel
        .spawn(
            Session::new(Heap::default())
                .on("_start", |cx, _| {
                    let run = Run::program("cat", std::iter::empty::<&str>())
                        .error("error")
                        .close("closed")
                        .start(cx)?;
                    run.shutdown_stdin();
                    run.put(b"too late".to_vec()).unwrap();
                    cx.sig_child(run.pid(), "chld", ())?;
                    cx.heap.run = Some(run);
                    Ok::<_, Error>(())
                })
                .on("error", move |_, args| {
                    l.push(format!("{} {} {}", args[0], args[1], args[4]));
                })
                .on("closed", |cx, _| {
                    cx.heap.closed = true;
                    cx.heap.finish_if_done();
                })
                .on("chld", |cx, _| {
                    cx.heap.reaped = true;
                    cx.heap.finish_if_done();
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let lines = log.lines();
    let epipe = rustix::io::Errno::PIPE.raw_os_error();
    assert_eq!(lines[0], format!("write {epipe} STDIN"), "{lines:?}");
    assert!(lines.contains(&"read 0 STDOUT".to_owned()), "{lines:?}");
}
