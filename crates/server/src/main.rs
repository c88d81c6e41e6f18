//! `kumo`: the Kumo server binary.
//!
//! This crate is the only place that wires things together: it reads the
//! configuration ([`config`]), bootstraps Kumo's own CA and server
//! certificate ([`pki`]), builds the TLS configurations ([`tls`]), binds
//! and serves the listeners ([`listeners`]) into the broker, and shuts
//! down on SIGTERM/SIGINT ([`serve`]). It never parses MQTT and never
//! decides what a client may do; that is the broker's job.

mod admin;
mod admin_cli;
mod api;
mod auth;
mod cli;
mod commands;
mod config;
mod console;
mod error;
mod kit;
mod listeners;
mod logging;
mod pki;
mod policy_auth;
mod serve;
mod shadows;
mod tls;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc malloc: the broker allocates and frees one
/// message per PUBLISH from many threads, where glibc's arenas showed up at
/// ~10% of a QoS 1 profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One crypto provider for the whole process, chosen here rather than by
    // Cargo features: aws-lc-rs (nothing may pull in ring).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("kumo: error: {:#}", failure.error);
            failure.exit_code()
        }
    }
}
