//! `Speedy`: typed Rust values over a stream, the role POE::Filter::Reference
//! plays for Perl data.

use std::{any::Any, fmt, marker::PhantomData};

use speedy::{IsEof, LittleEndian, Readable, Writable};

use super::{Filter, FilterError, FrameBuffer, Framing};
use crate::value::Value;

/// The default largest frame body: 16 MiB.
const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Typed values, one per frame (the role of POE::Filter::Reference).
///
/// A frame is the body's length as a little-endian `u32`, then the body:
/// the value's `speedy` encoding, little-endian. Where POE's Reference
/// filter freezes any Perl structure with Storable, this one carries one
/// Rust type, so both ends agree on it at compile time.
///
/// A frame announcing more than [`max_frame`](Speedy::max_frame) bytes
/// (default 16 MiB) is [`FilterError::TooLong`] before any of its body is
/// buffered, and the body is skipped as it arrives. A body that does not
/// decode as exactly one `T` is [`FilterError::Malformed`] and is dropped.
/// Either way the next frame is read in step.
///
/// # Examples
///
/// ```
/// use roe_engine::{Filter, Speedy};
///
/// let mut frames = Speedy::<(u32, String)>::new();
/// let mut wire = Vec::new();
/// frames.encode((7, "seven".into()), &mut wire)?;
/// frames.feed(&wire);
/// assert_eq!(frames.next_record()?, Some((7, "seven".to_string())));
/// # Ok::<(), roe_engine::FilterError>(())
/// ```
pub struct Speedy<T> {
    frames: FrameBuffer,
    _record: PhantomData<fn() -> T>,
}

impl<T> Speedy<T> {
    /// A filter for frames of up to 16 MiB.
    pub fn new() -> Speedy<T> {
        Speedy {
            frames: FrameBuffer::new(Framing::U32Le).max_length(DEFAULT_MAX_FRAME),
            _record: PhantomData,
        }
    }

    /// Sets the largest frame body accepted and written (at most
    /// `u32::MAX`, which the prefix can express).
    pub fn max_frame(self, bytes: usize) -> Speedy<T> {
        Speedy {
            frames: self.frames.max_length(bytes),
            _record: PhantomData,
        }
    }

    /// Decodes the next whole frame as a value that may borrow from the
    /// read buffer (a `&str` or `&[u8]` field is not copied); the value
    /// lives until the filter is used again.
    ///
    /// # Errors
    ///
    /// As [`next_record`](Filter::next_record).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{Filter, Speedy};
    ///
    /// let mut wire = Vec::new();
    /// Speedy::<(u8, String)>::new().encode((1, "one".into()), &mut wire)?;
    /// let mut frames = Speedy::<(u8, String)>::new();
    /// frames.feed(&wire);
    /// let borrowed: Option<(u8, &str)> = frames.next_borrowed()?;
    /// assert_eq!(borrowed, Some((1, "one")));
    /// # Ok::<(), roe_engine::FilterError>(())
    /// ```
    pub fn next_borrowed<'a, B>(&'a mut self) -> Result<Option<B>, FilterError>
    where
        B: Readable<'a, LittleEndian>,
    {
        let Some((body, at)) = self.frames.next_frame_at()? else {
            return Ok(None);
        };
        let (decoded, used) =
            B::read_with_length_from_buffer_with_ctx(LittleEndian::default(), body);
        match decoded {
            Ok(value) if used == body.len() => Ok(Some(value)),
            Ok(_) => Err(FilterError::Malformed {
                at,
                reason: "frame has bytes left over after the value",
            }),
            Err(e) if e.is_eof() => Err(FilterError::Malformed {
                at,
                reason: "frame ends before the value does",
            }),
            Err(_) => Err(FilterError::Malformed {
                at,
                reason: "frame does not decode as the expected type",
            }),
        }
    }
}

impl<T> Default for Speedy<T> {
    fn default() -> Speedy<T> {
        Speedy::new()
    }
}

impl<T> Clone for Speedy<T> {
    fn clone(&self) -> Speedy<T> {
        Speedy {
            frames: self.frames.clone(),
            _record: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Speedy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Speedy")
            .field("type", &std::any::type_name::<T>())
            .field("frames", &self.frames)
            .finish()
    }
}

impl<T> Filter for Speedy<T>
where
    T: for<'a> Readable<'a, LittleEndian> + Writable<LittleEndian> + Any + Send + Sync,
{
    type Record = T;

    fn feed(&mut self, bytes: &[u8]) {
        self.frames.feed(bytes);
    }

    fn next_record(&mut self) -> Result<Option<T>, FilterError> {
        self.next_borrowed::<T>()
    }

    /// Writes one frame; a value whose encoding is over `max_frame` is
    /// refused, as the reading end would refuse it.
    fn encode(&mut self, record: T, out: &mut Vec<u8>) -> Result<(), FilterError> {
        let length = record
            .bytes_needed()
            .map_err(|_| FilterError::Unencodable {
                reason: "speedy cannot size the value",
            })?;
        let start = out.len();
        self.frames.put_prefix(length, out)?;
        let body = out.len();
        out.resize(body + length, 0);
        if record
            .write_to_buffer_with_ctx(LittleEndian::default(), &mut out[body..])
            .is_err()
        {
            out.truncate(start);
            return Err(FilterError::Unencodable {
                reason: "speedy cannot write the value",
            });
        }
        Ok(())
    }

    /// Returns the bytes of frames not yet returned, prefix included; leaves
    /// the filter as new (a refused body is no longer skipped).
    fn take_pending(&mut self) -> Vec<u8> {
        self.frames.take_pending()
    }

    /// The value as [`Value::Local`]: it stays in this process.
    fn record_value(record: T) -> Value {
        Value::local(record)
    }

    /// The local value back to the `T` it holds.
    fn value_record(value: Value) -> Option<T> {
        value.take_local().ok()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::filter::testing::{Rng, drain, oks, run, same_in_any_chunks};

    #[derive(Debug, Clone, PartialEq, speedy::Readable, speedy::Writable)]
    struct Point {
        name: String,
        xy: (i32, i32),
        tags: Vec<u8>,
    }

    #[derive(Debug, Clone, PartialEq, speedy::Readable, speedy::Writable)]
    enum Msg {
        Ping(u64),
        Text(String),
        Map(BTreeMap<String, Vec<u32>>),
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn frames_are_a_le_length_then_the_speedy_encoding() {
        let mut f = Speedy::<u32>::new();
        let mut out = Vec::new();
        f.encode(0x0102_0304, &mut out).unwrap();
        assert_eq!(out, [4, 0, 0, 0, 4, 3, 2, 1]);
        let mut f = Speedy::<String>::new();
        let mut out = Vec::new();
        f.encode("hi".into(), &mut out).unwrap();
        assert_eq!(out, [6, 0, 0, 0, 2, 0, 0, 0, b'h', b'i']);
        f.feed(&out);
        assert_eq!(f.next_record(), Ok(Some("hi".to_string())));
    }

    #[test]
    fn values_round_trip_in_any_chunks() {
        let mut rng = Rng::new(9);
        let msgs: Vec<Msg> = (0..60)
            .map(|i| match i % 3 {
                0 => Msg::Ping(rng.next_u64()),
                1 => Msg::Text("é".repeat(rng.below(20))),
                _ => Msg::Map(
                    (0..rng.below(5))
                        .map(|k| (k.to_string(), vec![rng.next_u64() as u32; k]))
                        .collect(),
                ),
            })
            .collect();
        let mut f = Speedy::<Msg>::new();
        let mut wire = Vec::new();
        for m in &msgs {
            f.encode(m.clone(), &mut wire).unwrap();
        }
        let (got, pending) = same_in_any_chunks(Speedy::<Msg>::new, &wire);
        assert_eq!(oks(got), msgs);
        assert!(pending.is_empty());

        let p = Point {
            name: "origin".into(),
            xy: (-1, 2),
            tags: vec![0, 255],
        };
        let mut f = Speedy::<Point>::new();
        let mut wire = Vec::new();
        f.encode(p.clone(), &mut wire).unwrap();
        f.feed(&wire);
        assert_eq!(f.next_record(), Ok(Some(p)));
    }

    #[test]
    fn oversized_frames_are_refused_before_buffering() {
        let mut f = Speedy::<Vec<u8>>::new();
        f.feed(&u32::MAX.to_le_bytes());
        assert_eq!(
            f.next_record(),
            Err(FilterError::TooLong {
                limit: 16 * 1024 * 1024,
                length: u32::MAX as usize
            })
        );
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..32 {
            f.feed(&chunk);
            assert_eq!(f.next_record(), Ok(None));
            assert!(f.frames.capacity() <= 64);
        }
        // The skipped body is dropped exactly; the next frame is read.
        let make = || Speedy::<u16>::new().max_frame(2);
        let mut wire = frame(b"abc");
        wire.extend(frame(&7u16.to_le_bytes()));
        let (got, pending) = same_in_any_chunks(make, &wire);
        assert_eq!(
            got,
            vec![
                Err(FilterError::TooLong {
                    limit: 2,
                    length: 3
                }),
                Ok(7)
            ]
        );
        assert!(pending.is_empty());
    }

    #[test]
    fn undecodable_frames_are_malformed_and_dropped() {
        let make = Speedy::<Msg>::new;
        // Variant 9 does not exist; a string that is not UTF-8; a length
        // past the body; a byte left over; then a good frame.
        let mut wire = frame(&[9, 0, 0, 0]);
        wire.extend(frame(&[1, 0, 0, 0, 1, 0, 0, 0, 0xff]));
        wire.extend(frame(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]));
        wire.extend(frame(&[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
        wire.extend(frame(&[0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]));
        let (got, _) = same_in_any_chunks(make, &wire);
        assert_eq!(
            got,
            vec![
                Err(FilterError::Malformed {
                    at: 0,
                    reason: "frame does not decode as the expected type"
                }),
                Err(FilterError::Malformed {
                    at: 8,
                    reason: "frame does not decode as the expected type"
                }),
                Err(FilterError::Malformed {
                    at: 21,
                    reason: "frame ends before the value does"
                }),
                Err(FilterError::Malformed {
                    at: 33,
                    reason: "frame has bytes left over after the value"
                }),
                Ok(Msg::Ping(5)),
            ]
        );
    }

    #[test]
    fn hostile_inner_lengths_allocate_nothing() {
        // A Vec<u64> claiming 2^32 - 1 elements in an 8-byte body.
        let mut f = Speedy::<Vec<u64>>::new();
        f.feed(&frame(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
        assert!(matches!(
            f.next_record(),
            Err(FilterError::Malformed { at: 0, .. })
        ));
        let mut f = Speedy::<String>::new();
        f.feed(&frame(&[0xff, 0xff, 0xff, 0x7f]));
        assert!(matches!(
            f.next_record(),
            Err(FilterError::Malformed { .. })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let len = rng.below(64);
            let body = rng.bytes(len);
            let mut f = Speedy::<Msg>::new();
            f.feed(&frame(&body));
            let got = drain(&mut f);
            assert_eq!(got.len(), 1);
        }
        // A stream of garbage: bounded, and always making progress.
        let input = rng.bytes(20_000);
        let mut f = Speedy::<Point>::new().max_frame(1000);
        run(&mut f, &input, || 97);
        assert!(f.frames.buffered() <= 1004);
    }

    #[test]
    fn encode_refuses_values_over_max_frame() {
        let mut f = Speedy::<String>::new().max_frame(5);
        let mut out = vec![1];
        assert_eq!(
            f.encode("toolong".into(), &mut out),
            Err(FilterError::TooLong {
                limit: 5,
                length: 11
            })
        );
        assert_eq!(out, [1]);
        f.encode("a".into(), &mut out).unwrap();
        assert_eq!(out, [1, 5, 0, 0, 0, 1, 0, 0, 0, b'a']);
    }

    /// A value speedy refuses to write: `sized` says whether it can still
    /// tell its size.
    #[derive(Debug, PartialEq)]
    struct Refuses {
        sized: bool,
    }

    impl<'a> Readable<'a, LittleEndian> for Refuses {
        fn read_from<R: speedy::Reader<'a, LittleEndian>>(
            reader: &mut R,
        ) -> Result<Refuses, speedy::Error> {
            Ok(Refuses {
                sized: reader.read_u8()? != 0,
            })
        }
    }

    impl Writable<LittleEndian> for Refuses {
        fn write_to<W: ?Sized + speedy::Writer<LittleEndian>>(
            &self,
            _: &mut W,
        ) -> Result<(), speedy::Error> {
            Err(speedy::Error::custom("refused"))
        }

        fn bytes_needed(&self) -> Result<usize, speedy::Error> {
            if self.sized {
                Ok(1)
            } else {
                Err(speedy::Error::custom("refused"))
            }
        }
    }

    #[test]
    fn unwritable_values_are_unencodable_and_leave_out_alone() {
        let mut f = Speedy::<Refuses>::new();
        let mut out = vec![9];
        assert_eq!(
            f.encode(Refuses { sized: false }, &mut out),
            Err(FilterError::Unencodable {
                reason: "speedy cannot size the value"
            })
        );
        assert_eq!(
            f.encode(Refuses { sized: true }, &mut out),
            Err(FilterError::Unencodable {
                reason: "speedy cannot write the value"
            })
        );
        assert_eq!(out, [9]);
        f.feed(&frame(&[1]));
        assert_eq!(f.next_record(), Ok(Some(Refuses { sized: true })));
    }

    #[test]
    fn take_pending_returns_partial_frames() {
        let mut f = Speedy::<u64>::new();
        let mut wire = Vec::new();
        f.encode(1, &mut wire).unwrap();
        f.encode(2, &mut wire).unwrap();
        f.feed(&wire[..15]);
        assert_eq!(f.next_record(), Ok(Some(1)));
        assert_eq!(f.next_record(), Ok(None));
        assert_eq!(f.take_pending(), &wire[12..15]);
        assert_eq!(f.next_record(), Ok(None));
        assert!(f.take_pending().is_empty());
    }

    #[test]
    fn records_become_local_values() {
        let v = Speedy::<Point>::record_value(Point {
            name: "p".into(),
            xy: (0, 0),
            tags: vec![],
        });
        assert_eq!(
            v.downcast_ref::<Point>().map(|p| p.name.as_str()),
            Some("p")
        );
        assert!(!v.is_portable());
    }
}
