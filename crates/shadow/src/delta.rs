//! The delta between `desired` and `reported` (device-shadow-document.md
//! "Delta state"; device-shadow-mqtt.md "/update/delta"):
//!
//! - Every key of `desired` is visited. A key missing from `reported` goes
//!   into the delta with its desired value (so a key deleted from `reported`
//!   but still desired reappears). Keys only in `reported` never appear.
//! - Where both sides hold objects the comparison recurses, and the delta
//!   keeps "the path all the way to the root" down to the differing leaves;
//!   an object with no differences is left out.
//! - Anything else is compared whole as a `serde_json::Value`: arrays are
//!   opaque ("the entire desired array is copied into the delta"), and a
//!   type change (object vs scalar) copies the desired value.
//!
//! Numbers compare as `serde_json` values: `1` and `1.0` are *different*
//! (an integer and a float), so `desired 1.0` vs `reported 1` is a delta
//! entry. `1.0` and `1.00` are the same float. (Greengrass ShadowManager
//! compares numbers by value; what AWS does is unverified.)
//!
//! Delta metadata is the desired metadata of the same paths: the delta
//! "contains metadata, and its values are equal to the metadata in the
//! `desired` field".

use serde_json::{Map, Value};

/// The delta of `desired` over `reported` and its metadata taken from
/// `desired_meta`. Both maps are empty when the sides agree.
pub(crate) fn delta(
    desired: &Map<String, Value>,
    desired_meta: &Map<String, Value>,
    reported: Option<&Map<String, Value>>,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut state = Map::new();
    let mut meta = Map::new();
    for (key, dv) in desired {
        let dm = desired_meta.get(key);
        match (dv, reported.and_then(|r| r.get(key))) {
            (Value::Object(dobj), Some(Value::Object(robj))) => {
                let empty = Map::new();
                let dmobj = dm.and_then(Value::as_object).unwrap_or(&empty);
                let (s, m) = delta(dobj, dmobj, Some(robj));
                if !s.is_empty() {
                    state.insert(key.clone(), Value::Object(s));
                    meta.insert(key.clone(), Value::Object(m));
                }
            }
            (dv, Some(rv)) if dv == rv => {}
            (dv, _) => {
                state.insert(key.clone(), dv.clone());
                if let Some(dm) = dm {
                    meta.insert(key.clone(), dm.clone());
                }
            }
        }
    }
    (state, meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::metadata_of;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn delta_table() {
        let cases = [
            // desired, reported, delta
            (json!({"a": 1}), None, json!({"a": 1})),
            (json!({"a": 1}), Some(json!({"a": 1})), json!({})),
            (json!({"a": 1}), Some(json!({"a": 2})), json!({"a": 1})),
            (json!({"a": 1}), Some(json!({"b": 2})), json!({"a": 1})),
            (json!({"a": 1}), Some(json!({"a": 1, "b": 2})), json!({})),
            (
                json!({"color": "RED", "state": "STOP"}),
                Some(json!({"color": "GREEN", "engine": "ON"})),
                json!({"color": "RED", "state": "STOP"}),
            ),
            // Nested: only the differing leaf, with its path.
            (
                json!({"lights": {"color": {"r": 255, "g": 255, "b": 255}}}),
                Some(json!({"lights": {"color": {"r": 255, "g": 0, "b": 255}}})),
                json!({"lights": {"color": {"g": 255}}}),
            ),
            // Arrays whole.
            (
                json!({"l": [1, 2, 3]}),
                Some(json!({"l": [1, 2]})),
                json!({"l": [1, 2, 3]}),
            ),
            (json!({"l": [1, 2]}), Some(json!({"l": [1, 2]})), json!({})),
            (
                json!({"l": [{"a": 1}]}),
                Some(json!({"l": [{"a": 1, "b": 2}]})),
                json!({"l": [{"a": 1}]}),
            ),
            // Type changes copy the desired value whole.
            (
                json!({"a": {"b": 1}}),
                Some(json!({"a": 5})),
                json!({"a": {"b": 1}}),
            ),
            (
                json!({"a": 5}),
                Some(json!({"a": {"b": 1}})),
                json!({"a": 5}),
            ),
            (json!({"a": "1"}), Some(json!({"a": 1})), json!({"a": "1"})),
            // 1 vs 1.0 differ; 1.0 vs 1.00 do not.
            (json!({"n": 1.0}), Some(json!({"n": 1})), json!({"n": 1.0})),
            (json!({"n": 1}), Some(json!({"n": 1.0})), json!({"n": 1})),
        ];
        for (i, (d, r, want)) in cases.into_iter().enumerate() {
            let dm = obj(metadata_of(&d, 9));
            let r = r.map(obj);
            let (s, m) = delta(&obj(d.clone()), &dm, r.as_ref());
            assert_eq!(Value::Object(s.clone()), want, "case {i}");
            // Metadata covers exactly the delta's paths.
            assert_eq!(
                Value::Object(m),
                metadata_of(&Value::Object(s), 9),
                "case {i}"
            );
        }
        let same: Value = serde_json::from_str(r#"{"n":1.00}"#).unwrap();
        let (s, _) = delta(&obj(json!({"n": 1.0})), &Map::new(), Some(&obj(same)));
        assert!(s.is_empty());
    }

    #[test]
    fn delta_metadata_is_desired_metadata() {
        let desired = obj(json!({"a": 1, "b": {"c": 2, "d": 3}}));
        let meta = obj(
            json!({"a": {"timestamp": 10}, "b": {"c": {"timestamp": 11}, "d": {"timestamp": 12}}}),
        );
        let reported = obj(json!({"a": 0, "b": {"c": 2}}));
        let (s, m) = delta(&desired, &meta, Some(&reported));
        assert_eq!(Value::Object(s), json!({"a": 1, "b": {"d": 3}}));
        assert_eq!(
            Value::Object(m),
            json!({"a": {"timestamp": 10}, "b": {"d": {"timestamp": 12}}})
        );
    }
}
