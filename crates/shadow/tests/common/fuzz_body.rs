//! The body of the `shadow_update` fuzz target, shared with a plain `#[test]`
//! (tests/fuzz_smoke.rs) that runs it over fixed inputs and pseudo-random
//! requests; the fuzz target includes this file with `#[path]`. Depends only
//! on `kumo_shadow` (and the `serde_json` it re-exports).
//!
//! The input is split at `0xFF` bytes (never part of UTF-8) into up to four
//! requests applied in turn to one shadow. A chunk starting with `{` is an
//! update payload; otherwise its first byte picks the operation (0, 1: update;
//! 2: get; 3: delete, modulo 4) and the rest is the payload.
//!
//! Checked: nothing panics; an error leaves a code AWS uses and an error
//! document that is JSON; and after every accepted update
//! 1. the stored document's delta is what a get reports (and what
//!    `/update/delta` carries, present exactly when the delta is non-empty);
//! 2. updating `reported` with exactly the delta leaves no delta (or is
//!    refused with 413 because the result would be too big);
//! 3. the version went up by exactly one;
//! 4. `Document::from_bytes(to_bytes(d)) == d`, which also checks the stored
//!    invariants (metadata mirrors state, no null, no empty object);
//!
//! and the accepted / documents payloads agree with the new state.

use kumo_shadow::serde_json::{self, json, Value};
use kumo_shadow::{delete, get, update, Document, Shadow, MAX_STATE_BYTES};

const CODES: [u16; 6] = [400, 404, 409, 413, 415, 500];

fn parse(b: &[u8]) -> Value {
    serde_json::from_slice(b).expect("every payload is JSON")
}

pub fn check(data: &[u8]) {
    let mut shadow = Shadow::default();
    for (i, chunk) in data.split(|&b| b == 0xFF).take(4).enumerate() {
        let now = 1_000 + i as u64;
        let (op, payload) = match chunk.first() {
            Some(b'{') | None => (0, chunk),
            Some(&b) => (b % 4, &chunk[1..]),
        };
        shadow = match op {
            0 | 1 => check_update(&shadow, payload, now),
            2 => {
                match get(&shadow, payload, "label", now) {
                    Ok(doc) => {
                        assert!(shadow.exists());
                        let v = parse(&doc);
                        assert_eq!(v["version"], shadow.version);
                    }
                    Err(e) => check_error(&e, now),
                }
                shadow
            }
            _ => match delete(&shadow, payload, "label", now) {
                Ok(d) => {
                    assert!(shadow.exists());
                    assert_eq!(d.shadow.version, shadow.version);
                    assert!(!d.shadow.exists());
                    assert_eq!(parse(&d.accepted)["version"], shadow.version);
                    d.shadow
                }
                Err(e) => {
                    check_error(&e, now);
                    shadow
                }
            },
        };
    }
}

fn check_error(e: &kumo_shadow::ShadowError, now: u64) {
    assert!(CODES.contains(&e.code), "unexpected code {}", e.code);
    let doc = parse(&e.to_document(now));
    assert_eq!(doc["code"], e.code);
    if let Some(t) = &e.client_token {
        assert!(t.len() <= 64);
    }
}

fn check_update(before: &Shadow, payload: &[u8], now: u64) -> Shadow {
    let u = match update(before, payload, now) {
        Ok(u) => u,
        Err(e) => {
            check_error(&e, now);
            if e.code == 404 {
                panic!("an update never answers 404");
            }
            return before.clone();
        }
    };
    // 3. version + 1.
    assert_eq!(u.shadow.version, before.version + 1);
    let doc = u
        .shadow
        .document
        .as_ref()
        .expect("an update leaves a document");
    assert!(doc.state_size() <= MAX_STATE_BYTES);

    // 4. storage round trip (and invariants).
    let bytes = doc.to_bytes();
    assert_eq!(Document::from_bytes(&bytes).as_ref(), Ok(doc));

    // accepted echoes the request's state; documents agree.
    let request = parse(payload);
    let accepted = parse(&u.accepted);
    assert_eq!(accepted["state"], request["state"]);
    assert_eq!(accepted["version"], u.shadow.version);
    let documents = parse(&u.documents);
    assert_eq!(documents["current"]["state"], doc.state_json());
    assert_eq!(documents["current"]["metadata"], doc.metadata_json());
    assert_eq!(documents["current"]["version"], u.shadow.version);
    match &before.document {
        Some(old) => {
            assert_eq!(documents["previous"]["state"], old.state_json());
            assert_eq!(documents["previous"]["version"], before.version);
        }
        None => assert_eq!(documents["previous"], Value::Null),
    }

    // 1. the delta, three ways.
    let delta = doc.delta();
    let got = parse(&get(&u.shadow, b"", "label", now).expect("it exists"));
    match &delta {
        Some(d) => {
            assert!(!d.is_empty());
            assert_eq!(got["state"]["delta"], Value::Object(d.clone()));
            let published = parse(u.delta.as_ref().expect("a delta is published"));
            assert_eq!(published["state"], Value::Object(d.clone()));
            assert_eq!(published["version"], u.shadow.version);
        }
        None => {
            assert!(got["state"].get("delta").is_none());
            assert!(u.delta.is_none());
        }
    }

    // 2. reporting exactly the delta clears it.
    if let Some(d) = delta {
        let req = json!({"state": {"reported": d}}).to_string();
        match update(&u.shadow, req.as_bytes(), now) {
            Ok(synced) => {
                let synced_doc = synced.shadow.document.as_ref().unwrap();
                assert_eq!(synced_doc.delta(), None, "{req}");
                assert!(synced.delta.is_none());
            }
            Err(e) => assert_eq!(e.code, 413, "{req}: {e}"),
        }
    }
    u.shadow
}
