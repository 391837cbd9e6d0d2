//! [`Service`]: a name and its attributes, as registry(4) holds them.
//!
//! A service is a name and a list of attribute/value pairs, one value per
//! attribute. On every line it is written the same way: the name, then each
//! attribute and its value, all as `%q` words separated by single spaces
//! (`printer auth none 'note' 'it''s here'`); a service without attributes
//! is its name alone.
//!
//! # Names
//!
//! registry(4) makes every service a file of its directory, so a name must
//! be a file name it can serve:
//!
//! - no character up to and including the space (so no whitespace and no
//!   control character), no `/`, no DEL: [`Error::BadCharacter`]
//!   (registry(4)'s `bad character in service name`); a `'` and non-ASCII
//!   text are allowed;
//! - not empty, and not the name of one of its own files, `new`, `event`,
//!   `find` or `index` ([`RESERVED_NAMES`]): [`Error::BadName`]
//!   (`bad service name`);
//! - not the name of a service already registered:
//!   [`Error::Duplicate`] (`duplicate service name`), which the
//!   [`Store`](crate::Store) checks.
//!
//! Attribute names and values may be any text, the empty string included.
//!
//! # Attribute order
//!
//! Attributes keep the order in which they were first set, and setting one
//! again replaces its value where it stands. (registry(4) prepends a new
//! attribute and reverses those before a replaced one; only a byte-for-byte
//! comparison of lines could tell the difference.) A registration that names
//! the same attribute twice keeps the last value, as registry(4) does.
//!
//! # Limits
//!
//! A registry keeps a service of at most [`MAX_SERVICE_LEN`] bytes as a
//! line and at most [`MAX_ATTRS`] attributes ([`Service::check_size`]):
//! every query is matched against its attributes, so their number is what
//! a find or a watcher pays per service. Setting many attributes at once
//! (a registration line, an update line) takes one pass, not one pass per
//! attribute.
//!
//! # `persist`
//!
//! A service whose `persist` attribute is a non-zero number outlives the
//! connection it was registered through; see [`Service::is_persistent`].

use std::collections::HashMap;
use std::fmt;

use crate::error::{Error, Result};
use crate::quote::{Quoted, quoted_len};

/// The names registry(4) keeps for its own files; no service may take one.
pub const RESERVED_NAMES: [&str; 4] = ["new", "event", "find", "index"];

/// The longest a service may be as a line, in bytes, without its newline.
///
/// It leaves room within [`MAX_LINE`](crate::MAX_LINE) for the revision and
/// kind that a watch line puts before the service.
pub const MAX_SERVICE_LEN: usize = 16 * 1024 - 64;

/// The most attributes a registry keeps for one service; past it the
/// service is refused with [`Error::TooManyAttrs`] (`too many attributes`).
///
/// Inferno's services have a handful, roe's IKC advertisement seven; the
/// bound keeps what matching a query against a service costs small.
pub const MAX_ATTRS: usize = 128;

/// Past this many attributes, setting several at once goes through a
/// temporary index of names rather than a scan per attribute.
const INDEXED: usize = 16;

/// Checks that `name` can name a service (apart from being free).
///
/// # Errors
///
/// [`Error::BadCharacter`] for a character up to and including the space,
/// `/` or DEL; [`Error::BadName`] for the empty name and
/// [`RESERVED_NAMES`].
///
/// # Examples
///
/// ```
/// use roe_registry::{Error, check_name};
///
/// assert!(check_name("tcp!host!6701").is_ok());
/// assert!(check_name("it's-ok").is_ok());
/// assert!(matches!(check_name("a/b"), Err(Error::BadCharacter { at: 1, character: '/', .. })));
/// assert!(matches!(check_name("index"), Err(Error::BadName(_))));
/// assert!(matches!(check_name(""), Err(Error::BadName(_))));
/// ```
pub fn check_name(name: &str) -> Result<()> {
    if let Some((at, character)) = name
        .char_indices()
        .find(|&(_, c)| c <= ' ' || c == '/' || c == '\u{7f}')
    {
        return Err(Error::BadCharacter {
            name: name.to_owned(),
            at,
            character,
        });
    }
    if name.is_empty() || RESERVED_NAMES.contains(&name) {
        return Err(Error::BadName(name.to_owned()));
    }
    Ok(())
}

/// Whether a `persist` value keeps a service after its connection closes:
/// whether it starts with a non-zero decimal number.
///
/// registry(4) converts the value as C's `strtol(value, nil, 10)` does and
/// keeps the service when the result is not 0: leading white space and a
/// sign are skipped, and the number ends at the first character that is not
/// a digit.
///
/// # Examples
///
/// ```
/// use roe_registry::is_persist_value;
///
/// for keeps in ["1", "2", "-1", " 7x", "+0010"] {
///     assert!(is_persist_value(keeps), "{keeps:?}");
/// }
/// for removes in ["0", "yes", "", "0x1", "-0", " "] {
///     assert!(!is_persist_value(removes), "{removes:?}");
/// }
/// ```
pub fn is_persist_value(value: &str) -> bool {
    // C's isspace: space, \t, \n, \v, \f, \r.
    let number = value.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let digits = number.strip_prefix(['+', '-']).unwrap_or(number);
    digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .any(|d| d != b'0')
}

/// A service: a name and its attributes, in order.
///
/// # Invariants
///
/// The name passes [`check_name`]; each attribute appears once.
///
/// # Examples
///
/// ```
/// use roe_registry::Service;
///
/// let mut printer = Service::with_attrs("lp!office", [("auth", "none"), ("note", "it's here")])?;
/// printer.set("auth", "sha1");
/// assert_eq!(printer.get("auth"), Some("sha1"));
/// assert_eq!(printer.to_string(), "lp!office auth sha1 note 'it''s here'");
/// assert!(!printer.is_persistent());
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Service {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Service {
    /// A service named `name`, without attributes.
    ///
    /// # Errors
    ///
    /// As [`check_name`].
    pub fn new(name: impl Into<String>) -> Result<Service> {
        let name = name.into();
        check_name(&name)?;
        Ok(Service {
            name,
            attrs: Vec::new(),
        })
    }

    /// A service named `name` with `attrs`, set in order (so a repeated
    /// attribute keeps its last value, in its first place).
    ///
    /// # Errors
    ///
    /// As [`check_name`].
    pub fn with_attrs<A, V>(
        name: impl Into<String>,
        attrs: impl IntoIterator<Item = (A, V)>,
    ) -> Result<Service>
    where
        A: Into<String>,
        V: Into<String>,
    {
        let mut service = Service::new(name)?;
        service.set_all(attrs.into_iter().map(|(a, v)| (a.into(), v.into())));
        Ok(service)
    }

    /// A service from the words of a registration line: the name, then
    /// attribute/value pairs.
    ///
    /// # Errors
    ///
    /// [`Error::BadSyntax`] without words; then as [`check_name`]; then
    /// [`Error::OddPairs`]. The name is checked first, as registry(4) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::{Error, Service, words};
    ///
    /// let service = Service::from_words(words("svc a 1 b 2"))?;
    /// assert_eq!(service.attrs().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
    /// assert!(matches!(Service::from_words(words("svc a")), Err(Error::OddPairs(1))));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_words<W: Into<String>>(words: impl IntoIterator<Item = W>) -> Result<Service> {
        let mut words = words.into_iter().map(Into::into);
        let name = words.next().ok_or(Error::BadSyntax)?;
        let mut service = Service::new(name)?;
        service.set_all(pairs(words)?);
        Ok(service)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its attributes and their values, in order.
    pub fn attrs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_ {
        self.attrs
            .iter()
            .map(|(attr, value)| (attr.as_str(), value.as_str()))
    }

    /// The value of `attr`, if the service has it.
    pub fn get(&self, attr: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == attr)
            .map(|(_, value)| value.as_str())
    }

    /// Sets `attr` to `value`: in its place if the service has it, else
    /// after the others. Returns the value it replaced.
    pub fn set(&mut self, attr: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let (attr, value) = (attr.into(), value.into());
        match self.attrs.iter_mut().find(|(a, _)| *a == attr) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.attrs.push((attr, value));
                None
            }
        }
    }

    /// Sets each attribute in turn, as [`Service::set`] does, in one pass:
    /// past a few attributes, names are found through a temporary index.
    pub(crate) fn set_all(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        let mut pairs = pairs.into_iter();
        if self.attrs.len() + pairs.size_hint().0 <= INDEXED {
            for (attr, value) in pairs.by_ref() {
                self.set(attr, value);
                if self.attrs.len() > INDEXED {
                    break;
                }
            }
        }
        let mut rest = pairs.peekable();
        if rest.peek().is_none() {
            return;
        }
        let mut at: HashMap<String, usize> = self
            .attrs
            .iter()
            .enumerate()
            .map(|(i, (attr, _))| (attr.clone(), i))
            .collect();
        for (attr, value) in rest {
            match at.get(&attr) {
                Some(&i) => self.attrs[i].1 = value,
                None => {
                    at.insert(attr.clone(), self.attrs.len());
                    self.attrs.push((attr, value));
                }
            }
        }
    }

    /// Checks that a registry keeps the service: at most
    /// [`MAX_SERVICE_LEN`] bytes as a line, at most [`MAX_ATTRS`]
    /// attributes.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyAttrs`], [`Error::TooLarge`].
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::{Error, MAX_ATTRS, Service};
    ///
    /// let many = (0..=MAX_ATTRS).map(|n| (n.to_string(), "x"));
    /// let service = Service::with_attrs("svc", many)?;
    /// assert!(matches!(service.check_size(), Err(Error::TooManyAttrs { .. })));
    /// let big = Service::with_attrs("svc", [("note", "x".repeat(20_000))])?;
    /// assert_eq!(big.check_size().unwrap_err().reason(), "service too large");
    /// assert!(Service::new("svc")?.check_size().is_ok());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn check_size(&self) -> Result<()> {
        if self.attrs.len() > MAX_ATTRS {
            return Err(Error::TooManyAttrs {
                len: self.attrs.len(),
                max: MAX_ATTRS,
            });
        }
        let len = self.line_len();
        if len > MAX_SERVICE_LEN {
            return Err(Error::TooLarge {
                len,
                max: MAX_SERVICE_LEN,
            });
        }
        Ok(())
    }

    /// Whether the service stays when its connection closes: its `persist`
    /// attribute is a non-zero number (see [`is_persist_value`]).
    pub fn is_persistent(&self) -> bool {
        self.get("persist").is_some_and(is_persist_value)
    }

    /// Its length as a line, in bytes, without a newline.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::Service;
    ///
    /// let service = Service::with_attrs("svc", [("a", "x y")])?;
    /// assert_eq!(service.line_len(), service.to_string().len());
    /// # Ok::<(), roe_registry::Error>(())
    /// ```
    pub fn line_len(&self) -> usize {
        quoted_len(&self.name)
            + self
                .attrs
                .iter()
                .map(|(a, v)| 2 + quoted_len(a) + quoted_len(v))
                .sum::<usize>()
    }

    /// The service's attribute list, replaced wholesale (for the store's
    /// undo of an update that made the service too large).
    pub(crate) fn replace_attrs(&mut self, attrs: Vec<(String, String)>) -> Vec<(String, String)> {
        std::mem::replace(&mut self.attrs, attrs)
    }

    /// The attribute list, to keep a copy.
    pub(crate) fn attr_list(&self) -> &[(String, String)] {
        &self.attrs
    }
}

/// Writes the service as a line, without a newline.
impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Quoted(&self.name))?;
        for (attr, value) in &self.attrs {
            write!(f, " {} {}", Quoted(attr), Quoted(value))?;
        }
        Ok(())
    }
}

/// `words` taken two by two.
///
/// # Errors
///
/// [`Error::OddPairs`] when their number is odd.
pub(crate) fn pairs<W: Into<String>>(
    words: impl IntoIterator<Item = W>,
) -> Result<Vec<(String, String)>> {
    let words: Vec<String> = words.into_iter().map(Into::into).collect();
    if !words.len().is_multiple_of(2) {
        return Err(Error::OddPairs(words.len()));
    }
    let mut pairs = Vec::with_capacity(words.len() / 2);
    let mut words = words.into_iter();
    while let (Some(attr), Some(value)) = (words.next(), words.next()) {
        pairs.push((attr, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::words;
    use crate::rng::Rng;

    #[test]
    fn names_refused_with_registry4s_reasons() {
        for (name, at, character) in [
            ("a b", 1, ' '),
            ("tab\t", 3, '\t'),
            ("nl\n", 2, '\n'),
            ("cr\r", 2, '\r'),
            ("\0", 0, '\0'),
            ("a/b", 1, '/'),
            ("del\u{7f}", 3, '\u{7f}'),
            ("é\u{1}", 2, '\u{1}'),
        ] {
            let error = check_name(name).unwrap_err();
            assert_eq!(error.reason(), "bad character in service name");
            assert!(
                matches!(&error, Error::BadCharacter { name: n, at: a, character: c }
                    if n == name && *a == at && *c == character),
                "{name:?}: {error:?}"
            );
        }
        for name in ["", "new", "event", "find", "index"] {
            let error = check_name(name).unwrap_err();
            assert_eq!(error.reason(), "bad service name");
        }
        for name in [
            "News", "new!", "indexes", "'", "\u{85}x", "日本", "*", "a=b",
        ] {
            assert!(check_name(name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn a_registration_line() {
        let service = Service::from_words(words("svc a 1 b 2 a 3")).unwrap();
        assert_eq!(service.name(), "svc");
        assert_eq!(
            service.attrs().collect::<Vec<_>>(),
            [("a", "3"), ("b", "2")]
        );
        assert!(matches!(
            Service::from_words(words("")),
            Err(Error::BadSyntax)
        ));
        assert!(matches!(
            Service::from_words(words("svc a 1 b")),
            Err(Error::OddPairs(3))
        ));
        // The name is checked before the pairs are counted.
        assert!(matches!(
            Service::from_words(words("find a")),
            Err(Error::BadName(_))
        ));
    }

    #[test]
    fn attributes_keep_their_order() {
        let mut service = Service::with_attrs("s", [("w", "1"), ("x", "2"), ("y", "3")]).unwrap();
        assert_eq!(service.set("y", "4"), Some("3".into()));
        assert_eq!(service.set("z", "5"), None);
        assert_eq!(service.to_string(), "s w 1 x 2 y 4 z 5");
    }

    #[test]
    fn written_as_a_line() {
        assert_eq!(Service::new("name").unwrap().to_string(), "name");
        let service = Service::with_attrs("fake'n", [("", ""), ("a b", "c\nd")]).unwrap();
        assert_eq!(service.to_string(), "'fake''n' '' '' 'a b' 'c\nd'");
        assert_eq!(
            Service::from_words(words(&service.to_string())).unwrap(),
            service
        );
    }

    #[test]
    fn many_attributes_are_set_in_one_pass_and_bounded() {
        // A whole line of distinct attributes, and names given again: the
        // same service as one `set` at a time makes.
        let mut line = String::from("svc");
        for n in 0..1500 {
            line.push_str(&format!(" {} {n}", n % 1000));
        }
        assert!(line.len() < crate::MAX_LINE);
        let service = Service::from_words(words(&line)).unwrap();
        let mut slow = Service::new("svc").unwrap();
        for n in 0..1500 {
            slow.set((n % 1000).to_string(), n.to_string());
        }
        assert_eq!(service, slow);
        assert_eq!(service.attrs().len(), 1000);
        assert_eq!(service.get("5"), Some("1005"));
        assert!(matches!(
            service.check_size(),
            Err(Error::TooManyAttrs {
                len: 1000,
                max: MAX_ATTRS
            })
        ));
        // At the bound, kept; the same names again and again, one each.
        let at_bound =
            Service::with_attrs("svc", (0..MAX_ATTRS).map(|n| (n.to_string(), "x"))).unwrap();
        assert!(at_bound.check_size().is_ok());
        let again = Service::with_attrs(
            "svc",
            (0..5000).map(|n| ((n % 3).to_string(), n.to_string())),
        )
        .unwrap();
        assert_eq!(again.to_string(), "svc 0 4998 1 4999 2 4997");
    }

    #[test]
    fn persist_reads_as_strtol() {
        let persist = |value: &str| Service::with_attrs("s", [("persist", value)]).unwrap();
        assert!(persist("1").is_persistent());
        assert!(persist("\x0b\x0c\r\n\t 9").is_persistent());
        assert!(persist("-3abc").is_persistent());
        assert!(persist("99999999999999999999999").is_persistent());
        assert!(!persist("0").is_persistent());
        assert!(!persist("000").is_persistent());
        assert!(!persist("+-1").is_persistent());
        assert!(persist("1\u{a0}").is_persistent());
        assert!(!persist("\u{a0}1").is_persistent());
        assert!(!Service::new("s").unwrap().is_persistent());
        assert!(
            !Service::with_attrs("s", [("Persist", "1")])
                .unwrap()
                .is_persistent()
        );
    }

    #[test]
    fn any_service_round_trips_as_a_line() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        let alphabet = ['a', 'b', '\'', ' ', '\n', '\t', '\r', '"', 'ü', '*', '/'];
        let text = |rng: &mut Rng, min: usize| -> String {
            let len = min + rng.below(6);
            (0..len).map(|_| *rng.pick(&alphabet)).collect()
        };
        for _ in 0..3_000 {
            let name: String = text(&mut rng, 1).replace([' ', '\n', '\t', '\r', '/'], "x");
            let attrs: Vec<(String, String)> = (0..rng.below(4))
                .map(|_| (text(&mut rng, 0), text(&mut rng, 0)))
                .collect();
            let Ok(service) = Service::with_attrs(name, attrs) else {
                continue;
            };
            let line = service.to_string();
            assert_eq!(line.len(), service.line_len());
            assert_eq!(
                Service::from_words(words(&line)).unwrap(),
                service,
                "{line:?}"
            );
        }
    }
}
