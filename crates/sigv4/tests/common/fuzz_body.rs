//! The body of the `sigv4_verify` fuzz target (fuzz/fuzz_targets/sigv4_verify.rs),
//! also run by `cargo test -p kumo-sigv4` (tests/fuzz_smoke.rs).
//!
//! The input is read as text: line 1 the method, line 2 the path and query
//! (`/p?q`), then `name: value` header lines up to a blank line, then the
//! body. Two properties:
//!
//! 1. verify() on that request, with a fixed key, at several clocks and
//!    policies, never panics, and errors carry a 403 or 500 status.
//! 2. The same request made signable (method and header names cleaned, a
//!    Host added, auth headers and X-Amz-* query parameters dropped), signed
//!    by sign_headers() and presign_url() at a time taken from the input,
//!    verifies at that time, with the same key id, scope and token; and is
//!    refused with another secret.

use kumo_sigv4::{
    presign_url, sha256_hex, sign_headers, verify, KeyLookup, Policy, PresignOptions, Request,
    SecretKey, SigningParams,
};

const AKID: &str = "AKIAFUZZ";
const SECRET: &str = "fuzz/secret+key";

struct Keys(&'static str);

impl KeyLookup for Keys {
    fn secret(&self, access_key_id: &str) -> Option<SecretKey> {
        (access_key_id == AKID).then(|| SecretKey::new(self.0))
    }
}

const RESERVED_QUERY: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// Percent-decoding as the verifier does it (a bad escape stays literal).
fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

struct Parsed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse(data: &[u8]) -> Parsed {
    let text = String::from_utf8_lossy(data);
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], text[i + 2..].as_bytes().to_vec()),
        None => (&text[..], Vec::new()),
    };
    let mut lines = head.split('\n');
    let method = lines.next().unwrap_or("").to_string();
    let target = lines.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            (n.to_string(), v.trim_start().to_string())
        })
        .collect();
    Parsed {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body,
    }
}

/// A number from the input's bytes, so each input gets its own clock and
/// options while staying deterministic.
fn seed(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

pub fn check(data: &[u8]) {
    let p = parse(data);
    let h: Vec<(&str, &str)> = p
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body_hash = sha256_hex(&p.body);
    let s = seed(data);

    // 1. Arbitrary requests never panic.
    for body_sha256 in [Some(body_hash.as_str()), None] {
        let req = Request {
            method: &p.method,
            raw_path: &p.path,
            raw_query: &p.query,
            headers: &h,
            body_sha256,
        };
        for now in [0, 1_710_506_096, s % 253_402_300_800, u64::MAX] {
            for policy in [
                Policy {
                    services: &["iot", "iotdata"],
                    max_skew_secs: 300,
                    region: None,
                },
                Policy {
                    services: &[],
                    max_skew_secs: u64::MAX,
                    region: Some("us-east-1"),
                },
            ] {
                if let Err(e) = verify(&req, &Keys(SECRET), now, &policy) {
                    assert!(matches!(e.http_status(), 403 | 500), "{e:?}");
                    let _ = (e.to_string(), e.aws_type(), e.aws_type_data_plane());
                }
            }
        }
    }

    // 2. Sign, then verify.
    let method: String = p
        .method
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(10)
        .collect();
    let method = if method.is_empty() {
        "GET".to_string()
    } else {
        method
    };
    let mut headers: Vec<(String, String)> = p
        .headers
        .iter()
        .map(|(n, v)| {
            let name: String = n
                .bytes()
                .filter(|b| b.is_ascii_alphanumeric() || *b == b'-')
                .map(char::from)
                .collect();
            let value: String = v
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                .collect();
            (name, value)
        })
        .filter(|(n, _)| {
            !n.is_empty()
                && ![
                    "authorization",
                    "x-amz-date",
                    "x-amz-security-token",
                    "x-amz-content-sha256",
                ]
                .iter()
                .any(|r| n.eq_ignore_ascii_case(r))
        })
        .take(16)
        .collect();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        headers.push(("Host".into(), "fuzz.example.com".into()));
    }
    // Keep the input's own parameters, minus those the signer sets.
    let query: String = p
        .query
        .split('&')
        .filter(|seg| {
            let key = decode(seg.split('=').next().unwrap_or(""));
            !RESERVED_QUERY.iter().any(|r| key == r.as_bytes())
        })
        .collect::<Vec<_>>()
        .join("&");
    let time_unix = s % 253_402_300_800;
    let token = (s & 1 == 1).then_some("fuzz/token+=");
    let services = ["iot", "iotdata", "iotdevicegateway"];
    let service = services[(s >> 8) as usize % services.len()];
    let secret = SecretKey::new(SECRET);
    let params = SigningParams {
        access_key_id: AKID,
        secret: &secret,
        security_token: token,
        region: "us-east-1",
        service,
        time_unix,
    };
    let policy = Policy {
        services: &services,
        max_skew_secs: 300,
        region: Some("us-east-1"),
    };
    let body_sha256 = (s & 2 == 0).then_some(body_hash.as_str());
    let hr: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let unsigned = Request {
        method: &method,
        raw_path: &p.path,
        raw_query: &query,
        headers: &hr,
        body_sha256,
    };

    let added = sign_headers(&unsigned, &params)
        .unwrap_or_else(|e| panic!("sign_headers refused a cleaned request: {e}"));
    let mut all = hr.clone();
    all.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let signed = Request {
        headers: &all,
        ..unsigned
    };
    let v = verify(&signed, &Keys(SECRET), time_unix, &policy)
        .unwrap_or_else(|e| panic!("own header signature refused: {e:?}"));
    assert_eq!(v.access_key_id, AKID);
    assert_eq!(v.service, service);
    assert!(!v.presigned);
    assert_eq!(v.security_token.as_deref(), token);
    assert!(verify(&signed, &Keys("other"), time_unix, &policy).is_err());

    if body_sha256.is_some() {
        let opts = PresignOptions {
            expires_secs: (s & 4 == 0).then_some(1 + (s >> 16) % 604_800),
            sign_security_token: s & 8 == 0,
        };
        let q = presign_url(&unsigned, &params, &opts)
            .unwrap_or_else(|e| panic!("presign_url refused a cleaned request: {e}"));
        let presigned = Request {
            raw_query: &q,
            ..unsigned
        };
        let v = verify(&presigned, &Keys(SECRET), time_unix, &policy)
            .unwrap_or_else(|e| panic!("own presigned URL refused: {e:?} {q}"));
        assert!(v.presigned);
        assert_eq!(v.security_token.as_deref(), token);
        assert!(verify(&presigned, &Keys("other"), time_unix, &policy).is_err());
    }
}
