//! Nodes as a user runs them: `roe node` processes that find each other
//! through one node's registry and talk over IKC by the names they
//! publish (transparent mode), each probing the others on its heartbeat.
//!
//! Two nodes reach each other both ways (calls and posts), show each other
//! in their fs views, survive one being killed and restarted (the other
//! notices, then reaches the new one; its registration comes back), and
//! stop leaving no process, mount or registration behind. Then eight
//! nodes join through one registry; the figures a user needs before
//! growing past one machine are printed (`cargo test --release --test
//! cluster -- --nocapture`; docs/benchmarks.md records a run): the time
//! until every node has reached every other, the probes' round trips, and
//! how long the others take to notice a killed node.

#[path = "common/node.rs"]
mod node_process;

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use rustix::process::Signal;

use crate::node_process::{Node, is_mounted};

/// The log each node keeps: its own lines at info, enough to see peers.
const LOG: &str = "info";

/// How often the nodes beat (and probe their peers), in milliseconds.
const HEARTBEAT_MS: &str = "20";

/// A node named `name` joining through `registry` (its own when `None`:
/// it then serves one on free ports), mounted at `mount` if given.
fn start(name: &str, registry: Option<&str>, mount: Option<&PathBuf>) -> Node {
    let mut args = vec![
        "node",
        "--kernels",
        "1",
        "--heartbeat",
        HEARTBEAT_MS,
        "--ikc-name",
        name,
        "--ikc-listen",
        "127.0.0.1:0",
        "--join",
        "proto ikc",
    ];
    match registry {
        Some(addr) => args.extend(["--registry", "none", "--join-registry", addr]),
        None => args.extend(["--registry", "127.0.0.1:0,0,0"]),
    }
    let mount_arg;
    match mount {
        Some(dir) => {
            mount_arg = dir.display().to_string();
            args.extend(["--mount", &mount_arg]);
        }
        None => args.push("--no-mount"),
    }
    let mut node = Node::logged(&args, LOG);
    node.mount = mount.cloned();
    node
}

/// Reads a node's lines up to `ready`: its registry's address if it
/// serves one.
fn until_ready(node: &mut Node) -> Option<String> {
    let mut registry = None;
    loop {
        let line = node.line("a line before ready");
        if let Some(addr) = line.strip_prefix("registry ") {
            registry = Some(addr.to_owned());
        }
        if line.starts_with("ready") {
            return registry;
        }
    }
}

/// `roe registry find proto ikc` at `registry`: the nodes advertised.
fn advertised(registry: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_roe"))
        .args(["registry", "find", "--at", registry, "proto", "ikc"])
        .output()
        .expect("roe registry runs");
    assert!(output.status.success(), "{output:?}");
    let mut kernels: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            let at = words.iter().position(|word| *word == "kernel")?;
            words.get(at + 1).map(|name| (*name).to_owned())
        })
        .collect();
    kernels.sort();
    kernels
}

/// Waits until the registry advertises exactly `names`.
fn advertised_until(registry: &str, names: &[&str]) {
    let started = Instant::now();
    loop {
        let found = advertised(registry);
        if found == names {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "advertised {found:?}, not {names:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A temporary mountpoint of the test's own.
fn mountpoint(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roe-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::create_dir(&dir);
    dir
}

#[test]
fn two_nodes_reach_each_other_by_name_survive_a_restart_and_leave_nothing_behind() {
    let fuse = roe_fs::can_mount().is_ok();
    let (first_mount, second_mount) = (mountpoint("first"), mountpoint("second"));
    let mounts = [first_mount.clone(), second_mount.clone()];
    let mut first = start("first", None, fuse.then_some(&first_mount));
    let registry = until_ready(&mut first).expect("first serves the registry");
    let mut second = start("second", Some(&registry), fuse.then_some(&second_mount));
    until_ready(&mut second);

    // Calls (probe) and posts (note) both ways, by plain name.
    for (node, peer) in [(&mut first, "second"), (&mut second, "first")] {
        let peer_field = format!("peer={peer}");
        node.log().wait_for(&["node: reached", &peer_field]);
        node.log().wait_for(&["node: first note", &peer_field]);
    }
    advertised_until(&registry, &["first", "second"]);
    // Each shows the other in its fs view.
    if fuse {
        for (mount, peer) in [(&first_mount, "second"), (&second_mount, "first")] {
            let kernels = std::fs::read_to_string(mount.join("modules/ikc/kernels"))
                .expect("the view lists IKC's kernels");
            assert!(kernels.lines().any(|line| line.contains(peer)), "{kernels}");
        }
    } else {
        println!("/dev/fuse cannot be opened: the fs views are not checked");
    }

    // Killed: the first notices, and its registry drops the advert.
    second.signal(Signal::KILL);
    second.exits_within(Duration::from_secs(10));
    if fuse && is_mounted(&second_mount) {
        // What a killed node leaves; the next start at the path cleans it.
        println!("the killed node's view is still mounted, as expected");
    }
    first.log().wait_for(&["node: peer gone", "peer=second"]);
    advertised_until(&registry, &["first"]);

    // Restarted: reached again, advertised again.
    let mut second = start("second", Some(&registry), fuse.then_some(&second_mount));
    until_ready(&mut second);
    first
        .log()
        .wait_for_count(&["node: reached", "peer=second"], 2);
    second.log().wait_for(&["node: reached", "peer=first"]);
    advertised_until(&registry, &["first", "second"]);

    // Stopped: nothing left behind.
    let (status, _) = second.stop(Signal::TERM);
    assert!(status.success());
    advertised_until(&registry, &["first"]);
    let (status, _) = first.stop(Signal::TERM);
    assert!(status.success());
    for mount in &mounts {
        assert!(!is_mounted(mount), "{} is still mounted", mount.display());
        let _ = std::fs::remove_dir(mount);
    }
}

/// The nodes of the cluster test.
const CLUSTER: usize = 8;

#[test]
fn eight_nodes_join_through_one_registry_and_notice_one_that_dies() {
    let started = Instant::now();
    let names: Vec<String> = (0..CLUSTER).map(|n| format!("n{n}")).collect();
    let mut nodes = vec![start(&names[0], None, None)];
    let registry = until_ready(&mut nodes[0]).expect("n0 serves the registry");
    for name in &names[1..] {
        nodes.push(start(name, Some(&registry), None));
    }
    for node in &mut nodes[1..] {
        until_ready(node);
    }
    // Every node reaches every other.
    for (at, node) in nodes.iter_mut().enumerate() {
        for (other, name) in names.iter().enumerate() {
            if other != at {
                node.log()
                    .wait_for(&["node: reached", &format!("peer={name}")]);
            }
        }
    }
    let joined = started.elapsed();
    // The probes' round trips, from each node's report (SIGUSR1).
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for node in &mut nodes {
        node.signal(Signal::USR1);
        let mut peers = 0;
        while peers < CLUSTER - 1 {
            let line = node.line("a peer line");
            if !line.starts_with("peer ") {
                continue;
            }
            let field = |key: &str| -> u64 {
                line.split(' ')
                    .find_map(|word| word.strip_prefix(key))
                    .and_then(|value| value.parse().ok())
                    .unwrap_or_else(|| panic!("no {key} in {line:?}"))
            };
            assert_eq!(field("failed="), 0, "{line}");
            p50s.push(field("round_trip_p50_us="));
            p99s.push(field("round_trip_p99_us="));
            peers += 1;
        }
    }
    p50s.sort_unstable();
    p99s.sort_unstable();
    // One dies; the others notice.
    let victim = nodes.pop().expect("eight nodes");
    let killed = Instant::now();
    victim.signal(Signal::KILL);
    let dead = &names[CLUSTER - 1];
    for node in &mut nodes {
        node.log()
            .wait_for(&["node: peer gone", &format!("peer={dead}")]);
    }
    let noticed = killed.elapsed();
    drop(victim);
    println!(
        "cluster of {CLUSTER}: all reached all in {} ms from the first start; \
         probe round trip p50 {} µs (median over peers), p99 {} µs (worst peer); \
         a killed node noticed by all in {} ms",
        joined.as_millis(),
        p50s[p50s.len() / 2],
        p99s[p99s.len() - 1],
        noticed.as_millis(),
    );
    for node in &mut nodes {
        let (status, _) = node.stop(Signal::TERM);
        assert!(status.success());
    }
}
