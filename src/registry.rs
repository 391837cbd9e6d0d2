//! `roe registry`: serve a registry, or talk to one from the shell over
//! its three TCP ports (registry(4)'s, as Inferno::RegMgr::TCP speaks
//! them, and roe's additions).
//!
//! - `serve` runs a registry until SIGINT or SIGTERM, after printing
//!   `registry <ip>:<new>,<find>,<event>`;
//! - `find` prints the services that match, one registry(4) line each;
//! - `watch` prints the detailed watch's lines as they come
//!   (`<revision> add|update|remove <service>`, `<revision> sync`);
//! - `register` registers a service, prints `registered <name>` once the
//!   registry has it, and holds it until interrupted;
//! - `remove` removes a service whose connection has gone (with its owner
//!   token, if it has one), and prints `removed <name>`.
//!
//! A refusal from the registry, or a registry that cannot be reached, is
//! an error: the caller prints it on stderr and exits non-zero.

use std::{
    ffi::OsString,
    io::{ErrorKind, Read, Write},
    net::{Shutdown, TcpStream},
    path::PathBuf,
    sync::{Mutex, mpsc},
    time::{Duration, Instant},
};

use roe::{Runtime, RuntimeHandle, Session};
use roe_registry::{
    LineReader, Port, Query, RegistryAddr, RegistryServer, ServerConfig, ServerError, Service,
    Token, Watch, parse_service, quote_line,
};

use crate::log::say;

/// What the command fails with; the message is shown as is.
pub type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

/// How long `register` waits for the registry to show the service.
const CONFIRM: Duration = Duration::from_secs(10);

/// How long `find` and `remove` wait for the registry's answer.
const ANSWER: Duration = Duration::from_secs(30);

/// What `roe registry` was asked to do.
#[derive(Debug)]
pub enum Command {
    Serve {
        addr: RegistryAddr,
        state: Option<PathBuf>,
    },
    Find {
        at: RegistryAddr,
        query: Query,
    },
    Watch {
        at: RegistryAddr,
        watch: Watch,
    },
    Register {
        at: RegistryAddr,
        token: Option<Token>,
        service: Service,
    },
    Remove {
        at: RegistryAddr,
        token: Option<Token>,
        name: String,
    },
}

/// `--ports NEW,FIND,EVENT`.
fn parse_ports(text: &str) -> Outcome<[u16; 3]> {
    let addr: RegistryAddr = format!("host:{text}").parse().map_err(|_| {
        format!("--ports {text:?}: three port numbers, NEW,FIND,EVENT (0: any free port)")
    })?;
    Ok(addr.ports())
}

/// A registry's address as `--at`, `--listen` and `roe node --registry`
/// take it.
pub fn parse_addr(text: &str) -> Outcome<RegistryAddr> {
    Ok(text.parse::<RegistryAddr>()?)
}

/// Positional words as UTF-8 text.
fn texts(words: Vec<OsString>) -> Outcome<Vec<String>> {
    words
        .into_iter()
        .map(|word| {
            word.into_string()
                .map_err(|w| format!("registry: {w:?} is not UTF-8").into())
        })
        .collect()
}

/// ATTR VALUE pairs.
fn pairs(words: Vec<String>) -> Outcome<Vec<(String, String)>> {
    if !words.len().is_multiple_of(2) {
        return Err(format!(
            "registry: attributes and values come in pairs; {} words given",
            words.len()
        )
        .into());
    }
    let mut words = words.into_iter();
    let mut pairs = Vec::new();
    while let (Some(attr), Some(value)) = (words.next(), words.next()) {
        pairs.push((attr, value));
    }
    Ok(pairs)
}

impl Command {
    /// Reads `roe registry`'s arguments, after the word `registry`; `None`
    /// when help was asked for.
    ///
    /// # Errors
    ///
    /// An argument that is missing, unknown or malformed.
    pub fn parse(parser: &mut lexopt::Parser) -> Outcome<Option<Command>> {
        use lexopt::{
            Arg::{Long, Short, Value as Word},
            ValueExt,
        };

        let verb = match parser.next()? {
            Some(Word(word)) => word.string()?,
            Some(Long("help") | Short('h')) => return Ok(None),
            Some(other) => return Err(other.unexpected().into()),
            None => {
                return Err(
                    "registry: serve, find, watch, register or remove? try `roe help`".into(),
                );
            }
        };
        let mut at = None;
        let mut listen = None;
        let mut ports = None;
        let mut state = None;
        let mut token = None;
        let mut since = None;
        let mut words = Vec::new();
        while let Some(arg) = parser.next()? {
            match arg {
                Long("at") if verb != "serve" => at = Some(parse_addr(&parser.value()?.string()?)?),
                Long("listen") if verb == "serve" => {
                    listen = Some(parse_addr(&parser.value()?.string()?)?);
                }
                Long("ports") if verb == "serve" => {
                    ports = Some(parse_ports(&parser.value()?.string()?)?);
                }
                Long("state") if verb == "serve" => state = Some(PathBuf::from(parser.value()?)),
                Long("token") if verb == "register" || verb == "remove" => {
                    token = Some(
                        Token::new(parser.value()?.string()?)
                            .map_err(|e| format!("--token: {e}"))?,
                    );
                }
                Long("since") if verb == "watch" => {
                    let n: u64 = parser.value()?.parse()?;
                    since = Some(roe_registry::Revision::new(n));
                }
                Long("help") | Short('h') => return Ok(None),
                Word(word) if verb != "serve" => words.push(word),
                other => return Err(other.unexpected().into()),
            }
        }
        let at = at.unwrap_or_default();
        let words = texts(words)?;
        Ok(Some(match verb.as_str() {
            "serve" => {
                let mut addr = listen.unwrap_or_default();
                if let Some(ports) = ports {
                    addr = addr.with_ports(ports);
                }
                Command::Serve { addr, state }
            }
            "find" => Command::Find {
                at,
                query: Query::new(pairs(words)?),
            },
            "watch" => Command::Watch {
                at,
                watch: Watch {
                    query: Query::new(pairs(words)?),
                    since,
                },
            },
            "register" => {
                let mut words = words.into_iter();
                let name = words
                    .next()
                    .ok_or("registry register: which service? give NAME [ATTR VALUE]...")?;
                let service = Service::with_attrs(name, pairs(words.collect())?)
                    .map_err(|e| format!("registry register: {e}"))?;
                Command::Register { at, token, service }
            }
            "remove" => {
                let mut words = words.into_iter();
                let name = words
                    .next()
                    .ok_or("registry remove: which service? give NAME")?;
                if let Some(extra) = words.next() {
                    return Err(format!("registry remove: unexpected argument {extra:?}").into());
                }
                Command::Remove { at, token, name }
            }
            other => {
                return Err(format!("registry: unknown command {other:?}; try `roe help`").into());
            }
        }))
    }
}

/// Runs the command.
///
/// # Errors
///
/// A registry that cannot be reached or refuses, a server that cannot
/// start, a stdout that cannot be written.
pub fn run(command: Command) -> Outcome<()> {
    match command {
        Command::Serve { addr, state } => serve(addr, state),
        Command::Find { at, query } => find(&at, &query),
        Command::Watch { at, watch } => follow(&at, &watch),
        Command::Register { at, token, service } => register(&at, token, &service),
        Command::Remove { at, token, name } => remove(&at, token, &name),
    }
}

/// Why a server did not start, with how to change what stood in its way
/// (`hint` names the options).
pub fn start_error(error: &ServerError, hint: &str) -> String {
    match error {
        ServerError::Bind { .. } => format!("{error}; {hint}"),
        _ => error.to_string(),
    }
}

/// Serves a registry on a one-kernel runtime until SIGINT or SIGTERM.
fn serve(addr: RegistryAddr, state: Option<PathBuf>) -> Outcome<()> {
    let mut config = ServerConfig::default().addr(addr);
    if let Some(path) = state {
        config = config.state_file(path);
    }
    let server = Mutex::new(Some(RegistryServer::new(config)));
    let (started_tx, started) = mpsc::channel();
    let runtime = Runtime::builder()
        .kernels(1)
        .pin(false)
        .start(move |kernel| {
            let Some(server) = server.lock().ok().and_then(|mut s| s.take()) else {
                return Ok(());
            };
            match server.spawn(kernel) {
                Ok(listener) => {
                    kernel.spawn(stopper())?;
                    let _ = started_tx.send(Ok(listener.addr().clone()));
                }
                Err(error) => {
                    let hint = "change the ports with --ports NEW,FIND,EVENT \
                            (0: any free port), or the address with --listen";
                    let _ = started_tx.send(Err(start_error(&error, hint)));
                }
            }
            Ok(())
        })?;
    match started.recv() {
        Ok(Ok(addr)) => say(format_args!("registry {addr}")),
        Ok(Err(error)) => {
            runtime.handle().shutdown();
            let _ = runtime.join();
            return Err(error.into());
        }
        Err(_) => {
            runtime.join()?;
            return Err("the registry's kernel did not start".into());
        }
    }
    runtime.join()?;
    say(format_args!("stopped"));
    Ok(())
}

/// The session that stops `serve` on SIGINT or SIGTERM (the runtime's
/// shutdown stops the registry, which writes its state file).
fn stopper() -> Session<()> {
    Session::new(())
        .on("_start", |cx, _| {
            // Signal watchers do not keep a session alive; this does.
            let me = cx.session();
            cx.refcount_increment(me, "signals")?;
            cx.sig("INT", "stopping", ())?;
            cx.sig("TERM", "stopping", ())
        })
        .on("stopping", |cx, args| {
            say(format_args!("stopping on SIG{}", args[0]));
            cx.sig_handled();
            if let Some(runtime) = RuntimeHandle::current() {
                runtime.shutdown();
            }
        })
}

/// A connection to one of the registry's ports.
fn connect(at: &RegistryAddr, port: Port) -> Outcome<TcpStream> {
    let target = at.connect_to(port);
    TcpStream::connect(target.as_str())
        .map_err(|e| format!("cannot reach the registry's {port} port at {target}: {e}").into())
}

/// Reads lines (split as the protocol splits them) from a stream.
struct Lines {
    stream: TcpStream,
    reader: LineReader,
    buf: Vec<u8>,
    start: usize,
}

impl Lines {
    fn new(stream: TcpStream) -> Lines {
        Lines {
            stream,
            reader: LineReader::new(),
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The next line; `None` at the end of the stream.
    fn next_line(&mut self) -> Outcome<Option<Vec<u8>>> {
        loop {
            let mut rest = &self.buf[self.start..];
            let before = rest.len();
            let line = self.reader.read_line(&mut rest)?.map(<[u8]>::to_vec);
            self.start += before - rest.len();
            if line.is_some() {
                return Ok(line);
            }
            self.buf.clear();
            self.start = 0;
            let mut chunk = [0; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(self.reader.finish().map(<[u8]>::to_vec)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A line the registry wrote, for an error message.
fn shown(line: &[u8]) -> String {
    String::from_utf8_lossy(line).into_owned()
}

/// The reason of an `error <reason>` line, if it is one.
fn refusal(line: &[u8]) -> Option<String> {
    roe_registry::Refusal::parse(line).ok().map(|r| r.reason)
}

/// Prints the services that match `query`, as the registry writes them.
fn find(at: &RegistryAddr, query: &Query) -> Outcome<()> {
    let answer = query_once(at, query)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&answer)?;
    out.flush()?;
    Ok(())
}

/// One query: the registry's answer, whole.
fn query_once(at: &RegistryAddr, query: &Query) -> Outcome<Vec<u8>> {
    let mut stream = connect(at, Port::Find)?;
    stream.set_read_timeout(Some(ANSWER))?;
    stream.write_all(format!("{query}\n").as_bytes())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("the registry's find answer: {e}"))?;
    Ok(answer)
}

/// Prints the detailed watch's lines as they come, until the registry
/// closes the connection (an error) or the command is interrupted.
fn follow(at: &RegistryAddr, watch: &Watch) -> Outcome<()> {
    let stream = connect(at, Port::Event)?;
    let mut lines = Lines::new(stream.try_clone()?);
    match lines.next_line()? {
        Some(line) if line == roe_registry::READY.as_bytes() => {}
        Some(line) => return Err(format!("the registry said {:?}, not READY", shown(&line)).into()),
        None => return Err("the registry closed the connection".into()),
    }
    (&stream).write_all(format!("{watch}\n").as_bytes())?;
    let mut out = std::io::stdout().lock();
    while let Some(line) = lines.next_line()? {
        if let Some(reason) = refusal(&line) {
            return Err(format!("the registry refused the watch: {reason}").into());
        }
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Err("the registry closed the connection".into())
}

/// Registers `service`, says so once the registry shows it, and holds it
/// until interrupted.
fn register(at: &RegistryAddr, token: Option<Token>, service: &Service) -> Outcome<()> {
    let stream = connect(at, Port::New)?;
    let mut lines = String::new();
    if let Some(token) = &token {
        lines.push_str(&format!("token {}\n", token.as_str()));
    }
    lines.push_str(&format!("{service}\n"));
    (&stream).write_all(lines.as_bytes())?;
    let mut held = Lines::new(stream.try_clone()?);
    // The registry answers a registration with nothing; it shows in a
    // find once it is made, and a refusal comes on this connection.
    let query = Query::new(service.attrs());
    let started = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(20)))?;
    loop {
        match held.next_line() {
            Ok(Some(line)) => return Err(refused(&line)),
            Ok(None) => return Err("the registry closed the connection".into()),
            Err(error) if is_timeout(error.as_ref()) => {}
            Err(error) => return Err(error),
        }
        let answer = query_once(at, &query)?;
        if shows(&answer, service) {
            break;
        }
        if started.elapsed() > CONFIRM {
            return Err(format!(
                "the registry does not show {} after {CONFIRM:?}",
                service.name()
            )
            .into());
        }
    }
    say(format_args!("registered {}", service.name()));
    stream.set_read_timeout(None)?;
    match held.next_line()? {
        Some(line) => Err(refused(&line)),
        None => Err("the registry closed the connection".into()),
    }
}

fn refused(line: &[u8]) -> Box<dyn std::error::Error> {
    match refusal(line) {
        Some(reason) => format!("the registry refused: {reason}").into(),
        None => format!("the registry said {:?}", shown(line)).into(),
    }
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

/// Whether a find answer holds `service` as it was registered.
fn shows(answer: &[u8], service: &Service) -> bool {
    let mut reader = LineReader::new();
    let mut rest = answer;
    while let Ok(Some(line)) = reader.read_line(&mut rest) {
        if parse_service(line).is_ok_and(|found| found == *service) {
            return true;
        }
    }
    false
}

/// Removes the service `name` (roe's `remove` line on the new port).
fn remove(at: &RegistryAddr, token: Option<Token>, name: &str) -> Outcome<()> {
    let stream = connect(at, Port::New)?;
    stream.set_read_timeout(Some(ANSWER))?;
    let mut lines = String::new();
    if let Some(token) = &token {
        lines.push_str(&format!("token {}\n", token.as_str()));
    }
    lines.push_str(&format!("remove {}\n", quote_line([name])));
    (&stream).write_all(lines.as_bytes())?;
    let mut answer = Lines::new(stream.try_clone()?);
    let line = answer.next_line()?;
    let _ = stream.shutdown(Shutdown::Both);
    match line {
        Some(line) if line == b"ok" => {
            say(format_args!("removed {name}"));
            Ok(())
        }
        Some(line) => Err(refused(&line)),
        None => Err("the registry closed the connection".into()),
    }
}
