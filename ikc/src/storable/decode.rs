//! [`thaw`]: a Storable network-order image to a [`Value`].
//!
//! Shared data needs the value an `SX_OBJECT` refers back to, which by then
//! sits inside the tree being built. Keeping a copy of every tagged value in
//! case it is referred to later would copy each subtree once per level
//! above it, so the decoder keeps copies only of the tags it knows are
//! referred to. It first builds optimistically, keeping nothing: most
//! images share nothing and are done in that one pass. At the first
//! back-reference it stops; a scan (the same grammar, building nothing)
//! collects every tag referred to, and a second build keeps copies of just
//! those.

use roe_engine::{Map, Str, Value};

use super::{MAX_DEPTH, NETWORK_ORDER, Reason, StorableError, op};

/// What copies of shared data may add, per byte of image: weight units
/// (see [`Decoder::copied`]) beyond the values read directly.
const SHARING_PER_BYTE: usize = 4;

/// What copies may add in any image, so that small messages sharing a value
/// a few times are never refused.
const SHARING_ALLOWANCE: usize = 4096;

/// Storable's key flag: the key's bytes are UTF-8.
const KEY_UTF8: u8 = 0x01;
/// Storable's key flag: the key is a scalar stored whole (never written).
const KEY_IS_SV: u8 = 0x08;
/// Storable's key flag: a deleted key of a restricted hash.
const KEY_PLACEHOLDER: u8 = 0x10;

pub(super) fn thaw(image: &[u8]) -> Result<Value, StorableError> {
    match Decoder::new(image, true, Vec::new()).image() {
        Ok(value) => Ok(value),
        Err(Stop::Error(err)) => Err(err),
        Err(Stop::Shared) => {
            let mut scan = Decoder::new(image, false, Vec::new());
            scan.image().map_err(Stop::into_error)?;
            let mut referred = scan.referred;
            referred.sort_unstable();
            referred.dedup();
            let keep = referred.into_iter().map(|tag| (tag, None)).collect();
            Decoder::new(image, true, keep)
                .image()
                .map_err(Stop::into_error)
        }
    }
}

/// Why decoding stopped.
enum Stop {
    /// The image is refused.
    Error(StorableError),
    /// An optimistic build met a back-reference to a value it did not keep.
    Shared,
}

impl Stop {
    /// The error to report. A second build keeps a copy of every value the
    /// scan saw referred to, so it never stops for sharing; should it, the
    /// image is refused rather than the decoder panicking.
    fn into_error(self) -> StorableError {
        match self {
            Stop::Error(err) => err,
            Stop::Shared => StorableError::new(0, Reason::TooMuchSharing),
        }
    }
}

struct Decoder<'a> {
    image: &'a [u8],
    pos: usize,
    /// Whether values are built; a scan only checks the grammar and lists
    /// the tags referred to.
    build: bool,
    /// The tags whose values back-references need, sorted, each with a
    /// copy of the value and its weight once read.
    keep: Vec<(u64, Option<Read>)>,
    /// The tags back-references refer to, as a scan meets them.
    referred: Vec<u64>,
    /// The tag the next value read gets: Storable numbers every value
    /// (not hash keys) in the order it starts reading them, from 0.
    next_tag: u64,
    /// The tags of the values being read, outermost first: every
    /// reference, array and hash the current value is inside. Tags rise
    /// along it, and a back-reference to one of them is a cycle.
    open: Vec<u64>,
    /// How many more bytes the containers still open need at the least,
    /// for the elements they announced and have not started.
    pending: usize,
    /// The weight copies have added so far: one unit per value and one per
    /// byte of a byte string, roughly what a copy allocates (text is shared
    /// by a copy, not copied).
    copied: usize,
    /// The weight copies may add.
    budget: usize,
}

/// A value read, and its weight (0 when scanning).
type Read = (Value, usize);

impl<'a> Decoder<'a> {
    fn new(image: &'a [u8], build: bool, keep: Vec<(u64, Option<Read>)>) -> Decoder<'a> {
        Decoder {
            image,
            pos: 0,
            build,
            keep,
            referred: Vec::new(),
            next_tag: 0,
            open: Vec::new(),
            pending: 0,
            copied: 0,
            budget: image
                .len()
                .saturating_mul(SHARING_PER_BYTE)
                .saturating_add(SHARING_ALLOWANCE),
        }
    }

    fn error(&self, offset: usize, reason: Reason) -> Stop {
        Stop::Error(StorableError::new(offset, reason))
    }

    fn image(&mut self) -> Result<Value, Stop> {
        let header = self.byte()?;
        if header != NETWORK_ORDER {
            return Err(self.error(0, Reason::NotNetworkOrder { found: header }));
        }
        // Any minor version: see the module documentation.
        self.byte()?;
        let (value, _) = self.value()?;
        let left = self.image.len() - self.pos;
        if left > 0 {
            return Err(self.error(self.pos, Reason::TrailingBytes { count: left }));
        }
        Ok(value)
    }

    fn byte(&mut self) -> Result<u8, Stop> {
        match self.image.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.error(self.pos, Reason::Truncated)),
        }
    }

    fn u32(&mut self) -> Result<u32, Stop> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8], Stop> {
        let image: &'a [u8] = self.image;
        match self
            .pos
            .checked_add(len)
            .and_then(|end| image.get(self.pos..end))
        {
            Some(bytes) => {
                self.pos += len;
                Ok(bytes)
            }
            None => Err(self.error(self.image.len(), Reason::Truncated)),
        }
    }

    /// A length or count: Storable reads them as signed 32-bit integers, so
    /// one with the top bit set is no length.
    fn len(&mut self) -> Result<usize, Stop> {
        let at = self.pos;
        let n = self.u32()?;
        if n > i32::MAX as u32 {
            return Err(self.error(at, Reason::TooLong { len: n as usize }));
        }
        Ok(n as usize)
    }

    /// Announces `count` elements of at least `each` bytes: refused when the
    /// rest of the image cannot hold them besides what the containers
    /// already open still need. Past this check, room for `count` elements
    /// is room the image pays for.
    fn announce(&mut self, at: usize, count: usize, each: usize) -> Result<(), Stop> {
        let left = self.image.len() - self.pos;
        match count
            .checked_mul(each)
            .and_then(|need| need.checked_add(self.pending))
        {
            Some(need) if need <= left => {
                self.pending = need;
                Ok(())
            }
            _ => Err(self.error(at, Reason::TooManyElements { count })),
        }
    }

    /// Starts one of the elements announced: the bytes it needs at the
    /// least are now the element's own to read.
    fn start_element(&mut self, each: usize) {
        self.pending -= each;
    }

    /// Tags a value that holds others (a reference, an array, a hash) and
    /// opens it.
    fn open(&mut self, at: usize) -> Result<u64, Stop> {
        if self.open.len() >= MAX_DEPTH {
            return Err(self.error(at, Reason::TooDeep));
        }
        let tag = self.tag();
        self.open.push(tag);
        Ok(tag)
    }

    fn tag(&mut self) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        tag
    }

    /// Closes the value `open` tagged, now `read`, keeping a copy if it is
    /// referred to later.
    fn close(&mut self, at: usize, tag: u64, read: Read) -> Result<Read, Stop> {
        self.open.pop();
        self.done(at, tag, read)
    }

    /// A value complete: keeps a copy when its tag is one referred to.
    fn done(&mut self, at: usize, tag: u64, read: Read) -> Result<Read, Stop> {
        if !self.build || self.keep.is_empty() {
            return Ok(read);
        }
        let found = self
            .keep
            .binary_search_by_key(&tag, |(t, _)| *t)
            .ok()
            .and_then(|i| self.keep.get_mut(i));
        if let Some((_, slot)) = found {
            // The copy kept costs as much as a copy handed out.
            let copied = self.copied.saturating_add(read.1);
            if copied > self.budget {
                return Err(Stop::Error(StorableError::new(at, Reason::TooMuchSharing)));
            }
            self.copied = copied;
            *slot = Some(read.clone());
        }
        Ok(read)
    }

    /// Tags a scalar, made by `value` when building.
    fn scalar(
        &mut self,
        at: usize,
        value: impl FnOnce() -> Value,
        weight: usize,
    ) -> Result<Read, Stop> {
        let tag = self.tag();
        let read = if self.build {
            (value(), weight)
        } else {
            (Value::Undef, 0)
        };
        self.done(at, tag, read)
    }

    fn value(&mut self) -> Result<Read, Stop> {
        let at = self.pos;
        let opcode = self.byte()?;
        match opcode {
            op::UNDEF | op::SV_UNDEF | op::SVUNDEF_ELEM => self.scalar(at, || Value::Undef, 1),
            op::SV_YES | op::BOOLEAN_TRUE => self.scalar(at, || Value::Bool(true), 1),
            op::SV_NO | op::BOOLEAN_FALSE => self.scalar(at, || Value::Bool(false), 1),
            op::BYTE => {
                let n = i64::from(self.byte()?) - 128;
                self.scalar(at, || Value::Int(n), 1)
            }
            op::NETINT => {
                let n = self.u32()? as i32;
                self.scalar(at, || Value::Int(i64::from(n)), 1)
            }
            op::SCALAR | op::LSCALAR => {
                let len = if opcode == op::SCALAR {
                    usize::from(self.byte()?)
                } else {
                    self.len()?
                };
                let bytes = self.bytes(len)?;
                match std::str::from_utf8(bytes) {
                    Ok(text) if bytes.is_ascii() => {
                        self.scalar(at, || Value::Str(Str::new(text)), 1)
                    }
                    _ => self.scalar(at, || Value::Bytes(bytes.to_vec()), 1 + len),
                }
            }
            op::UTF8STR | op::LUTF8STR => {
                let len = if opcode == op::UTF8STR {
                    usize::from(self.byte()?)
                } else {
                    self.len()?
                };
                let start = self.pos;
                let bytes = self.bytes(len)?;
                let text = std::str::from_utf8(bytes)
                    .map_err(|e| self.error(start + e.valid_up_to(), Reason::InvalidUtf8))?;
                self.scalar(at, || Value::Str(Str::new(text)), 1)
            }
            op::REF | op::WEAKREF => {
                let tag = self.open(at)?;
                // Transparent: the reference is the value it refers to.
                let read = self.value()?;
                self.close(at, tag, read)
            }
            op::ARRAY => self.array(at),
            op::HASH | op::FLAG_HASH => self.hash(at, opcode == op::FLAG_HASH),
            op::OBJECT => self.back_reference(at),
            op::BLESS => {
                let mut len = usize::from(self.byte()?);
                if len & 0x80 != 0 {
                    len = self.len()?;
                }
                let name = self.bytes(len)?;
                let class = String::from_utf8_lossy(name).into_owned();
                Err(self.error(at, Reason::Blessed { class }))
            }
            op::IX_BLESS => {
                let index = self.byte()?;
                let class = format!("class #{index}");
                Err(self.error(at, Reason::Blessed { class }))
            }
            _ => Err(self.error(
                at,
                match op::unsupported(opcode) {
                    Some(what) => Reason::Unsupported { opcode, what },
                    None => Reason::UnknownOpcode { opcode },
                },
            )),
        }
    }

    fn array(&mut self, at: usize) -> Result<Read, Stop> {
        let tag = self.open(at)?;
        let count = self.len()?;
        // Every element is at least its opcode.
        self.announce(at, count, 1)?;
        let building = self.build;
        let mut items = Vec::with_capacity(if building { count } else { 0 });
        let mut weight: usize = 1;
        for _ in 0..count {
            self.start_element(1);
            let (item, w) = self.value()?;
            if building {
                items.push(item);
                weight = weight.saturating_add(w);
            }
        }
        let value = if building {
            Value::List(items)
        } else {
            Value::Undef
        };
        self.close(at, tag, (value, weight))
    }

    fn hash(&mut self, at: usize, flagged: bool) -> Result<Read, Stop> {
        let tag = self.open(at)?;
        if flagged {
            // The hash's own flags say whether it was restricted; a map is
            // not, so they are read past.
            self.byte()?;
        }
        let count = self.len()?;
        // Each entry: its value's opcode, a key flag byte when flagged, the
        // key's length.
        let each = if flagged { 6 } else { 5 };
        self.announce(at, count, each)?;
        let building = self.build;
        let mut map = Map::new();
        let mut weight: usize = 1;
        for _ in 0..count {
            self.start_element(each);
            // Storable writes the value first, then its key.
            let (item, w) = self.value()?;
            let flags = if flagged { self.byte()? } else { 0 };
            let key_at = self.pos;
            let len = self.len()?;
            let key = self.bytes(len)?;
            if flags & KEY_IS_SV != 0 {
                return Err(self.error(key_at, Reason::KeyAsScalar));
            }
            let key = if flags & KEY_UTF8 != 0 {
                match std::str::from_utf8(key) {
                    Ok(text) => Str::new(text),
                    Err(e) => {
                        return Err(self.error(key_at + 4 + e.valid_up_to(), Reason::InvalidUtf8));
                    }
                }
            } else if building {
                latin1(key)
            } else {
                Str::EMPTY
            };
            if building && flags & KEY_PLACEHOLDER == 0 {
                weight = weight.saturating_add(w);
                map.insert(key, item);
            }
        }
        let value = if building {
            Value::Map(map)
        } else {
            Value::Undef
        };
        self.close(at, tag, (value, weight))
    }

    fn back_reference(&mut self, at: usize) -> Result<Read, Stop> {
        let tag = u64::from(self.u32()?);
        if tag >= self.next_tag {
            return Err(self.error(at, Reason::UnknownTag { tag }));
        }
        if self.open.binary_search(&tag).is_ok() {
            return Err(self.error(at, Reason::Cycle { tag }));
        }
        if !self.build {
            self.referred.push(tag);
            return Ok((Value::Undef, 0));
        }
        let kept = self
            .keep
            .binary_search_by_key(&tag, |(t, _)| *t)
            .ok()
            .and_then(|i| self.keep.get(i))
            .and_then(|(_, slot)| slot.as_ref());
        let Some((value, weight)) = kept else {
            // Not kept: the optimistic build starts over (see the top).
            return Err(Stop::Shared);
        };
        let copied = self.copied.saturating_add(*weight);
        if copied > self.budget {
            return Err(self.error(at, Reason::TooMuchSharing));
        }
        let read = (value.clone(), *weight);
        self.copied = copied;
        Ok(read)
    }
}

/// A key without Storable's UTF-8 flag: Latin-1, one byte to one character,
/// as Perl reads it.
fn latin1(bytes: &[u8]) -> Str {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.is_ascii() => Str::new(text),
        _ => Str::from(bytes.iter().map(|&b| char::from(b)).collect::<String>()),
    }
}
