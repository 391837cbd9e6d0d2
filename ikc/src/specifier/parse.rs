//! Reading the string form, as IKC's `specifier_parse` (and its
//! relative readings for ClientLite and `post`) reads it.

use std::str::FromStr;

use super::{
    Expected, Kernel, Part, Reason, SCHEME, Specifier, SpecifierError,
    display::unwritable,
    grammar::{is_kernel_text, is_name, is_word, kernel_ends, run},
};

impl Specifier {
    /// Reads `text` as IKC's ClientLite does: when it does not start with
    /// `poe:`, it is relative to `kernel`, as if it were
    /// `poe://kernel/text`: `session/state` on that kernel, and a single
    /// name is a *session*. Text that starts with `poe:` reads as itself.
    ///
    /// Positions in the error count in `text`. `kernel` must be writable
    /// in the string form.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Kernel, Specifier};
    ///
    /// let server = Kernel::from("Server");
    /// let spec = Specifier::parse_relative("echo/upper", &server)?;
    /// assert_eq!(spec.to_string(), "poe://Server/echo/upper");
    /// assert_eq!(Specifier::parse_relative("echo", &server)?.session.as_deref(), Some("echo"));
    /// let elsewhere = Specifier::parse_relative("poe://Other/echo/upper", &server)?;
    /// assert_eq!(elsewhere.kernel, Kernel::from("Other"));
    /// assert_eq!(Specifier::parse_relative("echo/up/per", &server).unwrap_err().position(), Some(7));
    /// # Ok::<(), roe_ikc::SpecifierError>(())
    /// ```
    pub fn parse_relative(text: &str, kernel: &Kernel) -> Result<Specifier, SpecifierError> {
        if text.starts_with(SCHEME) {
            return text.parse();
        }
        if let Kernel::Named(name) = kernel
            && !is_kernel_text(name)
        {
            return Err(unwritable(Part::Kernel, name));
        }
        parse_prefixed(&format!("poe://{}/", kernel.as_str()), text)
    }

    /// Reads `text` as IKC's `post` and `call` read their target (and its
    /// `specifier_part`): when it does not start with `poe:`, it is
    /// `kernel/session/state` without the `poe://`. Text that starts with
    /// `poe:` reads as itself.
    ///
    /// Positions in the error count in `text`.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Kernel, Specifier};
    ///
    /// let spec = Specifier::parse_post("Pulse/timeserver/time")?;
    /// assert_eq!(spec.kernel, Kernel::from("Pulse"));
    /// assert_eq!(spec.state.as_deref(), Some("time"));
    /// assert_eq!(Specifier::parse_post("*/timeserver")?.kernel, Kernel::All);
    /// assert_eq!(Specifier::parse_post("poe:/timeserver/time")?.kernel, Kernel::Default);
    /// # Ok::<(), roe_ikc::SpecifierError>(())
    /// ```
    pub fn parse_post(text: &str) -> Result<Specifier, SpecifierError> {
        if text.starts_with(SCHEME) {
            return text.parse();
        }
        parse_prefixed("poe://", text)
    }
}

impl FromStr for Specifier {
    type Err = SpecifierError;

    /// Reads the string form as IKC's `specifier_parse` does (see [the
    /// module documentation](super) for where roe departs from it).
    fn from_str(text: &str) -> Result<Specifier, SpecifierError> {
        if text.is_empty() {
            return Err(SpecifierError {
                reason: Reason::Empty,
                position: Some(0),
            });
        }
        let parts = if text.starts_with(SCHEME) {
            read_scheme(text)
        } else {
            read_plain(text)
        };
        match parts {
            Ok(parts) => Ok(parts.to_specifier(text)),
            Err(fail) => Err(fail.into_error(text, 0)),
        }
    }
}

/// Whether `poe://name` reads `name` as the kernel, rather than a shorter
/// kernel followed by a state.
pub(super) fn reads_alone(name: &str) -> bool {
    let text = format!("poe://{name}");
    read_scheme(&text).is_ok_and(|parts| parts.kernel.is_some_and(|k| &text[k.0..k.1] == name))
}

/// A byte range of the text.
type Span = (usize, usize);

/// The parts read from a text, as ranges of it; an empty part is absent,
/// as IKC's `||= ''` leaves it.
#[derive(Clone, Copy, Debug, Default)]
struct Parts {
    kernel: Option<Span>,
    session: Option<Span>,
    state: Option<Span>,
    arg: Option<Span>,
}

impl Parts {
    fn to_specifier(self, text: &str) -> Specifier {
        let part = |span: Option<Span>| {
            span.filter(|(from, to)| to > from)
                .map(|(from, to)| text[from..to].to_owned())
        };
        Specifier {
            kernel: part(self.kernel).map_or(Kernel::Default, Kernel::from),
            session: part(self.session),
            state: part(self.state),
            arg: part(self.arg),
        }
    }
}

/// Where and why one reading failed.
#[derive(Clone, Copy, Debug)]
struct Fail {
    position: usize,
    expected: Expected,
}

impl Fail {
    /// The failure that got further; the first on a tie, since the reading
    /// Perl prefers is tried first.
    fn further(self, other: Fail) -> Fail {
        if other.position > self.position {
            other
        } else {
            self
        }
    }

    /// The error for `text`, whose reading began `offset` bytes into it.
    fn into_error(self, text: &str, offset: usize) -> SpecifierError {
        let position = self.position.saturating_sub(offset);
        SpecifierError {
            reason: Reason::Syntax {
                expected: self.expected,
                found: text
                    .get(self.position..)
                    .and_then(|rest| rest.chars().next()),
            },
            position: Some(position),
        }
    }
}

/// IKC's first pattern, for text that starts with `poe:`:
///
/// ```text
/// ^poe: (?: (//) (KERNEL)? )? (?: (/) ([- \w]+) )? (?: (/)? ([- \w]*) )? (?: \? (\w+) )? $
/// ```
fn read_scheme(text: &str) -> Result<Parts, Fail> {
    let bytes = text.as_bytes();
    let at = SCHEME.len();
    // Starting with `//`, the text is never read without the kernel
    // group: the tail cannot start with two slashes.
    if !bytes[at..].starts_with(b"//") {
        return read_scheme_tail(bytes, at, Expected::AfterScheme);
    }
    let at = at + 2;
    let mut furthest: Option<Fail> = None;
    for end in kernel_ends(bytes, at) {
        match read_scheme_tail(bytes, end, Expected::NextPart) {
            Ok(parts) => {
                return Ok(Parts {
                    kernel: Some((at, end)),
                    ..parts
                });
            }
            Err(fail) => furthest = Some(furthest.map_or(fail, |f| f.further(fail))),
        }
    }
    // The kernel group's pattern is optional, tried last.
    read_scheme_tail(bytes, at, Expected::Kernel)
        .map_err(|fail| furthest.map_or(fail, |f| f.further(fail)))
}

/// The session, state and argument of IKC's first pattern, from `at` to
/// the end; `first` is what a failure at `at` itself expected.
fn read_scheme_tail(bytes: &[u8], mut at: usize, first: Expected) -> Result<Parts, Fail> {
    let mut parts = Parts::default();
    let mut expected = first;
    if bytes.get(at) == Some(&b'/') {
        let end = run(bytes, at + 1, is_name);
        if end > at + 1 {
            parts.session = Some((at + 1, end));
            at = end;
            expected = Expected::NextPart;
        }
    }
    if bytes.get(at) == Some(&b'/') {
        at += 1;
        expected = Expected::ArgOrEnd;
    }
    let end = run(bytes, at, is_name);
    if end > at {
        parts.state = Some((at, end));
        at = end;
        expected = Expected::ArgOrEnd;
    }
    read_arg_and_end(bytes, at, expected, parts)
}

/// IKC's `(?: \? (\w+) )? $`, the same in both patterns.
fn read_arg_and_end(
    bytes: &[u8],
    mut at: usize,
    mut expected: Expected,
    mut parts: Parts,
) -> Result<Parts, Fail> {
    if bytes.get(at) == Some(&b'?') {
        let end = run(bytes, at + 1, is_word);
        if end == at + 1 {
            return Err(Fail {
                position: end,
                expected: Expected::Arg,
            });
        }
        parts.arg = Some((at + 1, end));
        at = end;
        expected = Expected::End;
    }
    if at == bytes.len() {
        Ok(parts)
    } else {
        Err(Fail {
            position: at,
            expected,
        })
    }
}

/// IKC's second pattern, for text without `poe:`:
///
/// ```text
/// ^ (?: // (KERNEL) / )? (?: ([- \w]+) / )? (?: ([- \w]+) )? (?: \? (\w+) )? $
/// ```
fn read_plain(text: &str) -> Result<Parts, Fail> {
    let bytes = text.as_bytes();
    let mut parts = Parts::default();
    let mut at = 0;
    let mut expected = Expected::Start;
    if bytes.starts_with(b"//") {
        // Only the whole of a kernel can be followed by `/` (a shorter
        // one is followed by a character of its own), so the first kernel
        // that is, is the reading; without one the text starts with `/`,
        // which nothing else in the pattern takes.
        let ends = kernel_ends(bytes, 2);
        let Some(&end) = ends.iter().find(|&&end| bytes.get(end) == Some(&b'/')) else {
            return Err(match ends.iter().max() {
                Some(&end) => Fail {
                    position: end,
                    expected: Expected::Slash,
                },
                None => Fail {
                    position: 2,
                    expected: Expected::Kernel,
                },
            });
        };
        parts.kernel = Some((2, end));
        at = end + 1;
        expected = Expected::Name;
    }
    let end = run(bytes, at, is_name);
    if end > at && bytes.get(end) == Some(&b'/') {
        parts.session = Some((at, end));
        at = end + 1;
        expected = Expected::Name;
    }
    let end = run(bytes, at, is_name);
    if end > at {
        parts.state = Some((at, end));
        expected = if parts.session.is_some() {
            Expected::ArgOrEnd
        } else {
            Expected::NextPart
        };
        at = end;
    }
    read_arg_and_end(bytes, at, expected, parts)
}

/// Reads `prefix` followed by `text`, with error positions counted in
/// `text`.
fn parse_prefixed(prefix: &str, text: &str) -> Result<Specifier, SpecifierError> {
    let whole = format!("{prefix}{text}");
    match read_scheme(&whole) {
        Ok(parts) => Ok(parts.to_specifier(&whole)),
        Err(fail) => Err(fail.into_error(&whole, prefix.len())),
    }
}
