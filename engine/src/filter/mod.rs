//! POE's filters: pure codecs between a byte stream and records.
//!
//! A filter is fed the bytes a driver read ([`Filter::feed`]), hands back
//! complete records one at a time ([`Filter::next_record`]), and encodes
//! records for writing ([`Filter::encode`]). It does no I/O and keeps no
//! clock, so everything here is tested on byte arrays.
//!
//! - [`Line`]: lines ended by CR, LF, CRLF or LFCR, or by a literal
//!   (POE::Filter::Line).
//! - [`Stream`]: whatever arrived, as one record (POE::Filter::Stream).
//! - [`Block`]: fixed-size blocks, or records behind a length prefix
//!   (POE::Filter::Block).
//! - [`Stack`]: one filter's records as the next filter's bytes
//!   (POE::Filter::Stackable).
//! - [`FrameBuffer`]: the length-prefixed read buffer `Block` and `Speedy`
//!   share, which lends each frame's body to a decoder without a copy.
//! - [`Speedy`]: typed Rust values, length-framed, encoded with `speedy`
//!   (the role of POE::Filter::Reference).
//!
//! Filters give the same records however the stream is cut into `feed`
//! calls. Bad input never panics: it comes back as a [`FilterError`] from
//! `next_record`, after the records that preceded it, and the filter drops
//! what it must to carry on with the next record.

mod block;
mod frame;
mod line;
mod speedy;
mod stack;
mod stream;

use std::{error, fmt};

pub use self::{
    block::Block,
    frame::{FrameBuffer, Framing},
    line::Line,
    speedy::Speedy,
    stack::Stack,
    stream::Stream,
};

/// Turns a byte stream into records and records into bytes (POE::Filter).
///
/// Memory stays bounded: a filter holds at most one incomplete record, which
/// its length limit bounds, plus the records completed by bytes fed since
/// they were last taken. A caller (a wheel) takes every record after each
/// `feed`, as POE's wheels do.
///
/// # Examples
///
/// ```
/// use roe_engine::{Filter, Line};
///
/// let mut lines = Line::new();
/// lines.feed(b"hello\r\nwor");
/// assert_eq!(lines.next_record()?, Some(b"hello".to_vec()));
/// assert_eq!(lines.next_record()?, None);
/// lines.feed(b"ld\n");
/// assert_eq!(lines.next_record()?, Some(b"world".to_vec()));
///
/// let mut out = Vec::new();
/// lines.encode(b"bye".to_vec(), &mut out)?;
/// assert_eq!(out, b"bye\r\n");
/// # Ok::<(), roe_engine::FilterError>(())
/// ```
pub trait Filter {
    /// One record.
    type Record;
    /// Appends bytes received from the stream (POE's get_one_start).
    fn feed(&mut self, bytes: &[u8]);
    /// The next complete record, if one is buffered (POE's get_one).
    /// An error reports unusable input (see FilterError); the filter drops
    /// what it must so that the next call can continue, and never buffers
    /// without bound.
    fn next_record(&mut self) -> Result<Option<Self::Record>, FilterError>;
    /// Appends the encoding of `record` to `out` (POE's put).
    fn encode(&mut self, record: Self::Record, out: &mut Vec<u8>) -> Result<(), FilterError>;
    /// Removes and returns bytes fed but not yet parsed (POE's get_pending),
    /// so a stream can switch filters without losing data.
    fn take_pending(&mut self) -> Vec<u8>;
    /// A record as an event argument (wheels pass records to handlers as Values).
    fn record_value(record: Self::Record) -> crate::Value;
    /// The record an event argument made by
    /// [`record_value`](Filter::record_value) carries, so a handler gets it
    /// back typed; `None` for a value no record of this filter becomes.
    fn value_record(value: crate::Value) -> Option<Self::Record>;
}

/// Why a filter refused input or a record.
///
/// Offsets (`at`) count bytes from the first byte ever fed to the filter,
/// including bytes it dropped or handed out with
/// [`take_pending`](Filter::take_pending).
///
/// # Examples
///
/// ```
/// use roe_engine::{Filter, FilterError, Line};
///
/// let mut lines = Line::new().max_length(4);
/// lines.feed(b"toolong\nok\n");
/// assert!(matches!(lines.next_record(), Err(FilterError::TooLong { limit: 4, .. })));
/// assert_eq!(lines.next_record()?, Some(b"ok".to_vec())); // the filter reads on
/// # Ok::<(), FilterError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// A record, or the filter's buffer, is over its limit. The filter
    /// dropped the record (for input, up to where the next one starts).
    TooLong {
        /// The limit that tripped (a record's maximum length, or the buffer's).
        limit: usize,
        /// The length refused: an announced length, or what had arrived when
        /// the record was refused (a [`Line`] refuses a line as soon as it
        /// is `limit + 1` bytes long, so it reports `limit + 1`).
        length: usize,
    },
    /// Bytes that cannot start or form a record; the filter dropped them.
    Malformed {
        /// Stream offset of the first offending byte (of the frame, for a
        /// frame that does not decode).
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A record given to a fixed-size [`Block`] filter is not a whole number
    /// of blocks.
    WrongSize {
        /// The block size.
        block: usize,
        /// The record's length.
        length: usize,
    },
    /// A record cannot be encoded.
    Unencodable {
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::TooLong { limit, length } => {
                write!(f, "record of {length} bytes is over the limit of {limit}")
            }
            FilterError::Malformed { at, reason } => {
                write!(f, "malformed input at byte {at}: {reason}")
            }
            FilterError::WrongSize { block, length } => write!(
                f,
                "record of {length} bytes is not a whole number of {block}-byte blocks"
            ),
            FilterError::Unencodable { reason } => write!(f, "cannot encode the record: {reason}"),
        }
    }
}

impl error::Error for FilterError {}

/// A handler that meets a filter's error (a `put` a filter refuses, say)
/// fails with it through `?`, as [`Error::Handler`](crate::Error::Handler),
/// which keeps it as its source.
///
/// # Examples
///
/// ```
/// use roe_engine::{Block, Error, Filter};
///
/// fn frame(record: Vec<u8>) -> roe_engine::Result<Vec<u8>> {
///     let mut out = Vec::new();
///     Block::fixed(4).encode(record, &mut out)?;
///     Ok(out)
/// }
/// assert!(frame(b"abcd".to_vec()).is_ok());
/// assert!(matches!(frame(b"abc".to_vec()), Err(Error::Handler(_))));
/// ```
impl From<FilterError> for crate::Error {
    fn from(error: FilterError) -> crate::Error {
        crate::Error::Handler(Box::new(error))
    }
}

/// Drops the first `n` bytes of `buf[*head..]`, reclaiming the space once
/// enough of the front is dead that moving the rest is cheap.
fn consume(buf: &mut Vec<u8>, head: &mut usize, n: usize) {
    *head += n;
    debug_assert!(*head <= buf.len());
    if *head == buf.len() {
        buf.clear();
        *head = 0;
    } else if *head >= 4096 && *head >= buf.len() / 2 {
        buf.drain(..*head);
        *head = 0;
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers shared by the filters' tests.

    use std::fmt::Debug;

    use super::{Filter, FilterError};

    /// A small deterministic PRNG (xorshift64*), so chunkings are
    /// reproducible.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        pub(crate) fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// A number in `0..n` (`n > 0`).
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next_u64() as u8).collect()
        }
    }

    /// Takes every record the filter has, stopping at the first `None`.
    pub(crate) fn drain<F: Filter>(f: &mut F) -> Vec<Result<F::Record, FilterError>> {
        let mut out = Vec::new();
        loop {
            match f.next_record() {
                Ok(None) => return out,
                item => out.push(item.map(|r| r.expect("checked for None"))),
            }
            assert!(out.len() < 1_000_000, "filter keeps producing");
        }
    }

    /// Feeds `input` cut at the given sizes (cycled), draining after each
    /// feed as a wheel does.
    pub(crate) fn run<F: Filter>(
        f: &mut F,
        input: &[u8],
        mut size: impl FnMut() -> usize,
    ) -> Vec<Result<F::Record, FilterError>> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = size().clamp(1, rest.len());
            f.feed(&rest[..n]);
            rest = &rest[n..];
            out.extend(drain(f));
        }
        out
    }

    /// Runs `input` through fresh filters whole, a byte at a time and in
    /// several random chunkings, asserts every run gives the same records
    /// and the same pending bytes, and returns them.
    pub(crate) fn same_in_any_chunks<F>(
        make: impl Fn() -> F,
        input: &[u8],
    ) -> (Vec<Result<F::Record, FilterError>>, Vec<u8>)
    where
        F: Filter,
        F::Record: PartialEq + Debug,
    {
        let mut whole = make();
        let expected = run(&mut whole, input, || usize::MAX);
        let pending = whole.take_pending();

        let check = |label: &str, size: &mut dyn FnMut() -> usize| {
            let mut f = make();
            let got = run(&mut f, input, size);
            assert_eq!(got, expected, "records differ when fed {label}");
            assert_eq!(
                f.take_pending(),
                pending,
                "pending differs when fed {label}"
            );
        };
        check("a byte at a time", &mut || 1);
        for seed in 0..6 {
            let mut rng = Rng::new(seed);
            let max = [2, 3, 7, 16, 64, 1000][seed as usize];
            check(&format!("in chunks up to {max}"), &mut || {
                rng.below(max) + 1
            });
        }
        (expected, pending)
    }

    /// `Ok` records only, for compact assertions.
    pub(crate) fn oks<R: Debug>(items: Vec<Result<R, FilterError>>) -> Vec<R> {
        items
            .into_iter()
            .map(|r| r.expect("no error expected"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_their_numbers() {
        let e = FilterError::TooLong {
            limit: 10,
            length: 11,
        };
        assert_eq!(e.to_string(), "record of 11 bytes is over the limit of 10");
        let e = FilterError::Malformed {
            at: 7,
            reason: "bad",
        };
        assert_eq!(e.to_string(), "malformed input at byte 7: bad");
        let e = FilterError::WrongSize {
            block: 4,
            length: 6,
        };
        assert!(e.to_string().contains("6 bytes") && e.to_string().contains("4-byte"));
    }

    #[test]
    fn consume_compacts_only_when_cheap() {
        let mut buf = vec![0u8; 10_000];
        let mut head = 0;
        consume(&mut buf, &mut head, 100);
        assert_eq!((head, buf.len()), (100, 10_000));
        consume(&mut buf, &mut head, 5_000);
        assert_eq!((head, buf.len()), (0, 4_900));
        consume(&mut buf, &mut head, 4_900);
        assert_eq!((head, buf.len()), (0, 0));
    }
}
