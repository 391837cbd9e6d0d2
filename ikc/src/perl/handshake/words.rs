//! The legacy handshake's words: matching a peer's lines, writing ours.

use crate::native::check_name;

pub(super) const OK: &[u8] = b"OK";
pub(super) const NOT: &[u8] = b"NOT";
pub(super) const DONE: &[u8] = b"DONE";
pub(super) const HELLO: &[u8] = b"HELLO";
pub(super) const WORLD: &[u8] = b"WORLD";
pub(super) const UP: &[u8] = b"UP";

/// `line` and CRLF, as Perl's line filter writes it.
pub(super) fn crlf(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 2);
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
    out
}

/// `IAM <name>`, written.
pub(super) fn iam(name: &str) -> Vec<u8> {
    crlf(format!("IAM {name}").as_bytes())
}

/// What Perl IKC answers a line it did not expect: `NOT`, so that the peer
/// says something coherent, unless the line was itself a `NOT`.
pub(super) fn prod(line: &[u8]) -> Vec<u8> {
    if line == NOT { Vec::new() } else { crlf(NOT) }
}

/// The name of an `IAM` line (Perl's `^IAM\s+([-:.\w]+)$`), when it keeps
/// roe's name rules too.
pub(super) fn iam_name(line: &[u8]) -> Option<&str> {
    let name = after_word(line, b"IAM")?;
    let name = std::str::from_utf8(name).ok()?;
    check_name("kernel name", name).ok()?;
    Some(name)
}

/// The package of a `FREEZER` line: `Some(Some(package))` for a package
/// name (Perl's `^FREEZER\s+([-:\w]+)$`), `Some(None)` for a `FREEZER`
/// line with anything else after it, `None` for another line.
pub(super) fn freezer(line: &[u8]) -> Option<Option<&str>> {
    let package = after_word(line, b"FREEZER")?;
    let is_package = package
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'));
    Some(
        is_package
            .then(|| std::str::from_utf8(package).ok())
            .flatten(),
    )
}

/// What follows `word` and one or more blanks, when that is not empty.
fn after_word<'a>(line: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(word)?;
    let blanks = rest.iter().take_while(|b| is_blank(**b)).count();
    let rest = &rest[blanks..];
    (blanks > 0 && !rest.is_empty()).then_some(rest)
}

/// Perl's `\s` in a byte string, line ends aside (a line has none).
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_takes_one_name_after_blanks() {
        assert_eq!(iam_name(b"IAM vm-1"), Some("vm-1"));
        assert_eq!(iam_name(b"IAM \t127.0.0.1:80"), Some("127.0.0.1:80"));
        assert_eq!(iam_name(b"IAM"), None);
        assert_eq!(iam_name(b"IAM "), None);
        assert_eq!(iam_name(b"IAMx"), None);
        assert_eq!(iam_name(b"IAM a b"), None);
        assert_eq!(iam_name(b"IAM a/b"), None);
        assert_eq!(iam_name(b"IAM caf\xe9"), None);
    }

    #[test]
    fn freezer_tells_a_package_from_junk() {
        assert_eq!(freezer(b"FREEZER Storable"), Some(Some("Storable")));
        assert_eq!(
            freezer(b"FREEZER POE::Component::IKC::Freezer"),
            Some(Some("POE::Component::IKC::Freezer"))
        );
        assert_eq!(freezer(b"FREEZER Sto rable"), Some(None));
        assert_eq!(freezer(b"FREEZER Data.Dumper"), Some(None));
        assert_eq!(freezer(b"FREEZER"), None);
        assert_eq!(freezer(b"WORLD"), None);
    }

    #[test]
    fn a_not_is_not_answered_with_a_not() {
        assert_eq!(prod(b"NOT"), b"");
        assert_eq!(prod(b"what"), b"NOT\r\n");
    }
}
