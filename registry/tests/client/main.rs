//! roe-registry's clients over loopback TCP, against a real registry and
//! against fake, hostile ones: the kernel-side client (registrations,
//! finds, watches, and what they do when the registry restarts or a
//! connection is lost) and the blocking client.

mod blocking;
mod hostile;
mod kernel;
mod restart;
mod support;
