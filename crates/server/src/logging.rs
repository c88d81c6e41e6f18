//! Logs to stderr through `tracing`: human-readable text or one JSON
//! object per line (`log.format`). `RUST_LOG`, when set, replaces
//! `log.level` so a single run can be made verbose without editing files.
//!
//! rustls is capped at `error` unless the filter names it: it warns about
//! client quirks (e.g. the AWS CRT SDK sends an IP address as SNI) on every
//! connection, and Kumo logs each handshake's outcome itself.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init(cfg: &LogConfig) {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .filter(|v| match EnvFilter::try_new(v) {
            Ok(_) => true,
            Err(e) => {
                eprintln!("kumo: ignoring RUST_LOG={v:?}: {e}");
                false
            }
        })
        // `config::resolve` validated the level already.
        .unwrap_or_else(|| cfg.level.clone());
    let mut filter = EnvFilter::new(&directives);
    if !directives.contains("rustls") {
        filter = filter.add_directive("rustls=error".parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cfg.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
