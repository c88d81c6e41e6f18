//! The refusal rules one by one, on requests signed by sign_headers() /
//! presign_url() (themselves checked against botocore in vectors.rs).

mod common;

use common::Keys;
use kumo_sigv4::{
    presign_url, sha256_hex, sign_headers, verify, Policy, PresignOptions, Request, SecretKey,
    SigV4Error, SignError, SigningParams, Verified,
};

const T0: u64 = 1_704_067_200; // 2024-01-01T00:00:00Z
const AKID: &str = "AKIAKUMOTEST";
const SECRET: &str = "kumo-test-secret";
const HOST: &str = "iot.us-east-1.amazonaws.com";
const POLICY: Policy<'static> = Policy {
    services: &["iot"],
    max_skew_secs: 300,
    region: Some("us-east-1"),
};

fn keys() -> Keys {
    Keys::one(AKID, SECRET)
}

fn params(secret: &SecretKey, time_unix: u64) -> SigningParams<'_> {
    SigningParams {
        access_key_id: AKID,
        secret,
        security_token: None,
        region: "us-east-1",
        service: "iot",
        time_unix,
    }
}

/// A signed POST /things/a?x=1 with a JSON body: (headers, body hash).
fn signed_post(body: &[u8]) -> (Vec<(String, String)>, String) {
    let hash = sha256_hex(body);
    let base = [("Host", HOST), ("Content-Type", "application/json")];
    let req = Request {
        method: "POST",
        raw_path: "/things/a",
        raw_query: "x=1",
        headers: &base,
        body_sha256: Some(&hash),
    };
    let secret = SecretKey::new(SECRET);
    let added = sign_headers(&req, &params(&secret, T0)).unwrap();
    let mut headers: Vec<(String, String)> = base
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    headers.extend(added);
    (headers, hash)
}

fn run(
    headers: &[(String, String)],
    query: &str,
    body_sha256: Option<&str>,
    now: u64,
) -> Result<Verified, SigV4Error> {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = Request {
        method: "POST",
        raw_path: "/things/a",
        raw_query: query,
        headers: &h,
        body_sha256,
    };
    verify(&req, &keys(), now, &POLICY)
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_string(), value.to_string()));
}

fn authorization(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(n, _)| n == "Authorization")
        .unwrap()
        .1
        .clone()
}

#[test]
fn signed_request_passes() {
    let (h, hash) = signed_post(b"{}");
    let v = run(&h, "x=1", Some(&hash), T0).unwrap();
    assert_eq!(v.date, "20240101T000000Z");
    assert!(!v.presigned);
}

#[test]
fn no_authentication_at_all() {
    let h = vec![("Host".to_string(), HOST.to_string())];
    let err = run(&h, "", Some(&sha256_hex(b"")), T0).unwrap_err();
    assert_eq!(err, SigV4Error::MissingAuthenticationToken);
    assert_eq!(err.aws_type(), "MissingAuthenticationTokenException");
    assert_eq!(err.http_status(), 403);
    assert_eq!(err.to_string(), "Missing Authentication Token");
}

#[test]
fn header_and_query_together_are_ambiguous() {
    let (h, hash) = signed_post(b"{}");
    let err = run(&h, "x=1&X-Amz-Signature=00", Some(&hash), T0).unwrap_err();
    assert_eq!(err, SigV4Error::AmbiguousAuthentication);
    assert_eq!(err.aws_type(), "IncompleteSignatureException");
}

#[test]
fn authorization_header_syntax() {
    let (mut h, hash) = signed_post(b"{}");
    let cases: [(&str, SigV4Error); 4] = [
        (
            "Bearer abc",
            SigV4Error::UnsupportedAlgorithm("Bearer".into()),
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, junk",
            SigV4Error::AuthorizationPairInvalid {
                pair: "junk".into(),
                authorization: "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, junk".into(),
            },
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00",
            SigV4Error::CredentialMalformed("a/b/c".into()),
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAKUMOTEST/20240101/us-east-1/iot/aws4_request, SignedHeaders=x-amz-date, Signature=00",
            SigV4Error::HostNotSigned,
        ),
    ];
    for (value, want) in cases {
        set_header(&mut h, "Authorization", value);
        let err = run(&h, "x=1", Some(&hash), T0).unwrap_err();
        assert_eq!(err, want, "{value}");
        assert_eq!(err.aws_type(), "IncompleteSignatureException", "{value}");
    }
    assert_eq!(
        SigV4Error::HostNotSigned.to_string(),
        "'Host' must be a 'SignedHeader' in the AWS Authorization."
    );
    set_header(
        &mut h,
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, junk",
    );
    assert_eq!(
        run(&h, "x=1", Some(&hash), T0).unwrap_err().to_string(),
        "'junk' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential=a/b/c/d/e, junk'."
    );
}

#[test]
fn missing_parts_are_listed_together() {
    let (mut h, hash) = signed_post(b"{}");
    h.retain(|(n, _)| n != "X-Amz-Date");
    set_header(
        &mut h,
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e",
    );
    let err = run(&h, "x=1", Some(&hash), T0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=a/b/c/d/e"
    );
    assert_eq!(err.aws_type(), "IncompleteSignatureException");
}

#[test]
fn malformed_date() {
    let (mut h, hash) = signed_post(b"{}");
    set_header(&mut h, "X-Amz-Date", "2024-01-01T00:00:00Z");
    let err = run(&h, "x=1", Some(&hash), T0).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::DateMalformed("2024-01-01T00:00:00Z".into())
    );
}

#[test]
fn authorization_without_spaces_after_commas() {
    let (mut h, hash) = signed_post(b"{}");
    let compact = authorization(&h).replace(", ", ",");
    set_header(&mut h, "Authorization", &compact);
    assert!(run(&h, "x=1", Some(&hash), T0).is_ok());
}

#[test]
fn uppercase_signature_hex_is_not_accepted() {
    let (mut h, hash) = signed_post(b"{}");
    let auth = authorization(&h);
    let (head, sig) = auth.split_once("Signature=").unwrap();
    set_header(
        &mut h,
        "Authorization",
        &format!("{head}Signature={}", sig.to_ascii_uppercase()),
    );
    assert_eq!(
        run(&h, "x=1", Some(&hash), T0),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn query_and_method_are_covered() {
    let (h, hash) = signed_post(b"{}");
    assert_eq!(
        run(&h, "x=2", Some(&hash), T0),
        Err(SigV4Error::SignatureMismatch)
    );
    assert_eq!(
        run(&h, "x=1&y=2", Some(&hash), T0),
        Err(SigV4Error::SignatureMismatch)
    );
    // Same parameters, other order and encoding: same canonical query.
    let (h2, hash2) = signed_post(b"{}");
    assert!(run(&h2, "x=%31", Some(&hash2), T0).is_ok());
}

#[test]
fn scope_terminator_and_date() {
    let (mut h, hash) = signed_post(b"{}");
    let auth = authorization(&h)
        .replace("/aws4_request", "/aws5_request")
        .replace("/20240101/", "/20231231/");
    set_header(&mut h, "Authorization", &auth);
    let err = run(&h, "x=1", Some(&hash), T0).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::CredentialScope {
            wrong_region: None,
            expected_service: None,
            wrong_terminator: Some("aws5_request".into()),
            date_mismatch: Some(("20231231".into(), "20240101".into())),
        }
    );
    assert_eq!(
        err.to_string(),
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP. "
    );
    assert_eq!(err.aws_type(), "InvalidSignatureException");
}

#[test]
fn skew_window_both_ways_with_awss_text() {
    let (h, hash) = signed_post(b"{}");
    assert!(run(&h, "x=1", Some(&hash), T0 + 300).is_ok());
    assert!(run(&h, "x=1", Some(&hash), T0 - 300).is_ok());
    assert_eq!(
        run(&h, "x=1", Some(&hash), T0 + 600).unwrap_err().to_string(),
        "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T001000Z - 5 min.)"
    );
    assert_eq!(
        run(&h, "x=1", Some(&hash), T0 - 600).unwrap_err().to_string(),
        "Signature not yet current: 20240101T000000Z is still later than 20231231T235500Z (20231231T235000Z + 5 min.)"
    );
    // Absurd clocks do not panic.
    assert!(run(&h, "x=1", Some(&hash), 0).is_err());
    assert!(run(&h, "x=1", Some(&hash), u64::MAX).is_err());
}

#[test]
fn payload_rules() {
    let body = br#"{"a":1}"#;
    let (h, hash) = signed_post(body);
    // body_sha256 of another body.
    assert_eq!(
        run(&h, "x=1", Some(&sha256_hex(b"{}")), T0),
        Err(SigV4Error::SignatureMismatch)
    );
    // Unread body, no x-amz-content-sha256: our fault.
    let err = run(&h, "x=1", None, T0).unwrap_err();
    assert_eq!(err, SigV4Error::PayloadHashUnavailable);
    assert_eq!(err.http_status(), 500);
    assert_eq!(err.aws_type(), "InternalFailureException");

    // Signed with x-amz-content-sha256 = the body hash.
    let base = [("Host", HOST), ("x-amz-content-sha256", hash.as_str())];
    let req = Request {
        method: "POST",
        raw_path: "/things/a",
        raw_query: "x=1",
        headers: &base,
        body_sha256: Some(&hash),
    };
    let secret = SecretKey::new(SECRET);
    let added = sign_headers(&req, &params(&secret, T0)).unwrap();
    let mut with_hash: Vec<(String, String)> = base
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    with_hash.extend(added);
    assert!(run(&with_hash, "x=1", Some(&hash), T0).is_ok());
    // The body not read yet: passes, and the hash comes back to check.
    let v = run(&with_hash, "x=1", None, T0).unwrap();
    assert_eq!(v.body_sha256_unchecked.as_deref(), Some(hash.as_str()));
    // The body read and different from the header.
    assert_eq!(
        run(&with_hash, "x=1", Some(&sha256_hex(b"{}")), T0),
        Err(SigV4Error::PayloadHashMismatch)
    );

    // UNSIGNED-PAYLOAD: sign_headers adds it when no body hash is given.
    let base = [("Host", HOST)];
    let req = Request {
        method: "POST",
        raw_path: "/things/a",
        raw_query: "x=1",
        headers: &base,
        body_sha256: None,
    };
    let added = sign_headers(&req, &params(&secret, T0)).unwrap();
    assert!(added
        .iter()
        .any(|(n, v)| n == "X-Amz-Content-SHA256" && v == "UNSIGNED-PAYLOAD"));
    let mut unsigned: Vec<(String, String)> = vec![("Host".into(), HOST.into())];
    unsigned.extend(added);
    for body_hash in [None, Some(hash.as_str()), Some("junk")] {
        let v = run(&unsigned, "x=1", body_hash, T0).unwrap();
        assert_eq!(v.body_sha256_unchecked, None);
    }
    // Junk in the header.
    set_header(
        &mut unsigned,
        "X-Amz-Content-SHA256",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    );
    assert_eq!(
        run(&unsigned, "x=1", Some(&hash), T0),
        Err(SigV4Error::PayloadHashMismatch)
    );
}

#[test]
fn http_date_header_form() {
    // The Date header stands in for X-Amz-Date (AWS's 2011 test suite form,
    // checked in vectors.rs); here: X-Amz-Date wins when both are present.
    let (mut h, hash) = signed_post(b"{}");
    h.push(("Date".into(), "Mon, 09 Sep 2011 23:36:00 GMT".into()));
    assert!(run(&h, "x=1", Some(&hash), T0).is_ok());
}

fn presigned(opts: PresignOptions, token: Option<&str>) -> String {
    let base = [("Host", HOST)];
    let empty = sha256_hex(b"");
    let req = Request {
        method: "GET",
        raw_path: "/mqtt",
        raw_query: "",
        headers: &base,
        body_sha256: Some(&empty),
    };
    let secret = SecretKey::new(SECRET);
    let mut p = params(&secret, T0);
    p.service = "iotdevicegateway";
    p.security_token = token;
    presign_url(&req, &p, &opts).unwrap()
}

fn run_presigned(query: &str, now: u64) -> Result<Verified, SigV4Error> {
    let base = [("Host", HOST)];
    let empty = sha256_hex(b"");
    let req = Request {
        method: "GET",
        raw_path: "/mqtt",
        raw_query: query,
        headers: &base,
        body_sha256: Some(&empty),
    };
    let policy = Policy {
        services: &["iotdevicegateway"],
        ..POLICY
    };
    verify(&req, &keys(), now, &policy)
}

#[test]
fn presigned_round_trip_and_token_modes() {
    for sign_token in [true, false] {
        for expires in [None, Some(60)] {
            let opts = PresignOptions {
                expires_secs: expires,
                sign_security_token: sign_token,
            };
            let q = presigned(opts, Some("tok/+= en"));
            let v = run_presigned(&q, T0).unwrap_or_else(|e| panic!("{q}: {e:?}"));
            assert!(v.presigned);
            assert_eq!(v.security_token.as_deref(), Some("tok/+= en"));
            assert_eq!(v.service, "iotdevicegateway");
        }
    }
}

#[test]
fn presigned_parameter_rules() {
    let q = presigned(
        PresignOptions {
            expires_secs: Some(60),
            sign_security_token: true,
        },
        None,
    );
    let without = |name: &str| {
        q.split('&')
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .collect::<Vec<_>>()
            .join("&")
    };
    for name in [
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        let err = run_presigned(&without(name), T0).unwrap_err();
        assert!(
            matches!(err, SigV4Error::QueryParameterMissing(n) if n == name),
            "{name}: {err:?}"
        );
        assert_eq!(err.aws_type(), "IncompleteSignatureException");
    }
    for (expires, text) in [
        ("0", "X-Amz-Expires must be non-negative"),
        (
            "604801",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ),
        (
            "99999999999999999999999",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ),
        ("-5", "X-Amz-Expires should be a number"),
        ("", "X-Amz-Expires should be a number"),
    ] {
        let bad = q.replace("X-Amz-Expires=60", &format!("X-Amz-Expires={expires}"));
        let err = run_presigned(&bad, T0).unwrap_err();
        assert_eq!(err.to_string(), text, "{expires:?}");
    }
    let bad = q.replace(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Algorithm=AWS4-HMAC-SHA512",
    );
    assert_eq!(
        run_presigned(&bad, T0),
        Err(SigV4Error::UnsupportedAlgorithm("AWS4-HMAC-SHA512".into()))
    );
    // Expiry: through +60 s, not after; and not before the signing time.
    assert!(run_presigned(&q, T0 + 60).is_ok());
    assert!(matches!(
        run_presigned(&q, T0 + 61),
        Err(SigV4Error::RequestExpired { .. })
    ));
    assert!(matches!(
        run_presigned(&q, T0 - 301),
        Err(SigV4Error::SignatureNotYetCurrent { .. })
    ));
}

#[test]
fn signer_refuses_what_it_cannot_sign() {
    let secret = SecretKey::new(SECRET);
    let p = params(&secret, T0);
    let sign = |headers: &[(&str, &str)], query: &str| {
        let req = Request {
            method: "GET",
            raw_path: "/",
            raw_query: query,
            headers,
            body_sha256: Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        };
        sign_headers(&req, &p)
    };
    assert_eq!(sign(&[], ""), Err(SignError::MissingHost));
    assert_eq!(
        sign(&[("Host", HOST), ("Bad Name", "x")], ""),
        Err(SignError::InvalidHeaderName("Bad Name".into()))
    );
    assert_eq!(
        sign(&[("Host", HOST), ("X", "a\r\nb")], ""),
        Err(SignError::InvalidHeaderValue("X".into()))
    );
    assert_eq!(
        sign(&[("Host", HOST), ("authorization", "x")], ""),
        Err(SignError::ReservedHeader("authorization".into()))
    );
    assert_eq!(
        sign(&[("Host", HOST)], "X-Amz-Signature=1"),
        Err(SignError::ReservedQueryParameter("X-Amz-Signature".into()))
    );
    assert_eq!(
        sign(&[("Host", HOST), ("x-amz-content-sha256", "abc")], ""),
        Err(SignError::ContentSha256Mismatch)
    );
    let mut bad = p;
    bad.region = "us east";
    let req = Request {
        method: "GET",
        raw_path: "/",
        raw_query: "",
        headers: &[("Host", HOST)],
        body_sha256: None,
    };
    assert_eq!(
        sign_headers(&req, &bad),
        Err(SignError::InvalidScopeComponent("us east".into()))
    );
    let mut late = p;
    late.time_unix = 253_402_300_800;
    assert_eq!(
        sign_headers(&req, &late),
        Err(SignError::TimeOutOfRange(253_402_300_800))
    );
    let opts = PresignOptions {
        expires_secs: Some(604_801),
        sign_security_token: true,
    };
    assert_eq!(
        presign_url(&req, &p, &opts),
        Err(SignError::ExpiresOutOfRange(604_801))
    );
    let opts = PresignOptions {
        expires_secs: None,
        sign_security_token: true,
    };
    assert_eq!(
        presign_url(&req, &p, &opts),
        Err(SignError::PayloadHashRequired)
    );
}

#[test]
fn empty_service_list_accepts_nothing() {
    let (h, hash) = signed_post(b"{}");
    let hr: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let req = Request {
        method: "POST",
        raw_path: "/things/a",
        raw_query: "x=1",
        headers: &hr,
        body_sha256: Some(&hash),
    };
    let policy = Policy {
        services: &[],
        ..POLICY
    };
    assert!(matches!(
        verify(&req, &keys(), T0, &policy),
        Err(SigV4Error::CredentialScope { .. })
    ));
}

#[test]
fn secret_key_debug_hides_the_secret() {
    let s = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let shown = format!("{s:?}");
    assert_eq!(shown, "SecretKey(..)");
    assert!(!shown.contains("wJalr"));
}
