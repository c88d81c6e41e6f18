//! What the registry keeps, one record per thing, certificate, CA, policy
//! and attachment, and how each is stored: JSON under a kind and a key in
//! the store's record table (`kumo_store::Record`).

use std::collections::BTreeMap;

use bytes::Bytes;
use kumo_model::{CertificateId, PolicyName, ThingName, ThingTypeName};
use kumo_store::{Op, Record};
use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thing {
    pub name: ThingName,
    /// AWS's `thingId`: unique, never reused.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<ThingTypeName>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Starts at 1; every update adds one.
    pub version: u64,
}

/// A certificate's status (botocore `CertificateStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertStatus {
    Active,
    Inactive,
    Revoked,
    PendingTransfer,
    RegisterInactive,
    PendingActivation,
}

impl CertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Active => "ACTIVE",
            CertStatus::Inactive => "INACTIVE",
            CertStatus::Revoked => "REVOKED",
            CertStatus::PendingTransfer => "PENDING_TRANSFER",
            CertStatus::RegisterInactive => "REGISTER_INACTIVE",
            CertStatus::PendingActivation => "PENDING_ACTIVATION",
        }
    }

    /// Parse a status as the API sends it.
    pub fn parse(s: &str) -> Result<CertStatus> {
        Ok(match s {
            "ACTIVE" => CertStatus::Active,
            "INACTIVE" => CertStatus::Inactive,
            "REVOKED" => CertStatus::Revoked,
            "PENDING_TRANSFER" => CertStatus::PendingTransfer,
            "REGISTER_INACTIVE" => CertStatus::RegisterInactive,
            "PENDING_ACTIVATION" => CertStatus::PendingActivation,
            other => {
                return Err(RegistryError::InvalidRequest(format!(
                    "1 validation error detected: Value '{other}' at 'newStatus' failed to satisfy constraint: Member must satisfy enum value set: [ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, REGISTER_INACTIVE, PENDING_ACTIVATION]"
                )))
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateMode {
    Default,
    SniOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    pub id: CertificateId,
    pub pem: String,
    pub status: CertStatus,
    /// The registered CA that signed it, if it was registered with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_id: Option<CertificateId>,
    pub mode: CertificateMode,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Unix milliseconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// Changes with every update (AWS's `generationId`).
    pub generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaStatus {
    Active,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaCertificate {
    pub id: CertificateId,
    pub pem: String,
    pub status: CaStatus,
    /// Unknown certificates it signed are registered on first connect
    /// (PENDING_ACTIVATION): just-in-time registration.
    pub auto_registration: bool,
    pub mode: CertificateMode,
    pub not_before: i64,
    pub not_after: i64,
    pub created_at: u64,
    pub updated_at: u64,
    pub generation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersion {
    /// The document exactly as it was given.
    pub document: String,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub name: PolicyName,
    /// By version id (1, 2, ...; ids are never reused).
    pub versions: BTreeMap<u32, PolicyVersion>,
    pub default_version: u32,
    pub next_version: u32,
    pub created_at: u64,
    pub updated_at: u64,
    pub generation: u64,
}

impl Policy {
    pub fn default_document(&self) -> &str {
        &self.versions[&self.default_version].document
    }
}

/// Things, certificates and the links between them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attachment {
    /// AttachThingPrincipal.
    ThingPrincipal {
        thing: ThingName,
        cert: CertificateId,
    },
    /// AttachPolicy: `target` is an ARN (a certificate's, for devices).
    PolicyTarget { policy: PolicyName, target: String },
}

/// One change to the registry: what an operation decided, applied to the
/// in-memory state once the store has it on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    PutThing(Thing),
    DeleteThing(ThingName),
    PutCert(Certificate),
    DeleteCert(CertificateId),
    PutCa(CaCertificate),
    DeleteCa(CertificateId),
    PutPolicy(Policy),
    DeletePolicy(PolicyName),
    Attach(Attachment),
    Detach(Attachment),
    /// A registry-wide value (the next thing id, the registration code).
    PutMeta {
        key: String,
        value: String,
    },
}

const THING: &str = "thing";
const CERT: &str = "cert";
const CA: &str = "cacert";
const POLICY: &str = "policy";
const THING_PRINCIPAL: &str = "thing-principal";
const POLICY_TARGET: &str = "policy-target";
const META: &str = "meta";

fn json<T: Serialize>(v: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("registry records always serialize"))
}

fn put(kind: &str, key: &str, value: Bytes) -> Op {
    Op::RecordPut(Record {
        kind: kind.to_owned(),
        key: key.to_owned(),
        value,
    })
}

fn delete(kind: &str, key: &str) -> Op {
    Op::RecordDelete {
        kind: kind.to_owned(),
        key: key.to_owned(),
    }
}

impl Attachment {
    /// `|` cannot occur in a thing or policy name, so it separates.
    fn key(&self) -> (&'static str, String) {
        match self {
            Attachment::ThingPrincipal { thing, cert } => {
                (THING_PRINCIPAL, format!("{thing}|{cert}"))
            }
            Attachment::PolicyTarget { policy, target } => {
                (POLICY_TARGET, format!("{policy}|{target}"))
            }
        }
    }
}

impl Change {
    /// The store op that makes this change durable.
    pub fn to_op(&self) -> Op {
        match self {
            Change::PutThing(t) => put(THING, t.name.as_str(), json(t)),
            Change::DeleteThing(n) => delete(THING, n.as_str()),
            Change::PutCert(c) => put(CERT, c.id.as_str(), json(c)),
            Change::DeleteCert(id) => delete(CERT, id.as_str()),
            Change::PutCa(c) => put(CA, c.id.as_str(), json(c)),
            Change::DeleteCa(id) => delete(CA, id.as_str()),
            Change::PutPolicy(p) => put(POLICY, p.name.as_str(), json(p)),
            Change::DeletePolicy(n) => delete(POLICY, n.as_str()),
            Change::Attach(a) => {
                let (kind, key) = a.key();
                put(kind, &key, Bytes::new())
            }
            Change::Detach(a) => {
                let (kind, key) = a.key();
                delete(kind, &key)
            }
            Change::PutMeta { key, value } => put(META, key, Bytes::from(value.clone())),
        }
    }

    /// The change that recreates a stored record (at load).
    pub fn from_record(r: &Record) -> Result<Change> {
        let bad = |detail: String| {
            RegistryError::Internal(format!(
                "stored registry record {}/{} does not decode: {detail}",
                r.kind, r.key
            ))
        };
        fn de<T: for<'de> Deserialize<'de>>(v: &[u8]) -> std::result::Result<T, String> {
            serde_json::from_slice(v).map_err(|e| e.to_string())
        }
        let split = || {
            r.key
                .split_once('|')
                .ok_or_else(|| bad("no '|' in the key".into()))
        };
        Ok(match r.kind.as_str() {
            THING => Change::PutThing(de(&r.value).map_err(bad)?),
            CERT => Change::PutCert(de(&r.value).map_err(bad)?),
            CA => Change::PutCa(de(&r.value).map_err(bad)?),
            POLICY => Change::PutPolicy(de(&r.value).map_err(bad)?),
            THING_PRINCIPAL => {
                let (thing, cert) = split()?;
                Change::Attach(Attachment::ThingPrincipal {
                    thing: ThingName::new(thing).map_err(|e| bad(e.to_string()))?,
                    cert: CertificateId::new(cert).map_err(|e| bad(e.to_string()))?,
                })
            }
            POLICY_TARGET => {
                let (policy, target) = split()?;
                Change::Attach(Attachment::PolicyTarget {
                    policy: PolicyName::new(policy).map_err(|e| bad(e.to_string()))?,
                    target: target.to_owned(),
                })
            }
            META => Change::PutMeta {
                key: r.key.clone(),
                value: String::from_utf8(r.value.to_vec()).map_err(|e| bad(e.to_string()))?,
            },
            other => return Err(bad(format!("unknown kind {other:?}"))),
        })
    }
}
