//! The backend's two threads and how they talk to the server's kernel.
//!
//! The kernel sends [`Request`]s down a channel to the worker, which makes
//! the etcd calls in order and renews each connection's lease every third
//! of its time. The follower reads the prefix's watch. Both put what the
//! kernel must learn ([`Reply`]) in a bounded queue and write a byte to a
//! socket the kernel watches; the kernel drains the queue when it wakes.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::client::{Etcd, Kv, KvEvent, KvWatch};
use super::{EtcdConfig, Stored, decode};
use crate::error::Error;
use crate::owner::OwnerId;

/// Work for the worker, in the order the kernel sent it.
#[derive(Debug)]
pub(crate) enum Request {
    /// Registers the service `name` for `owner`, held by the owner's
    /// lease (granted at its first), unless the name is taken.
    Create {
        owner: OwnerId,
        name: String,
        value: Vec<u8>,
    },
    /// A new value for `owner`'s service `name`.
    Put {
        owner: OwnerId,
        name: String,
        value: Vec<u8>,
    },
    /// Removes the service `name`, whoever holds it.
    Delete { name: String },
    /// `owner`'s connection has closed: the services in `detach` stay,
    /// without a lease; then its lease ends, and with it every other
    /// service it held.
    Release {
        owner: OwnerId,
        detach: Vec<(String, Vec<u8>)>,
    },
}

/// What the kernel learns.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A request of `owner`'s failed, or its lease ran out: its connection
    /// is refused with `error`. `name` is the service the request was for,
    /// if it was for one.
    Refused {
        owner: OwnerId,
        name: Option<String>,
        error: Error,
    },
    /// Every service under the prefix, read again after the watch broke:
    /// the mirror becomes this.
    Resync(Vec<Stored>),
    /// Changes, in etcd's order.
    Changes(Vec<Change>),
}

/// A change to the shared store.
#[derive(Debug)]
pub(crate) enum Change {
    Put(Stored),
    Delete(String),
}

/// Replies waiting for the kernel: more than this and the follower waits.
const MAX_REPLIES: usize = 1024;

/// Requests waiting for the worker past which registrations and updates
/// are refused (the store is busy) instead of queued without bound.
const MAX_REQUESTS: usize = 4096;

/// How often a detach that failed is tried, a moment apart, before the
/// lease is ended anyway.
const DETACH_TRIES: u32 = 3;

/// The longest a follower waits before reading the prefix again after
/// its watch broke.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The replies waiting, and the socket that wakes the kernel.
#[derive(Debug)]
struct Mailbox {
    replies: Mutex<VecDeque<Reply>>,
    wake: UnixStream,
}

impl Mailbox {
    fn send(&self, reply: Reply) {
        let was_empty = {
            let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
            replies.push_back(reply);
            replies.len() == 1
        };
        // One byte per batch: the kernel takes every reply when it wakes.
        if was_empty {
            let _ = (&self.wake).write(&[1]);
        }
    }

    fn len(&self) -> usize {
        self.replies.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The kernel's side of a running backend. Dropping it stops both threads:
/// the worker first ends the leases it still holds (so registrations of
/// connections the server closed go at once, not when the leases run out).
#[derive(Debug)]
pub(crate) struct Backend {
    config: EtcdConfig,
    requests: Option<mpsc::Sender<Request>>,
    /// Requests sent and not yet done.
    queued: Arc<AtomicUsize>,
    mailbox: Arc<Mailbox>,
    /// What the kernel watches: readable when replies wait.
    waker: UnixStream,
    stop: Arc<AtomicBool>,
    /// The follower's watch connection, to shut when stopping.
    watch_socket: Arc<Mutex<Option<TcpStream>>>,
    worker_done: Option<mpsc::Receiver<()>>,
}

impl Backend {
    /// Reads every service under the prefix (so a server starts with the
    /// shared store as it is, and an etcd that cannot be reached is an
    /// error at once), then starts the threads.
    ///
    /// # Errors
    ///
    /// etcd cannot be reached or answers something else than etcd would.
    pub(crate) fn start(config: EtcdConfig) -> io::Result<(Backend, Vec<Stored>)> {
        let mut etcd = Etcd::new(config.host(), config.timeout);
        let (revision, kvs) = etcd.range(config.prefix.as_bytes())?;
        let services = stored(&config, kvs);
        let (wake, waker) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        waker.set_nonblocking(true)?;
        let mailbox = Arc::new(Mailbox {
            replies: Mutex::new(VecDeque::new()),
            wake,
        });
        let (requests, incoming) = mpsc::channel();
        let (done, worker_done) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let watch_socket = Arc::new(Mutex::new(None));
        let queued = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            etcd,
            config: config.clone(),
            queued: Arc::clone(&queued),
            mailbox: Arc::clone(&mailbox),
            leases: HashMap::new(),
            renewals: VecDeque::new(),
        };
        thread::Builder::new()
            .name("roe-registry-etcd".into())
            .spawn(move || {
                worker.run(&incoming);
                let _ = done.send(());
            })?;
        let follower = Follower {
            config: config.clone(),
            mailbox: Arc::clone(&mailbox),
            stop: Arc::clone(&stop),
            socket: Arc::clone(&watch_socket),
        };
        thread::Builder::new()
            .name("roe-registry-etcd-watch".into())
            .spawn(move || follower.run(revision + 1))?;
        Ok((
            Backend {
                config,
                requests: Some(requests),
                queued,
                mailbox,
                waker,
                stop,
                watch_socket,
                worker_done: Some(worker_done),
            },
            services,
        ))
    }

    pub(crate) fn config(&self) -> &EtcdConfig {
        &self.config
    }

    /// The socket to watch for reading: readable when replies wait.
    pub(crate) fn waker(&self) -> io::Result<UnixStream> {
        self.waker.try_clone()
    }

    /// Whether so many requests wait that new work should be refused.
    pub(crate) fn is_busy(&self) -> bool {
        self.queued.load(Ordering::Relaxed) >= MAX_REQUESTS
    }

    /// Sends work to the worker.
    ///
    /// # Errors
    ///
    /// The worker has stopped (it failed): nothing will reach etcd.
    pub(crate) fn send(&self, request: Request) -> Result<(), Error> {
        let sent = self
            .requests
            .as_ref()
            .map(|requests| requests.send(request));
        match sent {
            Some(Ok(())) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(Error::Backend("the etcd worker has stopped".into())),
        }
    }

    /// Every reply waiting, oldest first (after clearing the wake-up, so a
    /// reply sent from now on wakes the kernel again).
    pub(crate) fn take(&self) -> VecDeque<Reply> {
        let mut bytes = [0; 64];
        while matches!((&self.waker).read(&mut bytes), Ok(n) if n > 0) {}
        std::mem::take(
            &mut *self
                .mailbox
                .replies
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(socket) = &*self.watch_socket.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        // The worker ends its leases, then stops; waiting for it keeps a
        // server that stops from leaving registrations behind it, but a
        // stuck etcd holds the stop for at most a few calls' timeouts.
        self.requests = None;
        if let Some(done) = self.worker_done.take() {
            let _ = done.recv_timeout(self.config.timeout * 2);
        }
    }
}

/// The services among `kvs` (values that are not services are logged and
/// left out).
fn stored(config: &EtcdConfig, kvs: Vec<Kv>) -> Vec<Stored> {
    kvs.into_iter()
        .filter_map(|kv| decoded(config, &kv.key, &kv.value, kv.lease != 0))
        .collect()
}

fn decoded(config: &EtcdConfig, key: &[u8], value: &[u8], leased: bool) -> Option<Stored> {
    let name = config.name(key)?;
    match decode(name, value, leased) {
        Ok(stored) => Some(stored),
        Err(error) => {
            tracing::warn!("registry: etcd: left out: {error}");
            None
        }
    }
}

/// The thread that makes the calls and renews the leases.
struct Worker {
    etcd: Etcd,
    config: EtcdConfig,
    queued: Arc<AtomicUsize>,
    mailbox: Arc<Mailbox>,
    /// Each connection's lease.
    leases: HashMap<OwnerId, i64>,
    /// When each lease is next renewed, soonest first (every lease has
    /// the same period, so the order of granting is the order of renewal).
    renewals: VecDeque<(Instant, OwnerId)>,
}

impl Worker {
    fn run(mut self, incoming: &mpsc::Receiver<Request>) {
        loop {
            let wait = self
                .renewals
                .front()
                .map_or(Duration::from_secs(3600), |(due, _)| {
                    due.saturating_duration_since(Instant::now())
                });
            match incoming.recv_timeout(wait) {
                Ok(request) => {
                    self.handle(request);
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            // After every request too: a steady stream of them must not
            // starve the renewals.
            self.renew_due();
        }
        for (_, lease) in std::mem::take(&mut self.leases) {
            if let Err(error) = self.etcd.revoke(lease) {
                tracing::warn!("registry: etcd: a lease was not ended at stop: {error}");
                break;
            }
        }
    }

    fn refuse(&self, owner: OwnerId, name: Option<String>, error: Error) {
        self.mailbox.send(Reply::Refused { owner, name, error });
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Create { owner, name, value } => {
                let key = self.config.key(&name);
                let created = self.lease_of(owner).and_then(|lease| {
                    // A create retried on a new connection may have been
                    // made by the first try: the key then holds our value.
                    Ok(self.etcd.create(&key, &value, lease)?
                        || self.etcd.get(&key)?.as_deref() == Some(&value))
                });
                match created {
                    Ok(true) => {}
                    Ok(false) => self.refuse(owner, Some(name.clone()), Error::Duplicate(name)),
                    Err(error) => self.refuse(owner, Some(name), Error::Backend(error.to_string())),
                }
            }
            Request::Put { owner, name, value } => {
                // Only over the service this connection's lease holds: not
                // one whose creation failed, nor one removed and taken by
                // another since.
                let Some(&lease) = self.leases.get(&owner) else {
                    return;
                };
                match self
                    .etcd
                    .put_if_held(&self.config.key(&name), &value, lease, lease)
                {
                    Ok(true) => {}
                    Ok(false) => tracing::debug!(
                        "registry: etcd: {name:?} is no longer this connection's; its update is dropped"
                    ),
                    Err(error) => self.refuse(owner, Some(name), Error::Backend(error.to_string())),
                }
            }
            Request::Delete { name } => {
                if let Err(error) = self.etcd.delete(&self.config.key(&name)) {
                    tracing::warn!("registry: etcd: {name:?} was not removed: {error}");
                }
            }
            Request::Release { owner, detach } => self.release(owner, detach),
        }
    }

    fn release(&mut self, owner: OwnerId, detach: Vec<(String, Vec<u8>)>) {
        let Some(lease) = self.leases.remove(&owner) else {
            return;
        };
        for (name, value) in detach {
            let key = self.config.key(&name);
            for attempt in 1..=DETACH_TRIES {
                // Put again without the lease, if the lease still holds it.
                match self.etcd.put_if_held(&key, &value, lease, 0) {
                    Ok(_) => break,
                    Err(error) if attempt == DETACH_TRIES => {
                        tracing::warn!(
                            "registry: etcd: persistent {name:?} could not be kept: {error}"
                        );
                    }
                    Err(_) => thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        // What failed here is left to the lease, which is no longer renewed.
        if let Err(error) = self.etcd.revoke(lease) {
            tracing::warn!("registry: etcd: a closed connection's lease was not ended: {error}");
        }
    }

    /// `owner`'s lease, granted now if it has none.
    fn lease_of(&mut self, owner: OwnerId) -> io::Result<i64> {
        if let Some(&lease) = self.leases.get(&owner) {
            return Ok(lease);
        }
        let lease = self.etcd.grant(self.config.lease)?;
        self.leases.insert(owner, lease);
        self.renewals
            .push_back((Instant::now() + self.config.lease / 3, owner));
        Ok(lease)
    }

    fn renew_due(&mut self) {
        let now = Instant::now();
        while let Some(&(due, owner)) = self.renewals.front()
            && due <= now
        {
            self.renewals.pop_front();
            let Some(&lease) = self.leases.get(&owner) else {
                continue; // released
            };
            match self.etcd.keep_alive(lease) {
                Ok(true) => {}
                Ok(false) => {
                    self.leases.remove(&owner);
                    let why = "the registration's lease ran out in etcd".to_owned();
                    self.refuse(owner, None, Error::Backend(why));
                    continue;
                }
                // Tried again at the next third of the lease.
                Err(error) => tracing::warn!("registry: etcd: a lease was not renewed: {error}"),
            }
            self.renewals
                .push_back((Instant::now() + self.config.lease / 3, owner));
        }
    }
}

/// The thread that follows the prefix's watch.
struct Follower {
    config: EtcdConfig,
    mailbox: Arc<Mailbox>,
    stop: Arc<AtomicBool>,
    socket: Arc<Mutex<Option<TcpStream>>>,
}

impl Follower {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn run(self, mut start: i64) {
        let mut backoff = Duration::from_millis(50);
        while !self.stopping() {
            match self.follow(start) {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(
                        "registry: etcd: the watch broke ({error}); reading the services again"
                    )
                }
            }
            // Read the whole prefix again, then watch from there.
            loop {
                if self.pause(backoff) {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                let mut etcd = Etcd::new(self.config.host(), self.config.timeout);
                match etcd.range(self.config.prefix.as_bytes()) {
                    Ok((revision, kvs)) => {
                        self.mailbox.send(Reply::Resync(stored(&self.config, kvs)));
                        start = revision + 1;
                        break;
                    }
                    Err(error) => {
                        tracing::warn!("registry: etcd: cannot read the services: {error}")
                    }
                }
            }
        }
    }

    /// Sleeps `time`, or less if told to stop; whether told.
    fn pause(&self, time: Duration) -> bool {
        let until = Instant::now() + time;
        while Instant::now() < until {
            if self.stopping() {
                return true;
            }
            thread::sleep(Duration::from_millis(20).min(time));
        }
        self.stopping()
    }

    /// Follows the watch from `start` until it breaks (an error) or the
    /// backend stops (`Ok`).
    fn follow(&self, start: i64) -> io::Result<()> {
        let mut watch = KvWatch::open(
            self.config.host(),
            self.config.prefix.as_bytes(),
            start,
            self.config.timeout,
        )?;
        *self.socket.lock().unwrap_or_else(|e| e.into_inner()) = Some(watch.socket()?);
        loop {
            if self.stopping() {
                return Ok(());
            }
            let events = match watch.next() {
                Ok(events) => events,
                Err(_) if self.stopping() => return Ok(()),
                Err(error) => return Err(error),
            };
            let changes = events
                .into_iter()
                .filter_map(|event| match event {
                    KvEvent::Put(kv) => {
                        decoded(&self.config, &kv.key, &kv.value, kv.lease != 0).map(Change::Put)
                    }
                    KvEvent::Delete(key) => {
                        let name = self.config.name(&key)?;
                        Some(Change::Delete(name.to_owned()))
                    }
                })
                .collect::<Vec<_>>();
            // A kernel that falls behind holds the watch back (etcd keeps
            // what is not read yet) instead of growing the queue.
            while self.mailbox.len() >= MAX_REPLIES && !self.stopping() {
                thread::sleep(Duration::from_millis(1));
            }
            if !changes.is_empty() {
                self.mailbox.send(Reply::Changes(changes));
            }
        }
    }
}
