//! `Timers`: pending alarms and delays on a hierarchical timing wheel.
//!
//! Time is cut into ticks of 2^20 ns (about a millisecond). Six levels of 64
//! slots cover 2^36 ticks (about 2.2 years) ahead of the wheel's position,
//! `elapsed`: a timer waits on the level of the highest 6-bit digit in which
//! its tick differs from `elapsed`, in the slot that digit names, so a
//! level-0 slot holds exactly one tick and a level-5 slot about 13 days.
//! Later timers wait in an overflow bucket. Each level keeps a bitmap of its
//! occupied slots, so the next one is found with a bit scan (tokio's wheel,
//! which tokio-util's `DelayQueue` uses). Setting, cancelling and moving a
//! timer are O(1); each timer moves at most once per level.
//!
//! The wheel sorts only to the tick; POE's order is exact. When nothing is
//! ready, the wheel steps to its earliest occupied slot (empty ticks cost
//! nothing, and an idle hour is a handful of steps) and moves its timers one
//! level down; the ones whose tick it has reached stay where they are and
//! become the *ready batch*, whose `(due, seq)` keys are sorted into a run
//! that firing consumes from the front. A timer placed at or before the
//! wheel's position (set in the past, or moved there) goes to a *late*
//! bucket with its key in a small binary heap; firing takes the earlier of
//! the two fronts. Cancelling or moving a ready timer leaves its key behind,
//! to be dropped when it reaches a front (lazy deletion).
//!
//! With many timers, memory decides the speed: a step handles timers set at
//! unrelated times, and new memory costs a page fault per 4 KiB. So the
//! items live in the buckets themselves, in blocks of 64 taken from one
//! arena and recycled as buckets empty: setting a timer appends to its
//! bucket, a step reads its buckets' blocks front to back and appends to
//! others (the blocks it empties are the next ones filled), a batch is
//! sorted where it lies, and only cancelling reaches into the middle of the
//! arena. A timer's slab slot (its ID) records where its item is; a fired
//! timer's record is left as it is: the entry there is gone, or belongs to
//! another slot.
//!
//! Each session's timers are indexed by the session's slot: a list of slab
//! slots that firing does not touch (it only counts down), emptied when the
//! count reaches zero and compacted when dead entries outnumber live ones.
//! Clearing a session's timers by name or all at once visits only that
//! session's timers.

use std::{cmp::Reverse, collections::BinaryHeap};

use super::item::Item;
use crate::{event::Event, id::SessionId};

const NIL: u32 = u32::MAX;
/// A tick is 2^20 ns.
const TICK_SHIFT: u32 = 20;
/// Bits of a tick each level resolves.
const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
const LEVELS: usize = 6;
/// Ticks whose digits above the wheel's range differ from `elapsed`'s wait
/// in the overflow bucket.
const WHEEL_BITS: u32 = LEVEL_BITS * LEVELS as u32;
/// The overflow bucket, after the wheel's.
const OVERFLOW: usize = LEVELS * SLOTS;
/// Ready timers placed at or before the wheel's position, keyed in `late`.
const LATE: usize = OVERFLOW + 1;
/// The ready batch, keyed in `run`.
const BATCH: usize = LATE + 1;
const BUCKETS: usize = BATCH + 1;
/// Entries per block.
const BLOCK_BITS: u32 = 6;
const BLOCK: usize = 1 << BLOCK_BITS;

/// The tick a due time falls in, as an unsigned number that keeps the order
/// of signed due times (so times before the kernel started work as well).
#[inline]
fn tick_of(due: i64) -> u64 {
    ((due as u64) ^ (1 << 63)) >> TICK_SHIFT
}

/// The first nanosecond of `tick`.
#[inline]
fn tick_start(tick: u64) -> i64 {
    ((tick << TICK_SHIFT) ^ (1 << 63)) as i64
}

/// The level a timer due in `tick` (later than `elapsed`) waits on;
/// `LEVELS` or more means the overflow bucket.
#[inline]
fn level_for(elapsed: u64, tick: u64) -> usize {
    let masked = (elapsed ^ tick) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / LEVEL_BITS) as usize
}

/// The slot `tick` names on `level`.
#[inline]
fn slot_for(tick: u64, level: usize) -> usize {
    (tick >> (LEVEL_BITS * level as u32)) as usize & (SLOTS - 1)
}

/// A ready timer's place in firing order; `at` is its entry. The derived
/// order is `(due, seq)` (`at` never decides: `seq` is unique).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Key {
    due: i64,
    seq: u64,
    at: u32,
}

/// Sorts a batch's keys, which all share one tick, by `(due, seq)`: a
/// radix sort on the nanoseconds within the tick (two passes of 10 bits),
/// then `seq` order among equal due times. A comparison sort costs several
/// times as much per key, and a batch can hold every timer of a tick.
fn sort_batch(keys: &mut Vec<Key>, scratch: &mut Vec<Key>) {
    const DIGIT_BITS: u32 = TICK_SHIFT / 2;
    const DIGITS: usize = 1 << DIGIT_BITS;
    if keys.len() < 256 {
        keys.sort_unstable();
        return;
    }
    debug_assert!(
        keys.iter()
            .all(|key| tick_of(key.due) == tick_of(keys[0].due))
    );
    for shift in [0, DIGIT_BITS] {
        let digit = |key: &Key| (key.due as u64 >> shift) as usize & (DIGITS - 1);
        let mut starts = [0u32; DIGITS];
        for key in keys.iter() {
            starts[digit(key)] += 1;
        }
        let mut sum = 0;
        for start in &mut starts {
            sum += std::mem::replace(start, sum);
        }
        scratch.clear();
        scratch.resize(keys.len(), keys[0]);
        for &key in keys.iter() {
            let start = &mut starts[digit(&key)];
            scratch[*start as usize] = key;
            *start += 1;
        }
        std::mem::swap(keys, scratch);
    }
    let mut start = 0;
    while start < keys.len() {
        let due = keys[start].due;
        let end = start
            + keys[start..]
                .iter()
                .take_while(|key| key.due == due)
                .count();
        keys[start..end].sort_unstable();
        start = end;
    }
}

/// A timer in a bucket, and its slab slot.
struct Entry {
    item: Item,
    slot: u32,
}

/// A list of blocks holding timers: a wheel slot, the overflow, the late
/// timers or the batch.
#[derive(Clone, Copy)]
struct Bucket {
    head: u32,
    tail: u32,
    /// Entries holding a timer.
    live: u32,
    /// Entries whose timer left.
    holes: u32,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        head: NIL,
        tail: NIL,
        live: 0,
        holes: 0,
    };
}

/// What a block of [`BLOCK`] entries holds and where it belongs.
#[derive(Clone, Copy)]
struct Block {
    next: u32,
    /// Entries used so far; holes are not reused.
    fill: u8,
    owner: u16,
}

/// The timers of one session slot.
#[derive(Default)]
struct Owned {
    /// Live timers whose target has this session slot.
    live: usize,
    /// Their slab slots, and slots whose timer is gone (or is another one
    /// now, perhaps listed again) not yet dropped.
    timers: Vec<u32>,
}

/// # Invariants
///
/// With `elapsed` the wheel's position in ticks: a live timer due in a tick
/// after `elapsed` is in exactly the bucket [`level_for`] and [`slot_for`]
/// name (overflow ticks are all at least `overflow_floor`, and their digits
/// above the wheel's range differ from `elapsed`'s). A live timer due by
/// then is ready: in `BATCH` with one key in `run` at or after `cursor`, or
/// in `LATE` with one key in `late`. Every key names an entry that is
/// empty, or holds that timer. `places[slot]` names the entry of slot's
/// live timer. A slot's `occupied` bit is set exactly when its bucket has
/// live entries, and every occupied slot's digit is greater than
/// `elapsed`'s digit on that level. `run` is sorted. A batch is only built
/// when nothing is ready. `live` counts live timers, and each session
/// slot's `Owned` counts and lists every live timer whose target has that
/// slot.
pub(crate) struct Timers {
    /// Blocks of entries; block `b` is `entries[b * BLOCK..][..BLOCK]`.
    entries: Chunked<Option<Entry>>,
    blocks: Vec<Block>,
    free_blocks: Vec<u32>,
    buckets: [Bucket; BUCKETS],
    /// The entry of each slab slot's timer.
    places: Chunked<u32>,
    free: Vec<u32>,
    live: usize,
    elapsed: u64,
    occupied: [u64; LEVELS],
    overflow_floor: u64,
    run: Vec<Key>,
    /// Room for sorting `run`.
    scratch: Vec<Key>,
    cursor: usize,
    late: BinaryHeap<Reverse<Key>>,
    sessions: Vec<Owned>,
    /// Buckets emptied by the wheel's moves, for tests.
    #[cfg(test)]
    visits: u64,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            entries: Chunked::default(),
            blocks: Vec::new(),
            free_blocks: Vec::new(),
            buckets: [Bucket::EMPTY; BUCKETS],
            places: Chunked::default(),
            free: Vec::new(),
            live: 0,
            // Kernel time 0: the clock starts there, and earlier times are
            // simply ready.
            elapsed: tick_of(0),
            occupied: [0; LEVELS],
            overflow_floor: u64::MAX,
            run: Vec::new(),
            scratch: Vec::new(),
            cursor: 0,
            late: BinaryHeap::new(),
            sessions: Vec::new(),
            #[cfg(test)]
            visits: 0,
        }
    }
}

impl Timers {
    /// Adds a timer; `item.due` is its due time. Returns its slot.
    pub fn insert(&mut self, item: Item) -> u32 {
        let owner = item.target.slot();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.places.push(NIL);
                u32::try_from(self.places.len() - 1).expect("fewer than 2^32 timers")
            }
        };
        self.live += 1;
        self.place(Entry { item, slot });
        if owner >= self.sessions.len() {
            self.sessions.resize_with(owner + 1, Owned::default);
        }
        let owned = &mut self.sessions[owner];
        owned.live += 1;
        owned.timers.push(slot);
        if owned.timers.len() > 2 * owned.live + 16 {
            self.compact_session(owner);
        }
        slot
    }

    /// The timer in `slot`, if it is the one numbered `seq`.
    pub fn get(&self, slot: usize, seq: u64) -> Option<&Item> {
        self.live_item(slot).filter(|item| item.seq == seq)
    }

    /// Removes the timer in `slot` if it is the one numbered `seq`.
    pub fn remove(&mut self, slot: usize, seq: u64) -> Option<Item> {
        self.get(slot, seq)?;
        let item = self.take(slot as u32);
        self.compact_if_stale();
        Some(item)
    }

    /// Moves a timer to a new due time; its place among equal times is kept
    /// by its original `seq`.
    pub fn set_due(&mut self, slot: usize, seq: u64, due: i64) -> Option<i64> {
        if self.get(slot, seq)?.due == due {
            return Some(due);
        }
        let mut entry = self.take_entry(self.places[slot]);
        entry.item.due = due;
        self.place(entry);
        self.compact_if_stale();
        Some(due)
    }

    /// The `(due, seq)` of the earliest timer, if it is due by `now`.
    ///
    /// Moves the wheel only as far as it must: slot by occupied slot while
    /// nothing is ready and a slot starts by `now`, then (nothing being due)
    /// up to `now`.
    #[inline]
    pub fn peek_due(&mut self, now: i64) -> Option<(i64, u64)> {
        let limit = tick_of(now);
        loop {
            if let Some((key, _)) = self.ready_top() {
                return (key.due <= now).then_some((key.due, key.seq));
            }
            if !self.step(limit) {
                self.catch_up(limit);
                return None;
            }
        }
    }

    /// A time at or before the earliest timer's due time: when the kernel
    /// should look again. Exact once the earliest timer is ready; before
    /// that, the start of the wheel slot it waits in.
    pub fn next_wakeup(&mut self) -> Option<i64> {
        if let Some((key, _)) = self.ready_top() {
            return Some(key.due);
        }
        if let Some((.., tick)) = self.next_slot() {
            return Some(tick_start(tick));
        }
        (self.buckets[OVERFLOW].live > 0).then(|| tick_start(self.overflow_floor))
    }

    /// Removes and returns the earliest timer (after `peek_due` found it).
    #[inline]
    pub fn pop(&mut self) -> Option<Item> {
        loop {
            if let Some((key, in_run)) = self.ready_top() {
                if in_run {
                    self.cursor += 1;
                } else {
                    self.late.pop();
                }
                // The slot's record still names the entry, which is empty
                // now (or, once reused, another slot's); reuse overwrites it.
                let entry = self.take_entry(key.at);
                self.free.push(entry.slot);
                self.forget(&entry.item);
                return Some(entry.item);
            }
            if !self.step(u64::MAX) {
                return None;
            }
        }
    }

    /// Removes every timer of `session`, earliest first.
    pub fn remove_session(&mut self, session: SessionId) -> Vec<Item> {
        self.remove_session_where(session, |_| true)
    }

    /// Removes the timers of `session` named `event`, earliest first.
    pub fn remove_named(&mut self, session: SessionId, event: Event) -> Vec<Item> {
        self.remove_session_where(session, |item| item.event == event)
    }

    fn remove_session_where(
        &mut self,
        session: SessionId,
        mut doomed: impl FnMut(&Item) -> bool,
    ) -> Vec<Item> {
        let owner = session.slot();
        let Some(owned) = self.sessions.get_mut(owner) else {
            return Vec::new();
        };
        let listed = std::mem::take(&mut owned.timers);
        let mut kept = Vec::with_capacity(listed.len());
        let mut removed = Vec::new();
        for slot in listed {
            let Some(item) = self.listed_item(owner, slot) else {
                continue;
            };
            // A reused session slot may still list a dead session's timers.
            if item.target == session && doomed(item) {
                removed.push(self.take(slot));
            } else {
                kept.push(slot);
            }
        }
        kept.sort_unstable();
        kept.dedup();
        let owned = &mut self.sessions[owner];
        debug_assert!(owned.timers.is_empty(), "nothing is added meanwhile");
        debug_assert_eq!(owned.live, kept.len());
        owned.timers = kept;
        removed.sort_by_key(|item| (item.due, item.seq));
        self.compact_if_stale();
        removed
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// How many live timers target the session in `slot`.
    pub fn count_of(&self, slot: usize) -> usize {
        self.sessions.get(slot).map_or(0, |owned| owned.live)
    }

    /// Every pending timer, in no particular order (for snapshots).
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.entries.iter().flatten().map(|entry| &entry.item)
    }

    /// Removes everything (the kernel stopped).
    pub fn clear(&mut self) -> Vec<Item> {
        let mut items = Vec::with_capacity(self.live);
        if self.live > 0 {
            let entries = std::mem::take(&mut self.entries).into_values();
            items.extend(entries.flatten().map(|entry| entry.item));
        }
        *self = Timers::default();
        items
    }

    // ----- the wheel ----------------------------------------------------------

    /// Puts a timer where its due time says: in a wheel bucket, or (due by
    /// the wheel's position) with the late ones.
    #[inline]
    fn place(&mut self, entry: Entry) {
        let (due, seq, slot) = (entry.item.due, entry.item.seq, entry.slot);
        let tick = tick_of(due);
        let b = if tick <= self.elapsed {
            LATE
        } else {
            let level = level_for(self.elapsed, tick);
            if level < LEVELS {
                let s = slot_for(tick, level);
                self.occupied[level] |= 1 << s;
                level * SLOTS + s
            } else {
                self.overflow_floor = self.overflow_floor.min(tick);
                OVERFLOW
            }
        };
        let at = self.append(b, entry);
        self.places[slot as usize] = at;
        if b == LATE {
            self.late.push(Reverse(Key { due, seq, at }));
        }
    }

    /// The earliest occupied slot: its level, its index and its first tick.
    /// Lower levels come first: their slots end before the next slot of the
    /// level above begins.
    #[inline]
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let s = self.occupied[level].trailing_zeros() as usize;
        let shift = LEVEL_BITS * level as u32;
        debug_assert!(
            s > slot_for(self.elapsed, level),
            "occupied slots lie ahead of the wheel"
        );
        let above = (self.elapsed >> (shift + LEVEL_BITS)) << (shift + LEVEL_BITS);
        Some((level, s, above | ((s as u64) << shift)))
    }

    /// With nothing ready: moves the wheel to its earliest occupied slot, or
    /// to the earliest overflow timer, if that starts by `limit`, and places
    /// the timers found there again. Returns whether it moved.
    fn step(&mut self, limit: u64) -> bool {
        let b = if let Some((level, s, start)) = self.next_slot() {
            if start > limit {
                return false;
            }
            self.elapsed = start;
            self.occupied[level] &= !(1 << s);
            level * SLOTS + s
        } else {
            if self.buckets[OVERFLOW].live == 0 || self.overflow_floor > limit {
                return false;
            }
            let floor = self
                .bucket_entries(OVERFLOW)
                .map(|at| tick_of(self.entry(at).item.due))
                .min()
                .expect("the overflow has live entries");
            self.overflow_floor = floor;
            if floor > limit {
                return false;
            }
            // The wheel is empty, so it may jump to the earliest timer.
            self.elapsed = floor;
            self.overflow_floor = u64::MAX;
            OVERFLOW
        };
        self.replace(b);
        true
    }

    /// With nothing ready or due by `limit`: moves the wheel's position up
    /// to `limit`, so timers set from now on land on low levels. Timers on
    /// the wheel keep their slots (all start after `limit`); overflow timers
    /// now within the wheel's reach move onto it.
    fn catch_up(&mut self, limit: u64) {
        if limit <= self.elapsed {
            return;
        }
        debug_assert!(self.next_slot().is_none_or(|(.., start)| start > limit));
        self.elapsed = limit;
        if self.buckets[OVERFLOW].live > 0
            && self.overflow_floor >> WHEEL_BITS <= limit >> WHEEL_BITS
        {
            self.overflow_floor = u64::MAX;
            self.replace(OVERFLOW);
        }
    }

    /// Places again every timer of a bucket after the wheel moved: a timer
    /// due by its position stays where it is and joins the new batch; the
    /// others move down the wheel. Blocks left empty go back to the arena.
    fn replace(&mut self, b: usize) {
        #[cfg(test)]
        {
            self.visits += 1;
        }
        debug_assert_eq!(
            self.buckets[BATCH].live, 0,
            "a batch is built only when nothing is ready"
        );
        self.release_bucket(BATCH);
        self.run.clear();
        self.cursor = 0;
        let mut block = self.buckets[b].head;
        self.buckets[b] = Bucket::EMPTY;
        while block != NIL {
            let Block { next, fill, .. } = self.blocks[block as usize];
            let first = block as usize * BLOCK;
            let mut kept = 0;
            for at in first..first + usize::from(fill) {
                let Some(entry) = &self.entries[at] else {
                    continue;
                };
                let (due, seq) = (entry.item.due, entry.item.seq);
                if tick_of(due) <= self.elapsed {
                    self.run.push(Key {
                        due,
                        seq,
                        at: at as u32,
                    });
                    kept += 1;
                } else {
                    let entry = self.entries[at].take().expect("just looked");
                    self.place(entry);
                }
            }
            if kept == 0 {
                self.free_blocks.push(block);
            } else {
                self.adopt(BATCH, block, kept);
            }
            block = next;
        }
        sort_batch(&mut self.run, &mut self.scratch);
    }

    // ----- the ready timers ---------------------------------------------------

    /// The earliest ready key, and whether it heads the run (rather than
    /// the heap), after dropping stale keys from both.
    #[inline]
    fn ready_top(&mut self) -> Option<(Key, bool)> {
        while let Some(&key) = self.run.get(self.cursor) {
            if self.entries[key.at as usize].is_some() {
                break;
            }
            self.cursor += 1;
        }
        while let Some(&Reverse(key)) = self.late.peek() {
            if self.entries[key.at as usize].is_some() {
                break;
            }
            self.late.pop();
        }
        match (self.run.get(self.cursor), self.late.peek()) {
            (Some(&run), Some(&Reverse(late))) if late < run => Some((late, false)),
            (Some(&run), _) => Some((run, true)),
            (None, Some(&Reverse(late))) => Some((late, false)),
            (None, None) => None,
        }
    }

    /// Drops stale heap keys once they outnumber live timers, so moving and
    /// cancelling ready timers cannot grow the heap without bound.
    fn compact_if_stale(&mut self) {
        if self.late.len() > 2 * self.buckets[LATE].live as usize + 64 {
            let mut keys: Vec<Key> = std::mem::take(&mut self.late)
                .into_iter()
                .map(|Reverse(key)| key)
                .filter(|key| self.entries[key.at as usize].is_some())
                .collect();
            keys.sort_unstable();
            keys.dedup();
            self.late = keys.into_iter().map(Reverse).collect();
        }
    }

    // ----- buckets and blocks -------------------------------------------------

    /// Appends a timer to bucket `b`; returns its entry.
    #[inline]
    fn append(&mut self, b: usize, entry: Entry) -> u32 {
        let tail = self.buckets[b].tail;
        let block = if tail != NIL && usize::from(self.blocks[tail as usize].fill) < BLOCK {
            tail
        } else {
            let block = self.new_block(b);
            if tail == NIL {
                self.buckets[b].head = block;
            } else {
                self.blocks[tail as usize].next = block;
            }
            self.buckets[b].tail = block;
            block
        };
        let info = &mut self.blocks[block as usize];
        let at = block as usize * BLOCK + usize::from(info.fill);
        info.fill += 1;
        self.entries[at] = Some(entry);
        self.buckets[b].live += 1;
        at as u32
    }

    /// An empty block for bucket `b`, recycled if one is free.
    #[inline]
    fn new_block(&mut self, b: usize) -> u32 {
        let block = Block {
            next: NIL,
            fill: 0,
            owner: b as u16,
        };
        match self.free_blocks.pop() {
            Some(index) => {
                self.blocks[index as usize] = block;
                index
            }
            None => {
                assert!(
                    self.blocks.len() < 1 << (32 - BLOCK_BITS),
                    "fewer than 2^32 entries"
                );
                let index = self.blocks.len() as u32;
                self.blocks.push(block);
                for _ in 0..BLOCK {
                    self.entries.push(None);
                }
                index
            }
        }
    }

    /// Makes a block holding `live` timers (taken from a bucket being
    /// placed again) part of bucket `b`.
    fn adopt(&mut self, b: usize, block: u32, live: u32) {
        let info = &mut self.blocks[block as usize];
        info.owner = b as u16;
        info.next = NIL;
        let bucket = &mut self.buckets[b];
        bucket.live += live;
        bucket.holes += u32::from(info.fill) - live;
        if bucket.tail == NIL {
            bucket.head = block;
        } else {
            self.blocks[bucket.tail as usize].next = block;
        }
        bucket.tail = block;
    }

    /// Empties bucket `b`, whose entries hold no timer any more, and frees
    /// its blocks.
    fn release_bucket(&mut self, b: usize) {
        debug_assert_eq!(self.buckets[b].live, 0);
        let mut block = self.buckets[b].head;
        while block != NIL {
            let info = self.blocks[block as usize];
            debug_assert!(
                (0..usize::from(info.fill))
                    .all(|i| self.entries[block as usize * BLOCK + i].is_none())
            );
            self.free_blocks.push(block);
            block = info.next;
        }
        self.buckets[b] = Bucket::EMPTY;
    }

    /// The entries of bucket `b` that hold a timer.
    fn bucket_entries(&self, b: usize) -> impl Iterator<Item = u32> + '_ {
        let mut block = self.buckets[b].head;
        std::iter::from_fn(move || {
            if block == NIL {
                return None;
            }
            let info = self.blocks[block as usize];
            let first = block * BLOCK as u32;
            block = info.next;
            Some(first..first + u32::from(info.fill))
        })
        .flatten()
        .filter(|&at| self.entries[at as usize].is_some())
    }

    /// Takes the timer out of entry `at`, leaving a hole, and keeps its
    /// bucket's counts: an emptied bucket is cleared, and one with twice as
    /// many holes as timers is compacted (so cancelling stays O(1)
    /// amortised, and memory within three times what live timers need).
    fn take_entry(&mut self, at: u32) -> Entry {
        let entry = self.entries[at as usize].take().expect("a live entry");
        let b = usize::from(self.blocks[at as usize >> BLOCK_BITS].owner);
        let bucket = &mut self.buckets[b];
        bucket.live -= 1;
        bucket.holes += 1;
        let (live, holes) = (bucket.live, bucket.holes);
        if b == BATCH {
            // Freed with the next batch.
        } else if live == 0 {
            self.release_bucket(b);
            match b {
                OVERFLOW => self.overflow_floor = u64::MAX,
                LATE => self.late.clear(),
                _ => self.occupied[b / SLOTS] &= !(1 << (b % SLOTS)),
            }
        } else if holes > 2 * live + 2 * BLOCK as u32 {
            self.compact_bucket(b);
        }
        entry
    }

    /// Moves a bucket's timers into fresh blocks, dropping its holes.
    #[cold]
    fn compact_bucket(&mut self, b: usize) {
        let mut block = self.buckets[b].head;
        self.buckets[b] = Bucket::EMPTY;
        while block != NIL {
            let info = self.blocks[block as usize];
            for at in block as usize * BLOCK..block as usize * BLOCK + usize::from(info.fill) {
                if let Some(entry) = self.entries[at].take() {
                    let slot = entry.slot;
                    let moved = self.append(b, entry);
                    self.places[slot as usize] = moved;
                }
            }
            self.free_blocks.push(block);
            block = info.next;
        }
        if b == LATE {
            let keys: Vec<Reverse<Key>> = self
                .bucket_entries(LATE)
                .map(|at| {
                    let item = &self.entry(at).item;
                    Reverse(Key {
                        due: item.due,
                        seq: item.seq,
                        at,
                    })
                })
                .collect();
            self.late = BinaryHeap::from(keys);
        }
    }

    // ----- the slab and the session index -------------------------------------

    #[inline]
    fn entry(&self, at: u32) -> &Entry {
        self.entries[at as usize].as_ref().expect("a live entry")
    }

    /// The live timer in `slot`, whichever it is.
    #[inline]
    fn live_item(&self, slot: usize) -> Option<&Item> {
        let at = *self.places.get(slot)?;
        match self.entries.get(at as usize)? {
            Some(entry) if entry.slot as usize == slot => Some(&entry.item),
            _ => None,
        }
    }

    /// The live timer in `slot`, if a session in slot `owner` set it.
    #[inline]
    fn listed_item(&self, owner: usize, slot: u32) -> Option<&Item> {
        self.live_item(slot as usize)
            .filter(|item| item.target.slot() == owner)
    }

    /// Removes the live timer in `slot`.
    fn take(&mut self, slot: u32) -> Item {
        let entry = self.take_entry(self.places[slot as usize]);
        self.places[slot as usize] = NIL;
        self.free.push(slot);
        self.forget(&entry.item);
        entry.item
    }

    /// Counts a timer out (it fired or was removed).
    #[inline]
    fn forget(&mut self, item: &Item) {
        self.live -= 1;
        let owned = &mut self.sessions[item.target.slot()];
        owned.live -= 1;
        if owned.live == 0 {
            owned.timers.clear();
        }
    }

    /// Drops a session slot's entries for timers that are gone, and
    /// repeats.
    #[cold]
    fn compact_session(&mut self, owner: usize) {
        let mut listed = std::mem::take(&mut self.sessions[owner].timers);
        listed.retain(|&slot| self.listed_item(owner, slot).is_some());
        listed.sort_unstable();
        listed.dedup();
        self.sessions[owner].timers = listed;
    }
}

/// Elements per chunk of a [`Chunked`] array.
const CHUNK_BITS: u32 = 12;

/// A growable array that never moves what it holds: it grows by whole
/// chunks. A `Vec` of a million timers would copy itself (tens of
/// megabytes) within the one insert that outgrows it, a stall an event
/// loop should not have, and touch twice the memory.
struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Chunked<T> {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, value: T) {
        if self.len & ((1 << CHUNK_BITS) - 1) == 0 {
            self.chunks.push(Vec::with_capacity(1 << CHUNK_BITS));
        }
        self.chunks
            .last_mut()
            .expect("a chunk with room")
            .push(value);
        self.len += 1;
    }

    #[inline]
    fn get(&self, index: usize) -> Option<&T> {
        self.chunks
            .get(index >> CHUNK_BITS)?
            .get(index & ((1 << CHUNK_BITS) - 1))
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    fn into_values(self) -> impl Iterator<Item = T> {
        self.chunks.into_iter().flatten()
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_BITS][index & ((1 << CHUNK_BITS) - 1)]
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
    #[inline]
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> CHUNK_BITS][index & ((1 << CHUNK_BITS) - 1)]
    }
}

#[cfg(test)]
mod tests;
