//! The fs view (ProcAlike) beside the program it looks at: a runtime of
//! one kernel holding [`IDLE_SESSIONS`] idle sessions, with the view
//! mounted on a directory of its own.
//!
//! - [`w1_observed`]: W1 ping-pong on that kernel while a thread reads the
//!   view's files in a loop (kernel 0's counters and a session's files):
//!   what being looked at costs the program, to set beside `w1_pingpong`
//!   in the same run.
//! - [`read`]: how long one file of the view takes to open, read and
//!   close, a counter file and a session's file in turn, with the kernel
//!   idle.
//!
//! Both need the view to mount (`/dev/fuse` and root): where it cannot,
//! the workload fails, saying why. The criterion bench (`benches/fs.rs`)
//! runs W1 with [`w1_on`] beside 100,000 sessions, unobserved and read.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use roe_engine::{Event, KernelId, Runtime, RuntimeHandle, Session};
use roe_fs::ProcAlike;

use super::{Measured, Outcome};

/// Idle sessions beside W1's two: a kernel with sessions to list.
pub const IDLE_SESSIONS: u64 = 1_000;

/// How often the view has kernels publish, ProcAlike's default.
const INTERVAL: Duration = Duration::from_millis(100);

/// W1 on a kernel while the view is read in a loop: `n` events, rated per
/// second of the kernel's time for them.
///
/// # Errors
///
/// The view cannot mount here, or the run fails its checks (every event
/// handled, the view read meanwhile).
pub fn w1_observed(n: u64) -> Outcome<Measured> {
    let watched = Watched::start()?;
    let files = watched.files();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, reads) = (Arc::clone(&stop), Arc::clone(&reads));
        thread::spawn(move || -> Outcome<()> {
            while !stop.load(Ordering::Relaxed) {
                for path in &files {
                    match read_file(path) {
                        Ok(()) => {
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        // The view's answer for a kernel too busy to answer
                        // within its bound: it was asked all the same.
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(error) => return Err(format!("{}: {error}", path.display()).into()),
                    }
                }
            }
            Ok(())
        })
    };
    let elapsed = w1_on(&watched.runtime.handle(), n);
    stop.store(true, Ordering::Relaxed);
    let read = reader.join().map_err(|_| "the reader panicked")?;
    watched.stop()?;
    read?;
    let elapsed = elapsed?;
    if reads.load(Ordering::Relaxed) == 0 {
        return Err("no file of the view was read while W1 ran".into());
    }
    Ok(Measured::new(n.next_multiple_of(2), elapsed))
}

/// `n` reads of the view's files, each timed from open to close.
///
/// # Errors
///
/// The view cannot mount here, or a file cannot be read or is empty.
pub fn read(n: u64) -> Outcome<Measured> {
    let watched = Watched::start()?;
    let files = watched.files();
    let mut times = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let started = Instant::now();
    let mut outcome = Ok(());
    for path in files
        .iter()
        .cycle()
        .take(usize::try_from(n).unwrap_or(usize::MAX))
    {
        let began = Instant::now();
        if let Err(error) = read_file(path) {
            outcome = Err(error);
            break;
        }
        times.push(began.elapsed());
    }
    let elapsed = started.elapsed();
    watched.stop()?;
    outcome?;
    Ok(Measured::new(n, elapsed).with_latencies(times))
}

/// W1 on kernel 0 of `handle`'s runtime: session A posts `ping` to B,
/// which posts `pong` back, `n` events in all (rounded up to a whole
/// round trip); timed on the kernel's thread from spawning the two
/// sessions to the last pong.
///
/// # Errors
///
/// Kernel 0 is not running, or not every event was handled.
pub fn w1_on(handle: &RuntimeHandle, n: u64) -> Outcome<Duration> {
    let n = n.next_multiple_of(2);
    let (tx, rx) = mpsc::channel();
    handle.spawn_on(KernelId(0), move |kernel| {
        let started = Instant::now();
        let (ping, pong) = (Event::new("ping"), Event::new("pong"));
        let b = kernel.spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    let me = cx.session();
                    cx.refcount_increment(me, "w1")
                })
                .on(ping, move |cx, args| {
                    let sender = cx.sender();
                    cx.post(sender, pong, args)
                })
                .on("done", |cx, _| {
                    let me = cx.session();
                    cx.refcount_decrement(me, "w1")
                }),
        );
        let Ok(b) = b else {
            return;
        };
        let a = kernel.spawn(
            Session::new(0u64)
                .on("_start", move |cx, _| cx.post(b, ping, (0,)))
                .on(pong, move |cx, args| {
                    *cx.heap += 2;
                    if *cx.heap < n {
                        return cx.post(b, ping, args);
                    }
                    let _ = tx.send((*cx.heap, started.elapsed()));
                    cx.post(b, "done", ())
                }),
        );
        drop(a);
    })?;
    let (seen, elapsed) = rx
        .recv_timeout(Duration::from_secs(600))
        .map_err(|_| "W1 did not finish")?;
    if seen != n {
        return Err(format!("W1 handled {seen} of {n} events").into());
    }
    Ok(elapsed)
}

/// A runtime with idle sessions and the view mounted on it.
struct Watched {
    runtime: Runtime,
    view: ProcAlike,
    root: PathBuf,
    /// A session the view lists.
    session: u64,
}

impl Watched {
    fn start() -> Outcome<Watched> {
        roe_fs::can_mount().map_err(|why| format!("the fs view cannot mount here: {why}"))?;
        let (first, first_rx) = mpsc::channel();
        let runtime = Runtime::builder()
            .kernels(1)
            .pin(false)
            .start(move |kernel| {
                for at in 0..IDLE_SESSIONS {
                    let id = kernel.spawn(idle_session())?;
                    if at == 0 {
                        let _ = first.send(id);
                    }
                }
                Ok(())
            })?;
        let session = first_rx
            .recv()
            .map_err(|_| "the idle sessions did not start")?;
        let root = std::env::temp_dir().join(format!("roe-bench-fs-{}", std::process::id()));
        let view = ProcAlike::builder()
            .mountpoint(&root)
            .watch_signals(false)
            .snapshot_interval(INTERVAL)
            .start(&runtime.handle());
        let view = match view {
            Ok(view) => view,
            Err(error) => {
                runtime.handle().shutdown();
                let _ = runtime.join();
                return Err(format!("the fs view did not mount: {error}").into());
            }
        };
        Ok(Watched {
            runtime,
            view,
            root,
            session: session.number(),
        })
    }

    /// The files a reader reads in turn: kernel 0's counters, then a
    /// session's files.
    fn files(&self) -> Vec<PathBuf> {
        let kernel = self.root.join("kernel/0");
        let session = kernel.join(format!("sessions/{}", self.session));
        vec![
            kernel.join("slices"),
            kernel.join("statistics/dispatched"),
            session.join("events_handled"),
            session.join("handlers"),
        ]
    }

    /// Unmounts the view and stops the runtime.
    fn stop(self) -> Outcome<()> {
        drop(self.view);
        self.runtime.handle().shutdown();
        self.runtime.join()?;
        Ok(())
    }
}

/// A session that does nothing and stays until the runtime ends.
fn idle_session() -> Session<()> {
    Session::new(()).on("_start", |cx, _| {
        let me = cx.session();
        cx.refcount_increment(me, "idle")
    })
}

/// Opens, reads and closes `path`; an empty file is an error.
fn read_file(path: &Path) -> std::io::Result<()> {
    if std::fs::read(path)?.is_empty() {
        return Err(std::io::Error::other("the file is empty"));
    }
    Ok(())
}
