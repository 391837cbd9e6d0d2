//! The one accept loop, shared by [`ListenAccept`](super::ListenAccept)
//! and a listening [`SocketFactory`](super::SocketFactory).
//!
//! A round takes the connections waiting, up to a budget, so a flood of
//! them cannot hold a slice (the watcher is level-triggered: the rest come
//! next slice). Errors sort three ways:
//!
//! - a peer that gave up while queued (`ECONNABORTED`), an interrupted
//!   call, and the network errors Linux's `accept` passes on from the new
//!   connection (`EPROTO`, `ENETDOWN`, `EHOSTUNREACH`, ...) are skipped:
//!   the listener is fine, and the next connection is taken;
//! - running out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`,
//!   `ENOMEM`) pauses accepting with a back-off (10 ms, doubling to 1 s),
//!   so the kernel neither spins nor gives up the listener: connections
//!   wait in the listen queue, and accepting resumes by itself. It is
//!   logged at most once every ten seconds, with how many were left out;
//! - anything else is the listener's own failure, for the wheel's error
//!   event.

use std::{
    cell::Cell,
    io::{self, ErrorKind},
    time::{Duration, Instant},
};

use rustix::io::Errno;

/// Connections taken per round.
const ACCEPT_BUDGET: usize = 64;

/// The first pause after running out of descriptors, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How often running out of descriptors is logged, at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// How a round of accepting ended.
pub(crate) enum Round {
    /// Nothing more waits, the budget ran out, or accepting was paused or
    /// the wheel dropped meanwhile.
    Done,
    /// Out of descriptors or memory: pause for this long, then resume.
    Exhausted(Duration),
    /// The listener failed.
    Failed(io::Error),
}

/// What a listening wheel keeps between rounds: its back-off and its log
/// limit.
pub(crate) struct Accepting {
    backoff: Cell<Duration>,
    logged: Cell<Option<Instant>>,
    unlogged: Cell<u64>,
}

impl Default for Accepting {
    fn default() -> Accepting {
        Accepting {
            backoff: Cell::new(FIRST_BACKOFF),
            logged: Cell::new(None),
            unlogged: Cell::new(0),
        }
    }
}

impl Accepting {
    /// Accepts connections with `accept` and hands each to `take`, while
    /// `go_on` says so; see the module documentation for the errors.
    pub fn round<T>(
        &self,
        mut go_on: impl FnMut() -> bool,
        mut accept: impl FnMut() -> io::Result<T>,
        mut take: impl FnMut(T) -> crate::Result<()>,
    ) -> crate::Result<Round> {
        for _ in 0..ACCEPT_BUDGET {
            if !go_on() {
                break;
            }
            match accept() {
                Ok(connection) => {
                    self.backoff.set(FIRST_BACKOFF);
                    take(connection)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if is_skipped(&e) => {}
                Err(e) if is_exhaustion(&e) => return Ok(Round::Exhausted(self.exhausted(&e))),
                Err(e) => return Ok(Round::Failed(e)),
            }
        }
        Ok(Round::Done)
    }

    /// Notes running out of `error`'s resource: logs it (rate-limited) and
    /// returns how long to pause, doubling the next pause.
    fn exhausted(&self, error: &io::Error) -> Duration {
        let pause = self.backoff.get();
        self.backoff.set((pause * 2).min(MAX_BACKOFF));
        let due = self.logged.get().is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if due {
            let left_out = self.unlogged.replace(0);
            tracing::warn!(
                %error,
                pause_ms = pause.as_millis() as u64,
                left_out,
                "cannot accept connections for now; pausing accept"
            );
            self.logged.set(Some(Instant::now()));
        } else {
            self.unlogged.set(self.unlogged.get() + 1);
        }
        pause
    }
}

/// Errors of one connection, not of the listener: `accept` reports the
/// new connection's pending network errors, and a peer that gave up.
fn is_skipped(error: &io::Error) -> bool {
    if error.kind() == ErrorKind::Interrupted {
        return true;
    }
    let skipped = [
        Errno::CONNABORTED,
        Errno::PROTO,
        Errno::NOPROTOOPT,
        Errno::NETDOWN,
        Errno::NONET,
        Errno::HOSTDOWN,
        Errno::HOSTUNREACH,
        Errno::OPNOTSUPP,
        Errno::NETUNREACH,
        Errno::PERM,
        Errno::TIMEDOUT,
    ];
    error
        .raw_os_error()
        .is_some_and(|code| skipped.iter().any(|e| e.raw_os_error() == code))
}

/// Running out of descriptors or memory: it passes.
fn is_exhaustion(error: &io::Error) -> bool {
    let exhaustion = [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM];
    error
        .raw_os_error()
        .is_some_and(|code| exhaustion.iter().any(|e| e.raw_os_error() == code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.raw_os_error())
    }

    #[test]
    fn errors_sort_three_ways() {
        let accepting = Accepting::default();
        let mut results = vec![
            Err(errno(Errno::CONNABORTED)),
            Ok(1),
            Err(errno(Errno::PROTO)),
            Ok(2),
            Err(errno(Errno::MFILE)),
        ]
        .into_iter();
        let mut taken = Vec::new();
        let round = accepting
            .round(
                || true,
                || results.next().unwrap(),
                |n| {
                    taken.push(n);
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(taken, [1, 2]);
        assert!(matches!(round, Round::Exhausted(pause) if pause == FIRST_BACKOFF));
        let mut failing = [Err::<(), _>(errno(Errno::BADF))].into_iter();
        let round = accepting
            .round(|| true, || failing.next().unwrap(), |()| Ok(()))
            .unwrap();
        assert!(matches!(round, Round::Failed(_)));
    }

    #[test]
    fn the_back_off_doubles_to_its_cap_and_resets_on_success() {
        let accepting = Accepting::default();
        let mut pauses = Vec::new();
        for _ in 0..10 {
            let round = accepting
                .round(|| true, || Err::<(), _>(errno(Errno::NFILE)), |()| Ok(()))
                .unwrap();
            let Round::Exhausted(pause) = round else {
                panic!("exhausted");
            };
            pauses.push(pause.as_millis());
        }
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        let mut once = [Ok(()), Err(errno(Errno::AGAIN))].into_iter();
        accepting
            .round(|| true, || once.next().unwrap(), |()| Ok(()))
            .unwrap();
        assert_eq!(accepting.backoff.get(), FIRST_BACKOFF);
    }

    #[test]
    fn a_round_takes_at_most_its_budget() {
        let accepting = Accepting::default();
        let mut taken = 0;
        accepting
            .round(
                || true,
                || Ok(()),
                |()| {
                    taken += 1;
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(taken, ACCEPT_BUDGET);
    }
}
