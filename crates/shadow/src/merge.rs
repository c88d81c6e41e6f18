//! Applying an update's `desired` / `reported` to a stored section, with the
//! metadata that mirrors it.
//!
//! Rules (device-shadow-document.md, device-shadow-data-flow.md):
//!
//! - A key set to `null` is deleted, with its metadata.
//! - An object merges key by key into an object already there; any other
//!   value (scalar, array, or an object where there was none or a non-object)
//!   replaces the old value whole. Arrays are never merged: "an update to an
//!   array replaces the whole array".
//! - A replacing object is stored without its `null` keys. If nothing is left
//!   of it (`{}` or only nulls) it sets nothing: an absent key stays absent
//!   and an existing non-object value is kept. **[our decision]**
//! - An object left empty by deletions is removed, and so is a section: the
//!   docs say a section that becomes empty "is removed from the document"
//!   (AWS Greengrass ShadowManager does the same for sections); we apply the
//!   same rule to nested objects, so a stored state never holds `{}` outside
//!   an array. **[nested case: our decision, unverified]**
//!
//! Metadata mirrors the stored state: an object for each object, an array
//! with one entry per element for each array, and `{"timestamp": T}` for each
//! scalar, where `T` is the time of the update that last wrote the value.
//! Every leaf an update writes gets the update's time, even if its value did
//! not change. Arrays get an array of per-element metadata, as real AWS
//! returns (`"Values":[{"timestamp":…},{"timestamp":…}]` in
//! seqsense/aws-iot-device-sdk-go#213, run against AWS; Greengrass
//! ShadowManager builds it the same way).

use serde_json::{Map, Value};

/// `{"timestamp": now}`.
pub(crate) fn leaf_metadata(now: u64) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".to_string(), Value::from(now));
    Value::Object(m)
}

/// The metadata of a value written at `now`: its structure with every
/// non-container (including `null`, which only occurs in an update's echo)
/// replaced by `{"timestamp": now}`.
pub(crate) fn metadata_of(v: &Value, now: u64) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), metadata_of(v, now)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| metadata_of(v, now)).collect()),
        _ => leaf_metadata(now),
    }
}

/// Merges `patch` into `state`, keeping `meta` its mirror. See the module
/// docs for the rules.
pub(crate) fn merge_object(
    state: &mut Map<String, Value>,
    meta: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    now: u64,
) {
    for (key, pv) in patch {
        match pv {
            Value::Null => {
                state.remove(key);
                meta.remove(key);
            }
            Value::Object(po) => {
                if let Some(Value::Object(so)) = state.get_mut(key) {
                    // An object's metadata is an object while meta mirrors
                    // state; start afresh if it somehow is not.
                    let mut mo = match meta.remove(key) {
                        Some(Value::Object(mo)) => mo,
                        _ => Map::new(),
                    };
                    merge_object(so, &mut mo, po, now);
                    if so.is_empty() {
                        state.remove(key);
                    } else {
                        meta.insert(key.clone(), Value::Object(mo));
                    }
                } else {
                    let mut so = Map::new();
                    let mut mo = Map::new();
                    merge_object(&mut so, &mut mo, po, now);
                    if !so.is_empty() {
                        state.insert(key.clone(), Value::Object(so));
                        meta.insert(key.clone(), Value::Object(mo));
                    }
                }
            }
            other => {
                state.insert(key.clone(), other.clone());
                meta.insert(key.clone(), metadata_of(other, now));
            }
        }
    }
}

/// `patch` merged into `state` under the shadow's rules (null deletes,
/// objects merge, anything else replaces, emptied objects go away), without
/// metadata: what a device keeps locally ends up as the service stores it.
pub fn merge_state(state: &mut Map<String, Value>, patch: &Map<String, Value>) {
    merge_object(state, &mut Map::new(), patch, 0);
}

/// The update that turns `old` into `new` under the merge rules: `new`,
/// plus null for every key of `old` that `new` lacks (recursively). A
/// console edit or a device's local file replaces a section this way.
pub fn replacement(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, v) in n {
                out.insert(k.clone(), replacement(o.get(k).unwrap_or(&Value::Null), v));
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        (_, v) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    /// (state before, its metadata, patch at t=2) → (state after, metadata after)
    fn run(state: Value, meta: Value, patch: Value) -> (Value, Value) {
        let (mut s, mut m) = (obj(state), obj(meta));
        merge_object(&mut s, &mut m, &obj(patch), 2);
        (Value::Object(s), Value::Object(m))
    }

    #[test]
    fn merge_table() {
        let t1 = json!({"timestamp": 1});
        let t2 = json!({"timestamp": 2});
        let cases = [
            // Add, replace, delete.
            (
                json!({}),
                json!({}),
                json!({"a": 1}),
                json!({"a": 1}),
                json!({"a": t2}),
            ),
            (
                json!({"a": 1, "b": 2}),
                json!({"a": t1, "b": t1}),
                json!({"a": 3}),
                json!({"a": 3, "b": 2}),
                json!({"a": t2, "b": t1}),
            ),
            (
                json!({"a": 1, "b": 2}),
                json!({"a": t1, "b": t1}),
                json!({"a": null}),
                json!({"b": 2}),
                json!({"b": t1}),
            ),
            // Same value still gets the new timestamp.
            (
                json!({"a": 1}),
                json!({"a": t1}),
                json!({"a": 1}),
                json!({"a": 1}),
                json!({"a": t2}),
            ),
            // Deleting an absent key is a no-op.
            (
                json!({"a": 1}),
                json!({"a": t1}),
                json!({"z": null}),
                json!({"a": 1}),
                json!({"a": t1}),
            ),
            // Objects merge recursively.
            (
                json!({"c": {"r": 1, "g": 2}}),
                json!({"c": {"r": t1, "g": t1}}),
                json!({"c": {"r": 10}}),
                json!({"c": {"r": 10, "g": 2}}),
                json!({"c": {"r": t2, "g": t1}}),
            ),
            // Arrays replace whole; metadata per element.
            (
                json!({"l": [1, 2, 3]}),
                json!({"l": [t1, t1, t1]}),
                json!({"l": [9]}),
                json!({"l": [9]}),
                json!({"l": [t2]}),
            ),
            (
                json!({}),
                json!({}),
                json!({"l": [{"x": 1}, [true], []]}),
                json!({"l": [{"x": 1}, [true], []]}),
                json!({"l": [{"x": t2}, [t2], []]}),
            ),
            // Type changes replace.
            (
                json!({"a": 1}),
                json!({"a": t1}),
                json!({"a": {"b": 1}}),
                json!({"a": {"b": 1}}),
                json!({"a": {"b": t2}}),
            ),
            (
                json!({"a": {"b": 1}}),
                json!({"a": {"b": t1}}),
                json!({"a": 5}),
                json!({"a": 5}),
                json!({"a": t2}),
            ),
            (
                json!({"a": {"b": 1}}),
                json!({"a": {"b": t1}}),
                json!({"a": [1]}),
                json!({"a": [1]}),
                json!({"a": [t2]}),
            ),
            // A new object drops its nulls.
            (
                json!({}),
                json!({}),
                json!({"a": {"b": null, "c": 1}}),
                json!({"a": {"c": 1}}),
                json!({"a": {"c": t2}}),
            ),
            // An object that sets nothing is a no-op.
            (json!({}), json!({}), json!({"a": {}}), json!({}), json!({})),
            (
                json!({}),
                json!({}),
                json!({"a": {"b": null}}),
                json!({}),
                json!({}),
            ),
            (
                json!({"a": 1}),
                json!({"a": t1}),
                json!({"a": {}}),
                json!({"a": 1}),
                json!({"a": t1}),
            ),
            (
                json!({"a": {"b": 1}}),
                json!({"a": {"b": t1}}),
                json!({"a": {}}),
                json!({"a": {"b": 1}}),
                json!({"a": {"b": t1}}),
            ),
            // Emptied objects are pruned, up the tree.
            (
                json!({"a": {"b": {"c": 1}}, "d": 1}),
                json!({"a": {"b": {"c": t1}}, "d": t1}),
                json!({"a": {"b": {"c": null}}}),
                json!({"d": 1}),
                json!({"d": t1}),
            ),
            // Null inside an object inside a new object.
            (
                json!({}),
                json!({}),
                json!({"a": {"b": {"c": null}}}),
                json!({}),
                json!({}),
            ),
        ];
        for (i, (s, m, p, ws, wm)) in cases.into_iter().enumerate() {
            let (gs, gm) = run(s, m, p);
            assert_eq!((gs, gm), (ws, wm), "case {i}");
        }
    }

    #[test]
    fn metadata_of_echo() {
        assert_eq!(
            metadata_of(
                &json!({"desired": {"a": null, "b": [1, {"c": "x"}]}, "reported": null}),
                5
            ),
            json!({"desired": {"a": {"timestamp": 5}, "b": [{"timestamp": 5}, {"c": {"timestamp": 5}}]},
                   "reported": {"timestamp": 5}})
        );
        assert_eq!(metadata_of(&Value::Null, 5), json!({"timestamp": 5}));
    }

    #[test]
    fn a_replacement_merged_gives_the_new_state() {
        let old = json!({"led": "on", "fan": {"speed": 2, "mode": "auto"}, "keep": 1});
        let new = json!({"led": "off", "fan": {"speed": 3}, "keep": 1});
        let r = replacement(&old, &new);
        assert_eq!(
            r,
            json!({"led": "off", "fan": {"speed": 3, "mode": null}, "keep": 1})
        );
        let mut state = obj(old);
        merge_state(&mut state, &obj(r));
        assert_eq!(Value::Object(state), new);
        assert_eq!(replacement(&Value::Null, &json!({"a": 1})), json!({"a": 1}));
    }
}
