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

#[test]
fn node_rejects_bad_arguments() {
    for args in [
        &["node", "--heartbeat", "0"][..],
        &["node", "--bogus"],
        &["frobnicate"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_roe"))
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("roe: "), "{args:?}: {stderr}");
    }
}
