//! OS signals: one owner per process, forwarding signals to the kernels
//! that watch them.
//!
//! POE installs a `%SIG` handler while some session watches a signal and
//! queues each caught signal to the kernel, which broadcasts it. In roe the
//! first `sig()` of an OS signal, in any kernel, starts one process-wide
//! thread that blocks on signal-hook's self-pipe; it sends each signal, as a
//! message, to every kernel watching that signal, waking it. A signal that no
//! kernel watches any more gets its default action (signal-hook cannot
//! uninstall a handler, so the owner emulates the default), except `PIPE`,
//! which POE ignores and Rust programs ignore from the start.

use std::{
    sync::{Mutex, MutexGuard, OnceLock},
    thread,
};

use signal_hook::{
    consts as sig,
    iterator::{Handle, Signals},
    low_level::emulate_default_handler,
};

use crate::{
    event::Event,
    mailbox::{Mailbox, Message},
};

/// Names one kernel among all of the process's, for subscriptions (kernel
/// numbers repeat across independent `Kernel`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Instance(u64);

impl Instance {
    pub fn next() -> Instance {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Instance(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// POE's names for the OS signals roe can watch, and their numbers. The
/// signals signal-hook forbids (KILL, STOP, ILL, FPE, SEGV) are absent:
/// POE knows `KILL` only as a signal name sessions send each other.
const SIGNALS: [(&str, i32); 21] = [
    ("HUP", sig::SIGHUP),
    ("INT", sig::SIGINT),
    ("QUIT", sig::SIGQUIT),
    ("TRAP", sig::SIGTRAP),
    ("ABRT", sig::SIGABRT),
    ("BUS", sig::SIGBUS),
    ("USR1", sig::SIGUSR1),
    ("USR2", sig::SIGUSR2),
    ("PIPE", sig::SIGPIPE),
    ("ALRM", sig::SIGALRM),
    ("TERM", sig::SIGTERM),
    ("CHLD", sig::SIGCHLD),
    ("CONT", sig::SIGCONT),
    ("TSTP", sig::SIGTSTP),
    ("TTIN", sig::SIGTTIN),
    ("TTOU", sig::SIGTTOU),
    ("URG", sig::SIGURG),
    ("XCPU", sig::SIGXCPU),
    ("XFSZ", sig::SIGXFSZ),
    ("WINCH", sig::SIGWINCH),
    ("SYS", sig::SIGSYS),
];

/// The OS signals a session that defines `_signal` hears of without
/// watching them with `sig()`, as POE's older kernel caught signals for it:
/// those whose default action ends the program or that programs use to
/// talk to it, leaving out CHLD (each child is reaped by the kernel that
/// watches it) and the job-control signals (a caught TSTP would stop
/// Ctrl-Z from suspending the program).
pub(crate) const ANNOUNCED: [i32; 9] = [
    sig::SIGHUP,
    sig::SIGINT,
    sig::SIGQUIT,
    sig::SIGTERM,
    sig::SIGUSR1,
    sig::SIGUSR2,
    sig::SIGALRM,
    sig::SIGPIPE,
    sig::SIGWINCH,
];

/// The OS signal a POE signal name stands for, if any.
pub(crate) fn number(name: &str) -> Option<i32> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, number)| number)
}

/// The POE name of an OS signal number.
pub(crate) fn name(number: i32) -> Option<&'static str> {
    SIGNALS
        .iter()
        .find(|&&(_, n)| n == number)
        .map(|&(name, _)| name)
}

/// Whether some kernel of this process watches the OS signal `name` (POE's
/// `$SIG{NAME}` being set). When none does, the signal has its default
/// effect again (see the module documentation).
pub fn is_handled(name: &str) -> bool {
    number(name).is_some_and(|n| {
        owner()
            .state()
            .subscribers
            .iter()
            .any(|subscriber| subscriber.signals.contains(&n))
    })
}

/// A kernel's interest in signals.
struct Subscriber {
    kernel: Instance,
    mailbox: Mailbox,
    signals: Vec<i32>,
}

#[derive(Default)]
struct State {
    subscribers: Vec<Subscriber>,
    /// Signals with an installed handler (they stay installed).
    installed: Vec<i32>,
}

/// The process's one owner of OS signals.
struct Owner {
    state: Mutex<State>,
    /// Adds signals to the running iterator; `None` if it failed to start.
    handle: Option<Handle>,
}

impl Owner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forwards one caught signal.
    fn deliver(&self, number: i32) {
        let mut state = self.state();
        let mut delivered = false;
        state.subscribers.retain(|subscriber| {
            if !subscriber.signals.contains(&number) {
                return true;
            }
            delivered = true;
            // A kernel that is gone drops out.
            subscriber.mailbox.send(Message::Signal(number)).is_ok()
        });
        drop(state);
        if !delivered && number != sig::SIGPIPE {
            // Nobody watches it any more: what would have happened without us.
            let _ = emulate_default_handler(number);
        }
    }
}

fn owner() -> &'static Owner {
    static OWNER: OnceLock<Owner> = OnceLock::new();
    OWNER.get_or_init(|| {
        let signals = Signals::new::<[i32; 0], i32>([]);
        let handle = match signals {
            Ok(mut signals) => {
                let handle = signals.handle();
                let started =
                    thread::Builder::new()
                        .name("roe-signals".to_owned())
                        .spawn(move || {
                            for number in signals.forever() {
                                owner().deliver(number);
                            }
                        });
                started.ok().map(|_| handle)
            }
            Err(_) => None,
        };
        Owner {
            state: Mutex::new(State::default()),
            handle,
        }
    })
}

/// Makes `kernel` receive `signal` through `mailbox`.
///
/// # Errors
///
/// When the signal cannot be watched (the owner thread failed to start, or
/// signal-hook refused to install the handler).
pub(crate) fn subscribe(kernel: Instance, mailbox: &Mailbox, signal: i32) -> std::io::Result<()> {
    let owner = owner();
    let handle = owner
        .handle
        .as_ref()
        .ok_or_else(|| std::io::Error::other("the signal thread could not start"))?;
    let mut state = owner.state();
    if !state.installed.contains(&signal) {
        handle.add_signal(signal)?;
        state.installed.push(signal);
    }
    match state.subscribers.iter_mut().find(|s| s.kernel == kernel) {
        Some(subscriber) => {
            if !subscriber.signals.contains(&signal) {
                subscriber.signals.push(signal);
            }
        }
        None => state.subscribers.push(Subscriber {
            kernel,
            mailbox: mailbox.clone(),
            signals: vec![signal],
        }),
    }
    Ok(())
}

/// Stops forwarding `signal` to `kernel`.
pub(crate) fn unsubscribe(kernel: Instance, signal: i32) {
    let mut state = owner().state();
    for subscriber in state.subscribers.iter_mut().filter(|s| s.kernel == kernel) {
        subscriber.signals.retain(|&s| s != signal);
    }
    state.subscribers.retain(|s| !s.signals.is_empty());
}

/// Stops forwarding anything to `kernel` (it is going away).
pub(crate) fn forget(kernel: Instance) {
    owner().state().subscribers.retain(|s| s.kernel != kernel);
}

/// The signals forwarded to `kernel`, for tests.
#[cfg(test)]
pub(crate) fn subscribed(kernel: Instance) -> Vec<i32> {
    let state = owner().state();
    let subscriber = state.subscribers.iter().find(|s| s.kernel == kernel);
    subscriber.map(|s| s.signals.clone()).unwrap_or_default()
}

/// The event a signal is dispatched as (POE's signal name, no `SIG`).
pub(crate) fn event(number: i32) -> Option<Event> {
    name(number).map(Event::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        assert_eq!(number("INT"), Some(sig::SIGINT));
        assert_eq!(number("SIGUSR1"), Some(sig::SIGUSR1));
        assert_eq!(number("KILL"), None, "KILL cannot be caught");
        assert_eq!(
            number("RELOAD"),
            None,
            "user-defined names are not OS signals"
        );
        assert_eq!(name(sig::SIGCHLD), Some("CHLD"));
    }
}
