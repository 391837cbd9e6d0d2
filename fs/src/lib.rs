//! roe-fs: ProcAlike, a FUSE view of a running roe runtime, in which
//! operators inspect and tune a live process with `ls`, `cat` and `echo`.
//!
//! It is POE::Devel::ProcAlike's tree, grown for a runtime of many kernels:
//!
//! - `/kernel`: the runtime (`id`, `is_running`, `kernels`, counts), a
//!   writable `ctl`, `warnings` (slow handlers, long queues, overflowing
//!   posts, kernels that do not answer) and `sysctl/` of tunables (the
//!   snapshot interval, the warnings' thresholds), and `/kernel/<n>/` for each
//!   kernel: its counters, `statistics/`, `eventqueue/` and
//!   `sessions/<id>/`, each session with a writable `ctl`;
//! - `/process`: the program (the original's `/perl`): executable, pid,
//!   arguments, start time, threads and memory;
//! - `/modules/<name>`: trees components register;
//! - `/misc`: the program's own tree.
//!
//! docs/fs.md lists the whole tree as a real mount shows it, and every
//! writable file.
//!
//! The principal types: [`ProcAlike`] (the mounted view, a guard that
//! unmounts on drop) made by its [`Builder`]; [`Tree`], what `/misc` and
//! `/modules` show, with [`Dir`] to build one from closures; [`Error`] and
//! [`WriteError`].
//!
//! A dedicated thread serves the mount (fuser, pure Rust, no libfuse); it
//! reads the snapshots kernels publish (lock-free), and asks a kernel for
//! the sessions a path needs, which the kernel then puts in its snapshots
//! for a while: a kernel's own snapshots hold its counters and queue, not
//! its sessions, so a kernel of many sessions pays for the view only what
//! is read. The thread never makes a kernel wait, and waits for a kernel's
//! answer at most 50 ms. Every file is rendered once, at open, from one
//! snapshot, and reads are served from that buffer; every directory is
//! listed once, at opendir. A write is parsed on that thread and
//! refused with EINVAL if it is wrong, before anything changes; a good one
//! is sent to the kernel that owns what it changes, which applies it on its
//! own thread. Mounting needs /dev/fuse and, as roe mounts without the
//! setuid helper, root.
//!
//! It is not a debugger: it shows what the snapshots hold (see
//! docs/fs.md for what ProcAlike showed that roe does not, such as a
//! session's heap), at the snapshot interval's freshness (docs/fs.md,
//! "Consistency and freshness").
//!
//! # Examples
//!
//! A runtime, its view, a read and a write (as root, with /dev/fuse):
//!
//! ```no_run
//! use roe_engine::{Runtime, Session};
//! use roe_fs::{Dir, ProcAlike};
//!
//! let runtime = Runtime::builder().kernels(2).pin(false).start(|kernel| {
//!     kernel.spawn(
//!         Session::new(0u64)
//!             .on("_start", |cx, _| cx.alias_set(format!("counter/{}", cx.kernel_id())))
//!             .on("bump", |cx, _| *cx.heap += 1),
//!     )?;
//!     Ok(())
//! })?;
//! let view = ProcAlike::builder()
//!     .mountpoint("/tmp/roe_doc")
//!     .misc(Dir::new().value("role", "example"))
//!     .start(&runtime.handle())?;
//! let root = view.mountpoint();
//! assert_eq!(std::fs::read_to_string(root.join("kernel/kernels"))?, "2\n");
//! assert_eq!(std::fs::read_to_string(root.join("misc/role"))?, "example\n");
//! // The session numbered 1 on kernel 1 gets `bump`, posted by kernel 1.
//! std::fs::write(root.join("kernel/1/sessions/1/ctl"), "post bump\n")?;
//! drop(view);
//! runtime.handle().shutdown();
//! runtime.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod adapter;
mod error;
mod mount;
mod procalike;
mod snapshot;
mod tree;

#[doc(hidden)]
pub use crate::mount::can_mount;
pub use crate::{
    error::{Error, Result, WriteError},
    procalike::{Builder, ProcAlike},
    tree::{Dir, Entry, Kind, Tree},
};
