//! What the writable files accept: each write parsed into a [`Command`]
//! for the owning kernel, or refused with EINVAL before anything changes.

use std::time::Duration;

use roe_engine::{Event, SessionId, SessionSnapshot, Value};

use crate::error::WriteError;

/// The longest write a control file takes.
pub(crate) const MAX_WRITE: usize = 4096;

/// The longest snapshot interval `snapshot_interval_ms` takes: a day.
pub(crate) const MAX_INTERVAL_MS: u64 = 24 * 60 * 60 * 1000;

/// The longest `slow_handler_ms` takes: a day, as for the interval.
pub(crate) const MAX_SLOW_HANDLER_MS: u64 = MAX_INTERVAL_MS;

/// The signal names a `signal` line may use even if the process has not
/// met them yet: the OS signals a kernel can watch and POE's own. Any other
/// name must already be known to the process (some session watches or
/// sent it), so writes cannot grow the event-name interner without bound.
const SIGNALS: [&str; 26] = [
    "HUP",
    "INT",
    "QUIT",
    "TRAP",
    "ABRT",
    "BUS",
    "USR1",
    "USR2",
    "PIPE",
    "ALRM",
    "TERM",
    "CHLD",
    "CONT",
    "TSTP",
    "TTIN",
    "TTOU",
    "URG",
    "XCPU",
    "XFSZ",
    "WINCH",
    "SYS",
    "KILL",
    "STOP",
    "IDLE",
    "ZOMBIE",
    "UIDESTROY",
];

/// The signal `stop` sends: POE's non-maskable UIDESTROY, which stops a
/// session and its descendants whatever they handle (the engine has no
/// call that stops one session from outside it).
pub(crate) const STOP_SIGNAL: &str = "UIDESTROY";

/// A write, parsed and checked against the snapshot, for a kernel to apply.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Command {
    /// `post EVENT [ARG]` to a session's `ctl`.
    Post {
        session: SessionId,
        event: Event,
        arg: Option<Value>,
    },
    /// `signal NAME` to a session's `ctl`.
    Signal { session: SessionId, name: Event },
    /// `stop` to a session's `ctl`.
    Stop { session: SessionId },
    /// `shutdown` to `/kernel/ctl`: the runtime (or lone kernel) stops.
    Shutdown,
    /// `snapshot` to `/kernel/ctl`: every kernel publishes a snapshot now.
    Snapshot,
    /// A number of milliseconds to `/kernel/sysctl/snapshot_interval_ms`.
    SnapshotInterval(Duration),
}

/// A write to one of the view's own settings: taken by the view, on its
/// thread, and no kernel's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tunable {
    /// A number of milliseconds to `/kernel/sysctl/slow_handler_ms`.
    SlowHandler(Duration),
    /// A number of queued events to `/kernel/sysctl/queue_warning`.
    QueueWarning(u32),
}

impl Command {
    /// The session it is for; `None` for runtime-wide commands.
    #[cfg(test)]
    pub fn session(&self) -> Option<SessionId> {
        match self {
            Command::Post { session, .. }
            | Command::Signal { session, .. }
            | Command::Stop { session } => Some(*session),
            _ => None,
        }
    }
}

/// What `/kernel/ctl` shows: the commands it takes, one per line.
pub(crate) const KERNEL_CTL_HELP: &str = "shutdown\nsnapshot\n";

/// What a session's `ctl` shows: the commands it takes, one per line.
pub(crate) const SESSION_CTL_HELP: &str = "post EVENT [ARG]\nsignal NAME\nstop\n";

/// One line of text: UTF-8, at most [`MAX_WRITE`] bytes, one trailing
/// newline allowed and removed, no other line breaks.
fn one_line(data: &[u8]) -> Result<&str, WriteError> {
    if data.len() > MAX_WRITE {
        return Err(invalid(format!(
            "{} bytes is longer than {MAX_WRITE}",
            data.len()
        )));
    }
    let text = std::str::from_utf8(data).map_err(|_| invalid("not UTF-8 text"))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.contains(['\n', '\r', '\0']) {
        return Err(invalid("more than one line"));
    }
    Ok(text)
}

fn invalid(why: impl Into<String>) -> WriteError {
    WriteError::Invalid(why.into())
}

/// Parses a write to `/kernel/ctl`.
pub(crate) fn kernel_ctl(data: &[u8]) -> Result<Command, WriteError> {
    match one_line(data)?.trim() {
        "shutdown" => Ok(Command::Shutdown),
        "snapshot" => Ok(Command::Snapshot),
        other => Err(invalid(format!("unknown command {other:?}"))),
    }
}

/// Parses a write to `/kernel/sysctl/snapshot_interval_ms`: a decimal
/// number of milliseconds, 1 to a day.
pub(crate) fn snapshot_interval(data: &[u8]) -> Result<Command, WriteError> {
    let text = one_line(data)?.trim();
    let ms: u64 = text
        .parse()
        .map_err(|_| invalid(format!("{text:?} is not a decimal number")))?;
    if !(1..=MAX_INTERVAL_MS).contains(&ms) {
        return Err(invalid(format!("{ms} is not within 1..={MAX_INTERVAL_MS}")));
    }
    Ok(Command::SnapshotInterval(Duration::from_millis(ms)))
}

/// Parses a write to `/kernel/sysctl/slow_handler_ms`: a decimal number
/// of milliseconds, 0 (every measured dispatch is slow) to a day.
pub(crate) fn slow_handler(data: &[u8]) -> Result<Tunable, WriteError> {
    let ms = decimal(data, MAX_SLOW_HANDLER_MS)?;
    Ok(Tunable::SlowHandler(Duration::from_millis(ms)))
}

/// Parses a write to `/kernel/sysctl/queue_warning`: a decimal number of
/// queued events, 0 to the most a session's count can hold.
pub(crate) fn queue_warning(data: &[u8]) -> Result<Tunable, WriteError> {
    let n = decimal(data, u64::from(u32::MAX))?;
    Ok(Tunable::QueueWarning(
        u32::try_from(n).expect("within u32 by the bound"),
    ))
}

/// One line holding a decimal number from 0 to `max`.
fn decimal(data: &[u8], max: u64) -> Result<u64, WriteError> {
    let text = one_line(data)?.trim();
    let n: u64 = text
        .parse()
        .map_err(|_| invalid(format!("{text:?} is not a decimal number")))?;
    if n > max {
        return Err(invalid(format!("{n} is not within 0..={max}")));
    }
    Ok(n)
}

/// Parses a write to a session's `ctl`, checked against what the snapshot
/// says of the session.
pub(crate) fn session_ctl(data: &[u8], session: &SessionSnapshot) -> Result<Command, WriteError> {
    let line = one_line(data)?;
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    match verb {
        "post" => {
            let (name, arg) = match rest.split_once(' ') {
                Some((name, arg)) => (name, Some(arg)),
                None => (rest, None),
            };
            let event = postable(name, session)?;
            Ok(Command::Post {
                session: session.id,
                event,
                arg: arg.map(argument),
            })
        }
        "signal" => {
            if rest.contains(' ') {
                return Err(invalid("signal takes one name"));
            }
            Ok(Command::Signal {
                session: session.id,
                name: signal_name(rest)?,
            })
        }
        "stop" if rest.trim().is_empty() => Ok(Command::Stop {
            session: session.id,
        }),
        "stop" => Err(invalid("stop takes no argument")),
        other => Err(invalid(format!("unknown command {other:?}"))),
    }
}

/// The event `name` if the session can take it: one of its handlers, or,
/// if it has `_default`, any name the process already knows.
fn postable(name: &str, session: &SessionSnapshot) -> Result<Event, WriteError> {
    if name.is_empty() {
        return Err(invalid("post needs an event name"));
    }
    if let Some(event) = session.handlers.iter().find(|h| h.as_str() == name) {
        return Ok(*event);
    }
    if session.handlers.contains(&Event::DEFAULT)
        && let Some(event) = Event::lookup(name)
    {
        return Ok(event);
    }
    Err(invalid(format!(
        "session {} has no handler for {name:?}",
        session.id
    )))
}

/// A `post` argument as a value: an integer if it is one (Perl's scalars
/// are both), text otherwise.
fn argument(text: &str) -> Value {
    match text.parse::<i64>() {
        Ok(n) => Value::Int(n),
        Err(_) => Value::from(text),
    }
}

/// A signal name, `SIG` prefix allowed: one of [`SIGNALS`], or a name the
/// process already knows.
fn signal_name(text: &str) -> Result<Event, WriteError> {
    let name = text.strip_prefix("SIG").unwrap_or(text);
    let well_formed = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(invalid(format!("{text:?} is not a signal name")));
    }
    if SIGNALS.contains(&name) {
        return Ok(Event::new(name));
    }
    Event::lookup(name).ok_or_else(|| invalid(format!("no signal named {name:?} is known")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use roe_engine::KernelId;

    use super::*;

    fn session(handlers: &[&str]) -> SessionSnapshot {
        SessionSnapshot {
            id: SessionId::from_number(KernelId(1), 7),
            aliases: Vec::new(),
            parent: Some(SessionId::kernel_root(KernelId(1))),
            children: Vec::new(),
            handlers: handlers.iter().map(|h| Event::new(h)).collect(),
            heap_type: "app::Worker",
            events_to: 0,
            events_from: 0,
            timers: 0,
            watchers: 0,
            refcount: 0,
            handled: 0,
            handler_time: Duration::ZERO,
            handler_max: Duration::ZERO,
            last_event: None,
        }
    }

    #[test]
    fn kernel_ctl_takes_its_two_words() {
        assert_eq!(kernel_ctl(b"shutdown\n"), Ok(Command::Shutdown));
        assert_eq!(kernel_ctl(b"shutdown"), Ok(Command::Shutdown));
        assert_eq!(kernel_ctl(b"snapshot\r\n"), Ok(Command::Snapshot));
        for bad in [
            &b"reboot\n"[..],
            b"",
            b"\n",
            b"shutdown\nshutdown\n",
            b"\xff",
        ] {
            assert!(
                matches!(kernel_ctl(bad), Err(WriteError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn intervals_are_milliseconds_within_bounds() {
        assert_eq!(
            snapshot_interval(b"250\n"),
            Ok(Command::SnapshotInterval(Duration::from_millis(250)))
        );
        assert_eq!(
            snapshot_interval(b" 1 \n"),
            Ok(Command::SnapshotInterval(Duration::from_millis(1)))
        );
        for bad in [
            &b"0\n"[..],
            b"-5",
            b"1.5",
            b"ten",
            b"86400001",
            b"99999999999999999999999",
        ] {
            assert!(
                matches!(snapshot_interval(bad), Err(WriteError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn thresholds_are_decimal_numbers_within_bounds() {
        assert_eq!(
            slow_handler(b"250\n"),
            Ok(Tunable::SlowHandler(Duration::from_millis(250)))
        );
        assert_eq!(slow_handler(b"0"), Ok(Tunable::SlowHandler(Duration::ZERO)));
        assert_eq!(queue_warning(b" 7 \n"), Ok(Tunable::QueueWarning(7)));
        assert_eq!(
            queue_warning(b"4294967295\n"),
            Ok(Tunable::QueueWarning(u32::MAX))
        );
        for bad in [&b"-1"[..], b"1.5", b"ten", b"", b"86400001", b"1\n2\n"] {
            assert!(
                matches!(slow_handler(bad), Err(WriteError::Invalid(_))),
                "{bad:?}"
            );
        }
        for bad in [&b"-1"[..], b"4294967296", b"lots", b"\xff"] {
            assert!(
                matches!(queue_warning(bad), Err(WriteError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn post_needs_a_handler_or_default() {
        let s = session(&["ping", "tick"]);
        assert_eq!(
            session_ctl(b"post ping\n", &s),
            Ok(Command::Post {
                session: s.id,
                event: Event::new("ping"),
                arg: None
            })
        );
        assert_eq!(
            session_ctl(b"post tick 42\n", &s),
            Ok(Command::Post {
                session: s.id,
                event: Event::new("tick"),
                arg: Some(Value::Int(42))
            })
        );
        assert_eq!(
            session_ctl(b"post tick hello world\n", &s),
            Ok(Command::Post {
                session: s.id,
                event: Event::new("tick"),
                arg: Some(Value::from("hello world"))
            })
        );
        assert!(matches!(
            session_ctl(b"post pong\n", &s),
            Err(WriteError::Invalid(_))
        ));
        assert!(matches!(
            session_ctl(b"post\n", &s),
            Err(WriteError::Invalid(_))
        ));
        assert!(matches!(
            session_ctl(b"post \n", &s),
            Err(WriteError::Invalid(_))
        ));
    }

    #[test]
    fn default_takes_known_names_but_never_interns_new_ones() {
        let s = session(&["_default"]);
        Event::new("known_elsewhere");
        assert!(matches!(
            session_ctl(b"post known_elsewhere\n", &s),
            Ok(Command::Post { .. })
        ));
        let fresh = "never_seen_by_this_process_9f3a";
        assert!(session_ctl(format!("post {fresh}\n").as_bytes(), &s).is_err());
        assert_eq!(Event::lookup(fresh), None);
    }

    #[test]
    fn signals_are_names_the_process_knows() {
        let s = session(&[]);
        assert_eq!(
            session_ctl(b"signal USR1\n", &s),
            Ok(Command::Signal {
                session: s.id,
                name: Event::new("USR1")
            })
        );
        assert_eq!(
            session_ctl(b"signal SIGTERM\n", &s),
            Ok(Command::Signal {
                session: s.id,
                name: Event::new("TERM")
            })
        );
        for bad in [
            &b"signal\n"[..],
            b"signal usr1",
            b"signal USR1 USR2",
            b"signal NEVER_SEEN_42",
        ] {
            assert!(
                matches!(session_ctl(bad, &s), Err(WriteError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!(Event::lookup("NEVER_SEEN_42"), None);
    }

    #[test]
    fn stop_and_unknown_verbs() {
        let s = session(&[]);
        assert_eq!(
            session_ctl(b"stop\n", &s),
            Ok(Command::Stop { session: s.id })
        );
        assert!(session_ctl(b"stop now\n", &s).is_err());
        assert!(session_ctl(b"kill\n", &s).is_err());
        assert!(session_ctl(&[b'x'; MAX_WRITE + 1], &s).is_err());
    }
}
