//! What the top-level tests share: the `ikc_echo` example, found and
//! started as its own process.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// How long the example may take to start, and to print each line a
/// test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// An example's binary: `cargo test` builds the examples beside the test
/// binaries' directory.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "cargo test builds the examples: {}",
        path.display()
    );
    path
}

/// The `ikc_echo` example, running: killed, if it is still running, when
/// dropped.
pub struct Echo {
    pub child: Child,
    /// The port it listens on, from its `READY <port>` line.
    pub port: u16,
    /// What it prints after `READY`, line by line (a thread reads its
    /// stdout, so that the example never waits for the test).
    pub lines: mpsc::Receiver<String>,
}

impl Echo {
    /// Starts `ikc_echo` with `args`, and waits at most [`PATIENCE`] for
    /// its `READY <port>` line.
    pub fn start(args: &[&str]) -> Echo {
        let mut child = Command::new(example("ikc_echo"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the example runs");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut echo = Echo {
            child,
            port: 0,
            lines,
        };
        let ready = echo
            .lines
            .recv_timeout(PATIENCE)
            .expect("ikc_echo says READY in time");
        echo.port = ready
            .strip_prefix("READY ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("not a READY line: {ready:?}"));
        echo
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
