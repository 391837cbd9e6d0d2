//! The fs view (ProcAlike) against the program it looks at: W1 ping-pong
//! on a runtime of one kernel that also holds 100,000 idle sessions.
//!
//! One criterion group puts three cases side by side: nobody observing
//! (snapshots effectively off: one an hour), snapshots every 100 ms with
//! nobody reading them, and the view mounted (which sets 100 ms) with a
//! reader thread reading its files in a loop: kernel 0's counters and an
//! idle session's files. Before the group, recorded passes print how long
//! one file takes to open, read and close (p50/p99), with kernel 0 idle and
//! with it running W1, then the medians of interleaved W1 runs of the
//! three cases (the view stays mounted; "unobserved" pauses the reader and
//! sets the interval to an hour), which drift on this machine less than
//! criterion's groups run one after the other.
//!
//! The kernel is pinned to CPU 0. For the W1 runs the reader and the
//! view's thread are pinned to the last CPU, so that on a two-CPU machine
//! they take time from the kernel only through what the view asks of it,
//! not by sharing its CPU; a thread that only computes on that CPU shows
//! what any busy neighbour costs there.
//! Each W1 run checks that it handled every event; each read checks that
//! the file had something in it. The mounted cases need /dev/fuse and
//! root, and are skipped, with a message, where the view cannot mount
//! (`roe_fs::can_mount`; with `ROE_REQUIRE_FUSE=1` the bench fails
//! instead). Results: docs/benchmarks.md, "fs view (ProcAlike)".

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput};
use roe::{Detail, KernelId, Runtime, RuntimeHandle, Session, workloads};
use roe_fs::ProcAlike;

/// Idle sessions beside W1's two.
const SESSIONS: u64 = 100_000;
/// Events per W1 run.
const N: u64 = 1_000_000;
/// Reads per file kind in a recorded latency pass.
const READS: usize = 2_000;
/// Snapshots "effectively off".
const OFF: Duration = Duration::from_secs(3600);
/// The view's interval, ProcAlike's default.
const OBSERVED: Duration = Duration::from_millis(100);
/// Interleaved passes of each case.
const PASSES: usize = 15;

/// A session that does nothing and stays until the runtime ends.
fn idle_session() -> Session<()> {
    Session::new(())
        .on("_start", |cx, _| {
            let me = cx.session();
            cx.refcount_increment(me, "idle")
        })
        .on("poke", |_, _| {})
}

/// The runtime: one kernel, pinned to CPU 0, with [`SESSIONS`] idle
/// sessions.
fn runtime() -> Runtime {
    Runtime::builder()
        .kernels(1)
        .pin(true)
        .snapshot_interval(OFF)
        .start(|kernel| {
            for _ in 0..SESSIONS {
                kernel.spawn(idle_session())?;
            }
            Ok(())
        })
        .expect("the runtime starts")
}

/// W1 on kernel 0 of `handle`'s runtime (`roe bench`'s, as its fs
/// workloads run it): `n` events, timed on the kernel's thread.
fn w1(handle: &RuntimeHandle, n: u64) -> Duration {
    workloads::fs::w1_on(handle, n).expect("W1 handles every event")
}

/// Sets kernel 0's snapshot interval and waits until it has. Setting it
/// publishes a snapshot of every session; another, of counters, follows
/// at once, so that the first measured run does not free the big one.
fn set_interval(handle: &RuntimeHandle, interval: Duration) {
    let (tx, rx) = mpsc::channel();
    handle
        .spawn_on(KernelId(0), move |kernel| {
            kernel.snapshots(interval);
            let _ = tx.send(());
        })
        .expect("kernel 0 runs");
    rx.recv().expect("the interval is set");
    let reader = handle.snapshots(KernelId(0)).expect("kernel 0");
    reader
        .load_detail(&Detail::counters(), Duration::ZERO, Duration::from_secs(10))
        .expect("kernel 0 publishes");
}

/// The last CPU, where the reader and the view's thread run (kernel 0
/// has the first); none on a machine of one.
fn last_cpu() -> Option<usize> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    (cores.len() > 1)
        .then(|| cores.last().map(|core| core.id))
        .flatten()
}

/// Pins the calling thread to the last CPU.
fn pin_last() {
    if let Some(id) = last_cpu() {
        core_affinity::set_for_current(core_affinity::CoreId { id });
    }
}

/// The `/proc/self/task` directories of the threads named `name`.
fn threads(name: &str) -> Vec<PathBuf> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .flatten()
        .map(|task| task.path())
        .filter(|task| {
            let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            comm.trim() == name
        })
        .collect()
}

/// Pins the view's thread (`roe-procalike`) to the last CPU.
fn pin_view_thread() {
    let Some(cpu) = last_cpu() else {
        return;
    };
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    for task in threads("roe-procalike") {
        let tid = task.file_name().and_then(|n| n.to_str()?.parse().ok());
        if let Some(pid) = tid.and_then(rustix::process::Pid::from_raw) {
            rustix::thread::sched_setaffinity(Some(pid), &set).expect("the view's thread pins");
        }
    }
}

/// How often kernel 0's thread has been preempted (its involuntary
/// context switches).
fn preemptions() -> u64 {
    let Some(task) = threads("roe-kernel-0").pop() else {
        return 0;
    };
    let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The files a reader reads, in turn: kernel 0's counters, then an idle
/// session's files.
fn files(root: &Path, session: u64) -> Vec<(PathBuf, Kind)> {
    let k = root.join("kernel/0");
    let s = k.join(format!("sessions/{session}"));
    vec![
        (k.join("slices"), Kind::Counter),
        (k.join("statistics/dispatched"), Kind::Counter),
        (k.join("event_count"), Kind::Counter),
        (s.join("events_handled"), Kind::Session),
        (s.join("handlers"), Kind::Session),
        (s.join("refcount"), Kind::Session),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Session,
}

/// A thread reading the view's files in a loop until stopped.
struct Reader {
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    reads: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Reader {
    fn start(root: &Path, session: u64) -> Reader {
        let files = files(root, session);
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let (s, p, r) = (Arc::clone(&stop), Arc::clone(&paused), Arc::clone(&reads));
        let thread = thread::spawn(move || {
            pin_last();
            while !s.load(Ordering::Relaxed) {
                if p.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
                for (path, _) in &files {
                    read(path);
                    r.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Reader {
            stop,
            paused,
            reads,
            thread,
        }
    }

    /// Stops reading until resumed.
    fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        // A read under way finishes before a run starts.
        thread::sleep(Duration::from_millis(5));
    }

    /// Stops the thread; how many files it read.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the reader does not panic");
        self.reads.load(Ordering::Relaxed)
    }
}

/// Opens, reads and closes `path`; fails on an empty file.
fn read(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!bytes.is_empty(), "{} is empty", path.display());
}

/// p50 and p99 of `times`, in microseconds.
fn percentiles(times: &mut [Duration]) -> (f64, f64) {
    times.sort_unstable();
    let last = times.len().saturating_sub(1);
    let at = |q: f64| times[(last as f64 * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

/// Reads each file [`READS`] times, timing each open, read and close.
fn latency_pass(handle: &RuntimeHandle, root: &Path, session: u64, label: &str) {
    let generation = || handle.snapshot(KernelId(0)).expect("kernel 0").generation;
    let before = generation();
    let files = files(root, session);
    let mut by_kind = [Vec::new(), Vec::new()];
    for _ in 0..READS {
        for (path, kind) in &files {
            let started = Instant::now();
            read(path);
            by_kind[usize::from(*kind == Kind::Session)].push(started.elapsed());
        }
    }
    let published = generation() - before;
    for (name, times) in ["counter files", "session files"].iter().zip(&mut by_kind) {
        let (p50, p99) = percentiles(times);
        println!(
            "fs read, {label}, {name}: p50 {p50:.1} us, p99 {p99:.1} us ({} reads; kernel 0 published {published} snapshots meanwhile)",
            times.len()
        );
    }
}

/// Whether the view can mount here; says why not when it cannot (and
/// fails instead with `ROE_REQUIRE_FUSE=1`).
fn fuse_available() -> bool {
    match roe_fs::can_mount() {
        Ok(()) => true,
        Err(why) => {
            println!("fs view: {why}: the mounted case is skipped");
            false
        }
    }
}

/// Mounts the view (which sets kernel 0's interval to [`OBSERVED`]).
fn mount(handle: &RuntimeHandle) -> ProcAlike {
    let at = std::env::temp_dir().join(format!("roe-bench-fs-{}", std::process::id()));
    let view = ProcAlike::builder()
        .mountpoint(at)
        .watch_signals(false)
        .snapshot_interval(OBSERVED)
        .start(handle)
        .expect("the view mounts");
    set_interval(handle, OBSERVED);
    view
}

/// A thread that only computes until stopped, on the last CPU (what any
/// busy thread there costs kernel 0, whatever it does) or the first (to
/// keep that CPU out of its idle state).
struct Spinner {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Spinner {
    fn start(last: bool) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            if last {
                pin_last();
            } else {
                core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
            }
            let mut x = 1u64;
            while !s.load(Ordering::Relaxed) {
                for _ in 0..1024 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            x
        });
        Spinner { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the spinner does not panic");
    }
}

/// The median of `runs`, in events per second.
fn median_rate(runs: &mut [Duration]) -> f64 {
    runs.sort_unstable();
    N as f64 / runs[runs.len() / 2].as_secs_f64()
}

/// The idle session whose files the reader reads: one in the middle.
const READ_SESSION: u64 = SESSIONS / 2;

/// Recorded passes: file read latency with kernel 0 idle, then running W1
/// (the reader is this thread, and neither it nor the view's thread is
/// pinned, as a program's are not); then the interleaved W1 runs.
fn report(handle: &RuntimeHandle) {
    let view = mount(handle);
    let root = view.mountpoint().to_owned();
    // The first read of a session's files asks the kernel for it.
    read(&files(&root, READ_SESSION)[3].0);
    latency_pass(handle, &root, READ_SESSION, "kernel idle");
    // The same with CPU 0 kept busy: waking an idle CPU is what is slow
    // on some machines, not the view.
    let spinner = Spinner::start(false);
    latency_pass(
        handle,
        &root,
        READ_SESSION,
        "kernel idle, CPU 0 busy spinning",
    );
    spinner.stop();
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let (handle, stop) = (handle.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                w1(&handle, N);
            }
        })
    };
    latency_pass(handle, &root, READ_SESSION, "kernel running W1");
    stop.store(true, Ordering::Relaxed);
    busy.join().expect("W1 does not panic");

    // Interleaved: unobserved, snapshots every 100 ms, the reader reading,
    // and unobserved beside a thread that only computes on the reader's
    // CPU.
    pin_view_thread();
    let reader = Reader::start(&root, READ_SESSION);
    let mut runs: [Vec<Duration>; 4] = Default::default();
    let mut preempted = [0u64; 4];
    for _ in 0..PASSES {
        for (case, runs) in runs.iter_mut().enumerate() {
            reader.pause(case != 2);
            set_interval(
                handle,
                if case == 1 || case == 2 {
                    OBSERVED
                } else {
                    OFF
                },
            );
            let spinner = (case == 3).then(|| Spinner::start(true));
            let before = preemptions();
            runs.push(w1(handle, N));
            preempted[case] += preemptions() - before;
            if let Some(spinner) = spinner {
                spinner.stop();
            }
        }
    }
    reader.stop();
    let rates = runs.each_mut().map(|runs| median_rate(runs));
    let names = [
        "unobserved",
        "snapshots every 100 ms",
        "mounted, reader in a loop",
        "unobserved, a spinning thread on the reader's CPU",
    ];
    for ((name, rate), preempted) in names.iter().zip(rates).zip(preempted) {
        println!(
            "W1 beside {SESSIONS} idle sessions, {name}: {:.2} M events/s, {:+.1}% against unobserved (median of {PASSES} interleaved runs; kernel 0 preempted {preempted} times in all)",
            rate / 1e6,
            (rate / rates[0] - 1.0) * 100.0
        );
    }
    drop(view);
}

fn fs_view(c: &mut Criterion, handle: &RuntimeHandle, fuse: bool) {
    let mut group = c.benchmark_group("fs view: W1 beside 100k idle sessions");
    group.throughput(Throughput::Elements(N));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    let run = |iters: u64| (0..iters).map(|_| w1(handle, N)).sum::<Duration>();

    set_interval(handle, OFF);
    group.bench_function(BenchmarkId::new("unobserved", N), |b| b.iter_custom(run));

    set_interval(handle, OBSERVED);
    group.bench_function(BenchmarkId::new("snapshots every 100 ms", N), |b| {
        b.iter_custom(run)
    });

    if fuse {
        let view = mount(handle);
        pin_view_thread();
        let reader = Reader::start(view.mountpoint(), READ_SESSION);
        let generation = || handle.snapshot(KernelId(0)).expect("kernel 0").generation;
        let (before, started) = (generation(), Instant::now());
        group.bench_function(BenchmarkId::new("mounted, reader in a loop", N), |b| {
            b.iter_custom(run)
        });
        let (published, took) = (generation() - before, started.elapsed());
        let reads = reader.stop();
        println!(
            "fs view: the reader read {reads} files in {:.1} s; kernel 0 published {published} snapshots",
            took.as_secs_f64()
        );
        drop(view);
    }
    set_interval(handle, OFF);
    group.finish();
}

fn main() {
    workloads::settle_wakeups();
    let runtime = runtime();
    let handle = runtime.handle();
    let fuse = fuse_available();
    if fuse {
        report(&handle);
    }
    let mut criterion = Criterion::default().configure_from_args();
    fs_view(&mut criterion, &handle, fuse);
    criterion.final_summary();
    handle.shutdown();
    runtime.join().expect("the runtime ends cleanly");
}
