//! A `roe` process run by a test: its stdout line by line, its log
//! (stderr) captured on request, and, should the test fail first, stopped
//! (SIGTERM, then killed) with any view it left mounted detached. Shared
//! by the tests that run nodes (`#[path]`-included, so each takes only
//! this).

// Each test crate that includes this uses part of it.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Lines},
    path::PathBuf,
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process};

/// How long a node that is told to stop may take before it is killed.
pub const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// A running `roe` process and its stdout, line by line.
pub struct Node {
    pub child: Child,
    /// `None` once the test has closed it.
    lines: Option<Lines<BufReader<ChildStdout>>>,
    /// Its fs view's mountpoint, detached should the node be killed.
    pub mount: Option<PathBuf>,
    /// Its stderr, when captured.
    log: Option<Log>,
}

impl Node {
    /// Runs `roe` with `args`, its stdout read here, its stderr the
    /// test's.
    pub fn spawn(args: &[&str]) -> Node {
        Node::start(Command::new(env!("CARGO_BIN_EXE_roe")).args(args))
    }

    pub fn start(command: &mut Command) -> Node {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("the roe binary runs");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Node {
            child,
            lines: Some(lines),
            mount: None,
            log: None,
        }
    }

    /// Runs `roe` with `args` and `RUST_LOG=filter`, its log captured.
    pub fn logged(args: &[&str], filter: &str) -> Node {
        let mut node = Node::start(
            Command::new(env!("CARGO_BIN_EXE_roe"))
                .args(args)
                .env("RUST_LOG", filter)
                .stderr(Stdio::piped()),
        );
        node.log = Some(Log::capture(&mut node.child));
        node
    }

    pub fn log(&mut self) -> &mut Log {
        self.log.as_mut().expect("the log is captured")
    }

    pub fn lines(&mut self) -> &mut Lines<BufReader<ChildStdout>> {
        self.lines.as_mut().expect("stdout is open")
    }

    /// The next line on stdout.
    pub fn line(&mut self, what: &str) -> String {
        self.lines()
            .next()
            .unwrap_or_else(|| panic!("{what}"))
            .unwrap()
    }

    /// Closes the reading end of its stdout (`roe node | head -1`).
    pub fn close_stdout(&mut self) {
        self.lines = None;
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32).unwrap()
    }

    pub fn signal(&self, signal: Signal) {
        kill_process(self.pid(), signal).unwrap();
    }

    /// Sends `signal`, reads the rest of stdout and waits for the node to
    /// exit: its status, and the lines it printed.
    pub fn stop(&mut self, signal: Signal) -> (ExitStatus, Vec<String>) {
        self.signal(signal);
        let rest = match self.lines.as_mut() {
            Some(lines) => lines.map(Result::unwrap).collect(),
            None => Vec::new(),
        };
        let status = self.exits_within(STOP_PATIENCE);
        (status, rest)
    }

    /// Waits for the node to exit, for at most `limit` (a node that does
    /// not stop is killed, and the test fails).
    pub fn exits_within(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!("the node did not stop within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    /// A node still running (the test failed before stopping it) is
    /// stopped with SIGTERM, which unmounts its view, and killed if it
    /// does not go; a view a killed node left mounted is detached.
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = kill_process(self.pid(), Signal::TERM);
        self.lines = None;
        let started = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) {
            if started.elapsed() > STOP_PATIENCE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(mount) = &self.mount
            && is_mounted(mount)
        {
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
    }
}

/// A node's log (its stderr), read by a thread of its own so that the
/// node never waits for the test to read it.
pub struct Log {
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Log {
    /// How long a line the test waits for may take to come.
    const PATIENCE: Duration = Duration::from_secs(30);

    pub fn capture(child: &mut Child) -> Log {
        let stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Log {
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line, logged so far or within [`Log::PATIENCE`], that
    /// holds each of `words`.
    pub fn wait_for(&mut self, words: &[&str]) -> String {
        let holds = |line: &String| words.iter().all(|word| line.contains(word));
        if let Some(line) = self.seen.iter().find(|line| holds(line)) {
            return line.clone();
        }
        let deadline = Instant::now() + Log::PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line);
                    let line = self.seen.last().expect("just pushed");
                    if holds(line) {
                        return line.clone();
                    }
                }
                Err(_) => panic!("no line with {words:?} in the log: {:#?}", self.seen),
            }
        }
    }

    /// The `count`th line, logged so far or within [`Log::PATIENCE`] of
    /// the call, that holds each of `words`.
    pub fn wait_for_count(&mut self, words: &[&str], count: usize) -> String {
        let holds = |line: &String| words.iter().all(|word| line.contains(word));
        let deadline = Instant::now() + Log::PATIENCE;
        loop {
            if let Some(line) = self.seen.iter().filter(|line| holds(line)).nth(count - 1) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no {count} lines with {words:?} in the log: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Whether a line logged so far holds each of `words`.
    pub fn has(&mut self, words: &[&str]) -> bool {
        self.seen.extend(self.lines.try_iter());
        self.seen
            .iter()
            .any(|line| words.iter().all(|word| line.contains(word)))
    }
}

/// Whether anything is mounted at `path`.
pub fn is_mounted(path: &std::path::Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts.contains(&path.display().to_string())
}
