//! The registry: registrations/s, finds/s, and the latency of a
//! registration's event reaching 100 watchers, roe's registry server
//! beside etcd in the same run.
//!
//! roe's side is `roe::workloads::registry` (which `roe bench` runs too): a
//! `RegistryServer` on a kernel thread of its own, driven over loopback by
//! one client thread speaking registry(4)'s protocol, a connection per
//! registration and per find, 64 in flight.
//!
//! The peer is etcd (Debian's `etcd-server`), started here on 127.0.0.1
//! with free ports and a data directory on tmpfs (`/dev/shm` where there
//! is one, so its WAL's fsyncs cost next to nothing), and spoken to
//! through its HTTP/JSON gateway with the small blocking HTTP/1.1 client
//! below, each connection kept alive. A registration is what an etcd
//! service does to register itself: a lease (`/v3/lease/grant`) and its
//! key put with that lease (`/v3/kv/put`); a find is a prefix range
//! (`/v3/kv/range`) matching 4 of 1,000 keys; a watcher is a streaming
//! `/v3/watch` on a prefix. Registrations and finds come from
//! [`ETCD_CLIENTS`] threads, each with one request in flight. Without
//! `etcd` on the PATH the etcd peers are skipped, with a message.
//!
//! Before criterion's throughput groups, one recorded pass per peer prints
//! the fan-out's p50/p99: each of [`FANOUTS`] registrations timed from its
//! write until the last of 100 watchers has read its event. Every run
//! checks its result: each registration counted by the server, each
//! answer the services it should be, each watcher reached. Results:
//! docs/benchmarks.md.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    os::fd::AsFd,
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput};
use roe::workloads::{
    self, Measured,
    registry::{self, MATCHES, SERVICES, WATCHERS},
};
use rustix::event::epoll;

/// Registrations per run.
const REGISTRATIONS: u64 = 5_000;
/// Finds per run.
const FINDS: u64 = 10_000;
/// Registrations timed in a fan-out pass.
const FANOUTS: u64 = 500;
/// etcd's client threads for registrations and finds, each with a
/// connection of its own and one request in flight.
const ETCD_CLIENTS: usize = 16;
/// How long anything here waits for etcd.
const STALL: Duration = Duration::from_secs(10);

// ----- roe --------------------------------------------------------------------------

fn roe_register(n: u64) -> Measured {
    registry::register(n).unwrap_or_else(|e| panic!("roe registrations: {e}"))
}

fn roe_find(n: u64) -> Measured {
    registry::find(n).unwrap_or_else(|e| panic!("roe finds: {e}"))
}

fn roe_fan_out(n: u64) -> Measured {
    registry::fan_out(n).unwrap_or_else(|e| panic!("roe fan-out: {e}"))
}

// ----- etcd: the process ------------------------------------------------------------

// The tests' etcd starter: free loopback ports, data on tmpfs (`/dev/shm`
// where there is one, so its WAL's fsyncs cost next to nothing).
#[path = "../registry/tests/support/etcd.rs"]
#[allow(dead_code)] // the tests' `url`: the bench speaks to `client` itself
mod etcd_process;
use etcd_process::Etcd;

// ----- etcd: a tiny HTTP/1.1 client -------------------------------------------------

/// One kept-alive HTTP/1.1 connection to etcd's gateway.
struct Http {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl Http {
    fn connect(addr: SocketAddr) -> io::Result<Http> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(STALL))?;
        Ok(Http {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Writes a POST of the JSON `body` to `path`.
    fn send(&mut self, path: &str, body: &str) -> io::Result<()> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(request.as_bytes())
    }

    /// POSTs and reads the answer's body, which must come with status 200.
    fn post(&mut self, path: &str, body: &str) -> io::Result<String> {
        self.send(path, body)?;
        self.response()
    }

    /// Reads a response: its status line, headers, and body (by
    /// `Content-Length` or chunked, trailers skipped).
    fn response(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line.split(' ').nth(1).unwrap_or_default().to_owned();
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(invalid("etcd closed the connection"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.trim().eq_ignore_ascii_case("chunked");
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim_end(), 16)
                    .map_err(|_| invalid(format!("a chunk size {line:?}")))?;
                if size == 0 {
                    // Trailers, up to an empty line.
                    loop {
                        line.clear();
                        if self.reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size + 2, 0);
                self.reader.read_exact(&mut body[start..])?;
                body.truncate(start + size);
            }
        } else {
            body.resize(length.ok_or_else(|| invalid("a body of no length"))?, 0);
            self.reader.read_exact(&mut body)?;
        }
        let body = String::from_utf8(body).map_err(|_| invalid("a body not UTF-8"))?;
        if status != "200" {
            return Err(invalid(format!("etcd answered {status}: {body}")));
        }
        Ok(body)
    }
}

/// Standard base64 with padding, as etcd's JSON wants keys and values.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The string value of `"field":"..."` in a JSON answer.
fn json_str<'a>(json: &'a str, field: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let len = json[start..].find('"')?;
    Some(&json[start..start + len])
}

/// A fresh number for each run's keys, so that runs never collide.
fn run_number() -> u64 {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    RUNS.fetch_add(1, Ordering::Relaxed)
}

/// Runs `work(client, its share of n)` on [`ETCD_CLIENTS`] threads, each
/// with a connection of its own, timing from when all are connected.
fn etcd_clients(etcd: &Etcd, n: u64, work: impl Fn(&mut Http, u64, u64) + Sync) -> Duration {
    let clients = ETCD_CLIENTS as u64;
    let mut https: Vec<Http> = (0..clients)
        .map(|_| Http::connect(etcd.client).expect("a connection to etcd"))
        .collect();
    let started = Instant::now();
    thread::scope(|scope| {
        for (index, http) in https.iter_mut().enumerate() {
            let work = &work;
            let index = index as u64;
            // Client `index` does numbers index, index + clients, ...
            let share = n / clients + u64::from(index < n % clients);
            scope.spawn(move || work(http, index, share));
        }
    });
    started.elapsed()
}

/// `n` registrations: a lease each, and its key put with it.
fn etcd_register(etcd: &Etcd, n: u64) -> Measured {
    let run = run_number();
    let prefix = format!("/reg/{run}/");
    let elapsed = etcd_clients(etcd, n, |http, index, share| {
        for k in 0..share {
            let i = index + k * ETCD_CLIENTS as u64;
            let lease = http
                .post("/v3/lease/grant", r#"{"TTL":60}"#)
                .expect("a lease");
            let id = json_str(&lease, "ID").expect("a lease ID").to_owned();
            let key = base64(format!("{prefix}bench-reg-{i}").as_bytes());
            let value = base64(format!("bench register n {i}").as_bytes());
            http.post(
                "/v3/kv/put",
                &format!(r#"{{"key":"{key}","value":"{value}","lease":"{id}"}}"#),
            )
            .expect("a put");
        }
    });
    // Every registration is there.
    let mut http = Http::connect(etcd.client).expect("a connection to etcd");
    let (start, end) = prefix_range(&prefix);
    let counted = http
        .post(
            "/v3/kv/range",
            &format!(r#"{{"key":"{start}","range_end":"{end}","count_only":true}}"#),
        )
        .expect("a count");
    assert_eq!(json_str(&counted, "count"), Some(n.to_string().as_str()));
    Measured::new(n, elapsed)
}

/// The base64 key and range end that select every key starting with
/// `prefix` (which ends in `/`: its end is the same with `0`).
fn prefix_range(prefix: &str) -> (String, String) {
    let end = format!("{}0", &prefix[..prefix.len() - 1]);
    (base64(prefix.as_bytes()), base64(end.as_bytes()))
}

/// Puts [`SERVICES`] keys `/svc/k<kind>/svc-<i>`, [`MATCHES`] of each kind.
fn etcd_fill(etcd: &Etcd) {
    let mut http = Http::connect(etcd.client).expect("a connection to etcd");
    let kinds = (SERVICES / MATCHES) as u64;
    for i in 0..SERVICES as u64 {
        let key = base64(format!("/svc/k{}/svc-{i}", i % kinds).as_bytes());
        let value = base64(format!("tcp!10.1.0.1!{}", 10_000 + i).as_bytes());
        http.post(
            "/v3/kv/put",
            &format!(r#"{{"key":"{key}","value":"{value}"}}"#),
        )
        .expect("a put");
    }
}

/// `n` finds, each a prefix range matching [`MATCHES`] of the
/// [`SERVICES`] keys [`etcd_fill`] put.
fn etcd_find(etcd: &Etcd, n: u64) -> Measured {
    let kinds = (SERVICES / MATCHES) as u64;
    let elapsed = etcd_clients(etcd, n, |http, index, share| {
        for k in 0..share {
            let kind = (index + k * ETCD_CLIENTS as u64) % kinds;
            let (start, end) = prefix_range(&format!("/svc/k{kind}/"));
            let answer = http
                .post(
                    "/v3/kv/range",
                    &format!(r#"{{"key":"{start}","range_end":"{end}"}}"#),
                )
                .expect("a range");
            assert_eq!(
                json_str(&answer, "count"),
                Some(MATCHES.to_string().as_str())
            );
            assert_eq!(answer.matches("\"key\":").count(), MATCHES, "{answer}");
        }
    });
    Measured::new(n, elapsed)
}

/// `n` registrations (puts with one lease, granted first), one at a
/// time, with [`WATCHERS`] streaming watches on their prefix: each timed
/// from the put's write until the last watcher has read its event.
fn etcd_fan_out(etcd: &Etcd, n: u64) -> Measured {
    let run = run_number();
    let prefix = format!("/fan/{run}/");
    let (start, end) = prefix_range(&prefix);
    let watch = format!(r#"{{"create_request":{{"key":"{start}","range_end":"{end}"}}}}"#);
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).expect("an epoll");
    let mut watchers = Vec::with_capacity(WATCHERS);
    for slot in 0..WATCHERS {
        let mut http = Http::connect(etcd.client).expect("a connection to etcd");
        http.send("/v3/watch", &watch).expect("a watch");
        // The headers, then the first message, which says it is created:
        // byte by byte, so that nothing later is read before the watch is
        // polled.
        let mut seen = Vec::new();
        let mut byte = [0u8];
        while !seen.ends_with(b"\"created\":true}}") {
            http.writer.read_exact(&mut byte).expect("a watch answer");
            seen.push(byte[0]);
        }
        http.writer.set_nonblocking(true).unwrap();
        epoll::add(
            &epoll,
            http.writer.as_fd(),
            epoll::EventData::new_u64(slot as u64),
            epoll::EventFlags::IN,
        )
        .unwrap();
        watchers.push((http.writer, Vec::<u8>::new(), false));
    }
    let mut registrar = Http::connect(etcd.client).expect("a connection to etcd");
    let lease = registrar
        .post("/v3/lease/grant", r#"{"TTL":600}"#)
        .expect("a lease");
    let id = json_str(&lease, "ID").expect("a lease ID").to_owned();
    let mut events = Vec::with_capacity(WATCHERS);
    let mut chunk = [0u8; 4096];
    let mut latencies = Vec::with_capacity(n as usize);
    let started = Instant::now();
    for i in 0..n {
        let key = base64(format!("{prefix}fan-{i}").as_bytes());
        let needle = format!("\"key\":\"{key}\"");
        for (_, data, seen) in &mut watchers {
            data.clear();
            *seen = false;
        }
        let sent = Instant::now();
        registrar
            .send(
                "/v3/kv/put",
                &format!(r#"{{"key":"{key}","value":"AA==","lease":"{id}"}}"#),
            )
            .expect("a put");
        let mut left = WATCHERS;
        while left > 0 {
            events.clear();
            let timeout = rustix::time::Timespec {
                tv_sec: STALL.as_secs() as i64,
                tv_nsec: 0,
            };
            let count = epoll::wait(
                &epoll,
                rustix::buffer::spare_capacity(&mut events),
                Some(&timeout),
            )
            .expect("an epoll wait");
            assert!(count > 0, "etcd's watchers stalled");
            for event in &events {
                let (stream, data, seen) = &mut watchers[event.data.u64() as usize];
                loop {
                    match stream.read(&mut chunk) {
                        Ok(0) => panic!("etcd closed a watch"),
                        Ok(len) => data.extend_from_slice(&chunk[..len]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("a watch: {e}"),
                    }
                }
                if !*seen && data.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    *seen = true;
                    left -= 1;
                }
            }
        }
        latencies.push(sent.elapsed());
        registrar.response().expect("a put's answer");
    }
    Measured::new(n, started.elapsed()).with_latencies(latencies)
}

// ----- the run ----------------------------------------------------------------------

/// One recorded fan-out pass per peer: p50 and p99.
fn fan_out_report(etcd: Option<&Etcd>) {
    let mut passes = vec![("roe", roe_fan_out(FANOUTS))];
    if let Some(etcd) = etcd {
        passes.push(("etcd", etcd_fan_out(etcd, FANOUTS)));
    }
    for (name, mut measured) in passes {
        assert_eq!(measured.latencies().len(), FANOUTS as usize);
        let latency = measured.percentiles().expect("fan-outs were timed");
        println!(
            "registry fan-out to {WATCHERS} watchers, {name}: p50 {:.2} µs, p99 {:.2} µs ({FANOUTS} registrations)",
            latency.p50.as_secs_f64() * 1e6,
            latency.p99.as_secs_f64() * 1e6,
        );
    }
}

fn groups(c: &mut Criterion, etcd: Option<&Etcd>) {
    if let Some(etcd) = etcd {
        etcd_fill(etcd);
    }
    type Run<'a> = Box<dyn Fn(u64) -> Measured + 'a>;
    let mut register: Vec<(&str, Run<'_>)> = vec![("roe", Box::new(roe_register))];
    let mut find: Vec<(&str, Run<'_>)> = vec![("roe", Box::new(roe_find))];
    if let Some(etcd) = etcd {
        register.push(("etcd", Box::new(move |n| etcd_register(etcd, n))));
        find.push(("etcd", Box::new(move |n| etcd_find(etcd, n))));
    }
    for (group, total, peers) in [
        ("registry registrations", REGISTRATIONS, register),
        ("registry finds", FINDS, find),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(total));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(5));
        for (name, run) in &peers {
            g.bench_function(BenchmarkId::new(*name, total), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(total).elapsed()).sum());
            });
        }
        g.finish();
    }
}

fn main() {
    workloads::settle_wakeups();
    let etcd = Etcd::start();
    fan_out_report(etcd.as_ref());
    let mut criterion = Criterion::default().configure_from_args();
    groups(&mut criterion, etcd.as_ref());
    criterion.final_summary();
}
