//! The configuration file's shape, exactly as written by an operator: every
//! field optional (absent = default), unknown fields rejected. The meaning
//! of each field is documented in `kumo.example.toml` at the repository
//! root; defaults are applied in `config::resolve`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub listeners: ListenersFile,
    #[serde(default)]
    pub tls: TlsFile,
    #[serde(default)]
    pub mqtt: MqttFile,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default)]
    pub store: StoreFile,
    #[serde(default)]
    pub aws: AwsFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsFile {
    pub region: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenersFile {
    #[serde(default)]
    pub tcp: ListenerFile,
    #[serde(default)]
    pub tls: ListenerFile,
    #[serde(default)]
    pub alpn: ListenerFile,
    #[serde(default)]
    pub api: ListenerFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerFile {
    pub enabled: Option<bool>,
    pub bind: Option<String>,
    /// `listeners.tcp` only: an AWS IoT policy document for its clients.
    pub policy_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub client_auth: Option<ClientAuth>,
    pub endpoint_names: Option<Vec<String>>,
    pub client_ca_file: Option<PathBuf>,
    pub require_client_cert: Option<bool>,
    pub handshake_timeout_secs: Option<u64>,
}

/// `tls.client_auth`: which client certificates connect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// AWS IoT's rule: the certificate is registered and ACTIVE (and so is
    /// the registered CA it was registered with, if any), and valid now.
    #[default]
    Registry,
    /// Any certificate that chains to `client_ca_file` (no registry).
    CaFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttFile {
    pub compat: Option<CompatName>,
    pub max_packet_size: Option<u32>,
    pub max_payload_size: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub max_inflight: Option<u16>,
    pub max_queued_messages: Option<usize>,
    pub topic_alias_maximum: Option<u16>,
    pub max_keep_alive: Option<u16>,
    pub min_keep_alive: Option<u16>,
    pub max_session_expiry: Option<u32>,
    pub connect_timeout_secs: Option<u64>,
    pub retain_available: Option<bool>,
    pub shared_subscriptions: Option<bool>,
    pub wildcard_subscriptions: Option<bool>,
    pub subscription_identifiers: Option<bool>,
    pub max_client_id_len: Option<usize>,
    pub deny_subscribe: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    pub durability: Option<DurabilityName>,
    pub flush_interval_ms: Option<u64>,
    pub max_size_mb: Option<u64>,
}

/// `store.durability`: when an acknowledged message is on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityName {
    #[default]
    Sync,
    Async,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    pub level: Option<String>,
    pub format: Option<LogFormat>,
}

/// `mqtt.compat`: which behaviour profile the broker starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompatName {
    #[default]
    Spec,
    AwsStrict,
}

impl CompatName {
    pub fn as_str(self) -> &'static str {
        match self {
            CompatName::Spec => "spec",
            CompatName::AwsStrict => "aws_strict",
        }
    }
}

/// `log.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
