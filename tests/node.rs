//! `roe node`, the main job: it reports where it serves IKC and the
//! registry, then `ready`, then runs until SIGINT or SIGTERM, which stop it
//! cleanly (exit status 0, `stopped`). Every node here serves on ports the
//! system picks (`--ikc-listen 127.0.0.1:0`, `--registry 127.0.0.1:0,0,0`),
//! so that tests running at once never collide. Each node is a [`Node`],
//! which stops it should the test fail first: no node, and no mount, is
//! left behind by a failed assertion.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use rustix::process::Signal;

#[path = "common/node.rs"]
mod node_process;

use crate::node_process::Node;

/// Reads the node's first three lines: `ikc <ip>:<port>` (returned), then
/// `registry <ip>:<new>,<find>,<event>` (checked), and the `ready` line
/// (returned too).
fn ikc_then_ready(node: &mut Node) -> (String, String) {
    let (ikc, _registry, ready) = ikc_registry_ready(node);
    (ikc, ready)
}

/// The node's first three lines: its IKC address, its registry's address,
/// and the `ready` line.
fn ikc_registry_ready(node: &mut Node) -> (String, String, String) {
    let ikc = node.line("a first line");
    let addr = ikc
        .strip_prefix("ikc ")
        .unwrap_or_else(|| panic!("first line {ikc:?}"))
        .to_owned();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    let registry = node.line("a second line");
    let registry = registry
        .strip_prefix("registry 127.0.0.1:")
        .unwrap_or_else(|| panic!("second line {registry:?}"))
        .to_owned();
    let ports: Vec<u16> = registry.split(',').map(|p| p.parse().unwrap()).collect();
    assert!(ports.len() == 3 && !ports.contains(&0), "{registry}");
    let ready = node.line("a third line");
    (addr, format!("127.0.0.1:{registry}"), ready)
}

/// With its fs view: the node mounts it, says where before `ready`, shows
/// its kernels there, IKC's tables under `/modules/ikc` and its registry's
/// services under `/modules/registry` (as the registry answers a find),
/// and leaves no mount behind when it stops.
#[test]
fn node_mounts_its_fs_view_and_unmounts_it_when_it_stops() {
    if let Err(why) = roe_fs::can_mount() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("roe-node-fs-{}", std::process::id()));
    let mountpoint = dir.join("view");
    std::fs::create_dir_all(&dir).unwrap();
    let mut args: Vec<String> = [
        "node",
        "--kernels",
        "2",
        "--heartbeat",
        "10",
        "--ikc-name",
        "fs-node",
        "--join",
        "proto ikc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(ANY_PORTS[..4].iter().map(|s| s.to_string()));
    args.extend(["--mount".to_string(), mountpoint.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut node = Node::spawn(&args);
    node.mount = Some(mountpoint.clone());
    let (ikc, registry, fs) = ikc_registry_ready(&mut node);
    assert_eq!(fs, format!("fs {}", mountpoint.display()));
    let ready = node.line("the ready line");
    assert!(ready.starts_with("ready kernels=2 "), "{ready:?}");
    let kernels = std::fs::read_to_string(mountpoint.join("kernel/kernels")).unwrap();
    assert_eq!(kernels, "2\n");

    // The node's modules, registered just after `ready`.
    let modules = mountpoint.join("modules");
    let read = |path: &str| std::fs::read_to_string(modules.join(path));
    let started = Instant::now();
    while read("registry/addr").is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "no modules");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(read("ikc/name").unwrap(), "fs-node\n");
    assert_eq!(read("ikc/listen").unwrap(), format!("{ikc}\n"));
    let id = read("ikc/id").unwrap();
    assert!(id.trim().contains('-') && id.ends_with('\n'), "{id:?}");
    let published = read("ikc/published").unwrap();
    assert!(
        published.lines().any(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            words[0] == "node" && words.contains(&"ping")
        }),
        "{published:?}"
    );
    assert_eq!(read("registry/addr").unwrap(), format!("{registry}\n"));
    // Another node joins through its registry: a connection to it shows,
    // with its name and where it was reached (one dialled the other), and
    // its names are among the kernels IKC knows.
    let mut peer = Node::spawn(&[
        "node",
        "--kernels",
        "1",
        "--heartbeat",
        "10",
        "--ikc-name",
        "fs-peer",
        "--ikc-listen",
        "127.0.0.1:0",
        "--registry",
        "none",
        "--no-mount",
        "--join-registry",
        &registry,
        "--join",
        "proto ikc",
    ]);
    let _ = peer.line("the peer's ikc line");
    let started = Instant::now();
    let connection = loop {
        let connections = read("ikc/connections").unwrap();
        if let Some(line) = connections.lines().find(|l| l.contains("fs-peer")) {
            break line.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{connections:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let words: Vec<&str> = connection.split(' ').collect();
    assert!(
        words.iter().any(|w| w.starts_with("127.0.0.1:")),
        "{connection:?}"
    );
    let kernels = read("ikc/kernels").unwrap();
    for word in &words {
        assert!(kernels.lines().any(|k| k == *word), "{word} in {kernels:?}");
    }
    // A service registered on the new port shows, as a find of every
    // service shows it, at the revision the registry is at.
    let new_port = registry.split([':', ',']).nth(1).unwrap();
    let mut service =
        std::net::TcpStream::connect(format!("127.0.0.1:{new_port}")).expect("the new port");
    std::io::Write::write_all(&mut service, b"tcp!here!1 proto roe\n").unwrap();
    let find = || {
        let output = Command::new(env!("CARGO_BIN_EXE_roe"))
            .args(["registry", "find", "--at", &registry])
            .output()
            .expect("roe registry runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let started = Instant::now();
    loop {
        let shown = read("registry/services").unwrap();
        if shown.lines().any(|line| line == "tcp!here!1 proto roe") {
            let mut found: Vec<String> = find().lines().map(str::to_owned).collect();
            found.sort();
            let mut shown: Vec<String> = shown.lines().map(str::to_owned).collect();
            shown.sort();
            assert_eq!(shown, found);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{shown:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let revision: u64 = read("registry/revision").unwrap().trim().parse().unwrap();
    assert!(revision >= 1, "{revision}");
    drop(service);
    let (status, rest) = peer.stop(Signal::TERM);
    assert!(status.success(), "{rest:?}");

    let (status, rest) = node.stop(Signal::TERM);
    assert!(status.success(), "{rest:?}");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(&mountpoint.display().to_string()),
        "still mounted: {mounts}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The arguments that put a node's IKC server and registry on ports the
/// system picks, without an fs view (one test mounts one).
const ANY_PORTS: [&str; 5] = [
    "--ikc-listen",
    "127.0.0.1:0",
    "--registry",
    "127.0.0.1:0,0,0",
    "--no-mount",
];

/// `roe node` with `args`, then [`ANY_PORTS`].
fn node(args: &[&str]) -> Node {
    let mut all = args.to_vec();
    all.extend(ANY_PORTS);
    Node::spawn(&all)
}

/// The node serves IKC: its `node` session's `ping` is published, and
/// what is not published is refused, across processes (the `roe ikc`
/// client in one, the node in the other).
#[test]
fn node_serves_ikc_and_refuses_what_it_does_not_publish() {
    let mut node = node(&["node", "--kernels", "2", "--heartbeat", "10"]);
    let (addr, ready) = ikc_then_ready(&mut node);
    assert!(ready.starts_with("ready"), "{ready:?}");
    let ikc = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_roe"))
            .args(["ikc"])
            .args(args)
            .output()
            .expect("roe ikc runs")
    };
    // Twice: the second connection goes to the other kernel.
    for _ in 0..2 {
        let pong = ikc(&["call", "--to", &addr, "poe://roe-node/node/ping"]);
        assert!(pong.status.success(), "{pong:?}");
        let out = String::from_utf8_lossy(&pong.stdout);
        assert!(out.starts_with("\"pong "), "{out:?}");
    }
    let refused = ikc(&["call", "--to", &addr, "poe://roe-node/node/status"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("not published"), "{err:?}");
    let (status, rest) = node.stop(Signal::TERM);
    assert!(status.success(), "{rest:?}");
    assert_eq!(rest, ["stopping on SIGTERM", "stopped"]);
}

fn stops_cleanly_on(signal: Signal, name: &str) {
    let mut node = node(&["node", "--heartbeat", "10"]);
    let (_, first) = ikc_then_ready(&mut node);
    assert!(first.starts_with("ready"), "first line {first:?}");
    let (status, rest) = node.stop(signal);
    assert!(status.success(), "{status:?}, output {rest:?}");
    assert_eq!(
        rest,
        [format!("stopping on SIG{name}"), "stopped".to_owned()]
    );
}

#[test]
fn node_stops_cleanly_on_sigterm() {
    stops_cleanly_on(Signal::TERM, "TERM");
}

#[test]
fn node_stops_cleanly_on_sigint() {
    stops_cleanly_on(Signal::INT, "INT");
}

/// `--kernels 3` runs three kernel threads, each pinned to one CPU (kernel
/// i on CPU i modulo the CPUs there are).
#[test]
fn node_runs_the_kernels_asked_for_each_pinned() {
    let mut node = node(&["node", "--kernels", "3", "--heartbeat", "10"]);
    let (_, first) = ikc_then_ready(&mut node);
    assert!(
        first.starts_with("ready kernels=3 "),
        "first line {first:?}"
    );
    let mut pinned = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", node.child.id())).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap();
        let Some(index) = comm.trim().strip_prefix("roe-kernel-") else {
            continue;
        };
        let status = std::fs::read_to_string(task.join("status")).unwrap();
        let cpus = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_owned();
        pinned.push((index.parse::<usize>().unwrap(), cpus));
    }
    pinned.sort();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let expected: Vec<(usize, String)> = (0..3).map(|i| (i, (i % cpus).to_string())).collect();
    let (status, rest) = node.stop(Signal::TERM);
    assert!(status.success(), "{rest:?}");
    assert_eq!(pinned, expected);
}

/// The node serves the registry: a registration over its new port is
/// found with `roe registry find`, and a port already taken is an error
/// that names the option that moves it.
#[test]
fn node_serves_the_registry() {
    use std::io::Write;

    let mut node = node(&["node", "--kernels", "2", "--heartbeat", "10"]);
    let (_, registry, ready) = ikc_registry_ready(&mut node);
    assert!(ready.starts_with("ready"), "{ready:?}");
    let new_port = registry.split([':', ',']).nth(1).unwrap();
    let mut service =
        std::net::TcpStream::connect(format!("127.0.0.1:{new_port}")).expect("the new port");
    service.write_all(b"tcp!here!1 proto roe\n").unwrap();
    let find = || {
        let output = Command::new(env!("CARGO_BIN_EXE_roe"))
            .args(["registry", "find", "--at", &registry, "proto", "roe"])
            .output()
            .expect("roe registry runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let started = std::time::Instant::now();
    while find().is_empty() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(find(), "tcp!here!1 proto roe\n");
    // A second node on the same registry ports: refused, and told how.
    let second = Command::new(env!("CARGO_BIN_EXE_roe"))
        .args([
            "node",
            "--ikc-listen",
            "127.0.0.1:0",
            "--registry",
            &registry,
        ])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("cannot serve the registry") && err.contains("--registry none"),
        "{err}"
    );
    drop(service);
    let (status, rest) = node.stop(Signal::TERM);
    assert!(status.success(), "{rest:?}");
    assert_eq!(rest, ["stopping on SIGTERM", "stopped"]);
}

#[test]
fn node_rejects_bad_arguments() {
    for args in [
        &["node", "--heartbeat", "0"][..],
        &["node", "--heartbeat", "18446744073709551615"],
        &["node", "--bogus"],
        &["node", "--kernels", "0"],
        &["node", "--kernels", "many"],
        &["node", "--ikc-listen", "nowhere"],
        &["node", "--ikc-listen", "127.0.0.1:99999"],
        &["node", "--ikc-name", "a/b", "--ikc-listen", "127.0.0.1:0"],
        &["node", "--registry", "127.0.0.1:1,2"],
        &["node", "--registry", "[::1"],
        &["frobnicate"],
    ] {
        // No registry on its fixed ports, should a node get that far.
        let output = Command::new(env!("CARGO_BIN_EXE_roe"))
            .args(args)
            .args(["--registry", "none"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("roe: "), "{args:?}: {stderr}");
        // Refused before anything started.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains("ready"), "{args:?} started: {stdout}");
    }
}

#[test]
fn node_stops_cleanly_on_sighup() {
    stops_cleanly_on(Signal::HUP, "HUP");
}

/// `roe node | head -1`: once the reader has gone, printing `stopping`
/// used to panic in the stop handler, which left the node half-running.
#[test]
fn node_stops_cleanly_after_its_stdout_is_closed() {
    let mut node = Node::start(
        Command::new(env!("CARGO_BIN_EXE_roe"))
            .args(["node", "--kernels", "2", "--heartbeat", "10"])
            .args(ANY_PORTS)
            .stderr(Stdio::null()),
    );
    let (_, first) = ikc_then_ready(&mut node);
    assert!(first.starts_with("ready"), "first line {first:?}");
    node.close_stdout();
    node.signal(Signal::INT);
    let status = node.exits_within(Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
}

/// SIGUSR1 reports on every kernel and the node runs on; it used to kill
/// the node.
#[test]
fn node_reports_its_kernels_on_sigusr1_and_runs_on() {
    let mut node = node(&["node", "--kernels", "2", "--heartbeat", "10"]);
    let (_, first) = ikc_then_ready(&mut node);
    assert!(first.starts_with("ready"), "first line {first:?}");
    node.signal(Signal::USR1);
    for kernel in 0..2 {
        let line = node.line("a status line");
        assert!(
            line.starts_with(&format!("status kernel={kernel} sessions=")),
            "{line:?}"
        );
    }
    let (status, rest) = node.stop(Signal::TERM);
    assert!(status.success());
    assert_eq!(rest, ["stopping on SIGTERM", "stopped"]);
}

/// What the nodes that join log: discovery's dials (info), and IKC's
/// links as they come up (debug).
const JOIN_LOG: &str = "info,roe_ikc=debug";

/// Two nodes find each other through one node's registry: each advertises
/// its IKC server there and follows `proto ikc`, and they connect (one
/// dials the other, and each logs its IKC link to the other as up: an
/// advertisement alone would not show that); when one stops, its
/// advertisement goes with it, and the other hangs up.
#[test]
fn nodes_join_through_a_registry_and_leave_it_when_they_stop() {
    let mut first = Node::logged(
        &[
            "node",
            "--kernels",
            "1",
            "--heartbeat",
            "10",
            "--ikc-name",
            "first",
            "--join",
            "proto ikc",
            "--ikc-listen",
            "127.0.0.1:0",
            "--registry",
            "127.0.0.1:0,0,0",
            "--no-mount",
        ],
        JOIN_LOG,
    );
    let (_, registry, ready) = ikc_registry_ready(&mut first);
    assert!(ready.starts_with("ready"), "{ready:?}");
    let mut second = Node::logged(
        &[
            "node",
            "--kernels",
            "1",
            "--heartbeat",
            "10",
            "--ikc-name",
            "second",
            "--ikc-listen",
            "127.0.0.1:0",
            "--registry",
            "none",
            "--no-mount",
            "--join-registry",
            &registry,
            "--join",
            "proto ikc",
        ],
        JOIN_LOG,
    );
    let ikc = second.line("a first line");
    assert!(ikc.starts_with("ikc 127.0.0.1:"), "{ikc:?}");
    let ready = second.line("a second line");
    assert!(ready.starts_with("ready"), "{ready:?}");
    let find = || {
        let output = Command::new(env!("CARGO_BIN_EXE_roe"))
            .args(["registry", "find", "--at", &registry, "proto", "ikc"])
            .output()
            .expect("roe registry runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let wait_for = |count: usize| {
        let started = std::time::Instant::now();
        loop {
            let found = find();
            if found.lines().count() == count {
                return found;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{found:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    let both = wait_for(2);
    for name in ["first", "second"] {
        assert!(
            both.lines()
                .any(|l| l.contains(&format!("kernel {name}")) && l.contains("follows")),
            "{both}"
        );
    }
    // Connected: each has its IKC link to the other up, and one of them
    // dialled the other, as discovery found it.
    first.log().wait_for(&["IKC: connected", "peer=second"]);
    second.log().wait_for(&["IKC: connected", "peer=first"]);
    assert!(
        first.log().has(&["discovery: dialling", "peer=second"])
            || second.log().has(&["discovery: dialling", "peer=first"]),
        "neither dialled: {:#?} {:#?}",
        first.log().seen,
        second.log().seen
    );
    let (status, rest) = second.stop(Signal::TERM);
    assert!(status.success(), "{rest:?}");
    let left = wait_for(1);
    assert!(left.contains("kernel first"), "{left}");
    // The one left lets the other go.
    first
        .log()
        .wait_for(&["discovery: hanging up", "peer=second"]);
    let (status, rest) = first.stop(Signal::TERM);
    assert!(status.success(), "{rest:?}");
}

/// A node that cannot join through its registry fails before `ready`,
/// saying why. Discovery used to run after the node's IKC and registry
/// results had gone out, so the node said `ready` and then failed. (An
/// IKC server on every IPv4 address advertises the address it reaches
/// the registry from; a registry at an IPv6 address has none.)
#[test]
fn node_that_cannot_join_fails_before_ready() {
    let output = Command::new(env!("CARGO_BIN_EXE_roe"))
        .args(["node", "--kernels", "1", "--heartbeat", "10"])
        .args([
            "--ikc-listen",
            "0.0.0.0:0",
            "--registry",
            "none",
            "--no-mount",
        ])
        .args(["--join-registry", "[::1]:1,2,3", "--join", "proto ikc"])
        .output()
        .expect("the roe binary runs");
    assert!(!output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("ready"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("roe: cannot join through the registry: ") && stderr.contains("family"),
        "{stderr}"
    );
}
