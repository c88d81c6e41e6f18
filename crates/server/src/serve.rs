//! `kumo serve`: start-up order, the running server, graceful shutdown.
//!
//! Start-up is ordered so that every failure happens before anything is
//! served: configuration (exit 2) → logging → signal handlers → PKI
//! (exit 2 for an unsafe key) → TLS configs → bind every listener (exit 1,
//! naming the address) → ports file → accept.
//!
//! Shutdown on the first SIGTERM or SIGINT: stop accepting (the accept
//! loops end and drop their sockets), then `broker.shutdown()` (wills,
//! DISCONNECT 0x8B, close connections; bounded by the broker, and by
//! [`BROKER_SHUTDOWN_LIMIT`] here as a backstop), then exit 0. A second
//! signal during shutdown exits at once with 130.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kumo_broker::Broker;
use kumo_registry::Registry;
use kumo_store::sqlite::SqliteBackend;
use kumo_store::Store;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::admin::{self, RegistryService};
use crate::api;
use crate::cli::ServeArgs;
use crate::config::ClientAuth;
use crate::config::{self, Config, LogFormat};
use crate::error::{Failure, Result};
use crate::policy_auth::PolicyAuthorizer;
use crate::shadows::ShadowService;
use crate::{listeners, logging, pki, tls};

/// Backstop on `broker.shutdown()`, which bounds itself already.
const BROKER_SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

pub fn run(args: ServeArgs) -> Result<()> {
    let loaded = config::load(
        args.config.config.as_deref(),
        std::env::vars(),
        args.config.data_dir,
    )
    .map_err(Failure::config)?;
    logging::init(&loaded.config.log);
    match &loaded.source {
        Some(p) => info!(file = %p.display(), "configuration loaded"),
        None => info!("no --config file given: using defaults and KUMO_* environment overrides"),
    }
    for v in &loaded.env_applied {
        info!("configuration override from environment variable {v}");
    }
    for v in &loaded.env_unknown {
        warn!("ignoring environment variable {v}: it matches no configuration field");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kumo")
        .build()
        .context("cannot start the tokio runtime")?;
    let result = runtime.block_on(serve(loaded.config, args.ports_file));
    // Connection tasks the broker did not close must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

async fn serve(config: Config, ports_file: Option<PathBuf>) -> Result<()> {
    // Registered before the ports file appears, so that a supervisor's
    // SIGTERM right after start-up is a graceful shutdown, not a kill.
    let mut signals = Signals::new()?;
    if let Some(p) = &ports_file {
        // A stale file from an earlier run must not be mistaken for ours.
        let _ = std::fs::remove_file(p);
    }

    let identity = pki::ensure_server_identity(&config.data_dir, &config.tls.endpoint_names)?;
    for event in &identity.events {
        info!("{event}");
    }
    let store_path = SqliteBackend::file_in(&config.data_dir);
    let mut backend = SqliteBackend::open(&store_path).map_err(Failure::runtime)?;
    if config.store.max_size_mb > 0 {
        backend
            .set_max_size(Some(config.store.max_size_mb * 1024 * 1024))
            .map_err(Failure::runtime)?;
    }
    let (store, mut snapshot) =
        Store::open(backend, config.store.durability(), now_ms()).map_err(Failure::runtime)?;
    info!(path = %store_path.display(), durability = ?config.store.durability(), "store opened");
    let registry = Registry::load(config.aws.arn(), &std::mem::take(&mut snapshot.records))
        .map_err(|e| Failure::runtime(anyhow::anyhow!("{e}")))?;
    let registry = Arc::new(RegistryService::new(
        registry,
        store.clone(),
        pki::device_issuer(&config.data_dir)?,
    ));
    let stored_shadows = std::mem::take(&mut snapshot.shadows);
    let broker = Broker::with_store(config.mqtt.broker_config(), store.clone(), snapshot);
    let shadows = ShadowService::new(broker.clone(), store.clone(), stored_shadows)
        .map_err(|e| Failure::runtime(anyhow::anyhow!("{}: {e}", store_path.display())))?;
    broker.set_service(Arc::new(shadows.clone()));
    let tls = tls::build(identity, &config.tls, &registry, &broker)?;
    let anonymous = match &config.listeners.tcp.policy_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::config(anyhow::anyhow!(
                    "listeners.tcp.policy_file {}: {e}",
                    path.display()
                ))
            })?;
            let doc = kumo_policy::PolicyDocument::parse(&text).map_err(|e| {
                Failure::config(anyhow::anyhow!(
                    "listeners.tcp.policy_file {}: {}",
                    path.display(),
                    e.aws_message()
                ))
            })?;
            Some(vec![doc])
        }
    };
    let check_certificates = config.tls.client_auth == ClientAuth::Registry;
    if check_certificates || anonymous.is_some() {
        broker.set_authorizer(Arc::new(PolicyAuthorizer::new(
            registry.clone(),
            config.aws.arn(),
            check_certificates,
            anonymous,
        )));
    }
    let (credentials, created) =
        api::credentials::ensure(&config.data_dir).map_err(Failure::runtime)?;
    if created {
        let path = absolute(&api::credentials::path(&config.data_dir));
        info!(path = %path.display(), access_key_id = %credentials.access_key_id,
            "admin credentials created for the HTTPS API (profile \"{}\")", api::credentials::PROFILE);
        eprintln!(
            "\n  Admin credentials for the AWS-compatible API (shown once; also in {}):\n    \
             aws_access_key_id = {}\n    aws_secret_access_key = {}\n",
            path.display(),
            credentials.access_key_id,
            credentials.secret_access_key
        );
    }
    let credentials = Arc::new(std::sync::RwLock::new(credentials));
    let bound = listeners::bind_all(&config, &tls).await?;
    // Where the console's connect kits point devices: the mutual-TLS
    // listener, else 443 with ALPN.
    let device_port = ["tls", "alpn"]
        .iter()
        .find_map(|k| bound.iter().find(|b| b.kind.name() == *k))
        .map_or(8883, |b| b.addr.port());
    let root_ca_path = pki::CaDir::new(&config.data_dir).root_cert();
    let root_ca = std::fs::read(&root_ca_path)
        .map_err(|e| Failure::runtime(anyhow::anyhow!("{}: {e}", root_ca_path.display())))?;
    let api = Arc::new(api::Api {
        registry: registry.clone(),
        shadows: shadows.clone(),
        broker: broker.clone(),
        credentials: credentials.clone(),
        ops: api::ops::OpTable::builtin(),
        endpoint: config
            .tls
            .endpoint_names
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".to_owned()),
        max_skew_secs: 300,
        arn: config.aws.arn(),
        console: Default::default(),
        device_port,
        root_ca,
    });

    announce_root_ca(&config);
    info!(
        compat = config.mqtt.compat.as_str(),
        endpoint_names = ?config.tls.endpoint_names,
        client_ca_file = %config.tls.client_ca_file.display(),
        require_client_cert = config.tls.require_client_cert,
        "kumo {} starting", env!("CARGO_PKG_VERSION")
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let ports: Vec<_> = bound.iter().map(|b| (b.kind.name(), b.addr)).collect();
    let tasks = listeners::start(
        bound,
        &broker,
        &api,
        config.tls.handshake_timeout(),
        &stop_rx,
    );
    let admin_path = admin::socket_path(&config.data_dir);
    let admin_listener = admin::bind(&config.data_dir).map_err(|e| {
        Failure::runtime(anyhow::anyhow!(
            "cannot create the admin socket {}: {e}",
            admin_path.display()
        ))
    })?;
    info!(path = %admin_path.display(), "admin socket ready");
    let listener_ports: serde_json::Map<String, serde_json::Value> = ports
        .iter()
        .map(|(n, a)| ((*n).to_owned(), serde_json::json!(a.port())))
        .collect();
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        registry.clone(),
        broker.clone(),
        shadows.clone(),
        admin::Keys {
            data_dir: config.data_dir.clone(),
            credentials,
        },
        serde_json::Value::Object(listener_ports),
        stop_rx.clone(),
    ));
    if let Some(p) = &ports_file {
        let bound_ports: Vec<(&str, u16)> = ports.iter().map(|(n, a)| (*n, a.port())).collect();
        listeners::write_ports_file(p, &bound_ports)?;
        info!(path = %p.display(), "ports file written");
    }
    info!("ready");

    let which = signals.next().await;
    info!("received {which}: shutting down (send it again to exit immediately)");
    tokio::spawn(async move {
        let again = signals.next().await;
        eprintln!("kumo: received {again} again: exiting immediately");
        std::process::exit(130);
    });

    let _ = stop_tx.send(true);
    listeners::stop(tasks).await;
    let _ = admin_task.await;
    let _ = std::fs::remove_file(&admin_path);
    info!("listeners closed; shutting down the broker");
    if tokio::time::timeout(BROKER_SHUTDOWN_LIMIT, broker.shutdown())
        .await
        .is_err()
    {
        warn!("broker shutdown did not finish within {BROKER_SHUTDOWN_LIMIT:?}; exiting anyway");
    }
    // Commits what is pending, then stops the writer thread.
    tokio::task::spawn_blocking(move || store.close())
        .await
        .ok();
    info!("store closed");
    info!("stopped");
    Ok(())
}

/// Say, prominently, which file devices must trust.
fn announce_root_ca(config: &Config) {
    let path = pki::CaDir::new(&config.data_dir).root_cert();
    let shown = absolute(&path);
    info!(path = %shown.display(), "devices must trust this root CA (the connect kit's root-CA.crt)");
    if config.log.format == LogFormat::Text {
        eprintln!();
        eprintln!("  Root CA for devices (save as root-CA.crt):");
        eprintln!("    {}", shown.display());
        eprintln!();
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// SIGTERM and SIGINT as one stream.
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Wall-clock now, Unix milliseconds (what expired while Kumo was down is
/// dropped at load).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
