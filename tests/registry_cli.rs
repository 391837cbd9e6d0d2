//! `roe registry`: a registry served by `serve`, and the commands that
//! talk to it (`find`, `watch`, `register`, `remove`), each its own
//! process, over loopback on ports the system picks.

use std::{
    io::{BufRead, BufReader, Lines},
    path::PathBuf,
    process::{Child, ChildStdout, Command, Output, Stdio},
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process};

#[path = "../registry/tests/support/etcd.rs"]
mod etcd_process;

/// A `roe registry serve` process and the address it printed.
struct Served {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    addr: String,
}

fn roe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_roe"))
}

/// Starts `roe registry serve` on any free ports, with `extra` arguments.
fn serve(extra: &[&str]) -> Served {
    let mut child = roe()
        .args(["registry", "serve", "--ports", "0,0,0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the roe binary runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    let addr = first
        .strip_prefix("registry ")
        .unwrap_or_else(|| panic!("first line {first:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    Served { child, lines, addr }
}

impl Served {
    /// SIGTERM: the server stops cleanly.
    fn stop(mut self) {
        signal(&self.child, Signal::TERM);
        let rest: Vec<String> = (&mut self.lines).map(Result::unwrap).collect();
        assert!(self.child.wait().unwrap().success(), "{rest:?}");
        assert_eq!(rest, ["stopping on SIGTERM", "stopped"]);
    }
}

/// A server a failed assertion left running is killed.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, signal: Signal) {
    kill_process(Pid::from_raw(child.id() as i32).unwrap(), signal).unwrap();
}

/// Runs `roe registry <args>` to its end.
fn registry(args: &[&str]) -> Output {
    roe()
        .arg("registry")
        .args(args)
        .output()
        .expect("roe registry runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// `roe registry find` until its answer is `wanted`.
fn find_until(addr: &str, query: &[&str], wanted: &str) {
    let started = Instant::now();
    loop {
        let mut args = vec!["find", "--at", addr];
        args.extend_from_slice(query);
        let answer = stdout(&registry(&args));
        if answer == wanted {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "find {query:?} still answers {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A long-running `roe registry` command and its output lines.
fn spawn(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = roe()
        .arg("registry")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("roe registry runs");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

fn next(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    lines.next().expect("a line").unwrap()
}

#[test]
fn register_find_watch_and_remove_from_the_shell() {
    let served = serve(&[]);
    let addr = served.addr.clone();
    assert_eq!(stdout(&registry(&["find", "--at", &addr])), "");
    let (mut watcher, mut watched) = spawn(&["watch", "--at", &addr, "auth", "none"]);
    assert_eq!(next(&mut watched), "00000000 sync");
    let (mut printer, mut said) = spawn(&[
        "register",
        "--at",
        &addr,
        "lp!office",
        "auth",
        "none",
        "note",
        "it's here",
    ]);
    assert_eq!(next(&mut said), "registered lp!office");
    assert_eq!(
        next(&mut watched),
        "00000001 add lp!office auth none note 'it''s here'"
    );
    let found = stdout(&registry(&["find", "--at", &addr, "note", "it's here"]));
    assert_eq!(found, "lp!office auth none note 'it''s here'\n");
    assert_eq!(
        stdout(&registry(&["find", "--at", &addr, "auth", "*"])),
        found
    );
    // A duplicate is refused.
    let duplicate = registry(&["register", "--at", &addr, "lp!office"]);
    assert!(!duplicate.status.success());
    let err = String::from_utf8_lossy(&duplicate.stderr);
    assert!(err.contains("duplicate service name"), "{err}");
    // Interrupted, the registration goes.
    signal(&printer, Signal::INT);
    let _ = printer.wait();
    assert_eq!(
        next(&mut watched),
        "00000002 remove lp!office auth none note 'it''s here'"
    );
    find_until(&addr, &[], "");
    // A watch that resumes.
    let resumed = {
        let (mut child, mut lines) = spawn(&["watch", "--at", &addr, "--since", "0"]);
        let got = [next(&mut lines), next(&mut lines), next(&mut lines)];
        signal(&child, Signal::TERM);
        let _ = child.wait();
        got
    };
    assert_eq!(
        resumed,
        [
            "00000001 add lp!office auth none note 'it''s here'",
            "00000002 remove lp!office auth none note 'it''s here'",
            "00000002 sync",
        ]
    );
    signal(&watcher, Signal::TERM);
    let _ = watcher.wait();
    served.stop();
}

#[test]
fn persistent_services_are_removed_with_their_token_and_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("roe-registry-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state: PathBuf = dir.join("registry.state");
    let state_arg = state.to_str().unwrap();
    let served = serve(&["--state", state_arg]);
    let addr = served.addr.clone();
    let (mut holder, mut said) = spawn(&[
        "register", "--at", &addr, "--token", "k3y", "db", "persist", "1",
    ]);
    assert_eq!(next(&mut said), "registered db");
    signal(&holder, Signal::TERM);
    let _ = holder.wait();
    // It stays: persist 1.
    std::thread::sleep(Duration::from_millis(100));
    find_until(&addr, &[], "db persist 1\n");
    served.stop();

    let served = serve(&["--state", state_arg]);
    let addr = served.addr.clone();
    find_until(&addr, &[], "db persist 1\n");
    let refused = registry(&["remove", "--at", &addr, "db"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("permission denied"), "{err}");
    let removed = registry(&["remove", "--at", &addr, "--token", "k3y", "db"]);
    assert_eq!(stdout(&removed), "removed db\n");
    find_until(&addr, &[], "");
    served.stop();
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        text.starts_with("roe-registry-state 1\n") && text.contains("end 0\n"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_port_in_use_names_the_port_and_the_option() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = roe()
        .args(["registry", "serve", "--ports", &format!("0,{port},0")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.starts_with("roe: ")
            && err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("find port")
            && err.contains("--ports"),
        "{err}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["registry"][..],
        &["registry", "bogus"],
        &["registry", "serve", "--ports", "1,2"],
        &["registry", "serve", "--at", "host"],
        &["registry", "serve", "extra"],
        &["registry", "find", "--at", "host:1,2"],
        &["registry", "find", "odd"],
        &["registry", "watch", "--since", "x"],
        &["registry", "register"],
        &["registry", "register", "a/b"],
        &["registry", "register", "--token", "two words", "svc"],
        &["registry", "remove"],
        &["registry", "remove", "a", "b"],
        &["registry", "serve", "--backend", "consul=http://h:1"],
        &["registry", "serve", "--backend", "etcd=h:1"],
        &["registry", "serve", "--etcd-lease", "3"],
        &[
            "registry",
            "serve",
            "--backend",
            "etcd=http://h:1",
            "--etcd-lease",
            "x",
        ],
    ] {
        let output = roe().args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("roe: "), "{args:?}: {stderr}");
    }
    // A registry that is not there.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = nobody.local_addr().unwrap().port();
    drop(nobody);
    let output = registry(&["find", "--at", &format!("127.0.0.1:{port},{port},{port}")]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("cannot reach the registry's find port"),
        "{err}"
    );
}

/// Two registry hosts share an etcd; one dies (SIGKILL: nothing of it
/// runs after) and the registrations made through it go once their leases
/// run out, while those made through the other stay.
#[test]
fn a_registry_host_that_dies_takes_only_its_own_registrations() {
    let Some(etcd) = etcd_process::Etcd::start() else {
        return;
    };
    let backend = format!("etcd={}", etcd.url());
    let shared = ["--backend", &backend, "--etcd-lease", "2"];
    let mut doomed = serve(&shared);
    let survivor = serve(&shared);
    let (on_doomed, mut said) = spawn(&["register", "--at", &doomed.addr, "a", "site", "x"]);
    let mut on_doomed = Killed(on_doomed);
    assert_eq!(next(&mut said), "registered a");
    let (on_survivor, mut said) = spawn(&["register", "--at", &survivor.addr, "b", "site", "x"]);
    let mut on_survivor = Killed(on_survivor);
    assert_eq!(next(&mut said), "registered b");
    find_until(&survivor.addr, &["site", "x"], "a site x\nb site x\n");

    signal(&doomed.child, Signal::KILL);
    doomed.child.wait().unwrap();
    // The register command on the dead host learns it lost the connection.
    assert!(!on_doomed.0.wait().unwrap().success());
    find_until(&survivor.addr, &["site", "x"], "b site x\n");
    // The survivor renews its lease: b outlives two more lease periods.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(5) {
        let answer = stdout(&registry(&["find", "--at", &survivor.addr, "site", "x"]));
        assert_eq!(answer, "b site x\n");
        std::thread::sleep(Duration::from_millis(100));
    }

    signal(&on_survivor.0, Signal::INT);
    on_survivor.0.wait().unwrap();
    find_until(&survivor.addr, &["site", "x"], "");
    survivor.stop();
}

/// A command's process, killed if a failed assertion left it running.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
