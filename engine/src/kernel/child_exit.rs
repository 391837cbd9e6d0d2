//! [`ChildExit`]: a child process's end, as [`sig_child`]'s event reports
//! it, typed.
//!
//! [`sig_child`]: super::Context::sig_child

use std::{os::unix::process::ExitStatusExt, process::ExitStatus};

use crate::value::Args;

/// How a watched child process ended: the arguments of the event
/// [`Context::sig_child`](crate::Context::sig_child) sends,
/// `("CHLD", pid, status)`, read back typed. The raw wait status POE
/// passes becomes an [`ExitStatus`], which tells an exit code from a
/// signal.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use roe_engine::{ChildExit, Kernel, Session};
///
/// let child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
/// let pid = child.id();
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(())
///         .on("_start", move |cx, _| cx.sig_child(pid, "ended", ()))
///         .on("ended", move |_, args| {
///             let exit = ChildExit::from_args(&args).expect("a CHLD event");
///             assert_eq!(exit.pid, pid);
///             assert_eq!(exit.status.code(), Some(3));
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildExit {
    /// The child's process ID.
    pub pid: u32,
    /// How it ended.
    pub status: ExitStatus,
}

impl ChildExit {
    /// The exit a `CHLD` event's arguments report; `None` for arguments
    /// that are not `("CHLD", pid, status)`, or for a process that was not
    /// this one's child (status -1).
    pub fn from_args(args: &Args) -> Option<ChildExit> {
        if args[0].as_str() != Some("CHLD") {
            return None;
        }
        let pid = u32::try_from(args[1].as_int()?).ok()?;
        let raw = i32::try_from(args[2].as_int()?).ok()?;
        (raw >= 0).then(|| ChildExit {
            pid,
            status: ExitStatus::from_raw(raw),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_statuses_read_as_exit_codes_and_signals() {
        let exited = ChildExit::from_args(&Args::from(("CHLD", 7, 3 << 8))).unwrap();
        assert_eq!((exited.pid, exited.status.code()), (7, Some(3)));
        let killed = ChildExit::from_args(&Args::from(("CHLD", 7, 9))).unwrap();
        assert_eq!(killed.status.signal(), Some(9));
        assert_eq!(ChildExit::from_args(&Args::from(("CHLD", 7, -1))), None);
        assert_eq!(ChildExit::from_args(&Args::from(("INT",))), None);
    }
}
