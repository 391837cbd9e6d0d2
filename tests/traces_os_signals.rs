//! The POE trace that sends real OS signals to this process, in a test
//! binary of its own: signal dispositions are process-wide, so sharing a
//! process with other tests' watchers would make it racy.

// This binary uses a few of the harness's helpers, not all.
#[allow(dead_code, unused_macros)]
#[macro_use]
#[path = "traces/harness.rs"]
mod harness;

#[path = "traces/t39_os_signals.rs"]
mod t39_os_signals;
