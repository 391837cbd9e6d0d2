//! Blocking clients of the three ports, for the tests, and a server on
//! any free ports of 127.0.0.1.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use roe_registry::{LineReader, Port, RegistryAddr, RegistryServer, ServerConfig, ServerThread};

/// How long any test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A configuration on any free ports of the loopback address.
pub fn config() -> ServerConfig {
    ServerConfig::default().addr("127.0.0.1:0,0,0".parse().expect("an address"))
}

/// A server with `config`, on its own thread (stopped when dropped).
pub fn start(config: ServerConfig) -> ServerThread {
    RegistryServer::new(config)
        .start()
        .expect("the server starts")
}

/// A connection to `port`, reads timing out after [`PATIENCE`].
pub fn connect(addr: &RegistryAddr, port: Port) -> TcpStream {
    let stream = TcpStream::connect(addr.connect_to(port)).expect("the server accepts");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// A client reading lines (split as the protocol splits them: a newline
/// inside quotes belongs to its word).
pub struct Lines {
    pub stream: TcpStream,
    reader: LineReader,
    buf: Vec<u8>,
    start: usize,
}

impl Lines {
    pub fn new(stream: TcpStream) -> Lines {
        Lines {
            stream,
            reader: LineReader::with_max(1 << 20),
            buf: Vec::new(),
            start: 0,
        }
    }

    pub fn connect(addr: &RegistryAddr, port: Port) -> Lines {
        Lines::new(connect(addr, port))
    }

    pub fn send(&mut self, text: &str) {
        self.stream
            .write_all(text.as_bytes())
            .expect("the server reads");
    }

    /// The next line, `None` at the end of the stream.
    pub fn next_line(&mut self) -> Option<String> {
        loop {
            let mut rest = &self.buf[self.start..];
            let before = rest.len();
            let line = self.reader.read_line(&mut rest).expect("a line");
            let taken = before - rest.len();
            if let Some(line) = line {
                let line = String::from_utf8(line.to_vec()).expect("UTF-8");
                self.start += taken;
                return Some(line);
            }
            self.buf.clear();
            self.start = 0;
            let mut chunk = [0; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return self
                        .reader
                        .finish()
                        .map(|l| String::from_utf8_lossy(l).into_owned());
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a line: {e}"),
            }
        }
    }

    /// The next line, which must be there.
    pub fn line(&mut self) -> String {
        self.next_line()
            .expect("a line before the end of the stream")
    }

    /// Asserts that the server closes the stream next.
    pub fn expect_end(&mut self) {
        if let Some(line) = self.next_line() {
            panic!("expected the end of the stream, got {line:?}");
        }
    }
}

/// A registration: the first line sent, the connection kept.
pub fn register(addr: &RegistryAddr, line: &str) -> Lines {
    let mut client = Lines::connect(addr, Port::New);
    client.send(&format!("{line}\n"));
    client
}

/// One query on the find port: the answer, whole.
pub fn find(addr: &RegistryAddr, query: &str) -> String {
    let mut stream = connect(addr, Port::Find);
    stream.write_all(format!("{query}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("a find answer");
    answer
}

/// Queries until `wanted` holds for the answer (changes on other
/// connections are seen once the server has read them).
pub fn find_until(addr: &RegistryAddr, query: &str, wanted: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let answer = find(addr, query);
        if wanted(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the find for {query:?} still answers {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A detailed watcher: `READY` read, the watch line sent.
pub fn watch(addr: &RegistryAddr, line: &str) -> Lines {
    let mut client = Lines::connect(addr, Port::Event);
    assert_eq!(client.line(), "READY");
    client.send(&format!("{line}\n"));
    client
}

/// The lines up to and including the next `sync`.
pub fn until_sync(client: &mut Lines) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = client.line();
        let done = line.ends_with(" sync");
        lines.push(line);
        if done {
            return lines;
        }
    }
}

/// The lines without their revisions.
pub fn unrevised(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            line.split_once(' ')
                .map_or(line.as_str(), |(_, rest)| rest)
                .to_owned()
        })
        .collect()
}

/// Closes our side and waits for the server to close its own.
pub fn close_and_drain(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
}

/// Raises this process's limit on open descriptors to `want` (or as far
/// as the hard limit allows), for tests with many connections.
pub fn raise_descriptor_limit(want: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= want {
        return current;
    }
    let target = want.min(hard);
    let mut raised = limit;
    raised.current = Some(target);
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => target,
        Err(_) => current,
    }
}
