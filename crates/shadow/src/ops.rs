//! The three operations and the documents they answer with.
//!
//! Key order follows captured AWS payloads (aws-iot-device-sdk-js-v2
//! `samples/node/shadow/README.md`, run against AWS IoT Core):
//!
//! - `/update/accepted`: `state, metadata, version, timestamp, clientToken`
//! - `/update/documents`: `previous, current{state, metadata, version},
//!   timestamp, clientToken`
//! - `/update/delta`: `version, timestamp, state, metadata, clientToken`
//! - `/get/accepted`: `state, metadata, version, timestamp, clientToken`
//! - `/delete/accepted`: `version, timestamp, clientToken`

use serde::Serialize;
use serde_json::{Map, Value};

use crate::document::{Document, Section};
use crate::error::ShadowError;
use crate::merge::metadata_of;
use crate::request::{parse_simple, parse_update, MAX_STATE_BYTES};
use crate::Shadow;

#[derive(Serialize)]
struct StateDoc<'a, S: Serialize> {
    state: S,
    metadata: &'a Value,
    version: u64,
    timestamp: u64,
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
}

#[derive(Serialize)]
struct Snapshot {
    state: Value,
    metadata: Value,
    version: u64,
}

#[derive(Serialize)]
struct Documents<'a> {
    previous: Option<Snapshot>,
    current: Snapshot,
    timestamp: u64,
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
}

#[derive(Serialize)]
struct DeltaDoc<'a> {
    version: u64,
    timestamp: u64,
    state: Value,
    metadata: Value,
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
}

#[derive(Serialize)]
struct VersionDoc<'a> {
    version: u64,
    timestamp: u64,
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
}

fn to_vec<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("a response document always serializes")
}

fn snapshot(doc: &Document, version: u64) -> Snapshot {
    Snapshot {
        state: doc.state_json(),
        metadata: doc.metadata_json(),
        version,
    }
}

/// What an accepted update produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Updated {
    /// The new state to store.
    pub shadow: Shadow,
    /// `/update/accepted` payload, also the HTTP `UpdateThingShadow` body.
    pub accepted: Vec<u8>,
    /// `/update/delta` payload: `Some` whenever, after this update, desired
    /// and reported differ (see [`update`]).
    pub delta: Option<Vec<u8>>,
    /// `/update/documents` payload.
    pub documents: Vec<u8>,
}

/// What an accepted delete produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Deleted {
    /// The new state to store: no document, the version kept.
    pub shadow: Shadow,
    /// `/delete/accepted` payload, also the HTTP `DeleteThingShadow` body.
    pub accepted: Vec<u8>,
}

/// The `/get/accepted` document as a value:
/// `{"state":{"desired","reported","delta"?},"metadata":{"desired","reported"},"version","timestamp","clientToken"?}`
/// with absent sections omitted. `metadata` has no `delta` entry: the SDKs'
/// `ShadowMetadata` model (aws-iot-device-sdk-python-v2 `awsiot/iotshadow.py`)
/// has only `desired` and `reported`, and Greengrass ShadowManager returns
/// only those; the `metadata.delta` in the docs' "Delta state" example sits
/// in a malformed sample. **[no captured out-of-sync GET seen]**
pub fn get_document(doc: &Document, version: u64, client_token: Option<&str>, now: u64) -> Vec<u8> {
    // A struct, not a map, to keep AWS's order: desired, reported, delta.
    #[derive(Serialize)]
    struct GetState<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        desired: Option<&'a Map<String, Value>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reported: Option<&'a Map<String, Value>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        delta: Option<Map<String, Value>>,
    }
    to_vec(&StateDoc {
        state: GetState {
            desired: doc.desired(),
            reported: doc.reported(),
            delta: doc.delta(),
        },
        metadata: &doc.metadata_json(),
        version,
        timestamp: now,
        client_token,
    })
}

/// A get: `request` is the raw payload (empty, or `{"clientToken":…}`);
/// `label` is what a 404 names (the thing name for a classic shadow, the
/// shadow name for a named one). Returns the `/get/accepted` payload (also the
/// HTTP `GetThingShadow` body).
pub fn get(shadow: &Shadow, request: &[u8], label: &str, now: u64) -> Result<Vec<u8>, ShadowError> {
    let token = parse_simple(request)?;
    let doc = shadow
        .document
        .as_ref()
        .ok_or_else(|| ShadowError::not_found(label, token.clone()))?;
    Ok(get_document(doc, shadow.version, token.as_deref(), now))
}

/// A delete. The accepted document carries the version of the deleted
/// document, and the stored version is kept so that the next update continues
/// from it (device-shadow-data-flow.md: "Deleting a shadow does not reset its
/// version number to 0"; the docs' delete example answers
/// `{"version":4,"timestamp":1591057529}`; Greengrass ShadowManager answers
/// with the deleted document's version). AWS forgets the number after 48 hours
/// (device-shadow-data-flow.md); that expiry, if wanted, is the caller's: store
/// `Shadow::default()` instead. (moto answers version+1; it is an emulator.)
pub fn delete(
    shadow: &Shadow,
    request: &[u8],
    label: &str,
    now: u64,
) -> Result<Deleted, ShadowError> {
    let token = parse_simple(request)?;
    if shadow.document.is_none() {
        return Err(ShadowError::not_found(label, token));
    }
    Ok(Deleted {
        shadow: Shadow {
            version: shadow.version,
            document: None,
        },
        accepted: to_vec(&VersionDoc {
            version: shadow.version,
            timestamp: now,
            client_token: token.as_deref(),
        }),
    })
}

/// An update (creates the shadow if it does not exist).
///
/// - Validation: see the `request` module docs for the checks and their
///   order.
/// - `version`, when given, must equal the stored version counter, else 409
///   `Version conflict` (device-shadow-data-flow.md "Optimistic locking").
///   The counter is 0 for a shadow that never existed and the deleted
///   document's version after a delete, so `"version":0` creates a new shadow
///   and `"version":N` recreates one deleted at N. **[our reading; Greengrass
///   ShadowManager wants 0 for any new document]**
/// - The new version is the counter plus one: 1 for a new shadow, N+1 after
///   a delete at N.
/// - `"state": null` clears both sections; the shadow still exists and the
///   version increments (docs; captured AWS answer
///   `{"state":null,"metadata":{"timestamp":T},"version":18,"timestamp":T}`,
///   getmoto/moto#9237).
/// - The stored state may not exceed 8 KiB either (413).
/// - `/update/accepted` echoes the request's `state` as sent (nulls
///   included) with metadata for every node sent, nulls included.
/// - `/update/delta` is produced whenever the new document has a non-empty
///   delta, whatever the update touched: AWS published one after a
///   reported-only update that left `Status` out of sync (js-v2 shadow
///   sample: "All out-of-sync properties will be included in this event,
///   including properties that became out-of-sync due to a previous
///   update"); Greengrass ShadowManager does the same. It carries the whole
///   delta, not only what this update changed.
/// - `/update/documents` has `"previous": null` when there was no document
///   before (new, or deleted), as captured from AWS (js-v2 shadow sample;
///   nRF Cloud `update/documents` messages).
pub fn update(shadow: &Shadow, request: &[u8], now: u64) -> Result<Updated, ShadowError> {
    let req = parse_update(request)?;
    let token = req.client_token.as_deref();
    if let Some(v) = req.version {
        if v != shadow.version {
            return Err(ShadowError::version_conflict(req.client_token.clone()));
        }
    }
    let version = shadow
        .version
        .checked_add(1)
        .ok_or_else(|| ShadowError::internal(req.client_token.clone()))?;

    let old = shadow.document.as_ref();
    let (mut desired, mut reported) = match old {
        Some(d) => (d.desired.clone(), d.reported.clone()),
        None => (None, None),
    };
    match &req.state {
        Value::Object(_) => {
            if let Some(p) = req.section("desired") {
                desired = Section::apply(desired.as_ref(), p, now);
            }
            if let Some(p) = req.section("reported") {
                reported = Section::apply(reported.as_ref(), p, now);
            }
        }
        _ => {
            desired = None;
            reported = None;
        }
    }
    let doc = Document {
        desired,
        reported,
        timestamp: now,
    };
    if doc.state_size() > MAX_STATE_BYTES {
        return Err(ShadowError::too_large(req.client_token.clone()));
    }

    let accepted = to_vec(&StateDoc {
        state: &req.state,
        metadata: &metadata_of(&req.state, now),
        version,
        timestamp: now,
        client_token: token,
    });
    let delta = doc.delta_with_metadata().map(|(state, meta)| {
        to_vec(&DeltaDoc {
            version,
            timestamp: now,
            state: Value::Object(state),
            metadata: Value::Object(meta),
            client_token: token,
        })
    });
    let documents = to_vec(&Documents {
        previous: old.map(|d| snapshot(d, shadow.version)),
        current: snapshot(&doc, version),
        timestamp: now,
        client_token: token,
    });
    Ok(Updated {
        shadow: Shadow {
            version,
            document: Some(doc),
        },
        accepted,
        delta,
        documents,
    })
}
