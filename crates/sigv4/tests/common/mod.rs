//! Shared by the integration tests: the vector files and a key store.
#![allow(dead_code)]

use kumo_sigv4::{sha256_hex, KeyLookup, Request, SecretKey};
use serde_json::Value;

/// A request as the vector files store it, owning its strings.
#[derive(Debug, Clone)]
pub struct Owned {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Owned {
    /// Borrow as a verifier request; `header_refs` must outlive it.
    pub fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    pub fn with<'a>(
        &'a self,
        headers: &'a [(&'a str, &'a str)],
        body_sha256: Option<&'a str>,
    ) -> Request<'a> {
        Request {
            method: &self.method,
            raw_path: &self.path,
            raw_query: &self.query,
            headers,
            body_sha256,
        }
    }

    pub fn body_hash(&self) -> String {
        sha256_hex(&self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn without_header(&self, name: &str) -> Owned {
        let mut o = self.clone();
        o.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        o
    }
}

/// One request signed by a real SDK (tests/data/sdk_vectors.json).
#[derive(Debug, Clone)]
pub struct SdkVector {
    pub name: String,
    pub source: String,
    pub req: Owned,
    pub time_unix: u64,
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
    pub service: String,
    pub presigned: bool,
    pub security_token: Option<String>,
    pub expires: Option<u64>,
    pub canonical_request: Option<String>,
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing"))
        .to_string()
}

fn headers(v: &Value) -> Vec<(String, String)> {
    v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_string(),
                h[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn sdk_vectors() -> Vec<SdkVector> {
    let text = include_str!("../data/sdk_vectors.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| SdkVector {
            name: s(v, "name"),
            source: s(v, "source"),
            req: Owned {
                method: s(v, "method"),
                path: s(v, "path"),
                query: s(v, "query"),
                headers: headers(v),
                body: s(v, "body").into_bytes(),
            },
            time_unix: v["time_unix"].as_u64().unwrap(),
            access_key_id: s(v, "access_key_id"),
            secret: s(v, "secret"),
            region: s(v, "region"),
            service: s(v, "service"),
            presigned: v["presigned"].as_bool().unwrap(),
            security_token: v["security_token"].as_str().map(str::to_string),
            expires: v["expires"].as_u64(),
            canonical_request: v["canonical_request"].as_str().map(str::to_string),
        })
        .collect()
}

pub fn sdk_vector(name: &str) -> SdkVector {
    sdk_vectors()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// One case of AWS's test suite (tests/data/aws_suite.json).
#[derive(Debug, Clone)]
pub struct SuiteCase {
    pub suite: String,
    pub name: String,
    pub req: Owned,
    pub signed_headers: String,
    pub signature: String,
    pub canonical_request: String,
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
    pub service: String,
    pub timestamp: String,
}

pub fn suite_cases() -> Vec<SuiteCase> {
    let text = include_str!("../data/aws_suite.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let mut out = Vec::new();
    for suite in doc["suites"].as_array().unwrap() {
        for c in suite["cases"].as_array().unwrap() {
            out.push(SuiteCase {
                suite: s(suite, "source"),
                name: s(c, "name"),
                req: Owned {
                    method: s(c, "method"),
                    path: s(c, "path"),
                    query: s(c, "query"),
                    headers: headers(c),
                    body: s(c, "body").into_bytes(),
                },
                signed_headers: s(c, "signed_headers"),
                signature: s(c, "signature"),
                canonical_request: s(c, "canonical_request"),
                access_key_id: s(suite, "access_key_id"),
                secret: s(suite, "secret"),
                region: s(suite, "region"),
                service: s(suite, "service"),
                timestamp: s(suite, "timestamp"),
            });
        }
    }
    out
}

/// Parse `YYYYMMDDTHHMMSSZ` for tests (Python-checked values elsewhere).
pub fn unix_of(ts: &str) -> u64 {
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    let (y2, m2) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
    let days = 365 * y2 + y2 / 4 - y2 / 100 + y2 / 400 + (153 * (m2 - 3) + 2) / 5 + d - 719_469;
    (days * 86_400 + n(9..11) * 3600 + n(11..13) * 60 + n(13..15)) as u64
}

/// A key store with a fixed set of keys.
pub struct Keys(pub Vec<(String, String)>);

impl Keys {
    pub fn one(akid: &str, secret: &str) -> Keys {
        Keys(vec![(akid.to_string(), secret.to_string())])
    }
}

impl KeyLookup for Keys {
    fn secret(&self, access_key_id: &str) -> Option<SecretKey> {
        self.0
            .iter()
            .find(|(k, _)| k == access_key_id)
            .map(|(_, s)| SecretKey::new(s.clone()))
    }
}
