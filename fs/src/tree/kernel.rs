//! `/kernel`: the runtime as a whole, then one directory per kernel with
//! its counters, queue and sessions, all from that kernel's snapshot.
//!
//! POE::Devel::ProcAlike's `/kernel` (POEInfo) showed the one kernel of a
//! Perl process; here each kernel of the runtime is `/kernel/<n>/`, and
//! `/kernel` itself keeps the original's runtime-wide files.

use std::{collections::HashSet, time::SystemTime};

use roe_engine::{QueuedSnapshot, SessionSnapshot, Snapshot};

use super::{
    Applied, Found, View,
    command::{self, KERNEL_CTL_HELP, SESSION_CTL_HELP},
    epoch, line, lines, process, seconds, warnings,
};
use crate::{
    error::WriteError,
    tree::{Entry, Kind},
};

/// `/kernel`'s files, then `ctl`, `warnings` and `sysctl/`, then one
/// directory per kernel.
const RUNTIME_FILES: [&str; 6] = [
    "id",
    "is_running",
    "kernels",
    "session_count",
    "event_count",
    "uptime",
];

/// `/kernel/sysctl`'s files: the kernels' snapshot interval, then the
/// view's own thresholds for `/kernel/warnings`.
const SYSCTL_FILES: [&str; 3] = ["snapshot_interval_ms", "slow_handler_ms", "queue_warning"];

/// A kernel's files, then its three directories.
const KERNEL_FILES: [&str; 16] = [
    "id",
    "core",
    "tid",
    "is_running",
    "snapshot_time",
    "generation",
    "slices",
    "session_count",
    "event_count",
    "next_event",
    "queue_depth",
    "timers",
    "watchers",
    "inbox_high_water",
    "overflow_waiting",
    "overflow_high_water",
];
const KERNEL_DIRS: [&str; 3] = ["statistics", "eventqueue", "sessions"];

/// A kernel's `statistics/`: totals since it started.
const STATISTICS_FILES: [&str; 7] = [
    "dispatched",
    "sent_remote",
    "received_remote",
    "overflowed",
    "undeliverable",
    "events_per_slice",
    "handler_time",
];

/// A queued item's files (POE's eventqueue/<id>/).
const QUEUE_FILES: [&str; 7] = [
    "id",
    "index",
    "priority",
    "event",
    "source",
    "destination",
    "type",
];

/// A session's files, then `ctl`.
const SESSION_FILES: [&str; 16] = [
    "id",
    "type",
    "kernel",
    "parent",
    "children",
    "aliases",
    "handlers",
    "events_to",
    "events_from",
    "events_handled",
    "handler_time",
    "handler_max",
    "last_event",
    "timers",
    "watchers",
    "refcount",
];

/// `name` as the `'static` string of the list that holds it.
fn known(names: &[&'static str], name: &str) -> &'static str {
    names
        .iter()
        .find(|n| **n == name)
        .copied()
        .expect("checked by the caller")
}

fn files<'a>(names: &'a [&'a str]) -> impl Iterator<Item = Entry> + 'a {
    names.iter().map(|name| Entry::new(*name, Kind::File))
}

fn dirs<'a>(names: &'a [&'a str]) -> impl Iterator<Item = Entry> + 'a {
    names.iter().map(|name| Entry::new(*name, Kind::Dir))
}

/// When `snapshot` was taken (the view's start for one never published).
fn taken(view: &View, snapshot: &Snapshot) -> SystemTime {
    snapshot.taken.unwrap_or(view.settings.started)
}

/// A number as a path component: decimal, without leading zeros.
pub(super) fn number(component: &str) -> Option<u64> {
    let n: u64 = component.parse().ok()?;
    (n.to_string() == component).then_some(n)
}

pub(super) fn resolve<'v>(view: &'v View, path: &[&str]) -> Option<Found<'v>> {
    let newest = view
        .kernels
        .iter()
        .filter_map(|k| k.taken)
        .max()
        .unwrap_or(view.settings.started);
    match path {
        [] => {
            let mut entries: Vec<Entry> = files(&RUNTIME_FILES).collect();
            entries.push(Entry::new("ctl", Kind::Writable));
            entries.push(Entry::new("warnings", Kind::File));
            entries.push(Entry::new("sysctl", Kind::Dir));
            entries.extend((0..view.kernels.len()).map(|n| Entry::new(n.to_string(), Kind::Dir)));
            Some(Found::dir(entries, newest))
        }
        ["ctl"] => Some(Found::writable(view.settings.started, || {
            KERNEL_CTL_HELP.as_bytes().to_vec()
        })),
        ["warnings"] => Some(Found::file(newest, || warnings::render(view))),
        ["sysctl"] => Some(Found::dir(
            SYSCTL_FILES
                .iter()
                .map(|n| Entry::new(*n, sysctl_kind(view, n)))
                .collect(),
            view.settings.started,
        )),
        ["sysctl", name] if SYSCTL_FILES.contains(name) => {
            let settings = &view.settings;
            let value = match *name {
                "snapshot_interval_ms" => settings.snapshot_interval.as_millis(),
                "slow_handler_ms" => settings.thresholds.slow_handler.as_millis(),
                _ => u128::from(settings.thresholds.queue),
            };
            let render = move || line(value);
            Some(if sysctl_kind(view, name) == Kind::Writable {
                Found::writable(settings.started, render)
            } else {
                Found::file(settings.started, render)
            })
        }
        [name] if RUNTIME_FILES.contains(name) => {
            let name = known(&RUNTIME_FILES, name);
            Some(Found::file(newest, move || runtime_file(view, name)))
        }
        [n, rest @ ..] => {
            let snapshot = view.kernels.get(usize::try_from(number(n)?).ok()?)?;
            resolve_kernel(view, snapshot, rest)
        }
    }
}

/// Whether a sysctl file takes writes: all do but a lone kernel's
/// interval, which is its owner's to set.
fn sysctl_kind(view: &View, name: &str) -> Kind {
    if name == "snapshot_interval_ms" && !view.settings.interval_writable {
        Kind::File
    } else {
        Kind::Writable
    }
}

fn runtime_file(view: &View, name: &str) -> Vec<u8> {
    let kernels = &view.kernels;
    match name {
        "id" => line(kernels.first().map_or("", |k| k.name.as_str())),
        "is_running" => line(u8::from(kernels.iter().any(|k| is_running(k)))),
        "kernels" => line(kernels.len()),
        "session_count" => line(kernels.iter().map(|k| session_count(k)).sum::<usize>()),
        "event_count" => line(kernels.iter().map(|k| event_count(k)).sum::<usize>()),
        "uptime" => line(seconds(view.process.uptime())),
        _ => unreachable!("only RUNTIME_FILES reach here"),
    }
}

/// A kernel runs while it has a session, its own included (a finished
/// kernel's last snapshot has none).
fn is_running(snapshot: &Snapshot) -> bool {
    snapshot.counters.sessions > 0
}

/// Sessions, not counting the kernel's own (POE's `session_count - 1`),
/// which lives as long as the kernel runs.
fn session_count(snapshot: &Snapshot) -> usize {
    snapshot.counters.sessions.saturating_sub(1)
}

/// Items queued, timers included (POE's `get_event_count`).
fn event_count(snapshot: &Snapshot) -> usize {
    snapshot.counters.queued + snapshot.counters.timers
}

fn resolve_kernel<'v>(view: &'v View, snapshot: &'v Snapshot, path: &[&str]) -> Option<Found<'v>> {
    let time = taken(view, snapshot);
    match path {
        [] => Some(Found::dir(
            files(&KERNEL_FILES).chain(dirs(&KERNEL_DIRS)).collect(),
            time,
        )),
        [name] if KERNEL_FILES.contains(name) => {
            let name = known(&KERNEL_FILES, name);
            Some(Found::file(time, move || kernel_file(snapshot, name)))
        }
        ["statistics"] => Some(Found::dir(files(&STATISTICS_FILES).collect(), time)),
        ["statistics", name] if STATISTICS_FILES.contains(name) => {
            let name = known(&STATISTICS_FILES, name);
            Some(Found::file(time, move || statistics_file(snapshot, name)))
        }
        ["eventqueue"] => {
            let mut seen = HashSet::new();
            let entries = queued(snapshot)
                .filter(|(_, item)| seen.insert(item.seq))
                .map(|(_, item)| Entry::new(item.seq.to_string(), Kind::Dir))
                .collect();
            Some(Found::dir(entries, time))
        }
        ["eventqueue", seq, rest @ ..] => {
            let seq = number(seq)?;
            let (index, item) = queued(snapshot).find(|(_, item)| item.seq == seq)?;
            match rest {
                [] => Some(Found::dir(files(&QUEUE_FILES).collect(), time)),
                [name] if QUEUE_FILES.contains(name) => {
                    let name = known(&QUEUE_FILES, name);
                    Some(Found::file(time, move || queue_file(index, item, name)))
                }
                _ => None,
            }
        }
        ["sessions"] => Some(Found::listed(snapshot.counters.sessions, time, || {
            // Every session when the snapshot lists them; otherwise those
            // it describes (the adapter lists nothing, EAGAIN, from a
            // kernel that did not answer in time).
            let numbers: Vec<u64> = if snapshot.detail.has_ids() {
                snapshot.ids.iter().map(|id| id.number()).collect()
            } else {
                snapshot.sessions.iter().map(|s| s.id.number()).collect()
            };
            numbers
                .into_iter()
                .map(|n| Entry::new(n.to_string(), Kind::Dir))
                .collect()
        })),
        ["sessions", id, rest @ ..] => {
            let number = number(id)?;
            if snapshot.is_alive(number) != Some(true) {
                return None;
            }
            // Looked up, a session may be known from the list of IDs
            // alone; its files are read from a snapshot describing it.
            let session = snapshot.session(number);
            match rest {
                [] => {
                    let mut entries: Vec<Entry> = files(&SESSION_FILES).collect();
                    entries.push(Entry::new("ctl", Kind::Writable));
                    Some(Found::dir(entries, time))
                }
                ["ctl"] => Some(Found::writable(time, || {
                    SESSION_CTL_HELP.as_bytes().to_vec()
                })),
                [name] if SESSION_FILES.contains(name) => {
                    let name = known(&SESSION_FILES, name);
                    Some(Found::file(time, move || {
                        session.map(|s| session_file(s, name)).unwrap_or_default()
                    }))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn kernel_file(snapshot: &Snapshot, name: &str) -> Vec<u8> {
    let c = &snapshot.counters;
    match name {
        "id" => line(&snapshot.name),
        "core" | "tid" => {
            let thread = process::kernel_thread(snapshot.kernel.0);
            match (name, thread) {
                ("core", Some(thread)) => line(thread.cpus),
                ("tid", Some(thread)) => line(thread.tid),
                _ => line(""),
            }
        }
        "is_running" => line(u8::from(is_running(snapshot))),
        "snapshot_time" => line(snapshot.taken.map(epoch).unwrap_or_default()),
        "generation" => line(snapshot.generation),
        "slices" => line(c.slices),
        "session_count" => line(session_count(snapshot)),
        "event_count" => line(event_count(snapshot)),
        "next_event" => {
            let next = [snapshot.queue.first(), snapshot.timers.first()]
                .into_iter()
                .flatten()
                .map(|item| item.due)
                .min();
            line(next.map(epoch).unwrap_or_default())
        }
        "queue_depth" => line(c.queued),
        "timers" => line(c.timers),
        "watchers" => line(c.watched),
        "inbox_high_water" => line(c.inbox_high_water),
        "overflow_waiting" => line(c.overflow_waiting),
        "overflow_high_water" => line(c.overflow_high_water),
        _ => unreachable!("only KERNEL_FILES reach here"),
    }
}

fn statistics_file(snapshot: &Snapshot, name: &str) -> Vec<u8> {
    let c = &snapshot.counters;
    match name {
        "dispatched" => line(c.dispatched),
        "sent_remote" => line(c.sent_remote),
        "received_remote" => line(c.received_remote),
        "overflowed" => line(c.overflowed),
        "undeliverable" => line(c.undeliverable),
        "events_per_slice" => {
            if c.slices == 0 {
                line("")
            } else {
                line(format!("{:.2}", c.dispatched as f64 / c.slices as f64))
            }
        }
        // Empty when the kernel did not list its sessions in time.
        "handler_time" => line(snapshot.handler_time.map(seconds).unwrap_or_default()),
        _ => unreachable!("only STATISTICS_FILES reach here"),
    }
}

/// The queue as POE's eventqueue showed it: what is due now first, then
/// the timers by due time, numbered from 0.
fn queued(snapshot: &Snapshot) -> impl Iterator<Item = (usize, &QueuedSnapshot)> {
    snapshot.queue.iter().chain(&snapshot.timers).enumerate()
}

fn queue_file(index: usize, item: &QueuedSnapshot, name: &str) -> Vec<u8> {
    match name {
        "id" => line(item.seq),
        "index" => line(index),
        "priority" => line(epoch(item.due)),
        "event" => line(item.event),
        "source" => line(item.sender),
        "destination" => line(item.target),
        "type" => line(item.kind),
        _ => unreachable!("only QUEUE_FILES reach here"),
    }
}

fn session_file(s: &SessionSnapshot, name: &str) -> Vec<u8> {
    match name {
        "id" => line(s.id),
        "type" => line(s.heap_type),
        "kernel" => line(s.id.kernel()),
        "parent" => line(s.parent.map(|p| p.to_string()).unwrap_or_default()),
        "children" => lines(&s.children),
        "aliases" => lines(&s.aliases),
        "handlers" => lines(&s.handlers),
        "events_to" => line(s.events_to),
        "events_from" => line(s.events_from),
        "events_handled" => line(s.handled),
        "handler_time" => line(seconds(s.handler_time)),
        "handler_max" => line(seconds(s.handler_max)),
        "last_event" => line(s.last_event.map(|e| e.to_string()).unwrap_or_default()),
        "timers" => line(s.timers),
        "watchers" => line(s.watchers),
        "refcount" => line(s.refcount),
        _ => unreachable!("only SESSION_FILES reach here"),
    }
}

pub(super) fn write(view: &View, path: &[&str], data: &[u8]) -> Result<Applied, WriteError> {
    match path {
        ["ctl"] => command::kernel_ctl(data).map(Applied::Command),
        ["sysctl", "snapshot_interval_ms"] if view.settings.interval_writable => {
            command::snapshot_interval(data).map(Applied::Command)
        }
        ["sysctl", "slow_handler_ms"] => command::slow_handler(data).map(Applied::Tuned),
        ["sysctl", "queue_warning"] => command::queue_warning(data).map(Applied::Tuned),
        [n, "sessions", id, "ctl"] => {
            let session = number(n)
                .and_then(|n| view.kernels.get(usize::try_from(n).ok()?))
                .and_then(|snapshot| snapshot.session(number(id)?))
                .ok_or(WriteError::NotFound)?;
            command::session_ctl(data, session).map(Applied::Command)
        }
        _ if resolve(view, path).is_some() => Err(WriteError::ReadOnly),
        _ => Err(WriteError::NotFound),
    }
}
