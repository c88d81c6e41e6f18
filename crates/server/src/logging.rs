//! Logs to stderr through `tracing`: human-readable text or one JSON
//! object per line (`log.format`). `RUST_LOG`, when set, replaces
//! `log.level` so a single run can be made verbose without editing files.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init(cfg: &LogConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| match EnvFilter::try_new(&v) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("kumo: ignoring RUST_LOG={v:?}: {e}");
                None
            }
        })
        // `config::resolve` validated the level already.
        .unwrap_or_else(|| EnvFilter::new(&cfg.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cfg.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
