//! Kernel IDs: how a process's IKC names itself uniquely to its peers.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// A fresh kernel ID in POE's shape, `host-xxxxxxxx-xxxxxxxx-xxxxxxxx`:
/// the host name, the time in seconds, the process ID and a sequence
/// number, the last three in hex. Unique among the IDs this process makes,
/// and across processes and hosts as far as names and clocks allow.
///
/// The host part keeps ASCII letters, digits, `-` and `.` and turns
/// anything else into `_`, so the ID is a valid kernel part of a
/// specifier and a valid name on the native wire.
///
/// # Examples
///
/// ```
/// let a = roe_ikc::identity::kernel_id();
/// let b = roe_ikc::identity::kernel_id();
/// assert_ne!(a, b);
/// let parts: Vec<&str> = a.rsplitn(4, '-').collect();
/// assert_eq!(parts.len(), 4);
/// assert!(parts[..3].iter().all(|p| p.len() == 8 && u32::from_str_radix(p, 16).is_ok()));
/// ```
pub fn kernel_id() -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(1);
    let uname = rustix::system::uname();
    let host: String = uname
        .nodename()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let host = if host.is_empty() {
        "localhost".into()
    } else {
        host
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{host}-{:08x}-{:08x}-{:08x}",
        now as u32,
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}
