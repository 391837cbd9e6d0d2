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
//!
//! The server's pre-shared key comes from `--key-file PATH` or the
//! environment's `ROE_IKC_KEY`, which other local users cannot read;
//! `--key KEY` still works, but shows the key to them in the process list
//! (`/proc/PID/cmdline`).

use std::{
    ffi::OsString,
    fs::File,
    io::{Read, Write},
    os::unix::ffi::OsStringExt,
    path::{Path, PathBuf},
    time::Duration,
};

use roe::Value;
use roe_ikc::lite::{LiteClient, LiteConfig};

use crate::{
    cli::{self, Parsed},
    json,
};

/// The longest `--timeout`: a day, in seconds.
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// The environment variable a key is read from when neither `--key` nor
/// `--key-file` is given.
const KEY_VAR: &str = "ROE_IKC_KEY";

/// The longest key file read: a key is short, and this stops
/// `--key-file /dev/zero` from reading forever.
const MAX_KEY_FILE: u64 = 64 * 1024;

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
    /// Reads `roe ikc`'s arguments, after the word `ikc`.
    ///
    /// # Errors
    ///
    /// An argument that is missing, unknown (with the nearest request or
    /// option, if one is close), out of range or not JSON.
    pub fn parse(parser: &mut lexopt::Parser) -> Outcome<Parsed<Options>> {
        use lexopt::{
            Arg::{Long, Short, Value as Word},
            ValueExt,
        };

        let (request, verb) = match parser.next()? {
            Some(Word(word)) => match word.to_str() {
                Some("post") => (Request::Post, "post"),
                Some("call") => (Request::Call, "call"),
                Some("ping") => (Request::Ping, "ping"),
                _ => {
                    let why = cli::unknown("request", &word.to_string_lossy(), &["ikc"]);
                    return Err(format!("ikc: {why}").into());
                }
            },
            Some(Long("help") | Short('h')) => return Ok(Parsed::Help(cli::command(&["ikc"]))),
            Some(other) => return Err(cli::unexpected(other, &["ikc"])),
            None => return Err("ikc: post, call or ping? try `roe ikc --help`".into()),
        };
        let path = ["ikc", verb];
        let mut to = None;
        let mut unix = None;
        let mut timeout = None;
        let mut key = None;
        let mut key_file = None;
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
                Long("key-file") => key_file = Some(PathBuf::from(parser.value()?)),
                Long("help") | Short('h') => return Ok(Parsed::Help(cli::command(&path))),
                Word(word) => positional.push(word),
                other => return Err(cli::unexpected(other, &path)),
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
        if let Some(key) = key_from(key, key_file.as_deref(), std::env::var_os(KEY_VAR))? {
            config = config.key(key);
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
        Ok(Parsed::Run(Options {
            request,
            config,
            spec,
            arg,
        }))
    }
}

/// The pre-shared key, if any: `--key`'s text, or `--key-file`'s content,
/// or else `env` (the value of [`KEY_VAR`]).
///
/// A key file's one trailing line end (`\n` or `\r\n`) is not part of
/// the key, so `echo secret > FILE` makes the key `secret`.
///
/// # Errors
///
/// Both `--key` and `--key-file`; a key file that cannot be read, is over
/// [`MAX_KEY_FILE`] bytes or holds no key; an empty `env`.
fn key_from(
    key: Option<String>,
    key_file: Option<&Path>,
    env: Option<OsString>,
) -> Outcome<Option<Vec<u8>>> {
    match (key, key_file) {
        (Some(_), Some(_)) => Err("ikc: --key and --key-file are either-or".into()),
        (Some(key), None) => Ok(Some(key.into_bytes())),
        (None, Some(path)) => read_key_file(path).map(Some),
        (None, None) => match env {
            Some(key) if key.is_empty() => {
                Err(format!("ikc: {KEY_VAR} is set but empty; unset it or give a key").into())
            }
            key => Ok(key.map(OsString::into_vec)),
        },
    }
}

/// Reads a key file: its bytes, less one trailing line end.
fn read_key_file(path: &Path) -> Outcome<Vec<u8>> {
    let fail = |why: String| format!("ikc: --key-file {}: {why}", path.display());
    let mut key = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_KEY_FILE + 1).read_to_end(&mut key))
        .map_err(|e| fail(e.to_string()))?;
    if key.len() as u64 > MAX_KEY_FILE {
        return Err(fail(format!("over {MAX_KEY_FILE} bytes, too long for a key")).into());
    }
    if key.last() == Some(&b'\n') {
        key.pop();
        if key.last() == Some(&b'\r') {
            key.pop();
        }
    }
    if key.is_empty() {
        return Err(fail("holds no key".into()).into());
    }
    Ok(key)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the temporary directory holding `bytes`, removed on drop.
    struct KeyFile(PathBuf);

    impl KeyFile {
        fn new(name: &str, bytes: &[u8]) -> KeyFile {
            let path =
                std::env::temp_dir().join(format!("roe-ikc-key-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            KeyFile(path)
        }
    }

    impl Drop for KeyFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// The options `args` make, or `None` for help.
    fn parse(args: &[&str]) -> Outcome<Option<Options>> {
        let mut parser = lexopt::Parser::from_args(args);
        Ok(match Options::parse(&mut parser)? {
            Parsed::Run(options) => Some(options),
            Parsed::Help(_) => None,
        })
    }

    #[test]
    fn a_key_file_is_read_less_one_line_end() {
        for (bytes, key) in [
            (&b"secret\n"[..], &b"secret"[..]),
            (b"secret\r\n", b"secret"),
            (b"secret", b"secret"),
            (b"two\nlines\n\n", b"two\nlines\n"),
            (b"\xff\x00bytes", b"\xff\x00bytes"),
        ] {
            let file = KeyFile::new("read", bytes);
            let read = key_from(None, Some(&file.0), None).unwrap();
            assert_eq!(read.as_deref(), Some(key), "{bytes:?}");
        }
    }

    #[test]
    fn a_key_comes_from_the_command_line_else_the_environment() {
        let env = || Some(OsString::from("from-env"));
        assert_eq!(
            key_from(Some("typed".into()), None, env()).unwrap(),
            Some(b"typed".to_vec())
        );
        let file = KeyFile::new("precedence", b"filed\n");
        assert_eq!(
            key_from(None, Some(&file.0), env()).unwrap(),
            Some(b"filed".to_vec())
        );
        assert_eq!(
            key_from(None, None, env()).unwrap(),
            Some(b"from-env".to_vec())
        );
        assert_eq!(key_from(None, None, None).unwrap(), None);
    }

    #[test]
    fn bad_keys_are_refused_saying_why() {
        let says = |result: Outcome<Option<Vec<u8>>>, text: &str| {
            let error = result.unwrap_err().to_string();
            assert!(error.contains(text), "{error:?} does not say {text:?}");
        };
        let file = KeyFile::new("both", b"k");
        says(key_from(Some("k".into()), Some(&file.0), None), "either-or");
        let empty = KeyFile::new("empty", b"\r\n");
        says(key_from(None, Some(&empty.0), None), "holds no key");
        let long = KeyFile::new("long", &vec![b'k'; MAX_KEY_FILE as usize + 1]);
        says(key_from(None, Some(&long.0), None), "too long");
        let missing = std::env::temp_dir().join("roe-ikc-key-that-is-not-there");
        says(
            key_from(None, Some(&missing), None),
            "roe-ikc-key-that-is-not-there",
        );
        says(
            key_from(None, None, Some(OsString::new())),
            "ROE_IKC_KEY is set but empty",
        );
    }

    #[test]
    fn key_file_is_an_option_of_every_request() {
        let file = KeyFile::new("option", b"k\n");
        let path = file.0.to_str().unwrap();
        for request in ["ping", "call", "post"] {
            let mut args = vec![request, "--to", "127.0.0.1:1", "--key-file", path];
            if request != "ping" {
                args.push("echo/same");
            }
            assert!(parse(&args).unwrap().is_some(), "{args:?}");
        }
        let error = parse(&[
            "ping",
            "--to",
            "127.0.0.1:1",
            "--key",
            "k",
            "--key-file",
            path,
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("either-or"), "{error}");
        let error = parse(&["ping", "--to", "127.0.0.1:1", "--key-file"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("key-file"), "{error}");
    }
}
