//! `Stream`: POE::Filter::Stream.

use std::mem;

use super::{Filter, FilterError};
use crate::value::Value;

/// The identity filter (POE::Filter::Stream): whatever arrived since the
/// last record is the next record, and records are written as they are.
///
/// It holds only what was fed since records were last taken.
///
/// # Examples
///
/// ```
/// use roe_engine::{Filter, Stream};
///
/// let mut raw = Stream::new();
/// raw.feed(b"\x00\x01");
/// raw.feed(b"\x02");
/// assert_eq!(raw.next_record()?, Some(vec![0, 1, 2]));
/// assert_eq!(raw.next_record()?, None);
/// # Ok::<(), roe_engine::FilterError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stream {
    buf: Vec<u8>,
}

impl Stream {
    /// An empty filter.
    pub fn new() -> Stream {
        Stream::default()
    }
}

impl Filter for Stream {
    type Record = Vec<u8>;

    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Everything buffered, as one record; `None` when nothing is.
    fn next_record(&mut self) -> Result<Option<Vec<u8>>, FilterError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        Ok(Some(mem::take(&mut self.buf)))
    }

    fn encode(&mut self, record: Vec<u8>, out: &mut Vec<u8>) -> Result<(), FilterError> {
        if out.is_empty() {
            *out = record;
        } else {
            out.extend_from_slice(&record);
        }
        Ok(())
    }

    fn take_pending(&mut self) -> Vec<u8> {
        mem::take(&mut self.buf)
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
    use crate::filter::testing::{Rng, drain, oks, run};

    #[test]
    fn each_feed_is_one_record() {
        let mut f = Stream::new();
        f.feed(b"ab");
        assert_eq!(f.next_record(), Ok(Some(b"ab".to_vec())));
        assert_eq!(f.next_record(), Ok(None));
        f.feed(b"");
        assert_eq!(f.next_record(), Ok(None));
        // Feeds not yet taken join, as in POE.
        f.feed(b"c");
        f.feed(b"\0d");
        assert_eq!(oks(drain(&mut f)), vec![b"c\0d".to_vec()]);
    }

    #[test]
    fn any_chunking_carries_the_same_bytes() {
        let mut rng = Rng::new(3);
        let input = rng.bytes(5000);
        for max in [1, 2, 17, 4096] {
            let mut f = Stream::new();
            let got = oks(run(&mut f, &input, || rng.below(max) + 1));
            assert_eq!(got.concat(), input);
            assert!(got.iter().all(|r| !r.is_empty() && r.len() <= max));
        }
    }

    #[test]
    fn encode_concatenates_and_round_trips() {
        let mut f = Stream::new();
        let mut out = Vec::new();
        for r in [&b"ab"[..], b"", b"\xffc"] {
            f.encode(r.to_vec(), &mut out).unwrap();
        }
        assert_eq!(out, b"ab\xffc");
        f.feed(&out);
        assert_eq!(f.next_record(), Ok(Some(out)));
    }

    #[test]
    fn take_pending_empties_the_filter() {
        let mut f = Stream::new();
        f.feed(b"xyz");
        assert_eq!(f.take_pending(), b"xyz");
        assert_eq!(f.next_record(), Ok(None));
        assert!(f.take_pending().is_empty());
    }

    #[test]
    fn records_are_bytes() {
        assert_eq!(
            Stream::record_value(b"ok".to_vec()),
            Value::Bytes(b"ok".to_vec())
        );
    }
}
