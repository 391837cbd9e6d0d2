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

use std::fmt;

use crate::error::Result;
use crate::quote::Quoted;
use crate::service::{Service, pairs};

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
    pairs: Vec<(String, String)>,
}

impl Query {
    /// The value that matches any value of an attribute the service has.
    pub const ANY: &'static str = "*";

    /// The query every service matches.
    pub fn all() -> Query {
        Query::default()
    }

    /// The query for `pairs`, all of which must hold.
    pub fn new<A, V>(pairs: impl IntoIterator<Item = (A, V)>) -> Query
    where
        A: Into<String>,
        V: Into<String>,
    {
        Query {
            pairs: pairs
                .into_iter()
                .map(|(a, v)| (a.into(), v.into()))
                .collect(),
        }
    }

    /// The query for the words of a `find` line, taken two by two.
    ///
    /// # Errors
    ///
    /// [`Error::OddPairs`](crate::Error::OddPairs) for an odd number of words.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::{Query, words};
    ///
    /// assert_eq!(Query::from_words(words("auth none"))?, Query::new([("auth", "none")]));
    /// assert_eq!(Query::from_words(words(""))?, Query::all());
    /// assert!(Query::from_words(words("auth")).is_err());
    /// # Ok::<(), roe_registry::Error>(())
    /// ```
    pub fn from_words<W: Into<String>>(words: impl IntoIterator<Item = W>) -> Result<Query> {
        Ok(Query {
            pairs: pairs(words)?,
        })
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
    pub(crate) fn matches_attrs(&self, attrs: &[(String, String)]) -> bool {
        self.pairs.iter().all(|(attr, wanted)| {
            attrs
                .iter()
                .any(|(a, v)| a == attr && (wanted == Query::ANY || v == wanted))
        })
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
    fn a_query_as_a_line() {
        let query = Query::new([("a b", ""), ("it's", "*")]);
        let line = query.to_string();
        assert_eq!(line, "'a b' '' 'it''s' *");
        assert_eq!(Query::from_words(words(&line)).unwrap(), query);
        assert_eq!(Query::all().to_string(), "");
    }
}
