//! What each subcommand does; `serve` has its own module ([`crate::serve`]).

use crate::cli::{CertCommand, Cli, Command, ConfigArgs, IssueArgs};
use crate::config::{self, Loaded};
use crate::error::{Failure, Result};
use crate::{admin_cli, kit, pki, serve};

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::CheckConfig(args) => check_config(args),
        Command::Cert(CertCommand::Issue(args)) => cert_issue(args),
        Command::Cert(cmd) => admin_cli::cert(cmd),
        Command::Thing(cmd) => admin_cli::thing(cmd),
        Command::Policy(cmd) => admin_cli::policy(cmd),
        Command::Shadow(cmd) => admin_cli::shadow(cmd),
        Command::Admin(cmd) => admin_cli::admin(cmd),
        Command::Api(args) => admin_cli::api(args),
        Command::Kit(args) => kit::run(args),
    }
}

pub fn load(args: ConfigArgs) -> Result<Loaded> {
    let loaded = config::load(args.config.as_deref(), std::env::vars(), args.data_dir)
        .map_err(Failure::config)?;
    for v in &loaded.env_unknown {
        eprintln!(
            "kumo: warning: ignoring environment variable {v}: it matches no configuration field"
        );
    }
    Ok(loaded)
}

/// Validate, check existing key permissions (creating nothing), print the
/// effective configuration as TOML.
fn check_config(args: ConfigArgs) -> Result<()> {
    let loaded = load(args)?;
    let c = &loaded.config;
    pki::check_existing(&c.data_dir)?;
    if c.tls.client_ca_file != config::default_client_ca(&c.data_dir)
        || c.tls.client_ca_file.exists()
    {
        pki::root_store(&c.tls.client_ca_file)
            .map_err(|f| Failure::config(anyhow::anyhow!("tls.client_ca_file: {:#}", f.error)))?;
    }
    let toml = toml::to_string(c).map_err(anyhow::Error::from)?;
    match &loaded.source {
        Some(p) => println!("# kumo: {} is valid. Effective configuration:", p.display()),
        None => println!("# kumo: no --config file; effective configuration (defaults):"),
    }
    for v in &loaded.env_applied {
        println!("# overridden by environment variable {v}");
    }
    print!("{toml}");
    Ok(())
}

fn cert_issue(args: IssueArgs) -> Result<()> {
    let loaded = load(args.config)?;
    let data_dir = &loaded.config.data_dir;
    for event in pki::ensure_cas(data_dir)? {
        eprintln!("kumo: {event}");
    }
    let issued = pki::issue_device_cert(data_dir, &args.name, &args.out)?;
    println!("certificate: {}", issued.cert.display());
    println!("private key: {}", issued.private_key.display());
    println!("public key:  {}", issued.public_key.display());
    println!(
        "root CA:     {}",
        pki::CaDir::new(data_dir).root_cert().display()
    );
    Ok(())
}
