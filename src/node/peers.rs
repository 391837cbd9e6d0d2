//! A node's view of the other nodes it is connected to.
//!
//! Each node publishes its kernel 0 node session under the node's IKC
//! name, with `ping`, `probe` and `note`. On every heartbeat the node calls
//! `probe` of each connected node, and posts it a `note`, by that plain
//! name: IKC's transparent naming, exactly as a local session would be
//! called. What comes back is kept per peer: when it was first reached,
//! the round trips of the last calls, the calls that failed, and the notes
//! it sent. The node logs when a peer is first reached and when it goes,
//! and prints the figures on SIGUSR1: what a user looks at to see that a
//! cluster holds together, and what the cluster test measures.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use roe::{Answer, Args, Context, Map, Value};
use roe_ikc::Ikc;

/// The states a node publishes under its name.
pub const PUBLISHED: [&str; 3] = ["ping", "probe", "note"];

/// The node session's events for its peers.
pub const PROBED: &str = "probed";
pub const PEER_GONE: &str = "peer_gone";

/// Round trips kept per peer, for the percentiles.
const KEPT: usize = 1024;

/// Peers followed at most: a node connected to more probes the first.
const MAX_PEERS: usize = 256;

/// A call unanswered this long has failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a node knows of its peers.
pub struct Peers {
    ikc: Ikc,
    /// When the node started, to say how long reaching a peer took.
    started: Instant,
    next_probe: i64,
    /// Calls in flight: probe number → (peer, when sent).
    in_flight: HashMap<i64, (String, Instant)>,
    peers: BTreeMap<String, Peer>,
}

/// One peer's figures.
#[derive(Default)]
struct Peer {
    /// How long after the node's start it first answered.
    reached: Option<Duration>,
    answered: u64,
    failed: u64,
    notes: u64,
    /// The last round trips, oldest first.
    round_trips: VecDeque<Duration>,
}

impl Peer {
    /// The `q` quantile (0 to 1) of the kept round trips.
    fn quantile(&self, q: f64) -> Option<Duration> {
        let mut sorted: Vec<Duration> = self.round_trips.iter().copied().collect();
        sorted.sort();
        let last = sorted.len().checked_sub(1)?;
        let at = (last as f64 * q).round() as usize;
        sorted.get(at.min(last)).copied()
    }
}

impl Peers {
    /// The node's IKC name, under which its peers reach it.
    pub fn name(&self) -> &str {
        self.ikc.config().name()
    }

    pub fn new(ikc: Ikc) -> Peers {
        Peers {
            ikc,
            started: Instant::now(),
            next_probe: 0,
            in_flight: HashMap::new(),
            peers: BTreeMap::new(),
        }
    }

    /// The connected nodes: kernels that published a session under a name
    /// they go by, with `probe` among its states (other IKC peers are not
    /// nodes), other than this one.
    fn connected(&self) -> Vec<String> {
        let me = self.name();
        let mut found = Vec::new();
        for remote in self.ikc.directory().remotes() {
            if !remote.connected {
                continue;
            }
            let node = remote.names.iter().find(|name| {
                name.as_str() != me
                    && remote
                        .published
                        .get(name.as_str())
                        .is_some_and(|states| states.contains("probe"))
            });
            if let Some(name) = node {
                found.push(name.clone());
            }
        }
        found.sort();
        found.dedup();
        found.truncate(MAX_PEERS);
        found
    }

    /// A heartbeat: every connected node is probed (one call in flight
    /// each) and sent a note.
    pub fn beat<H: 'static>(&mut self, cx: &mut Context<'_, H>) {
        let now = Instant::now();
        let expired: Vec<i64> = self
            .in_flight
            .iter()
            .filter(|(_, (_, sent))| now.duration_since(*sent) > CALL_TIMEOUT)
            .map(|(probe, _)| *probe)
            .collect();
        for probe in expired {
            if let Some((name, _)) = self.in_flight.remove(&probe) {
                self.peers.entry(name).or_default().failed += 1;
            }
        }
        for name in self.connected() {
            if self.in_flight.values().any(|(peer, _)| *peer == name) {
                continue;
            }
            let probe = self.next_probe;
            self.next_probe += 1;
            // Plain names: whichever connected kernel published it.
            let called = cx.call_reply(name.as_str(), "probe", (probe,), PROBED);
            let noted = cx.post(name.as_str(), "note", (self.name().to_owned(),));
            if let Err(error) = called.and(noted) {
                tracing::debug!(peer = %name, "node: cannot reach: {error}");
                self.peers.entry(name).or_default().failed += 1;
                continue;
            }
            self.in_flight.insert(probe, (name, now));
        }
    }

    /// A probe's answer came back.
    pub fn probed(&mut self, args: &Args) {
        let answer = Answer::from_args(args);
        let Answer::Returned(value) = &answer else {
            // A failed call does not say which probe it was: it is counted
            // when its time runs out.
            tracing::debug!("node: a probe failed: {answer:?}");
            return;
        };
        let Some((name, sent)) = value
            .as_int()
            .and_then(|probe| self.in_flight.remove(&probe))
        else {
            return;
        };
        let round_trip = sent.elapsed();
        let after = self.started.elapsed();
        let peer = self.peers.entry(name.clone()).or_default();
        peer.answered += 1;
        if peer.round_trips.len() == KEPT {
            peer.round_trips.pop_front();
        }
        peer.round_trips.push_back(round_trip);
        if peer.reached.is_none() {
            peer.reached = Some(after);
            tracing::info!(
                peer = %name,
                after_ms = after.as_millis() as u64,
                round_trip_us = round_trip.as_micros() as u64,
                "node: reached"
            );
        }
    }

    /// A note from the node `from`.
    pub fn noted(&mut self, from: &Value) {
        let Some(from) = from
            .as_str()
            .filter(|from| self.peers.len() < MAX_PEERS || self.peers.contains_key(*from))
        else {
            return;
        };
        let peer = self.peers.entry(from.to_owned()).or_default();
        peer.notes += 1;
        if peer.notes == 1 {
            tracing::info!(peer = %from, "node: first note");
        }
    }

    /// IKC's monitor: a kernel went (its connection closed).
    pub fn gone(&mut self, kernel: &Value) {
        let name = kernel.to_string();
        if self.peers.remove(&name).is_some() {
            self.in_flight.retain(|_, (peer, _)| *peer != name);
            tracing::info!(peer = %name, "node: peer gone");
        }
    }

    /// One line per peer, for SIGUSR1.
    pub fn report(&self) -> Vec<String> {
        let us = |d: Option<Duration>| d.map_or("-".to_owned(), |d| d.as_micros().to_string());
        self.peers
            .iter()
            .map(|(name, peer)| {
                format!(
                    "peer {name} reached_ms={} answered={} failed={} notes={} round_trip_p50_us={} round_trip_p99_us={}",
                    peer.reached.map_or("-".to_owned(), |d| d.as_millis().to_string()),
                    peer.answered,
                    peer.failed,
                    peer.notes,
                    us(peer.quantile(0.5)),
                    us(peer.quantile(0.99)),
                )
            })
            .collect()
    }
}

/// The monitor that tells the node session of kernels that go.
pub fn monitor() -> Value {
    let mut monitor = Map::new();
    monitor.insert("unregister".into(), PEER_GONE.into());
    Value::Map(monitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_the_kept_round_trips() {
        let mut peer = Peer::default();
        assert_eq!(peer.quantile(0.5), None);
        for ms in (1..=100).rev() {
            peer.round_trips.push_back(Duration::from_millis(ms));
        }
        assert_eq!(peer.quantile(0.5), Some(Duration::from_millis(51)));
        assert_eq!(peer.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(peer.quantile(1.0), Some(Duration::from_millis(100)));
    }
}
