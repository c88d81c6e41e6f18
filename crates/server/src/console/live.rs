//! The console's live connection: a WebSocket at `/console/live` carrying
//! small JSON messages, behind which the server runs one MQTT 5 client for
//! the browser tab.
//!
//! That client is a real broker connection (`Broker::serve` over an
//! in-memory pipe, as MQTT over WebSocket is): client ID
//! `kumo-console-<hex>`, listener `console`, principal the admin access key
//! ID. Its CONNECT, SUBSCRIBEs and PUBLISHes go through the authorizer as an
//! admin connection, and lifecycle events (`$aws/events/presence/...`,
//! `$aws/events/subscriptions/...`) announce it like any client.
//!
//! Browser → server:
//! `{"op":"subscribe","filter","qos"}`, `{"op":"unsubscribe","filter"}`,
//! `{"op":"publish","topic","qos","retain","payload"}`.
//!
//! Server → browser:
//! `{"type":"ready","clientId"}`; `{"type":"subscribed","filter","ok","reason"?}`;
//! `{"type":"unsubscribed","filter"}`; `{"type":"published","topic","ok","reason"?}`;
//! `{"type":"message","topic","payload","binary","qos","retain","time","client"?,"properties"?}`
//! (`client`: the publishing client's ID; absent for Kumo's own messages);
//! `{"type":"error","message"}`. `payload` is text (for binary payloads:
//! base64 and `"binary": true`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use kumo_broker::{Broker, ConnectionInfo};
use kumo_mqtt::{
    Ack, Connect, Packet, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe,
    SubscriptionOptions, Unsubscribe,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info};

const V5: ProtocolVersion = ProtocolVersion::V5;
/// The largest packet the console's client accepts from the broker.
const MAX_PACKET: usize = 256 * 1024;
const KEEP_ALIVE: u16 = 60;

/// What an outstanding packet identifier was for.
enum Pending {
    Subscribe(String),
    Unsubscribe(String),
    Publish(String),
}

/// Run the console's MQTT client for one browser WebSocket until either
/// side closes.
pub async fn run(
    broker: Broker,
    upgraded: Upgraded,
    remote: SocketAddr,
    access_key_id: String,
    client_id: String,
) {
    let mut ws = WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        tokio_tungstenite::tungstenite::protocol::Role::Server,
        None,
    )
    .await;
    let (broker_side, mut pipe) = tokio::io::duplex(256 * 1024);
    let info = ConnectionInfo {
        remote,
        listener: "console",
        client_cert: None,
        server_name: None,
        principal: Some(Arc::from(access_key_id.as_str())),
        admin: true,
        publisher_ids: true,
    };
    let serving = {
        let broker = broker.clone();
        tokio::spawn(async move { broker.serve(broker_side, info).await })
    };
    info!(%remote, %client_id, "console test client connecting");
    let mut client = Client {
        pipe_buf: BytesMut::with_capacity(16 * 1024),
        next_id: 0,
        pending: HashMap::new(),
    };
    let connect = Packet::Connect(Box::new(Connect {
        protocol: V5,
        clean_start: true,
        keep_alive: KEEP_ALIVE,
        client_id: client_id.clone(),
        will: None,
        username: None,
        password: None,
        properties: Default::default(),
    }));
    if send(&mut pipe, &connect).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(Duration::from_secs(u64::from(KEEP_ALIVE) / 2));
    ping.tick().await;
    let mut read_buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = pipe.read(&mut read_buf) => {
                let n = match n {
                    Ok(0) | Err(_) => {
                        let _ = out(&mut ws, json!({"type": "error",
                            "message": "The broker closed the test client's connection."})).await;
                        break;
                    }
                    Ok(n) => n,
                };
                client.pipe_buf.extend_from_slice(&read_buf[..n]);
                let mut replies = Vec::new();
                let mut events = Vec::new();
                loop {
                    match kumo_mqtt::decode(&mut client.pipe_buf, V5, MAX_PACKET) {
                        Ok(Some(p)) => client.on_broker(p, &client_id, &mut events, &mut replies),
                        Ok(None) => break,
                        Err(e) => {
                            events.push(json!({"type": "error", "message": format!("unreadable packet from the broker: {e}")}));
                            break;
                        }
                    }
                }
                for r in replies {
                    if send(&mut pipe, &r).await.is_err() {
                        break;
                    }
                }
                let mut closed = false;
                for e in events {
                    if out(&mut ws, e).await.is_err() {
                        closed = true;
                        break;
                    }
                }
                if closed {
                    break;
                }
            }
            m = ws.next() => match m {
                Some(Ok(Message::Text(text))) => {
                    match client.on_browser(&text) {
                        Ok(Some(p)) => {
                            let topic = match &p { Packet::Publish(p) if p.qos == QoS::AtMostOnce => Some(p.topic_str().to_owned()), _ => None };
                            if send(&mut pipe, &p).await.is_err() {
                                break;
                            }
                            // QoS 0 has no acknowledgement: it left.
                            if let Some(topic) = topic {
                                let _ = out(&mut ws, json!({"type": "published", "topic": topic, "ok": true})).await;
                            }
                        }
                        Ok(None) => {}
                        Err(message) => {
                            if out(&mut ws, json!({"type": "error", "message": message})).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Binary(_))) => {}
                None | Some(Ok(Message::Close(_))) | Some(Err(_)) => break,
            },
            _ = ping.tick() => {
                if send(&mut pipe, &Packet::PingReq).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = send(
        &mut pipe,
        &Packet::Disconnect(kumo_mqtt::Disconnect::new(ReasonCode::Success)),
    )
    .await;
    drop(pipe);
    let _ = serving.await;
    let _ = ws.close(None).await;
    debug!(%remote, %client_id, "console test client closed");
}

struct Client {
    pipe_buf: BytesMut,
    next_id: u16,
    pending: HashMap<u16, Pending>,
}

impl Client {
    fn packet_id(&mut self) -> u16 {
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            if self.next_id != 0 && !self.pending.contains_key(&self.next_id) {
                return self.next_id;
            }
        }
    }

    /// A browser request as the packet to send, or why it cannot be sent.
    fn on_browser(&mut self, text: &str) -> Result<Option<Packet>, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let qos = match v["qos"].as_u64().unwrap_or(0) {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            q => {
                return Err(format!(
                    "QoS {q} is not supported (0 or 1, as AWS IoT Core)"
                ))
            }
        };
        match v["op"].as_str() {
            Some("subscribe") => {
                let filter = v["filter"].as_str().unwrap_or_default().to_owned();
                kumo_mqtt::TopicFilter::new(&filter)
                    .map_err(|e| format!("{filter:?} is not a topic filter: {e}"))?;
                let packet_id = self.packet_id();
                self.pending
                    .insert(packet_id, Pending::Subscribe(filter.clone()));
                Ok(Some(Packet::Subscribe(Subscribe {
                    packet_id,
                    properties: Default::default(),
                    filters: vec![(
                        filter,
                        SubscriptionOptions {
                            qos,
                            ..Default::default()
                        },
                    )],
                })))
            }
            Some("unsubscribe") => {
                let filter = v["filter"].as_str().unwrap_or_default().to_owned();
                let packet_id = self.packet_id();
                self.pending
                    .insert(packet_id, Pending::Unsubscribe(filter.clone()));
                Ok(Some(Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    properties: Default::default(),
                    filters: vec![filter],
                })))
            }
            Some("publish") => {
                let topic = v["topic"].as_str().unwrap_or_default().to_owned();
                kumo_mqtt::topic::validate_name(&topic)
                    .map_err(|e| format!("{topic:?} is not a topic name: {e}"))?;
                let payload = v["payload"].as_str().unwrap_or_default().to_owned();
                let packet_id = if qos == QoS::AtLeastOnce {
                    let id = self.packet_id();
                    self.pending.insert(id, Pending::Publish(topic.clone()));
                    id
                } else {
                    0
                };
                Ok(Some(Packet::Publish(Publish {
                    dup: false,
                    qos,
                    retain: v["retain"].as_bool().unwrap_or(false),
                    topic: Bytes::from(topic),
                    packet_id,
                    properties: Default::default(),
                    payload: Bytes::from(payload),
                })))
            }
            _ => Err("unknown op: subscribe, unsubscribe or publish".into()),
        }
    }

    /// A packet from the broker: events for the browser, replies for the
    /// broker.
    fn on_broker(
        &mut self,
        p: Packet,
        client_id: &str,
        events: &mut Vec<Value>,
        replies: &mut Vec<Packet>,
    ) {
        let reason = |r: ReasonCode| format!("{r:?} (0x{:02X})", r as u8);
        match p {
            Packet::ConnAck(c) if c.reason == ReasonCode::Success => {
                events.push(json!({"type": "ready", "clientId": client_id}));
            }
            Packet::ConnAck(c) => events.push(json!({"type": "error",
                "message": format!("the broker refused the test client: {}", reason(c.reason))})),
            Packet::Publish(p) => {
                if p.qos == QoS::AtLeastOnce {
                    replies.push(Packet::PubAck(Ack::new(p.packet_id)));
                }
                events.push(message_event(&p));
            }
            Packet::SubAck(a) => {
                if let Some(Pending::Subscribe(filter)) = self.pending.remove(&a.packet_id) {
                    let r = a.reasons.first().copied().unwrap_or(ReasonCode::UnspecifiedError);
                    let mut e = json!({"type": "subscribed", "filter": filter, "ok": !r.is_error()});
                    if r.is_error() {
                        e["reason"] = json!(reason(r));
                    }
                    events.push(e);
                }
            }
            Packet::UnsubAck(a) => {
                if let Some(Pending::Unsubscribe(filter)) = self.pending.remove(&a.packet_id) {
                    events.push(json!({"type": "unsubscribed", "filter": filter}));
                }
            }
            Packet::PubAck(a) => {
                if let Some(Pending::Publish(topic)) = self.pending.remove(&a.packet_id) {
                    let mut e = json!({"type": "published", "topic": topic, "ok": !a.reason.is_error()});
                    if a.reason.is_error() {
                        e["reason"] = json!(reason(a.reason));
                    }
                    events.push(e);
                }
            }
            Packet::Disconnect(d) => events.push(json!({"type": "error",
                "message": format!("the broker disconnected the test client: {}", reason(d.reason))})),
            _ => {}
        }
    }
}

/// A delivered PUBLISH as the browser shows it.
fn message_event(p: &Publish) -> Value {
    let (payload, binary) = match std::str::from_utf8(&p.payload) {
        Ok(t) => (t.to_owned(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&p.payload),
            true,
        ),
    };
    let mut e = json!({
        "type": "message",
        "topic": p.topic_str(),
        "payload": payload,
        "binary": binary,
        "qos": p.qos as u8,
        "retain": p.retain,
        "time": crate::admin::now_ms(),
    });
    let mut props = serde_json::Map::new();
    if let Some(ct) = &p.properties.content_type {
        props.insert("contentType".into(), json!(ct));
    }
    if let Some(rt) = &p.properties.response_topic {
        props.insert("responseTopic".into(), json!(rt));
    }
    // The broker adds the publisher's client ID last (`publisher_ids`).
    let mut user = p.properties.user_properties.clone();
    if user
        .last()
        .is_some_and(|(k, _)| k == kumo_broker::PUBLISHER_PROPERTY)
    {
        if let Some((_, client)) = user.pop() {
            e["client"] = json!(client);
        }
    }
    if !user.is_empty() {
        props.insert("userProperties".into(), json!(user));
    }
    if !props.is_empty() {
        e["properties"] = Value::Object(props);
    }
    e
}

async fn send(pipe: &mut DuplexStream, p: &Packet) -> std::io::Result<()> {
    let mut buf = BytesMut::new();
    kumo_mqtt::encode(p, V5, &mut buf);
    pipe.write_all(&buf).await
}

async fn out(
    ws: &mut WebSocketStream<TokioIo<Upgraded>>,
    v: Value,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    ws.send(Message::Text(v.to_string().into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client {
            pipe_buf: BytesMut::new(),
            next_id: 0,
            pending: HashMap::new(),
        }
    }

    #[test]
    fn browser_requests_become_packets_and_bad_ones_are_explained() {
        let mut c = client();
        let p = c
            .on_browser(r#"{"op":"subscribe","filter":"sdk/test/#","qos":1}"#)
            .unwrap()
            .unwrap();
        let Packet::Subscribe(s) = p else { panic!() };
        assert_eq!(s.filters[0].0, "sdk/test/#");
        assert_eq!(s.filters[0].1.qos, QoS::AtLeastOnce);
        assert!(c
            .on_browser(r#"{"op":"subscribe","filter":"a/#/b"}"#)
            .unwrap_err()
            .contains("not a topic filter"));
        assert!(c
            .on_browser(r#"{"op":"publish","topic":"a/+","payload":"x"}"#)
            .unwrap_err()
            .contains("not a topic name"));
        assert!(c
            .on_browser(r#"{"op":"publish","topic":"a","qos":2}"#)
            .unwrap_err()
            .contains("QoS 2"));
        // The SUBACK names the filter it answers.
        let mut events = Vec::new();
        c.on_broker(
            Packet::SubAck(kumo_mqtt::SubAck {
                packet_id: s.packet_id,
                properties: Default::default(),
                reasons: vec![ReasonCode::NotAuthorized],
            }),
            "kumo-console-1",
            &mut events,
            &mut Vec::new(),
        );
        assert_eq!(events[0]["filter"], "sdk/test/#");
        assert_eq!(events[0]["ok"], false);
    }

    #[test]
    fn binary_payloads_travel_as_base64() {
        let p = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: Bytes::from_static(b"t"),
            packet_id: 0,
            properties: Default::default(),
            payload: Bytes::from_static(&[0xff, 0x00]),
        };
        let e = message_event(&p);
        assert_eq!(e["binary"], true);
        assert_eq!(e["payload"], "/wA=");
        assert_eq!(e["retain"], true);
    }
}
