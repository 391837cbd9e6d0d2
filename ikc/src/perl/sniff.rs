//! [`sniff`]: which protocol a connection speaks, from its first bytes.

use super::MAX_LINE;
use crate::native;

/// What a connection's first bytes say it speaks.
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::{Sniffed, sniff};
///
/// assert_eq!(sniff(b"SETUP KERNEL=Lite"), Sniffed::NeedMore);
/// assert_eq!(sniff(b"SETUP KERNEL=LiteClient;FREEZER=Storable;PID=7\r\n"), Sniffed::Setup);
/// assert_eq!(sniff(b"HELLO\r\n"), Sniffed::Hello);
/// assert_eq!(sniff(b"\xffROEIKC\x00"), Sniffed::Native);
/// assert_eq!(sniff(b"GET / HTTP/1.0\r\n"), Sniffed::Other);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// Not enough bytes yet to tell: read more and sniff again.
    NeedMore,
    /// roe's native wire ([`native::MAGIC`](crate::native::MAGIC)).
    Native,
    /// A Perl IKC peer opening with IKC0's `SETUP` line.
    Setup,
    /// A Perl IKC peer opening the legacy handshake: `HELLO` (or `HELLO
    /// IKC<digit>`, which a Perl server answers `NOT`).
    Hello,
    /// Something else: not an IKC peer.
    Other,
    /// A first line longer than [`MAX_LINE`] bytes without its end.
    TooLong,
}

/// The first line of a Perl peer opening the legacy handshake.
const HELLO: &[u8] = b"HELLO";
/// What starts IKC0's first line.
const SETUP: &[u8] = b"SETUP ";
/// The old `HELLO IKC<digit>` opening, without its digit.
const HELLO_IKC: &[u8] = b"HELLO IKC";

/// Tells, from the first bytes a client sent, whether it is a roe native
/// peer, a Perl IKC peer (and which handshake it opens), or neither.
///
/// A native peer is known by its first byte (`0xff`, which no text line
/// starts with) and then the whole magic. A Perl peer's verdict waits for
/// its first line to end (CR, LF or both): `SETUP ` starts IKC0's line,
/// `HELLO` alone (or `HELLO IKC` and a digit) the legacy one. Bytes that
/// cannot begin either are [`Sniffed::Other`] at once, and a first line
/// that passes [`MAX_LINE`] bytes is [`Sniffed::TooLong`], so a caller
/// never buffers more than that to decide. Sniffing consumes nothing: hand
/// the same bytes to the reader of the protocol found.
pub fn sniff(first: &[u8]) -> Sniffed {
    match first.first() {
        None => return Sniffed::NeedMore,
        Some(&byte) if byte == native::MAGIC[0] => {
            return match native::sniff(first) {
                native::Sniffed::NeedMore => Sniffed::NeedMore,
                native::Sniffed::Native => Sniffed::Native,
                native::Sniffed::Other => Sniffed::Other,
            };
        }
        Some(_) => {}
    }
    let end = first.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &first[..end.unwrap_or(first.len())];
    if line.len() > MAX_LINE {
        return Sniffed::TooLong;
    }
    match end {
        Some(_) if line.starts_with(SETUP) => Sniffed::Setup,
        Some(_) if line == HELLO || is_hello_ikc(line) => Sniffed::Hello,
        Some(_) => Sniffed::Other,
        None if may_become_known(line) => Sniffed::NeedMore,
        None => Sniffed::Other,
    }
}

/// `HELLO IKC<digit>`.
pub(super) fn is_hello_ikc(line: &[u8]) -> bool {
    line.len() == HELLO_IKC.len() + 1
        && line.starts_with(HELLO_IKC)
        && line[HELLO_IKC.len()].is_ascii_digit()
}

/// Whether an unfinished first line can still become one [`sniff`] knows.
fn may_become_known(line: &[u8]) -> bool {
    line.starts_with(SETUP)
        || SETUP.starts_with(line)
        || HELLO_IKC.starts_with(line)
        || is_hello_ikc(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_of_a_known_first_line_needs_more() {
        for line in [
            &b"SETUP KERNEL=a;FREEZER=Storable;PID=1"[..],
            b"HELLO",
            b"HELLO IKC0",
        ] {
            for n in 0..=line.len() {
                assert_eq!(sniff(&line[..n]), Sniffed::NeedMore, "{n}");
            }
        }
        assert_eq!(sniff(b"HELLO IKC0\r"), Sniffed::Hello);
        assert_eq!(sniff(b"HELLO\n"), Sniffed::Hello);
        assert_eq!(sniff(b"SETUP x\r\n..."), Sniffed::Setup);
    }

    #[test]
    fn a_line_that_cannot_become_known_is_other_at_once() {
        assert_eq!(sniff(b"G"), Sniffed::Other);
        assert_eq!(sniff(b"SETUPX"), Sniffed::Other);
        assert_eq!(sniff(b"HELLOX"), Sniffed::Other);
        assert_eq!(sniff(b"HELLO IKCx"), Sniffed::Other);
        assert_eq!(sniff(b"HELLO IKC12"), Sniffed::Other);
        assert_eq!(sniff(b"HELLO there\r\n"), Sniffed::Other);
        assert_eq!(sniff(b"SETUP\r\n"), Sniffed::Other);
        assert_eq!(sniff(b"\r\nSETUP "), Sniffed::Other);
        assert_eq!(sniff(b"\xffROE"), Sniffed::NeedMore);
        assert_eq!(sniff(b"\xffX"), Sniffed::Other);
    }

    #[test]
    fn a_first_line_past_the_limit_is_too_long() {
        let mut line = b"SETUP KERNEL=".to_vec();
        line.resize(MAX_LINE, b'a');
        assert_eq!(sniff(&line), Sniffed::NeedMore);
        line.push(b'a');
        assert_eq!(sniff(&line), Sniffed::TooLong);
        line.extend_from_slice(b"\r\n");
        assert_eq!(sniff(&line), Sniffed::TooLong);
    }
}
