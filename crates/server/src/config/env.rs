//! Environment overrides: `KUMO_<SECTION>_<FIELD>` sets `section.field`.
//!
//! The variable name is the key path upper-cased with `.` replaced by `_`:
//! `listeners.tcp.bind` ← `KUMO_LISTENERS_TCP_BIND`, `mqtt.compat` ←
//! `KUMO_MQTT_COMPAT`, `data_dir` ← `KUMO_DATA_DIR`. Lists
//! (`tls.endpoint_names`) are comma-separated. Booleans accept
//! `true/false/1/0/yes/no/on/off`.
//!
//! Field names contain underscores too, so the name cannot be split back
//! into a path unambiguously; instead [`KEYS`] lists every overridable key
//! with its type. A unit test keeps this table, the file schema and
//! `kumo.example.toml` in step. `KUMO_*` variables that match no key are
//! reported (likely typos) but do not stop Kumo; `KUMO_CONFIG` names the
//! config file and is not an override.

use super::ConfigError;

/// The type of an overridable value, used to convert the variable's text.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    Bool,
    /// An unsigned integer no larger than the bound.
    UInt(u64),
    /// Comma-separated strings.
    StrList,
}

use Kind::*;

/// Every key that `KUMO_*` variables can set.
pub const KEYS: &[(&str, Kind)] = &[
    ("data_dir", Str),
    ("listeners.tcp.enabled", Bool),
    ("listeners.tcp.bind", Str),
    ("listeners.tcp.policy_file", Str),
    ("listeners.tls.enabled", Bool),
    ("listeners.tls.bind", Str),
    ("listeners.alpn.enabled", Bool),
    ("listeners.alpn.bind", Str),
    ("listeners.api.enabled", Bool),
    ("listeners.api.bind", Str),
    ("tls.client_auth", Str),
    ("tls.endpoint_names", StrList),
    ("tls.client_ca_file", Str),
    ("tls.require_client_cert", Bool),
    ("tls.handshake_timeout_secs", UInt(u32::MAX as u64)),
    ("mqtt.compat", Str),
    ("mqtt.max_packet_size", UInt(u32::MAX as u64)),
    ("mqtt.max_payload_size", UInt(u32::MAX as u64)),
    ("mqtt.receive_maximum", UInt(u16::MAX as u64)),
    ("mqtt.max_inflight", UInt(u16::MAX as u64)),
    ("mqtt.max_queued_messages", UInt(u32::MAX as u64)),
    ("mqtt.topic_alias_maximum", UInt(u16::MAX as u64)),
    ("mqtt.max_keep_alive", UInt(u16::MAX as u64)),
    ("mqtt.min_keep_alive", UInt(u16::MAX as u64)),
    ("mqtt.max_session_expiry", UInt(u32::MAX as u64)),
    ("mqtt.connect_timeout_secs", UInt(u32::MAX as u64)),
    ("mqtt.retain_available", Bool),
    ("mqtt.shared_subscriptions", Bool),
    ("mqtt.wildcard_subscriptions", Bool),
    ("mqtt.subscription_identifiers", Bool),
    ("mqtt.max_client_id_len", UInt(u16::MAX as u64)),
    ("mqtt.deny_subscribe", StrList),
    ("log.level", Str),
    ("log.format", Str),
    ("store.durability", Str),
    ("store.flush_interval_ms", UInt(60_000)),
    ("store.max_size_mb", UInt(u32::MAX as u64)),
    ("aws.region", Str),
    ("aws.account_id", Str),
];

/// Variables with the `KUMO_` prefix that are not overrides.
const NOT_OVERRIDES: &[&str] = &["KUMO_CONFIG"];

/// The environment variable that overrides `key`.
pub fn var_name(key: &str) -> String {
    format!("KUMO_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// What [`apply`] did.
#[derive(Debug, Default)]
pub struct Applied {
    pub applied: Vec<String>,
    pub unknown: Vec<String>,
}

/// Layer matching variables over `table` (the parsed file).
pub fn apply(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Applied, ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("KUMO_"))
        .collect();
    vars.sort();
    let mut out = Applied::default();
    for (name, raw) in vars {
        if NOT_OVERRIDES.contains(&name.as_str()) {
            continue;
        }
        let Some((key, kind)) = KEYS.iter().find(|(k, _)| var_name(k) == name) else {
            out.unknown.push(name);
            continue;
        };
        let value = convert(*kind, &raw)
            .map_err(|m| ConfigError(format!("environment variable {name}={raw:?}: {m}")))?;
        set(table, key, value);
        out.applied.push(name);
    }
    Ok(out)
}

fn convert(kind: Kind, raw: &str) -> Result<toml::Value, String> {
    let raw = raw.trim();
    Ok(match kind {
        Str => toml::Value::String(raw.to_owned()),
        Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err("expected true or false".into()),
        },
        UInt(max) => {
            let n: u64 = raw
                .parse()
                .map_err(|_| "expected a non-negative integer".to_owned())?;
            if n > max {
                return Err(format!("must be at most {max}"));
            }
            toml::Value::Integer(n as i64)
        }
        StrList => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
    })
}

fn set(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("keys are non-empty");
    let mut t = table;
    for p in parts {
        let entry = t
            .entry(p.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            // The file had a non-table here; the first parse pass already
            // rejected that, but stay total.
            *entry = toml::Value::Table(toml::Table::new());
        }
        t = entry.as_table_mut().expect("just made a table");
    }
    t.insert(last.to_owned(), value);
}
