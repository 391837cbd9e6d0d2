//! [`LineReader`]: the handshake's lines, cut out of the bytes read.

use std::fmt;

use super::{FrameReader, MAX_LINE};

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Reads the handshake's lines from a byte stream.
///
/// A line ends with CR, LF, CRLF or LFCR, as Perl's `POE::Filter::Line`
/// reads them; the line handed out has no terminator. When a line's CR or
/// LF is the last byte that has arrived, the line is handed out at once and
/// the reader remembers it: should the next byte complete the pair, it is
/// dropped as part of the same terminator, however the stream was cut. A
/// line longer than its limit ([`MAX_LINE`] by default) is refused as soon
/// as that many bytes of it are held, and the reader then refuses
/// everything: the handshake is over. Once the handshake is done,
/// [`into_frames`](LineReader::into_frames) hands whatever arrived after
/// the last line to the frame reader, so nothing the peer sent early is
/// lost.
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::LineReader;
///
/// let mut lines = LineReader::new();
/// lines.feed(b"HELLO\r\nOK\nO");
/// assert_eq!(lines.next_line()?, Some(&b"HELLO"[..]));
/// assert_eq!(lines.next_line()?, Some(&b"OK"[..]));
/// assert_eq!(lines.next_line()?, None);
/// lines.feed(b"K\r");
/// assert_eq!(lines.next_line()?, Some(&b"OK"[..]));
/// # Ok::<(), roe_ikc::perl::LineError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Start of the bytes not yet handed out.
    head: usize,
    /// Bytes of the line last handed out, terminator included, dropped at
    /// the next use.
    lent: usize,
    /// The last terminator was a lone CR or LF at the end of what had
    /// arrived: this is the byte that would complete its pair.
    pair: Option<u8>,
    max_line: usize,
    failed: bool,
}

impl LineReader {
    /// A reader of lines of up to [`MAX_LINE`] bytes.
    pub fn new() -> LineReader {
        LineReader {
            buf: Vec::new(),
            head: 0,
            lent: 0,
            pair: None,
            max_line: MAX_LINE,
            failed: false,
        }
    }

    /// Sets the longest line accepted, in bytes, terminator excluded.
    pub fn max_line(mut self, bytes: usize) -> LineReader {
        self.max_line = bytes;
        self
    }

    /// Bytes held that are not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.head - self.lent
    }

    /// Appends bytes read from the stream. After a refusal they are
    /// dropped.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.release();
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next whole line, without its terminator, borrowed from the
    /// buffer; `Ok(None)` until one has arrived.
    ///
    /// # Errors
    ///
    /// [`LineError::TooLong`], for good, once a line passes the limit.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, LineError> {
        self.release();
        if self.failed {
            return Err(self.too_long());
        }
        self.settle_pair();
        let rest = &self.buf[self.head..];
        let Some(end) = rest.iter().position(|&b| b == CR || b == LF) else {
            if rest.len() > self.max_line {
                return Err(self.fail());
            }
            return Ok(None);
        };
        if end > self.max_line {
            return Err(self.fail());
        }
        let partner = if rest[end] == CR { LF } else { CR };
        let terminator = match rest.get(end + 1) {
            Some(&next) if next == partner => 2,
            Some(_) => 1,
            None => {
                self.pair = Some(partner);
                1
            }
        };
        self.lent = end + terminator;
        Ok(Some(&self.buf[self.head..self.head + end]))
    }

    /// Ends the line phase: a reader of the frames that follow, holding
    /// whatever arrived after the last line taken, limited to `max_frame`
    /// bytes a frame.
    pub fn into_frames(mut self, max_frame: usize) -> FrameReader {
        self.release();
        self.settle_pair();
        let mut frames = FrameReader::new().max_frame(max_frame);
        frames.feed(&self.buf[self.head..]);
        if let Some(partner) = self.pair {
            frames.skip_leading(partner);
        }
        frames
    }

    /// Drops the line last handed out.
    fn release(&mut self) {
        self.head += std::mem::take(&mut self.lent);
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head >= MAX_LINE && self.head >= self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    /// Drops the second half of a terminator cut in two, once the byte
    /// after the first half has arrived.
    fn settle_pair(&mut self) {
        if let Some(&next) = self.buf.get(self.head)
            && let Some(partner) = self.pair.take()
            && next == partner
        {
            self.head += 1;
        }
    }

    fn fail(&mut self) -> LineError {
        self.failed = true;
        self.buf = Vec::new();
        self.head = 0;
        self.too_long()
    }

    fn too_long(&self) -> LineError {
        LineError::TooLong {
            limit: self.max_line,
        }
    }
}

impl Default for LineReader {
    fn default() -> LineReader {
        LineReader::new()
    }
}

/// Why the handshake's lines could not be read.
///
/// # Examples
///
/// ```
/// use roe_ikc::perl::{LineError, LineReader};
///
/// let mut lines = LineReader::new().max_line(4);
/// lines.feed(b"HELLO\r\n");
/// assert_eq!(lines.next_line(), Err(LineError::TooLong { limit: 4 }));
/// assert_eq!(
///     LineError::TooLong { limit: 4 }.to_string(),
///     "a handshake line is longer than 4 bytes"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineError {
    /// A line is longer than the limit. Nothing more is read.
    TooLong {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => {
                write!(f, "a handshake line is longer than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for LineError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut reader = LineReader::new();
        let mut lines = Vec::new();
        for chunk in chunks {
            reader.feed(chunk);
            while let Some(line) = reader.next_line().unwrap() {
                lines.push(line.to_vec());
            }
        }
        lines
    }

    #[test]
    fn every_terminator_ends_a_line() {
        let expected: Vec<Vec<u8>> =
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()];
        assert_eq!(lines_of(&[b"a\r\nb\nc\rd\n\r"]), expected);
        assert_eq!(lines_of(&[b"a\r\nb\n\rc\rd\r\n"]), expected);
    }

    #[test]
    fn a_terminator_cut_in_two_is_one_terminator() {
        let whole = b"IAM x\r\nOK\n\rDONE\r\n";
        for cut in 0..=whole.len() {
            let lines = lines_of(&[&whole[..cut], &whole[cut..]]);
            assert_eq!(lines, [&b"IAM x"[..], b"OK", b"DONE"], "cut at {cut}");
        }
        // One byte at a time, too.
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(lines_of(&bytes).len(), 3);
    }

    #[test]
    fn an_empty_line_is_a_line() {
        assert_eq!(lines_of(&[b"\r\n\r\nx\n"]), [&b""[..], b"", b"x"]);
    }

    #[test]
    fn a_long_line_is_refused_for_good() {
        let mut reader = LineReader::new().max_line(8);
        reader.feed(b"12345678");
        assert_eq!(reader.next_line(), Ok(None));
        reader.feed(b"9");
        assert_eq!(reader.next_line(), Err(LineError::TooLong { limit: 8 }));
        reader.feed(b"\r\nOK\r\n");
        assert_eq!(reader.next_line(), Err(LineError::TooLong { limit: 8 }));
        assert_eq!(reader.buffered(), 0);
        // A long line that arrives whole is refused the same way.
        let mut reader = LineReader::new().max_line(2);
        reader.feed(b"abc\r\n");
        assert!(reader.next_line().is_err());
    }

    #[test]
    fn what_follows_the_last_line_goes_to_the_frames() {
        let mut reader = LineReader::new();
        reader.feed(b"UP\r\n3\0");
        assert_eq!(reader.next_line().unwrap(), Some(&b"UP"[..]));
        let mut frames = reader.into_frames(1024);
        assert_eq!(frames.buffered(), 2);
        frames.feed(b"\x05\x0b\x05");
        assert_eq!(frames.next_value().unwrap(), Some(roe_engine::Value::Undef));
    }

    #[test]
    fn the_second_half_of_a_cut_terminator_is_not_a_frame() {
        let mut reader = LineReader::new();
        reader.feed(b"UP\r");
        assert_eq!(reader.next_line().unwrap(), Some(&b"UP"[..]));
        let mut frames = reader.into_frames(1024);
        frames.feed(b"\n");
        frames.feed(b"3\0\x05\x0b\x05");
        assert_eq!(frames.next_value().unwrap(), Some(roe_engine::Value::Undef));
    }
}
