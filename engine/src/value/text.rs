//! `Str`: an immutable string that keeps short text inline.

use std::{borrow::Borrow, fmt, hash, ops::Deref, sync::Arc};

/// Bytes of text kept inline, without a heap allocation.
const INLINE: usize = 22;

/// An immutable UTF-8 string, cheap to clone.
///
/// Up to 22 bytes live inline, so posting a short string allocates nothing;
/// longer text is shared behind an `Arc`.
///
/// # Examples
///
/// ```
/// use roe_engine::Str;
///
/// let name = Str::new("counter");
/// assert_eq!(name, "counter");
/// assert_eq!(name.len(), 7); // derefs to &str
/// let long = Str::from("x".repeat(100));
/// let shared = long.clone(); // no copy of the text
/// assert_eq!(shared.as_str(), long.as_str());
/// ```
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl Str {
    /// The empty string.
    pub const EMPTY: Str = Str(Repr::Inline {
        len: 0,
        bytes: [0; INLINE],
    });

    /// Makes a `Str`, inline when it fits.
    pub fn new(text: &str) -> Str {
        if text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Str(Repr::Inline {
                len: text.len() as u8,
                bytes,
            })
        } else {
            Str(Repr::Shared(Arc::from(text)))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                // The bytes were copied from a `&str` of exactly this length.
                std::str::from_utf8(&bytes[..usize::from(*len)])
                    .expect("inline Str holds the UTF-8 it was made from")
            }
            Repr::Shared(text) => text,
        }
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Default for Str {
    fn default() -> Str {
        Str::EMPTY
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl hash::Hash for Str {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Str {
    fn from(text: &str) -> Str {
        Str::new(text)
    }
}

impl From<&String> for Str {
    fn from(text: &String) -> Str {
        Str::new(text)
    }
}

impl From<String> for Str {
    fn from(text: String) -> Str {
        if text.len() <= INLINE {
            Str::new(&text)
        } else {
            Str(Repr::Shared(Arc::from(text)))
        }
    }
}

impl From<Str> for String {
    fn from(text: Str) -> String {
        text.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_inline_and_long_text_shared() {
        let short = Str::new("twenty-two bytes, ok!!");
        assert_eq!(short.len(), INLINE);
        assert!(matches!(short.0, Repr::Inline { .. }));
        let long = Str::from("twenty-three bytes, ok!!".to_owned());
        assert!(matches!(long.0, Repr::Shared(_)));
        assert_eq!(long, "twenty-three bytes, ok!!");
    }

    #[test]
    fn multibyte_text_round_trips() {
        for text in [
            "",
            "é",
            "日本語のテキスト",
            "ünïcödé with more than 22 bytes",
        ] {
            assert_eq!(Str::new(text).as_str(), text);
        }
    }

    #[test]
    fn str_is_three_words() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
    }
}
