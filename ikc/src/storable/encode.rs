//! [`nfreeze`](super::nfreeze): a [`Value`] to a Storable network-order
//! image, as the module documentation maps them.

use std::collections::BTreeMap;

use roe_engine::Value;

use super::{MAX_DEPTH, MINOR_WRITTEN, NETWORK_ORDER, Reason, StorableError, op};

/// Storable's key flag: the key's bytes are UTF-8.
const KEY_UTF8: u8 = 0x01;

/// A value to freeze, built for the image around values it borrows: an
/// IKC message's hash around its parameters, say, frozen where they lie
/// rather than copied into one [`Value`] first. Its image is the image of
/// the `Value` it stands for ([`Tree::to_value`]).
#[derive(Debug)]
pub(crate) enum Tree<'a> {
    /// A value, borrowed.
    Borrowed(&'a Value),
    /// A value made for the image.
    Owned(Value),
    /// A list.
    List(Vec<Tree<'a>>),
    /// A hash (a [`Map`](roe_engine::Map)'s key order, which this one's
    /// is).
    Hash(BTreeMap<&'a str, Tree<'a>>),
}

impl Tree<'_> {
    /// The [`Value`] this stands for, copying what it borrows.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Tree::Borrowed(value) => (*value).clone(),
            Tree::Owned(value) => value.clone(),
            Tree::List(items) => Value::List(items.iter().map(Tree::to_value).collect()),
            Tree::Hash(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(key, tree)| ((*key).into(), tree.to_value()))
                    .collect(),
            ),
        }
    }
}

/// Writes the image of `tree` after what `out` holds. Offsets in errors
/// are into `out`.
pub(super) fn image(tree: &Tree<'_>, out: &mut Vec<u8>) -> Result<(), StorableError> {
    out.extend_from_slice(&[NETWORK_ORDER, MINOR_WRITTEN]);
    // The top level is the referenced value itself, without `SX_REF`.
    match tree {
        Tree::Borrowed(value) => top(value, out),
        Tree::Owned(value) => top(value, out),
        Tree::List(items) => list(items, 1, out, tree_element),
        Tree::Hash(entries) => hash(entries.iter().map(|(k, v)| (*k, v)), 1, out, tree_element),
    }
}

/// A value at the top level.
fn top(value: &Value, out: &mut Vec<u8>) -> Result<(), StorableError> {
    match value {
        Value::List(items) => list(items, 1, out, element),
        Value::Map(map) => hash(map.iter().map(|(k, v)| (k.as_str(), v)), 1, out, element),
        scalar => element(scalar, 0, out),
    }
}

/// A tree inside a container, `depth` levels down.
fn tree_element(tree: &Tree<'_>, depth: usize, out: &mut Vec<u8>) -> Result<(), StorableError> {
    match tree {
        Tree::Borrowed(value) => element(value, depth, out),
        Tree::Owned(value) => element(value, depth, out),
        Tree::List(items) => {
            reference(depth, out)?;
            list(items, depth + 2, out, tree_element)
        }
        Tree::Hash(entries) => {
            reference(depth, out)?;
            let entries = entries.iter().map(|(k, v)| (*k, v));
            hash(entries, depth + 2, out, tree_element)
        }
    }
}

/// A value inside a container (or a scalar at the top level), `depth`
/// levels down.
fn element(value: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), StorableError> {
    match value {
        Value::Undef => out.push(op::UNDEF),
        Value::Bool(true) => int(1, out),
        // Perl's false as `nfreeze` writes a copy of it: the empty string.
        Value::Bool(false) => out.extend_from_slice(&[op::SCALAR, 0]),
        Value::Int(n) => int(*n, out),
        Value::Float(x) => float(*x, out),
        Value::Str(text) if text.is_ascii() => {
            string(op::SCALAR, op::LSCALAR, text.as_bytes(), out)?
        }
        Value::Str(text) => string(op::UTF8STR, op::LUTF8STR, text.as_bytes(), out)?,
        Value::Bytes(bytes) => string(op::SCALAR, op::LSCALAR, bytes, out)?,
        Value::List(items) => {
            reference(depth, out)?;
            list(items, depth + 2, out, element)?;
        }
        Value::Map(map) => {
            reference(depth, out)?;
            let entries = map.iter().map(|(k, v)| (k.as_str(), v));
            hash(entries, depth + 2, out, element)?;
        }
        Value::Session(_) => return Err(not_portable("a session reference", out)),
        Value::Local(_) => return Err(not_portable("a local value", out)),
    }
    Ok(())
}

fn not_portable(what: &'static str, out: &[u8]) -> StorableError {
    StorableError::new(out.len(), Reason::NotPortable { what })
}

/// `SX_REF` for a container `depth` levels down: the reference is a level
/// and the container another, as the decoder counts them.
fn reference(depth: usize, out: &mut Vec<u8>) -> Result<(), StorableError> {
    if depth + 2 > MAX_DEPTH {
        return Err(StorableError::new(out.len(), Reason::TooDeep));
    }
    out.push(op::REF);
    Ok(())
}

/// How an element of a list or hash is written: [`element`] for a
/// [`Value`], [`tree_element`] for a [`Tree`].
type Write<T> = fn(&T, usize, &mut Vec<u8>) -> Result<(), StorableError>;

/// An array whose elements are `depth` levels down.
fn list<T>(
    items: &[T],
    depth: usize,
    out: &mut Vec<u8>,
    write: Write<T>,
) -> Result<(), StorableError> {
    out.push(op::ARRAY);
    put_len(items.len(), out)?;
    for item in items {
        write(item, depth, out)?;
    }
    Ok(())
}

/// A hash whose values are `depth` levels down, its entries in key order.
fn hash<'a, T: 'a>(
    entries: impl ExactSizeIterator<Item = (&'a str, &'a T)> + Clone,
    depth: usize,
    out: &mut Vec<u8>,
    write: Write<T>,
) -> Result<(), StorableError> {
    let flagged = !entries.clone().all(|(key, _)| key.is_ascii());
    if flagged {
        // No hash flags: the hash is not restricted.
        out.extend_from_slice(&[op::FLAG_HASH, 0]);
    } else {
        out.push(op::HASH);
    }
    put_len(entries.len(), out)?;
    for (key, item) in entries {
        // Storable writes each value before its key.
        write(item, depth, out)?;
        if flagged {
            out.push(if key.is_ascii() { 0 } else { KEY_UTF8 });
        }
        put_len(key.len(), out)?;
        out.extend_from_slice(key.as_bytes());
    }
    Ok(())
}

/// An integer: `SX_BYTE` or `SX_NETINT` when it fits, else its decimal
/// text, which is what `nfreeze` writes for a 64-bit integer.
fn int(n: i64, out: &mut Vec<u8>) {
    if let Ok(small) = i8::try_from(n) {
        out.extend_from_slice(&[op::BYTE, (i16::from(small) + 128) as u8]);
    } else if let Ok(word) = i32::try_from(n) {
        out.push(op::NETINT);
        out.extend_from_slice(&word.to_be_bytes());
    } else {
        let text = n.to_string();
        out.extend_from_slice(&[op::SCALAR, text.len() as u8]);
        out.extend_from_slice(text.as_bytes());
    }
}

/// A float: the integer it equals when it is integral (as `nfreeze` does),
/// else decimal text.
fn float(x: f64, out: &mut Vec<u8>) {
    // The bounds are -2^63 and 2^63, both exact in an f64.
    const I64_RANGE: std::ops::Range<f64> =
        -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;
    if x.fract() == 0.0 && I64_RANGE.contains(&x) {
        return int(x as i64, out);
    }
    let text = if x.is_nan() {
        // Perl's spellings, which it numifies back.
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "Inf" } else { "-Inf" }.to_owned()
    } else {
        // Rust's shortest text that reads back as the same f64, in
        // exponent form when far from 1 (`1e-7`, `1e300`), which Perl
        // numifies.
        format!("{x:?}")
    };
    out.extend_from_slice(&[op::SCALAR, text.len() as u8]);
    out.extend_from_slice(text.as_bytes());
}

/// A string: the short opcode and a one-byte length below 256 bytes, the
/// long opcode and a 32-bit length from there.
fn string(short: u8, long: u8, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), StorableError> {
    match u8::try_from(bytes.len()) {
        Ok(len) => out.extend_from_slice(&[short, len]),
        Err(_) => {
            out.push(long);
            put_len(bytes.len(), out)?;
        }
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// A length or count: Storable reads them as signed 32-bit integers.
fn put_len(len: usize, out: &mut Vec<u8>) -> Result<(), StorableError> {
    match i32::try_from(len) {
        Ok(n) => {
            out.extend_from_slice(&n.to_be_bytes());
            Ok(())
        }
        Err(_) => Err(StorableError::new(out.len(), Reason::TooLong { len })),
    }
}
