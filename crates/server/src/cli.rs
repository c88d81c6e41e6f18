//! The command line: `kumo serve`, `kumo check-config`, `kumo cert issue`.
//!
//! Only the shape of the commands lives here; what they do is in
//! [`crate::commands`]. clap reports usage errors itself with exit code 2.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Kumo: a self-hosted, AWS IoT Core compatible device cloud.
#[derive(Debug, Parser)]
#[command(name = "kumo", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: create the CA on first start, listen, serve MQTT.
    Serve(ServeArgs),
    /// Validate the configuration and print the effective one (exit 0), or
    /// print the error with its location (exit 2).
    CheckConfig(ConfigArgs),
    /// Device certificates.
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// TOML configuration file (see kumo.example.toml). Without it, the
    /// defaults and KUMO_* environment overrides apply.
    #[arg(long, short = 'c', value_name = "FILE", env = "KUMO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` and KUMO_DATA_DIR.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Once every listener is bound, write their ports here as JSON,
    /// e.g. {"alpn":34567,"tcp":12345,"tls":23456} (atomically: temp file
    /// + rename). For tests and supervisors that bind port 0.
    #[arg(long, value_name = "FILE")]
    pub ports_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Issue a device client certificate signed by Kumo's device CA and
    /// write NAME.cert.pem, NAME.private.key and NAME.public.key.
    Issue(IssueArgs),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The device's name (certificate common name and file name prefix);
    /// characters a-z A-Z 0-9 _ - :, like an AWS IoT thing name.
    pub name: String,
    /// Directory to write the files into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
}
