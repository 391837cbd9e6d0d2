//! `Stack`: POE::Filter::Stackable.

use super::{Filter, FilterError};
use crate::value::Value;

/// Two filters in a pipeline (POE::Filter::Stackable): the records of the
/// `lower` one, nearest the stream, are the bytes fed to the `upper` one.
///
/// On input the stream goes through `lower` then `upper`; on output a record
/// is encoded by `upper`, and the result is encoded as one record by
/// `lower`. Nest stacks for deeper pipelines:
/// `Stack<Block, Stack<Line, Speedy<T>>>`.
///
/// # Examples
///
/// Lines carried inside length-prefixed blocks:
///
/// ```
/// use roe_engine::{Block, Filter, Line, Stack};
///
/// let mut stack = Stack::new(Block::length_prefixed(), Line::new());
/// let mut wire = Vec::new();
/// stack.encode(b"hi".to_vec(), &mut wire)?;
/// assert_eq!(wire, b"4\0hi\r\n");
/// stack.feed(b"8\0one\ntwo\n");
/// assert_eq!(stack.next_record()?, Some(b"one".to_vec()));
/// assert_eq!(stack.next_record()?, Some(b"two".to_vec()));
/// assert_eq!(stack.next_record()?, None);
/// # Ok::<(), roe_engine::FilterError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stack<A, B> {
    lower: A,
    upper: B,
}

impl<A, B> Stack<A, B> {
    /// Stacks `upper` on `lower`.
    pub fn new(lower: A, upper: B) -> Stack<A, B> {
        Stack { lower, upper }
    }

    /// The filter nearest the stream.
    pub fn lower(&self) -> &A {
        &self.lower
    }

    /// The filter nearest the stream, to reconfigure.
    pub fn lower_mut(&mut self) -> &mut A {
        &mut self.lower
    }

    /// The filter whose records come out.
    pub fn upper(&self) -> &B {
        &self.upper
    }

    /// The filter whose records come out, to reconfigure.
    pub fn upper_mut(&mut self) -> &mut B {
        &mut self.upper
    }

    /// The two filters, lower first.
    pub fn into_parts(self) -> (A, B) {
        (self.lower, self.upper)
    }
}

impl<A, B> Filter for Stack<A, B>
where
    A: Filter<Record = Vec<u8>>,
    B: Filter,
{
    type Record = B::Record;

    fn feed(&mut self, bytes: &[u8]) {
        self.lower.feed(bytes);
    }

    /// Takes from `upper` first; when it has nothing, moves one record up
    /// from `lower` and tries again. An error from either comes out in its
    /// turn, and the next call carries on.
    fn next_record(&mut self) -> Result<Option<B::Record>, FilterError> {
        loop {
            if let Some(record) = self.upper.next_record()? {
                return Ok(Some(record));
            }
            match self.lower.next_record()? {
                Some(bytes) => self.upper.feed(&bytes),
                None => return Ok(None),
            }
        }
    }

    fn encode(&mut self, record: B::Record, out: &mut Vec<u8>) -> Result<(), FilterError> {
        let mut middle = Vec::new();
        self.upper.encode(record, &mut middle)?;
        self.lower.encode(middle, out)
    }

    /// Returns what both filters hold, in stream order as far as it can be
    /// rebuilt: first `upper`'s leftover bytes, which arrived earlier,
    /// encoded by `lower` as one record so that they read back through a
    /// stack like this one; then `lower`'s raw pending bytes.
    ///
    /// When `upper` holds nothing, which is the usual case between records,
    /// this is exactly the unread stream. Otherwise `upper`'s bytes may have
    /// come in several of `lower`'s records, and `lower`'s encoding of them
    /// (a Line's output terminator, say) need not be the bytes that carried
    /// them; if `lower` refuses to encode them, they are returned as they
    /// are. (POE 1.370's Stackable returns only the upper filter's bytes,
    /// unframed, and loses the lower filter's.)
    fn take_pending(&mut self) -> Vec<u8> {
        let held = self.upper.take_pending();
        let raw = self.lower.take_pending();
        if held.is_empty() {
            return raw;
        }
        let mut out = Vec::new();
        if self.lower.encode(held.clone(), &mut out).is_err() {
            out = held;
        }
        out.extend_from_slice(&raw);
        out
    }

    fn record_value(record: B::Record) -> Value {
        B::record_value(record)
    }

    fn value_record(value: Value) -> Option<B::Record> {
        B::value_record(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{
        Block, Line, Speedy, Stream,
        testing::{Rng, drain, oks, same_in_any_chunks},
    };

    #[test]
    fn lines_inside_blocks_in_any_chunks() {
        let make = || Stack::new(Block::length_prefixed(), Line::new());
        let (got, pending) = same_in_any_chunks(make, b"4\0a\nb\n3\0c\r\n2\0d\n");
        assert_eq!(
            oks(got),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
        assert!(pending.is_empty());
    }

    #[test]
    fn a_line_may_span_blocks() {
        let mut s = Stack::new(Block::fixed(2), Line::new());
        s.feed(b"ab");
        assert_eq!(s.next_record(), Ok(None));
        s.feed(b"c\nd");
        assert_eq!(s.next_record(), Ok(Some(b"abc".to_vec())));
        assert_eq!(s.next_record(), Ok(None));
    }

    #[test]
    fn encode_goes_upper_then_lower() {
        let mut s = Stack::new(Block::u32_prefixed(), Speedy::<u16>::new());
        let mut out = Vec::new();
        s.encode(0x0201, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 6, 2, 0, 0, 0, 1, 2]);
        let (got, _) = same_in_any_chunks(
            || Stack::new(Block::u32_prefixed(), Speedy::<u16>::new()),
            &out.repeat(3),
        );
        assert_eq!(oks(got), vec![0x0201; 3]);
    }

    #[test]
    fn nested_stacks_round_trip() {
        let make = || {
            Stack::new(
                Block::u32_prefixed(),
                Stack::new(Line::new().output_literal("\n"), Stream::new()),
            )
        };
        let mut s = make();
        let mut wire = Vec::new();
        let mut rng = Rng::new(4);
        let records: Vec<Vec<u8>> = (0..50)
            .map(|_| {
                let len = rng.below(10) + 1;
                (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
            })
            .collect();
        for r in &records {
            s.encode(r.clone(), &mut wire).unwrap();
        }
        s.feed(&wire);
        assert_eq!(oks(drain(&mut s)), records);
    }

    #[test]
    fn errors_from_either_filter_come_out_in_turn() {
        let mut s = Stack::new(
            Block::length_prefixed().max_length(4),
            Line::new().max_length(2),
        );
        s.feed(b"x4\0ab\nc9\x00123456789");
        s.feed(b"3\0de\n");
        let got = drain(&mut s);
        assert_eq!(
            got,
            vec![
                Err(FilterError::Malformed {
                    at: 0,
                    reason: "length prefix does not start with a digit"
                }),
                Ok(b"ab".to_vec()),
                Err(FilterError::TooLong {
                    limit: 4,
                    length: 9
                }),
                Err(FilterError::TooLong {
                    limit: 2,
                    length: 3
                }),
            ]
        );
        // "c" and "de" made one line of three bytes, over the upper limit;
        // the stack reads on.
        s.feed(b"2\0f\n");
        assert_eq!(oks(drain(&mut s)), vec![b"f".to_vec()]);
    }

    #[test]
    fn take_pending_rebuilds_stream_order() {
        // Nothing held above: exactly the unread stream.
        let mut s = Stack::new(Block::length_prefixed(), Line::new());
        s.feed(b"2\0a\n5\0bc");
        assert_eq!(s.next_record(), Ok(Some(b"a".to_vec())));
        assert_eq!(s.take_pending(), b"5\0bc");

        // The line filter holds "xy"; it is framed as a block, then the
        // block filter's raw bytes follow.
        let mut s = Stack::new(Block::length_prefixed(), Line::new());
        s.feed(b"2\0xy3\0zz");
        assert_eq!(s.next_record(), Ok(None));
        let pending = s.take_pending();
        assert_eq!(pending, b"2\0xy3\0zz");
        // Fed to a fresh stack, it reads as the original stream would.
        let mut t = Stack::new(Block::length_prefixed(), Line::new());
        t.feed(&pending);
        t.feed(b"\n");
        assert_eq!(oks(drain(&mut t)), vec![b"xyzz".to_vec()]);

        // A lower filter that cannot frame the bytes gets them raw.
        let mut s = Stack::new(Block::fixed(4), Line::new());
        s.feed(b"ab\ncdefgh");
        assert_eq!(s.next_record(), Ok(Some(b"ab".to_vec())));
        assert_eq!(s.next_record(), Ok(None));
        assert_eq!(s.take_pending(), b"cdefgh");
    }

    #[test]
    fn records_use_the_upper_value() {
        type S = Stack<Stream, Line>;
        assert_eq!(S::record_value(b"ok".to_vec()), Value::from("ok"));
    }
}
