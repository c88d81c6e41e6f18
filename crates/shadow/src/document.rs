//! One stored shadow document: `desired`, `reported`, their metadata and the
//! time of the last update; and its storage encoding.

use serde_json::{Map, Value};

use crate::delta;
use crate::merge;
use crate::request::compact_len;

/// One state section (`desired` or `reported`) with the metadata mirroring
/// it. Never empty: a section that would be empty is absent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Section {
    pub state: Map<String, Value>,
    pub meta: Map<String, Value>,
}

impl Section {
    /// Applies an update's section (`null` or an object) to an optional
    /// stored section.
    pub(crate) fn apply(current: Option<&Section>, patch: &Value, now: u64) -> Option<Section> {
        let Value::Object(patch) = patch else {
            return None; // `"desired": null` removes the section.
        };
        let mut sec = current.cloned().unwrap_or(Section {
            state: Map::new(),
            meta: Map::new(),
        });
        merge::merge_object(&mut sec.state, &mut sec.meta, patch, now);
        (!sec.state.is_empty()).then_some(sec)
    }
}

/// A shadow's current document, as stored.
///
/// Invariants, checked by [`from_bytes`](Self::from_bytes): a section is
/// absent rather than empty; a stored state holds no `null` and no `{}`
/// outside arrays; metadata mirrors the state exactly (see the `merge`
/// module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub(crate) desired: Option<Section>,
    pub(crate) reported: Option<Section>,
    /// Epoch seconds of the last accepted update.
    pub(crate) timestamp: u64,
}

/// Why stored bytes are not a [`Document`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stored shadow document: {0}")]
pub struct DocumentError(pub String);

fn section_json(
    desired: Option<&Map<String, Value>>,
    reported: Option<&Map<String, Value>>,
) -> Value {
    let mut m = Map::new();
    if let Some(d) = desired {
        m.insert("desired".into(), Value::Object(d.clone()));
    }
    if let Some(r) = reported {
        m.insert("reported".into(), Value::Object(r.clone()));
    }
    Value::Object(m)
}

impl Document {
    /// The desired state, if any.
    pub fn desired(&self) -> Option<&Map<String, Value>> {
        self.desired.as_ref().map(|s| &s.state)
    }

    /// The reported state, if any.
    pub fn reported(&self) -> Option<&Map<String, Value>> {
        self.reported.as_ref().map(|s| &s.state)
    }

    /// The metadata of the desired state, if any.
    pub fn desired_metadata(&self) -> Option<&Map<String, Value>> {
        self.desired.as_ref().map(|s| &s.meta)
    }

    /// The metadata of the reported state, if any.
    pub fn reported_metadata(&self) -> Option<&Map<String, Value>> {
        self.reported.as_ref().map(|s| &s.meta)
    }

    /// Epoch seconds of the last accepted update.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `{"desired":…,"reported":…}`, sections omitted when absent.
    pub fn state_json(&self) -> Value {
        section_json(self.desired(), self.reported())
    }

    /// `{"desired":…,"reported":…}` of metadata, sections omitted when absent.
    pub fn metadata_json(&self) -> Value {
        section_json(self.desired_metadata(), self.reported_metadata())
    }

    /// The delta (`state.delta` of a get, `state` of `/update/delta`), or
    /// `None` when desired and reported agree. See the `delta` module docs.
    pub fn delta(&self) -> Option<Map<String, Value>> {
        self.delta_with_metadata().map(|(s, _)| s)
    }

    /// The delta and the desired metadata of its paths.
    pub fn delta_with_metadata(&self) -> Option<(Map<String, Value>, Map<String, Value>)> {
        let desired = self.desired.as_ref()?;
        let (s, m) = delta::delta(&desired.state, &desired.meta, self.reported());
        (!s.is_empty()).then_some((s, m))
    }

    /// The size the 8 KiB limit applies to: compact JSON of desired plus
    /// compact JSON of reported; metadata does not count.
    pub fn state_size(&self) -> usize {
        [self.desired(), self.reported()]
            .into_iter()
            .flatten()
            .map(|m| compact_len(&Value::Object(m.clone())))
            .sum()
    }

    /// Storage encoding: `{"state":{…},"metadata":{…},"timestamp":T}` as
    /// compact JSON. [`from_bytes`](Self::from_bytes) gives back an equal
    /// document.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("state".into(), self.state_json());
        m.insert("metadata".into(), self.metadata_json());
        m.insert("timestamp".into(), Value::from(self.timestamp));
        serde_json::to_vec(&Value::Object(m)).expect("a Value always serializes")
    }

    /// Decodes [`to_bytes`](Self::to_bytes) output, checking every invariant.
    pub fn from_bytes(b: &[u8]) -> Result<Document, DocumentError> {
        let err = |s: &str| DocumentError(s.to_string());
        let v: Value = serde_json::from_slice(b).map_err(|e| DocumentError(e.to_string()))?;
        let top = v.as_object().ok_or_else(|| err("not an object"))?;
        let state = top
            .get("state")
            .and_then(Value::as_object)
            .ok_or_else(|| err("`state` is not an object"))?;
        let meta = top
            .get("metadata")
            .and_then(Value::as_object)
            .ok_or_else(|| err("`metadata` is not an object"))?;
        let timestamp = top
            .get("timestamp")
            .and_then(Value::as_u64)
            .ok_or_else(|| err("`timestamp` is not an unsigned integer"))?;
        if top.len() != 3
            || state
                .keys()
                .chain(meta.keys())
                .any(|k| k != "desired" && k != "reported")
        {
            return Err(err("unexpected key"));
        }
        let section = |name: &str| -> Result<Option<Section>, DocumentError> {
            match (state.get(name), meta.get(name)) {
                (None, None) => Ok(None),
                (Some(Value::Object(s)), Some(Value::Object(m))) => {
                    if s.is_empty() {
                        return Err(err("empty section"));
                    }
                    check_object(s, m).map_err(|e| DocumentError(format!("{name}{e}")))?;
                    Ok(Some(Section {
                        state: s.clone(),
                        meta: m.clone(),
                    }))
                }
                _ => Err(DocumentError(format!(
                    "`{name}` state and metadata disagree"
                ))),
            }
        };
        Ok(Document {
            desired: section("desired")?,
            reported: section("reported")?,
            timestamp,
        })
    }
}

/// Checks that `meta` mirrors `state` and that `state` holds no `null` and no
/// `{}` outside arrays. The error is a path suffix like `.a[2]: …`.
fn check_object(state: &Map<String, Value>, meta: &Map<String, Value>) -> Result<(), String> {
    if state.len() != meta.len() {
        return Err(": metadata keys differ".into());
    }
    for (k, v) in state {
        let m = meta.get(k).ok_or_else(|| format!(".{k}: no metadata"))?;
        match v {
            Value::Null => return Err(format!(".{k}: null")),
            Value::Object(o) if o.is_empty() => return Err(format!(".{k}: empty object")),
            _ => {}
        }
        check_value(v, m, false).map_err(|e| format!(".{k}{e}"))?;
    }
    Ok(())
}

fn check_value(v: &Value, m: &Value, in_array: bool) -> Result<(), String> {
    match (v, m) {
        (Value::Object(o), Value::Object(mo)) if !in_array => check_object(o, mo),
        (Value::Object(o), Value::Object(mo)) => {
            if o.len() != mo.len() {
                return Err(": metadata keys differ".into());
            }
            for (k, v) in o {
                let m = mo.get(k).ok_or_else(|| format!(".{k}: no metadata"))?;
                check_value(v, m, true).map_err(|e| format!(".{k}{e}"))?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(ma)) => {
            if a.len() != ma.len() {
                return Err(": metadata length differs".into());
            }
            for (i, (v, m)) in a.iter().zip(ma).enumerate() {
                if v.is_null() {
                    return Err(format!("[{i}]: null"));
                }
                check_value(v, m, true).map_err(|e| format!("[{i}]{e}"))?;
            }
            Ok(())
        }
        (Value::Object(_) | Value::Array(_) | Value::Null, _) => {
            Err(": metadata shape differs".into())
        }
        (_, Value::Object(mo))
            if mo.len() == 1 && mo.get("timestamp").is_some_and(Value::is_u64) =>
        {
            Ok(())
        }
        _ => Err(": not a {\"timestamp\":…} leaf".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(desired: Value, reported: Value, t: u64) -> Document {
        let mut d = None;
        let mut r = None;
        if !desired.is_null() {
            d = Section::apply(None, &desired, t);
        }
        if !reported.is_null() {
            r = Section::apply(None, &reported, t);
        }
        Document {
            desired: d,
            reported: r,
            timestamp: t,
        }
    }

    #[test]
    fn round_trip() {
        let cases = [
            doc(Value::Null, Value::Null, 0),
            doc(json!({"a": 1}), Value::Null, 5),
            doc(
                json!({"a": [1, {"b": [true, "x", 1.5, -0.0]}], "c": {"d": 1e300}}),
                json!({"z": 18446744073709551615u64}),
                u64::MAX,
            ),
            doc(
                json!({"a": 0.1, "b": 2.2250738585072014e-308, "c": -9223372036854775808i64}),
                json!({"é": "\u{1F600}\n"}),
                7,
            ),
        ];
        for d in cases {
            let b = d.to_bytes();
            assert_eq!(
                Document::from_bytes(&b),
                Ok(d.clone()),
                "{}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    #[test]
    fn encoding_is_stable() {
        let d = doc(json!({"b": 1, "a": [2]}), Value::Null, 3);
        assert_eq!(
            String::from_utf8(d.to_bytes()).unwrap(),
            r#"{"metadata":{"desired":{"a":[{"timestamp":3}],"b":{"timestamp":3}}},"state":{"desired":{"a":[2],"b":1}},"timestamp":3}"#
        );
    }

    #[test]
    fn rejects_corruption() {
        let bad = [
            "",
            "[]",
            r#"{"state":{},"metadata":{}}"#,
            r#"{"state":{},"metadata":{},"timestamp":-1}"#,
            r#"{"state":{},"metadata":{},"timestamp":1,"x":1}"#,
            r#"{"state":{"delta":{"a":1}},"metadata":{},"timestamp":1}"#,
            r#"{"state":{"desired":{}},"metadata":{"desired":{}},"timestamp":1}"#,
            r#"{"state":{"desired":{"a":1}},"metadata":{},"timestamp":1}"#,
            r#"{"state":{"desired":{"a":1}},"metadata":{"desired":{}},"timestamp":1}"#,
            r#"{"state":{"desired":{"a":1}},"metadata":{"desired":{"a":{"timestamp":-1}}},"timestamp":1}"#,
            r#"{"state":{"desired":{"a":null}},"metadata":{"desired":{"a":{"timestamp":1}}},"timestamp":1}"#,
            r#"{"state":{"desired":{"a":{}}},"metadata":{"desired":{"a":{}}},"timestamp":1}"#,
            r#"{"state":{"desired":{"a":[1]}},"metadata":{"desired":{"a":[]}},"timestamp":1}"#,
            r#"{"state":{"desired":{"a":[null]}},"metadata":{"desired":{"a":[{"timestamp":1}]}},"timestamp":1}"#,
            r#"{"state":{"desired":{"a":{"b":1}}},"metadata":{"desired":{"a":{"timestamp":1}}},"timestamp":1}"#,
        ];
        for b in bad {
            assert!(Document::from_bytes(b.as_bytes()).is_err(), "{b}");
        }
        // `{}` inside an array is a value, not a deletion.
        let ok =
            r#"{"state":{"desired":{"a":[{}]}},"metadata":{"desired":{"a":[{}]}},"timestamp":1}"#;
        assert!(Document::from_bytes(ok.as_bytes()).is_ok());
    }

    #[test]
    fn size_and_json() {
        let d = doc(json!({"k": "xx"}), json!({"k": 1}), 1);
        assert_eq!(d.state_size(), r#"{"k":"xx"}"#.len() + r#"{"k":1}"#.len());
        assert_eq!(
            d.state_json(),
            json!({"desired": {"k": "xx"}, "reported": {"k": 1}})
        );
        assert_eq!(
            d.metadata_json(),
            json!({"desired": {"k": {"timestamp": 1}}, "reported": {"k": {"timestamp": 1}}})
        );
        assert_eq!(
            d.delta(),
            Some(json!({"k": "xx"}).as_object().unwrap().clone())
        );
        assert_eq!(doc(json!({"k": 1}), json!({"k": 1}), 1).delta(), None);
        assert_eq!(doc(Value::Null, json!({"k": 1}), 1).delta(), None);
    }
}
