//! `/process`: the program itself, the analogue of ProcAlike's `/perl`
//! (PerlInfo), from std and `/proc/self`.

use std::{
    fs,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{Entry, Found, Kind, View, epoch, line, lines, seconds};

/// What does not change while the process runs, read once.
#[derive(Clone, Debug)]
pub(crate) struct ProcessInfo {
    pub pid: u32,
    pub exe: String,
    pub argv: Vec<String>,
    /// When the process started (from `/proc/self/stat`; the view's start
    /// if that cannot be read).
    pub started: SystemTime,
}

impl ProcessInfo {
    /// This process.
    pub fn current() -> ProcessInfo {
        ProcessInfo {
            pid: std::process::id(),
            exe: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            argv: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            started: process_start().unwrap_or_else(SystemTime::now),
        }
    }

    /// How long the process has run.
    pub fn uptime(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.started)
            .unwrap_or_default()
    }
}

/// The process's start: its start time in clock ticks after boot
/// (`/proc/self/stat`, field 22) plus the boot time (`/proc/stat`'s
/// `btime`).
fn process_start() -> Option<SystemTime> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may hold spaces and parentheses;
    // the first of them is field 3.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = after.split_whitespace().nth(22 - 3)?.parse().ok()?;
    let boot: u64 = fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let after_boot =
        Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz);
    Some(UNIX_EPOCH + Duration::from_secs(boot) + after_boot)
}

/// A kernel's thread, found by its name (`roe-kernel-<n>`) among the
/// process's threads.
pub(crate) struct KernelThread {
    pub tid: u32,
    /// The CPUs it may run on, as `/proc` lists them (`0-1`, `3`).
    pub cpus: String,
}

/// Kernel `n`'s thread; `None` when no thread, or more than one (two
/// runtimes in one process), has its name.
pub(crate) fn kernel_thread(n: u16) -> Option<KernelThread> {
    let name = format!("roe-kernel-{n}");
    let mut found = None;
    for task in fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            if found.is_some() {
                return None;
            }
            found = task.file_name().to_str().and_then(|t| t.parse().ok());
        }
    }
    let tid: u32 = found?;
    let status = fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
    let cpus = status_field(&status, "Cpus_allowed_list")?.to_owned();
    Some(KernelThread { tid, cpus })
}

/// A field of a `/proc/*/status` text.
fn status_field<'s>(status: &'s str, name: &str) -> Option<&'s str> {
    status.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key == name).then(|| value.trim())
    })
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(name: &str) -> String {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status_field(&status, name)
        .and_then(|v| v.strip_suffix(" kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| (kb * 1024).to_string())
        .unwrap_or_default()
}

const FILES: [&str; 10] = [
    "exe",
    "version",
    "pid",
    "argv",
    "cwd",
    "os",
    "start_time",
    "uptime",
    "threads",
    "status",
];

const MEMORY_FILES: [&str; 4] = ["rss", "peak_rss", "virtual", "data"];

pub(super) fn resolve<'v>(view: &'v View, path: &[&str]) -> Option<Found<'v>> {
    let p = &view.process;
    let started = p.started;
    let now = SystemTime::now();
    match path {
        [] => {
            let mut entries: Vec<Entry> =
                FILES.iter().map(|n| Entry::new(*n, Kind::File)).collect();
            entries.push(Entry::new("memory", Kind::Dir));
            if view.settings.show_env {
                entries.push(Entry::new("env", Kind::Dir));
            }
            Some(Found::dir(entries, started))
        }
        ["exe"] => Some(Found::file(started, || line(&p.exe))),
        ["version"] => Some(Found::file(started, || line(env!("CARGO_PKG_VERSION")))),
        ["pid"] => Some(Found::file(started, || line(p.pid))),
        ["argv"] => Some(Found::file(started, || lines(&p.argv))),
        ["cwd"] => Some(Found::file(now, || {
            line(
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            )
        })),
        ["os"] => Some(Found::file(started, || line(std::env::consts::OS))),
        ["start_time"] => Some(Found::file(started, move || line(epoch(started)))),
        ["uptime"] => Some(Found::file(now, || line(seconds(p.uptime())))),
        ["threads"] => Some(Found::file(now, || {
            let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
            line(status_field(&status, "Threads").unwrap_or_default())
        })),
        ["status"] => Some(Found::file(now, || {
            fs::read("/proc/self/status").unwrap_or_default()
        })),
        ["memory"] => Some(Found::dir(
            MEMORY_FILES
                .iter()
                .map(|n| Entry::new(*n, Kind::File))
                .collect(),
            now,
        )),
        ["memory", name] if MEMORY_FILES.contains(name) => {
            let field = match *name {
                "rss" => "VmRSS",
                "peak_rss" => "VmHWM",
                "virtual" => "VmSize",
                _ => "VmData",
            };
            Some(Found::file(now, move || line(status_bytes(field))))
        }
        ["env"] if view.settings.show_env => Some(Found::dir(
            std::env::vars_os()
                .filter_map(|(key, _)| key.into_string().ok())
                .filter(|key| super::is_valid_name(key))
                .map(|key| Entry::new(key, Kind::File))
                .collect(),
            now,
        )),
        ["env", key] if view.settings.show_env => {
            let value = std::env::var_os(key)?;
            Some(Found::file(now, move || line(value.to_string_lossy())))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_started_before_now_and_after_boot() {
        let started = process_start().expect("/proc/self/stat and /proc/stat are readable");
        let now = SystemTime::now();
        assert!(started <= now);
        // This test process has not run for a day.
        assert!(now.duration_since(started).unwrap() < Duration::from_secs(24 * 3600));
    }

    #[test]
    fn status_fields_are_found_by_name() {
        let status = "Name:\tcat\nThreads:\t3\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_field(status, "Threads"), Some("3"));
        assert_eq!(status_field(status, "VmRSS"), Some("1024 kB"));
        assert_eq!(status_field(status, "Thread"), None);
        assert!(status_bytes("VmRSS").parse::<u64>().unwrap() > 0);
    }
}
