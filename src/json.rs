//! JSON for `roe ikc`: the argument read into a [`Value`], the answer
//! written as one line.
//!
//! The reader is strict RFC 8259: one value, whitespace around it and
//! nothing else; no comments, trailing commas, single quotes, `NaN` or
//! leading zeros; strings are checked escape by escape (a lone surrogate
//! is an error) and may not hold control characters; an object may not
//! name a key twice. Containers nest at most [`MAX_DEPTH`] deep, the most
//! the IKC wire carries, so a deep input is refused at once, never by a
//! stack overflow.
//!
//! | JSON | [`Value`] |
//! |---|---|
//! | `null` | `Undef` |
//! | `true`, `false` | `Bool` |
//! | a number with no fraction or exponent, within `i64` | `Int` |
//! | any other number (finite as `f64`) | `Float` |
//! | a string | `Str` |
//! | an array | `List` |
//! | an object | `Map` |
//!
//! The writer writes the same mapping back, compactly, keys in the map's
//! order, and for what JSON has no form of: a `Float` that is not finite
//! as `null`; `Bytes` as a string when they are UTF-8, else as an array of
//! their numbers (0 to 255); a session or a local value (which never
//! crosses the wire) as its `Display` text in a string.

use std::{fmt, fmt::Write};

use roe::{Map, Str, Value};

/// How deep arrays and objects may nest: a scalar is depth 0, a container
/// one more than its deepest element, as on the IKC wire.
pub const MAX_DEPTH: usize = roe_ikc::native::MAX_VALUE_DEPTH;

/// Why text is not JSON, and where (a byte offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// The byte offset in the text.
    pub at: usize,
    /// What is wrong there.
    pub problem: Problem,
}

/// What is wrong with text that is not JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The text ends inside a value.
    UnexpectedEnd,
    /// Something else was expected here.
    Expected(&'static str),
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A backslash escape JSON does not have.
    BadEscape,
    /// A `\u` escape of half a surrogate pair.
    LoneSurrogate,
    /// A control character (below U+0020) inside a string.
    ControlCharacter,
    /// A number that is infinite as an `f64`.
    NumberOutOfRange,
    /// An object names this key twice.
    DuplicateKey(String),
    /// Text after the value.
    TrailingText,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not JSON at byte {}: ", self.at)?;
        match &self.problem {
            Problem::UnexpectedEnd => f.write_str("the text ends inside a value"),
            Problem::Expected(what) => write!(f, "expected {what}"),
            Problem::TooDeep => write!(f, "arrays and objects nest deeper than {MAX_DEPTH}"),
            Problem::BadEscape => f.write_str("not an escape JSON has"),
            Problem::LoneSurrogate => f.write_str("half a UTF-16 surrogate pair"),
            Problem::ControlCharacter => f.write_str("a control character in a string"),
            Problem::NumberOutOfRange => f.write_str("a number out of range"),
            Problem::DuplicateKey(key) => write!(f, "the key {key:?} again"),
            Problem::TrailingText => f.write_str("text after the value"),
        }
    }
}

impl std::error::Error for JsonError {}

/// Reads `text` as one JSON value.
///
/// # Errors
///
/// A [`JsonError`] saying where and why `text` is not JSON (as the module
/// documentation describes it).
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let mut reader = Reader { text, at: 0 };
    let value = reader.value(0)?;
    reader.skip_whitespace();
    if reader.at < text.len() {
        return Err(reader.error(Problem::TrailingText));
    }
    Ok(value)
}

/// `value` as one line of JSON.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

struct Reader<'t> {
    text: &'t str,
    at: usize,
}

impl Reader<'_> {
    fn error(&self, problem: Problem) -> JsonError {
        JsonError {
            at: self.at,
            problem,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Takes `byte` after optional whitespace, or fails expecting `what`.
    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), JsonError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b) if b == byte => {
                self.at += 1;
                Ok(())
            }
            Some(_) => Err(self.error(Problem::Expected(what))),
            None => Err(self.error(Problem::UnexpectedEnd)),
        }
    }

    /// A value, `depth` containers deep.
    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error(Problem::UnexpectedEnd)),
            Some(b'[' | b'{') if depth == MAX_DEPTH => Err(self.error(Problem::TooDeep)),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => self.object(depth + 1),
            Some(b'"') => self.string().map(|s| Value::Str(Str::from(s))),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Undef),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error(Problem::Expected("a value"))),
        }
    }

    fn literal(&mut self, word: &'static str, value: Value) -> Result<Value, JsonError> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error(Problem::Expected(word)))
        }
    }

    /// An array whose elements are `depth` containers deep.
    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::List(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::List(items));
                }
                Some(_) => return Err(self.error(Problem::Expected("`,` or `]`"))),
                None => return Err(self.error(Problem::UnexpectedEnd)),
            }
        }
    }

    /// An object whose values are `depth` containers deep.
    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.at += 1;
        let mut map = Map::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Map(map));
        }
        loop {
            self.skip_whitespace();
            let key_at = self.at;
            match self.peek() {
                Some(b'"') => {}
                Some(_) => return Err(self.error(Problem::Expected("a string key"))),
                None => return Err(self.error(Problem::UnexpectedEnd)),
            }
            let key = self.string()?;
            self.expect(b':', "`:`")?;
            let value = self.value(depth)?;
            if map.contains_key(key.as_str()) {
                return Err(JsonError {
                    at: key_at,
                    problem: Problem::DuplicateKey(key),
                });
            }
            map.insert(Str::from(key), value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Map(map));
                }
                Some(_) => return Err(self.error(Problem::Expected("`,` or `}`"))),
                None => return Err(self.error(Problem::UnexpectedEnd)),
            }
        }
    }

    /// A string, from its opening quote.
    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let run = self.at;
            // Every byte that ends a run is ASCII, so runs are whole
            // characters of the (UTF-8) text.
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.at += 1;
            }
            out.push_str(&self.text[run..self.at]);
            match self.peek() {
                None => return Err(self.error(Problem::UnexpectedEnd)),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                Some(_) => return Err(self.error(Problem::ControlCharacter)),
            }
        }
    }

    /// The character a backslash escape stands for, from its backslash.
    fn escape(&mut self) -> Result<char, JsonError> {
        let start = self.at;
        self.at += 1;
        let Some(letter) = self.peek() else {
            return Err(self.error(Problem::UnexpectedEnd));
        };
        self.at += 1;
        Ok(match letter {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let lone = JsonError {
                    at: start,
                    problem: Problem::LoneSurrogate,
                };
                let high = self.hex4()?;
                let code = match high {
                    0xd800..=0xdbff => {
                        if !self.text[self.at..].starts_with("\\u") {
                            return Err(lone);
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(lone);
                        }
                        0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(lone),
                    code => code,
                };
                // Surrogates are excluded above, so this is a character.
                char::from_u32(code).ok_or(lone)?
            }
            _ => {
                return Err(JsonError {
                    at: start,
                    problem: Problem::BadEscape,
                });
            }
        })
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self.text.get(self.at..self.at + 4);
        match digits.filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit())) {
            Some(digits) => {
                self.at += 4;
                u32::from_str_radix(digits, 16).map_err(|_| self.error(Problem::BadEscape))
            }
            None => Err(self.error(Problem::BadEscape)),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error(Problem::Expected("a digit"))),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error(Problem::Expected("a digit after `.`")));
            }
            integral = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(Problem::Expected("a digit in the exponent")));
            }
            integral = false;
        }
        let text = &self.text[start..self.at];
        if integral && let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Int(n));
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::Float(x)),
            _ => Err(JsonError {
                at: start,
                problem: Problem::NumberOutOfRange,
            }),
        }
    }
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Undef => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // Debug keeps a float a float (`1.0`, `1e300`), in JSON's syntax.
        Value::Float(x) if x.is_finite() => {
            let _ = write!(out, "{x:?}");
        }
        Value::Float(_) => out.push_str("null"),
        Value::Str(s) => write_string(s, out),
        Value::Bytes(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => write_string(text, out),
            Err(_) => {
                out.push('[');
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{b}");
                }
                out.push(']');
            }
        },
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
        Value::Session(_) | Value::Local(_) => write_string(&value.to_string(), out),
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> (usize, Problem) {
        let e = parse(text).unwrap_err();
        (e.at, e.problem)
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Str::from(*k), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn scalars_read_as_the_table_says() {
        assert_eq!(parse("null").unwrap(), Value::Undef);
        assert_eq!(parse(" true ").unwrap(), Value::Bool(true));
        assert_eq!(parse("false").unwrap(), Value::Bool(false));
        assert_eq!(parse("0").unwrap(), Value::Int(0));
        assert_eq!(parse("-42").unwrap(), Value::Int(-42));
        assert_eq!(parse("9223372036854775807").unwrap(), Value::Int(i64::MAX));
        assert_eq!(parse("-9223372036854775808").unwrap(), Value::Int(i64::MIN));
        // Past i64, or with a fraction or an exponent: a float.
        assert_eq!(
            parse("9223372036854775808").unwrap(),
            Value::Float(9_223_372_036_854_775_808.0)
        );
        assert_eq!(parse("1.0").unwrap(), Value::Float(1.0));
        assert_eq!(parse("1e3").unwrap(), Value::Float(1000.0));
        assert_eq!(parse("-0.5E-1").unwrap(), Value::Float(-0.05));
        assert_eq!(parse("\"hi\"").unwrap(), Value::from("hi"));
    }

    #[test]
    fn strings_unescape_every_escape_and_surrogate_pairs() {
        assert_eq!(
            parse(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC\ud83d\ude00é""#).unwrap(),
            Value::from("a\"b\\c/d\u{8}\u{c}\n\r\té€😀é")
        );
    }

    #[test]
    fn containers_nest_and_keep_their_order_and_keys() {
        assert_eq!(
            parse(r#" [1, [], {}, {"b": [true], "a": null}] "#).unwrap(),
            Value::List(vec![
                Value::Int(1),
                Value::List(vec![]),
                Value::Map(Map::new()),
                map(&[
                    ("a", Value::Undef),
                    ("b", Value::List(vec![Value::Bool(true)]))
                ]),
            ])
        );
    }

    #[test]
    fn malformed_text_is_refused_with_where_and_why() {
        use Problem::*;
        let cases: &[(&str, usize, Problem)] = &[
            ("", 0, UnexpectedEnd),
            ("   ", 3, UnexpectedEnd),
            ("[1,", 3, UnexpectedEnd),
            ("[1 2]", 3, Expected("`,` or `]`")),
            ("[1,]", 3, Expected("a value")),
            ("{\"a\" 1}", 5, Expected("`:`")),
            ("{\"a\":1,}", 7, Expected("a string key")),
            ("{a:1}", 1, Expected("a string key")),
            ("{\"a\":1 \"b\":2}", 7, Expected("`,` or `}`")),
            ("{\"a\":1,\"a\":2}", 7, DuplicateKey("a".into())),
            ("'single'", 0, Expected("a value")),
            ("tru", 0, Expected("true")),
            ("nul", 0, Expected("null")),
            ("NaN", 0, Expected("a value")),
            ("01", 1, TrailingText),
            ("1.", 2, Expected("a digit after `.`")),
            (".5", 0, Expected("a value")),
            ("-", 1, Expected("a digit")),
            ("1e", 2, Expected("a digit in the exponent")),
            ("1e400", 0, NumberOutOfRange),
            ("+1", 0, Expected("a value")),
            ("\"abc", 4, UnexpectedEnd),
            ("\"a\tb\"", 2, ControlCharacter),
            ("\"\\x\"", 1, BadEscape),
            ("\"\\u12\"", 3, BadEscape),
            ("\"\\ud800\"", 1, LoneSurrogate),
            ("\"\\ud800\\u0041\"", 1, LoneSurrogate),
            ("\"\\udc00\"", 1, LoneSurrogate),
            ("1 2", 2, TrailingText),
            ("{} // comment", 3, TrailingText),
        ];
        for (text, at, expected) in cases {
            assert_eq!(problem(text), (*at, expected.clone()), "{text:?}");
        }
        assert_eq!(
            parse("[1,]").unwrap_err().to_string(),
            "not JSON at byte 3: expected a value"
        );
    }

    #[test]
    fn nesting_is_bounded_without_recursing_to_the_end() {
        let deepest = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&deepest).is_ok());
        let deeper = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(problem(&deeper), (MAX_DEPTH, Problem::TooDeep));
        let objects = format!(
            "{}1{}",
            "{\"k\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(problem(&objects).1, Problem::TooDeep);
        // 100,000 opening brackets: refused at the limit, not by a stack
        // overflow.
        assert_eq!(problem(&"[".repeat(100_000)), (MAX_DEPTH, Problem::TooDeep));
    }

    #[test]
    fn the_writer_escapes_and_writes_one_line() {
        let value = map(&[
            ("text", Value::from("quote\" back\\ nl\n tab\t bell\u{7} é")),
            ("n", Value::Int(-3)),
            ("x", Value::Float(1.0)),
            ("big", Value::Float(1e300)),
            ("nan", Value::Float(f64::NAN)),
            ("none", Value::Undef),
            ("list", Value::List(vec![Value::Bool(false)])),
        ]);
        let text = to_string(&value);
        assert_eq!(
            text,
            r#"{"big":1e300,"list":[false],"n":-3,"nan":null,"none":null,"text":"quote\" back\\ nl\n tab\t bell\u0007 é","x":1.0}"#
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn bytes_are_a_string_when_utf8_and_numbers_otherwise() {
        assert_eq!(to_string(&Value::Bytes(b"ok".to_vec())), r#""ok""#);
        assert_eq!(to_string(&Value::Bytes(vec![0, 0xff, 7])), "[0,255,7]");
    }

    #[test]
    fn what_is_written_reads_back() {
        let value = Value::List(vec![
            Value::Int(i64::MIN),
            Value::Float(-0.25),
            Value::Float(2.0),
            Value::from("\u{0}\u{1f}\u{2028}😀"),
            map(&[("", Value::Undef)]),
        ]);
        assert_eq!(parse(&to_string(&value)).unwrap(), value);
    }
}
