//! The `roe` command's log: what the libraries report through `tracing`,
//! written to stderr with a timestamp and a level, filtered as `RUST_LOG`
//! asks (`info` when it is unset; `RUST_LOG=roe=debug,warn` style).

use std::str::FromStr;

use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};

/// Installs the log. A `RUST_LOG` that does not parse is reported and the
/// default used, rather than refusing to start.
pub fn init() {
    let (filter, refused) = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => match Targets::from_str(&spec) {
            Ok(filter) => (filter, None),
            Err(error) => (default_filter(), Some((spec, error))),
        },
        _ => (default_filter(), None),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true);
    // Another subscriber already installed (by an embedding test) wins.
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
    if let Some((spec, error)) = refused {
        tracing::warn!("RUST_LOG={spec:?} is not a filter ({error}); logging at info");
    }
}

fn default_filter() -> Targets {
    Targets::new().with_default(tracing::Level::INFO)
}

/// Writes one line to stdout. A stdout that is closed or full (`roe node |
/// head -1`) must not stop the node: the line is dropped, and logged.
pub fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(error) = out
        .write_fmt(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
    {
        tracing::debug!(%error, "stdout is gone; a line was dropped");
    }
}
