//! POE::Wheel::FollowTail on real files: appends, truncation, rotation,
//! seeking, and a file that appears late.
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

/// A FIFO is refused at once: opening one to read could block the kernel.
#[test]
fn a_fifo_is_refused_without_blocking() {
    let file = TempFile::new("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(file.path())
        .status();
    if !made.is_ok_and(|status| status.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let refused = Rc::new(RefCell::new(None));
    let (r, path) = (Rc::clone(&refused), file.path().to_owned());
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(Session::new(()).on("_start", move |cx, _| {
            let started = FollowTail::builder(path.clone(), "input").start(cx);
            *r.borrow_mut() = Some(matches!(started, Err(Error::InvalidArgument(_))));
        }))
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*refused.borrow(), Some(true));
}
