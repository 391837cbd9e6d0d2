//! An etcd server of a test's (or a benchmark's) own, on loopback: Debian's
//! `etcd-server`, started on free ports with its data on tmpfs, and killed
//! (its data removed) when dropped.
//!
//! Without `etcd` installed, [`Etcd::start`] says so and returns `None`,
//! so the caller can skip; with `ROE_REQUIRE_ETCD=1` in the environment
//! (CI sets it once it has installed etcd) that is a failure instead.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

/// How long etcd may take to come up.
const START: Duration = Duration::from_secs(20);

/// A running etcd; dropping it kills it and removes its data.
pub struct Etcd {
    child: Child,
    dir: PathBuf,
    /// Where its clients connect (its HTTP gateway too).
    pub client: SocketAddr,
}

/// A free port on 127.0.0.1 (free when asked: etcd binds it soon after).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Etcd {
    /// Starts etcd and waits until it answers; `None`, with a message, when
    /// it is not installed or does not come up (a panic instead under
    /// `ROE_REQUIRE_ETCD=1`).
    pub fn start() -> Option<Etcd> {
        let required = std::env::var_os("ROE_REQUIRE_ETCD").is_some_and(|v| v == "1");
        let found = Command::new("etcd")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let why = if !found.is_ok_and(|status| status.success()) {
            "etcd is not installed (Debian: apt-get install etcd-server)".to_owned()
        } else {
            match Etcd::spawn() {
                Ok(etcd) => return Some(etcd),
                Err(e) => format!("etcd did not start: {e}"),
            }
        };
        assert!(!required, "{why}, and ROE_REQUIRE_ETCD=1");
        println!("{why}: skipped");
        None
    }

    /// The endpoint as the registry takes it, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.client)
    }

    fn spawn() -> io::Result<Etcd> {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("roe-etcd-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let child = Command::new("etcd")
            .arg("--name=roe-test")
            .arg(format!("--data-dir={}", dir.display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=roe-test={peer}"))
            .arg("--logger=zap")
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let etcd = Etcd {
            child,
            dir,
            client: SocketAddr::from(([127, 0, 0, 1], client_port)),
        };
        let deadline = Instant::now() + START;
        loop {
            match etcd.answers() {
                Ok(()) => return Ok(etcd),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Whether etcd answers a read through its gateway.
    fn answers(&self) -> io::Result<()> {
        let mut stream = TcpStream::connect_timeout(&self.client, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let body = r#"{"key":"AA=="}"#;
        write!(
            stream,
            "POST /v3/kv/range HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.client,
            body.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        if answer.starts_with("HTTP/1.1 200") && answer.contains("\"revision\"") {
            Ok(())
        } else {
            Err(io::Error::other(format!("etcd answered {answer:?}")))
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
