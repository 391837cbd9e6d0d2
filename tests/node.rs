//! `roe node`, the main job: it reports `ready`, then runs until SIGINT or
//! SIGTERM, which stop it cleanly (exit status 0, `stopped`).

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use rustix::process::{Pid, Signal, kill_process};

fn stops_cleanly_on(signal: Signal, name: &str) {
    let mut node = Command::new(env!("CARGO_BIN_EXE_roe"))
        .args(["node", "--heartbeat", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the roe binary runs");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    assert!(first.starts_with("ready"), "first line {first:?}");
    let pid = Pid::from_raw(node.id() as i32).unwrap();
    kill_process(pid, signal).unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = node.wait().unwrap();
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
    let mut node = Command::new(env!("CARGO_BIN_EXE_roe"))
        .args(["node", "--kernels", "3", "--heartbeat", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the roe binary runs");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    assert!(
        first.starts_with("ready kernels=3 "),
        "first line {first:?}"
    );
    let mut pinned = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", node.id())).unwrap() {
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
    kill_process(Pid::from_raw(node.id() as i32).unwrap(), Signal::TERM).unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(node.wait().unwrap().success(), "{rest:?}");
    assert_eq!(pinned, expected);
}

#[test]
fn node_rejects_bad_arguments() {
    for args in [
        &["node", "--heartbeat", "0"][..],
        &["node", "--heartbeat", "18446744073709551615"],
        &["node", "--bogus"],
        &["node", "--kernels", "0"],
        &["node", "--kernels", "many"],
        &["frobnicate"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_roe"))
            .args(args)
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
