//! Snapshots: immutable pictures of a kernel that observers read without
//! locks and without ever making the kernel wait.
//!
//! A kernel builds a [`Snapshot`] of its counters and the first of its
//! queued items and timers at a tunable interval, when something happened
//! since the last, and publishes it with an atomic pointer swap; a
//! [`SnapshotReader`] loads the latest one. A reader holds one whole
//! snapshot, so everything in it is mutually consistent: the counters, the
//! sessions and the queue describe the same instant.
//!
//! What a snapshot says about sessions is what readers asked for (a
//! [`Detail`]): nothing, some sessions in full, every session's ID, or
//! every session in full. A reader asks with [`SnapshotReader::ask`] for a
//! lease, and the kernel puts what it asked for in every snapshot while
//! the lease lasts; [`SnapshotReader::load_detail`] also waits, bounded,
//! for the kernel's answer. So a kernel of a hundred thousand sessions that
//! nobody looks at builds a snapshot of a few counters, and one a reader
//! looks at builds the sessions the reader looks at, never all of them
//! every interval. Building for readers is also held to a budget: a kernel
//! spends at most one part in [`Snapshot::BUDGET`] of its time on it.

mod ask;
mod picture;

pub use self::{
    ask::SnapshotReader,
    picture::{Counters, Detail, QueuedSnapshot, SessionSnapshot, Snapshot},
};
