//! Real mounts: the view read with std::fs and with `cat` and `ls` in
//! child processes, written with `echo`, shut down, detached when busy,
//! and recovered from a killed process's dead mount.
//!
//! Every test mounts at its own directory under the temporary directory
//! and checks that nothing is left mounted there. They need /dev/fuse and
//! root (roe mounts without the setuid helper); where they cannot mount
//! ([`roe_fs::can_mount`]) they say so and pass without mounting, unless
//! `ROE_REQUIRE_FUSE=1` is set, which fails them instead. Child commands
//! run under `timeout`, so a hung mount fails a test instead of hanging it.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use roe_engine::{Kernel, KernelId, Runtime, RuntimeHandle, Session, SessionId};
use roe_fs::{Dir, Error, ProcAlike};

mod common;

use common::{
    PATIENCE, assert_gone, eventually, finish, fuse_available, is_mounted, join_within, mountpoint,
    read, sh,
};

/// What worker sessions report to the test.
type Reports = mpsc::Receiver<(u16, String)>;

/// A runtime of two kernels, each with a worker session aliased
/// `worker/<n>` that handles `ping` and the signal `POKE`, and reports
/// them (and its `_stop`) with its kernel's number.
fn runtime() -> (Runtime, Reports) {
    let (tx, rx) = mpsc::channel();
    let runtime = Runtime::builder()
        .kernels(2)
        .pin(false)
        .start(move |kernel| {
            kernel.spawn(worker(tx.clone()))?;
            Ok(())
        })
        .expect("the runtime starts");
    (runtime, rx)
}

fn worker(tx: mpsc::Sender<(u16, String)>) -> Session<()> {
    let (on_ping, on_poke, on_stop) = (tx.clone(), tx.clone(), tx);
    Session::new(())
        .on("_start", |cx, _| -> roe_engine::Result<()> {
            cx.alias_set(format!("worker/{}", cx.kernel_id()))?;
            cx.sig("POKE", "poked", ())?;
            let me = cx.session();
            cx.refcount_increment(me, "test")?;
            Ok(())
        })
        .on("ping", move |cx, args| {
            let arg = args.get(0);
            let arg = arg
                .as_int()
                .map(|n| n.to_string())
                .or_else(|| arg.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = on_ping.send((cx.kernel_id().0, format!("ping {arg}")));
        })
        .on("poked", move |cx, _| {
            let _ = on_poke.send((cx.kernel_id().0, "poked".into()));
        })
        .on("_stop", move |cx, _| {
            let _ = on_stop.send((cx.kernel_id().0, "stopped".into()));
        })
}

/// The session aliased `alias`, once every kernel has published it.
fn session_of(handle: &RuntimeHandle, alias: &str) -> SessionId {
    handle.resolve(alias).expect("the alias is set")
}

fn start(handle: &RuntimeHandle, at: &Path) -> ProcAlike {
    ProcAlike::builder()
        .mountpoint(at)
        .watch_signals(false)
        .snapshot_interval(Duration::from_millis(20))
        .start(handle)
        .expect("the view mounts")
}

#[test]
fn reads_through_std_fs_cat_and_ls() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("reads");
    let (runtime, _reports) = runtime();
    let handle = runtime.handle();
    let view = ProcAlike::builder()
        .mountpoint(&at)
        .watch_signals(false)
        .snapshot_interval(Duration::from_millis(20))
        .misc(
            Dir::new()
                .value("role", "test")
                .dir("deeper", Dir::new().value("x", 1)),
        )
        .start(&handle)
        .expect("the view mounts");
    assert_eq!(view.mountpoint(), at.as_path());
    assert!(is_mounted(&at));

    // std::fs, in this process.
    assert_eq!(read(&at.join("kernel/kernels")), "2\n");
    assert_eq!(
        read(&at.join("process/pid")),
        format!("{}\n", std::process::id())
    );
    assert_eq!(read(&at.join("misc/role")), "test\n");
    assert_eq!(read(&at.join("misc/deeper/x")), "1\n");
    let worker = session_of(&handle, "worker/1");
    let dir = at.join(format!("kernel/1/sessions/{}", worker.number()));
    eventually("the worker in kernel 1's snapshot", || {
        dir.join("aliases").exists()
    });
    assert_eq!(read(&dir.join("aliases")), "worker/1\n");
    assert_eq!(read(&dir.join("id")), format!("{worker}\n"));
    let handlers = read(&dir.join("handlers"));
    assert!(handlers.lines().any(|h| h == "ping"), "{handlers}");
    let names: Vec<String> = std::fs::read_dir(at.join("kernel"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for name in ["id", "ctl", "sysctl", "0", "1"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    // The ProcAlike session itself, under its alias, on kernel 0.
    let me = session_of(&handle, ProcAlike::ALIAS);
    let mine = at.join(format!("kernel/0/sessions/{}/aliases", me.number()));
    eventually("ProcAlike's session in the snapshot", || mine.exists());
    assert_eq!(read(&mine), "poe-devel-procalike\n");

    // cat and ls, in other processes.
    let root = at.display();
    let (ok, out, err) = sh(&format!(
        "cat {root}/kernel/1/sessions/{}/aliases",
        worker.number()
    ));
    assert!(ok, "{err}");
    assert_eq!(out, "worker/1\n");
    let (ok, out, err) = sh(&format!("ls {root}"));
    assert!(ok, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["kernel", "misc", "modules", "process"]
    );
    let (ok, out, err) = sh(&format!("ls -l {root}/kernel"));
    assert!(ok, "{err}");
    let mode = |name: &str| {
        out.lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .to_owned()
    };
    assert_eq!(mode("ctl"), "-rw-r--r--");
    assert_eq!(mode("id"), "-r--r--r--");
    assert!(mode("sysctl").starts_with("dr-xr-xr-x"));
    let (ok, out, err) = sh(&format!("cat {root}/kernel/0/statistics/dispatched"));
    assert!(ok, "{err}");
    assert!(out.trim().parse::<u64>().unwrap() > 0);
    // A whole walk of the tree: every file reads.
    let (ok, out, err) = sh(&format!(
        "find {root} -type f | head -400 | xargs cat | wc -l"
    ));
    assert!(ok, "{err}");
    assert!(out.trim().parse::<u64>().unwrap() > 50, "{out}");

    drop(view);
    assert_gone(&at);
    finish(runtime);
}

#[test]
fn echo_posts_signals_and_stops_through_ctl() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("ctl");
    let (runtime, reports) = runtime();
    let handle = runtime.handle();
    let view = start(&handle, &at);
    let worker = session_of(&handle, "worker/1");
    let ctl = at.join(format!("kernel/1/sessions/{}/ctl", worker.number()));
    eventually("the worker's ctl", || ctl.exists());
    assert_eq!(read(&ctl), "post EVENT [ARG]\nsignal NAME\nstop\n");

    // Applied by kernel 1, the worker's own.
    let (ok, _, err) = sh(&format!("echo 'post ping 7' > {}", ctl.display()));
    assert!(ok, "{err}");
    assert_eq!(
        reports.recv_timeout(PATIENCE).unwrap(),
        (1, "ping 7".into())
    );
    std::fs::write(&ctl, "post ping hello there\n").unwrap();
    assert_eq!(
        reports.recv_timeout(PATIENCE).unwrap(),
        (1, "ping hello there".into())
    );
    let (ok, _, err) = sh(&format!("echo 'signal POKE' > {}", ctl.display()));
    assert!(ok, "{err}");
    assert_eq!(reports.recv_timeout(PATIENCE).unwrap(), (1, "poked".into()));
    let (ok, _, err) = sh(&format!("echo stop > {}", ctl.display()));
    assert!(ok, "{err}");
    assert_eq!(
        reports.recv_timeout(PATIENCE).unwrap(),
        (1, "stopped".into())
    );
    let dir = ctl.parent().unwrap().to_owned();
    eventually("the stopped worker to leave the tree", || !dir.exists());
    // Kernel 0's worker heard none of it.
    assert!(reports.try_recv().is_err());

    drop(view);
    assert_gone(&at);
    finish(runtime);
}

#[test]
fn bad_writes_are_refused_and_change_nothing() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("bad-writes");
    let (runtime, reports) = runtime();
    let handle = runtime.handle();
    let view = start(&handle, &at);
    let worker = session_of(&handle, "worker/0");
    let ctl = at.join(format!("kernel/0/sessions/{}/ctl", worker.number()));
    eventually("the worker's ctl", || ctl.exists());
    let errno = |result: std::io::Result<()>| result.unwrap_err().raw_os_error();

    // EINVAL, from sh as from std (coreutils' echo: the shell's own says
    // "I/O error" whatever the errno).
    let (ok, _, err) = sh(&format!(
        "/bin/echo 'post no_such_event' > {}",
        ctl.display()
    ));
    assert!(!ok);
    assert!(err.contains("Invalid argument"), "{err}");
    assert_eq!(errno(std::fs::write(&ctl, "launch\n")), Some(22));
    assert_eq!(
        errno(std::fs::write(at.join("kernel/ctl"), "reboot\n")),
        Some(22)
    );
    let interval = at.join("kernel/sysctl/snapshot_interval_ms");
    assert_eq!(read(&interval), "20\n");
    assert_eq!(errno(std::fs::write(&interval, "fast\n")), Some(22));
    assert_eq!(errno(std::fs::write(&interval, "0\n")), Some(22));
    assert_eq!(read(&interval), "20\n");
    // A good one is taken.
    let (ok, _, err) = sh(&format!("echo 50 > {}", interval.display()));
    assert!(ok, "{err}");
    assert_eq!(read(&interval), "50\n");

    // Read-only files, as /proc's: EACCES; the tree's shape: EROFS.
    assert_eq!(errno(std::fs::write(at.join("kernel/id"), "x\n")), Some(13));
    let (ok, _, err) = sh(&format!("/bin/echo 1 > {}/kernel/0/slices", at.display()));
    assert!(!ok);
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(
        errno(std::fs::write(at.join("kernel/new_file"), "x")),
        Some(30)
    );
    assert_eq!(errno(std::fs::create_dir(at.join("misc/dir"))), Some(30));
    assert_eq!(errno(std::fs::remove_file(at.join("kernel/id"))), Some(30));
    assert_eq!(errno(std::fs::remove_dir(at.join("misc"))), Some(30));

    // Nothing reached the workers.
    thread::sleep(Duration::from_millis(100));
    assert!(reports.try_recv().is_err());
    drop(view);
    assert_gone(&at);
    finish(runtime);
}

#[test]
fn reads_answer_while_kernels_are_busy() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("busy");
    let (woke_tx, woke) = mpsc::channel();
    let runtime = Runtime::builder()
        .kernels(2)
        .pin(false)
        .start(move |kernel| {
            if kernel.id() == KernelId(0) {
                // Kernel 0 will block in a handler for three seconds.
                let woke_tx = woke_tx.clone();
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.alias_set("napper"))
                        .on("nap", move |_, _| {
                            thread::sleep(Duration::from_secs(3));
                            let _ = woke_tx.send(());
                        }),
                )?;
            } else {
                // Kernel 1 never rests.
                kernel.spawn(
                    Session::new(0u64)
                        .on("_start", |cx, _| cx.yield_("spin", ()))
                        .on("spin", |cx, _| {
                            *cx.heap += 1;
                            cx.yield_("spin", ());
                        }),
                )?;
            }
            Ok(())
        })
        .unwrap();
    let handle = runtime.handle();
    let view = ProcAlike::builder()
        .mountpoint(&at)
        .watch_signals(false)
        .kernel(KernelId(1))
        .start(&handle)
        .unwrap();
    let napper = session_of(&handle, "napper");
    handle.post(napper, "nap", ()).unwrap();
    thread::sleep(Duration::from_millis(100));
    // Kernel 0 is asleep in its handler: its files still answer, from its
    // last snapshot, and so do kernel 1's while it spins.
    let (ok, out, err) = sh(&format!("cat {}/kernel/0/session_count", at.display()));
    assert!(ok, "{err}");
    assert_eq!(out, "1\n");
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let at = at.clone();
            thread::spawn(move || {
                for _ in 0..25 {
                    let slices: u64 = read(&at.join("kernel/1/slices")).trim().parse().unwrap();
                    assert!(slices > 0);
                    assert!(!read(&at.join("kernel/0/id")).is_empty());
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().unwrap();
    }
    assert!(
        woke.try_recv().is_err(),
        "the reads waited for the sleeping kernel to wake"
    );
    drop(view);
    assert_gone(&at);
    finish(runtime);
}

/// The kernels' own snapshots hold counters, no session: the view asks a
/// kernel for the sessions a path needs, and for the list of them when a
/// directory is listed. A session spawned while the view is mounted is
/// listed and read (within an interval), and one nobody has is not there.
#[test]
fn sessions_are_asked_for_as_they_are_read() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("asked");
    let (runtime, _reports) = runtime();
    let handle = runtime.handle();
    let view = start(&handle, &at);
    let (spawned_tx, spawned_rx) = mpsc::channel();
    handle
        .spawn_on(KernelId(1), move |kernel| {
            let late = kernel.spawn(Session::new(()).on("_start", |cx, _| {
                cx.alias_set("late")?;
                let me = cx.session();
                cx.refcount_increment(me, "test")
            }));
            spawned_tx.send(late.expect("spawned")).unwrap();
        })
        .unwrap();
    let late = spawned_rx.recv_timeout(PATIENCE).unwrap();
    let dir = at.join(format!("kernel/1/sessions/{}", late.number()));
    eventually("the late session in kernel 1's snapshot", || {
        dir.join("aliases").exists()
    });
    assert_eq!(read(&dir.join("aliases")), "late\n");
    assert_eq!(read(&dir.join("handlers")), "_start\n");
    let listed: Vec<String> = std::fs::read_dir(at.join("kernel/1/sessions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(listed.contains(&late.number().to_string()), "{listed:?}");
    assert_eq!(read(&at.join("kernel/1/session_count")), "2\n");
    assert!(
        !read(&at.join("kernel/1/statistics/handler_time"))
            .trim()
            .is_empty()
    );
    assert!(!at.join("kernel/1/sessions/999999").exists());
    drop(view);
    assert_gone(&at);
    finish(runtime);
}

#[test]
fn shutdown_through_kernel_ctl_ends_the_runtime_and_unmounts() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("shutdown");
    let (runtime, reports) = runtime();
    let view = start(&runtime.handle(), &at);
    let (ok, _, err) = sh(&format!("echo shutdown > {}/kernel/ctl", at.display()));
    assert!(ok, "{err}");
    join_within(runtime);
    // Both workers stopped; the ProcAlike session unmounted as it stopped.
    let mut stopped: Vec<u16> = reports.try_iter().map(|(k, _)| k).collect();
    stopped.sort_unstable();
    assert_eq!(stopped, [0, 1]);
    assert!(!view.is_mounted());
    assert_gone(&at);
    drop(view);
}

#[test]
fn the_session_answers_shutdown_register_and_unregister() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("session");
    let (runtime, _reports) = runtime();
    let handle = runtime.handle();
    let view = start(&handle, &at);
    assert!(matches!(
        ProcAlike::builder()
            .mountpoint(mountpoint("second"))
            .start(&handle),
        Err(Error::AlreadyRunning)
    ));
    assert!(!mountpoint("second").exists());

    // A component on kernel 1 registers its tree, from its own session.
    handle
        .spawn_on(KernelId(1), |kernel| {
            let component = Session::new(())
                .on("_start", |cx, _| -> roe_engine::Result<()> {
                    cx.alias_set("component")?;
                    let tree = Dir::new().value("connections", 3);
                    cx.post(
                        ProcAlike::ALIAS,
                        "register",
                        ProcAlike::registration("My::Component", tree),
                    )?;
                    let me = cx.session();
                    cx.refcount_increment(me, "test")?;
                    Ok(())
                })
                .on("leave", |cx, _| cx.post(ProcAlike::ALIAS, "unregister", ()));
            kernel.spawn(component).unwrap();
        })
        .unwrap();
    let module = at.join("modules/my-component/connections");
    eventually("the registered tree", || module.exists());
    assert_eq!(read(&module), "3\n");
    // The program registers through the guard.
    assert_eq!(
        view.register("Extra", Dir::new().value("n", 1)).unwrap(),
        "extra"
    );
    assert!(matches!(
        view.register("extra", Dir::new()),
        Err(Error::Registered(_))
    ));
    assert_eq!(read(&at.join("modules/extra/n")), "1\n");
    let (ok, out, _) = sh(&format!("ls {}/modules", at.display()));
    assert!(ok);
    assert_eq!(out, "extra\nmy-component\n");
    // A session unregisters only its own.
    handle
        .post(session_of(&handle, "component"), "leave", ())
        .unwrap();
    eventually("the tree to go", || !module.exists());
    assert!(view.unregister("extra"));
    assert!(!view.unregister("extra"));
    assert_eq!(std::fs::read_dir(at.join("modules")).unwrap().count(), 0);

    // `shutdown` posted to the alias unmounts, as the original's.
    handle
        .post(session_of(&handle, ProcAlike::ALIAS), "shutdown", ())
        .unwrap();
    eventually("the unmount", || !view.is_mounted());
    assert_gone(&at);
    eventually("the alias to go", || {
        handle.resolve(ProcAlike::ALIAS).is_err()
    });
    drop(view);
    finish(runtime);
}

#[test]
fn a_busy_mount_is_detached_lazily() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("busy-unmount");
    let (runtime, _reports) = runtime();
    let view = start(&runtime.handle(), &at);
    let mut open = std::fs::File::open(at.join("kernel/kernels")).unwrap();
    // A plain unmount would fail with EBUSY; the view detaches instead.
    view.unmount().expect("a busy view is detached");
    assert!(!is_mounted(&at));
    // The open file is still served, from the buffer rendered at open.
    let mut text = String::new();
    open.read_to_string(&mut text).unwrap();
    assert_eq!(text, "2\n");
    drop(open);
    assert_gone(&at);
    finish(runtime);
}

#[test]
fn a_live_mount_is_left_alone() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("taken");
    let (first, _r1) = runtime();
    let view = start(&first.handle(), &at);
    let (second, _r2) = runtime();
    let refused = ProcAlike::builder()
        .mountpoint(&at)
        .watch_signals(false)
        .start(&second.handle());
    assert!(matches!(refused, Err(Error::Busy(_))), "{refused:?}");
    assert_eq!(read(&at.join("kernel/kernels")), "2\n");
    drop(view);
    assert_gone(&at);
    finish(first);
    finish(second);
}

#[test]
fn a_lone_kernel_has_its_view_until_shutdown() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("lone");
    let (tx, rx) = mpsc::channel();
    let kernel_at = at.clone();
    let kernel = thread::spawn(move || -> roe_engine::Result<()> {
        let mut kernel = Kernel::new()?;
        let builder = ProcAlike::builder()
            .mountpoint(&kernel_at)
            .watch_signals(false);
        ProcAlike::spawn(&mut kernel, builder).expect("the view mounts");
        kernel.spawn(worker(tx))?;
        kernel.run()
    });
    let ctl = at.join("kernel/0/sessions/2/ctl");
    eventually("the lone kernel's worker", || ctl.exists());
    assert_eq!(read(&at.join("kernel/kernels")), "1\n");
    assert_eq!(read(&at.join("kernel/0/sessions/2/aliases")), "worker/0\n");
    // A lone kernel's interval is its owner's to set.
    let interval = at.join("kernel/sysctl/snapshot_interval_ms");
    assert_eq!(
        std::fs::write(&interval, "5\n").unwrap_err().raw_os_error(),
        Some(13)
    );
    std::fs::write(&ctl, "post ping 1\n").unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), (0, "ping 1".into()));
    // The view keeps the kernel running until told to shut down.
    assert!(!kernel.is_finished());
    std::fs::write(at.join("kernel/ctl"), "shutdown\n").unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), (0, "stopped".into()));
    eventually("the lone kernel to finish", || kernel.is_finished());
    kernel.join().unwrap().unwrap();
    assert_gone(&at);
}

/// Not a test on its own: run as a child process by the two tests below
/// (with `ROE_FS_CHILD` naming a mountpoint), it mounts a view that
/// watches signals, says `mounted`, and runs until the runtime ends.
#[test]
fn child_process() {
    let Some(at) = std::env::var_os("ROE_FS_CHILD") else {
        return;
    };
    let (runtime, _reports) = runtime();
    let view = ProcAlike::builder()
        .mountpoint(PathBuf::from(at))
        .start(&runtime.handle())
        .unwrap();
    println!("mounted");
    runtime.join().unwrap();
    println!("stopped mounted={}", view.is_mounted());
}

/// Starts [`child_process`] mounting at `at`, and waits for its view.
fn spawn_child(at: &Path) -> (std::process::Child, impl BufRead) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ROE_FS_CHILD", at)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // The harness writes its own words on the line before ours.
    while !line.contains("mounted") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child did not mount"
        );
    }
    (child, out)
}

#[test]
fn sigterm_unmounts_and_ends_the_runtime() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("sigterm");
    let (mut child, mut out) = spawn_child(&at);
    assert!(is_mounted(&at));
    let (ok, _, err) = sh(&format!("kill -TERM {}", child.id()));
    assert!(ok, "{err}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped mounted=false"), "{rest}");
    assert!(child.wait().unwrap().success());
    assert_gone(&at);
}

#[test]
fn a_dead_mount_from_a_killed_process_is_cleaned() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("stale");
    let (mut child, _out) = spawn_child(&at);
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed server's mount stays, dead: every access is ENOTCONN.
    assert!(is_mounted(&at));
    assert_eq!(
        std::fs::metadata(&at).unwrap_err().kind(),
        std::io::ErrorKind::NotConnected
    );
    let (runtime, _reports) = runtime();
    let view = start(&runtime.handle(), &at);
    assert_eq!(read(&at.join("kernel/kernels")), "2\n");
    drop(view);
    // The directory was the killed process's: unmounted, and left.
    assert!(!is_mounted(&at));
    std::fs::remove_dir(&at).unwrap();
    finish(runtime);
}

/// A symbolic link a local user plants at the default mountpoint,
/// `/tmp/roe_<pid>`, leading to a directory of theirs (or `/etc`): the
/// view, as root, mounts on a directory it made itself instead, and
/// nothing is mounted through the link. A link given as the mountpoint is
/// refused.
#[test]
fn a_symbolic_link_planted_at_the_mountpoint_is_never_mounted_through() {
    if !fuse_available() {
        return;
    }
    let target = mountpoint("planted-target");
    std::fs::create_dir(&target).unwrap();
    let planted = PathBuf::from(format!("/tmp/roe_{}", std::process::id()));
    let _ = std::fs::remove_file(&planted);
    std::os::unix::fs::symlink(&target, &planted).unwrap();
    let (runtime, _reports) = runtime();
    let handle = runtime.handle();

    let view = ProcAlike::builder()
        .watch_signals(false)
        .start(&handle)
        .expect("the view mounts elsewhere");
    let at = view.mountpoint().to_owned();
    assert_ne!(at, planted);
    let name = at.file_name().unwrap().to_str().unwrap();
    let fresh = format!("roe_{}_", std::process::id());
    assert!(
        at.starts_with("/tmp") && name.starts_with(&fresh),
        "{}",
        at.display()
    );
    assert!(is_mounted(&at));
    assert!(!is_mounted(&target) && !is_mounted(&planted));
    assert_eq!(read(&at.join("kernel/kernels")), "2\n");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    drop(view);
    assert_gone(&at);
    // The view's session ends on its own kernel, after the guard returns.
    eventually("the alias to go", || {
        handle.resolve(ProcAlike::ALIAS).is_err()
    });

    // Given as the mountpoint, the link is refused before anything mounts.
    let refused = ProcAlike::builder()
        .mountpoint(&planted)
        .watch_signals(false)
        .start(&handle);
    assert!(matches!(refused, Err(Error::Symlink(_))), "{refused:?}");
    assert!(!is_mounted(&target) && !is_mounted(&planted));
    assert!(handle.resolve(ProcAlike::ALIAS).is_err());
    // What was planted is left as it was.
    let link = std::fs::symlink_metadata(&planted).unwrap();
    assert!(link.file_type().is_symlink());
    std::fs::remove_file(&planted).unwrap();
    assert!(target.is_dir());
    std::fs::remove_dir(&target).unwrap();
    finish(runtime);
}

/// `ls -l` over a big sessions directory, for longer than a lease: one
/// listing (which asks kernel 0 for its list of IDs), then a stat of each
/// entry, again and again for 3 s. A stat is answered from that list, and
/// keeps its lease: it used to let it lapse after 2 s, then ask for each
/// session on its own, and past 256 of those the kernel was leasing every
/// session in full, went over its budget, and the stats answered EAGAIN.
#[test]
fn stats_of_many_sessions_past_a_lease_keep_answering() {
    if !fuse_available() {
        return;
    }
    const SESSIONS: usize = 3000;
    let at = mountpoint("many");
    let runtime = Runtime::builder()
        .kernels(1)
        .pin(false)
        .start(|kernel| {
            for _ in 0..SESSIONS {
                kernel.spawn(Session::new(()).on("_start", |cx, _| {
                    let me = cx.session();
                    cx.refcount_increment(me, "idle")
                }))?;
            }
            // Something happens all the time: the kernel publishes a new
            // snapshot at each interval, holding what is leased.
            kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        cx.delay("tick", Duration::from_millis(2), ())
                    })
                    .on("tick", |cx, _| {
                        cx.delay("tick", Duration::from_millis(2), ())
                    }),
            )?;
            Ok(())
        })
        .unwrap();
    let view = start(&runtime.handle(), &at);
    let dir = at.join("kernel/0/sessions");
    let listed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    // With the kernel's own, the ticker and the view's.
    assert_eq!(listed.len(), SESSIONS + 3);
    let started = Instant::now();
    let mut stats = 0;
    while started.elapsed() < Duration::from_secs(3) {
        for name in &listed {
            match std::fs::symlink_metadata(dir.join(name)) {
                Ok(meta) => assert!(meta.is_dir()),
                Err(error) => panic!(
                    "stat {name} after {:?} and {stats} stats: {error}",
                    started.elapsed()
                ),
            }
            stats += 1;
        }
    }
    // And listed again, past the lease's first 2 s, at once.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), SESSIONS + 3);
    drop(view);
    assert_gone(&at);
    finish(runtime);
}

/// A kernel stuck in a handler does not hang a reader: what the view was
/// not keeping from it (a session's files, the list of its sessions)
/// answers EAGAIN after at most the 50 ms the view waits (and at once
/// while that ask is unanswered), long before the handler returns; once
/// it has, the same reads answer.
#[test]
fn a_stuck_kernel_answers_eagain_within_the_wait() {
    if !fuse_available() {
        return;
    }
    let at = mountpoint("stuck");
    let (woke_tx, woke) = mpsc::channel();
    let runtime = Runtime::builder()
        .kernels(2)
        .pin(false)
        .start(move |kernel| {
            if kernel.id() == KernelId(0) {
                let woke_tx = woke_tx.clone();
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| cx.alias_set("napper"))
                        .on("nap", move |_, _| {
                            thread::sleep(Duration::from_secs(3));
                            let _ = woke_tx.send(());
                        }),
                )?;
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| -> roe_engine::Result<()> {
                            cx.alias_set("other")?;
                            let me = cx.session();
                            cx.refcount_increment(me, "test")?;
                            Ok(())
                        })
                        .on("poke", |_, _| {}),
                )?;
            }
            Ok(())
        })
        .unwrap();
    let handle = runtime.handle();
    // The view's session on kernel 1: kernel 0 is asked nothing before
    // it naps.
    let view = ProcAlike::builder()
        .mountpoint(&at)
        .watch_signals(false)
        .kernel(KernelId(1))
        .start(&handle)
        .unwrap();
    let other = session_of(&handle, "other");
    // Setting the interval published every session once: wait for a
    // snapshot of counters alone, which is what kernel 0 keeps unasked.
    eventually("kernel 0's snapshot of counters alone", || {
        handle.post(other, "poke", ()).unwrap();
        let latest = handle.snapshot(KernelId(0)).unwrap();
        latest.detail.is_counters()
    });
    handle
        .post(session_of(&handle, "napper"), "nap", ())
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    let aliases = at.join(format!("kernel/0/sessions/{}/aliases", other.number()));
    let sessions = at.join("kernel/0/sessions");
    for _ in 0..3 {
        let started = Instant::now();
        let error = std::fs::read_to_string(&aliases).unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.raw_os_error(), Some(11), "{error}");
        assert!(took < Duration::from_millis(500), "the read took {took:?}");
        let started = Instant::now();
        let error = std::fs::read_dir(&sessions).unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.raw_os_error(), Some(11), "{error}");
        assert!(
            took < Duration::from_millis(500),
            "the listing took {took:?}"
        );
    }
    assert!(
        woke.try_recv().is_err(),
        "the handler returned before the reads were done: they proved nothing"
    );
    woke.recv_timeout(PATIENCE).unwrap();
    eventually("kernel 0 to answer again", || aliases.exists());
    assert_eq!(read(&aliases), "other\n");
    let listed: Vec<String> = std::fs::read_dir(&sessions)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(listed.contains(&other.number().to_string()), "{listed:?}");
    drop(view);
    assert_gone(&at);
    finish(runtime);
}
