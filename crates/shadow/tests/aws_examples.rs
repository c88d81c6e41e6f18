//! AWS's own examples, request by request, with the exact answers.
//!
//! Two kinds of source:
//!
//! - **Captured**: payloads AWS IoT Core actually sent, quoted in public
//!   repositories. The walkthrough in aws-iot-device-sdk-js-v2
//!   `samples/node/shadow/README.md` (a classic shadow driven through the
//!   v2 SDK, July 2024) and the `{"state": null}` answer in getmoto/moto#9237.
//!   These are compared byte for byte.
//! - **Documented**: the examples in awsdocs/aws-iot-docs
//!   `developerguide/device-shadow-document.md`, `device-shadow-data-flow.md`
//!   and `device-shadow-mqtt.md`. These show state, not full payloads, and are
//!   compared as JSON values.

use kumo_shadow::{delete, get, update, Shadow, ShadowError, Updated};
use serde_json::{json, Value};

fn upd(shadow: &Shadow, req: &str, now: u64) -> Updated {
    update(shadow, req.as_bytes(), now).unwrap_or_else(|e| panic!("{req}: {e}"))
}

fn s(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

fn js(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

/// The js-v2 shadow sample, every captured message that one `now` per update
/// can reproduce. (The sample's `update-desired {"Color":"green"}` answer has
/// metadata at …311 and timestamp …312, one second apart; a sans-I/O update
/// has one `now`, so that one message is not replayed. Versions between the
/// captured steps are filled with updates that leave no trace.)
#[test]
fn js_v2_shadow_sample_walkthrough() {
    // "If your thing does not have any shadow state, you'll get a
    // ResourceNotFound error" (classic shadow: the thing name, quoted).
    let none = Shadow::default();
    let err = get(
        &none,
        br#"{"clientToken":"<Some UUID>"}"#,
        "<YourThingName>",
        1719853600,
    )
    .unwrap_err();
    assert_eq!(
        s(&err.to_document(1719853600)),
        r#"{"code":404,"message":"No shadow exists with name: '<YourThingName>'","clientToken":"<Some UUID>"}"#
    );

    // update-reported {"Color":"green"}: the shadow is created.
    let v1 = upd(
        &none,
        r#"{"state":{"reported":{"Color":"green"}},"clientToken":"2e073dae-7c50-458f-a495-c16fae14a406"}"#,
        1719853620,
    );
    assert_eq!(
        s(&v1.accepted),
        r#"{"state":{"reported":{"Color":"green"}},"metadata":{"reported":{"Color":{"timestamp":1719853620}}},"version":1,"timestamp":1719853620,"clientToken":"2e073dae-7c50-458f-a495-c16fae14a406"}"#
    );
    assert_eq!(
        s(&v1.documents),
        r#"{"previous":null,"current":{"state":{"reported":{"Color":"green"}},"metadata":{"reported":{"Color":{"timestamp":1719853620}}},"version":1},"timestamp":1719853620,"clientToken":"2e073dae-7c50-458f-a495-c16fae14a406"}"#
    );
    assert_eq!(v1.delta, None);

    // Filler to reach the sample's version 4: desired green at …311.
    let v2 = upd(
        &v1.shadow,
        r#"{"state":{"desired":{"Color":"blue"}}}"#,
        1719854000,
    );
    let v3 = upd(
        &v2.shadow,
        r#"{"state":{"desired":{"Color":"blue"}}}"#,
        1719855000,
    );
    let v4 = upd(
        &v3.shadow,
        r#"{"state":{"desired":{"Color":"green"}}}"#,
        1719855311,
    );
    assert_eq!(v4.delta, None);

    // update-desired {"Color":"red"}: accepted, documents and a delta.
    let v5 = upd(
        &v4.shadow,
        r#"{"state":{"desired":{"Color":"red"}},"clientToken":"79737dba-2252-406e-9204-3dec049eebce"}"#,
        1719855498,
    );
    assert_eq!(
        s(&v5.accepted),
        r#"{"state":{"desired":{"Color":"red"}},"metadata":{"desired":{"Color":{"timestamp":1719855498}}},"version":5,"timestamp":1719855498,"clientToken":"79737dba-2252-406e-9204-3dec049eebce"}"#
    );
    assert_eq!(
        s(&v5.documents),
        r#"{"previous":{"state":{"desired":{"Color":"green"},"reported":{"Color":"green"}},"metadata":{"desired":{"Color":{"timestamp":1719855311}},"reported":{"Color":{"timestamp":1719853620}}},"version":4},"current":{"state":{"desired":{"Color":"red"},"reported":{"Color":"green"}},"metadata":{"desired":{"Color":{"timestamp":1719855498}},"reported":{"Color":{"timestamp":1719853620}}},"version":5},"timestamp":1719855498,"clientToken":"79737dba-2252-406e-9204-3dec049eebce"}"#
    );
    assert_eq!(
        s(v5.delta.as_ref().unwrap()),
        r#"{"version":5,"timestamp":1719855498,"state":{"Color":"red"},"metadata":{"Color":{"timestamp":1719855498}},"clientToken":"79737dba-2252-406e-9204-3dec049eebce"}"#
    );

    // update-reported {"Color":"red"}: back in sync, "no ShadowDeltaUpdated
    // event is generated".
    let v6 = upd(
        &v5.shadow,
        r#"{"state":{"reported":{"Color":"red"}},"clientToken":"1317558e-0f69-40d7-8bdd-d3301a1cd6f7"}"#,
        1719856038,
    );
    assert_eq!(
        s(&v6.accepted),
        r#"{"state":{"reported":{"Color":"red"}},"metadata":{"reported":{"Color":{"timestamp":1719856038}}},"version":6,"timestamp":1719856038,"clientToken":"1317558e-0f69-40d7-8bdd-d3301a1cd6f7"}"#
    );
    assert_eq!(
        s(&v6.documents),
        r#"{"previous":{"state":{"desired":{"Color":"red"},"reported":{"Color":"green"}},"metadata":{"desired":{"Color":{"timestamp":1719855498}},"reported":{"Color":{"timestamp":1719853620}}},"version":5},"current":{"state":{"desired":{"Color":"red"},"reported":{"Color":"red"}},"metadata":{"desired":{"Color":{"timestamp":1719855498}},"reported":{"Color":{"timestamp":1719856038}}},"version":6},"timestamp":1719856038,"clientToken":"1317558e-0f69-40d7-8bdd-d3301a1cd6f7"}"#
    );
    assert_eq!(v6.delta, None);

    // A second property, in sync ("output omitted" in the sample).
    let v7 = upd(
        &v6.shadow,
        r#"{"state":{"reported":{"Status":"Great"}}}"#,
        1719856694,
    );
    let v8 = upd(
        &v7.shadow,
        r#"{"state":{"desired":{"Status":"Great"}}}"#,
        1719856710,
    );
    assert_eq!(
        s(&get(
            &v8.shadow,
            br#"{"clientToken":"e6e3123c-5526-404f-8006-a8cc44da0f23"}"#,
            "t",
            1719856723
        )
        .unwrap()),
        r#"{"state":{"desired":{"Color":"red","Status":"Great"},"reported":{"Color":"red","Status":"Great"}},"metadata":{"desired":{"Color":{"timestamp":1719855498},"Status":{"timestamp":1719856710}},"reported":{"Color":{"timestamp":1719856038},"Status":{"timestamp":1719856694}}},"version":8,"timestamp":1719856723,"clientToken":"e6e3123c-5526-404f-8006-a8cc44da0f23"}"#
    );

    // update-reported {"Status":"Awful"}: a reported-only update that leaves
    // the shadow out of sync publishes a delta, with desired's metadata.
    let v9 = upd(
        &v8.shadow,
        r#"{"state":{"reported":{"Status":"Awful"}},"clientToken":"05ed8956-4958-4fcc-bdd8-e454182c3a45"}"#,
        1719857563,
    );
    assert_eq!(
        s(&v9.accepted),
        r#"{"state":{"reported":{"Status":"Awful"}},"metadata":{"reported":{"Status":{"timestamp":1719857563}}},"version":9,"timestamp":1719857563,"clientToken":"05ed8956-4958-4fcc-bdd8-e454182c3a45"}"#
    );
    assert_eq!(
        s(&v9.documents),
        r#"{"previous":{"state":{"desired":{"Color":"red","Status":"Great"},"reported":{"Color":"red","Status":"Great"}},"metadata":{"desired":{"Color":{"timestamp":1719855498},"Status":{"timestamp":1719856710}},"reported":{"Color":{"timestamp":1719856038},"Status":{"timestamp":1719856694}}},"version":8},"current":{"state":{"desired":{"Color":"red","Status":"Great"},"reported":{"Color":"red","Status":"Awful"}},"metadata":{"desired":{"Color":{"timestamp":1719855498},"Status":{"timestamp":1719856710}},"reported":{"Color":{"timestamp":1719856038},"Status":{"timestamp":1719857563}}},"version":9},"timestamp":1719857563,"clientToken":"05ed8956-4958-4fcc-bdd8-e454182c3a45"}"#
    );
    assert_eq!(
        s(v9.delta.as_ref().unwrap()),
        r#"{"version":9,"timestamp":1719857563,"state":{"Status":"Great"},"metadata":{"Status":{"timestamp":1719856710}},"clientToken":"05ed8956-4958-4fcc-bdd8-e454182c3a45"}"#
    );

    // Removing the property from both sides ("output omitted").
    let v10 = upd(
        &v9.shadow,
        r#"{"state":{"reported":{"Status":null}}}"#,
        1719858000,
    );
    let v11 = upd(
        &v10.shadow,
        r#"{"state":{"desired":{"Status":null}}}"#,
        1719858100,
    );
    assert_eq!(
        s(&get(
            &v11.shadow,
            br#"{"clientToken":"72f05b90-b0a2-4ff5-8b1f-1931f7c39b9a"}"#,
            "t",
            1719858143
        )
        .unwrap()),
        r#"{"state":{"desired":{"Color":"red"},"reported":{"Color":"red"}},"metadata":{"desired":{"Color":{"timestamp":1719855498}},"reported":{"Color":{"timestamp":1719856038}}},"version":11,"timestamp":1719858143,"clientToken":"72f05b90-b0a2-4ff5-8b1f-1931f7c39b9a"}"#
    );
    // Between v10's reported delete and v11's desired delete, Status was
    // desired but not reported: it reappeared in the delta.
    assert_eq!(
        js(v10.delta.as_ref().unwrap())["state"],
        json!({"Status": "Great"})
    );
    assert_eq!(v11.delta, None);

    // delete: the sample's answer has the same shape (its version 13 follows
    // steps it does not show).
    let gone = delete(
        &v11.shadow,
        br#"{"clientToken":"14e3c6d4-8544-4828-8e51-4abeb9058206"}"#,
        "t",
        1719858420,
    )
    .unwrap();
    assert_eq!(
        s(&gone.accepted),
        r#"{"version":11,"timestamp":1719858420,"clientToken":"14e3c6d4-8544-4828-8e51-4abeb9058206"}"#
    );
}

/// `{"state": null}` over HTTP, captured in getmoto/moto#9237.
#[test]
fn state_null_captured() {
    let mut shadow = Shadow::default();
    for t in 0..17 {
        shadow = upd(&shadow, r#"{"state":{"reported":{"a":1}}}"#, 1756450000 + t).shadow;
    }
    assert_eq!(shadow.version, 17);
    let cleared = upd(&shadow, r#"{"state": null}"#, 1756452769);
    assert_eq!(
        s(&cleared.accepted),
        r#"{"state":null,"metadata":{"timestamp":1756452769},"version":18,"timestamp":1756452769}"#
    );
    assert!(cleared.shadow.exists());
}

/// device-shadow-data-flow.md, "Optimistic locking": a document at version
/// 10, an update with version 9 is rejected, one with version 10 accepted.
#[test]
fn optimistic_locking() {
    // Version 9 deleted: the next update makes version 10.
    let deleted = Shadow {
        version: 9,
        document: None,
    };
    let v10 = upd(
        &deleted,
        r#"{"state":{"desired":{"colors":["RED","GREEN","BLUE"]}}}"#,
        100,
    );
    assert_eq!(v10.shadow.version, 10);

    let stale = r#"{"state":{"desired":{"colors":["BLUE"]}},"version":9,"clientToken":"426bfd96-e720-46d3-95cd-014e3ef12bb6"}"#;
    let err = update(&v10.shadow, stale.as_bytes(), 101).unwrap_err();
    assert_eq!(
        s(&err.to_document(101)),
        r#"{"code":409,"message":"Version conflict","clientToken":"426bfd96-e720-46d3-95cd-014e3ef12bb6"}"#
    );

    let v11 = upd(
        &v10.shadow,
        r#"{"state":{"desired":{"colors":["BLUE"]}},"version":10}"#,
        102,
    );
    let got = js(&get(&v11.shadow, b"", "t", 103).unwrap());
    assert_eq!(
        got["state"],
        json!({"desired": {"colors": ["BLUE"]}, "delta": {"colors": ["BLUE"]}})
    );
    assert_eq!(got["version"], 11);
}

/// device-shadow-data-flow.md, "Updating a shadow": desired from the app,
/// reported from the device; then a property deleted with null.
#[test]
fn data_flow_update_report_delete_property() {
    let app = upd(
        &Shadow::default(),
        r#"{"state":{"desired":{"color":{"r":10},"engine":"ON"}}}"#,
        1,
    );
    assert_eq!(
        js(app.delta.as_ref().unwrap())["state"],
        json!({"color": {"r": 10}, "engine": "ON"})
    );
    let device = upd(
        &app.shadow,
        r#"{"state":{"reported":{"color":{"r":10},"engine":"ON"}}}"#,
        2,
    );
    assert_eq!(device.delta, None);
    let del = upd(
        &device.shadow,
        r#"{"state":{"desired":{"engine":null}}}"#,
        3,
    );
    let doc = del.shadow.document.as_ref().unwrap();
    assert_eq!(
        doc.state_json(),
        json!({"desired": {"color": {"r": 10}}, "reported": {"color": {"r": 10}, "engine": "ON"}})
    );
    assert_eq!(
        doc.metadata_json()["desired"],
        json!({"color": {"r": {"timestamp": 1}}})
    );
    // Keys only in reported never make a delta.
    assert_eq!(del.delta, None);

    // The older guide's example: reported {r:255,g:255,b:0}, then desired
    // {color:{r:10}, engine:ON}: the delta is exactly the desired change.
    let init = upd(
        &Shadow::default(),
        r#"{"state":{"reported":{"color":{"r":255,"g":255,"b":0}}}}"#,
        1,
    );
    let want = upd(
        &init.shadow,
        r#"{"state":{"desired":{"color":{"r":10},"engine":"ON"}}}"#,
        2,
    );
    assert_eq!(
        js(want.delta.as_ref().unwrap())["state"],
        json!({"color": {"r": 10}, "engine": "ON"})
    );
}

/// device-shadow-document.md, "Delta state": flat and nested examples.
#[test]
fn documented_deltas() {
    let flat = upd(
        &Shadow::default(),
        r#"{"state":{"desired":{"color":"RED","state":"STOP"},"reported":{"color":"GREEN","engine":"ON"}}}"#,
        12345,
    );
    let got = js(&get(&flat.shadow, b"", "t", 123456789).unwrap());
    assert_eq!(
        got["state"],
        json!({"desired": {"color": "RED", "state": "STOP"}, "reported": {"color": "GREEN", "engine": "ON"},
               "delta": {"color": "RED", "state": "STOP"}})
    );
    assert_eq!(
        js(flat.delta.as_ref().unwrap())["metadata"],
        json!({"color": {"timestamp": 12345}, "state": {"timestamp": 12345}})
    );
    // metadata has desired and reported, no delta.
    assert_eq!(
        got["metadata"],
        json!({"desired": {"color": {"timestamp": 12345}, "state": {"timestamp": 12345}},
               "reported": {"color": {"timestamp": 12345}, "engine": {"timestamp": 12345}}})
    );

    let nested = upd(
        &Shadow::default(),
        r#"{"state":{"desired":{"lights":{"color":{"r":255,"g":255,"b":255}}},"reported":{"lights":{"color":{"r":255,"g":0,"b":255}}}}}"#,
        1,
    );
    assert_eq!(
        js(&get(&nested.shadow, b"", "t", 2).unwrap())["state"]["delta"],
        json!({"lights": {"color": {"g": 255}}})
    );
}

/// device-shadow-document.md, "Example document" and "Empty shadow document
/// properties".
#[test]
fn documented_sections() {
    let example = upd(
        &Shadow::default(),
        r#"{"state":{"desired":{"color":"RED","sequence":["RED","GREEN","BLUE"]},"reported":{"color":"GREEN"}},"clientToken":"UniqueClientToken"}"#,
        12345,
    );
    assert_eq!(
        js(&get(
            &example.shadow,
            br#"{"clientToken":"UniqueClientToken"}"#,
            "t",
            123456789
        )
        .unwrap()),
        json!({
            "state": {"desired": {"color": "RED", "sequence": ["RED", "GREEN", "BLUE"]},
                      "reported": {"color": "GREEN"},
                      "delta": {"color": "RED", "sequence": ["RED", "GREEN", "BLUE"]}},
            "metadata": {"desired": {"color": {"timestamp": 12345},
                                     "sequence": [{"timestamp": 12345}, {"timestamp": 12345}, {"timestamp": 12345}]},
                         "reported": {"color": {"timestamp": 12345}}},
            "version": 1, "clientToken": "UniqueClientToken", "timestamp": 123456789
        })
    );

    // "To remove the desired property … set it to null."
    let removed = upd(
        &example.shadow,
        r#"{"state":{"reported":{"color":"red"},"desired":null}}"#,
        20000,
    );
    let doc = removed.shadow.document.as_ref().unwrap();
    assert_eq!(doc.state_json(), json!({"reported": {"color": "red"}}));
    assert_eq!(removed.delta, None);
    // "A shadow document can also have neither … properties": {} is valid.
    let empty = upd(&removed.shadow, r#"{"state":{"reported":null}}"#, 20001);
    assert_eq!(
        js(&get(&empty.shadow, b"", "t", 1).unwrap())["state"],
        json!({})
    );
}

/// device-shadow-document.md, "Array values in shadow documents".
#[test]
fn documented_arrays() {
    let init = upd(
        &Shadow::default(),
        r#"{"state":{"desired":{"colors":["RED","GREEN","BLUE"]}}}"#,
        1,
    );
    let after = upd(
        &init.shadow,
        r#"{"state":{"desired":{"colors":["RED"]}}}"#,
        2,
    );
    assert_eq!(
        after.shadow.document.as_ref().unwrap().state_json(),
        json!({"desired": {"colors": ["RED"]}})
    );
    assert_eq!(
        after.shadow.document.as_ref().unwrap().metadata_json(),
        json!({"desired": {"colors": [{"timestamp": 2}]}})
    );
    let err = update(
        &after.shadow,
        br#"{"state":{"desired":{"colors":[null,"RED","GREEN"]}}}"#,
        3,
    )
    .unwrap_err();
    assert_eq!((err.code, err.message.as_str()), (400, "Invalid JSON"));
}

/// device-shadow-document.md: "A client token that is longer than 64 bytes
/// causes a 400 (Bad Request) response and an Invalid clientToken error
/// message."
#[test]
fn documented_client_token_limit() {
    let ok = format!(r#"{{"state":{{}},"clientToken":"{}"}}"#, "a".repeat(64));
    assert!(update(&Shadow::default(), ok.as_bytes(), 1).is_ok());
    let long = format!(r#"{{"state":{{}},"clientToken":"{}"}}"#, "a".repeat(65));
    assert_eq!(
        update(&Shadow::default(), long.as_bytes(), 1).unwrap_err(),
        ShadowError::bad_request("Invalid clientToken", None)
    );
}

/// device-shadow-data-flow.md, "Deleting a shadow": the accepted message
/// `{"version": 4, "timestamp": 1591057529}`, and numbering continues.
#[test]
fn documented_delete() {
    let mut shadow = Shadow::default();
    for t in 1..=4 {
        shadow = upd(&shadow, r#"{"state":{"reported":{"x":1}}}"#, t).shadow;
    }
    let gone = delete(&shadow, b"", "t", 1591057529).unwrap();
    assert_eq!(s(&gone.accepted), r#"{"version":4,"timestamp":1591057529}"#);
    assert_eq!(
        upd(
            &gone.shadow,
            r#"{"state":{"reported":{"x":1}}}"#,
            1591057530
        )
        .shadow
        .version,
        5
    );
}

/// A named shadow's 404 names the shadow, as in the reference's captured
/// `"No shadow exists with name: 'Limits'"`.
#[test]
fn named_404() {
    let err = get(&Shadow::default(), br#"{"clientToken":"c"}"#, "Limits", 9).unwrap_err();
    assert_eq!(
        s(&err.to_document(9)),
        r#"{"code":404,"message":"No shadow exists with name: 'Limits'","clientToken":"c"}"#
    );
    assert_eq!(err.aws_type(), "ResourceNotFoundException");
}

/// aws-greengrass-shadow-manager#178 quotes IoT Core's answer to a `delta`
/// node in an update: "State contains an invalid node: 'delta'".
#[test]
fn invalid_node_captured() {
    let err = update(
        &Shadow::default(),
        br#"{"state":{"reported":{"a":1},"delta":{"a":1}}}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "State contains an invalid node: 'delta'")
    );
    assert_eq!(err.aws_type(), "InvalidRequestException");
}
