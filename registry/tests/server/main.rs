//! The registry server over loopback TCP, driven through its public API
//! by blocking clients: registry(4)'s three ports, roe's additions, the
//! state file, many clients at once, and hostile ones.

mod common;
mod etcd;
#[path = "../support/etcd.rs"]
mod etcd_process;
mod hostile;
mod load;
mod persist;
mod protocol;
mod watch;
