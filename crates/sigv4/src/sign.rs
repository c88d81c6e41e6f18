//! Signing, for tests and for Kumo's own Rust clients. It signs what botocore
//! signs: every header the request carries except the hop-by-hop and tracing
//! ones botocore leaves out (`SIGNED_HEADERS_BLACKLIST` in botocore/auth.py),
//! plus `x-amz-date` and, when there is one, `x-amz-security-token`. Given the
//! same headers and time it produces botocore's `Authorization` header byte
//! for byte (tests/vectors.rs checks this).

use crate::canonical::{self, Parts};
use crate::crypto;
use crate::time::{format_iso_basic, MAX_SIGNABLE_UNIX};
use crate::verify::{
    ALGORITHM, PRESIGN_MARKERS, Q_ALGORITHM, Q_CREDENTIAL, Q_DATE, Q_EXPIRES, Q_SECURITY_TOKEN,
    Q_SIGNATURE, Q_SIGNED_HEADERS, TERMINATOR,
};
use crate::{Request, SecretKey, SignError, MAX_EXPIRES_SECS, UNSIGNED_PAYLOAD};

/// botocore's `SIGNED_HEADERS_BLACKLIST` (botocore 1.44.5), plus
/// `authorization`: headers proxies may add, drop or rewrite.
const NOT_SIGNED: [&str; 15] = [
    "authorization",
    "baggage",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// Who signs, for what, when.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a SecretKey,
    /// A session token to send along (`X-Amz-Security-Token`).
    pub security_token: Option<&'a str>,
    pub region: &'a str,
    /// The signing name: `iot`, `iotdata`, `iotdevicegateway`, …
    pub service: &'a str,
    /// Signing time, seconds since the Unix epoch.
    pub time_unix: u64,
}

/// How to presign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresignOptions {
    /// `X-Amz-Expires` in seconds (1..=604800); `None` sends none, as the
    /// AWS IoT Device SDK does (the verifier then applies its skew window).
    pub expires_secs: Option<u64>,
    /// Put the session token in the canonical query (botocore) or append it
    /// after signing (`false`: awscrt's `omit_session_token`, what the IoT
    /// Device SDK does for `iotdevicegateway`).
    pub sign_security_token: bool,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_scope_component(s: &str) -> Result<(), SignError> {
    let bad = |c: char| c.is_whitespace() || matches!(c, '/' | ',' | '=' | ';');
    if s.is_empty() || s.contains(bad) {
        return Err(SignError::InvalidScopeComponent(s.to_string()));
    }
    Ok(())
}

/// Checks shared by both forms; returns the timestamp.
fn check_common(req: &Request<'_>, p: &SigningParams<'_>) -> Result<String, SignError> {
    for s in [p.access_key_id, p.region, p.service] {
        check_scope_component(s)?;
    }
    if p.time_unix > MAX_SIGNABLE_UNIX {
        return Err(SignError::TimeOutOfRange(p.time_unix));
    }
    let mut has_host = false;
    for (name, value) in req.headers {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(SignError::InvalidHeaderName(name.to_string()));
        }
        if value.contains(['\r', '\n', '\0']) {
            return Err(SignError::InvalidHeaderValue(name.to_string()));
        }
        has_host |= name.eq_ignore_ascii_case("host");
    }
    if !has_host {
        return Err(SignError::MissingHost);
    }
    Ok(format_iso_basic(p.time_unix as i64))
}

/// The payload hash to sign, and whether an `X-Amz-Content-SHA256:
/// UNSIGNED-PAYLOAD` header must be added for it.
fn payload_hash(req: &Request<'_>) -> Result<(String, bool), SignError> {
    let header = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
        .map(|(_, v)| *v);
    match (header, req.body_sha256) {
        (Some(h), _) if h == UNSIGNED_PAYLOAD => Ok((h.to_string(), false)),
        (Some(h), Some(b)) if h.len() == 64 && h.eq_ignore_ascii_case(b) => {
            Ok((h.to_string(), false))
        }
        (Some(h), None) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok((h.to_string(), false))
        }
        (Some(_), _) => Err(SignError::ContentSha256Mismatch),
        (None, Some(b)) => Ok((b.to_string(), false)),
        (None, None) => Ok((UNSIGNED_PAYLOAD.to_string(), true)),
    }
}

/// Sorted, de-duplicated, lower-case names of the headers to sign.
fn names_to_sign(headers: &[(&str, &str)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| !NOT_SIGNED.contains(&n.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn signature(
    p: &SigningParams<'_>,
    timestamp: &str,
    parts: &Parts<'_>,
) -> Result<(String, String), SignError> {
    let date = &timestamp[..8];
    let scope = format!("{date}/{}/{}/{TERMINATOR}", p.region, p.service);
    // Every signed name comes from the headers themselves, so none is missing.
    let creq = canonical::canonical_request(parts).map_err(SignError::InvalidHeaderName)?;
    let sts = canonical::string_to_sign(timestamp, &scope, &creq);
    let key = crypto::signing_key(p.secret.expose_secret(), date, p.region, p.service);
    Ok((scope, crypto::signature_hex(&key, &sts)))
}

/// Sign `req` in the header form. Returns the headers to add to the request,
/// in order: `X-Amz-Date`, `X-Amz-Security-Token` (with a token),
/// `X-Amz-Content-SHA256: UNSIGNED-PAYLOAD` (when `body_sha256` is `None`
/// and the request has no such header), `Authorization`. The request must
/// carry `Host` and must not carry `Authorization`, `X-Amz-Date` or
/// `X-Amz-Security-Token` (the signer sets them) nor presigned query
/// parameters.
pub fn sign_headers(
    req: &Request<'_>,
    p: &SigningParams<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    let timestamp = check_common(req, p)?;
    for (name, _) in req.headers {
        for reserved in ["authorization", "x-amz-date", "x-amz-security-token"] {
            if name.eq_ignore_ascii_case(reserved) {
                return Err(SignError::ReservedHeader(name.to_string()));
            }
        }
    }
    let params = canonical::parse_query(req.raw_query);
    if let Some(m) = PRESIGN_MARKERS
        .iter()
        .find(|m| params.iter().any(|p| p.key == m.as_bytes()))
    {
        return Err(SignError::ReservedQueryParameter(m.to_string()));
    }
    let (payload, add_unsigned) = payload_hash(req)?;
    let mut added: Vec<(String, String)> = vec![("X-Amz-Date".into(), timestamp.clone())];
    if let Some(token) = p.security_token {
        if token.contains(['\r', '\n', '\0']) {
            return Err(SignError::InvalidHeaderValue("X-Amz-Security-Token".into()));
        }
        added.push(("X-Amz-Security-Token".into(), token.to_string()));
    }
    if add_unsigned {
        added.push(("X-Amz-Content-SHA256".into(), UNSIGNED_PAYLOAD.into()));
    }
    let mut all: Vec<(&str, &str)> = req.headers.to_vec();
    all.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let signed = names_to_sign(&all);
    let (scope, sig) = signature(
        p,
        &timestamp,
        &Parts {
            method: req.method,
            raw_path: req.raw_path,
            query: &canonical::canonical_query(&params, &[]),
            headers: &all,
            signed: &signed,
            payload_hash: &payload,
        },
    )?;
    added.push((
        "Authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
            p.access_key_id,
            signed.join(";")
        ),
    ));
    Ok(added)
}

/// Presign `req`: returns the query string to send (after `?`): the
/// request's own query, unchanged, then `X-Amz-Algorithm`,
/// `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
/// `X-Amz-Security-Token` and `X-Amz-Signature`. Signs the same headers as
/// [`sign_headers`]; for a WebSocket URL pass just `Host`. The payload hash
/// is `body_sha256` (for a GET, `sha256_hex(b"")`, as botocore and awscrt
/// sign) or an `x-amz-content-sha256` header the request keeps.
pub fn presign_url(
    req: &Request<'_>,
    p: &SigningParams<'_>,
    opts: &PresignOptions,
) -> Result<String, SignError> {
    let timestamp = check_common(req, p)?;
    if let Some((name, _)) = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    {
        return Err(SignError::ReservedHeader(name.to_string()));
    }
    let reserved = [
        Q_ALGORITHM,
        Q_CREDENTIAL,
        Q_DATE,
        Q_EXPIRES,
        Q_SIGNED_HEADERS,
        Q_SIGNATURE,
        Q_SECURITY_TOKEN,
    ];
    if let Some(m) = reserved.iter().find(|m| {
        canonical::parse_query(req.raw_query)
            .iter()
            .any(|p| p.key == m.as_bytes())
    }) {
        return Err(SignError::ReservedQueryParameter(m.to_string()));
    }
    if let Some(e) = opts.expires_secs {
        if e == 0 || e > MAX_EXPIRES_SECS {
            return Err(SignError::ExpiresOutOfRange(e));
        }
    }
    let (payload, add_unsigned) = payload_hash(req)?;
    if add_unsigned {
        return Err(SignError::PayloadHashRequired);
    }
    let signed = names_to_sign(req.headers);
    let date = &timestamp[..8];
    let credential = format!(
        "{}/{date}/{}/{}/{TERMINATOR}",
        p.access_key_id, p.region, p.service
    );
    let mut auth: Vec<(&str, String)> = vec![
        (Q_ALGORITHM, ALGORITHM.to_string()),
        (Q_CREDENTIAL, credential),
        (Q_DATE, timestamp.clone()),
    ];
    if let Some(e) = opts.expires_secs {
        auth.push((Q_EXPIRES, e.to_string()));
    }
    auth.push((Q_SIGNED_HEADERS, signed.join(";")));
    let token = p.security_token.map(|t| canonical::encode(t.as_bytes()));
    if let (Some(t), true) = (&token, opts.sign_security_token) {
        auth.push((Q_SECURITY_TOKEN, t.clone()));
    }
    let mut query = req.raw_query.to_string();
    for (k, v) in &auth {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(k);
        query.push('=');
        if *k == Q_SECURITY_TOKEN {
            query.push_str(v); // already encoded
        } else {
            canonical::encode_into(&mut query, v.as_bytes(), false);
        }
    }
    let (_, sig) = signature(
        p,
        &timestamp,
        &Parts {
            method: req.method,
            raw_path: req.raw_path,
            query: &canonical::canonical_query(&canonical::parse_query(&query), &[]),
            headers: req.headers,
            signed: &signed,
            payload_hash: &payload,
        },
    )?;
    if let (Some(t), false) = (&token, opts.sign_security_token) {
        query.push_str(&format!("&{Q_SECURITY_TOKEN}={t}"));
    }
    query.push_str(&format!("&{Q_SIGNATURE}={sig}"));
    Ok(query)
}
