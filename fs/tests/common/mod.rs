//! What the tests that mount share: whether FUSE can be used, a
//! mountpoint of each test's own, waiting, shell commands, and finishing a
//! runtime. Each test binary uses a part of it.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use roe_engine::Runtime;

/// How long anything a test waits for may take.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Whether FUSE can be used here; says why not when it cannot (and fails
/// the test instead with `ROE_REQUIRE_FUSE=1`).
pub fn fuse_available() -> bool {
    match roe_fs::can_mount() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipping: {why}; no mount tested");
            false
        }
    }
}

/// A mountpoint of the test's own; it does not exist yet.
pub fn mountpoint(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("roe-fs-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir(&path);
    path
}

/// Whether anything is mounted at `path`.
pub fn is_mounted(path: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_str().unwrap();
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(path))
}

/// Checks that `path` is neither mounted nor left behind.
pub fn assert_gone(path: &Path) {
    assert!(!is_mounted(path), "{} is still mounted", path.display());
    assert!(!path.exists(), "{} was not removed", path.display());
}

/// Waits until `check` holds, or fails after [`PATIENCE`].
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `sh -c script` under `timeout`; its status, stdout and stderr.
pub fn sh(script: &str) -> (bool, String, String) {
    let out = Command::new("timeout")
        .args(["10", "sh", "-c", script])
        .output()
        .expect("sh runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Shuts the runtime down and waits for it, within [`PATIENCE`].
pub fn finish(runtime: Runtime) {
    runtime.handle().shutdown();
    join_within(runtime);
}

pub fn join_within(runtime: Runtime) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(runtime.join()));
    rx.recv_timeout(PATIENCE)
        .expect("the runtime finishes in time")
        .expect("the runtime finishes cleanly");
}
