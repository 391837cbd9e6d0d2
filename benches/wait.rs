//! What a wait costs: the `polling` crate's `Poller::wait` against the one
//! `epoll_pwait2` roe's reactor makes (reactor/mod.rs).
//!
//! `polling` 3.x makes five system calls per wait on Linux (arm its timerfd,
//! re-arm it, `epoll_pwait`, read its notifier eventfd, re-arm the
//! notifier), whatever the timeout. roe waits with `epoll_pwait2`, whose
//! nanosecond timeout needs no timerfd, and wakes itself through an eventfd
//! registered edge-triggered and never read. Two measurements, both ways:
//!
//! - an empty wait: a zero timeout with nothing ready, the call a busy
//!   kernel makes once per slice;
//! - a wake-up round trip: two threads, each blocked in its own poller,
//!   wake each other in turn (`Poller::notify`, or one `write` to the
//!   other's eventfd), the path every cross-kernel message takes when its
//!   target is parked.
//!
//! Results: docs/benchmarks.md.

use std::{
    os::fd::{AsFd, OwnedFd},
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput};
use polling::{Events, Poller};
use rustix::{
    event::{EventfdFlags, Timespec, epoll, eventfd},
    io::write,
};

/// An epoll instance waited on as roe's reactor waits, with an eventfd
/// registered edge-triggered to wake it.
struct Epoll(OwnedFd);

impl Epoll {
    /// The epoll instance and its waker (which must outlive its waits).
    fn new() -> (Epoll, OwnedFd) {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).unwrap();
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )
        .unwrap();
        (Epoll(epoll), wake)
    }

    /// One `epoll_pwait2` into `events`: the number of ready entries.
    fn wait(&self, events: &mut Vec<epoll::Event>, timeout: Option<&Timespec>) -> usize {
        events.clear();
        let spare = rustix::buffer::spare_capacity(events);
        match epoll::wait(self.0.as_fd(), spare, timeout) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => 0,
            Err(e) => panic!("epoll_pwait2: {e}"),
        }
    }
}

/// Wakes whoever waits on the epoll `wake` belongs to: one `write`, never
/// read back (edge-triggered, each write is a new edge).
fn wake(wake: &OwnedFd) {
    write(wake, &1u64.to_ne_bytes()).unwrap();
}

fn empty_wait(c: &mut Criterion) {
    let mut g = c.benchmark_group("wait, nothing ready, zero timeout");
    g.throughput(Throughput::Elements(1));
    let poller = Poller::new().unwrap();
    let mut events = Events::new();
    g.bench_function("polling Poller::wait", |b| {
        b.iter(|| {
            events.clear();
            poller.wait(&mut events, Some(Duration::ZERO)).unwrap()
        });
    });
    let (raw, _waker) = Epoll::new();
    let mut events = Vec::with_capacity(64);
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    g.bench_function("epoll_pwait2 (roe's reactor)", |b| {
        b.iter(|| raw.wait(&mut events, Some(&zero)));
    });
    g.finish();
}

/// Times `round_trips` wake-up round trips between this thread (`near`)
/// and a second one (`far`), each blocked in its own wait until the other
/// wakes it; `far` makes the far side's wait on its own thread. A shared
/// counter says whose turn it is, so a wait that returns early (a wake-up
/// already pending) only costs another wait.
fn ping_pong<W: FnMut()>(
    round_trips: u64,
    mut near_wait: impl FnMut(),
    far: impl FnOnce() -> W + Send,
    wake_near: impl Fn() + Sync,
    wake_far: impl Fn(),
) -> Duration {
    let turn = AtomicU64::new(0);
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut far_wait = far();
            for i in 0..round_trips {
                while turn.load(Ordering::Acquire) != 2 * i + 1 {
                    far_wait();
                }
                turn.store(2 * i + 2, Ordering::Release);
                wake_near();
            }
        });
        let started = Instant::now();
        for i in 0..round_trips {
            turn.store(2 * i + 1, Ordering::Release);
            wake_far();
            while turn.load(Ordering::Acquire) != 2 * i + 2 {
                near_wait();
            }
        }
        started.elapsed()
    })
}

fn wake_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("wake-up round trip between two threads");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("polling notify + wait", |b| {
        b.iter_custom(|round_trips| {
            let pollers = [Poller::new().unwrap(), Poller::new().unwrap()];
            let [near, far] = &pollers;
            let mut near_events = Events::new();
            ping_pong(
                round_trips,
                || {
                    near_events.clear();
                    near.wait(&mut near_events, None).unwrap();
                },
                || {
                    let mut far_events = Events::new();
                    move || {
                        far_events.clear();
                        far.wait(&mut far_events, None).unwrap();
                    }
                },
                || near.notify().unwrap(),
                || far.notify().unwrap(),
            )
        });
    });
    g.bench_function("eventfd write + epoll_pwait2 (roe's reactor)", |b| {
        b.iter_custom(|round_trips| {
            let ((near, near_waker), (far, far_waker)) = (Epoll::new(), Epoll::new());
            let mut near_events = Vec::with_capacity(64);
            ping_pong(
                round_trips,
                || {
                    near.wait(&mut near_events, None);
                },
                || {
                    let mut far_events = Vec::with_capacity(64);
                    move || {
                        far.wait(&mut far_events, None);
                    }
                },
                || wake(&near_waker),
                || wake(&far_waker),
            )
        });
    });
    g.finish();
}

fn main() {
    roe::workloads::settle_wakeups();
    let mut criterion = Criterion::default().configure_from_args();
    empty_wait(&mut criterion);
    wake_round_trip(&mut criterion);
    criterion.final_summary();
}
