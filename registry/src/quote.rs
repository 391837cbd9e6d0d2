//! registry(4)'s quoting: how words are written on a line, and how a line
//! is read back into words.
//!
//! Every line of the protocol is a list of words. Inferno writes each word
//! with `%q`: as it is when it needs no quoting, otherwise between single
//! quotes with every `'` inside doubled. A word needs quoting when it is
//! empty, or holds a `'` or any character up to and including the space
//! (space, tab, newline, carriage return, every other control character).
//! Nothing else is escaped: `"`, `\`, `*`, `=` and non-ASCII text pass as
//! they are.
//!
//! Inferno reads lines back with its tokenizer (`unquoted` in its string
//! library), and so does roe:
//!
//! - words are separated by runs of **space, tab and newline only**; a
//!   carriage return is an ordinary character (`a 1\r` gives the value
//!   `"1\r"`);
//! - a `'` opens a quoted part, in which everything is literal until the
//!   next lone `'`; `''` inside quotes stands for one `'`;
//! - quoted and unquoted parts run together into one word (`ab'c d'e` is
//!   `abc de`, `a''b` is `ab`, and `''` alone is the empty word);
//! - a quote left open is closed at the end of the input.
//!
//! Reading is one pass over the input, so hostile text costs time and memory
//! in proportion to its length and nothing more; the length itself is
//! bounded where lines are read (see [`LineReader`](crate::LineReader) and
//! [`MAX_LINE`](crate::MAX_LINE)).
//!
//! Since `%q` quotes every word holding a separator or a quote, writing any
//! list of words and reading the line back gives the same list, whatever
//! the words hold, newlines included. A newline inside quotes does not end a
//! line: [`LineReader`](crate::LineReader) splits lines at newlines outside
//! quotes, exactly where this tokenizer would see a separator.

use std::borrow::Cow;
use std::fmt;

/// Whether `word` must be written between quotes: it is empty, or holds a
/// `'` or a character up to and including the space.
///
/// # Examples
///
/// ```
/// use roe_registry::needs_quotes;
///
/// assert!(!needs_quotes("tcp!host!1234"));
/// assert!(needs_quotes(""));
/// assert!(needs_quotes("it's"));
/// assert!(needs_quotes("a b"));
/// assert!(needs_quotes("crlf\r"));
/// assert!(!needs_quotes("caf\u{e9}*=\"\\"));
/// ```
pub fn needs_quotes(word: &str) -> bool {
    word.is_empty() || word.chars().any(|c| c <= ' ' || c == '\'')
}

/// `word` as `%q` writes it: unchanged when it needs no quotes, else between
/// single quotes with each `'` doubled.
///
/// # Examples
///
/// ```
/// use roe_registry::quote;
///
/// assert_eq!(quote("tcp!host!1234"), "tcp!host!1234");
/// assert_eq!(quote("it's"), "'it''s'");
/// assert_eq!(quote(""), "''");
/// assert_eq!(quote("a b"), "'a b'");
/// assert_eq!(quote("raw!it's"), "'raw!it''s'");
/// ```
pub fn quote(word: &str) -> Cow<'_, str> {
    if needs_quotes(word) {
        Cow::Owned(Quoted(word).to_string())
    } else {
        Cow::Borrowed(word)
    }
}

/// How many bytes `word` takes as `%q` writes it.
pub(crate) fn quoted_len(word: &str) -> usize {
    if needs_quotes(word) {
        word.len() + 2 + word.bytes().filter(|&b| b == b'\'').count()
    } else {
        word.len()
    }
}

/// A word that displays as `%q` writes it, without allocating.
///
/// # Examples
///
/// ```
/// use roe_registry::Quoted;
///
/// let line = format!("{} {} {}", Quoted("fake'n service"), Quoted("auth"), Quoted(""));
/// assert_eq!(line, "'fake''n service' auth ''");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.0;
        if !needs_quotes(word) {
            return f.write_str(word);
        }
        f.write_str("'")?;
        let mut rest = word;
        while let Some(at) = rest.find('\'') {
            f.write_str(&rest[..=at])?;
            f.write_str("'")?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)?;
        f.write_str("'")
    }
}

/// The words of `line`, as registry(4) reads a line written to it.
///
/// A word is borrowed from `line` when it holds no quotes, and built only
/// when it does.
///
/// # Examples
///
/// ```
/// use roe_registry::words;
///
/// let read = |line: &str| -> Vec<String> { words(line).map(|w| w.into_owned()).collect() };
/// assert_eq!(read("svc  auth\tnone\n"), ["svc", "auth", "none"]);
/// assert_eq!(read("'it''s' '' 'a b'"), ["it's", "", "a b"]);
/// assert_eq!(read("ab'c d'e a''b"), ["abc de", "ab"]);
/// assert_eq!(read("open 'quote never closed"), ["open", "quote never closed"]);
/// assert_eq!(read("a 1\r"), ["a", "1\r"]);
/// assert!(read(" \t\n").is_empty());
/// ```
pub fn words(line: &str) -> Words<'_> {
    Words { rest: line }
}

/// The iterator returned by [`words`].
#[derive(Clone, Debug)]
pub struct Words<'a> {
    rest: &'a str,
}

/// The separators between words: space, tab and newline, nothing else.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

impl<'a> Iterator for Words<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Cow<'a, str>> {
        let text = self.rest.trim_start_matches([' ', '\t', '\n']);
        if text.is_empty() {
            self.rest = text;
            return None;
        }
        let bytes = text.as_bytes();
        // The common case: a word without quotes is a slice of the line.
        let plain = bytes
            .iter()
            .position(|&b| is_separator(b) || b == b'\'')
            .unwrap_or(bytes.len());
        if plain == bytes.len() || is_separator(bytes[plain]) {
            self.rest = &text[plain..];
            return Some(Cow::Borrowed(&text[..plain]));
        }
        // A word with quotes. Every byte looked at here is ASCII (a quote or
        // a separator), so the cuts below fall on character boundaries.
        let mut word = String::with_capacity(plain + 8);
        word.push_str(&text[..plain]);
        let mut at = plain;
        let mut quoted = false;
        let mut start = at;
        while at < bytes.len() {
            let b = bytes[at];
            if quoted {
                if b == b'\'' {
                    word.push_str(&text[start..at]);
                    if bytes.get(at + 1) == Some(&b'\'') {
                        // `''` inside quotes: one quote, and still quoted.
                        word.push('\'');
                        at += 2;
                    } else {
                        quoted = false;
                        at += 1;
                    }
                    start = at;
                    continue;
                }
            } else if b == b'\'' {
                word.push_str(&text[start..at]);
                quoted = true;
                at += 1;
                start = at;
                continue;
            } else if is_separator(b) {
                break;
            }
            at += 1;
        }
        // A quote still open at the end of the input is closed there.
        word.push_str(&text[start..at]);
        self.rest = &text[at..];
        Some(Cow::Owned(word))
    }
}

impl std::iter::FusedIterator for Words<'_> {}

/// Writes `words` as one line of `%q` words separated by single spaces,
/// without a newline.
///
/// # Examples
///
/// ```
/// use roe_registry::{quote_line, words};
///
/// let line = quote_line(["svc", "note", "it's here", "empty", ""]);
/// assert_eq!(line, "svc note 'it''s here' empty ''");
/// assert_eq!(words(&line).collect::<Vec<_>>(), ["svc", "note", "it's here", "empty", ""]);
/// ```
pub fn quote_line<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    use fmt::Write;
    let mut line = String::new();
    for (i, word) in words.into_iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        let _ = write!(line, "{}", Quoted(word));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn read(line: &str) -> Vec<String> {
        words(line).map(Cow::into_owned).collect()
    }

    #[test]
    fn the_specs_examples_in_both_directions() {
        for (word, written) in [
            ("it's", "'it''s'"),
            ("", "''"),
            ("a b", "'a b'"),
            ("raw!it's", "'raw!it''s'"),
            ("tcp!host!1234", "tcp!host!1234"),
            ("fake'n service", "'fake''n service'"),
        ] {
            assert_eq!(quote(word), written);
            assert_eq!(read(written), [word]);
        }
    }

    #[test]
    fn what_needs_quotes() {
        for c in (0..=0x20u8).map(char::from).chain(['\'']) {
            assert!(needs_quotes(&format!("a{c}b")), "{c:?}");
        }
        for word in [
            "\"", "\\", "*", "=", "x\u{7f}", "\u{85}", "\u{a0}", "日本", "a!b",
        ] {
            assert!(!needs_quotes(word), "{word:?}");
        }
    }

    #[test]
    fn quoted_and_unquoted_parts_run_together() {
        assert_eq!(read("ab'c d'e"), ["abc de"]);
        assert_eq!(read("a''b"), ["ab"]);
        assert_eq!(read("''"), [""]);
        assert_eq!(read("'' ''"), ["", ""]);
        assert_eq!(read("''''"), ["'"]);
        assert_eq!(read("'a'''"), ["a'"]);
        assert_eq!(read("x'y'z 'q'"), ["xyz", "q"]);
    }

    #[test]
    fn an_open_quote_closes_at_the_end() {
        assert_eq!(read("'"), [""]);
        assert_eq!(read("'''"), ["'"]);
        assert_eq!(read("''a'"), ["a"]);
        assert_eq!(read("a 'b c\n d"), ["a", "b c\n d"]);
        assert_eq!(read("a 'it''s"), ["a", "it's"]);
    }

    #[test]
    fn only_space_tab_and_newline_separate() {
        assert_eq!(read("a\r b\x0bc\x0cd"), ["a\r", "b\x0bc\x0cd"]);
        assert_eq!(read("\n\t a \n\n b\t"), ["a", "b"]);
        assert_eq!(read("a\u{a0}b"), ["a\u{a0}b"]);
        assert_eq!(read("'a\nb'"), ["a\nb"]);
    }

    #[test]
    fn quoted_lengths() {
        for word in ["", "a", "it's", "''", "a b", "\n", "日本"] {
            assert_eq!(quoted_len(word), quote(word).len(), "{word:?}");
        }
    }

    #[test]
    fn a_line_of_words() {
        assert_eq!(quote_line([]), "");
        assert_eq!(quote_line([""]), "''");
        assert_eq!(quote_line(["a", "b c", "'"]), "a 'b c' ''''");
    }

    /// Inferno's own tokenizer reads right to left and, when a quote is left
    /// open, appends one and starts again. Written here as it is, to check
    /// that the left-to-right reading above gives the same words.
    fn inferno_unquoted(s: &[char]) -> Vec<String> {
        let sep = |c: char| c == ' ' || c == '\t' || c == '\n';
        let text =
            |from: isize, to: isize| -> String { s[from as usize..to as usize].iter().collect() };
        let mut args: Vec<String> = Vec::new();
        let mut inquote = false;
        let mut j = s.len() as isize;
        while j > 0 {
            if sep(s[j as usize - 1]) {
                j -= 1;
                continue;
            }
            let mut word = String::new();
            let mut i = j - 1;
            while i >= 0 && (!sep(s[i as usize]) || inquote) {
                if s[i as usize] == '\'' {
                    word = text(i + 1, j) + &word;
                    j = i;
                    if !inquote || i == 0 || s[i as usize - 1] != '\'' {
                        inquote = !inquote;
                    } else {
                        i -= 1;
                    }
                }
                i -= 1;
            }
            args.insert(0, text(i + 1, j) + &word);
            j = i;
        }
        if inquote {
            let mut again = s.to_vec();
            again.push('\'');
            return inferno_unquoted(&again);
        }
        args
    }

    #[test]
    fn reads_as_infernos_tokenizer_does() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let alphabet = ['a', 'b', '\'', '\'', ' ', '\t', '\n', '\r', 'é'];
        for _ in 0..20_000 {
            let len = rng.below(12);
            let line: Vec<char> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let text: String = line.iter().collect();
            assert_eq!(read(&text), inferno_unquoted(&line), "{text:?}");
        }
    }

    #[test]
    fn any_words_round_trip() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let alphabet = [
            'a', 'Z', '0', '\'', '\'', ' ', '\t', '\n', '\r', '\0', '"', '\\', '*', 'ß', '😀',
        ];
        for _ in 0..5_000 {
            let n = rng.below(6);
            let list: Vec<String> = (0..n)
                .map(|_| {
                    let len = rng.below(8);
                    (0..len)
                        .map(|_| alphabet[rng.below(alphabet.len())])
                        .collect()
                })
                .collect();
            let line = quote_line(list.iter().map(String::as_str));
            assert_eq!(read(&line), list, "{line:?}");
        }
    }

    #[test]
    fn hostile_input_costs_one_pass() {
        // A megabyte of quotes and separators: linear, no quadratic rescans.
        let line = "'".to_string() + &"a b ".repeat(256 * 1024);
        assert_eq!(words(&line).count(), 1);
        let line = "'' ''' ".repeat(128 * 1024);
        assert!(words(&line).count() <= line.len());
        let line = "a ".repeat(512 * 1024);
        assert_eq!(words(&line).count(), 512 * 1024);
    }
}
