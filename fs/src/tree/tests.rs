//! The tree without mounting: views over snapshots made by hand.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use roe_engine::{
    Counters, Detail, Event, KernelId, QueuedSnapshot, SessionId, SessionSnapshot, Snapshot, Str,
    Value,
};

use super::*;

fn session(kernel: u16, number: u64, parent: Option<u64>, handlers: &[&str]) -> SessionSnapshot {
    let id = SessionId::from_number(KernelId(kernel), number);
    SessionSnapshot {
        id,
        aliases: Vec::new(),
        parent: parent.map(|p| SessionId::from_number(KernelId(kernel), p)),
        children: Vec::new(),
        handlers: handlers.iter().map(|h| Event::new(h)).collect(),
        heap_type: "app::Worker",
        events_to: 0,
        events_from: 0,
        timers: 0,
        watchers: 0,
        refcount: 1,
        handled: 0,
        handler_time: Duration::ZERO,
        handler_max: Duration::ZERO,
        last_event: None,
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// Kernel `n` with its own session, and session 1 (aliased `worker/<n>`,
/// handling `ping` and `tick`, with a timer) under it; everything in the
/// snapshot.
fn kernel(n: u16) -> Snapshot {
    let root = SessionId::kernel_root(KernelId(n));
    let mut own = session(n, 0, None, &[]);
    own.children = vec![SessionId::from_number(KernelId(n), 1)];
    let mut worker = session(n, 1, Some(0), &["_start", "ping", "tick"]);
    worker.aliases = vec![Str::new(&format!("worker/{n}"))];
    worker.timers = 1;
    worker.events_to = 2;
    worker.handled = 5;
    worker.handler_time = Duration::from_micros(1500);
    worker.handler_max = Duration::from_micros(900);
    worker.last_event = Some(Event::new("tick"));
    let id = worker.id;
    let ids = vec![own.id, id];
    Snapshot {
        kernel: KernelId(n),
        name: format!("host-{n}"),
        taken: Some(at(1_700_000_000 + u64::from(n))),
        generation: 3,
        counters: Counters {
            slices: 10,
            dispatched: 25,
            queued: 1,
            timers: 1,
            watched: 0,
            sessions: 2,
            inbox_high_water: 4,
            ..Counters::default()
        },
        detail: Detail::all(),
        sessions: vec![own, worker],
        ids,
        handler_time: Some(Duration::from_micros(1500)),
        queue: vec![QueuedSnapshot {
            seq: 8,
            due: at(1_700_000_000),
            target: id,
            sender: root,
            event: Event::new("ping"),
            kind: "post",
        }],
        timers: vec![QueuedSnapshot {
            seq: 9,
            due: at(1_700_000_060) + Duration::from_micros(250),
            target: id,
            sender: id,
            event: Event::new("tick"),
            kind: "timer",
        }],
    }
}

fn view(kernels: usize) -> View {
    View {
        kernels: (0..kernels)
            .map(|n| Arc::new(kernel(u16::try_from(n).unwrap())))
            .collect(),
        modules: Arc::new(Modules::new()),
        misc: None,
        process: Arc::new(ProcessInfo::current()),
        settings: Settings {
            snapshot_interval: Duration::from_millis(100),
            interval_writable: true,
            thresholds: Thresholds::default(),
            show_env: false,
            started: at(1_600_000_000),
        },
        unanswered: Vec::new(),
    }
}

fn read(view: &View, path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let bytes = view
        .read(&parts)
        .unwrap_or_else(|| panic!("{path} is a file"));
    String::from_utf8(bytes).unwrap()
}

fn names(view: &View, path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    view.list(&parts)
        .unwrap_or_else(|| panic!("{path} is a directory"))
        .into_iter()
        .map(|e| e.name)
        .collect()
}

fn kind(view: &View, path: &str) -> Option<Kind> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    view.resolve(&parts).map(|found| found.kind())
}

#[test]
fn the_root_has_procalikes_four_directories() {
    let v = view(1);
    assert_eq!(names(&v, ""), ["kernel", "process", "modules", "misc"]);
    assert_eq!(names(&v, "misc"), Vec::<String>::new());
    assert_eq!(names(&v, "modules"), Vec::<String>::new());
    assert_eq!(kind(&v, "nothing"), None);
}

#[test]
fn kernel_shows_the_runtime_then_each_kernel() {
    let v = view(2);
    assert_eq!(
        names(&v, "kernel"),
        [
            "id",
            "is_running",
            "kernels",
            "session_count",
            "event_count",
            "uptime",
            "ctl",
            "warnings",
            "sysctl",
            "0",
            "1"
        ]
    );
    assert_eq!(read(&v, "kernel/id"), "host-0\n");
    assert_eq!(read(&v, "kernel/kernels"), "2\n");
    assert_eq!(read(&v, "kernel/is_running"), "1\n");
    // One session per kernel, the kernels' own not counted (as POE's).
    assert_eq!(read(&v, "kernel/session_count"), "2\n");
    // Queued items and timers, as POE's get_event_count.
    assert_eq!(read(&v, "kernel/event_count"), "4\n");
    let uptime: f64 = read(&v, "kernel/uptime").trim().parse().unwrap();
    assert!(uptime >= 0.0);
    assert_eq!(kind(&v, "kernel/ctl"), Some(Kind::Writable));
    assert_eq!(kind(&v, "kernel/id"), Some(Kind::File));
    assert_eq!(kind(&v, "kernel/2"), None);
    assert_eq!(kind(&v, "kernel/01"), None);
    // The /kernel directory's time is its newest snapshot's.
    let found = v.resolve(&["kernel"]).unwrap();
    assert_eq!(found.mtime, at(1_700_000_001));
}

#[test]
fn each_kernel_has_its_counters_and_directories() {
    let v = view(2);
    let files = names(&v, "kernel/1");
    for name in [
        "id",
        "core",
        "tid",
        "slices",
        "queue_depth",
        "inbox_high_water",
        "statistics",
        "eventqueue",
        "sessions",
    ] {
        assert!(files.iter().any(|f| f == name), "{name} in {files:?}");
    }
    assert_eq!(read(&v, "kernel/1/id"), "host-1\n");
    assert_eq!(read(&v, "kernel/1/slices"), "10\n");
    assert_eq!(read(&v, "kernel/1/queue_depth"), "1\n");
    // The earliest of what is queued: the post, due since the snapshot's
    // second, before the timer.
    assert_eq!(read(&v, "kernel/1/next_event"), "1700000000.000000\n");
    assert_eq!(read(&v, "kernel/1/timers"), "1\n");
    assert_eq!(read(&v, "kernel/1/inbox_high_water"), "4\n");
    assert_eq!(read(&v, "kernel/1/session_count"), "1\n");
    assert_eq!(read(&v, "kernel/1/snapshot_time"), "1700000001.000000\n");
    assert_eq!(read(&v, "kernel/1/statistics/dispatched"), "25\n");
    assert_eq!(read(&v, "kernel/1/statistics/events_per_slice"), "2.50\n");
    assert_eq!(read(&v, "kernel/1/statistics/handler_time"), "0.001500\n");
    // No runtime thread is named roe-kernel-1 here: the value is empty.
    assert!(read(&v, "kernel/1/core").ends_with('\n'));
    assert_eq!(
        v.resolve(&["kernel", "1"]).unwrap().mtime,
        at(1_700_000_001)
    );
}

#[test]
fn the_event_queue_lists_due_items_then_timers() {
    let v = view(1);
    assert_eq!(names(&v, "kernel/0/eventqueue"), ["8", "9"]);
    assert_eq!(read(&v, "kernel/0/eventqueue/8/index"), "0\n");
    assert_eq!(read(&v, "kernel/0/eventqueue/8/event"), "ping\n");
    assert_eq!(read(&v, "kernel/0/eventqueue/8/source"), "0\n");
    assert_eq!(read(&v, "kernel/0/eventqueue/8/destination"), "1\n");
    assert_eq!(read(&v, "kernel/0/eventqueue/8/type"), "post\n");
    assert_eq!(read(&v, "kernel/0/eventqueue/9/index"), "1\n");
    assert_eq!(
        read(&v, "kernel/0/eventqueue/9/priority"),
        "1700000060.000250\n"
    );
    assert_eq!(read(&v, "kernel/0/eventqueue/9/type"), "timer\n");
    assert_eq!(kind(&v, "kernel/0/eventqueue/10"), None);
}

#[test]
fn sessions_show_one_value_or_item_per_line() {
    let v = view(2);
    assert_eq!(names(&v, "kernel/1/sessions"), ["0", "1"]);
    let s = "kernel/1/sessions/1";
    assert_eq!(read(&v, &format!("{s}/id")), "1@1\n");
    assert_eq!(read(&v, &format!("{s}/kernel")), "1\n");
    assert_eq!(read(&v, &format!("{s}/type")), "app::Worker\n");
    assert_eq!(read(&v, &format!("{s}/parent")), "0@1\n");
    assert_eq!(read(&v, &format!("{s}/aliases")), "worker/1\n");
    assert_eq!(read(&v, &format!("{s}/handlers")), "_start\nping\ntick\n");
    assert_eq!(read(&v, &format!("{s}/events_to")), "2\n");
    assert_eq!(read(&v, &format!("{s}/events_handled")), "5\n");
    assert_eq!(read(&v, &format!("{s}/handler_time")), "0.001500\n");
    assert_eq!(read(&v, &format!("{s}/handler_max")), "0.000900\n");
    assert_eq!(read(&v, &format!("{s}/last_event")), "tick\n");
    assert_eq!(read(&v, &format!("{s}/timers")), "1\n");
    assert_eq!(read(&v, &format!("{s}/refcount")), "1\n");
    assert_eq!(read(&v, &format!("{s}/children")), "");
    assert_eq!(
        read(&v, &format!("{s}/ctl")),
        "post EVENT [ARG]\nsignal NAME\nstop\n"
    );
    assert_eq!(kind(&v, &format!("{s}/ctl")), Some(Kind::Writable));
    // The kernel's own session: no parent (a lone newline), its children.
    assert_eq!(read(&v, "kernel/1/sessions/0/parent"), "\n");
    assert_eq!(read(&v, "kernel/1/sessions/0/children"), "1@1\n");
    assert_eq!(read(&v, "kernel/1/sessions/0/last_event"), "\n");
    assert_eq!(read(&v, "kernel/0/sessions/1/id"), "1\n");
    assert_eq!(kind(&v, "kernel/1/sessions/2"), None);
    assert_eq!(kind(&v, "kernel/1/sessions/1/heap"), None);
}

#[test]
fn writes_become_commands_for_the_owning_kernel() {
    let v = view(2);
    let target = SessionId::from_number(KernelId(1), 1);
    assert_eq!(
        v.write(&["kernel", "1", "sessions", "1", "ctl"], b"post ping 3\n"),
        Ok(Applied::Command(Command::Post {
            session: target,
            event: Event::new("ping"),
            arg: Some(Value::Int(3))
        }))
    );
    let Ok(Applied::Command(command)) =
        v.write(&["kernel", "1", "sessions", "1", "ctl"], b"stop\n")
    else {
        panic!("stop is a command");
    };
    assert_eq!(command.session().map(|s| s.kernel()), Some(KernelId(1)));
    assert_eq!(
        v.write(&["kernel", "ctl"], b"shutdown\n"),
        Ok(Applied::Command(Command::Shutdown))
    );
    assert_eq!(
        v.write(&["kernel", "sysctl", "snapshot_interval_ms"], b"20\n"),
        Ok(Applied::Command(Command::SnapshotInterval(
            Duration::from_millis(20)
        )))
    );
    // The view's own settings are the view's to take, not a kernel's.
    assert_eq!(
        v.write(&["kernel", "sysctl", "slow_handler_ms"], b"20\n"),
        Ok(Applied::Tuned(Tunable::SlowHandler(Duration::from_millis(
            20
        ))))
    );
    assert_eq!(
        v.write(&["kernel", "sysctl", "queue_warning"], b"64\n"),
        Ok(Applied::Tuned(Tunable::QueueWarning(64)))
    );
}

#[test]
fn bad_and_forbidden_writes_change_nothing() {
    let v = view(1);
    let ctl = ["kernel", "0", "sessions", "1", "ctl"];
    assert!(matches!(
        v.write(&ctl, b"post nothing\n"),
        Err(WriteError::Invalid(_))
    ));
    assert!(matches!(
        v.write(&["kernel", "ctl"], b"reboot\n"),
        Err(WriteError::Invalid(_))
    ));
    for file in ["snapshot_interval_ms", "slow_handler_ms", "queue_warning"] {
        assert!(matches!(
            v.write(&["kernel", "sysctl", file], b"soon\n"),
            Err(WriteError::Invalid(_))
        ));
    }
    assert_eq!(
        v.write(&["kernel", "warnings"], b"\n"),
        Err(WriteError::ReadOnly)
    );
    assert_eq!(
        v.write(&["kernel", "id"], b"x\n"),
        Err(WriteError::ReadOnly)
    );
    assert_eq!(
        v.write(&["kernel", "0", "slices"], b"0\n"),
        Err(WriteError::ReadOnly)
    );
    assert_eq!(
        v.write(&["process", "pid"], b"1\n"),
        Err(WriteError::ReadOnly)
    );
    assert_eq!(v.write(&["kernel"], b"x\n"), Err(WriteError::ReadOnly));
    assert_eq!(
        v.write(&["kernel", "0", "sessions", "9", "ctl"], b"stop\n"),
        Err(WriteError::NotFound)
    );
    assert_eq!(v.write(&["nope"], b"x\n"), Err(WriteError::NotFound));
    assert_eq!(v.write(&["misc", "x"], b"x\n"), Err(WriteError::NotFound));
}

#[test]
fn a_lone_kernels_interval_is_read_only() {
    let mut v = view(1);
    v.settings.interval_writable = false;
    assert_eq!(
        kind(&v, "kernel/sysctl/snapshot_interval_ms"),
        Some(Kind::File)
    );
    assert_eq!(read(&v, "kernel/sysctl/snapshot_interval_ms"), "100\n");
    assert_eq!(
        v.write(&["kernel", "sysctl", "snapshot_interval_ms"], b"20\n"),
        Err(WriteError::ReadOnly)
    );
    // The thresholds are the view's own, on a lone kernel too.
    assert_eq!(
        kind(&v, "kernel/sysctl/slow_handler_ms"),
        Some(Kind::Writable)
    );
    assert_eq!(
        kind(&v, "kernel/sysctl/queue_warning"),
        Some(Kind::Writable)
    );
}

#[test]
fn sysctl_shows_the_interval_and_the_thresholds() {
    let mut v = view(1);
    assert_eq!(
        names(&v, "kernel/sysctl"),
        ["snapshot_interval_ms", "slow_handler_ms", "queue_warning"]
    );
    assert_eq!(read(&v, "kernel/sysctl/slow_handler_ms"), "100\n");
    assert_eq!(read(&v, "kernel/sysctl/queue_warning"), "1000\n");
    v.settings.thresholds = Thresholds {
        slow_handler: Duration::from_millis(7),
        queue: 3,
    };
    assert_eq!(read(&v, "kernel/sysctl/slow_handler_ms"), "7\n");
    assert_eq!(read(&v, "kernel/sysctl/queue_warning"), "3\n");
    assert_eq!(kind(&v, "kernel/sysctl/nope"), None);
}

#[test]
fn warnings_name_what_passed_its_threshold() {
    let mut v = view(2);
    // Each kernel's worker: 0.9 ms at most, 2 queued; nothing to say.
    assert_eq!(read(&v, "kernel/warnings"), "");
    assert_eq!(kind(&v, "kernel/warnings"), Some(Kind::File));

    let mut k0 = kernel(0);
    k0.sessions[1].events_to = 1001;
    k0.counters.overflowed = 12;
    k0.counters.overflow_waiting = 3;
    let mut k1 = kernel(1);
    k1.sessions[1].handler_max = Duration::from_micros(250_500);
    // The kernel's own session is looked at too.
    k1.sessions[0].handler_max = Duration::from_millis(101);
    v.kernels = vec![Arc::new(k0), Arc::new(k1)];
    assert_eq!(
        read(&v, "kernel/warnings"),
        "overflow 0 12 3\n\
         queue 1 1001\n\
         slow_handler 0@1 0.101000\n\
         slow_handler 1@1 0.250500\n"
    );

    // At the threshold is not past it; the thresholds are the settings'.
    v.settings.thresholds = Thresholds {
        slow_handler: Duration::from_millis(101),
        queue: 2000,
    };
    assert_eq!(
        read(&v, "kernel/warnings"),
        "overflow 0 12 3\nslow_handler 1@1 0.250500\n"
    );

    // A kernel that did not answer is named, before what its latest
    // snapshot says.
    v.unanswered = vec![1];
    assert_eq!(
        read(&v, "kernel/warnings"),
        "overflow 0 12 3\nunanswered 1\nslow_handler 1@1 0.250500\n"
    );
}

#[test]
fn a_finished_runtime_is_not_running() {
    let mut finished = kernel(0);
    finished.sessions.clear();
    finished.ids.clear();
    finished.counters.sessions = 0;
    let mut v = view(0);
    v.kernels = vec![Arc::new(finished)];
    assert_eq!(read(&v, "kernel/is_running"), "0\n");
    assert_eq!(read(&v, "kernel/0/is_running"), "0\n");
    assert_eq!(names(&v, "kernel/0/sessions"), Vec::<String>::new());
    // A kernel that never published: an empty snapshot, the view's time.
    v.kernels = vec![Arc::new(Snapshot::default())];
    assert_eq!(read(&v, "kernel/0/snapshot_time"), "\n");
    assert_eq!(read(&v, "kernel/0/next_event"), "\n");
    assert_eq!(read(&v, "kernel/id"), "\n");
    assert_eq!(
        v.resolve(&["kernel", "0"]).unwrap().mtime,
        at(1_600_000_000)
    );
}

/// What a kernel put in its snapshot is what the view shows of sessions:
/// the counters always, a session's files only from a snapshot that
/// describes it, the sessions directory from the list of IDs.
#[test]
fn sessions_show_what_the_snapshot_holds() {
    let full = kernel(0);
    let mut v = view(0);
    // Counters alone: counts, no session known.
    let counters = Snapshot {
        detail: Detail::counters(),
        sessions: Vec::new(),
        ids: Vec::new(),
        handler_time: None,
        ..full.clone()
    };
    v.kernels = vec![Arc::new(counters.clone())];
    assert_eq!(read(&v, "kernel/0/session_count"), "1\n");
    assert_eq!(read(&v, "kernel/session_count"), "1\n");
    assert_eq!(read(&v, "kernel/0/statistics/handler_time"), "\n");
    assert_eq!(kind(&v, "kernel/0/sessions/1"), None);
    assert_eq!(names(&v, "kernel/0/sessions"), Vec::<String>::new());
    // Two subdirectories, from the count, before anything is listed.
    match v.resolve(&["kernel", "0", "sessions"]).unwrap().node {
        Node::Dir { subdirs, .. } => assert_eq!(subdirs, 2),
        Node::File { .. } => panic!("a directory"),
    }
    // The IDs alone: every session is there, its files empty.
    let ids = Snapshot {
        detail: Detail::ids(),
        ids: full.ids.clone(),
        handler_time: full.handler_time,
        ..counters.clone()
    };
    v.kernels = vec![Arc::new(ids)];
    assert_eq!(names(&v, "kernel/0/sessions"), ["0", "1"]);
    assert_eq!(kind(&v, "kernel/0/sessions/1/aliases"), Some(Kind::File));
    assert_eq!(kind(&v, "kernel/0/sessions/2"), None);
    assert_eq!(read(&v, "kernel/0/sessions/1/aliases"), "");
    assert_eq!(read(&v, "kernel/0/statistics/handler_time"), "0.001500\n");
    // One session in full: its files, and nothing said of the others.
    let one = Snapshot {
        detail: Detail::session(1),
        sessions: vec![full.sessions[1].clone()],
        ..counters
    };
    v.kernels = vec![Arc::new(one)];
    assert_eq!(read(&v, "kernel/0/sessions/1/aliases"), "worker/0\n");
    assert_eq!(kind(&v, "kernel/0/sessions/0"), None);
    assert_eq!(names(&v, "kernel/0/sessions"), ["1"]);
}

#[test]
fn each_path_needs_what_its_files_show() {
    let of = |path: &str, contents| {
        let parts: Vec<&str> = path.split('/').collect();
        Need::of(&parts, contents)
    };
    assert_eq!(of("kernel/0/slices", true), None);
    assert_eq!(of("kernel/2/sessions", false), None);
    assert_eq!(of("kernel/2/sessions", true), Some((2, Need::Ids)));
    assert_eq!(of("kernel/0/statistics/handler_time", false), None);
    assert_eq!(
        of("kernel/0/statistics/handler_time", true),
        Some((0, Need::Ids))
    );
    assert_eq!(of("kernel/1/sessions/7", true), Some((1, Need::Exists(7))));
    assert_eq!(
        of("kernel/1/sessions/7/aliases", false),
        Some((1, Need::Exists(7)))
    );
    assert_eq!(
        of("kernel/1/sessions/7/aliases", true),
        Some((1, Need::Session(7)))
    );
    assert_eq!(of("kernel/1/sessions/07/aliases", true), None);
    let snapshot = kernel(0);
    assert!(Need::Session(1).is_met(&snapshot) && Need::Ids.is_met(&snapshot));
    // The warnings need every session of every kernel, once read.
    assert_eq!(
        Need::everywhere(&["kernel", "warnings"], true),
        Some(Need::All)
    );
    assert_eq!(Need::everywhere(&["kernel", "warnings"], false), None);
    assert_eq!(Need::everywhere(&["kernel", "0", "sessions"], true), None);
    assert_eq!(of("kernel/warnings", true), None);
    assert!(Need::All.is_met(&snapshot) && Need::All.detail() == Detail::all());
    let mut some = kernel(0);
    some.detail = Detail::ids();
    assert!(!Need::All.is_met(&some));
    assert_eq!(Need::Exists(5).detail(), Detail::session(5));
}

#[test]
fn process_shows_the_program() {
    let mut v = view(1);
    assert_eq!(read(&v, "process/pid"), format!("{}\n", std::process::id()));
    assert_eq!(read(&v, "process/os"), "linux\n");
    assert!(read(&v, "process/argv").lines().count() >= 1);
    assert!(read(&v, "process/exe").trim().len() > 1);
    let threads: u32 = read(&v, "process/threads").trim().parse().unwrap();
    assert!(threads >= 1);
    let rss: u64 = read(&v, "process/memory/rss").trim().parse().unwrap();
    assert!(rss > 0);
    assert!(read(&v, "process/status").contains("VmRSS"));
    let start: f64 = read(&v, "process/start_time").trim().parse().unwrap();
    assert!(start > 1_600_000_000.0);
    assert_eq!(kind(&v, "process/env"), None);
    v.settings.show_env = true;
    assert!(names(&v, "process/env").iter().any(|n| n == "PATH"));
    let path = std::env::var("PATH").unwrap();
    assert_eq!(read(&v, "process/env/PATH"), format!("{path}\n"));
}

#[test]
fn modules_and_misc_show_registered_trees() {
    let mut v = view(1);
    let mut modules = Modules::new();
    modules.insert(
        "poe-component-ikc".into(),
        Arc::new(Dir::new().value("peers", 2).dir("sub", Dir::new())),
    );
    v.modules = Arc::new(modules);
    v.misc = Some(Arc::new(Dir::new().knob(
        "level",
        || "3".into(),
        |_| Ok(()),
    )));
    assert_eq!(names(&v, "modules"), ["poe-component-ikc"]);
    assert_eq!(names(&v, "modules/poe-component-ikc"), ["peers", "sub"]);
    assert_eq!(read(&v, "modules/poe-component-ikc/peers"), "2\n");
    assert_eq!(kind(&v, "modules/poe-component-ikc/sub"), Some(Kind::Dir));
    assert_eq!(names(&v, "misc"), ["level"]);
    assert_eq!(read(&v, "misc/level"), "3\n");
    assert_eq!(v.write(&["misc", "level"], b"4\n"), Ok(Applied::Done));
    assert_eq!(
        v.write(&["modules", "poe-component-ikc", "peers"], b"4\n"),
        Err(WriteError::ReadOnly)
    );
    assert_eq!(
        v.write(&["modules", "other", "x"], b"4\n"),
        Err(WriteError::NotFound)
    );
}
