//! Reading frames from untrusted bytes: hand-written `speedy::Readable`
//! implementations that read exactly what speedy's derived `Writable`
//! writes, with limits speedy's derived readers do not have.
//!
//! speedy reads a `Vec<T>` by checking that `count × T::minimum_bytes_needed()`
//! bytes remain and then reserving room for `count` elements at once. Each
//! element takes more room in memory than its minimum on the wire (a
//! `WireValue` is 32 bytes in memory and can be 4 on the wire), and a list
//! nested in a list reserves again for the bytes after it, which the outer
//! list already counted: a frame of nested lists, each claiming as many
//! elements as the rest of the frame could hold, reserves memory quadratic in
//! the frame's size, and nests as deep as the frame is long, so the
//! recursion can also overflow the stack. A reader that cannot tell how many
//! bytes remain (a stream) would reserve the claimed count outright.
//!
//! So here: every length or count is checked against the bytes that remain
//! ([`Malformed::LengthPastEnd`]) before anything is read; no room is
//! reserved from a claim, collections grow as their elements are actually
//! read (so memory is bounded by what the frame really holds); text is
//! borrowed from the buffer, or copied in bounded chunks from a reader that
//! cannot lend; and lists and maps nest at most [`MAX_VALUE_DEPTH`] deep.

use std::borrow::Cow;

use speedy::{Context, Endianness, IsEof, Readable, Reader};

use super::{
    MAX_VALUE_DEPTH,
    frame::{Frame, FrameError, Malformed, Origin, Outcome, Published, SessionRef, Target},
};
use crate::WireValue;

/// The speedy context [`Frame::decode`] reads with: little-endian, and
/// errors that are [`FrameError`]s, so what went wrong keeps its variant.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Wire;

impl Context for Wire {
    type Error = FrameError;

    fn endianness(&self) -> Endianness {
        Endianness::LittleEndian
    }
}

impl From<speedy::Error> for FrameError {
    /// speedy's own errors, from its readers. For the reads made here they
    /// all mean the input ran out: inside a field, or (before reading) a
    /// body shorter than a tag.
    fn from(_: speedy::Error) -> FrameError {
        FrameError::Truncated
    }
}

impl IsEof for FrameError {
    fn is_eof(&self) -> bool {
        matches!(self, FrameError::Truncated)
    }
}

impl From<Malformed> for speedy::Error {
    /// For reading frames in speedy's plain contexts (as the engine's
    /// `Speedy` filter does): the reason travels as the error's text.
    fn from(malformed: Malformed) -> speedy::Error {
        speedy::Error::custom(malformed)
    }
}

/// The largest piece of text copied at once from a reader that cannot lend
/// its bytes, so a claimed length costs only what actually arrives.
const COPY_CHUNK: usize = 16 * 1024;

/// Reads a `u32` length or count of items each at least `min_each` bytes
/// long on the wire, refusing it if the rest of the input cannot hold them.
fn read_count<'a, C, R>(r: &mut R, min_each: usize) -> Result<usize, C::Error>
where
    C: Context,
    C::Error: From<Malformed>,
    R: Reader<'a, C>,
{
    let claimed = r.read_u32()?;
    // u32 × a small constant fits u64, and so usize on 64-bit targets;
    // saturating keeps a 32-bit target's answer "too long".
    let needed = usize::try_from(u64::from(claimed) * min_each as u64).unwrap_or(usize::MAX);
    if r.can_read_at_least(needed) == Some(false) {
        return Err(Malformed::LengthPastEnd { claimed }.into());
    }
    usize::try_from(claimed).map_err(|_| Malformed::LengthPastEnd { claimed }.into())
}

/// Reads a count, then that many items with `item`.
fn read_seq<'a, C, R, T>(
    r: &mut R,
    min_each: usize,
    mut item: impl FnMut(&mut R) -> Result<T, C::Error>,
) -> Result<Vec<T>, C::Error>
where
    C: Context,
    C::Error: From<Malformed>,
    R: Reader<'a, C>,
{
    let count = read_count(r, min_each)?;
    // No room reserved from the count (see the module's docs): the vector
    // grows with the items read, each of which took bytes of its own.
    let mut items = Vec::new();
    for _ in 0..count {
        items.push(item(r)?);
    }
    Ok(items)
}

fn read_bytes<'a, C, R>(r: &mut R) -> Result<Cow<'a, [u8]>, C::Error>
where
    C: Context,
    C::Error: From<Malformed>,
    R: Reader<'a, C>,
{
    let length = read_count(r, 1)?;
    if let Some(bytes) = r.read_bytes_borrowed(length) {
        return Ok(Cow::Borrowed(bytes?));
    }
    let mut bytes = Vec::new();
    while bytes.len() < length {
        let start = bytes.len();
        bytes.resize(start + (length - start).min(COPY_CHUNK), 0);
        r.read_bytes(&mut bytes[start..])?;
    }
    Ok(Cow::Owned(bytes))
}

fn read_text<'a, C, R>(r: &mut R) -> Result<Cow<'a, str>, C::Error>
where
    C: Context,
    C::Error: From<Malformed>,
    R: Reader<'a, C>,
{
    match read_bytes(r)? {
        Cow::Borrowed(bytes) => std::str::from_utf8(bytes).map(Cow::Borrowed).ok(),
        Cow::Owned(bytes) => String::from_utf8(bytes).map(Cow::Owned).ok(),
    }
    .ok_or_else(|| Malformed::NotUtf8.into())
}

fn read_texts<'a, C, R>(r: &mut R) -> Result<Vec<Cow<'a, str>>, C::Error>
where
    C: Context,
    C::Error: From<Malformed>,
    R: Reader<'a, C>,
{
    read_seq(r, 4, read_text)
}

/// speedy's `bool` (and `Option` flag): zero is false, anything else true.
fn read_flag<'a, C: Context, R: Reader<'a, C>>(r: &mut R) -> Result<bool, C::Error> {
    Ok(r.read_u8()? != 0)
}

fn read_array<'a, C: Context, R: Reader<'a, C>, const N: usize>(
    r: &mut R,
) -> Result<[u8; N], C::Error> {
    let mut array = [0; N];
    r.read_bytes(&mut array)?;
    Ok(array)
}

fn read_option<'a, C, R, T>(
    r: &mut R,
    item: impl FnOnce(&mut R) -> Result<T, C::Error>,
) -> Result<Option<T>, C::Error>
where
    C: Context,
    R: Reader<'a, C>,
{
    if read_flag(r)? {
        item(r).map(Some)
    } else {
        Ok(None)
    }
}

fn read_args<'a, C, R>(r: &mut R) -> Result<Vec<WireValue<'a>>, C::Error>
where
    C: Context,
    C::Error: From<Malformed>,
    R: Reader<'a, C>,
{
    read_seq(r, 4, |r| read_value(r, MAX_VALUE_DEPTH))
}

/// Reads a [`WireValue`] whose lists and maps may nest `depth` more
/// levels. `WireValue`'s own `speedy::Readable` is this, from
/// [`MAX_VALUE_DEPTH`].
pub(crate) fn read_value<'a, C, R>(r: &mut R, depth: usize) -> Result<WireValue<'a>, C::Error>
where
    C: Context,
    C::Error: From<Malformed>,
    R: Reader<'a, C>,
{
    Ok(match r.read_u32()? {
        0 => WireValue::Undef,
        1 => WireValue::Bool(read_flag(r)?),
        2 => WireValue::Int(r.read_i64()?),
        3 => WireValue::Float(r.read_f64()?),
        4 => WireValue::Str(read_text(r)?),
        5 => WireValue::Bytes(read_bytes(r)?),
        6 => {
            let inner = depth.checked_sub(1).ok_or(Malformed::TooDeep)?;
            WireValue::List(read_seq(r, 4, |r| read_value(r, inner))?)
        }
        7 => {
            let inner = depth.checked_sub(1).ok_or(Malformed::TooDeep)?;
            WireValue::Map(read_seq(r, 8, |r| {
                Ok((read_text(r)?, read_value(r, inner)?))
            })?)
        }
        8 => WireValue::Session {
            kernel: r.read_u16()?,
            number: r.read_u64()?,
        },
        tag => return Err(Malformed::UnknownTag { of: "value", tag }.into()),
    })
}

impl<'a, C> Readable<'a, C> for Published<'a>
where
    C: Context,
    C::Error: From<Malformed>,
{
    fn read_from<R: Reader<'a, C>>(r: &mut R) -> Result<Published<'a>, C::Error> {
        Ok(Published {
            session: read_text(r)?,
            states: read_texts(r)?,
        })
    }

    fn minimum_bytes_needed() -> usize {
        8
    }
}

impl<'a, C> Readable<'a, C> for SessionRef<'a>
where
    C: Context,
    C::Error: From<Malformed>,
{
    fn read_from<R: Reader<'a, C>>(r: &mut R) -> Result<SessionRef<'a>, C::Error> {
        match r.read_u32()? {
            0 => Ok(SessionRef::Alias(read_text(r)?)),
            1 => Ok(SessionRef::Number(r.read_u64()?)),
            tag => Err(Malformed::UnknownTag {
                of: "session reference",
                tag,
            }
            .into()),
        }
    }

    fn minimum_bytes_needed() -> usize {
        8
    }
}

impl<'a, C> Readable<'a, C> for Target<'a>
where
    C: Context,
    C::Error: From<Malformed>,
{
    fn read_from<R: Reader<'a, C>>(r: &mut R) -> Result<Target<'a>, C::Error> {
        Ok(Target {
            session: SessionRef::read_from(r)?,
            state: read_text(r)?,
        })
    }

    fn minimum_bytes_needed() -> usize {
        12
    }
}

impl<'a, C> Readable<'a, C> for Origin<'a>
where
    C: Context,
    C::Error: From<Malformed>,
{
    fn read_from<R: Reader<'a, C>>(r: &mut R) -> Result<Origin<'a>, C::Error> {
        Ok(Origin {
            session: SessionRef::read_from(r)?,
            state: read_option(r, read_text)?,
        })
    }

    fn minimum_bytes_needed() -> usize {
        9
    }
}

impl<'a, C> Readable<'a, C> for Outcome<'a>
where
    C: Context,
    C::Error: From<Malformed>,
{
    fn read_from<R: Reader<'a, C>>(r: &mut R) -> Result<Outcome<'a>, C::Error> {
        Ok(match r.read_u32()? {
            0 => Outcome::Returned(read_value(r, MAX_VALUE_DEPTH)?),
            1 => Outcome::NoHandler,
            2 => Outcome::NoSession,
            3 => Outcome::Died(read_text(r)?),
            4 => Outcome::Refused(read_text(r)?),
            tag => return Err(Malformed::UnknownTag { of: "outcome", tag }.into()),
        })
    }

    fn minimum_bytes_needed() -> usize {
        4
    }
}

impl<'a, C> Readable<'a, C> for Frame<'a>
where
    C: Context,
    C::Error: From<Malformed>,
{
    /// Reads the fields in the order the derived `Writable` writes them
    /// (the order of the declarations).
    fn read_from<R: Reader<'a, C>>(r: &mut R) -> Result<Frame<'a>, C::Error> {
        Ok(match r.read_u32()? {
            0 => Frame::Hello {
                max_version: r.read_u16()?,
                min_version: r.read_u16()?,
                capabilities: r.read_u64()?,
                kernel_id: read_text(r)?,
                names: read_texts(r)?,
                pid: r.read_u32()?,
                nonce: read_array(r)?,
                published: read_seq(r, 8, Published::read_from)?,
            },
            1 => Frame::Welcome {
                version: r.read_u16()?,
                capabilities: r.read_u64()?,
                kernel_id: read_text(r)?,
                names: read_texts(r)?,
                pid: r.read_u32()?,
                nonce: read_array(r)?,
                proof: read_option(r, read_array)?,
                published: read_seq(r, 8, Published::read_from)?,
            },
            2 => Frame::Proof {
                proof: read_array(r)?,
            },
            3 => Frame::Refused {
                reason: read_text(r)?,
            },
            4 => Frame::Post {
                to: Target::read_from(r)?,
                args: read_args(r)?,
                from: read_option(r, Origin::read_from)?,
            },
            5 => Frame::Call {
                id: r.read_u64()?,
                to: Target::read_from(r)?,
                args: read_args(r)?,
                from: read_option(r, Origin::read_from)?,
            },
            6 => Frame::Reply {
                id: r.read_u64()?,
                outcome: Outcome::read_from(r)?,
            },
            7 => Frame::Publish {
                session: read_text(r)?,
                states: read_texts(r)?,
            },
            8 => Frame::Retract {
                session: read_text(r)?,
                states: read_texts(r)?,
            },
            9 => Frame::Subscribe {
                id: r.read_u64()?,
                session: read_text(r)?,
                state: read_option(r, read_text)?,
            },
            10 => Frame::Subscribed {
                id: r.read_u64()?,
                accepted: read_flag(r)?,
            },
            11 => Frame::Unsubscribe {
                session: read_text(r)?,
            },
            12 => Frame::Ping { id: r.read_u64()? },
            13 => Frame::Pong { id: r.read_u64()? },
            14 => Frame::Goodbye {
                reason: read_text(r)?,
            },
            15 => Frame::Error {
                op: read_text(r)?,
                message: read_text(r)?,
            },
            tag => return Err(Malformed::UnknownTag { of: "frame", tag }.into()),
        })
    }

    fn minimum_bytes_needed() -> usize {
        4
    }
}

#[cfg(test)]
mod tests {
    use speedy::{LittleEndian, Writable};

    use super::*;

    /// A deterministic xorshift generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn value(rng: &mut Rng, depth: usize) -> WireValue<'static> {
        match rng.below(if depth == 0 { 7 } else { 9 }) {
            0 => WireValue::Undef,
            1 => WireValue::Bool(rng.below(2) == 1),
            2 => WireValue::Int(rng.next() as i64),
            3 => WireValue::Float(rng.below(1000) as f64 / 8.0),
            4 => WireValue::Str("é".repeat(rng.below(4)).into()),
            5 => WireValue::Bytes(vec![0xff; rng.below(4)].into()),
            6 => WireValue::Session {
                kernel: rng.next() as u16,
                number: rng.next(),
            },
            7 => WireValue::List((0..rng.below(3)).map(|_| value(rng, depth - 1)).collect()),
            _ => WireValue::Map(
                (0..rng.below(3))
                    .map(|i| (i.to_string().into(), value(rng, depth - 1)))
                    .collect(),
            ),
        }
    }

    fn ours(bytes: &[u8]) -> Result<(WireValue<'_>, usize), FrameError> {
        let (result, used) = Probe::read_with_length_from_buffer_with_ctx(Wire, bytes);
        result.map(|Probe(v)| (v, used))
    }

    /// One value read by [`read_value`], to compare with speedy's derived
    /// reader of [`WireValue`].
    struct Probe<'a>(WireValue<'a>);

    /// [`WireValue`] as speedy's derived reader reads it: the same variants
    /// in the same order, so the same encoding. `WireValue`'s own reader is
    /// [`read_value`]; this copy is what it is compared with.
    #[derive(Debug, PartialEq, speedy::Readable)]
    enum Derived<'a> {
        Undef,
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(Cow<'a, str>),
        Bytes(Cow<'a, [u8]>),
        List(Vec<Derived<'a>>),
        Map(Vec<(Cow<'a, str>, Derived<'a>)>),
        Session { kernel: u16, number: u64 },
    }

    impl<'a> From<WireValue<'a>> for Derived<'a> {
        /// Exhaustive over `WireValue`, so a variant added there cannot be
        /// forgotten here.
        fn from(value: WireValue<'a>) -> Derived<'a> {
            match value {
                WireValue::Undef => Derived::Undef,
                WireValue::Bool(b) => Derived::Bool(b),
                WireValue::Int(n) => Derived::Int(n),
                WireValue::Float(x) => Derived::Float(x),
                WireValue::Str(s) => Derived::Str(s),
                WireValue::Bytes(b) => Derived::Bytes(b),
                WireValue::List(items) => {
                    Derived::List(items.into_iter().map(Derived::from).collect())
                }
                WireValue::Map(entries) => Derived::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k, Derived::from(v)))
                        .collect(),
                ),
                WireValue::Session { kernel, number } => Derived::Session { kernel, number },
            }
        }
    }

    impl<'a> Readable<'a, Wire> for Probe<'a> {
        fn read_from<R: Reader<'a, Wire>>(r: &mut R) -> Result<Probe<'a>, FrameError> {
            read_value(r, MAX_VALUE_DEPTH).map(Probe)
        }
    }

    #[test]
    fn values_read_as_speedys_derived_reader_reads_them() {
        // Every value, every truncation and every bit flip of it: where
        // speedy's reader accepts the bytes, this one reads the same value
        // from the same bytes; where it refuses, so does this one.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let v = value(&mut rng, 3);
            let bytes = v.write_to_vec_with_ctx(LittleEndian::default()).unwrap();
            let (back, used) = ours(&bytes).unwrap();
            assert_eq!((&back, used), (&v, bytes.len()));
            // The whole value too, so the copy's encoding is checked.
            let mut variants: Vec<Vec<u8>> =
                (0..=bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            for bit in 0..bytes.len() * 8 {
                let mut flipped = bytes.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                variants.push(flipped);
            }
            for input in &variants {
                let (theirs, their_used) =
                    Derived::read_with_length_from_buffer_with_ctx(LittleEndian::default(), input);
                match (ours(input), theirs) {
                    (Ok((a, n)), Ok(b)) => assert_eq!((Derived::from(a), n), (b, their_used)),
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("{input:?}: ours {a:?}, speedy's {b:?}"),
                }
            }
        }
    }

    #[test]
    fn lists_nest_at_most_max_value_depth() {
        let mut v = WireValue::Undef;
        for _ in 0..MAX_VALUE_DEPTH {
            v = WireValue::List(vec![v]);
        }
        let bytes = v.write_to_vec_with_ctx(LittleEndian::default()).unwrap();
        assert_eq!(ours(&bytes).unwrap().0, v);
        let deeper = WireValue::Map(vec![("k".into(), v)]);
        let bytes = deeper
            .write_to_vec_with_ctx(LittleEndian::default())
            .unwrap();
        assert_eq!(
            ours(&bytes).unwrap_err(),
            FrameError::Malformed(Malformed::TooDeep)
        );
    }

    #[test]
    fn frames_read_in_speedys_plain_context_too() {
        let frame = Frame::Subscribe {
            id: 3,
            session: "echo".into(),
            state: Some("ping".into()),
        };
        let bytes = frame
            .write_to_vec_with_ctx(LittleEndian::default())
            .unwrap();
        let back = Frame::read_from_buffer_with_ctx(LittleEndian::default(), &bytes).unwrap();
        assert_eq!(back, frame);
        // A malformed body's reason survives as the error's text.
        let error =
            Frame::read_from_buffer_with_ctx(LittleEndian::default(), &[77, 0, 0, 0]).unwrap_err();
        assert_eq!(error.to_string(), "unknown frame tag 77");
    }

    /// A reader that cannot lend its bytes nor tell how many remain, as a
    /// stream reader cannot.
    #[test]
    fn a_stream_reader_copies_text_in_bounded_chunks() {
        let text = "x".repeat(3 * COPY_CHUNK + 5);
        let frame = Frame::Goodbye {
            reason: text.as_str().into(),
        };
        let bytes = frame
            .write_to_vec_with_ctx(LittleEndian::default())
            .unwrap();
        let back = Frame::read_from_stream_unbuffered_with_ctx(LittleEndian::default(), &bytes[..])
            .unwrap();
        assert_eq!(back, frame);
        assert!(matches!(
            back,
            Frame::Goodbye {
                reason: Cow::Owned(_)
            }
        ));
        // A claimed length with nothing behind it: refused when the bytes
        // run out, after copying only what there was.
        let claim = [14, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, b'a'];
        let error =
            Frame::read_from_stream_unbuffered_with_ctx(LittleEndian::default(), &claim[..])
                .unwrap_err();
        assert!(error.is_eof());
    }
}
