//! Logs of all three roles go to stderr, filtered by `RUST_LOG` or else by `--debug`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber. `RUST_LOG`, when set, takes precedence over `--debug`.
pub fn init(debug: bool) {
    let default_level = if debug { "debug" } else { "warn" };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
