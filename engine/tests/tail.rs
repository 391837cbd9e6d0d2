//! POE::Wheel::FollowTail on real files: appends, truncation, rotation,
//! seeking, a file that appears late, large files read a budget at a
//! time, and FIFOs.
//!
//! Each test drives a small script of file operations from the wheel's idle
//! event, which fires after every poll that found nothing new, so every
//! step is seen by at least one poll before the next one runs. File writes
//! happen in handlers, on the kernel's thread, so a poll never sees half a
//! step.

use std::{
    cell::RefCell,
    fs::{self, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    rc::Rc,
    time::Duration,
};

use roe_engine::{Context, Error, FollowTail, FollowTailBuilder, Kernel, Session};
use rustix::fs::{Mode, OFlags};

const POLL: Duration = Duration::from_millis(2);

/// A file path unique to this process and `name`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("roe-tail-{}-{name}", std::process::id()));
        let _ = fs::remove_file(&path);
        TempFile(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        let _ = fs::remove_file(rotated(&self.0));
    }
}

fn rotated(path: &Path) -> PathBuf {
    path.with_extension("1")
}

fn append(path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// A step of a test's script, run on an idle poll.
type Step = Box<dyn Fn(&Path)>;

struct Script {
    wheel: Option<FollowTail>,
    steps: Vec<Step>,
    next: usize,
    path: PathBuf,
}

/// Follows `path` with the wheel `configure` builds, runs `steps` one per
/// idle poll, and returns what the wheel reported: `input <record>` and
/// `reset`. The wheel is dropped at the first idle poll after the last
/// step.
fn follow(
    path: &Path,
    configure: impl Fn(FollowTailBuilder) -> FollowTailBuilder + 'static,
    steps: Vec<Step>,
) -> Vec<String> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut kernel = Kernel::new().unwrap();
    let (l1, l2, l3) = (Rc::clone(&log), Rc::clone(&log), Rc::clone(&log));
    kernel
        .spawn(
            Session::new(Script {
                wheel: None,
                steps,
                next: 0,
                path: path.to_owned(),
            })
            .on("_start", move |cx, _| {
                let builder = FollowTail::builder(cx.heap.path.clone(), "input")
                    .poll_interval(POLL)
                    .reset("reset")
                    .error("error")
                    .idle("idle");
                let wheel = configure(builder).start(cx)?;
                cx.heap.wheel = Some(wheel);
                Ok::<_, Error>(())
            })
            .on("input", move |cx: &mut Context<'_, Script>, args| {
                let id = cx.heap.wheel.as_ref().map(|w| w.id().number());
                assert_eq!(args[1].as_int().map(|n| n as u64), id);
                l1.borrow_mut().push(format!("input {}", args[0]));
            })
            .on("reset", move |_, _| {
                l2.borrow_mut().push("reset".to_owned())
            })
            .on("error", move |_, args| {
                l3.borrow_mut()
                    .push(format!("error {} {}", args[0], args[1]));
            })
            .on("idle", |cx, _| {
                let step = cx.heap.next;
                cx.heap.next += 1;
                match cx.heap.steps.get(step) {
                    Some(step) => step(&cx.heap.path),
                    None => cx.heap.wheel = None,
                }
            }),
        )
        .unwrap();
    kernel.run().unwrap();
    log.take()
}

#[test]
fn appended_lines_arrive_and_earlier_ones_do_not() {
    let file = TempFile::new("append");
    append(file.path(), "old 1\nold 2\n");
    let log = follow(
        file.path(),
        |b| b,
        vec![
            Box::new(|p| append(p, "new 1\nnew 2\n")),
            Box::new(|p| append(p, "new 3\npart")),
            Box::new(|p| append(p, "ial\n")),
        ],
    );
    assert_eq!(
        log,
        ["input new 1", "input new 2", "input new 3", "input partial"]
    );
}

#[test]
fn truncation_is_a_reset_and_reading_starts_over() {
    let file = TempFile::new("truncate");
    append(file.path(), &"x".repeat(100));
    append(file.path(), "\n");
    let log = follow(
        file.path(),
        |b| b,
        vec![
            Box::new(|p| append(p, "before\n")),
            Box::new(|p| fs::write(p, "after\n").unwrap()),
            Box::new(|p| append(p, "more\n")),
        ],
    );
    assert_eq!(log, ["input before", "reset", "input after", "input more"]);
}

#[test]
fn rotation_reads_the_old_file_out_then_resets_to_the_new_one() {
    let file = TempFile::new("rotate");
    append(file.path(), "start\n");
    let log = follow(
        file.path(),
        |b| b,
        vec![
            Box::new(|p| append(p, "one\n")),
            // Renamed away: the old file is still followed.
            Box::new(|p| {
                fs::rename(p, rotated(p)).unwrap();
                append(&rotated(p), "two\n");
            }),
            // A new file at the path: the rest of the old one comes first.
            Box::new(|p| {
                append(&rotated(p), "three\n");
                append(p, "fresh\n");
            }),
            Box::new(|p| append(p, "fresh again\n")),
        ],
    );
    assert_eq!(
        log,
        [
            "input one",
            "input two",
            "input three",
            "reset",
            "input fresh",
            "input fresh again",
        ]
    );
}

#[test]
fn seek_and_seek_back_choose_where_reading_starts() {
    let file = TempFile::new("seek");
    append(file.path(), "one\ntwo\nthree\n");
    let from_start = follow(file.path(), |b| b.seek(0), vec![]);
    assert_eq!(from_start, ["input one", "input two", "input three"]);
    let from_middle = follow(file.path(), |b| b.seek(4), vec![]);
    assert_eq!(from_middle, ["input two", "input three"]);
    let back = follow(file.path(), |b| b.seek_back(6), vec![]);
    assert_eq!(back, ["input three"]);
    let past_the_start = follow(file.path(), |b| b.seek_back(1000), vec![]);
    assert_eq!(past_the_start, ["input one", "input two", "input three"]);
}

#[test]
fn a_file_that_appears_later_is_read_from_its_start() {
    let file = TempFile::new("late");
    let log = follow(
        file.path(),
        |b| b,
        vec![
            Box::new(|_| {}),
            Box::new(|p| append(p, "hello\n")),
            Box::new(|p| append(p, "world\n")),
        ],
    );
    assert_eq!(log, ["input hello", "input world"]);
}

#[test]
fn a_directory_is_refused() {
    let refused = Rc::new(RefCell::new(None));
    let r = Rc::clone(&refused);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(Session::new(()).on("_start", move |cx, _| {
            let started = FollowTail::builder(std::env::temp_dir(), "input").start(cx);
            *r.borrow_mut() = Some(matches!(started, Err(Error::InvalidArgument(_))));
        }))
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*refused.borrow(), Some(true));
}

/// Dropping the wheel between polls removes its pending poll timer: the
/// session ends without waiting out a long interval.
#[test]
fn dropping_the_wheel_ends_its_polling() {
    let file = TempFile::new("drop");
    append(file.path(), "x\n");
    let started = std::time::Instant::now();
    let path = file.path().to_owned();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(None::<FollowTail>)
                .on("_start", move |cx, _| {
                    let wheel = FollowTail::builder(path.clone(), "input")
                        .poll_interval(Duration::from_secs(60))
                        .idle("idle")
                        .start(cx)?;
                    *cx.heap = Some(wheel);
                    Ok::<_, Error>(())
                })
                // After an idle poll the next one is a minute away.
                .on("idle", |cx, _| cx.yield_("drop", ()))
                .on("drop", |cx, _| *cx.heap = None),
        )
        .unwrap();
    kernel.run().unwrap();
    // Not a speed test: with the timer left behind this takes a minute.
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// What one poll may read: the wheel's read budget.
const BUDGET: u64 = 256 * 1024;

/// Lines of 100 bytes, numbered so their order shows.
fn numbered_lines(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("{n:07} {}\n", "x".repeat(91)))
        .collect()
}

/// What a wheel following a large file saw.
#[derive(Default)]
struct Seen {
    wheel: Option<FollowTail>,
    steps: Vec<Step>,
    next: usize,
    path: PathBuf,
    /// Records, in order, with `reset` where the reset event came.
    records: Vec<String>,
    /// Bytes of the current file handed out as records, terminators
    /// included.
    consumed: u64,
    /// The most the wheel held at any record: bytes read from the file
    /// (its `tell`) but not yet handed out.
    max_held: u64,
    /// Polls that delivered records: `tell` moves only when the wheel
    /// reads, so each distinct value is one read.
    reads: usize,
    last_tell: u64,
}

/// Follows `path` as [`follow`] does, measuring what the wheel holds.
fn follow_measuring(path: &Path, steps: Vec<Step>) -> Seen {
    let seen = Rc::new(RefCell::new(None));
    let out = Rc::clone(&seen);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Seen {
                steps,
                path: path.to_owned(),
                ..Seen::default()
            })
            .on("_start", |cx, _| {
                let wheel = FollowTail::builder(cx.heap.path.clone(), "input")
                    .poll_interval(POLL)
                    .reset("reset")
                    .idle("idle")
                    .start(cx)?;
                cx.heap.consumed = wheel.tell();
                cx.heap.last_tell = wheel.tell();
                cx.heap.wheel = Some(wheel);
                Ok::<_, Error>(())
            })
            .on("input", |cx: &mut Context<'_, Seen>, args| {
                let record = args[0].to_string();
                let heap = &mut *cx.heap;
                let tell = heap.wheel.as_ref().map_or(0, FollowTail::tell);
                if tell != heap.last_tell {
                    heap.reads += 1;
                    heap.last_tell = tell;
                }
                heap.consumed += record.len() as u64 + 1;
                heap.max_held = heap.max_held.max(tell - heap.consumed);
                heap.records.push(record);
            })
            .on("reset", |cx, _| {
                cx.heap.records.push("reset".to_owned());
                cx.heap.consumed = 0;
                cx.heap.last_tell = 0;
            })
            .on("idle", |cx, _| {
                let step = cx.heap.next;
                cx.heap.next += 1;
                match cx.heap.steps.get(step) {
                    Some(step) => step(&cx.heap.path),
                    None => cx.heap.wheel = None,
                }
            })
            .on("_stop", move |cx, _| {
                *out.borrow_mut() = Some(std::mem::take(&mut *cx.heap));
            }),
        )
        .unwrap();
    kernel.run().unwrap();
    seen.take().expect("the session stopped")
}

/// Several MiB appended at once arrive over many polls, each reading at
/// most the budget: the wheel never holds more than that and one record.
#[test]
fn a_large_append_is_read_a_budget_per_poll() {
    let file = TempFile::new("large-append");
    append(file.path(), "before\n");
    let lines = 40_000; // 4 MB
    let seen = follow_measuring(
        file.path(),
        vec![Box::new(move |p| append(p, &numbered_lines(0, lines)))],
    );
    assert_eq!(seen.records.len(), lines);
    assert!(
        seen.records
            .iter()
            .enumerate()
            .all(|(n, r)| r.starts_with(&format!("{n:07} ")))
    );
    assert!(seen.max_held <= BUDGET + 100, "held {}", seen.max_held);
    assert!(
        seen.reads >= (lines as u64 * 100 / BUDGET) as usize,
        "{} reads",
        seen.reads
    );
}

/// The unread rest of a rotated file is read a budget per poll too, before
/// the reset: a large one is not read (and held) in one go.
#[test]
fn the_large_rest_of_a_rotated_file_is_read_a_budget_per_poll() {
    let file = TempFile::new("large-rotate");
    append(file.path(), "start\n");
    let lines = 40_000;
    let seen = follow_measuring(
        file.path(),
        vec![Box::new(move |p| {
            append(p, &numbered_lines(0, lines));
            fs::rename(p, rotated(p)).unwrap();
            append(p, "fresh\n");
        })],
    );
    assert_eq!(seen.records.len(), lines + 2);
    assert!(
        seen.records[..lines]
            .iter()
            .enumerate()
            .all(|(n, r)| r.starts_with(&format!("{n:07} ")))
    );
    assert_eq!(seen.records[lines..], ["reset", "fresh"]);
    assert!(seen.max_held <= BUDGET + 100, "held {}", seen.max_held);
    assert!(
        seen.reads >= (lines as u64 * 100 / BUDGET) as usize,
        "{} reads",
        seen.reads
    );
}

fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::from_raw_mode(0o600)).unwrap();
}

/// Opens `path` to write without waiting for a reader (`ENXIO` when there
/// is none), writes `text` and closes it.
fn write_fifo(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut writer = OpenOptions::new()
        .write(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    writer.write_all(text.as_bytes())
}

/// How long a FIFO test waits before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

struct Fifo {
    wheel: Option<FollowTail>,
    path: PathBuf,
    records: Vec<String>,
}

/// Follows the FIFO at `path` (made now, or at the first idle poll with
/// `make_late`) until the record `last` arrives, or gives up after
/// [`PATIENCE`]. `first` is written at once, and whatever `on_input`
/// returns for a record is written next; a write waiting for the wheel to
/// open the FIFO is tried again a little later.
fn follow_fifo(
    path: &Path,
    make_late: bool,
    first: &'static str,
    on_input: fn(&str) -> Option<&'static str>,
    last: &'static str,
) -> Vec<String> {
    if !make_late {
        mkfifo(path);
    }
    let seen = Rc::new(RefCell::new(Vec::new()));
    let out = Rc::clone(&seen);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Fifo {
                wheel: None,
                path: path.to_owned(),
                records: Vec::new(),
            })
            .on("_start", move |cx, _| {
                let wheel = FollowTail::builder(cx.heap.path.clone(), "input")
                    .poll_interval(POLL)
                    .error("error")
                    .idle("idle")
                    .start(cx)?;
                cx.heap.wheel = Some(wheel);
                cx.delay("timeout", PATIENCE, ())?;
                cx.yield_("write", (first,));
                Ok::<_, Error>(())
            })
            // A late FIFO appears after the first idle poll.
            .on("idle", move |cx, _| {
                if make_late && !cx.heap.path.exists() {
                    mkfifo(&cx.heap.path);
                }
            })
            .on("write", |cx, args| {
                let text = args[0].to_string();
                if cx.heap.wheel.is_some() && write_fifo(&cx.heap.path, &text).is_err() {
                    // Not there yet, or not opened by the wheel yet.
                    cx.delay_add("write", POLL, (text,))?;
                }
                Ok::<_, Error>(())
            })
            .on("input", move |cx, args| {
                let record = args[0].to_string();
                if let Some(next) = on_input(&record) {
                    cx.yield_("write", (next,));
                }
                if record == last {
                    cx.heap.wheel = None;
                    cx.alarm_remove_all();
                }
                cx.heap.records.push(record);
            })
            .on("error", |cx, args| {
                cx.heap
                    .records
                    .push(format!("error {} {}", args[0], args[2]));
            })
            .on("timeout", |cx, _| {
                cx.heap.records.push("timeout".to_owned());
                cx.heap.wheel = None;
                cx.alarm_remove_all();
            })
            .on("_stop", move |cx, _| {
                *out.borrow_mut() = std::mem::take(&mut cx.heap.records);
            }),
        )
        .unwrap();
    kernel.run().unwrap();
    seen.take()
}

/// POE follows a FIFO across writers: one closing is not the end, and a
/// record it left cut is completed by the next writer.
#[test]
fn a_fifo_is_followed_from_one_writer_to_the_next() {
    let file = TempFile::new("fifo");
    let records = follow_fifo(
        file.path(),
        false,
        "one\ntwo\npar",
        |record| (record == "two").then_some("tial\nthree\n"),
        "three",
    );
    assert_eq!(records, ["one", "two", "partial", "three"]);
}

/// A FIFO that appears at the path after the wheel started is followed
/// too, from the first poll that finds it.
#[test]
fn a_fifo_that_appears_later_is_followed() {
    let file = TempFile::new("late-fifo");
    let records = follow_fifo(file.path(), true, "late\n", |_| None, "late");
    assert_eq!(records, ["late"]);
}

/// A special file that is not a FIFO is refused.
#[test]
fn a_character_device_is_refused() {
    let refused = Rc::new(RefCell::new(None));
    let r = Rc::clone(&refused);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(Session::new(()).on("_start", move |cx, _| {
            let started = FollowTail::builder("/dev/null", "input").start(cx);
            *r.borrow_mut() = Some(matches!(started, Err(Error::InvalidArgument(_))));
        }))
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*refused.borrow(), Some(true));
}
