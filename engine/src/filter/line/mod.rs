//! `Line`: POE::Filter::Line.

use std::{collections::VecDeque, mem};

use super::{Filter, FilterError};
use crate::value::{Str, Value};

const CR: u8 = 0x0D;
const LF: u8 = 0x0A;

/// POE's default `MaxLength`: 64 MiB.
const DEFAULT_MAX_LENGTH: usize = 64 * 1024 * 1024;
/// POE's default `MaxBuffer`: 512 MiB.
const DEFAULT_MAX_BUFFER: usize = 512 * 1024 * 1024;

/// What each queued error report counts against `max_buffer`.
const ERROR_COST: usize = mem::size_of::<(usize, FilterError)>();

/// Lines of bytes (POE::Filter::Line).
///
/// A record is one line without its terminator. On input the terminator is,
/// by default, any of CR, LF, CRLF or LFCR (POE's `(\x0D\x0A?|\x0A\x0D?)`);
/// [`input_literal`](Line::input_literal) sets a fixed one and
/// [`autodetect`](Line::autodetect) fixes it from the first line, as POE's
/// `InputLiteral => undef` does. On output each record gets CRLF, or the
/// [`output_literal`](Line::output_literal).
///
/// A CR or LF at the very end of what has arrived ends its line at once, and
/// the filter remembers it: if the next byte completes a CRLF or LFCR pair,
/// that byte is part of the same terminator, however the stream was cut.
/// (POE 1.370's default regexp cuts the pair in two and reports an extra
/// empty line; its own docs list that as a bug. roe does not copy it.)
///
/// # Limits
///
/// A line longer than [`max_length`](Line::max_length) (default 64 MiB, POE's
/// `MaxLength`) is refused with [`FilterError::TooLong`] as soon as
/// `max_length + 1` bytes of it have arrived, and the rest of it is dropped
/// as it arrives, up to and including its terminator. Lines not yet taken
/// are held up to [`max_buffer`](Line::max_buffer) bytes (default 512 MiB,
/// POE's `MaxBuffer`; each queued error report counts a few dozen bytes);
/// input past that is refused the same way, a whole line at a time, and
/// refusals in a row make one report. Where POE dies and keeps the data, roe
/// reports the error and drops the data, so memory stays bounded.
///
/// As POE requires, both limits are at least 1 and a line must fit in the
/// buffer (`max_length <= max_buffer`); the setters panic otherwise. So
/// raising both limits means setting `max_buffer` first, and lowering both
/// means setting `max_length` first.
///
/// # Examples
///
/// ```
/// use roe_engine::{Filter, Line, Value};
///
/// let mut lines = Line::autodetect().output_literal("\n").max_length(80);
/// lines.feed(b"one\ntwo\r\n");
/// let first = lines.next_record()?.unwrap();
/// assert_eq!(Line::record_value(first), Value::from("one"));
/// // The first line fixed the terminator: LF alone.
/// assert_eq!(lines.next_record()?, Some(b"two\r".to_vec()));
/// # Ok::<(), roe_engine::FilterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Line {
    input: Input,
    output: Vec<u8>,
    max_length: usize,
    max_buffer: usize,
    /// Bytes kept: complete lines not yet taken, then the incomplete line.
    buf: Vec<u8>,
    /// Start of the first line not yet taken.
    head: usize,
    /// Start of the incomplete line; `buf[head..line_start]` holds complete
    /// lines, each with its terminator.
    line_start: usize,
    /// No terminator starts in `buf[line_start..scan_from]`.
    scan_from: usize,
    /// Refusals, at the positions in `buf` where the refused line would
    /// have been, in stream order.
    errors: VecDeque<(usize, FilterError)>,
    /// Dropping a refused line up to its terminator.
    discarding: bool,
    /// While discarding with a literal terminator: the last
    /// `literal.len() - 1` bytes dropped, which may begin a terminator.
    carry: Vec<u8>,
    /// The last terminator was a lone CR or LF at the end of what had
    /// arrived; the next byte may complete it.
    half: Option<Half>,
}

#[derive(Debug, Clone)]
enum Input {
    /// CR, LF, CRLF or LFCR.
    Any,
    /// A fixed terminator.
    Literal(Vec<u8>),
    /// Fixed by the first terminator seen (CR, LF, CRLF or LFCR). While the
    /// first is a lone byte awaiting its possible pair (`half` is set), this
    /// holds that byte.
    Detect(Option<Vec<u8>>),
}

impl Input {
    fn literal(&self) -> Option<&[u8]> {
        match self {
            Input::Any | Input::Detect(None) => None,
            Input::Literal(lit) | Input::Detect(Some(lit)) => Some(lit),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Half {
    /// The CR or LF.
    byte: u8,
    /// It is the last byte of `buf`, ending a line not yet taken, so a
    /// completing byte is kept with it.
    kept: bool,
}

/// The byte that pairs with CR or LF.
fn partner(byte: u8) -> u8 {
    if byte == CR { LF } else { CR }
}

/// The first terminator starting at or after `from` in `buf[..end]`:
/// `(start, length, lone)`, where `lone` marks a CR or LF that ends `end`
/// and so may still be the first half of a pair.
fn find(
    literal: Option<&[u8]>,
    buf: &[u8],
    from: usize,
    end: usize,
) -> Option<(usize, usize, bool)> {
    let hay = &buf[from..end];
    match literal {
        None => {
            let i = hay.iter().position(|&b| b == CR || b == LF)?;
            match hay.get(i + 1) {
                None => Some((from + i, 1, true)),
                Some(&next) if next == partner(hay[i]) => Some((from + i, 2, false)),
                Some(_) => Some((from + i, 1, false)),
            }
        }
        Some(lit) => find_literal(hay, lit).map(|i| (from + i, lit.len(), false)),
    }
}

/// The first occurrence of `needle` (not empty) in `hay`.
fn find_literal(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last_start {
        let j = i + hay[i..=last_start].iter().position(|&b| b == first)?;
        if &hay[j + 1..j + needle.len()] == tail {
            return Some(j);
        }
        i = j + 1;
    }
    None
}

impl Line {
    /// A filter with POE's defaults: input lines end with CR, LF, CRLF or
    /// LFCR, output lines with CRLF, lines up to 64 MiB, 512 MiB buffered.
    pub fn new() -> Line {
        Line {
            input: Input::Any,
            output: b"\r\n".to_vec(),
            max_length: DEFAULT_MAX_LENGTH,
            max_buffer: DEFAULT_MAX_BUFFER,
            buf: Vec::new(),
            head: 0,
            line_start: 0,
            scan_from: 0,
            errors: VecDeque::new(),
            discarding: false,
            carry: Vec::new(),
            half: None,
        }
    }

    /// A filter whose input terminator is the first one seen: CR, LF, CRLF
    /// or LFCR (POE's `InputLiteral => undef`). A lone CR or LF that ends
    /// what has arrived is settled by the byte after it.
    pub fn autodetect() -> Line {
        Line {
            input: Input::Detect(None),
            ..Line::new()
        }
    }

    /// Sets the input terminator to `literal` (POE's `InputLiteral`).
    ///
    /// # Panics
    ///
    /// If `literal` is empty, as POE croaks.
    pub fn input_literal(mut self, literal: impl Into<Vec<u8>>) -> Line {
        let literal = literal.into();
        assert!(
            !literal.is_empty(),
            "a Line input literal must not be empty"
        );
        self.input = Input::Literal(literal);
        self
    }

    /// Sets what [`encode`](Filter::encode) appends to each line (POE's
    /// `OutputLiteral`; CRLF by default).
    pub fn output_literal(mut self, literal: impl Into<Vec<u8>>) -> Line {
        self.output = literal.into();
        self
    }

    /// Sets the longest line accepted, terminator excluded (POE's
    /// `MaxLength`; 64 MiB by default).
    ///
    /// The limit must fit in the buffer: to raise both limits, set
    /// [`max_buffer`](Line::max_buffer) first; to lower both, set this one
    /// first.
    ///
    /// # Panics
    ///
    /// If `bytes` is zero or above the buffer limit, as POE croaks ("must
    /// greater then 0", "MaxBuffer is not large enough for MaxLength
    /// blocks").
    pub fn max_length(mut self, bytes: usize) -> Line {
        assert!(bytes > 0, "a Line max_length must be at least 1");
        assert!(
            bytes <= self.max_buffer,
            "a Line max_length of {bytes} does not fit its max_buffer of {} \
             (set max_buffer first to raise both)",
            self.max_buffer
        );
        self.max_length = bytes;
        self
    }

    /// Sets how many bytes of lines the filter holds before refusing input
    /// (POE's `MaxBuffer`; 512 MiB by default).
    ///
    /// The buffer must hold the longest line: to lower both limits, set
    /// [`max_length`](Line::max_length) first; to raise both, set this one
    /// first.
    ///
    /// # Panics
    ///
    /// If `bytes` is zero or below the line limit, as POE croaks ("must
    /// greater then 0", "MaxBuffer is not large enough for MaxLength
    /// blocks").
    pub fn max_buffer(mut self, bytes: usize) -> Line {
        assert!(bytes > 0, "a Line max_buffer must be at least 1");
        assert!(
            bytes >= self.max_length,
            "a Line max_buffer of {bytes} cannot hold its max_length of {} \
             (set max_length first to lower both)",
            self.max_length
        );
        self.max_buffer = bytes;
        self
    }

    /// The input terminator, once known; `None` means CR/LF in any pairing.
    fn literal(&self) -> Option<&[u8]> {
        self.input.literal()
    }

    /// How many bytes must follow a line's last possible start of terminator
    /// to know no terminator starts there.
    fn terminator_span(&self) -> usize {
        self.literal().map_or(1, <[u8]>::len)
    }

    /// What the filter holds, counted against `max_buffer`.
    fn held(&self) -> usize {
        (self.buf.len() - self.head).saturating_add(self.errors.len().saturating_mul(ERROR_COST))
    }

    /// Records the first terminator seen when autodetecting.
    fn detected(&mut self, terminator: &[u8]) {
        if let Input::Detect(literal @ None) = &mut self.input {
            *literal = Some(terminator.to_vec());
        }
    }

    fn push(&mut self, mut rest: &[u8]) {
        while !rest.is_empty() {
            if let Some(half) = self.half.take() {
                rest = self.settle_half(half, rest);
                continue;
            }
            if self.discarding {
                let n = self.discard(rest);
                rest = &rest[n..];
                continue;
            }
            let held = self.held();
            let buffer_room = self.max_buffer.saturating_sub(held);
            if buffer_room == 0 {
                let refused = FilterError::TooLong {
                    limit: self.max_buffer,
                    length: held.saturating_add(rest.len()),
                };
                let again = self.refuse_line(self.scan_from, refused);
                self.push(&again);
                continue;
            }
            // Take no more than decides whether this line is too long, so a
            // hostile chunk is never copied whole.
            let content = self.buf.len() - self.line_start;
            let line_room = self
                .max_length
                .saturating_add(self.terminator_span())
                .saturating_add(1)
                .saturating_sub(content);
            let n = rest.len().min(line_room).min(buffer_room);
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if let Some(again) = self.scan() {
                self.push(&again);
            }
        }
    }

    /// Settles a lone CR or LF left at the end of the input by the byte
    /// after it (`rest` is not empty), and returns what remains of `rest`.
    fn settle_half<'a>(&mut self, half: Half, rest: &'a [u8]) -> &'a [u8] {
        let completes = rest[0] == partner(half.byte);
        if let Input::Detect(Some(literal)) = &mut self.input
            && completes
        {
            literal.push(rest[0]);
        }
        if !completes {
            return rest;
        }
        if half.kept {
            debug_assert_eq!(self.line_start, self.buf.len());
            self.buf.push(rest[0]);
            self.line_start += 1;
            self.scan_from = self.line_start;
        }
        &rest[1..]
    }

    /// Marks the complete lines at the end of `buf`. When the incomplete
    /// line turns out too long, refuses it and returns the bytes to run
    /// through discarding (they may hold its terminator).
    fn scan(&mut self) -> Option<Vec<u8>> {
        loop {
            let found = find(self.literal(), &self.buf, self.scan_from, self.buf.len());
            match found {
                Some((start, len, lone)) if start - self.line_start <= self.max_length => {
                    let terminator = self.buf[start..start + len].to_vec();
                    self.detected(&terminator);
                    self.line_start = start + len;
                    self.scan_from = self.line_start;
                    if lone {
                        self.half = Some(Half {
                            byte: terminator[0],
                            kept: true,
                        });
                        return None;
                    }
                }
                Some((start, ..)) => return Some(self.refuse_too_long(start)),
                None => {
                    let span = self.terminator_span();
                    let content = self.buf.len() - self.line_start;
                    let resume = (self.buf.len() + 1)
                        .saturating_sub(span)
                        .max(self.line_start);
                    if content >= self.max_length.saturating_add(span) {
                        return Some(self.refuse_too_long(resume));
                    }
                    self.scan_from = resume;
                    return None;
                }
            }
        }
    }

    fn refuse_too_long(&mut self, resume: usize) -> Vec<u8> {
        let refused = FilterError::TooLong {
            limit: self.max_length,
            length: self.max_length.saturating_add(1),
        };
        self.refuse_line(resume, refused)
    }

    /// Drops the incomplete line, queues `error` in its place and starts
    /// discarding; returns `buf[resume..]`, which discarding must see.
    fn refuse_line(&mut self, resume: usize, error: FilterError) -> Vec<u8> {
        let buffer_full = self.held() >= self.max_buffer;
        match self.errors.back() {
            // Refusals in a row while the buffer is full are one report, so
            // the queue cannot grow while nobody takes records.
            Some(&(at, _)) if at == self.line_start && buffer_full => {}
            _ => self.errors.push_back((self.line_start, error)),
        }
        let again = self.buf[resume..].to_vec();
        self.buf.truncate(self.line_start);
        self.scan_from = self.line_start;
        self.discarding = true;
        self.carry.clear();
        again
    }

    /// Drops `bytes` up to and including the next terminator; returns how
    /// many it consumed.
    fn discard(&mut self, bytes: &[u8]) -> usize {
        let Some(literal) = self.input.literal() else {
            let Some(i) = bytes.iter().position(|&b| b == CR || b == LF) else {
                return bytes.len();
            };
            self.discarding = false;
            let (len, lone) = match bytes.get(i + 1) {
                None => (1, true),
                Some(&next) if next == partner(bytes[i]) => (2, false),
                Some(_) => (1, false),
            };
            self.detected(&bytes[i..i + len]);
            if lone {
                self.half = Some(Half {
                    byte: bytes[i],
                    kept: false,
                });
            }
            return i + len;
        };
        let n = literal.len();
        // A terminator may start in the carried bytes and end in `bytes`.
        let mut joined = self.carry.clone();
        joined.extend_from_slice(&bytes[..bytes.len().min(n - 1)]);
        let straddling = find_literal(&joined, literal).filter(|&i| i < self.carry.len());
        let end = match straddling {
            Some(i) => Some(i + n - self.carry.len()),
            None => find_literal(bytes, literal).map(|i| i + n),
        };
        if let Some(end) = end {
            self.discarding = false;
            self.carry.clear();
            return end;
        }
        joined.extend_from_slice(&bytes[bytes.len().min(n - 1)..]);
        let keep = joined.len().min(n - 1);
        self.carry = joined.split_off(joined.len() - keep);
        bytes.len()
    }

    /// Checks the invariants the fields' comments state.
    fn debug_check(&self) {
        debug_assert!(self.head <= self.line_start);
        debug_assert!(self.line_start <= self.scan_from && self.scan_from <= self.buf.len());
        debug_assert!(
            self.errors
                .iter()
                .all(|&(at, _)| self.head <= at && at <= self.line_start)
        );
        debug_assert!(self.carry.len() < self.terminator_span() || !self.discarding);
        debug_assert!(
            !self.half.is_some_and(|h| h.kept) || self.line_start == self.buf.len(),
            "a kept half terminator ends the buffer"
        );
    }

    /// Moves the kept bytes to the front of `buf` once enough of it is dead.
    fn compact(&mut self) {
        let dead = self.head;
        if dead == 0 || (dead < self.buf.len() && (dead < 4096 || dead < self.buf.len() / 2)) {
            return;
        }
        self.buf.drain(..dead);
        self.head = 0;
        self.line_start -= dead;
        self.scan_from -= dead;
        for (at, _) in &mut self.errors {
            *at -= dead;
        }
    }
}

impl Default for Line {
    fn default() -> Line {
        Line::new()
    }
}

impl Filter for Line {
    type Record = Vec<u8>;

    fn feed(&mut self, bytes: &[u8]) {
        self.push(bytes);
        self.debug_check();
    }

    fn next_record(&mut self) -> Result<Option<Vec<u8>>, FilterError> {
        let limit = match self.errors.front() {
            Some(&(at, _)) if at == self.head => {
                let (_, error) = self.errors.pop_front().expect("front exists");
                return Err(error);
            }
            Some(&(at, _)) => at,
            None => self.line_start,
        };
        if self.head == limit {
            return Ok(None);
        }
        // `scan` found this line's end; finding it again here costs one
        // pass over the line and saves queueing every line's position.
        let (start, len) = match find(self.literal(), &self.buf, self.head, limit) {
            Some((start, len, _)) => (start, len),
            None => {
                debug_assert!(false, "a complete line has a terminator");
                (limit, 0)
            }
        };
        let line = self.buf[self.head..start].to_vec();
        self.head = start + len;
        if self.head == self.buf.len()
            && let Some(half) = &mut self.half
        {
            half.kept = false;
        }
        self.compact();
        self.debug_check();
        Ok(Some(line))
    }

    fn encode(&mut self, record: Vec<u8>, out: &mut Vec<u8>) -> Result<(), FilterError> {
        out.extend_from_slice(&record);
        out.extend_from_slice(&self.output);
        Ok(())
    }

    /// Returns the lines not yet taken, with their terminators, then the
    /// incomplete line; leaves the filter empty. Pending error reports go
    /// with the bytes they were about, and a lone CR or LF no longer waits
    /// for its pair (with [`Line::autodetect`], it is the terminator).
    fn take_pending(&mut self) -> Vec<u8> {
        let mut pending = mem::take(&mut self.buf);
        pending.drain(..self.head);
        self.head = 0;
        self.line_start = 0;
        self.scan_from = 0;
        self.errors.clear();
        self.discarding = false;
        self.carry.clear();
        self.half = None;
        pending
    }

    /// `Value::Str` when the line is UTF-8, else `Value::Bytes`.
    fn record_value(record: Vec<u8>) -> Value {
        match String::from_utf8(record) {
            Ok(text) => Value::Str(Str::from(text)),
            Err(e) => Value::Bytes(e.into_bytes()),
        }
    }

    /// A line as text or bytes, back to its bytes (a line that is not
    /// UTF-8 comes back whole, never empty).
    fn value_record(value: Value) -> Option<Vec<u8>> {
        value.into_bytes().ok()
    }
}

#[cfg(test)]
mod tests;
