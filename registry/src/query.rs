//! [`Query`]: registry(4)'s filter, an AND of attribute/value pairs with `*`.
//!
//! A query is a list of attribute/value pairs. A service matches when, for
//! **every** pair, it has that attribute with exactly that value, or, when
//! the value is `*`, has that attribute at all. Comparison is exact and
//! case-sensitive; there are no prefixes, patterns, OR or negation; the
//! service's name is not an attribute, so it cannot be matched; naming an
//! attribute twice asks for both conditions. A service whose value is `*`
//! holds an ordinary string (only a query's `*` is special). The empty query
//! matches every service.
//!
//! On the `find` port a query is sent as a line of `%q` words, `attr value
//! attr value ...`; an empty line asks for every service.
//!
//! # Cost
//!
//! A query is matched against every service a find looks at, and against
//! every change for each detailed watcher, so what one costs is bounded: a
//! pair given twice is kept once (it adds nothing to an AND), a query read
//! from a line holds at most [`MAX_PAIRS`] pairs, and matching one service
//! takes one pass over its attributes, each looked up among the query's
//! pairs sorted by attribute, not a pass over them per pair.

use std::collections::HashSet;
use std::fmt;

use crate::error::{Error, Result};
use crate::quote::Quoted;
use crate::service::{Service, pairs};

/// The most distinct attribute/value pairs a query read from a line (a
/// `find` line, a `watch` line) may hold; past it the query is refused
/// with [`Error::TooManyPairs`]. A pair given twice counts once.
pub const MAX_PAIRS: usize = 64;

/// A filter: services that have all of its attribute/value pairs, `*`
/// matching any value.
///
/// # Examples
///
/// ```
/// use roe_registry::{Query, Service};
///
/// let printer = Service::with_attrs("lp", [("auth", "none"), ("color", "yes")])?;
/// assert!(Query::new([("auth", "none")]).matches(&printer));
/// assert!(Query::new([("auth", "none"), ("color", "*")]).matches(&printer));
/// assert!(!Query::new([("auth", "none"), ("duplex", "*")]).matches(&printer));
/// assert!(!Query::new([("auth", "None")]).matches(&printer));
/// assert!(Query::all().matches(&printer));
/// assert_eq!(Query::new([("auth", "*"), ("note", "a b")]).to_string(), "auth * note 'a b'");
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Query {
    /// Each pair once, in the order first given.
    pairs: Vec<(String, String)>,
    /// Indexes into `pairs`, sorted by attribute (then by index).
    by_attr: Vec<usize>,
}

impl Query {
    /// The value that matches any value of an attribute the service has.
    pub const ANY: &'static str = "*";

    /// The query every service matches.
    pub fn all() -> Query {
        Query::default()
    }

    /// The query for `pairs`, all of which must hold; a pair given twice
    /// is kept once, where it first comes.
    ///
    /// No bound applies here: a query of more than [`MAX_PAIRS`] pairs
    /// works, but a registry refuses it on the wire.
    pub fn new<A, V>(pairs: impl IntoIterator<Item = (A, V)>) -> Query
    where
        A: Into<String>,
        V: Into<String>,
    {
        Query::of_pairs(
            pairs
                .into_iter()
                .map(|(a, v)| (a.into(), v.into()))
                .collect(),
        )
    }

    /// The query for `pairs` read from a line: each pair once, at most
    /// [`MAX_PAIRS`] of them.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyPairs`] past the bound.
    pub(crate) fn checked(pairs: Vec<(String, String)>) -> Result<Query> {
        let query = Query::of_pairs(pairs);
        if query.pairs.len() > MAX_PAIRS {
            return Err(Error::TooManyPairs {
                len: query.pairs.len(),
                max: MAX_PAIRS,
            });
        }
        Ok(query)
    }

    fn of_pairs(mut pairs: Vec<(String, String)>) -> Query {
        // One pass with a set, so that a line of thousands of copies of one
        // pair costs what its length does.
        let keep: Vec<bool> = {
            let mut seen = HashSet::with_capacity(pairs.len());
            pairs
                .iter()
                .map(|(a, v)| seen.insert((a.as_str(), v.as_str())))
                .collect()
        };
        let mut keep = keep.into_iter();
        pairs.retain(|_| keep.next().unwrap_or(false));
        let mut by_attr: Vec<usize> = (0..pairs.len()).collect();
        by_attr.sort_by(|&x, &y| pairs[x].0.cmp(&pairs[y].0).then(x.cmp(&y)));
        Query { pairs, by_attr }
    }

    /// The query for the words of a `find` line, taken two by two.
    ///
    /// # Errors
    ///
    /// [`Error::OddPairs`] for an odd number of words;
    /// [`Error::TooManyPairs`] for more than [`MAX_PAIRS`] distinct pairs.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::{Query, words};
    ///
    /// assert_eq!(Query::from_words(words("auth none"))?, Query::new([("auth", "none")]));
    /// assert_eq!(Query::from_words(words(""))?, Query::all());
    /// assert!(Query::from_words(words("auth")).is_err());
    /// // A pair given twice is kept once; too many distinct ones are refused.
    /// assert_eq!(Query::from_words(words(&"a * ".repeat(4000)))?, Query::new([("a", "*")]));
    /// let many: String = (0..65).map(|n| format!("a{n} * ")).collect();
    /// assert_eq!(Query::from_words(words(&many)).unwrap_err().reason(), "too many attribute/value pairs");
    /// # Ok::<(), roe_registry::Error>(())
    /// ```
    pub fn from_words<W: Into<String>>(words: impl IntoIterator<Item = W>) -> Result<Query> {
        Query::checked(pairs(words)?)
    }

    /// Its pairs, in order.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_ {
        self.pairs.iter().map(|(a, v)| (a.as_str(), v.as_str()))
    }

    /// Whether it matches every service.
    pub fn is_all(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Whether `service` matches.
    pub fn matches(&self, service: &Service) -> bool {
        self.matches_attrs(service.attr_list())
    }

    /// Whether a service with these attributes matches.
    ///
    /// One pass over `attrs`, each looked up among the pairs sorted by
    /// attribute, the pairs it satisfies crossed off a bit mask: linear in
    /// the service's attributes, logarithmic in the query's pairs.
    pub(crate) fn matches_attrs(&self, attrs: &[(String, String)]) -> bool {
        let n = self.pairs.len();
        if n == 0 {
            return true;
        }
        if n > 64 {
            // Only a query built in Rust gets here; it pays for its size.
            return self.pairs.iter().all(|(attr, wanted)| {
                attrs
                    .iter()
                    .any(|(a, v)| a == attr && (wanted == Query::ANY || v == wanted))
            });
        }
        let mut unmet: u64 = if n == 64 { u64::MAX } else { (1 << n) - 1 };
        for (attr, value) in attrs {
            let first = self
                .by_attr
                .partition_point(|&i| self.pairs[i].0.as_str() < attr.as_str());
            for &i in &self.by_attr[first..] {
                let (a, wanted) = &self.pairs[i];
                if a != attr {
                    break;
                }
                if wanted == Query::ANY || wanted == value {
                    unmet &= !(1 << i);
                }
            }
            if unmet == 0 {
                return true;
            }
        }
        false
    }
}

/// Writes the query as a `find` line, without a newline (the empty query is
/// the empty line).
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (attr, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{} {}", Quoted(attr), Quoted(value))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::MAX_LINE;
    use crate::quote::words;

    fn service(attrs: &[(&str, &str)]) -> Service {
        Service::with_attrs("svc", attrs.iter().copied()).unwrap()
    }

    #[test]
    fn matches_as_registry4_does() {
        let s = service(&[("auth", "none"), ("star", "*"), ("empty", "")]);
        let q = |pairs: &[(&str, &str)]| Query::new(pairs.iter().copied());
        assert!(q(&[]).matches(&s));
        assert!(q(&[("auth", "none")]).matches(&s));
        assert!(q(&[("auth", "*")]).matches(&s));
        assert!(q(&[("empty", "")]).matches(&s));
        assert!(q(&[("empty", "*")]).matches(&s));
        assert!(q(&[("star", "*")]).matches(&s));
        assert!(q(&[("star", "*"), ("auth", "none")]).matches(&s));
        // Repeating an attribute ANDs both conditions.
        assert!(q(&[("auth", "none"), ("auth", "*")]).matches(&s));
        assert!(!q(&[("auth", "none"), ("auth", "sha1")]).matches(&s));
        // Exact, case-sensitive, no prefixes, and the name is no attribute.
        assert!(!q(&[("auth", "non")]).matches(&s));
        assert!(!q(&[("Auth", "none")]).matches(&s));
        assert!(!q(&[("auth", "none ")]).matches(&s));
        assert!(!q(&[("missing", "*")]).matches(&s));
        assert!(!q(&[("name", "svc")]).matches(&s));
        assert!(!q(&[("auth", "**")]).matches(&s));
    }

    #[test]
    fn matches_as_the_plain_reading_does() {
        // The sorted, bit-mask match against the definition, on random
        // queries and services over a small alphabet (so that they meet).
        let mut rng = crate::rng::Rng(0x5eed_0f9a_1e00);
        let word = |rng: &mut crate::rng::Rng| ["a", "b", "c", "*", ""][rng.below(5)].to_owned();
        for _ in 0..5_000 {
            let attrs: Vec<(String, String)> = (0..rng.below(5))
                .map(|_| (word(&mut rng), word(&mut rng)))
                .collect();
            let service = Service::with_attrs("svc", attrs).unwrap();
            let pairs: Vec<(String, String)> = (0..rng.below(5))
                .map(|_| (word(&mut rng), word(&mut rng)))
                .collect();
            let plain = pairs.iter().all(|(attr, wanted)| {
                service
                    .attrs()
                    .any(|(a, v)| a == attr && (wanted == Query::ANY || v == wanted))
            });
            assert_eq!(
                Query::new(pairs.clone()).matches(&service),
                plain,
                "{pairs:?} {service}"
            );
        }
        // Past 64 pairs (a query built in Rust), the plain reading itself.
        let many: Vec<(String, String)> = (0..70).map(|n| (format!("a{n}"), "*".into())).collect();
        let all = Service::with_attrs("svc", many.iter().map(|(a, _)| (a.as_str(), "x"))).unwrap();
        assert!(Query::new(many.clone()).matches(&all));
        assert!(!Query::new(many).matches(&service(&[("a1", "x")])));
    }

    #[test]
    fn a_hostile_query_is_cheap_or_refused() {
        // A whole line of one pair: one pair.
        let line = "a * ".repeat(MAX_LINE / 4 - 1);
        let query = Query::from_words(words(&line)).unwrap();
        assert_eq!(query.pairs().len(), 1);
        // A whole line of distinct pairs: refused, with the numbers.
        let line: String = (0..2000).map(|n| format!("{n} * ")).collect();
        assert!(line.len() < MAX_LINE);
        assert!(matches!(
            Query::from_words(words(&line)),
            Err(Error::TooManyPairs {
                len: 2000,
                max: MAX_PAIRS
            })
        ));
        // At the bound, it is accepted and matches in one pass.
        let line: String = (0..MAX_PAIRS).map(|n| format!("{n} * ")).collect();
        let query = Query::from_words(words(&line)).unwrap();
        let attrs: Vec<(String, String)> = (0..MAX_PAIRS)
            .rev()
            .map(|n| (n.to_string(), "v".into()))
            .collect();
        assert!(query.matches(&Service::with_attrs("svc", attrs.clone()).unwrap()));
        assert!(!query.matches(&Service::with_attrs("svc", attrs[1..].to_vec()).unwrap()));
    }

    #[test]
    fn a_query_as_a_line() {
        let query = Query::new([("a b", ""), ("it's", "*")]);
        let line = query.to_string();
        assert_eq!(line, "'a b' '' 'it''s' *");
        assert_eq!(Query::from_words(words(&line)).unwrap(), query);
        assert_eq!(Query::all().to_string(), "");
    }
}
