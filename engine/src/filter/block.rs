//! `Block`: POE::Filter::Block.

use super::{Filter, FilterError, FrameBuffer, Framing};
use crate::value::Value;

/// Fixed-size blocks, or records behind a length prefix
/// (POE::Filter::Block).
///
/// - [`Block::fixed`]: every record is `n` bytes (POE's `BlockSize`).
/// - [`Block::length_prefixed`]: POE's default length codec, the record's
///   length in decimal ASCII, a NUL, then the record.
/// - [`Block::u32_prefixed`]: a big-endian `u32` length, then the record.
///
/// A prefix announcing more than [`max_length`](Block::max_length) (default
/// 64 MiB, POE's `MaxLength`) is [`FilterError::TooLong`], and the filter
/// skips the announced body as it arrives without buffering it, so the next
/// record is read in step. A decimal prefix that is not digits then NUL is
/// [`FilterError::Malformed`]; the filter drops the bad bytes and any
/// non-digits after them, as POE drops non-digits, and reads on.
///
/// # Examples
///
/// ```
/// use roe_engine::{Block, Filter};
///
/// let mut blocks = Block::length_prefixed();
/// let mut wire = Vec::new();
/// blocks.encode(b"hello".to_vec(), &mut wire)?;
/// assert_eq!(wire, b"5\0hello");
/// blocks.feed(&wire);
/// assert_eq!(blocks.next_record()?, Some(b"hello".to_vec()));
/// # Ok::<(), roe_engine::FilterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Block {
    frames: FrameBuffer,
}

impl Block {
    /// Records of exactly `size` bytes (POE's `BlockSize`).
    ///
    /// # Panics
    ///
    /// If `size` is zero, as POE croaks.
    pub fn fixed(size: usize) -> Block {
        assert!(size > 0, "a Block size must be at least 1");
        Block::with(Framing::Fixed(size))
    }

    /// Records behind a decimal ASCII length and a NUL (POE's default
    /// `LengthCodec`), up to 64 MiB.
    pub fn length_prefixed() -> Block {
        Block::with(Framing::Decimal)
    }

    /// Records behind a big-endian `u32` length, up to 64 MiB.
    pub fn u32_prefixed() -> Block {
        Block::with(Framing::U32Be)
    }

    /// Sets the longest record a length prefix may announce (POE's
    /// `MaxLength`). Fixed-size blocks have no use for it.
    pub fn max_length(self, bytes: usize) -> Block {
        Block {
            frames: self.frames.max_length(bytes),
        }
    }

    fn with(framing: Framing) -> Block {
        Block {
            frames: FrameBuffer::new(framing),
        }
    }
}

impl Filter for Block {
    type Record = Vec<u8>;

    fn feed(&mut self, bytes: &[u8]) {
        self.frames.feed(bytes);
    }

    fn next_record(&mut self) -> Result<Option<Vec<u8>>, FilterError> {
        Ok(self.frames.next_frame()?.map(<[u8]>::to_vec))
    }

    /// Fixed-size blocks take any whole number of blocks (POE writes
    /// whatever it is given, leaving the reader out of step); a prefixed
    /// record must be within `max_length`, as the reader requires.
    fn encode(&mut self, record: Vec<u8>, out: &mut Vec<u8>) -> Result<(), FilterError> {
        self.frames.put_prefix(record.len(), out)?;
        out.extend_from_slice(&record);
        Ok(())
    }

    /// Returns everything not yet returned as a record, prefix included;
    /// leaves the filter as new (a refused body is no longer skipped).
    fn take_pending(&mut self) -> Vec<u8> {
        self.frames.take_pending()
    }

    /// Always `Value::Bytes`.
    fn record_value(record: Vec<u8>) -> Value {
        Value::Bytes(record)
    }

    /// The bytes back.
    fn value_record(value: Value) -> Option<Vec<u8>> {
        value.into_bytes().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{Rng, drain, oks, run, same_in_any_chunks};

    fn recs(items: &[&[u8]]) -> Vec<Vec<u8>> {
        items.iter().map(|r| r.to_vec()).collect()
    }

    fn malformed(at: usize, reason: &'static str) -> FilterError {
        FilterError::Malformed { at, reason }
    }

    #[test]
    fn fixed_blocks_match_poe() {
        // POE 1.370 (BlockSize => 3): "abcdefg" | "hi" gives abc, def, ghi.
        let (got, pending) = same_in_any_chunks(|| Block::fixed(3), b"abcdefghi");
        assert_eq!(oks(got), recs(&[b"abc", b"def", b"ghi"]));
        assert!(pending.is_empty());
        let (got, pending) = same_in_any_chunks(|| Block::fixed(4), b"abcdefg");
        assert_eq!(oks(got), recs(&[b"abcd"]));
        assert_eq!(pending, b"efg");
    }

    #[test]
    fn fixed_encode_takes_whole_blocks_only() {
        let mut f = Block::fixed(3);
        let mut out = Vec::new();
        f.encode(b"abcdef".to_vec(), &mut out).unwrap();
        f.encode(Vec::new(), &mut out).unwrap();
        assert_eq!(out, b"abcdef");
        assert_eq!(
            f.encode(b"ab".to_vec(), &mut out),
            Err(FilterError::WrongSize {
                block: 3,
                length: 2
            })
        );
        assert_eq!(out, b"abcdef");
    }

    #[test]
    #[should_panic(expected = "at least 1")]
    fn zero_block_size_is_refused() {
        let _ = Block::fixed(0);
    }

    #[test]
    fn decimal_prefix_matches_poe() {
        // POE 1.370: "3\0abc5\0" | "hel" | "lo0\0" gives abc, hello, "".
        let (got, pending) = same_in_any_chunks(Block::length_prefixed, b"3\0abc5\0hello0\0");
        assert_eq!(oks(got), recs(&[b"abc", b"hello", b""]));
        assert!(pending.is_empty());
        // Leading zeros are digits like any other ("007\0" is 7).
        let (got, _) = same_in_any_chunks(Block::length_prefixed, b"007\0abcdefg");
        assert_eq!(oks(got), recs(&[b"abcdefg"]));
        // A partial record stays pending, prefix included.
        let (got, pending) = same_in_any_chunks(Block::length_prefixed, b"2\0ab10\0abc");
        assert_eq!(oks(got), recs(&[b"ab"]));
        assert_eq!(pending, b"10\0abc");
    }

    #[test]
    fn decimal_encode_matches_poe() {
        // POE 1.370: put(["abc", "", "hello"]) is "3\0abc0\05\0hello".
        let mut f = Block::length_prefixed();
        let mut out = Vec::new();
        for r in [&b"abc"[..], b"", b"hello"] {
            f.encode(r.to_vec(), &mut out).unwrap();
        }
        assert_eq!(out, b"3\0abc0\x005\0hello");
    }

    #[test]
    fn garbage_before_a_decimal_prefix_is_one_error() {
        // POE 1.370 warns "2 strange bytes removed" for "xx2\0ab" and reads
        // on; roe reports it and reads on.
        let (got, _) = same_in_any_chunks(Block::length_prefixed, b"xx2\0ab");
        assert_eq!(
            got,
            vec![
                Err(malformed(0, "length prefix does not start with a digit")),
                Ok(b"ab".to_vec())
            ]
        );
    }

    #[test]
    fn digits_not_ended_by_nul_are_malformed() {
        // POE 1.370 stalls forever on "12x3\0abc"; roe drops "12x".
        let (got, pending) = same_in_any_chunks(Block::length_prefixed, b"12x3\0abc");
        assert_eq!(
            got,
            vec![
                Err(malformed(2, "length prefix is not ended by NUL")),
                Ok(b"abc".to_vec())
            ]
        );
        assert!(pending.is_empty());
        // Non-digits right after are dropped with it, unreported.
        let (got, _) = same_in_any_chunks(Block::length_prefixed, b"1\x01zz\xff1\0q");
        assert_eq!(
            got,
            vec![
                Err(malformed(1, "length prefix is not ended by NUL")),
                Ok(b"q".to_vec())
            ]
        );
    }

    #[test]
    fn too_many_digits_are_malformed() {
        let mut input = vec![b'0'; 25];
        input.extend_from_slice(b"\x002\0ab");
        let (got, _) = same_in_any_chunks(Block::length_prefixed, &input);
        assert_eq!(
            got[0],
            Err(malformed(20, "length prefix has more than 20 digits"))
        );
        assert_eq!(got.last(), Some(&Ok(b"ab".to_vec())));
        // Twenty digits are fine.
        let mut input = vec![b'0'; 19];
        input.extend_from_slice(b"1\0z");
        let (got, _) = same_in_any_chunks(Block::length_prefixed, &input);
        assert_eq!(oks(got), recs(&[b"z"]));
    }

    #[test]
    fn oversized_announcements_are_refused_and_skipped() {
        // POE 1.370 (MaxLength => 5): "6\0abcdef2\0ab" dies "Expected size
        // of next block exceeds the limit" and then keeps waiting for the
        // six bytes; roe skips them and reads on.
        let make = || Block::length_prefixed().max_length(5);
        let (got, pending) = same_in_any_chunks(make, b"6\0abcdef2\0ab");
        assert_eq!(
            got,
            vec![
                Err(FilterError::TooLong {
                    limit: 5,
                    length: 6
                }),
                Ok(b"ab".to_vec())
            ]
        );
        assert!(pending.is_empty());
        let make = || Block::u32_prefixed().max_length(5);
        let (got, _) = same_in_any_chunks(make, b"\0\0\0\x06abcdef\0\0\0\x02ab");
        assert_eq!(
            got,
            vec![
                Err(FilterError::TooLong {
                    limit: 5,
                    length: 6
                }),
                Ok(b"ab".to_vec())
            ]
        );
    }

    #[test]
    fn huge_announcements_allocate_nothing() {
        let mut f = Block::u32_prefixed();
        f.feed(b"\xff\xff\xff\xff");
        assert_eq!(
            f.next_record(),
            Err(FilterError::TooLong {
                limit: 64 * 1024 * 1024,
                length: u32::MAX as usize
            })
        );
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..64 {
            f.feed(&chunk);
            assert_eq!(f.next_record(), Ok(None));
            assert!(f.frames.capacity() <= 64);
        }
        let mut f = Block::length_prefixed();
        f.feed(b"99999999999999999999\0");
        assert_eq!(
            f.next_record(),
            Err(FilterError::TooLong {
                limit: 64 * 1024 * 1024,
                length: usize::try_from(u64::MAX).unwrap_or(usize::MAX)
            })
        );
        f.feed(&chunk);
        assert_eq!(f.next_record(), Ok(None));
        assert!(f.frames.capacity() <= 64);
    }

    #[test]
    fn feeding_right_after_a_refusal_still_skips() {
        let mut f = Block::u32_prefixed().max_length(2);
        f.feed(b"\0\0\0\x04ab");
        assert!(matches!(f.next_record(), Err(FilterError::TooLong { .. })));
        f.feed(b"cd\0\0\0\x01z");
        assert_eq!(f.next_record(), Ok(Some(b"z".to_vec())));
    }

    #[test]
    fn hostile_garbage_stays_bounded() {
        let mut f = Block::length_prefixed();
        let chunk = vec![b'x'; 64 * 1024];
        let mut errors = 0;
        for _ in 0..160 {
            f.feed(&chunk);
            errors += drain(&mut f).len();
            assert_eq!(f.frames.buffered(), 0);
        }
        assert_eq!(errors, 1);
    }

    #[test]
    fn u32_prefix_round_trips() {
        let mut f = Block::u32_prefixed();
        let mut wire = Vec::new();
        f.encode(b"abc".to_vec(), &mut wire).unwrap();
        f.encode(Vec::new(), &mut wire).unwrap();
        assert_eq!(wire, b"\0\0\0\x03abc\0\0\0\0");
        let (got, _) = same_in_any_chunks(Block::u32_prefixed, &wire);
        assert_eq!(oks(got), recs(&[b"abc", b""]));
    }

    #[test]
    fn prefixed_encode_refuses_oversized_records() {
        for mut f in [
            Block::length_prefixed().max_length(3),
            Block::u32_prefixed().max_length(3),
        ] {
            let mut out = Vec::new();
            assert_eq!(
                f.encode(b"abcd".to_vec(), &mut out),
                Err(FilterError::TooLong {
                    limit: 3,
                    length: 4
                })
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn random_records_round_trip_in_any_chunks() {
        let mut rng = Rng::new(11);
        let records: Vec<Vec<u8>> = (0..100)
            .map(|_| {
                let len = rng.below(300);
                rng.bytes(len)
            })
            .collect();
        for make in [Block::length_prefixed as fn() -> Block, Block::u32_prefixed] {
            let mut f = make();
            let mut wire = Vec::new();
            for r in &records {
                f.encode(r.clone(), &mut wire).unwrap();
            }
            let (got, pending) = same_in_any_chunks(make, &wire);
            assert_eq!(oks(got), records);
            assert!(pending.is_empty());
        }
        let blocks: Vec<u8> = rng.bytes(7 * 50);
        let (got, _) = same_in_any_chunks(|| Block::fixed(7), &blocks);
        assert_eq!(oks(got).concat(), blocks);
    }

    #[test]
    fn random_garbage_never_panics_and_always_progresses() {
        let mut rng = Rng::new(5);
        for _ in 0..50 {
            let mut input = rng.bytes(500);
            // Salt with plausible prefixes.
            for _ in 0..20 {
                let at = rng.below(input.len());
                input[at] = b"0123456789\0"[rng.below(11)];
            }
            same_in_any_chunks(|| Block::length_prefixed().max_length(50), &input);
            same_in_any_chunks(|| Block::u32_prefixed().max_length(50), &input);
        }
    }

    #[test]
    fn take_pending_keeps_a_parsed_prefix() {
        let mut f = Block::length_prefixed();
        f.feed(b"5\0ab");
        assert_eq!(f.next_record(), Ok(None));
        assert_eq!(f.take_pending(), b"5\0ab");
        f.feed(b"1\0z");
        assert_eq!(f.next_record(), Ok(Some(b"z".to_vec())));
        // Offsets keep counting across a take.
        f.feed(b"q");
        assert_eq!(
            f.next_record(),
            Err(malformed(7, "length prefix does not start with a digit"))
        );
        let mut f = Block::u32_prefixed();
        f.feed(b"\0\0\0\x09abc");
        assert_eq!(f.next_record(), Ok(None));
        assert_eq!(f.take_pending(), b"\0\0\0\x09abc");
        let mut f = Block::fixed(4);
        let got = run(&mut f, b"abcdef", || 3);
        assert_eq!(oks(got), recs(&[b"abcd"]));
        assert_eq!(f.take_pending(), b"ef");
    }

    #[test]
    fn records_are_bytes() {
        assert_eq!(Block::record_value(vec![1]), Value::Bytes(vec![1]));
    }
}
