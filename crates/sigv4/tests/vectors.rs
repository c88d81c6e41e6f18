//! Real vectors: AWS's published SigV4 test suite (tests/data/aws_suite.json,
//! written by tests/gen_aws_suite.py) and requests signed by botocore (pure
//! Python and CRT signers) and by awscrt as the AWS IoT Device SDK signs its
//! WebSocket handshake (tests/data/sdk_vectors.json, written by
//! tests/gen_vectors.py). verify() must accept each at its own time and
//! refuse it, with AWS's error, once anything about it is wrong.

mod common;

use common::{sdk_vector, sdk_vectors, suite_cases, unix_of, Keys, SdkVector};
use kumo_sigv4::{
    canonical_request, presign_url, sha256_hex, sign_headers, verify, Policy, PresignOptions,
    SecretKey, SigV4Error, SigningParams, Verified,
};

const SKEW: u64 = 300;

fn keys(v: &SdkVector) -> Keys {
    Keys::one(&v.access_key_id, &v.secret)
}

fn check_at(v: &SdkVector, now: u64, policy: &Policy<'_>) -> Result<Verified, SigV4Error> {
    let h = v.req.header_refs();
    let body = v.req.body_hash();
    verify(&v.req.with(&h, Some(&body)), &keys(v), now, policy)
}

fn check(v: &SdkVector, now: u64) -> Result<Verified, SigV4Error> {
    let services = [v.service.as_str()];
    let policy = Policy {
        services: &services,
        max_skew_secs: SKEW,
        region: Some(&v.region),
    };
    check_at(v, now, &policy)
}

#[test]
fn unix_of_helper_is_right() {
    assert_eq!(unix_of("20150830T123600Z"), 1_440_938_160);
    assert_eq!(unix_of("20240315T123456Z"), 1_710_506_096);
}

#[test]
fn sdk_vectors_are_all_there() {
    let names: Vec<String> = sdk_vectors().into_iter().map(|v| v.name).collect();
    for want in [
        "iot-list-things",
        "iot-create-thing",
        "iot-delete-certificate",
        "iotdata-publish-shadow-update",
        "iotdata-get-named-shadow",
        "iot-presigned-list-things",
        "crt-iot-create-thing",
        "crt-iotdata-publish-shadow-update",
        "iotdevicegateway-wss",
        "iotdevicegateway-wss-session-token",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing");
    }
}

#[test]
fn sdk_vectors_verify_at_their_time() {
    for v in sdk_vectors() {
        let got =
            check(&v, v.time_unix).unwrap_or_else(|e| panic!("{} ({}): {e:?}", v.name, v.source));
        assert_eq!(got.access_key_id, v.access_key_id, "{}", v.name);
        assert_eq!(got.service, v.service, "{}", v.name);
        assert_eq!(got.region, v.region, "{}", v.name);
        assert_eq!(got.date, "20240315T123456Z", "{}", v.name);
        assert_eq!(got.presigned, v.presigned, "{}", v.name);
        assert_eq!(got.security_token, v.security_token, "{}", v.name);
        assert_eq!(got.body_sha256_unchecked, None, "{}", v.name);
        // And at the edges of the window.
        assert!(check(&v, v.time_unix + SKEW).is_ok(), "{}", v.name);
        assert!(check(&v, v.time_unix - SKEW).is_ok(), "{}", v.name);
    }
}

/// botocore logs the canonical request it signs; ours must be identical.
#[test]
fn canonical_requests_match_botocore() {
    let mut compared = 0;
    for v in sdk_vectors() {
        let Some(want) = &v.canonical_request else {
            continue;
        };
        let signed = want.lines().rev().nth(1).unwrap();
        let h = v.req.header_refs();
        let body = v.req.body_hash();
        let got = canonical_request(&v.req.with(&h, Some(&body)), signed).unwrap();
        assert_eq!(&got, want, "{}", v.name);
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} canonical requests compared");
}

#[test]
fn iot_data_topic_path_is_encoded_twice() {
    let v = sdk_vector("iotdata-publish-shadow-update");
    assert_eq!(v.req.path, "/topics/%24aws%2Fthings%2Fx%2Fshadow%2Fupdate");
    let creq = v.canonical_request.unwrap();
    assert!(
        creq.starts_with("POST\n/topics/%2524aws%252Fthings%252Fx%252Fshadow%252Fupdate\nqos=1\n"),
        "{creq}"
    );
}

#[test]
fn one_changed_body_byte_is_refused() {
    let mut tried = 0;
    for v in sdk_vectors().into_iter().filter(|v| !v.req.body.is_empty()) {
        for at in [0, v.req.body.len() / 2, v.req.body.len() - 1] {
            let mut req = v.req.clone();
            req.body[at] ^= 0x01;
            let h = req.header_refs();
            let body = req.body_hash();
            let services = [v.service.as_str()];
            let policy = Policy {
                services: &services,
                max_skew_secs: SKEW,
                region: None,
            };
            let err =
                verify(&req.with(&h, Some(&body)), &keys(&v), v.time_unix, &policy).unwrap_err();
            assert_eq!(err, SigV4Error::SignatureMismatch, "{} byte {at}", v.name);
            assert_eq!(err.aws_type(), "InvalidSignatureException");
            assert_eq!(err.http_status(), 403);
            assert_eq!(err.to_string(), "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
            tried += 1;
        }
    }
    assert!(tried >= 9);
}

#[test]
fn wrong_secret_is_refused() {
    for v in sdk_vectors() {
        let mut secret = v.secret.clone().into_bytes();
        secret[3] ^= 0x20;
        let keys = Keys::one(&v.access_key_id, &String::from_utf8(secret).unwrap());
        let h = v.req.header_refs();
        let body = v.req.body_hash();
        let services = [v.service.as_str()];
        let policy = Policy {
            services: &services,
            max_skew_secs: SKEW,
            region: None,
        };
        assert_eq!(
            verify(&v.req.with(&h, Some(&body)), &keys, v.time_unix, &policy),
            Err(SigV4Error::SignatureMismatch),
            "{}",
            v.name
        );
    }
}

#[test]
fn unknown_key_is_refused() {
    for v in sdk_vectors() {
        let h = v.req.header_refs();
        let body = v.req.body_hash();
        let services = [v.service.as_str()];
        let policy = Policy {
            services: &services,
            max_skew_secs: SKEW,
            region: None,
        };
        let keys = Keys::one("AKIAOTHERKEY", &v.secret);
        let err = verify(&v.req.with(&h, Some(&body)), &keys, v.time_unix, &policy).unwrap_err();
        assert_eq!(
            err,
            SigV4Error::UnrecognizedClient {
                access_key_id: v.access_key_id.clone()
            },
            "{}",
            v.name
        );
        assert_eq!(err.aws_type(), "UnrecognizedClientException");
        assert_eq!(err.http_status(), 403);
        assert_eq!(
            err.to_string(),
            "The security token included in the request is invalid."
        );
    }
}

#[test]
fn sixteen_minutes_off_is_refused() {
    const OFF: u64 = 16 * 60;
    for v in sdk_vectors() {
        for skew in [300, 900] {
            let services = [v.service.as_str()];
            let policy = Policy {
                services: &services,
                max_skew_secs: skew,
                region: None,
            };
            // The client's clock 16 minutes ahead of ours.
            let early = check_at(&v, v.time_unix - OFF, &policy).unwrap_err();
            assert!(
                matches!(early, SigV4Error::SignatureNotYetCurrent { .. }),
                "{}: {early:?}",
                v.name
            );
            assert_eq!(early.aws_type(), "InvalidSignatureException");
            // 16 minutes late: refused unless X-Amz-Expires allows it.
            let late = check_at(&v, v.time_unix + OFF, &policy);
            match v.expires {
                Some(e) if e >= OFF => assert!(late.is_ok(), "{}", v.name),
                Some(_) => assert!(
                    matches!(late, Err(SigV4Error::RequestExpired { .. })),
                    "{}: {late:?}",
                    v.name
                ),
                None => assert!(
                    matches!(late, Err(SigV4Error::SignatureExpired { .. })),
                    "{}: {late:?}",
                    v.name
                ),
            }
        }
    }
}

#[test]
fn expired_signature_message_is_awss() {
    let v = sdk_vector("iot-list-things");
    let err = check(&v, v.time_unix + 16 * 60).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature expired: 20240315T123456Z is now earlier than 20240315T124556Z (20240315T125056Z - 5 min.)"
    );
    let err = check(&v, v.time_unix - 16 * 60).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature not yet current: 20240315T123456Z is still later than 20240315T122356Z (20240315T121856Z + 5 min.)"
    );
}

#[test]
fn service_outside_the_policy_is_refused() {
    for v in sdk_vectors() {
        let others: &[&str] = if v.service == "iot" {
            &["iotdata", "iotdevicegateway"]
        } else {
            &["iot"]
        };
        let policy = Policy {
            services: others,
            max_skew_secs: SKEW,
            region: Some("us-east-1"),
        };
        let err = check_at(&v, v.time_unix, &policy).unwrap_err();
        assert_eq!(
            err,
            SigV4Error::CredentialScope {
                wrong_region: None,
                expected_service: Some(others[0].to_string()),
                wrong_terminator: None,
                date_mismatch: None,
            },
            "{}",
            v.name
        );
        assert_eq!(
            err.to_string(),
            format!(
                "Credential should be scoped to correct service: '{}'. ",
                others[0]
            )
        );
        assert_eq!(err.aws_type(), "InvalidSignatureException");
    }
}

#[test]
fn data_plane_accepts_both_signing_names() {
    let policy = Policy {
        services: &["iotdata", "iotdevicegateway"],
        max_skew_secs: SKEW,
        region: Some("us-east-1"),
    };
    for name in ["iotdata-publish-shadow-update", "iotdevicegateway-wss"] {
        let v = sdk_vector(name);
        assert!(check_at(&v, v.time_unix, &policy).is_ok(), "{name}");
    }
}

#[test]
fn other_region_is_refused_when_one_is_required() {
    for v in sdk_vectors() {
        let services = [v.service.as_str()];
        let policy = Policy {
            services: &services,
            max_skew_secs: SKEW,
            region: Some("eu-west-1"),
        };
        let err = check_at(&v, v.time_unix, &policy).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Credential should be scoped to a valid region, not 'us-east-1'. ",
            "{}",
            v.name
        );
        // Any region is fine when none is required.
        let any = Policy {
            region: None,
            ..policy
        };
        assert!(check_at(&v, v.time_unix, &any).is_ok(), "{}", v.name);
    }
}

#[test]
fn presigned_urls_expire() {
    // botocore, X-Amz-Expires=900: good through +900 s, refused at +901 s.
    let v = sdk_vector("iot-presigned-list-things");
    assert_eq!(v.expires, Some(900));
    assert!(check(&v, v.time_unix + 900).is_ok());
    let err = check(&v, v.time_unix + 901).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::RequestExpired {
            expired_at: "20240315T124956Z".into()
        }
    );
    assert_eq!(err.to_string(), "Request has expired");
    assert_eq!(err.http_status(), 403);
    // The Device SDK sends no X-Amz-Expires: the skew window applies.
    let v = sdk_vector("iotdevicegateway-wss");
    assert!(!v.req.query.contains("X-Amz-Expires"));
    assert!(check(&v, v.time_unix + SKEW).is_ok());
    assert!(matches!(
        check(&v, v.time_unix + SKEW + 1),
        Err(SigV4Error::SignatureExpired { .. })
    ));
}

#[test]
fn missing_signed_header_is_refused() {
    for (name, header) in [
        ("iot-create-thing", "Content-Type"),
        ("crt-iot-create-thing", "Content-Type"),
        ("iot-list-things-session-token", "X-Amz-Security-Token"),
        ("iotdevicegateway-wss", "Connection"),
        ("iot-presigned-list-things", "Host"),
    ] {
        let v = sdk_vector(name);
        assert!(v.req.header(header).is_some(), "{name} has no {header}");
        let req = v.req.without_header(header);
        let h = req.header_refs();
        let body = req.body_hash();
        let services = [v.service.as_str()];
        let policy = Policy {
            services: &services,
            max_skew_secs: SKEW,
            region: None,
        };
        let err = verify(&req.with(&h, Some(&body)), &keys(&v), v.time_unix, &policy).unwrap_err();
        assert_eq!(
            err,
            SigV4Error::SignedHeaderMissing(header.to_ascii_lowercase()),
            "{name}"
        );
        assert_eq!(err.aws_type(), "InvalidSignatureException");
    }
}

#[test]
fn changed_signed_header_is_refused() {
    let v = sdk_vector("iot-create-thing");
    let mut req = v.req.clone();
    for (n, val) in req.headers.iter_mut() {
        if n == "Content-Type" {
            *val = "application/x-amz-json-1.1".into();
        }
    }
    let h = req.header_refs();
    let body = req.body_hash();
    let policy = Policy {
        services: &["iot"],
        max_skew_secs: SKEW,
        region: None,
    };
    assert_eq!(
        verify(&req.with(&h, Some(&body)), &keys(&v), v.time_unix, &policy),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn unsigned_security_token_is_reported_signed_one_is_protected() {
    // awscrt appends the token after signing: verify() retries without it.
    let v = sdk_vector("iotdevicegateway-wss-session-token");
    let got = check(&v, v.time_unix).unwrap();
    assert_eq!(got.security_token, v.security_token);
    let mut tampered = v.clone();
    tampered.req.query = v.req.query.replace("token%2Fwith", "token%2Fwiht");
    assert_ne!(tampered.req.query, v.req.query);
    // Not covered by the signature, so still accepted, and reported as sent.
    let got = check(&tampered, v.time_unix).unwrap();
    assert!(got.security_token.unwrap().contains("token/wiht"));
    // botocore signs it: changing it breaks the signature.
    let v = sdk_vector("iot-presigned-list-things-session-token");
    assert!(check(&v, v.time_unix).is_ok());
    let mut tampered = v.clone();
    tampered.req.query = v.req.query.replace("token%2Fwith", "token%2Fwiht");
    assert_eq!(
        check(&tampered, v.time_unix),
        Err(SigV4Error::SignatureMismatch)
    );
}

fn params_for<'a>(v: &'a SdkVector, secret: &'a SecretKey) -> SigningParams<'a> {
    SigningParams {
        access_key_id: &v.access_key_id,
        secret,
        security_token: v.security_token.as_deref(),
        region: &v.region,
        service: &v.service,
        time_unix: v.time_unix,
    }
}

/// Given the headers botocore had when it signed (those before its
/// Authorization header, less the ones the signer sets), sign_headers()
/// writes botocore's Authorization header.
#[test]
fn sign_headers_reproduces_botocore() {
    let mut compared = 0;
    for v in sdk_vectors().into_iter().filter(|v| !v.presigned) {
        let want = v.req.header("authorization").unwrap().to_string();
        let before: Vec<(&str, &str)> = v
            .req
            .headers
            .iter()
            .take_while(|(n, _)| !n.eq_ignore_ascii_case("authorization"))
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("x-amz-date")
                    && !n.eq_ignore_ascii_case("x-amz-security-token")
            })
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let body = v.req.body_hash();
        let secret = SecretKey::new(v.secret.clone());
        let added =
            sign_headers(&v.req.with(&before, Some(&body)), &params_for(&v, &secret)).unwrap();
        let auth = &added.last().unwrap().1;
        assert_eq!(auth, &want, "{} ({})", v.name, v.source);
        compared += 1;
    }
    assert!(compared >= 8);
}

#[test]
fn presign_url_reproduces_botocore() {
    for name in [
        "iot-presigned-list-things",
        "iot-presigned-list-things-session-token",
    ] {
        let v = sdk_vector(name);
        let (own_query, _) = v.req.query.split_once("&X-Amz-Algorithm").unwrap();
        let mut req = v.req.clone();
        req.query = own_query.to_string();
        let h = req.header_refs();
        let secret = SecretKey::new(v.secret.clone());
        let empty = sha256_hex(b"");
        let opts = PresignOptions {
            expires_secs: v.expires,
            sign_security_token: true,
        };
        let got =
            presign_url(&req.with(&h, Some(&empty)), &params_for(&v, &secret), &opts).unwrap();
        assert_eq!(got, v.req.query, "{name}");
    }
}

#[test]
fn aws_suite_canonical_requests() {
    let cases = suite_cases();
    assert!(cases.len() >= 27);
    for c in cases {
        let h = c.req.header_refs();
        let body = c.req.body_hash();
        let got = canonical_request(&c.req.with(&h, Some(&body)), &c.signed_headers).unwrap();
        assert_eq!(got, c.canonical_request, "{}", c.name);
    }
}

#[test]
fn aws_suite_verifies() {
    for c in suite_cases() {
        let date = &c.timestamp[..8];
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{date}/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
            c.access_key_id, c.region, c.service, c.signed_headers, c.signature
        );
        let mut h = c.req.header_refs();
        h.push(("Authorization", &auth));
        let body = c.req.body_hash();
        let services = [c.service.as_str()];
        let policy = Policy {
            services: &services,
            max_skew_secs: 900,
            region: Some(&c.region),
        };
        let keys = Keys::one(&c.access_key_id, &c.secret);
        let now = unix_of(&c.timestamp);
        let got = verify(&c.req.with(&h, Some(&body)), &keys, now, &policy)
            .unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
        assert_eq!(got.date, c.timestamp, "{}", c.name);
        // One flipped signature digit is enough to refuse.
        let mut bad = c.signature.clone().into_bytes();
        bad[10] = if bad[10] == b'0' { b'1' } else { b'0' };
        let bad_auth = auth.replace(&c.signature, std::str::from_utf8(&bad).unwrap());
        let mut h = c.req.header_refs();
        h.push(("Authorization", &bad_auth));
        assert_eq!(
            verify(&c.req.with(&h, Some(&body)), &keys, now, &policy),
            Err(SigV4Error::SignatureMismatch),
            "{}",
            c.name
        );
    }
}

/// Where the suite signs every header it sends, sign_headers() must land on
/// the suite's signature.
#[test]
fn aws_suite_sign_headers() {
    let mut compared = 0;
    for c in suite_cases()
        .into_iter()
        .filter(|c| c.timestamp.starts_with("2015"))
    {
        let token = c.req.header("x-amz-security-token").map(str::to_string);
        let headers: Vec<(&str, &str)> = c
            .req
            .headers
            .iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("x-amz-date")
                    && !n.eq_ignore_ascii_case("x-amz-security-token")
            })
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut all: Vec<String> = c
            .req
            .headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        all.sort();
        all.dedup();
        if all.join(";") != c.signed_headers {
            continue; // post-sts-header-after, post-x-www-form-urlencoded
        }
        let secret = SecretKey::new(c.secret.clone());
        let params = SigningParams {
            access_key_id: &c.access_key_id,
            secret: &secret,
            security_token: token.as_deref(),
            region: &c.region,
            service: &c.service,
            time_unix: unix_of(&c.timestamp),
        };
        let body = c.req.body_hash();
        let added = sign_headers(&c.req.with(&headers, Some(&body)), &params).unwrap();
        let auth = &added.last().unwrap().1;
        assert!(
            auth.ends_with(&format!("Signature={}", c.signature)),
            "{}: {auth}",
            c.name
        );
        compared += 1;
    }
    assert!(compared >= 20, "{compared}");
}
