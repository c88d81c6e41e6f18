//! The data plane (`iot-data`): shadows and Publish over HTTPS.
//!
//! Shadow requests go through the same shadow service as MQTT requests
//! (same queue per shadow, same durability, the same accepted / delta /
//! documents messages to MQTT subscribers), except that errors are answered
//! in the HTTP response and no `/rejected` message is published, as on AWS.

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use kumo_mqtt::{Properties, PropertySet, QoS};
use kumo_shadow::Operation;
use serde_json::{json, Map, Value};

use super::error::{bytes_response, json_response, ApiError};
use super::ops::Operation as ApiOperation;
use super::Api;

/// Longest topic AWS IoT accepts, in bytes.
const MAX_TOPIC: usize = 256;

pub async fn execute(
    api: &Api,
    op: &ApiOperation,
    input: Map<String, Value>,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let shadow_op = match op.name.as_str() {
        "GetThingShadow" => Some(Operation::Get),
        "UpdateThingShadow" => Some(Operation::Update),
        "DeleteThingShadow" => Some(Operation::Delete),
        _ => None,
    };
    if let Some(operation) = shadow_op {
        let thing = thing_name(&input)?;
        let name = shadow_name(&input)?;
        let payload = if operation == Operation::Update {
            body
        } else {
            Bytes::new()
        };
        let doc = api
            .shadows
            .execute(&thing, name.as_deref(), operation, payload)
            .await
            .map_err(|e| ApiError::from_shadow(&e))?;
        return Ok(bytes_response(200, "application/json", Bytes::from(doc)));
    }
    match op.name.as_str() {
        "Publish" => publish(api, &input, body).await,
        "ListNamedShadowsForThing" => {
            let thing = thing_name(&input)?;
            let page_size = match input.get("pageSize").and_then(Value::as_i64) {
                None => 25,
                Some(n @ 1..=100) => n as usize,
                Some(_) => {
                    return Err(ApiError::invalid_request(
                        "pageSize must be between 1 and 100",
                    ))
                }
            };
            let after = input.get("nextToken").and_then(Value::as_str);
            let names = api.shadows.named_shadows(&thing);
            let start = match after {
                Some(token) => names.partition_point(|n| n.as_str() <= token),
                None => 0,
            };
            let page: Vec<&String> = names[start..].iter().take(page_size).collect();
            let mut out = json!({
                "results": page,
                "timestamp": crate::admin::now_ms() / 1000,
            });
            if start + page.len() < names.len() {
                if let Some(last) = page.last() {
                    out["nextToken"] = json!(last);
                }
            }
            Ok(json_response(200, &out))
        }
        "GetRetainedMessage" => {
            let topic = input.get("topic").and_then(Value::as_str).unwrap_or("");
            let m = api.broker.retained_message(topic).ok_or_else(|| {
                ApiError::new(
                    404,
                    "ResourceNotFoundException",
                    format!("No retained message exists for topic {topic}"),
                )
            })?;
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let mut out = json!({
                "topic": m.topic,
                "payload": b64(&m.payload),
                "qos": m.qos,
                "lastModifiedTime": m.last_modified_ms,
            });
            if !m.user_properties.is_empty() {
                let props: Vec<Value> = m
                    .user_properties
                    .iter()
                    .map(|(k, v)| json!({ k.as_str(): v }))
                    .collect();
                out["userProperties"] = json!(b64(&serde_json::to_vec(&props).unwrap_or_default()));
            }
            Ok(json_response(200, &out))
        }
        "ListRetainedMessages" => {
            let limit = match input.get("maxResults").and_then(Value::as_i64) {
                None => 200,
                Some(n @ 1..=200) => n as usize,
                Some(_) => {
                    return Err(ApiError::invalid_request(
                        "maxResults must be between 1 and 200",
                    ))
                }
            };
            let after = input.get("nextToken").and_then(Value::as_str);
            let (page, more) = api.broker.retained_messages(after, limit);
            let topics: Vec<Value> = page
                .iter()
                .map(|m| {
                    json!({
                        "topic": m.topic,
                        "payloadSize": m.payload.len(),
                        "qos": m.qos,
                        "lastModifiedTime": m.last_modified_ms,
                    })
                })
                .collect();
            let mut out = json!({ "retainedTopics": topics });
            if more {
                if let Some(last) = page.last() {
                    out["nextToken"] = json!(last.topic);
                }
            }
            Ok(json_response(200, &out))
        }
        other => Err(ApiError::not_implemented(other)),
    }
}

fn thing_name(input: &Map<String, Value>) -> Result<String, ApiError> {
    let name = input
        .get("thingName")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request("thingName is required"))?;
    kumo_model::ThingName::new(name).map_err(|e| ApiError::invalid_request(e.to_string()))?;
    Ok(name.to_owned())
}

fn shadow_name(input: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match input.get("shadowName").and_then(Value::as_str) {
        None => Ok(None),
        Some(n) => kumo_shadow::ShadowName::new(n)
            .map(|n| Some(n.as_str().to_owned()))
            .map_err(|e| ApiError::invalid_request(e.to_string())),
    }
}

/// iot-data Publish: the body is the payload; QoS, RETAIN and the MQTT 5
/// properties come from the query string and `x-amz-mqtt5-*` headers.
async fn publish(
    api: &Api,
    input: &Map<String, Value>,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let topic = input
        .get("topic")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request("topic is required"))?;
    if topic.is_empty() || topic.len() > MAX_TOPIC || topic.contains(['+', '#', '\0']) {
        return Err(ApiError::invalid_request(format!(
            "Invalid topic name: {topic:?} (1 to {MAX_TOPIC} bytes, no wildcards)"
        )));
    }
    let qos = match input.get("qos").and_then(Value::as_i64).unwrap_or(0) {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        q => {
            return Err(ApiError::invalid_request(format!(
                "qos must be 0 or 1, not {q}"
            )))
        }
    };
    let retain = input
        .get("retain")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut props = PropertySet::default();
    if let Some(ct) = input.get("contentType").and_then(Value::as_str) {
        props.content_type = Some(ct.to_owned());
    }
    if let Some(rt) = input.get("responseTopic").and_then(Value::as_str) {
        props.response_topic = Some(rt.to_owned());
    }
    match input.get("payloadFormatIndicator").and_then(Value::as_str) {
        None | Some("UNSPECIFIED_BYTES") => {}
        Some("UTF8_DATA") => {
            if std::str::from_utf8(&body).is_err() {
                return Err(ApiError::invalid_request(
                    "the payload is not UTF-8 but x-amz-mqtt5-payload-format-indicator says UTF8_DATA",
                ));
            }
            props.payload_format_indicator = Some(1);
        }
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "x-amz-mqtt5-payload-format-indicator: {other:?} (UNSPECIFIED_BYTES or UTF8_DATA)"
            )))
        }
    }
    if let Some(cd) = input.get("correlationData").and_then(Value::as_str) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(cd)
            .map_err(|_| ApiError::invalid_request("x-amz-mqtt5-correlation-data is not base64"))?;
        props.correlation_data = Some(Bytes::from(bytes));
    }
    if let Some(up) = input.get("userProperties").and_then(Value::as_str) {
        props.user_properties = user_properties(up)?;
    }
    let expiry = input
        .get("messageExpiry")
        .and_then(Value::as_i64)
        .map(|s| std::time::Duration::from_secs(s.max(0) as u64));
    if let Some(e) = expiry {
        props.message_expiry_interval = Some(e.as_secs().min(u32::MAX as u64) as u32);
    }
    let properties = if props == PropertySet::default() {
        Properties::default()
    } else {
        Properties::from(props)
    };
    api.broker
        .publish_api(topic, body, qos, retain, properties, expiry)
        .await
        .map_err(|e| ApiError::new(500, "InternalFailureException", format!("not stored: {e}")))?;
    Ok(bytes_response(200, "application/json", Bytes::new()))
}

/// `x-amz-mqtt5-user-properties`: base64 of a JSON array of one-pair
/// objects, `[{"k1":"v1"},{"k2":"v2"}]`.
fn user_properties(header: &str) -> Result<Vec<(String, String)>, ApiError> {
    let bad = || {
        ApiError::invalid_request("x-amz-mqtt5-user-properties must be base64 of a JSON array of {\"key\":\"value\"} objects")
    };
    let json = base64::engine::general_purpose::STANDARD
        .decode(header)
        .map_err(|_| bad())?;
    let mut value: Value = serde_json::from_slice(&json).map_err(|_| bad())?;
    // boto3 sends base64 of the JSON it was given; given the array as a
    // JSON string, that is a string holding the array.
    if let Value::String(s) = &value {
        value = serde_json::from_str(s).map_err(|_| bad())?;
    }
    let Value::Array(items) = value else {
        return Err(bad());
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(m) = item else {
            return Err(bad());
        };
        for (k, v) in m {
            let Value::String(v) = v else {
                return Err(bad());
            };
            out.push((k, v));
        }
    }
    Ok(out)
}
