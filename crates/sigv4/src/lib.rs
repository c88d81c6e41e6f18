//! AWS Signature Version 4, server side: decide whether an HTTP request was
//! signed by the holder of a known secret access key, the way AWS does for
//! the AWS IoT control plane (`iot`), the data plane (`iotdata`) and the MQTT
//! WebSocket upgrade (`iotdevicegateway`). The other direction is here too:
//! [`sign_headers`] and [`presign_url`] sign requests the way botocore does,
//! for tests and for Kumo's own Rust clients.
//!
//! **What it never does.** No I/O: no sockets, no files, no logging. It
//! reads no clock: the caller passes `now`. It never reads or buffers a body:
//! the caller hashes it ([`sha256_hex`]) and passes the hash. It has no
//! HTTP-library types: a request is a handful of `&str`. It never stores keys:
//! it asks a [`KeyLookup`] per request. It authenticates, it does not
//! authorize: what the caller may do is for the policy engine to say.
//!
//! # Both forms
//!
//! * Header form: `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/iot/aws4_request,
//!   SignedHeaders=host;x-amz-date, Signature=…` with an `X-Amz-Date` header
//!   (or, failing that, a `Date` header in ISO 8601 basic or HTTP-date form).
//!   The request time must lie within [`Policy::max_skew_secs`] of `now`,
//!   both ways.
//! * Presigned form: `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
//!   `X-Amz-SignedHeaders`, `X-Amz-Signature`, optional `X-Amz-Expires`
//!   (1..=604800) and `X-Amz-Security-Token` in the query string. With
//!   `X-Amz-Expires` the URL is good until `X-Amz-Date + X-Amz-Expires`;
//!   without it (the AWS IoT Device SDK sends none) the skew window applies as
//!   for the header form. The Device SDK appends `X-Amz-Security-Token`
//!   *after* signing (awscrt's `omit_session_token`); when a presigned
//!   signature does not match with the token in the canonical query, it is
//!   checked once more without it.
//!
//! # Order of checks
//!
//! 1. Which form (neither: [`SigV4Error::MissingAuthenticationToken`]; both:
//!    [`SigV4Error::AmbiguousAuthentication`]), then its syntax.
//! 2. `host` is a signed header.
//! 3. Credential scope: region, service, terminator, date (all reported at
//!    once, as AWS does).
//! 4. Time window / expiry.
//! 5. Key lookup ([`SigV4Error::UnrecognizedClient`]).
//! 6. Payload hash and every signed header present.
//! 7. Signature, compared in constant time.
//!
//! # Canonicalisation
//!
//! It matches botocore's `SigV4Auth` (and awscrt, which agrees for everything
//! the SDKs send): the path as received (still percent-encoded) has its dot
//! segments and empty segments removed and is then percent-encoded again, so
//! `%` becomes `%25` (AWS's "double encoding" for every service but S3);
//! query parameters are percent-decoded, re-encoded with only `A-Za-z0-9-_.~`
//! left bare (a literal `+` is `%2B`, never a space) and sorted by key, then
//! value; header names are lower-cased, values trimmed with runs of
//! whitespace collapsed, repeated headers joined with `,`. See `canonical.rs`.
//!
//! # Payload
//!
//! The canonical request's payload hash is the `x-amz-content-sha256` header
//! if present, else [`Request::body_sha256`]. `UNSIGNED-PAYLOAD` is accepted.
//! A hash in the header must equal `body_sha256`. When `body_sha256` is
//! `None` (the caller has not read the body) only a request carrying
//! `x-amz-content-sha256` can pass; if that header holds a hash, it comes back
//! in [`Verified::body_sha256_unchecked`] and the caller must compare it with
//! the body before acting on the request.

#![forbid(unsafe_code)]

mod canonical;
mod crypto;
mod error;
mod sign;
mod time;
mod verify;

use std::fmt;

pub use error::{SigV4Error, SignError};
pub use sign::{presign_url, sign_headers, PresignOptions, SigningParams};
pub use verify::{canonical_request, verify};

/// The `x-amz-content-sha256` value that leaves the body out of the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The longest `X-Amz-Expires` AWS accepts: seven days.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// A received request, as the verifier needs it. Everything is borrowed from
/// the caller's HTTP types.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method as received (`GET`, `POST`, …).
    pub method: &'a str,
    /// The path exactly as received on the wire (still percent-encoded),
    /// without the query.
    pub raw_path: &'a str,
    /// The raw query string (after '?', percent-encoded as received), "" if none.
    pub raw_query: &'a str,
    /// Headers as received (names any case; repeated names allowed, in
    /// arrival order). Over HTTP/2 the caller passes `:authority` as `host`.
    pub headers: &'a [(&'a str, &'a str)],
    /// SHA-256 of the body as lowercase hex ([`sha256_hex`]), or `None` when
    /// the body was not read: then only a request with an
    /// `x-amz-content-sha256` header can pass (see the crate docs).
    pub body_sha256: Option<&'a str>,
}

/// SHA-256 of `data` as lowercase hex, for [`Request::body_sha256`].
pub fn sha256_hex(data: &[u8]) -> String {
    crypto::sha256_hex(data)
}

/// A secret access key. `Debug` never prints it. (It is not wiped on drop:
/// the same secret lives in the caller's key store anyway.)
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    pub fn new(secret: impl Into<String>) -> Self {
        SecretKey(secret.into().into_bytes())
    }

    /// The secret itself, for handing to a signer. Keep it out of logs.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Where verify() finds secrets. Called at most once per request, after the
/// cheap checks have passed.
pub trait KeyLookup {
    /// The secret for `access_key_id`, or `None` if the key is unknown or
    /// disabled (the caller then sees [`SigV4Error::UnrecognizedClient`]).
    fn secret(&self, access_key_id: &str) -> Option<SecretKey>;
}

/// What the endpoint accepts.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Signing names accepted in the credential scope, e.g. `["iot"]` for the
    /// control plane, `["iotdata", "iotdevicegateway"]` for the data plane and
    /// the WebSocket upgrade. The first one is the one named in the error
    /// message when the scope has another. Empty: nothing is accepted.
    pub services: &'a [&'a str],
    /// How far the request time may be from `now`, either way. AWS uses 300 s
    /// (5 min) for the REST-JSON family, IoT included as far as reports show,
    /// and 900 s (15 min) for the query-protocol and JSON-1.0 services (STS,
    /// SNS, DynamoDB); see `error.rs` for the evidence.
    pub max_skew_secs: u64,
    /// The region the credential scope must name; `None` accepts any
    /// non-empty region.
    pub region: Option<&'a str>,
}

/// A request that passed: who signed it and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    /// The signing name from the credential scope (`iot`, `iotdata`, …).
    pub service: String,
    /// The region from the credential scope.
    pub region: String,
    /// The request time, ISO 8601 basic (`20240101T000000Z`), as signed.
    pub date: String,
    /// Signed in the query string rather than the `Authorization` header.
    pub presigned: bool,
    /// `X-Amz-Security-Token` (header or query parameter), signed or not.
    /// Not checked here: Kumo issues no session tokens, so what to do with
    /// one is the caller's decision.
    pub security_token: Option<String>,
    /// `Some(hash)` when [`Request::body_sha256`] was `None` and the
    /// signature covers this `x-amz-content-sha256` hash: the caller must
    /// compare it with the body's SHA-256 before acting on the request.
    pub body_sha256_unchecked: Option<String>,
}
