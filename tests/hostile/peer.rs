//! What the hostile-peer tests share: a server on its own kernel thread,
//! and the process's live heap, descriptors and a thread's CPU time.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    io::{BufRead, BufReader, Write},
    net::TcpStream,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use roe::{Args, Error, Event, Line, Runtime, RuntimeHandle, ServerInfo, TcpServer};

/// The system allocator, counting the bytes live in the process.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counter is an atomic, which neither
// allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Bytes allocated and not yet freed, in the whole process.
pub fn live_heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Descriptors the process has open.
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Waits for `done`, checking every 10 ms; panics after `limit`.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "gave up waiting after {limit:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `text` as a line on a fresh connection and returns the line the
/// server sends back.
pub fn echo_once(port: u16, text: &str) -> String {
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.write_all(format!("{text}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(client).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

/// A `TcpServer` running on a one-kernel runtime of its own.
pub struct Server {
    pub port: u16,
    pub info: ServerInfo,
    handle: RuntimeHandle,
    runtime: Runtime,
    /// The kernel thread, for its CPU time.
    tid: i32,
}

impl Server {
    /// Starts the server `make` builds, on its own kernel thread.
    pub fn start(make: impl FnOnce() -> TcpServer<(), Line> + Send + 'static) -> Server {
        let make = Mutex::new(Some(make));
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let runtime = Runtime::builder()
            .kernels(1)
            .pin(false)
            .start(move |kernel| {
                let make = make.lock().unwrap().take().expect("one kernel");
                let info = make().spawn(kernel)?;
                let tid = rustix::thread::gettid().as_raw_nonzero().get();
                tx.lock().unwrap().send((info, tid)).unwrap();
                Ok(())
            })
            .unwrap();
        let (info, tid) = rx.recv().unwrap();
        Server {
            port: info.port().expect("the server listens"),
            info,
            handle: runtime.handle(),
            runtime,
            tid,
        }
    }

    /// Starts a line-echo server built by `make`.
    pub fn echo(make: impl FnOnce() -> TcpServer<(), Line> + Send + 'static) -> Server {
        Server::start(move || {
            make().client_input(|cx, line: Vec<u8>| Ok::<_, Error>(cx.heap.put(line)?))
        })
    }

    /// Posts to the listener session from outside.
    pub fn post_to_listener(&self, event: &str, args: impl Into<Args>) {
        let listener = self.info.session();
        assert!(
            self.handle
                .post(listener, Event::new(event), args.into())
                .is_ok()
        );
    }

    /// CPU time the server's kernel thread has used.
    pub fn cpu_time(&self) -> Duration {
        let path = format!("/proc/self/task/{}/schedstat", self.tid);
        let nanos = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        Duration::from_nanos(nanos)
    }

    /// Waits for the runtime to end by itself, for at most `limit`.
    pub fn wait_finished(self, limit: Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        let runtime = self.runtime;
        thread::spawn(move || {
            let _ = tx.send(runtime.join());
        });
        matches!(rx.recv_timeout(limit), Ok(Ok(())))
    }

    /// Shuts the runtime down and waits for it.
    pub fn stop(self) {
        self.handle.shutdown();
        self.runtime.join().unwrap();
    }

    /// Waits for the runtime to end by itself (every session gone).
    pub fn join(self) {
        self.runtime.join().unwrap();
    }
}
