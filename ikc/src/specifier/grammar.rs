//! What IKC's patterns allow in each part, byte by byte, and where a
//! kernel may end: shared by reading and by checking what can be written.

use super::Part;

/// Perl's `\w`, read as ASCII (see the module documentation).
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// IKC's `[- \w]`: a session, a state.
pub(super) fn is_name(b: u8) -> bool {
    is_word(b) || b == b'-' || b == b' '
}

/// IKC's `[-. \w]`: a kernel name.
pub(super) fn is_kernel_name(b: u8) -> bool {
    is_name(b) || b == b'.'
}

/// IKC's `[-.a-zA-Z0-9]`: a host in `host:port`.
pub(super) fn is_host(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// IKC's `[-.\w]`: a path in `unix:path`.
pub(super) fn is_path(b: u8) -> bool {
    is_word(b) || b == b'-' || b == b'.'
}

/// The bytes the string form allows in `part`; for the kernel, in any of
/// its shapes (`:` only in `host:port` and `unix:path`, which
/// [`is_kernel_text`] checks as a whole).
pub(super) fn allowed_in(part: Part) -> fn(u8) -> bool {
    match part {
        Part::Kernel => |b| is_kernel_name(b) || b == b':',
        Part::Session | Part::State => is_name,
        Part::Arg => is_word,
    }
}

/// Where the run of `allowed` bytes from `from` ends.
pub(super) fn run(bytes: &[u8], from: usize, allowed: fn(u8) -> bool) -> usize {
    from + bytes
        .get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| allowed(b))
        .count()
}

/// Where each kernel IKC's pattern allows at `at` would end, in the order
/// Perl's regex tries them: `*`; a name; `host:port`; `unix:path` with its
/// `:pid-fd`, then without.
///
/// Perl also backtracks to shorter names, hosts, ports and paths, but
/// where the longest fails to lead to a specifier, a shorter one never
/// does: what it gives up is all session-or-state characters, which can
/// only become the state, before the same remainder that made the longest
/// fail (the parsers' tests check this against IKC's answers).
pub(super) fn kernel_ends(bytes: &[u8], at: usize) -> Vec<usize> {
    let mut ends = Vec::with_capacity(4);
    if bytes.get(at) == Some(&b'*') {
        ends.push(at + 1);
    }
    let name = run(bytes, at, is_kernel_name);
    if name > at {
        ends.push(name);
    }
    if bytes.get(at).is_some_and(u8::is_ascii_alphanumeric) {
        let host = run(bytes, at + 1, is_host);
        if host > at + 1 && bytes.get(host) == Some(&b':') {
            let port = run(bytes, host + 1, |b| b.is_ascii_digit());
            if port > host + 1 {
                ends.push(port);
            }
        }
    }
    if bytes
        .get(at..)
        .is_some_and(|rest| rest.starts_with(b"unix:"))
    {
        let path = run(bytes, at + 5, is_path);
        if path > at + 5 {
            if bytes.get(path) == Some(&b':') {
                let pid = run(bytes, path + 1, |b| b.is_ascii_digit());
                if pid > path + 1 && bytes.get(pid) == Some(&b'-') {
                    let fd = run(bytes, pid + 1, |b| b.is_ascii_digit());
                    if fd > pid + 1 {
                        ends.push(fd);
                    }
                }
            }
            ends.push(path);
        }
    }
    ends
}

/// Whether `name` is a whole kernel in IKC's pattern (and not `*`, which is
/// [`Kernel::All`]).
///
/// [`Kernel::All`]: super::Kernel::All
pub(super) fn is_kernel_text(name: &str) -> bool {
    name != "*" && kernel_ends(name.as_bytes(), 0).contains(&name.len())
}
