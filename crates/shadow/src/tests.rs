//! Operation-level tests: get / update / delete together.

use serde_json::{json, Value};

use crate::*;

fn upd(shadow: &Shadow, req: Value, now: u64) -> Updated {
    update(shadow, req.to_string().as_bytes(), now).unwrap()
}

fn js(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn s(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[test]
fn create_get_delete_recreate() {
    let empty = Shadow::default();
    assert!(!empty.exists());
    assert_eq!(
        get(&empty, b"", "thing", 5).unwrap_err(),
        ShadowError::not_found("thing", None)
    );

    let u = upd(
        &empty,
        json!({"state": {"desired": {"a": 1}}, "clientToken": "c1"}),
        10,
    );
    assert_eq!(u.shadow.version, 1);
    assert!(u.shadow.exists());
    assert_eq!(
        s(&u.accepted),
        r#"{"state":{"desired":{"a":1}},"metadata":{"desired":{"a":{"timestamp":10}}},"version":1,"timestamp":10,"clientToken":"c1"}"#
    );
    assert_eq!(
        s(u.delta.as_ref().unwrap()),
        r#"{"version":1,"timestamp":10,"state":{"a":1},"metadata":{"a":{"timestamp":10}},"clientToken":"c1"}"#
    );
    assert_eq!(
        s(&u.documents),
        r#"{"previous":null,"current":{"state":{"desired":{"a":1}},"metadata":{"desired":{"a":{"timestamp":10}}},"version":1},"timestamp":10,"clientToken":"c1"}"#
    );

    assert_eq!(
        s(&get(&u.shadow, br#"{"clientToken":"g"}"#, "thing", 11).unwrap()),
        r#"{"state":{"desired":{"a":1},"delta":{"a":1}},"metadata":{"desired":{"a":{"timestamp":10}}},"version":1,"timestamp":11,"clientToken":"g"}"#
    );

    let d = delete(&u.shadow, b"", "thing", 12).unwrap();
    assert_eq!(s(&d.accepted), r#"{"version":1,"timestamp":12}"#);
    assert_eq!(
        d.shadow,
        Shadow {
            version: 1,
            document: None
        }
    );
    assert_eq!(get(&d.shadow, b"", "thing", 13).unwrap_err().code, 404);
    assert_eq!(
        delete(&d.shadow, br#"{"clientToken":"x"}"#, "thing", 13).unwrap_err(),
        ShadowError::not_found("thing", Some("x".into()))
    );

    // Recreated: numbering continues, previous is null.
    let r = upd(&d.shadow, json!({"state": {"reported": {"b": 2}}}), 14);
    assert_eq!(r.shadow.version, 2);
    assert_eq!(js(&r.documents)["previous"], Value::Null);
    assert_eq!(js(&r.documents)["current"]["version"], 2);
    assert_eq!(r.delta, None);
}

#[test]
fn version_rules() {
    let v0 = Shadow::default();
    // A never-existing shadow is at version 0.
    assert_eq!(
        update(&v0, br#"{"state":{},"version":1,"clientToken":"t"}"#, 1).unwrap_err(),
        ShadowError::version_conflict(Some("t".into()))
    );
    let v1 = update(&v0, br#"{"state":{},"version":0}"#, 1)
        .unwrap()
        .shadow;
    assert_eq!(v1.version, 1);
    // Must equal the current version.
    assert_eq!(
        update(&v1, br#"{"state":{},"version":0}"#, 2)
            .unwrap_err()
            .code,
        409
    );
    assert_eq!(
        update(&v1, br#"{"state":{},"version":2}"#, 2)
            .unwrap_err()
            .code,
        409
    );
    let v2 = update(&v1, br#"{"state":{},"version":1}"#, 2)
        .unwrap()
        .shadow;
    assert_eq!(v2.version, 2);
    // After a delete at 2, version 2 is current.
    let gone = delete(&v2, b"", "t", 3).unwrap().shadow;
    assert_eq!(
        update(&gone, br#"{"state":{},"version":3}"#, 4)
            .unwrap_err()
            .code,
        409
    );
    assert_eq!(
        update(&gone, br#"{"state":{},"version":2}"#, 4)
            .unwrap()
            .shadow
            .version,
        3
    );
    // Overflow is an internal failure, not a panic.
    let max = Shadow {
        version: u64::MAX,
        document: None,
    };
    assert_eq!(update(&max, br#"{"state":{}}"#, 1).unwrap_err().code, 500);
}

#[test]
fn state_null_and_section_null() {
    let a = upd(
        &Shadow::default(),
        json!({"state": {"desired": {"x": 1}, "reported": {"x": 2}}}),
        1,
    );
    let cleared = upd(&a.shadow, json!({"state": null, "clientToken": "z"}), 2);
    assert_eq!(
        s(&cleared.accepted),
        r#"{"state":null,"metadata":{"timestamp":2},"version":2,"timestamp":2,"clientToken":"z"}"#
    );
    assert!(cleared.shadow.exists());
    assert_eq!(cleared.delta, None);
    assert_eq!(
        s(&get(&cleared.shadow, b"", "t", 3).unwrap()),
        r#"{"state":{},"metadata":{},"version":2,"timestamp":3}"#
    );
    assert_eq!(
        js(&cleared.documents)["current"],
        json!({"state": {}, "metadata": {}, "version": 2})
    );

    let b = upd(&a.shadow, json!({"state": {"desired": null}}), 5);
    assert_eq!(
        s(&b.accepted),
        r#"{"state":{"desired":null},"metadata":{"desired":{"timestamp":5}},"version":2,"timestamp":5}"#
    );
    let doc = b.shadow.document.as_ref().unwrap();
    assert_eq!(doc.desired(), None);
    assert_eq!(doc.state_json(), json!({"reported": {"x": 2}}));
    assert_eq!(b.delta, None);
}

#[test]
fn last_key_removed_drops_section() {
    let a = upd(
        &Shadow::default(),
        json!({"state": {"desired": {"x": 1}, "reported": {"y": 1}}}),
        1,
    );
    let b = upd(&a.shadow, json!({"state": {"desired": {"x": null}}}), 2);
    assert_eq!(
        s(&get(&b.shadow, b"", "t", 3).unwrap()),
        r#"{"state":{"reported":{"y":1}},"metadata":{"reported":{"y":{"timestamp":1}}},"version":2,"timestamp":3}"#
    );
    // An empty update is accepted and still counts.
    let c = upd(&b.shadow, json!({"state": {}}), 4);
    assert_eq!(c.shadow.version, 3);
    assert_eq!(
        s(&c.accepted),
        r#"{"state":{},"metadata":{},"version":3,"timestamp":4}"#
    );
    assert_eq!(
        c.shadow.document.as_ref().unwrap().state_json(),
        json!({"reported": {"y": 1}})
    );
}

#[test]
fn delta_follows_every_update() {
    // A reported-only update that leaves desired ≠ reported publishes the
    // whole delta, including keys this update did not touch.
    let a = upd(
        &Shadow::default(),
        json!({"state": {"desired": {"p": 1, "q": 2}}}),
        1,
    );
    let b = upd(&a.shadow, json!({"state": {"reported": {"p": 1}}}), 2);
    assert_eq!(
        s(b.delta.as_ref().unwrap()),
        r#"{"version":2,"timestamp":2,"state":{"q":2},"metadata":{"q":{"timestamp":1}}}"#
    );
    let c = upd(&b.shadow, json!({"state": {"reported": {"q": 2}}}), 3);
    assert_eq!(c.delta, None);
    // Deleting a reported key brings it back into the delta.
    let d = upd(
        &c.shadow,
        json!({"state": {"reported": {"p": null}}, "clientToken": "k"}),
        4,
    );
    assert_eq!(
        s(d.delta.as_ref().unwrap()),
        r#"{"version":4,"timestamp":4,"state":{"p":1},"metadata":{"p":{"timestamp":1}},"clientToken":"k"}"#
    );
}

#[test]
fn nested_delta_and_metadata() {
    let a = upd(
        &Shadow::default(),
        json!({"state": {"desired": {"lights": {"color": {"r": 255, "g": 255, "b": 255}}, "arr": [1, 2]},
                         "reported": {"lights": {"color": {"r": 255, "g": 0, "b": 255}}, "arr": [1]}}}),
        7,
    );
    let doc = a.shadow.document.as_ref().unwrap();
    assert_eq!(
        Value::Object(doc.delta().unwrap()),
        json!({"lights": {"color": {"g": 255}}, "arr": [1, 2]})
    );
    assert_eq!(
        js(a.delta.as_ref().unwrap())["metadata"],
        json!({"arr": [{"timestamp": 7}, {"timestamp": 7}], "lights": {"color": {"g": {"timestamp": 7}}}})
    );
    // Touching one nested leaf only re-stamps that leaf.
    let b = upd(
        &a.shadow,
        json!({"state": {"desired": {"lights": {"color": {"r": 1}}}}}),
        8,
    );
    assert_eq!(
        b.shadow
            .document
            .as_ref()
            .unwrap()
            .desired_metadata()
            .unwrap()["lights"],
        json!({"color": {"r": {"timestamp": 8}, "g": {"timestamp": 7}, "b": {"timestamp": 7}}})
    );
    assert_eq!(
        s(&b.accepted),
        r#"{"state":{"desired":{"lights":{"color":{"r":1}}}},"metadata":{"desired":{"lights":{"color":{"r":{"timestamp":8}}}}},"version":2,"timestamp":8}"#
    );
}

#[test]
fn resulting_state_size_limit() {
    // Each half fits alone; together the stored state is too big.
    let half = "x".repeat(MAX_STATE_BYTES / 2);
    let a = upd(
        &Shadow::default(),
        json!({"state": {"desired": {"a": half}}}),
        1,
    );
    let err = update(
        &a.shadow,
        json!({"state": {"reported": {"b": half}}, "clientToken": "big"})
            .to_string()
            .as_bytes(),
        2,
    )
    .unwrap_err();
    assert_eq!(err, ShadowError::too_large(Some("big".into())));
    // Exactly at the limit is accepted: {"a":"…"} is len+8 bytes.
    let fit = "x".repeat(MAX_STATE_BYTES - MAX_STATE_BYTES / 2 - 8 - 8);
    let b = upd(&a.shadow, json!({"state": {"reported": {"b": fit}}}), 2);
    assert_eq!(
        b.shadow.document.as_ref().unwrap().state_size(),
        MAX_STATE_BYTES
    );
    // Shrinking an oversized request by deletion is measured after merge.
    let c = upd(&b.shadow, json!({"state": {"reported": {"b": null}}}), 3);
    assert!(c.shadow.document.as_ref().unwrap().reported().is_none());
}

#[test]
fn errors_echo_token_and_leave_shadow_alone() {
    let a = upd(
        &Shadow::default(),
        json!({"state": {"desired": {"a": 1}}}),
        1,
    );
    let cases: &[(&[u8], u16, Option<&str>)] = &[
        (b"\xff", 415, None),
        (b"nope", 400, None),
        (br#"{"clientToken":"t"}"#, 400, Some("t")),
        (
            br#"{"state":{"desired":{"a":[null]}},"clientToken":"t"}"#,
            400,
            Some("t"),
        ),
        (
            br#"{"state":{},"version":9,"clientToken":"t"}"#,
            409,
            Some("t"),
        ),
    ];
    for (req, code, token) in cases {
        let e = update(&a.shadow, req, 2).unwrap_err();
        assert_eq!((e.code, e.client_token.as_deref()), (*code, *token));
    }
    assert_eq!(
        get(&a.shadow, b"[1]", "t", 2).unwrap_err().message,
        MSG_INVALID_JSON
    );
    assert_eq!(delete(&a.shadow, b"\xff", "t", 2).unwrap_err().code, 415);
    assert_eq!(
        get(&Shadow::default(), br#"{"clientToken":"abc"}"#, "named", 2)
            .unwrap_err()
            .to_document(2),
        br#"{"code":404,"message":"No shadow exists with name: 'named'","clientToken":"abc"}"#
    );
}

#[test]
fn documents_previous_current() {
    let a = upd(
        &Shadow::default(),
        json!({"state": {"reported": {"x": 1}}}),
        1,
    );
    let b = upd(
        &a.shadow,
        json!({"state": {"desired": {"x": 2}}, "clientToken": "c"}),
        2,
    );
    assert_eq!(
        s(&b.documents),
        r#"{"previous":{"state":{"reported":{"x":1}},"metadata":{"reported":{"x":{"timestamp":1}}},"version":1},"current":{"state":{"desired":{"x":2},"reported":{"x":1}},"metadata":{"desired":{"x":{"timestamp":2}},"reported":{"x":{"timestamp":1}}},"version":2},"timestamp":2,"clientToken":"c"}"#
    );
}
