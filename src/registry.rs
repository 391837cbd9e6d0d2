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
    io::Write,
    path::PathBuf,
    sync::{Mutex, mpsc},
    time::Duration,
};

use roe::{Runtime, RuntimeHandle, Session};
use roe_registry::{
    BlockingClient, ClientError, EtcdConfig, EventLine, Query, RegistryAddr, RegistryServer,
    ServerConfig, ServerError, Service, Token, Watch, WatchEvent,
};

use crate::{
    cli::{self, Parsed},
    log::say,
};

/// What the command fails with; the message is shown as is.
pub type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

/// How long `register` waits for the registry to show the service.
const CONFIRM: Duration = Duration::from_secs(10);

/// How long `find`, `watch` and `remove` wait for the registry's answer
/// (a watch: for its first line, then for each line, going on after a
/// quiet spell).
const ANSWER: Duration = Duration::from_secs(30);

/// How often `register` looks whether the registry has dropped the
/// registration it holds.
const HOLD_CHECK: Duration = Duration::from_millis(200);

/// What `roe registry` was asked to do.
#[derive(Debug)]
pub enum Command {
    Serve {
        addr: RegistryAddr,
        state: Option<PathBuf>,
        etcd: Option<EtcdConfig>,
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

/// `--backend etcd=URL`: the one backend there is.
fn parse_backend(text: &str) -> Outcome<EtcdConfig> {
    let url = text.strip_prefix("etcd=").ok_or_else(|| {
        format!("--backend {text:?}: etcd=http://HOST:PORT is the backend there is")
    })?;
    Ok(url.parse().map_err(|e| format!("--backend: {e}"))?)
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
    /// Reads `roe registry`'s arguments, after the word `registry`.
    ///
    /// # Errors
    ///
    /// An argument that is missing, unknown (with the nearest command or
    /// option, if one is close) or malformed.
    pub fn parse(parser: &mut lexopt::Parser) -> Outcome<Parsed<Command>> {
        use lexopt::{
            Arg::{Long, Short, Value as Word},
            ValueExt,
        };

        let verb = match parser.next()? {
            Some(Word(word)) => word.string()?,
            Some(Long("help") | Short('h')) => {
                return Ok(Parsed::Help(cli::command(&["registry"])));
            }
            Some(other) => return Err(cli::unexpected(other, &["registry"])),
            None => {
                return Err(
                    "registry: serve, find, watch, register or remove? try `roe registry --help`"
                        .into(),
                );
            }
        };
        // Known before its options are read, so that an option is never
        // judged against a mistyped command.
        if cli::command(&["registry"]).subcommand(&verb).is_none() {
            return Err(format!("registry: {}", cli::unknown_command(&verb, &["registry"])).into());
        }
        let path = ["registry", verb.as_str()];
        let mut at = None;
        let mut listen = None;
        let mut ports = None;
        let mut state = None;
        let mut backend = None;
        let mut etcd_prefix = None;
        let mut etcd_lease = None;
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
                Long("backend") if verb == "serve" => {
                    backend = Some(parse_backend(&parser.value()?.string()?)?);
                }
                Long("etcd-prefix") if verb == "serve" => {
                    etcd_prefix = Some(parser.value()?.string()?);
                }
                Long("etcd-lease") if verb == "serve" => {
                    let secs: u64 = parser
                        .value()?
                        .parse()
                        .map_err(|e| format!("--etcd-lease: {e}; whole seconds"))?;
                    etcd_lease = Some(Duration::from_secs(secs));
                }
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
                Long("help") | Short('h') => return Ok(Parsed::Help(cli::command(&path))),
                Word(word) if verb != "serve" => words.push(word),
                other => return Err(cli::unexpected(other, &path)),
            }
        }
        let at = at.unwrap_or_default();
        let words = texts(words)?;
        Ok(Parsed::Run(match verb.as_str() {
            "serve" => {
                let mut addr = listen.unwrap_or_default();
                if let Some(ports) = ports {
                    addr = addr.with_ports(ports);
                }
                if backend.is_none() && (etcd_prefix.is_some() || etcd_lease.is_some()) {
                    return Err("--etcd-prefix and --etcd-lease go with --backend etcd=URL".into());
                }
                let etcd = backend.map(|mut etcd| {
                    if let Some(prefix) = etcd_prefix {
                        etcd = etcd.with_prefix(prefix);
                    }
                    if let Some(ttl) = etcd_lease {
                        etcd = etcd.lease(ttl);
                    }
                    etcd
                });
                Command::Serve { addr, state, etcd }
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
                return Err(
                    format!("registry: {}", cli::unknown_command(other, &["registry"])).into(),
                );
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
        Command::Serve { addr, state, etcd } => serve(addr, state, etcd),
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
fn serve(addr: RegistryAddr, state: Option<PathBuf>, etcd: Option<EtcdConfig>) -> Outcome<()> {
    let mut config = ServerConfig::default().addr(addr);
    if let Some(path) = state {
        config = config.state_file(path);
    }
    if let Some(etcd) = etcd {
        config = config.etcd(etcd);
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

/// A blocking client of the registry at `at`, waiting at most `timeout`
/// for each answer: the library's client, so that the command has its
/// bounds (lines, answers) and its time limits.
fn client(at: &RegistryAddr, timeout: Duration) -> BlockingClient {
    BlockingClient::new(at.clone()).timeout(timeout)
}

/// What a failed request says on stderr: a refusal as the registry's
/// reason, the registry closing as such, anything else as the client
/// says it.
fn failed(error: ClientError) -> Box<dyn std::error::Error> {
    match error {
        ClientError::Refused { reason, .. } => format!("the registry refused: {reason}").into(),
        ClientError::Closed { .. } => "the registry closed the connection".into(),
        other => other.into(),
    }
}

/// Prints the services that match `query`, one line each, as the
/// registry writes them.
fn find(at: &RegistryAddr, query: &Query) -> Outcome<()> {
    let services = client(at, ANSWER).find(query).map_err(failed)?;
    let mut out = std::io::stdout().lock();
    for service in services {
        writeln!(out, "{service}")?;
    }
    out.flush()?;
    Ok(())
}

/// Prints the detailed watch's lines as they come, until the registry
/// closes the connection (an error) or the command is interrupted.
fn follow(at: &RegistryAddr, watch: &Watch) -> Outcome<()> {
    let refused = |error: ClientError| -> Box<dyn std::error::Error> {
        match error.refusal() {
            Some(reason) => format!("the registry refused the watch: {reason}").into(),
            None => failed(error),
        }
    };
    let mut events = client(at, ANSWER)
        .watch(&watch.query, watch.since)
        .map_err(refused)?;
    let mut out = std::io::stdout().lock();
    for event in &mut events {
        let line = match event {
            Ok(WatchEvent::Change(notice)) => notice.to_string(),
            Ok(WatchEvent::Synced(revision)) => EventLine::Sync(revision).to_string(),
            Ok(_) => continue,
            // A quiet registry: the watch goes on.
            Err(error) if error.is_timeout() => continue,
            Err(error) => return Err(refused(error)),
        };
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Err("the registry closed the connection".into())
}

/// Registers `service`, says so once the registry shows it, and holds it
/// until interrupted.
fn register(at: &RegistryAddr, token: Option<Token>, service: &Service) -> Outcome<()> {
    let client = client(at, CONFIRM);
    let mut registration = match &token {
        Some(token) => client.register_with_token(service, token),
        None => client.register(service),
    }
    .map_err(failed)?;
    say(format_args!("registered {}", service.name()));
    // The registry says nothing while it holds the service: a line is a
    // refusal, the end of the stream a dropped registration.
    loop {
        registration.check().map_err(failed)?;
        std::thread::sleep(HOLD_CHECK);
    }
}

/// Removes the service `name` (roe's `remove` line on the new port).
fn remove(at: &RegistryAddr, token: Option<Token>, name: &str) -> Outcome<()> {
    client(at, ANSWER)
        .remove(name, token.as_ref())
        .map_err(failed)?;
    say(format_args!("removed {name}"));
    Ok(())
}
