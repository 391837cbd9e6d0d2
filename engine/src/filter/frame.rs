//! `FrameBuffer`: the one read buffer every length-prefixed codec shares,
//! which hands out each frame's body borrowed from the bytes read.

use std::mem;

use super::FilterError;

/// Digits accepted in a decimal length prefix (leading zeros included);
/// enough for any `u64`.
const MAX_DIGITS: usize = 20;

/// How frames are cut out of a stream.
///
/// # Examples
///
/// ```
/// use roe_engine::{FrameBuffer, Framing};
///
/// let mut wire = Vec::new();
/// for framing in [Framing::Decimal, Framing::U32Be] {
///     FrameBuffer::new(framing).put_prefix(3, &mut wire)?;
///     wire.extend_from_slice(b"abc");
/// }
/// assert_eq!(wire, b"3\0abc\0\0\0\x03abc");
/// let mut blocks = FrameBuffer::new(Framing::Fixed(2));
/// blocks.feed(b"abc");
/// assert_eq!(blocks.next_frame()?, Some(&b"ab"[..]));
/// # Ok::<(), roe_engine::FilterError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// Every frame is exactly this many bytes; no prefix (POE's
    /// `BlockSize`).
    Fixed(usize),
    /// The body's length in decimal ASCII, a NUL, then the body (POE's
    /// default `LengthCodec`, and IKC's framing).
    Decimal,
    /// The body's length as a big-endian `u32`, then the body.
    U32Be,
    /// The body's length as a little-endian `u32`, then the body (the
    /// `Speedy` filter's frames).
    U32Le,
}

/// Bytes read from a stream, cut into frames by their length prefix.
///
/// Feed it what was read; [`next_frame`](FrameBuffer::next_frame) hands
/// out each whole frame's body as a slice of the buffer, so a decoder can
/// borrow strings and bytes from it instead of copying them (the slice is
/// valid until the buffer is used again). A prefix announcing more than
/// the limit is [`FilterError::TooLong`] before any of the body is
/// buffered, and the body is skipped as it arrives; a decimal prefix that
/// is not digits then NUL is [`FilterError::Malformed`], the bad bytes
/// (and non-digits after them, as POE drops them) go, and reading goes on.
/// Memory stays bounded by the limit and what one read brings.
///
/// # Examples
///
/// ```
/// use roe_engine::{FrameBuffer, Framing};
///
/// let mut frames = FrameBuffer::new(Framing::Decimal).max_length(1024);
/// frames.feed(b"5\0hello3\0ab");
/// assert_eq!(frames.next_frame()?, Some(&b"hello"[..]));
/// assert_eq!(frames.next_frame()?, None); // "ab" of 3 so far
/// frames.feed(b"c");
/// assert_eq!(frames.next_frame()?, Some(&b"abc"[..]));
/// # Ok::<(), roe_engine::FilterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameBuffer {
    framing: Framing,
    max_length: usize,
    buf: Vec<u8>,
    /// Start of the bytes not yet parsed.
    head: usize,
    /// Stream offset of `buf[head]`.
    offset: usize,
    /// The parsed prefix at `head`: its length and the body's.
    expected: Option<(usize, usize)>,
    /// Bytes of the frame last handed out, dropped at the next use.
    lent: usize,
    /// Bytes of a refused frame's body still to drop.
    skip: u64,
    /// After a malformed decimal prefix: drop non-digits without reporting
    /// them again.
    resync: bool,
}

impl FrameBuffer {
    /// A buffer for `framing`, with the default limit of 64 MiB (POE's
    /// `MaxLength`).
    ///
    /// # Panics
    ///
    /// For [`Framing::Fixed`] frames of zero bytes, which would never
    /// consume anything.
    pub fn new(framing: Framing) -> FrameBuffer {
        assert!(
            framing != Framing::Fixed(0),
            "fixed frames must be at least 1 byte"
        );
        FrameBuffer {
            framing,
            max_length: 64 * 1024 * 1024,
            buf: Vec::new(),
            head: 0,
            offset: 0,
            expected: None,
            lent: 0,
            skip: 0,
            resync: false,
        }
    }

    /// Sets the longest body a prefix may announce.
    pub fn max_length(mut self, bytes: usize) -> FrameBuffer {
        self.max_length = bytes;
        self
    }

    /// The framing.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The longest body, taking the prefix's own range into account.
    pub fn limit(&self) -> usize {
        match self.framing {
            Framing::U32Be | Framing::U32Le => self.max_length.min(u32::MAX as usize),
            _ => self.max_length,
        }
    }

    /// Bytes held that are not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.head - self.lent
    }

    /// Bytes allocated, to check that refused input is not kept.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.release();
        // Drop a refused body here rather than after copying it.
        self.skip_buffered();
        let bytes = if self.skip > 0 {
            let n = usize::try_from(self.skip).map_or(bytes.len(), |s| s.min(bytes.len()));
            self.skip -= n as u64;
            self.offset = self.offset.wrapping_add(n);
            &bytes[n..]
        } else {
            bytes
        };
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's body, borrowed from the buffer, with the
    /// stream offset where its frame began.
    ///
    /// # Errors
    ///
    /// [`FilterError::TooLong`] for a prefix over the limit and
    /// [`FilterError::Malformed`] for a decimal prefix that is not one;
    /// the buffer drops what it must and the next call reads on.
    pub fn next_frame_at(&mut self) -> Result<Option<(&[u8], usize)>, FilterError> {
        self.release();
        self.skip_buffered();
        if self.skip > 0 {
            return Ok(None);
        }
        let (prefix, length) = match self.expected {
            Some(expected) => expected,
            None => match self.prefix()? {
                Some(expected) => expected,
                None => return Ok(None),
            },
        };
        // The prefix stays in the buffer until the frame is whole, so
        // `take_pending` can hand it on.
        self.expected = Some((prefix, length));
        if self.buf.len() - self.head < prefix + length {
            return Ok(None);
        }
        self.expected = None;
        self.lent = prefix + length;
        let start = self.head + prefix;
        Ok(Some((&self.buf[start..start + length], self.offset)))
    }

    /// [`next_frame_at`](FrameBuffer::next_frame_at) without the offset.
    ///
    /// # Errors
    ///
    /// As [`next_frame_at`](FrameBuffer::next_frame_at).
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FilterError> {
        Ok(self.next_frame_at()?.map(|(body, _)| body))
    }

    /// Appends the prefix of a `length`-byte body to `out` (the body goes
    /// after it).
    ///
    /// # Errors
    ///
    /// [`FilterError::TooLong`] for a body over the limit, as the reading
    /// end would refuse it; [`FilterError::WrongSize`] for fixed frames
    /// and a length that is not a whole number of them.
    pub fn put_prefix(&self, length: usize, out: &mut Vec<u8>) -> Result<(), FilterError> {
        match self.framing {
            Framing::Fixed(block) => {
                if !length.is_multiple_of(block) {
                    return Err(FilterError::WrongSize { block, length });
                }
            }
            _ if length > self.limit() => {
                return Err(FilterError::TooLong {
                    limit: self.limit(),
                    length,
                });
            }
            Framing::Decimal => {
                out.extend_from_slice(length.to_string().as_bytes());
                out.push(0);
            }
            Framing::U32Be | Framing::U32Le => {
                let prefix = u32::try_from(length).expect("length is within limit()");
                out.extend_from_slice(&if self.framing == Framing::U32Be {
                    prefix.to_be_bytes()
                } else {
                    prefix.to_le_bytes()
                });
            }
        }
        Ok(())
    }

    /// Returns everything not yet handed out, prefix included; leaves the
    /// buffer as new (a refused body is no longer skipped).
    pub fn take_pending(&mut self) -> Vec<u8> {
        self.release();
        let mut pending = mem::take(&mut self.buf);
        pending.drain(..self.head);
        self.offset = self.offset.wrapping_add(pending.len());
        self.head = 0;
        self.expected = None;
        self.skip = 0;
        self.resync = false;
        pending
    }

    /// Drops the frame last handed out.
    fn release(&mut self) {
        let n = mem::take(&mut self.lent);
        if n > 0 {
            self.consume(n);
        }
    }

    /// Drops the first `n` bytes of `buf[head..]`, reclaiming the space once
    /// enough of the front is dead that moving the rest is cheap.
    fn consume(&mut self, n: usize) {
        self.offset = self.offset.wrapping_add(n);
        super::consume(&mut self.buf, &mut self.head, n);
    }

    /// Starts skipping the body of a refused frame announced as `length`.
    fn refuse(&mut self, prefix: usize, length: u64) -> FilterError {
        self.consume(prefix);
        self.skip = length;
        FilterError::TooLong {
            limit: self.limit(),
            length: usize::try_from(length).unwrap_or(usize::MAX),
        }
    }

    /// Drops the buffered part of a refused frame's body.
    fn skip_buffered(&mut self) {
        if self.skip > 0 {
            let avail = self.buf.len() - self.head;
            let n = usize::try_from(self.skip).map_or(avail, |s| s.min(avail));
            self.skip -= n as u64;
            self.consume(n);
        }
    }

    /// Parses the prefix at `head`: `Ok(None)` until it has all arrived.
    fn prefix(&mut self) -> Result<Option<(usize, usize)>, FilterError> {
        let avail = &self.buf[self.head..];
        let u32_prefix = |avail: &[u8], big: bool| {
            avail.first_chunk::<4>().map(|prefix| {
                if big {
                    u32::from_be_bytes(*prefix)
                } else {
                    u32::from_le_bytes(*prefix)
                }
            })
        };
        match self.framing {
            Framing::Fixed(size) => Ok(Some((0, size))),
            Framing::U32Be | Framing::U32Le => {
                let Some(length) = u32_prefix(avail, self.framing == Framing::U32Be) else {
                    return Ok(None);
                };
                if length as usize > self.limit() {
                    return Err(self.refuse(4, u64::from(length)));
                }
                Ok(Some((4, length as usize)))
            }
            Framing::Decimal => self.decimal_prefix(),
        }
    }

    fn decimal_prefix(&mut self) -> Result<Option<(usize, usize)>, FilterError> {
        loop {
            let avail = &self.buf[self.head..];
            let Some(&first) = avail.first() else {
                return Ok(None);
            };
            if !first.is_ascii_digit() {
                // POE drops non-digits ("strange bytes removed").
                let run = avail
                    .iter()
                    .position(u8::is_ascii_digit)
                    .unwrap_or(avail.len());
                let at = self.offset;
                let silent = self.resync;
                self.resync = run == avail.len();
                self.consume(run);
                if silent {
                    continue;
                }
                return Err(FilterError::Malformed {
                    at,
                    reason: "length prefix does not start with a digit",
                });
            }
            self.resync = false;
            let digits = avail
                .iter()
                .take(MAX_DIGITS + 1)
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > MAX_DIGITS {
                let at = self.offset + MAX_DIGITS;
                self.resync = true;
                self.consume(digits);
                return Err(FilterError::Malformed {
                    at,
                    reason: "length prefix has more than 20 digits",
                });
            }
            let Some(&end) = avail.get(digits) else {
                return Ok(None);
            };
            if end != 0 {
                let at = self.offset + digits;
                self.resync = true;
                self.consume(digits + 1);
                return Err(FilterError::Malformed {
                    at,
                    reason: "length prefix is not ended by NUL",
                });
            }
            let length = avail[..digits].iter().fold(0u64, |n, d| {
                n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            });
            if length > self.limit() as u64 {
                return Err(self.refuse(digits + 1, length));
            }
            return Ok(Some((digits + 1, length as usize)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lent_frame_is_dropped_at_the_next_use() {
        let mut frames = FrameBuffer::new(Framing::U32Le);
        let mut wire = Vec::new();
        frames.put_prefix(3, &mut wire).unwrap();
        wire.extend_from_slice(b"abc");
        frames.put_prefix(2, &mut wire).unwrap();
        wire.extend_from_slice(b"de");
        frames.feed(&wire);
        assert_eq!(frames.next_frame().unwrap(), Some(&b"abc"[..]));
        assert_eq!(frames.buffered(), 6);
        assert_eq!(frames.next_frame_at().unwrap(), Some((&b"de"[..], 7)));
        assert_eq!(frames.next_frame().unwrap(), None);
        assert_eq!(frames.buffered(), 0);
        assert!(frames.take_pending().is_empty());
    }

    #[test]
    fn big_endian_and_little_endian_prefixes_differ() {
        let mut be = Vec::new();
        FrameBuffer::new(Framing::U32Be)
            .put_prefix(1, &mut be)
            .unwrap();
        let mut le = Vec::new();
        FrameBuffer::new(Framing::U32Le)
            .put_prefix(1, &mut le)
            .unwrap();
        assert_eq!(be, [0, 0, 0, 1]);
        assert_eq!(le, [1, 0, 0, 0]);
    }

    #[test]
    fn an_oversized_frame_is_refused_before_its_body_arrives() {
        let mut frames = FrameBuffer::new(Framing::U32Be).max_length(4);
        frames.feed(&[0, 0, 0, 9, b'x']);
        assert_eq!(
            frames.next_frame(),
            Err(FilterError::TooLong {
                limit: 4,
                length: 9
            })
        );
        frames.feed(b"xxxxxxxx");
        frames.feed(&[0, 0, 0, 1, b'k']);
        assert_eq!(frames.next_frame().unwrap(), Some(&b"k"[..]));
    }
}
