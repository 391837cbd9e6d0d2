//! The timing wheel against a sorted model, and its bounds.

use std::{collections::BTreeMap, panic::Location};

use super::*;
use crate::{
    id::KernelId,
    queue::item::{Kind, NO_ARGS},
};

fn session(n: u64) -> SessionId {
    SessionId::new(KernelId(0), n as u32, n)
}

fn item(seq: u64, due: i64, target: SessionId, name: &str) -> Item {
    item_for(seq, due, target, Event::new(name))
}

fn item_for(seq: u64, due: i64, target: SessionId, event: Event) -> Item {
    Item {
        seq,
        due,
        target,
        sender: target,
        event,
        kind: Kind::Timer,
        aux: NO_ARGS,
        caller_state: None,
        location: Location::caller(),
    }
}

fn drain(timers: &mut Timers) -> Vec<u64> {
    std::iter::from_fn(|| timers.pop()).map(|i| i.seq).collect()
}

#[test]
fn fires_by_due_then_by_insertion() {
    let mut t = Timers::default();
    let s = session(1);
    t.insert(item(1, 30, s, "a"));
    t.insert(item(2, 10, s, "a"));
    t.insert(item(3, 20, s, "a"));
    t.insert(item(4, 20, s, "a"));
    t.insert(item(5, 10, s, "a"));
    assert_eq!(drain(&mut t), [2, 5, 3, 4, 1]);
    assert!(t.is_empty());
}

#[test]
fn removed_and_adjusted_timers_leave_no_trace() {
    let mut t = Timers::default();
    let s = session(1);
    let a = t.insert(item(1, 10, s, "a"));
    let b = t.insert(item(2, 20, s, "b"));
    t.insert(item(3, 30, s, "c"));
    assert!(t.remove(a as usize, 1).is_some());
    assert!(t.remove(a as usize, 1).is_none(), "removing twice fails");
    assert_eq!(t.set_due(b as usize, 2, 40), Some(40));
    assert_eq!(t.peek_due(100), Some((30, 3)));
    assert_eq!(t.peek_due(29), None);
    assert_eq!(t.next_wakeup(), Some(30));
    assert_eq!(drain(&mut t), [3, 2]);
}

#[test]
fn a_reused_slot_does_not_answer_to_the_old_id() {
    let mut t = Timers::default();
    let s = session(1);
    let a = t.insert(item(1, 10, s, "a"));
    t.remove(a as usize, 1);
    let again = t.insert(item(2, 10, s, "a"));
    assert_eq!(a, again);
    assert!(t.get(a as usize, 1).is_none());
    assert!(t.get(a as usize, 2).is_some());
}

#[test]
fn name_clearing_touches_one_session_only() {
    let mut t = Timers::default();
    let (one, two) = (session(1), session(2));
    t.insert(item(1, 10, one, "ring"));
    t.insert(item(2, 20, two, "ring"));
    t.insert(item(3, 30, one, "ring"));
    t.insert(item(4, 40, one, "other"));
    let gone: Vec<u64> = t
        .remove_named(one, Event::new("ring"))
        .iter()
        .map(|i| i.seq)
        .collect();
    assert_eq!(gone, [1, 3]);
    assert_eq!(drain(&mut t), [2, 4]);
}

#[test]
fn session_lists_survive_removal_from_the_middle() {
    let mut t = Timers::default();
    let s = session(1);
    let slots: Vec<u32> = (1..=5)
        .map(|n| t.insert(item(n, n as i64, s, "x")))
        .collect();
    t.remove(slots[2] as usize, 3);
    t.remove(slots[4] as usize, 5);
    t.remove(slots[0] as usize, 1);
    let rest: Vec<u64> = t.remove_session(s).iter().map(|i| i.seq).collect();
    assert_eq!(rest, [2, 4]);
    assert_eq!(t.len(), 0);
    assert!(
        t.sessions
            .iter()
            .all(|owned| owned.live == 0 && owned.timers.is_empty())
    );
}

#[test]
fn cancelling_many_timers_keeps_the_heap_small() {
    let mut t = Timers::default();
    let s = session(1);
    for n in 0..10_000u64 {
        let slot = t.insert(item(n, n as i64, s, "x"));
        t.set_due(slot as usize, n, n as i64 + 1);
        t.remove(slot as usize, n);
    }
    assert!(t.late.len() <= 2 * t.live + 64 + 1);
    assert!(t.sessions[1].timers.len() <= 2 * t.sessions[1].live + 16 + 1);
    assert!(t.blocks.len() <= 4, "{} blocks", t.blocks.len());
}

#[test]
fn nodes_stay_compact() {
    assert!(std::mem::size_of::<Option<Entry>>() <= std::mem::size_of::<Item>() + 8);
    assert_eq!(std::mem::size_of::<Block>(), 8);
}

#[test]
fn ticks_keep_the_order_of_due_times() {
    let dues = [
        i64::MIN,
        i64::MIN + 1,
        -(1 << 40) - 1,
        -(1 << 20) - 1,
        -(1 << 20),
        -1,
        0,
        1,
        (1 << 20) - 1,
        1 << 20,
        1 << 56,
        i64::MAX,
    ];
    for pair in dues.windows(2) {
        assert!(tick_of(pair[0]) <= tick_of(pair[1]));
        assert!(tick_start(tick_of(pair[1])) <= pair[1]);
    }
    assert_eq!(tick_of(-1) + 1, tick_of(0));
    assert_eq!(tick_of((1 << 20) - 1), tick_of(0));
    assert_eq!(tick_start(tick_of(1 << 20)), 1 << 20);
    assert_eq!(tick_start(tick_of(-5)), -(1 << 20));
}

/// Timers far beyond the wheel wait in the overflow list and still fire
/// in order with near ones.
#[test]
fn far_timers_overflow_and_come_back_in_order() {
    let mut t = Timers::default();
    let s = session(1);
    let year = 365 * 24 * 3600 * 1_000_000_000_i64;
    t.insert(item(1, 5 * year, s, "x"));
    t.insert(item(2, 3 * year, s, "x"));
    t.insert(item(3, 1_000, s, "x"));
    t.insert(item(4, 5 * year, s, "x"));
    t.insert(item(5, i64::MAX, s, "x"));
    assert!(t.next_wakeup().unwrap() <= 1_000);
    assert_eq!(t.peek_due(2 * year), Some((1_000, 3)));
    assert_eq!(t.pop().map(|i| i.seq), Some(3));
    assert_eq!(t.peek_due(2 * year), None);
    assert!(t.next_wakeup().unwrap() <= 3 * year);
    assert_eq!(drain(&mut t), [2, 1, 4, 5]);
}

#[test]
fn the_radix_sort_orders_a_batch_as_a_comparison_sort_would() {
    let mut rng = Rng(0x0dd_5eed);
    for base in [-(5 << TICK_SHIFT), 0, 7 << TICK_SHIFT] {
        let mut keys: Vec<Key> = (0..5_000u32)
            .map(|n| Key {
                due: base + (rng.below(1 << 12) << 8) as i64,
                seq: rng.below(1 << 40),
                at: n,
            })
            .collect();
        let mut expect = keys.clone();
        expect.sort_unstable();
        sort_batch(&mut keys, &mut Vec::new());
        assert_eq!(keys, expect);
    }
}

#[test]
fn cancelling_most_of_a_wheel_slot_compacts_it() {
    let mut t = Timers::default();
    let s = session(1);
    let far = 40 * HOUR;
    let slots: Vec<u32> = (1..=2_000u64)
        .map(|n| t.insert(item(n, far + n as i64, s, "x")))
        .collect();
    let full = t.blocks.len();
    for (n, &slot) in (1..=2_000u64).zip(&slots) {
        if n % 20 != 0 {
            assert!(t.remove(slot as usize, n).is_some());
        }
    }
    let level = level_for(t.elapsed, tick_of(far));
    let bucket = t.buckets[level * SLOTS + slot_for(tick_of(far), level)];
    assert_eq!(bucket.live, 100);
    assert!(bucket.holes <= 2 * 100 + 2 * BLOCK as u32);
    assert!(t.free_blocks.len() >= full / 2);
    let fired = drain_due(&mut t, far + 3_000);
    assert_eq!(fired, (1..=100).map(|n| 20 * n).collect::<Vec<u64>>());
}

#[test]
fn cancelling_most_late_timers_keeps_their_heap_in_step() {
    let mut t = Timers::default();
    let s = session(1);
    assert_eq!(t.peek_due(HOUR), None);
    let slots: Vec<u32> = (1..=1_000u64)
        .map(|n| t.insert(item(n, HOUR - (n as i64 % 7) * 1000, s, "x")))
        .collect();
    for (n, &slot) in (1..=1_000u64).zip(&slots) {
        if n % 10 != 0 {
            t.remove(slot as usize, n);
        }
    }
    assert!(t.late.len() <= 2 * t.buckets[LATE].live as usize + 64 + 1);
    let mut expect: Vec<(i64, u64)> = (1..=100u64)
        .map(|n| (HOUR - (10 * n as i64 % 7) * 1000, 10 * n))
        .collect();
    expect.sort_unstable();
    let fired: Vec<u64> = drain_due(&mut t, HOUR);
    assert_eq!(
        fired,
        expect.iter().map(|&(_, seq)| seq).collect::<Vec<u64>>()
    );
}

#[test]
fn blocks_are_recycled_as_timers_fire() {
    let mut t = Timers::default();
    let s = session(1);
    let mut rng = Rng(7);
    let (mut seq, mut now) = (0, 0);
    let mut peak = 0;
    for round in 0..10 {
        for _ in 0..10_000 {
            seq += 1;
            let due = now + rng.below(100_000_000) as i64;
            t.insert(item_for(seq, due, s, Event::EMPTY));
        }
        while !t.is_empty() {
            now += 1_000_000;
            drain_due(&mut t, now);
        }
        if round == 0 {
            peak = t.blocks.len();
        }
        assert!(
            t.blocks.len() <= peak + LEVELS * SLOTS,
            "{} blocks",
            t.blocks.len()
        );
    }
}

// ----- randomized comparison with a model ---------------------------------

/// xorshift64*: small, deterministic, good enough to shuffle operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the model keeps of a timer.
#[derive(Clone, Copy, Debug)]
struct Pending {
    slot: u32,
    target: SessionId,
    event: Event,
}

struct Check {
    rng: Rng,
    timers: Timers,
    /// The reference: pending timers by `(due, seq)`.
    model: BTreeMap<(i64, u64), Pending>,
    /// `seq -> due` of pending timers.
    dues: BTreeMap<u64, i64>,
    seq: u64,
    now: i64,
    sessions: [SessionId; 4],
    events: [Event; 3],
}

const TICK: i64 = 1 << TICK_SHIFT;
const HOUR: i64 = 3_600_000_000_000;

impl Check {
    fn new(seed: u64) -> Check {
        let mut rng = Rng(seed | 1);
        let now = match rng.below(4) {
            0 => 0,
            1 => -(rng.below(1 << 40) as i64),
            _ => rng.below(1 << 36) as i64,
        };
        Check {
            rng,
            timers: Timers::default(),
            model: BTreeMap::new(),
            dues: BTreeMap::new(),
            seq: 0,
            now,
            // Sessions 1 and 4 share a table slot, as a dead session and
            // the one that reused its slot would.
            sessions: [
                SessionId::new(KernelId(0), 1, 1),
                SessionId::new(KernelId(0), 2, 2),
                SessionId::new(KernelId(0), 3, 3),
                SessionId::new(KernelId(0), 1, 4),
            ],
            events: [Event::new("a"), Event::new("b"), Event::new("c")],
        }
    }

    /// A due time: ties, exact tick boundaries, the near future, the
    /// past, and far beyond the wheel.
    fn due(&mut self) -> i64 {
        let now = self.now;
        let r = &mut self.rng;
        match r.below(12) {
            0 if !self.dues.is_empty() => {
                let nth = r.below(self.dues.len() as u64) as usize;
                *self.dues.values().nth(nth).unwrap()
            }
            1 => now.saturating_add(r.below(200) as i64 * TICK),
            2 => {
                let boundary = (i128::from(now / TICK) + i128::from(r.below(130)))
                    * i128::from(TICK)
                    - i128::from(r.below(2));
                boundary.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
            }
            3 => now - r.below(1 << 30) as i64,
            4 => i64::MIN + r.below(1 << 40) as i64,
            5 => now.saturating_add(r.below(1 << 60) as i64),
            6 => i64::MAX - r.below(1 << 30) as i64,
            7 => now.saturating_add(r.below(64 * 64 * 64) as i64 * TICK),
            8 => now.saturating_add(r.below(100 * HOUR as u64) as i64),
            9 => r.next() as i64,
            _ => now.saturating_add(r.below(100 * TICK as u64) as i64),
        }
    }

    fn pick(&mut self) -> Option<(u64, i64)> {
        if self.dues.is_empty() {
            return None;
        }
        let nth = self.rng.below(self.dues.len() as u64) as usize;
        self.dues.iter().nth(nth).map(|(&s, &d)| (s, d))
    }

    fn insert(&mut self) {
        self.seq += 1;
        let due = self.due();
        let target = self.sessions[self.rng.below(4) as usize];
        let event = self.events[self.rng.below(3) as usize];
        let slot = self.timers.insert(item_for(self.seq, due, target, event));
        self.model.insert(
            (due, self.seq),
            Pending {
                slot,
                target,
                event,
            },
        );
        self.dues.insert(self.seq, due);
    }

    fn remove(&mut self) {
        let Some((seq, due)) = self.pick() else {
            return;
        };
        let pending = self.model.remove(&(due, seq)).unwrap();
        self.dues.remove(&seq);
        let item = self.timers.remove(pending.slot as usize, seq).unwrap();
        assert_eq!((item.due, item.seq), (due, seq));
        assert!(self.timers.remove(pending.slot as usize, seq).is_none());
        assert!(self.timers.get(pending.slot as usize, seq).is_none());
    }

    fn set_due(&mut self) {
        let Some((seq, old)) = self.pick() else {
            return;
        };
        let due = match self.rng.below(4) {
            0 => old,
            1 => old.saturating_sub(self.rng.below(1 << 32) as i64),
            2 => old.saturating_add(self.rng.below(1 << 32) as i64),
            _ => self.due(),
        };
        let pending = self.model.remove(&(old, seq)).unwrap();
        self.model.insert((due, seq), pending);
        self.dues.insert(seq, due);
        assert_eq!(
            self.timers.set_due(pending.slot as usize, seq, due),
            Some(due)
        );
        assert_eq!(
            self.timers.get(pending.slot as usize, seq).unwrap().due,
            due
        );
    }

    fn remove_where(&mut self, named: bool) {
        let session = self.sessions[self.rng.below(4) as usize];
        let event = self.events[self.rng.below(3) as usize];
        let expect: Vec<(i64, u64)> = self
            .model
            .iter()
            .filter(|(_, p)| p.target == session && (!named || p.event == event))
            .map(|(&key, _)| key)
            .collect();
        for key in &expect {
            self.model.remove(key);
            self.dues.remove(&key.1);
        }
        let got: Vec<(i64, u64)> = if named {
            self.timers.remove_named(session, event)
        } else {
            self.timers.remove_session(session)
        }
        .iter()
        .map(|item| (item.due, item.seq))
        .collect();
        assert_eq!(got, expect);
    }

    fn tick_clock(&mut self) {
        let step = match self.rng.below(10) {
            0 => 0,
            1 => self.rng.below(6 * HOUR as u64) as i64,
            2 if self.rng.chance(10) => self.rng.below(1 << 62) as i64,
            3 => self.rng.below(64 * 64 * TICK as u64) as i64,
            _ => self.rng.below(3 * TICK as u64) as i64,
        };
        self.now = self.now.saturating_add(step);
    }

    fn expect_pop(&mut self) {
        let first = self.model.keys().next().copied();
        if let Some(key) = first {
            self.model.remove(&key);
            self.dues.remove(&key.1);
        }
        let got = self.timers.pop().map(|item| (item.due, item.seq));
        assert_eq!(got, first);
    }

    fn fire_due(&mut self) {
        loop {
            let expect = self
                .model
                .keys()
                .next()
                .copied()
                .filter(|&(due, _)| due <= self.now);
            assert_eq!(self.timers.peek_due(self.now), expect);
            if expect.is_none() || self.rng.chance(5) {
                break;
            }
            self.expect_pop();
        }
    }

    fn check_items(&self) {
        let mut listed: Vec<(i64, u64)> = self
            .timers
            .items()
            .map(|item| (item.due, item.seq))
            .collect();
        listed.sort_unstable();
        let expect: Vec<(i64, u64)> = self.model.keys().copied().collect();
        assert_eq!(listed, expect);
    }

    fn check_wakeup(&mut self) {
        if self.rng.chance(10) {
            self.check_items();
        }
        let wake = self.timers.next_wakeup();
        match self.model.keys().next() {
            None => assert_eq!(wake, None),
            Some(&(due, _)) => assert!(wake.is_some_and(|w| w <= due), "{wake:?} > {due}"),
        }
    }

    fn run(&mut self, ops: usize) {
        for _ in 0..ops {
            match self.rng.below(100) {
                0..40 => self.insert(),
                40..48 => self.remove(),
                48..58 => self.set_due(),
                58..60 => self.remove_where(true),
                60 => self.remove_where(false),
                61..75 => self.tick_clock(),
                75..90 => self.fire_due(),
                90..93 => self.expect_pop(),
                93..99 => self.check_wakeup(),
                _ if self.rng.chance(5) => {
                    let mut left: Vec<u64> =
                        self.timers.clear().iter().map(|item| item.seq).collect();
                    left.sort_unstable();
                    let expect: Vec<u64> = self.dues.keys().copied().collect();
                    assert_eq!(left, expect);
                    self.model.clear();
                    self.dues.clear();
                }
                _ => {}
            }
            assert_eq!(self.timers.len(), self.model.len());
            assert_eq!(self.timers.is_empty(), self.model.is_empty());
        }
        while self.timers.peek_due(i64::MAX).is_some() {
            self.expect_pop();
        }
        assert!(self.model.is_empty());
        assert_eq!(self.timers.next_wakeup(), None);
        assert!(self.timers.pop().is_none());
    }
}

#[test]
fn matches_a_sorted_model_under_random_operations() {
    let mut seeds = Rng(0x005e_ed0f_9e37_79b9);
    for _ in 0..200 {
        Check::new(seeds.next()).run(700);
    }
}

#[test]
fn an_idle_gap_of_hours_costs_a_few_slot_visits() {
    let mut t = Timers::default();
    let s = session(1);
    assert_eq!(t.peek_due(5 * HOUR), None);
    assert_eq!(t.visits, 0, "an empty wheel jumps");
    let base = 5 * HOUR;
    t.insert(item(1, base + 3 * HOUR, s, "x"));
    t.insert(item(2, base + 3 * HOUR + 7, s, "x"));
    t.insert(item(3, base + 9 * HOUR, s, "x"));
    assert_eq!(t.peek_due(base + 3 * HOUR - 1), None);
    assert!(t.visits <= 2 * LEVELS as u64, "{} visits", t.visits);
    assert_eq!(t.peek_due(base + 3 * HOUR + 7), Some((base + 3 * HOUR, 1)));
    assert_eq!(drain_due(&mut t, base + 3 * HOUR + 7), [1, 2]);
    let before = t.visits;
    assert_eq!(t.peek_due(base + 20 * HOUR), Some((base + 9 * HOUR, 3)));
    assert!(
        t.visits - before <= 2 * LEVELS as u64,
        "{} visits",
        t.visits
    );
}

fn drain_due(t: &mut Timers, now: i64) -> Vec<u64> {
    let mut fired = Vec::new();
    while t.peek_due(now).is_some() {
        fired.push(t.pop().unwrap().seq);
    }
    fired
}

#[test]
fn a_million_timers_within_100_ms_fire_in_order() {
    let mut t = Timers::default();
    let s = session(1);
    let ring = Event::new("ring");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = 123_456_789;
    for seq in 1..=1_000_000 {
        let due = start + rng.below(100_000_000) as i64;
        t.insert(item_for(seq, due, s, ring));
    }
    let (mut now, mut last, mut fired) = (start, (i64::MIN, 0), 0);
    while !t.is_empty() {
        assert!(t.next_wakeup().is_some());
        while let Some(key) = t.peek_due(now) {
            assert!(key > last, "{key:?} after {last:?}");
            let item = t.pop().unwrap();
            assert_eq!((item.due, item.seq), key);
            last = key;
            fired += 1;
        }
        now += 1_000_000;
    }
    assert_eq!(fired, 1_000_000);
    assert!(t.visits < 200, "{} slot visits", t.visits);
}
