//! Kumo's configuration: one TOML file, environment overrides, validation.
//!
//! Loading happens in three layers, later ones winning:
//!
//! 1. built-in defaults (documented per field in `kumo.example.toml`),
//! 2. the TOML file given with `--config` (unknown fields are an error, and
//!    parse errors name the line and column),
//! 3. environment variables `KUMO_<SECTION>_<FIELD>` (see [`env`]),
//!
//! and finally the `--data-dir` command-line flag. The result is a
//! [`Config`] in which every value is resolved (no `Option`s left for
//! "use the default"), which `kumo check-config` prints back.
//!
//! Two types on purpose: [`file::FileConfig`] mirrors the file (everything
//! optional, `deny_unknown_fields`), [`Config`] is what the rest of the
//! binary consumes. Parsing and resolving are separate steps so that a
//! value is checked once, here, and never again downstream.

pub mod env;
mod file;
mod hostname;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kumo_broker::{BrokerConfig, Compat};
use serde::Serialize;

pub use file::{ClientAuth, CompatName, DurabilityName, FileConfig, LogFormat};

/// A configuration problem, already formatted with its location (file line
/// and column, key path, or environment variable). Maps to exit code 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The fully resolved configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Where Kumo keeps its CA, server certificate and (later) its database.
    pub data_dir: PathBuf,
    pub listeners: Listeners,
    pub tls: TlsConfig,
    pub mqtt: MqttConfig,
    pub log: LogConfig,
    pub store: StoreConfig,
    pub aws: AwsConfig,
}

/// `[aws]`: what Kumo calls itself in AWS terms.
#[derive(Debug, Clone, Serialize)]
pub struct AwsConfig {
    /// The region in ARNs (and, later, SigV4 signatures).
    pub region: String,
    /// The 12-digit account id in ARNs.
    pub account_id: String,
}

impl AwsConfig {
    pub fn arn(&self) -> kumo_model::Arn {
        kumo_model::Arn::new(&self.region, &self.account_id)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Listeners {
    pub tcp: Listener,
    pub tls: Listener,
    pub alpn: Listener,
    /// The AWS-compatible HTTPS API (control plane `iot`, data plane
    /// `iot-data`), SigV4-signed.
    pub api: Listener,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    pub enabled: bool,
    pub bind: SocketAddr,
    /// The policy for clients without a certificate (tcp listener only;
    /// None = they may do anything).
    pub policy_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsConfig {
    /// Which client certificates connect: registered ones (default) or any
    /// from `client_ca_file`.
    pub client_auth: ClientAuth,
    /// Host names and IP addresses put into the server certificate.
    pub endpoint_names: Vec<String>,
    /// PEM bundle of CAs that client certificates must chain to.
    pub client_ca_file: PathBuf,
    pub require_client_cert: bool,
    pub handshake_timeout_secs: u64,
}

impl TlsConfig {
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }
}

/// The effective broker settings, spelled as in the file (0 = "no limit"
/// for the optional ones). Converted with [`MqttConfig::broker_config`].
#[derive(Debug, Clone, Serialize)]
pub struct MqttConfig {
    pub compat: CompatName,
    pub max_packet_size: u32,
    pub max_payload_size: u32,
    pub receive_maximum: u16,
    pub max_inflight: u16,
    pub max_queued_messages: usize,
    pub topic_alias_maximum: u16,
    pub max_keep_alive: u16,
    pub min_keep_alive: u16,
    pub max_session_expiry: u32,
    pub connect_timeout_secs: u64,
    pub retain_available: bool,
    pub shared_subscriptions: bool,
    pub wildcard_subscriptions: bool,
    pub subscription_identifiers: bool,
    pub max_client_id_len: usize,
    pub deny_subscribe: Vec<String>,
}

impl MqttConfig {
    /// The broker's view of these settings.
    pub fn broker_config(&self) -> BrokerConfig {
        let nonzero16 = |v: u16| (v != 0).then_some(v);
        BrokerConfig {
            compat: match self.compat {
                CompatName::Spec => Compat::Spec,
                CompatName::AwsStrict => Compat::AwsStrict,
            },
            max_packet_size: self.max_packet_size,
            max_payload_size: (self.max_payload_size != 0).then_some(self.max_payload_size),
            receive_maximum: self.receive_maximum,
            max_inflight: self.max_inflight,
            max_queued_messages: self.max_queued_messages,
            topic_alias_maximum: self.topic_alias_maximum,
            max_keep_alive: nonzero16(self.max_keep_alive),
            min_keep_alive: nonzero16(self.min_keep_alive),
            max_session_expiry: self.max_session_expiry,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            retain_available: self.retain_available,
            shared_subscriptions: self.shared_subscriptions,
            wildcard_subscriptions: self.wildcard_subscriptions,
            subscription_identifiers: self.subscription_identifiers,
            max_client_id_len: self.max_client_id_len,
            deny_subscribe: self.deny_subscribe.clone(),
        }
    }
}

/// `[store]`: when acknowledged messages reach the disk.
#[derive(Debug, Clone, Serialize)]
pub struct StoreConfig {
    pub durability: DurabilityName,
    /// Under `durability = "async"`: the longest an acknowledged change
    /// waits before it is committed.
    pub flush_interval_ms: u64,
    /// Cap on the store file, MiB; 0 = only the disk limits it.
    pub max_size_mb: u64,
}

impl StoreConfig {
    pub fn durability(&self) -> kumo_store::Durability {
        match self.durability {
            DurabilityName::Sync => kumo_store::Durability::Sync,
            DurabilityName::Async => kumo_store::Durability::Async {
                flush_interval: std::time::Duration::from_millis(self.flush_interval_ms),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

/// What was loaded, plus notes worth showing the operator.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Where the file came from, if any.
    pub source: Option<PathBuf>,
    /// Environment variables that were applied, in order.
    pub env_applied: Vec<String>,
    /// `KUMO_*` variables that matched no field (likely typos).
    pub env_unknown: Vec<String>,
}

/// Load the configuration: defaults, then `path`, then `vars` (normally
/// `std::env::vars()`), then the `--data-dir` flag.
pub fn load(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
    data_dir_flag: Option<PathBuf>,
) -> Result<Loaded, ConfigError> {
    let (text, source) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", p.display()))
            })?;
            (text, Some(p.to_path_buf()))
        }
        None => (String::new(), None),
    };
    let origin = source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<defaults>".into());

    // First pass straight from the text: errors carry line and column.
    toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError(format!("{origin}: {e}")))?;

    // Second pass with the environment layered over the file's table.
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| ConfigError(format!("{origin}: {e}")))?;
    let applied = env::apply(&mut table, vars)?;
    let file: FileConfig = table.try_into().map_err(|e: toml::de::Error| {
        let msg = e.to_string();
        let culprit = applied
            .applied
            .iter()
            .find(|v| {
                env::KEYS
                    .iter()
                    .any(|(k, _)| env::var_name(k) == **v && msg.contains(&format!("`{k}`")))
            })
            .map(|v| format!("environment variable {v}"))
            .unwrap_or_else(|| "after applying environment overrides".into());
        ConfigError(format!("{culprit}: {}", msg.trim_end()))
    })?;

    let mut config = resolve(file).map_err(|(key, msg)| {
        let from = applied
            .applied
            .iter()
            .find(|v| *v == &env::var_name(&key))
            .map(|v| format!(" (set by environment variable {v})"))
            .unwrap_or_else(|| format!(" (in {origin})"));
        ConfigError(format!("{key}: {msg}{from}"))
    })?;
    if let Some(dir) = data_dir_flag {
        if config.tls.client_ca_file == default_client_ca(&config.data_dir) {
            config.tls.client_ca_file = default_client_ca(&dir);
        }
        config.data_dir = dir;
    }
    Ok(Loaded {
        config,
        source,
        env_applied: applied.applied,
        env_unknown: applied.unknown,
    })
}

/// Kumo's own device CA, the default trust anchor for client certificates.
pub fn default_client_ca(data_dir: &Path) -> PathBuf {
    data_dir.join("ca").join("device-ca.crt")
}

type ResolveError = (String, String);

fn bad(key: &str, msg: impl Into<String>) -> ResolveError {
    (key.to_owned(), msg.into())
}

/// Fill in defaults and check every value. Errors name the key path.
fn resolve(f: FileConfig) -> Result<Config, ResolveError> {
    let data_dir = f.data_dir.unwrap_or_else(|| PathBuf::from("./kumo-data"));
    if data_dir.as_os_str().is_empty() {
        return Err(bad("data_dir", "must not be empty"));
    }

    let listener = |name: &str, l: &file::ListenerFile, default_on: bool, default_bind: &str| {
        let key = format!("listeners.{name}.bind");
        let bind = l.bind.as_deref().unwrap_or(default_bind);
        let bind: SocketAddr = bind.parse().map_err(|_| {
            bad(
                &key,
                format!("`{bind}` is not an IP:port socket address (e.g. 0.0.0.0:8883)"),
            )
        })?;
        if name != "tcp" && l.policy_file.is_some() {
            return Err(bad(
                &format!("listeners.{name}.policy_file"),
                "only the tcp listener takes a policy file (certificate clients get the policies attached to their certificate)",
            ));
        }
        Ok::<_, ResolveError>(Listener {
            enabled: l.enabled.unwrap_or(default_on),
            bind,
            policy_file: l.policy_file.clone(),
        })
    };
    let l = &f.listeners;
    // Plain TCP is for development: off unless a bind address or
    // `enabled = true` is given.
    let listeners = Listeners {
        tcp: listener("tcp", &l.tcp, l.tcp.bind.is_some(), "127.0.0.1:1883")?,
        tls: listener("tls", &l.tls, true, "0.0.0.0:8883")?,
        alpn: listener("alpn", &l.alpn, true, "0.0.0.0:443")?,
        api: listener("api", &l.api, true, "0.0.0.0:8443")?,
    };
    if !(listeners.tcp.enabled
        || listeners.tls.enabled
        || listeners.alpn.enabled
        || listeners.api.enabled)
    {
        return Err(bad(
            "listeners",
            "every listener is disabled; enable at least one",
        ));
    }

    let endpoint_names = match f.tls.endpoint_names {
        Some(names) => {
            if names.is_empty() {
                return Err(bad("tls.endpoint_names", "needs at least one name"));
            }
            for n in &names {
                check_endpoint_name(n).map_err(|m| bad("tls.endpoint_names", m))?;
            }
            names
        }
        None => default_endpoint_names(),
    };
    let client_ca_file = f
        .tls
        .client_ca_file
        .unwrap_or_else(|| default_client_ca(&data_dir));
    let handshake_timeout_secs = f.tls.handshake_timeout_secs.unwrap_or(10);
    if handshake_timeout_secs == 0 {
        return Err(bad("tls.handshake_timeout_secs", "must be at least 1"));
    }
    let tls = TlsConfig {
        client_auth: f.tls.client_auth.unwrap_or_default(),
        endpoint_names,
        client_ca_file,
        require_client_cert: f.tls.require_client_cert.unwrap_or(true),
        handshake_timeout_secs,
    };

    let mqtt = resolve_mqtt(&f.mqtt)?;

    let level = f.log.level.unwrap_or_else(|| "info".into());
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        return Err(bad(
            "log.level",
            format!("`{level}` is not a level or filter (try info, debug, kumo=debug)"),
        ));
    }
    let log = LogConfig {
        level,
        format: f.log.format.unwrap_or_default(),
    };

    let flush_interval_ms = f.store.flush_interval_ms.unwrap_or(100);
    if flush_interval_ms == 0 || flush_interval_ms > 60_000 {
        return Err(bad(
            "store.flush_interval_ms",
            "must be between 1 and 60000",
        ));
    }
    let store = StoreConfig {
        durability: f.store.durability.unwrap_or_default(),
        flush_interval_ms,
        max_size_mb: f.store.max_size_mb.unwrap_or(0),
    };

    let region = f.aws.region.unwrap_or_else(|| "us-east-1".to_owned());
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("aws.region", "must be like us-east-1 (a-z, 0-9, -)"));
    }
    let account_id = f
        .aws
        .account_id
        .unwrap_or_else(|| "000000000000".to_owned());
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("aws.account_id", "must be 12 digits"));
    }
    let aws = AwsConfig { region, account_id };

    Ok(Config {
        data_dir,
        listeners,
        tls,
        mqtt,
        log,
        store,
        aws,
    })
}

fn resolve_mqtt(m: &file::MqttFile) -> Result<MqttConfig, ResolveError> {
    let compat = m.compat.unwrap_or_default();
    let base = match compat {
        CompatName::Spec => BrokerConfig::default(),
        CompatName::AwsStrict => BrokerConfig::aws_strict(),
    };
    let c = MqttConfig {
        compat,
        max_packet_size: m.max_packet_size.unwrap_or(base.max_packet_size),
        max_payload_size: m
            .max_payload_size
            .unwrap_or(base.max_payload_size.unwrap_or(0)),
        receive_maximum: m.receive_maximum.unwrap_or(base.receive_maximum),
        max_inflight: m.max_inflight.unwrap_or(base.max_inflight),
        max_queued_messages: m.max_queued_messages.unwrap_or(base.max_queued_messages),
        topic_alias_maximum: m.topic_alias_maximum.unwrap_or(base.topic_alias_maximum),
        max_keep_alive: m.max_keep_alive.unwrap_or(base.max_keep_alive.unwrap_or(0)),
        min_keep_alive: m.min_keep_alive.unwrap_or(base.min_keep_alive.unwrap_or(0)),
        max_session_expiry: m.max_session_expiry.unwrap_or(base.max_session_expiry),
        connect_timeout_secs: m
            .connect_timeout_secs
            .unwrap_or(base.connect_timeout.as_secs()),
        retain_available: m.retain_available.unwrap_or(base.retain_available),
        shared_subscriptions: m.shared_subscriptions.unwrap_or(base.shared_subscriptions),
        wildcard_subscriptions: m
            .wildcard_subscriptions
            .unwrap_or(base.wildcard_subscriptions),
        subscription_identifiers: m
            .subscription_identifiers
            .unwrap_or(base.subscription_identifiers),
        max_client_id_len: m.max_client_id_len.unwrap_or(base.max_client_id_len),
        deny_subscribe: m.deny_subscribe.clone().unwrap_or(base.deny_subscribe),
    };
    // MQTT's Remaining Length tops out at 268,435,455 (+ up to 5 header bytes).
    if !(64..=268_435_460).contains(&c.max_packet_size) {
        return Err(bad(
            "mqtt.max_packet_size",
            "must be between 64 and 268435460 bytes",
        ));
    }
    if c.max_payload_size > c.max_packet_size {
        return Err(bad(
            "mqtt.max_payload_size",
            "must not exceed mqtt.max_packet_size (0 = no separate limit)",
        ));
    }
    if c.receive_maximum == 0 {
        return Err(bad(
            "mqtt.receive_maximum",
            "must be at least 1 (MQTT 5 forbids 0)",
        ));
    }
    if c.max_inflight == 0 {
        return Err(bad("mqtt.max_inflight", "must be at least 1"));
    }
    if c.max_keep_alive != 0 && c.min_keep_alive > c.max_keep_alive {
        return Err(bad(
            "mqtt.min_keep_alive",
            "must not exceed mqtt.max_keep_alive",
        ));
    }
    if c.connect_timeout_secs == 0 {
        return Err(bad("mqtt.connect_timeout_secs", "must be at least 1"));
    }
    if !(23..=65_535).contains(&c.max_client_id_len) {
        return Err(bad(
            "mqtt.max_client_id_len",
            "must be between 23 (the MQTT minimum) and 65535",
        ));
    }
    Ok(c)
}

/// `localhost`, `127.0.0.1`, `::1` and this machine's host name (when it is
/// a valid DNS name).
pub fn default_endpoint_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(h) = hostname::get() {
        if check_endpoint_name(&h).is_ok() && !names.iter().any(|n| n.eq_ignore_ascii_case(&h)) {
            names.push(h);
        }
    }
    names
}

/// An endpoint name is an IP address, a DNS name, or `*.` + a DNS name.
pub fn check_endpoint_name(name: &str) -> Result<(), String> {
    if name.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let dns = name.strip_prefix("*.").unwrap_or(name);
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if dns.len() > 253 || !dns.split('.').all(ok_label) {
        return Err(format!(
            "`{name}` is neither an IP address nor a valid DNS name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
