//! Reading and validating request payloads, in AWS's order and with its
//! messages.
//!
//! Update requests are checked in this order; the first failure wins:
//!
//! 1. not UTF-8 → 415;
//! 2. not JSON, or not a JSON object → 400 `Invalid JSON`;
//! 3. no `state` → 400 `Missing required node: state`;
//! 4. `state` neither object nor `null` → 400 `State node must be an object`;
//! 5. `desired` / `reported` neither object nor `null` → 400
//!    `Desired node must be an object` / `Reported node must be an object`;
//! 6. any other key under `state` → 400
//!    `State contains an invalid node: '<key>'`;
//! 7. `version` present but not a non-negative integer → 400 `Invalid version`;
//! 8. `clientToken` present but not a string of at most 64 bytes → 400
//!    `Invalid clientToken`;
//! 9. `desired` / `reported` nested deeper than [`MAX_DEPTH`] → 400
//!    `JSON contains too many levels of nesting; maximum is 6`;
//! 10. an array containing `null` at any depth → 400 `Invalid JSON`;
//! 11. the request's state larger than [`MAX_STATE_BYTES`] → 413.
//!
//! Top-level keys other than `state`, `version` and `clientToken` are ignored
//! (the C++ SDK sends `"timestamp"`; diagnosing-shadows.md: "JSON content …
//! outside of those sections is ignored").

use serde_json::{Map, Value};

use crate::error::*;

/// Longest `clientToken`, in bytes (device-shadow-document.md "Client
/// tokens": longer is 400 `Invalid clientToken`).
pub const MAX_CLIENT_TOKEN_BYTES: usize = 64;

/// Deepest nesting allowed inside `desired` or `reported`.
///
/// A *level* is a container (object or array): the section object itself is
/// level 1 and every object or array value nested in it adds one. Scalars add
/// nothing. So `{"desired":{"one":{"two":{"three":{"four":{"five":{}}}}}}}`
/// (six levels) is accepted and one more `{}` or `[]` inside `five` is
/// rejected.
///
/// Why: AWS's message says "maximum is 6"; the old AWS limits page
/// (awsdocs/aws-iot-docs `developerguide/limits-iot.md`, "Device Shadow
/// Limits") gives exactly that `one`…`five` example as the deepest allowed
/// ("the maximum number of levels in the desired or reported section … is 5",
/// counting the keys below the section); and today's quota, "Maximum depth of
/// JSON device state documents: 8", counts the same document from its root
/// (root, `state`, `desired`, `one`…`five`). AWS Greengrass ShadowManager
/// counts `state` as level 1, one level stricter; we follow the AWS pages.
pub const MAX_DEPTH: usize = 6;

/// Largest state, in bytes: desired plus reported, each measured as compact
/// JSON (no whitespace; metadata never counts). Applied to the request's
/// `state` (nulls included) and to the state that would be stored.
/// "8 KB" on the AWS limits pages; we take 8 KiB.
pub const MAX_STATE_BYTES: usize = 8 * 1024;

/// A validated update request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UpdateRequest {
    /// The `state` node as sent: an object with at most `desired` and
    /// `reported` (each an object or `null`), or `null`.
    pub state: Value,
    pub version: Option<u64>,
    pub client_token: Option<String>,
}

impl UpdateRequest {
    pub fn section(&self, name: &str) -> Option<&Value> {
        self.state.as_object().and_then(|s| s.get(name))
    }
}

fn parse_object(request: &[u8]) -> Result<Map<String, Value>, ShadowError> {
    let text = std::str::from_utf8(request).map_err(|_| ShadowError::not_utf8())?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        // A JSON array, string, number, boolean or null is not a request.
        // AWS's text for it is unverified; Greengrass ShadowManager answers
        // "Invalid JSON" (plus schema details) for any non-object payload.
        _ => Err(ShadowError::bad_request(MSG_INVALID_JSON, None)),
    }
}

/// The `clientToken` if it is valid: a string of at most 64 bytes.
fn valid_token(map: &Map<String, Value>) -> Option<String> {
    match map.get("clientToken") {
        Some(Value::String(s)) if s.len() <= MAX_CLIENT_TOKEN_BYTES => Some(s.clone()),
        _ => None,
    }
}

/// Whether the `clientToken`, if present, is invalid.
fn bad_token(map: &Map<String, Value>) -> bool {
    map.contains_key("clientToken") && valid_token(map).is_none()
}

/// Best effort: the request's `clientToken` when the payload is a JSON object
/// whose `clientToken` is a string of at most 64 bytes. For error documents
/// produced outside this crate (429, 401, 403, 500).
pub fn client_token(request: &[u8]) -> Option<String> {
    std::str::from_utf8(request)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| v.as_object().and_then(valid_token))
}

/// A get or delete request: empty (or whitespace only), or a JSON object
/// whose only meaningful key is an optional `clientToken`. Returns the token.
///
/// AWS says the body of `/delete` is ignored and `/get` takes an empty one
/// (device-shadow-mqtt.md), but the v2 SDKs send `{"clientToken":"…"}` on
/// both and match the echo, so the token is read and checked like an
/// update's.
pub(crate) fn parse_simple(request: &[u8]) -> Result<Option<String>, ShadowError> {
    if request.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let map = parse_object(request)?;
    if bad_token(&map) {
        return Err(ShadowError::bad_request(MSG_INVALID_CLIENT_TOKEN, None));
    }
    Ok(valid_token(&map))
}

pub(crate) fn parse_update(request: &[u8]) -> Result<UpdateRequest, ShadowError> {
    let map = parse_object(request)?;
    let token = valid_token(&map);
    let fail = |msg: &str| ShadowError::bad_request(msg, token.clone());

    let state = map.get("state").ok_or_else(|| fail(MSG_MISSING_STATE))?;
    match state {
        Value::Null => {}
        Value::Object(sections) => {
            for (name, msg) in [
                ("desired", MSG_DESIRED_NOT_OBJECT),
                ("reported", MSG_REPORTED_NOT_OBJECT),
            ] {
                if let Some(v) = sections.get(name) {
                    if !(v.is_object() || v.is_null()) {
                        return Err(fail(msg));
                    }
                }
            }
            if let Some(key) = sections
                .keys()
                .find(|k| k.as_str() != "desired" && k.as_str() != "reported")
            {
                // Captured from AWS (aws-greengrass-shadow-manager#178):
                // "State contains an invalid node: 'delta'". The docs' table
                // lists the message without the key.
                return Err(fail(&format!("State contains an invalid node: '{key}'")));
            }
        }
        _ => return Err(fail(MSG_STATE_NOT_OBJECT)),
    }

    let version = match map.get("version") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| fail(MSG_INVALID_VERSION))?),
    };
    if bad_token(&map) {
        return Err(ShadowError::bad_request(MSG_INVALID_CLIENT_TOKEN, None));
    }

    if let Value::Object(sections) = state {
        for section in sections.values() {
            if depth(section) > MAX_DEPTH {
                return Err(fail(MSG_TOO_DEEP));
            }
        }
        for section in sections.values() {
            if has_null_in_array(section, false) {
                return Err(fail(MSG_INVALID_JSON));
            }
        }
        let size = sections
            .values()
            .filter(|v| !v.is_null())
            .map(compact_len)
            .sum::<usize>();
        if size > MAX_STATE_BYTES {
            return Err(ShadowError::too_large(token));
        }
    }

    Ok(UpdateRequest {
        state: state.clone(),
        version,
        client_token: token,
    })
}

/// Nesting depth as [`MAX_DEPTH`] counts it: containers, the outermost
/// included; 0 for a scalar.
pub(crate) fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether a `null` sits anywhere inside an array (device-shadow-document.md:
/// "Arrays can't have null values … will be rejected"). Object nulls outside
/// arrays are deletions; inside an array nothing is merged, so a null there
/// could never mean anything and is refused at any depth.
///
/// The message AWS uses is unverified; `Invalid JSON` is our choice.
fn has_null_in_array(v: &Value, in_array: bool) -> bool {
    match v {
        Value::Null => in_array,
        Value::Object(m) => m.values().any(|c| has_null_in_array(c, in_array)),
        Value::Array(a) => a.iter().any(|c| has_null_in_array(c, true)),
        _ => false,
    }
}

/// Length of the compact JSON encoding.
pub(crate) fn compact_len(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    serde_json::to_writer(&mut c, v).expect("a Value always serializes");
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(req: &str) -> (u16, String, Option<String>) {
        let e = parse_update(req.as_bytes()).unwrap_err();
        (e.code, e.message, e.client_token)
    }

    fn nest(levels: usize) -> String {
        // `levels` containers: {"a":{"a":...{}}}
        let mut s = "{}".to_string();
        for _ in 1..levels {
            s = format!("{{\"a\":{s}}}");
        }
        s
    }

    #[test]
    fn validation_messages_in_order() {
        let t = Some("tok".to_string());
        let cases: &[(&[u8], u16, &str, Option<String>)] = &[
            (b"\xff\xfe{}", 415, MSG_NOT_UTF8, None),
            (b"", 400, MSG_INVALID_JSON, None),
            (b"{", 400, MSG_INVALID_JSON, None),
            (b"[]", 400, MSG_INVALID_JSON, None),
            (b"\"state\"", 400, MSG_INVALID_JSON, None),
            (b"null", 400, MSG_INVALID_JSON, None),
            (
                b"{\"clientToken\":\"tok\"}",
                400,
                MSG_MISSING_STATE,
                t.clone(),
            ),
            (
                b"{\"state\":1,\"clientToken\":\"tok\"}",
                400,
                MSG_STATE_NOT_OBJECT,
                t.clone(),
            ),
            (
                b"{\"state\":[],\"clientToken\":\"tok\"}",
                400,
                MSG_STATE_NOT_OBJECT,
                t.clone(),
            ),
            (
                b"{\"state\":{\"desired\":1}}",
                400,
                MSG_DESIRED_NOT_OBJECT,
                None,
            ),
            (
                b"{\"state\":{\"desired\":[]}}",
                400,
                MSG_DESIRED_NOT_OBJECT,
                None,
            ),
            (
                b"{\"state\":{\"reported\":\"x\"}}",
                400,
                MSG_REPORTED_NOT_OBJECT,
                None,
            ),
            (
                b"{\"state\":{\"desired\":1,\"reported\":1}}",
                400,
                MSG_DESIRED_NOT_OBJECT,
                None,
            ),
            // Type errors come before unknown keys.
            (
                b"{\"state\":{\"reported\":1,\"delta\":{}}}",
                400,
                MSG_REPORTED_NOT_OBJECT,
                None,
            ),
            (
                b"{\"state\":{\"delta\":{}},\"clientToken\":\"tok\"}",
                400,
                "State contains an invalid node: 'delta'",
                t.clone(),
            ),
            (
                b"{\"state\":{},\"version\":-1}",
                400,
                MSG_INVALID_VERSION,
                None,
            ),
            (
                b"{\"state\":{},\"version\":1.5}",
                400,
                MSG_INVALID_VERSION,
                None,
            ),
            (
                b"{\"state\":{},\"version\":1.0}",
                400,
                MSG_INVALID_VERSION,
                None,
            ),
            (
                b"{\"state\":{},\"version\":\"1\"}",
                400,
                MSG_INVALID_VERSION,
                None,
            ),
            (
                b"{\"state\":{},\"version\":null,\"clientToken\":\"tok\"}",
                400,
                MSG_INVALID_VERSION,
                t.clone(),
            ),
            // Version before token.
            (
                b"{\"state\":{},\"version\":\"x\",\"clientToken\":5}",
                400,
                MSG_INVALID_VERSION,
                None,
            ),
            (
                b"{\"state\":{},\"clientToken\":5}",
                400,
                MSG_INVALID_CLIENT_TOKEN,
                None,
            ),
            (
                b"{\"state\":{},\"clientToken\":null}",
                400,
                MSG_INVALID_CLIENT_TOKEN,
                None,
            ),
            (
                b"{\"state\":{\"desired\":{\"a\":[null]}},\"clientToken\":\"tok\"}",
                400,
                MSG_INVALID_JSON,
                t.clone(),
            ),
            (
                b"{\"state\":{\"reported\":{\"a\":[1,[2,null]]}}}",
                400,
                MSG_INVALID_JSON,
                None,
            ),
            (
                b"{\"state\":{\"reported\":{\"a\":[{\"b\":null}]}}}",
                400,
                MSG_INVALID_JSON,
                None,
            ),
        ];
        for (req, code, msg, token) in cases {
            let e = parse_update(req).unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str(), &e.client_token),
                (*code, *msg, token),
                "{}",
                String::from_utf8_lossy(req)
            );
        }
    }

    #[test]
    fn client_token_boundary() {
        let t64 = "x".repeat(64);
        let t65 = "x".repeat(65);
        let ok =
            parse_update(format!(r#"{{"state":{{}},"clientToken":"{t64}"}}"#).as_bytes()).unwrap();
        assert_eq!(ok.client_token.as_deref(), Some(t64.as_str()));
        assert_eq!(
            err(&format!(r#"{{"state":{{}},"clientToken":"{t65}"}}"#)),
            (400, MSG_INVALID_CLIENT_TOKEN.to_string(), None)
        );
        // Bytes, not characters: 32 two-byte characters is 64 bytes.
        let e32 = "é".repeat(32);
        let e33 = "é".repeat(33);
        assert!(
            parse_update(format!(r#"{{"state":{{}},"clientToken":"{e32}"}}"#).as_bytes()).is_ok()
        );
        assert_eq!(
            err(&format!(r#"{{"state":{{}},"clientToken":"{e33}"}}"#)).1,
            MSG_INVALID_CLIENT_TOKEN
        );
        assert_eq!(
            client_token(format!(r#"{{"clientToken":"{t64}"}}"#).as_bytes()),
            Some(t64)
        );
        assert_eq!(
            client_token(format!(r#"{{"clientToken":"{t65}"}}"#).as_bytes()),
            None
        );
        assert_eq!(client_token(b"{\"clientToken\":1}"), None);
        assert_eq!(client_token(b"\xff"), None);
        assert_eq!(client_token(b"not json"), None);
    }

    #[test]
    fn depth_boundary() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1]})), 2);
        let six = nest(6);
        let seven = nest(7);
        assert_eq!(depth(&serde_json::from_str(&six).unwrap()), 6);
        assert!(parse_update(format!(r#"{{"state":{{"desired":{six}}}}}"#).as_bytes()).is_ok());
        assert_eq!(
            err(&format!(
                r#"{{"state":{{"reported":{seven}}},"clientToken":"c"}}"#
            )),
            (400, MSG_TOO_DEEP.to_string(), Some("c".into()))
        );
        // The limits page's own example is the deepest accepted document.
        let aws = r#"{"state":{"desired":{"one":{"two":{"three":{"four":{"five":{}}}}}}}}"#;
        assert!(parse_update(aws.as_bytes()).is_ok());
        let scalar =
            r#"{"state":{"desired":{"one":{"two":{"three":{"four":{"five":{"six":1}}}}}}}}"#;
        assert!(parse_update(scalar.as_bytes()).is_ok());
        for deeper in [
            r#"{"state":{"desired":{"one":{"two":{"three":{"four":{"five":{"six":{}}}}}}}}}"#,
            r#"{"state":{"desired":{"one":{"two":{"three":{"four":{"five":[[]]}}}}}}}"#,
        ] {
            assert_eq!(err(deeper).1, MSG_TOO_DEEP, "{deeper}");
        }
        // Arrays count as levels.
        let arr = r#"{"state":{"desired":{"one":{"two":{"three":{"four":{"five":[1]}}}}}}}"#;
        assert!(parse_update(arr.as_bytes()).is_ok());
    }

    #[test]
    fn size_boundary() {
        // {"desired":{"k":"<n x>"}}: the section {"k":"…"} is n + 8 bytes.
        let at = |n: usize| format!(r#"{{"state":{{"desired":{{"k":"{}"}}}}}}"#, "x".repeat(n));
        assert!(parse_update(at(MAX_STATE_BYTES - 8).as_bytes()).is_ok());
        assert_eq!(err(&at(MAX_STATE_BYTES - 7)).0, 413);
        // Whitespace does not count.
        let spaced = format!(
            "{{ \"state\" : {{ \"desired\" : {{ \"k\" : \"{}\" }} }} }}",
            "x".repeat(MAX_STATE_BYTES - 8)
        );
        assert!(parse_update(spaced.as_bytes()).is_ok());
        // Desired and reported add up.
        let both = format!(
            r#"{{"state":{{"desired":{{"k":"{}"}},"reported":{{"k":"{}"}}}},"clientToken":"c"}}"#,
            "x".repeat(4096 - 8),
            "x".repeat(4096 - 7)
        );
        assert_eq!(
            err(&both),
            (413, MSG_TOO_LARGE.to_string(), Some("c".into()))
        );
    }

    #[test]
    fn accepted_shapes() {
        let r = parse_update(br#"{"state":null,"version":3,"clientToken":"","timestamp":0,"x":1}"#)
            .unwrap();
        assert_eq!(r.state, Value::Null);
        assert_eq!(r.version, Some(3));
        assert_eq!(r.client_token.as_deref(), Some(""));
        let r = parse_update(br#"{"state":{"desired":null,"reported":{}}}"#).unwrap();
        assert_eq!(r.section("desired"), Some(&Value::Null));
        assert_eq!(r.section("reported"), Some(&json!({})));
    }

    #[test]
    fn simple_requests() {
        assert_eq!(parse_simple(b""), Ok(None));
        assert_eq!(parse_simple(b" \r\n"), Ok(None));
        assert_eq!(parse_simple(b"{}"), Ok(None));
        assert_eq!(
            parse_simple(br#"{"clientToken":"a","state":1}"#),
            Ok(Some("a".into()))
        );
        assert_eq!(parse_simple(b"\xc3").unwrap_err().code, 415);
        assert_eq!(parse_simple(b"x").unwrap_err().message, MSG_INVALID_JSON);
        assert_eq!(parse_simple(b"[]").unwrap_err().message, MSG_INVALID_JSON);
        let long = format!(r#"{{"clientToken":"{}"}}"#, "x".repeat(65));
        assert_eq!(
            parse_simple(long.as_bytes()).unwrap_err(),
            ShadowError::bad_request(MSG_INVALID_CLIENT_TOKEN, None)
        );
    }
}
