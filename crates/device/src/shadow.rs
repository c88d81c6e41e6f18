//! A device shadow over MQTT, typed: get, update, delete answered by their
//! `clientToken`, a stream of deltas, classic and named shadows; topics
//! from the shared `kumo-shadow` crate, so device and service agree on
//! them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kumo_shadow::{response_topic, shadow_prefix, Operation, Response, ShadowName};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::{Client, DeviceError, Event};

/// How long a request waits for its answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A delta: what `desired` holds that `reported` does not.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub version: u64,
    pub state: Value,
}

type Answer = Result<Value, (u16, String)>;

/// One shadow of one thing.
#[derive(Clone)]
pub struct Shadow {
    client: Client,
    thing: String,
    name: Option<String>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
    next_token: Arc<AtomicU64>,
    token_prefix: String,
}

impl Shadow {
    /// Subscribe to the shadow's answer topics and route them; every other
    /// event goes on to the returned receiver, deltas to theirs.
    pub async fn open(
        client: Client,
        events: mpsc::Receiver<Event>,
        client_id: &str,
        thing: &str,
        name: Option<&str>,
    ) -> Result<(Shadow, mpsc::Receiver<Delta>, mpsc::Receiver<Event>), DeviceError> {
        let opened = Self::route(client.clone(), events, client_id, thing, name)?;
        for filter in answer_filters(thing, name) {
            client.subscribe(&filter, 1).await?;
        }
        Ok(opened)
    }

    /// As [`Shadow::open`], without subscribing yet: call
    /// [`Shadow::subscribe`] before the first request (a client that is
    /// not connected yet subscribes when it connects).
    pub fn attach(
        client: Client,
        events: mpsc::Receiver<Event>,
        client_id: &str,
        thing: &str,
        name: Option<&str>,
    ) -> Result<(Shadow, mpsc::Receiver<Delta>, mpsc::Receiver<Event>), DeviceError> {
        Self::route(client, events, client_id, thing, name)
    }

    /// Subscribe to the shadow's answers and deltas.
    pub async fn subscribe(&self) -> Result<(), DeviceError> {
        for filter in answer_filters(&self.thing, self.name.as_deref()) {
            self.client.subscribe(&filter, 1).await?;
        }
        Ok(())
    }

    /// Route the shadow's answers and deltas out of `events`.
    fn route(
        client: Client,
        mut events: mpsc::Receiver<Event>,
        client_id: &str,
        thing: &str,
        name: Option<&str>,
    ) -> Result<(Shadow, mpsc::Receiver<Delta>, mpsc::Receiver<Event>), DeviceError> {
        if let Some(n) = name {
            ShadowName::new(n).map_err(|e| DeviceError::Invalid(e.to_string()))?;
        }
        if thing.is_empty() || thing.contains(['/', '+', '#']) {
            return Err(DeviceError::Invalid(format!(
                "{thing:?} is not a thing name"
            )));
        }
        let shadow = Shadow {
            client: client.clone(),
            thing: thing.to_owned(),
            name: name.map(str::to_owned),
            pending: Arc::default(),
            next_token: Arc::new(AtomicU64::new(1)),
            // clientToken: at most 64 bytes.
            token_prefix: client_id.chars().take(40).collect(),
        };
        let prefix = shadow_prefix(thing, name);
        let (delta_tx, delta_rx) = mpsc::channel(64);
        let (other_tx, other_rx) = mpsc::channel(256);
        let pending = shadow.pending.clone();
        let (thing_owned, name_owned) = (thing.to_owned(), name.map(str::to_owned));
        tokio::spawn(async move {
            let answer_topics: Vec<(String, bool)> =
                [Operation::Get, Operation::Update, Operation::Delete]
                    .into_iter()
                    .flat_map(|op| {
                        [(Response::Accepted, true), (Response::Rejected, false)].map(|(r, ok)| {
                            (
                                response_topic(&thing_owned, name_owned.as_deref(), op, r),
                                ok,
                            )
                        })
                    })
                    .collect();
            let delta_topic = response_topic(
                &thing_owned,
                name_owned.as_deref(),
                Operation::Update,
                Response::Delta,
            );
            while let Some(e) = events.recv().await {
                let Event::Message { topic, payload, .. } = &e else {
                    let _ = other_tx.send(e).await;
                    continue;
                };
                if *topic == delta_topic {
                    if let Ok(v) = serde_json::from_slice::<Value>(payload) {
                        let _ = delta_tx
                            .send(Delta {
                                version: v["version"].as_u64().unwrap_or(0),
                                state: v["state"].clone(),
                            })
                            .await;
                    }
                    continue;
                }
                if let Some((_, ok)) = answer_topics.iter().find(|(t, _)| t == topic) {
                    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
                        continue;
                    };
                    let Some(token) = v["clientToken"].as_str() else {
                        continue;
                    };
                    let waiter = pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(token);
                    if let Some(w) = waiter {
                        let answer = if *ok {
                            Ok(v)
                        } else {
                            Err((
                                v["code"].as_u64().unwrap_or(0) as u16,
                                v["message"].as_str().unwrap_or_default().to_owned(),
                            ))
                        };
                        let _ = w.send(answer);
                    }
                    continue;
                }
                if !topic.starts_with(&prefix) {
                    let _ = other_tx.send(e).await;
                }
            }
        });
        Ok((shadow, delta_rx, other_rx))
    }

    fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.thing)
    }

    async fn request(&self, op: Operation, mut body: Value) -> Result<Answer, DeviceError> {
        let token = format!(
            "{}-{}",
            self.token_prefix,
            self.next_token.fetch_add(1, Ordering::Relaxed)
        );
        body["clientToken"] = json!(token);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), tx);
        let topic = format!(
            "{}/{}",
            shadow_prefix(&self.thing, self.name.as_deref()),
            op.as_str()
        );
        self.client
            .publish(&topic, 1, false, body.to_string().into_bytes())
            .await?;
        match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            _ => {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&token);
                Err(DeviceError::Connection(format!(
                    "no answer on {topic}/accepted or /rejected within {ANSWER_TIMEOUT:?}: does the policy allow iot:Subscribe and iot:Receive on the shadow's topics?"
                )))
            }
        }
    }

    /// The shadow document, or None if there is no shadow.
    pub async fn get(&self) -> Result<Option<Value>, DeviceError> {
        match self.request(Operation::Get, json!({})).await? {
            Ok(doc) => Ok(Some(doc)),
            Err((404, _)) => Ok(None),
            Err((code, message)) => Err(rejected(self.label(), code, &message)),
        }
    }

    /// Update with a request document (`{"state": {...}, "version"?: N}`);
    /// the accepted document, or the rejection (409 on a version conflict).
    pub async fn update(&self, request: Value) -> Result<Value, DeviceError> {
        if !request.is_object() {
            return Err(DeviceError::Invalid(
                "the update must be a JSON object such as {\"state\": {\"reported\": {...}}}"
                    .into(),
            ));
        }
        self.request(Operation::Update, request)
            .await?
            .map_err(|(code, message)| rejected(self.label(), code, &message))
    }

    /// Delete the shadow; false if there was none.
    pub async fn delete(&self) -> Result<bool, DeviceError> {
        match self.request(Operation::Delete, json!({})).await? {
            Ok(_) => Ok(true),
            Err((404, _)) => Ok(false),
            Err((code, message)) => Err(rejected(self.label(), code, &message)),
        }
    }
}

/// `…/get/+`, `…/update/+`, `…/delete/+`: every answer, deltas included.
fn answer_filters(thing: &str, name: Option<&str>) -> Vec<String> {
    ["get", "update", "delete"]
        .iter()
        .map(|op| format!("{}/{op}/+", shadow_prefix(thing, name)))
        .collect()
}

fn rejected(label: &str, code: u16, message: &str) -> DeviceError {
    DeviceError::Rejected {
        shadow: label.to_owned(),
        code,
        message: message.to_owned(),
    }
}

/// `delta` applied to a local copy of the state as the shadow merges it.
pub fn merge(doc: &mut Value, delta: &Value) {
    if !doc.is_object() {
        *doc = json!({});
    }
    if let (Value::Object(d), Value::Object(m)) = (doc, delta) {
        kumo_shadow::merge_state(d, m);
    }
}

pub use kumo_shadow::replacement;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_merge_as_the_shadow_does() {
        let mut doc = json!({"led": "off", "fan": {"speed": 1, "mode": "auto"}, "keep": true});
        merge(
            &mut doc,
            &json!({"led": "on", "fan": {"speed": 3, "mode": null}, "new": {"a": null, "b": 1}}),
        );
        assert_eq!(
            doc,
            json!({"led": "on", "fan": {"speed": 3}, "keep": true, "new": {"b": 1}})
        );
    }

    #[test]
    fn a_replacement_deletes_what_went_away() {
        let old = json!({"led": "on", "fan": {"speed": 2, "mode": "auto"}});
        let new = json!({"fan": {"speed": 2}});
        let r = replacement(&old, &new);
        assert_eq!(r, json!({"led": null, "fan": {"speed": 2, "mode": null}}));
        let mut applied = old.clone();
        merge(&mut applied, &r);
        assert_eq!(applied, new);
    }
}
