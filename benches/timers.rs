//! W4: timers (placeholder replaced below).
fn main() {}
