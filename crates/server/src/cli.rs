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
    /// Certificates: issue offline, or manage the registry's (running server).
    #[command(subcommand)]
    Cert(CertCommand),
    /// Things in the registry of the running server.
    #[command(subcommand)]
    Thing(ThingCommand),
    /// Policies in the registry of the running server.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Device shadows of the running server (classic, or named with --name).
    #[command(subcommand)]
    Shadow(ShadowCommand),
    /// Kumo's own administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Make a connect kit for a device (like the AWS console's "connect one
    /// device"): the thing, an ACTIVE certificate and key, a least-privilege
    /// policy, all in connect_device_package.zip with start.sh.
    Kit(KitArgs),
    /// Any registry operation by its AWS name, e.g.
    /// `kumo api DescribeThing '{"thingName":"raspi2"}'`.
    Api(ApiArgs),
}

/// How the running server is reached, and how answers are printed.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `text` (default) or `json` (the AWS response body, one line).
    #[arg(long, short = 'o', value_name = "FORMAT", default_value = "text")]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct KitArgs {
    /// The thing's name (created if it does not exist).
    pub name: String,
    /// The zip to write (default: connect_device_package.zip; never
    /// overwritten).
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The host name devices connect to (default: the first of
    /// tls.endpoint_names).
    #[arg(long, value_name = "HOST")]
    pub endpoint: Option<String>,
    /// The port (default: the running server's mutual-TLS listener).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// How the summary is printed: `text` (default) or `json`.
    #[arg(long = "output", value_name = "FORMAT", default_value = "text")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The operation, e.g. CreateThing, ListCertificates, AttachPolicy.
    pub op: String,
    /// Its input as a JSON object with AWS's field names (`-`: read it from
    /// standard input). Default: `{}`.
    pub input: Option<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// New admin credentials for the HTTPS API (SigV4); the old ones stop
    /// working at once. Works with the server running or stopped.
    Keys {
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShadowCommand {
    /// Print a shadow's document (GetThingShadow).
    Get {
        thing: String,
        #[command(flatten)]
        shadow: ShadowArgs,
    },
    /// Update a shadow (UpdateThingShadow), e.g.
    /// `kumo shadow update raspi2 '{"state":{"desired":{"led":"on"}}}'`;
    /// prints the accepted document.
    Update {
        thing: String,
        /// The request document (`-`: read it from standard input).
        document: String,
        #[command(flatten)]
        shadow: ShadowArgs,
    },
    /// Delete a shadow (DeleteThingShadow); its version keeps counting.
    Delete {
        thing: String,
        #[command(flatten)]
        shadow: ShadowArgs,
    },
}

#[derive(Debug, Args)]
pub struct ShadowArgs {
    /// A named shadow (default: the thing's classic shadow).
    #[arg(long, short = 'n', value_name = "SHADOW")]
    pub name: Option<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Subcommand)]
pub enum ThingCommand {
    /// Create a thing (CreateThing).
    Create {
        name: String,
        /// An attribute, NAME=VALUE (repeatable).
        #[arg(long = "attribute", short = 'a', value_name = "NAME=VALUE")]
        attributes: Vec<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Show a thing (DescribeThing).
    Describe {
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List things (ListThings).
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Delete a thing (DeleteThing).
    Delete {
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Attach a certificate to a thing (AttachThingPrincipal).
    AttachCert {
        name: String,
        /// Certificate id (or its ARN).
        cert: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Detach a certificate from a thing (DetachThingPrincipal).
    DetachCert {
        name: String,
        cert: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create a policy from a JSON document (CreatePolicy).
    Create {
        name: String,
        /// The policy document: a file, or `-` for standard input.
        #[arg(long, value_name = "FILE")]
        document: PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Show a policy and its default document (GetPolicy).
    Get {
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List policies (ListPolicies).
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Delete a policy (DeletePolicy).
    Delete {
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Attach a policy to a certificate (AttachPolicy).
    Attach {
        name: String,
        /// Certificate id (or its ARN).
        cert: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Detach a policy from a certificate (DetachPolicy).
    Detach {
        name: String,
        cert: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
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
    /// Once Kumo is ready, write the bound ports here as JSON, e.g.
    /// {"alpn":34567,"tcp":12345,"tls":23456} (atomically: temp file +
    /// rename); `-` prints them as one line on standard output. For tests
    /// and supervisors that bind port 0.
    #[arg(long, value_name = "FILE")]
    pub ports_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Issue a device client certificate signed by Kumo's device CA and
    /// write NAME.cert.pem, NAME.private.key and NAME.public.key (offline:
    /// no server needed; the certificate is not registered).
    Issue(IssueArgs),
    /// Create a key pair and a certificate in the running server's registry
    /// (CreateKeysAndCertificate).
    Create {
        /// Make it ACTIVE at once (otherwise INACTIVE).
        #[arg(long)]
        active: bool,
        /// Also write PREFIX.cert.pem, PREFIX.private.key, PREFIX.public.key
        /// into this directory (the private key is shown only once).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// File name prefix for --out (default: the certificate id).
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Certify a key the device made and keeps (CreateCertificateFromCsr):
    /// RSA 2048+ or EC P-256/384/521.
    FromCsr {
        /// PEM certificate signing request (`-`: standard input).
        file: PathBuf,
        /// Make it ACTIVE at once (otherwise INACTIVE).
        #[arg(long)]
        active: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Register a certificate made elsewhere (RegisterCertificateWithoutCA).
    Register {
        /// PEM file.
        file: PathBuf,
        #[arg(long)]
        active: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Show a certificate (DescribeCertificate).
    Describe {
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List certificates (ListCertificates).
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Change a certificate's status (UpdateCertificate): ACTIVE, INACTIVE
    /// or REVOKED.
    Update {
        id: String,
        status: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Delete a certificate (DeleteCertificate); it must not be ACTIVE.
    Delete {
        id: String,
        /// Detach its policies too (forceDelete).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
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
