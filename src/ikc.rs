//! `roe ikc`: post to, call or ping an IKC server from the shell, through
//! the lite client (`roe_ikc::lite`), with arguments and answers in JSON
//! (src/json.rs).
//!
//! - `call` prints the value returned, as one line of JSON;
//! - `post` prints nothing: it posts, then pings, so that a refusal the
//!   server sends about the post (IKC's remote error) has arrived, and is
//!   an error, before the command exits;
//! - `ping` prints `{"server":NAME,"micros":N}`, the server's name and the
//!   round trip in microseconds.
//!
//! Any failure, the server's refusal included, is an error: the caller
//! prints it on stderr and exits non-zero.

use std::{ffi::OsString, io::Write, time::Duration};

use roe::Value;
use roe_ikc::lite::{LiteClient, LiteConfig};

use crate::json;

/// The longest `--timeout`: a day, in seconds.
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// What the command fails with; the message is shown as is.
pub type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

/// Which request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Post,
    Call,
    Ping,
}

/// What `roe ikc` was asked to do.
#[derive(Debug)]
pub struct Options {
    request: Request,
    config: LiteConfig,
    /// The target, for `post` and `call`.
    spec: String,
    /// The JSON argument, read; none sends no arguments.
    arg: Option<Value>,
}

impl Options {
    /// Reads `roe ikc`'s arguments, after the word `ikc`; `None` when help
    /// was asked for.
    ///
    /// # Errors
    ///
    /// An argument that is missing, unknown, out of range or not JSON.
    pub fn parse(parser: &mut lexopt::Parser) -> Outcome<Option<Options>> {
        use lexopt::{
            Arg::{Long, Short, Value as Word},
            ValueExt,
        };

        let request = match parser.next()? {
            Some(Word(word)) => match word.to_str() {
                Some("post") => Request::Post,
                Some("call") => Request::Call,
                Some("ping") => Request::Ping,
                _ => return Err(format!("ikc: unknown request {word:?}; try `roe help`").into()),
            },
            Some(Long("help") | Short('h')) => return Ok(None),
            Some(other) => return Err(other.unexpected().into()),
            None => return Err("ikc: post, call or ping? try `roe help`".into()),
        };
        let mut to = None;
        let mut unix = None;
        let mut timeout = None;
        let mut key = None;
        let mut positional: Vec<OsString> = Vec::new();
        while let Some(arg) = parser.next()? {
            match arg {
                Long("to") => to = Some(parser.value()?.string()?),
                Long("unix") => unix = Some(parser.value()?),
                Long("timeout") => {
                    let secs: f64 = parser.value()?.parse()?;
                    if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
                        return Err(format!(
                            "--timeout must be above 0 and at most {MAX_TIMEOUT_SECS} seconds"
                        )
                        .into());
                    }
                    timeout = Some(Duration::from_secs_f64(secs));
                }
                Long("key") => key = Some(parser.value()?.string()?),
                Long("help") | Short('h') => return Ok(None),
                Word(word) => positional.push(word),
                other => return Err(other.unexpected().into()),
            }
        }
        let mut config = match (to, unix) {
            (Some(addr), None) => LiteConfig::new(addr),
            (None, Some(path)) => LiteConfig::unix(path),
            (Some(_), Some(_)) => return Err("ikc: --to and --unix are either-or".into()),
            (None, None) => return Err("ikc: say where the server is: --to or --unix".into()),
        };
        if let Some(timeout) = timeout {
            config = config.timeout(timeout);
        }
        if let Some(key) = key {
            config = config.key(key.into_bytes());
        }
        let mut positional = positional.into_iter();
        let (spec, arg) = match request {
            Request::Ping => (String::new(), None),
            Request::Post | Request::Call => {
                let spec = positional
                    .next()
                    .ok_or("ikc: which state? give poe://kernel/session/state")?
                    .into_string()
                    .map_err(|s| format!("ikc: the specifier {s:?} is not UTF-8"))?;
                let arg = match positional.next() {
                    Some(text) => {
                        let text = text
                            .into_string()
                            .map_err(|s| format!("ikc: the argument {s:?} is not UTF-8"))?;
                        Some(json::parse(&text).map_err(|e| format!("ikc: the argument is {e}"))?)
                    }
                    None => None,
                };
                (spec, arg)
            }
        };
        if let Some(extra) = positional.next() {
            return Err(format!("ikc: unexpected argument {extra:?}").into());
        }
        Ok(Some(Options {
            request,
            config,
            spec,
            arg,
        }))
    }
}

/// Connects, sends the request, and prints what the module documentation
/// says.
///
/// # Errors
///
/// The lite client's errors (connecting, the request, the server's
/// refusal) and a stdout that cannot be written.
pub fn run(options: Options) -> Outcome<()> {
    let mut client = LiteClient::connect(options.config)?;
    let args: Vec<Value> = options.arg.into_iter().collect();
    let line = match options.request {
        Request::Call => json::to_string(&client.call(options.spec.as_str(), &args)?),
        Request::Post => {
            client.post(options.spec.as_str(), &args)?;
            client.ping()?;
            let errors = client.take_errors();
            if let Some(first) = errors.first() {
                return Err(match errors.len() {
                    1 => first.to_string(),
                    n => format!("{first} (and {} more)", n - 1),
                }
                .into());
            }
            return Ok(());
        }
        Request::Ping => {
            let round_trip = client.ping()?;
            let server = client.server().map_or("", |peer| peer.name());
            format!(
                r#"{{"server":{},"micros":{}}}"#,
                json::to_string(&Value::from(server)),
                round_trip.as_micros()
            )
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
