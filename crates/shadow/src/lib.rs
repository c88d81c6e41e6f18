//! The AWS IoT Device Shadow service, as logic: what AWS IoT Core does with a
//! shadow request, written for Kumo.
//!
//! Given the stored [`Shadow`] and the raw payload of a `get`, `update` or
//! `delete` request (over MQTT or HTTP), this crate validates the request the
//! way AWS does, in the same order and with the same messages, merges the
//! update into the stored `desired` / `reported` state, keeps per-leaf
//! metadata timestamps, counts versions, computes the delta, and produces the
//! exact payloads AWS publishes: `…/accepted`, `…/rejected`
//! ([`ShadowError::to_document`]), `update/delta` and `update/documents`. It
//! also knows the shadow topic grammar ([`parse_request_topic`],
//! [`response_topic`]) and the storage encoding of a document
//! ([`Document::to_bytes`]).
//!
//! It never does I/O, never reads a clock (the caller passes `now`, epoch
//! seconds), never touches a database, a socket or a random source, and never
//! authorizes: the caller loads and stores [`Shadow`]s, publishes the
//! payloads, checks policies and counts in-flight requests
//! ([`ShadowError::too_many_requests`]).
//!
//! # How the server uses it
//!
//! 1. On a PUBLISH, [`parse_request_topic`] says whether the topic is a shadow
//!    request and for which thing, shadow and operation. The other topics
//!    under [`is_shadow_topic`] are the service's answers, for clients to
//!    subscribe to.
//! 2. Load the [`Shadow`] (`Shadow::default()` if none is stored), call
//!    [`get`], [`update`] or [`delete`] with the payload and `now`.
//! 3. On `Ok`, store the returned shadow (for update and delete) and publish
//!    the payloads on [`response_topic`]s; on `Err`, publish
//!    [`ShadowError::to_document`] on `…/rejected` (over HTTP, answer
//!    [`ShadowError::code`] with [`ShadowError::aws_type`]).
//!
//! # Sources
//!
//! Behaviour follows the AWS IoT developer guide pages on shadows
//! (awsdocs/aws-iot-docs `developerguide/device-shadow-*.md`), payloads
//! captured from AWS IoT Core in public repositories (named where used), and,
//! where AWS is silent, AWS's own re-implementation in AWS IoT Greengrass
//! (aws-greengrass/aws-greengrass-shadow-manager). Each module says which
//! rule came from where and marks our own decisions.

mod delta;
mod document;
mod error;
mod merge;
mod ops;
mod request;
mod topic;

/// The `serde_json` this crate's values come from ([`Document::desired`]
/// and friends return its `Map`s).
pub use serde_json;

pub use document::{Document, DocumentError};
pub use error::*;
pub use merge::{merge_state, replacement};
pub use ops::{delete, get, get_document, update, Deleted, Updated};
pub use request::{client_token, MAX_CLIENT_TOKEN_BYTES, MAX_DEPTH, MAX_STATE_BYTES};
pub use topic::{
    is_shadow_topic, parse_request_topic, response_topic, shadow_prefix, InvalidShadowName,
    Operation, RequestTopic, Response, ShadowName, MAX_SHADOW_NAME_LEN,
};

/// One shadow as stored. The version counter survives deletion.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Shadow {
    /// The version of the current document, or of the last one if it was
    /// deleted; 0 if the shadow never existed.
    pub version: u64,
    /// `None`: never existed, or deleted.
    pub document: Option<Document>,
}

impl Shadow {
    /// Whether a document exists (a get would succeed).
    pub fn exists(&self) -> bool {
        self.document.is_some()
    }
}

#[cfg(test)]
mod tests;
