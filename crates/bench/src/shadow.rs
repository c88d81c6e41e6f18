//! The `shadow` scenario's client: durable device shadow updates.
//!
//! Each connection owns a slice of the things and keeps up to `--inflight`
//! (AWS allows 10) update requests outstanding, round-robin over its
//! things, each `{"state":{"reported":{...}},"clientToken":"<send ns>"}` on
//! `$aws/things/{thing}/shadow/update`. It subscribes to its things'
//! `update/accepted` and `update/rejected`: an accepted answer is an update
//! the server has made durable (Kumo answers only after the commit), and
//! its latency is measured from the send time carried in the client token.
//!
//! Results map onto the common report: "sent" are requests, "received" are
//! accepted answers, "acked" the answers of either kind, "unacked" the
//! requests still unanswered when the connection gave up waiting.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use kumo_mqtt::{decode, encode, encode_publish, Ack, Packet, Properties, Publish, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn::{disconnect, Client, Failure, MAX_PACKET};
use crate::roles::{PubResult, SubResult};
use crate::run::{Ctx, Window};

/// The shadow topics' prefix for `thing`.
fn prefix(thing: &str) -> String {
    format!("$aws/things/{thing}/shadow/update")
}

/// Subscribe to the answers for `things` (before the load starts).
pub async fn subscribe(client: &mut Client, things: &[String], qos: QoS) -> Result<(), Failure> {
    for t in things {
        client
            .subscribe(&format!("{}/accepted", prefix(t)), qos)
            .await?;
        client
            .subscribe(&format!("{}/rejected", prefix(t)), qos)
            .await?;
    }
    Ok(())
}

/// Update `things`' shadows until the window ends, then wait for the
/// outstanding answers.
pub async fn client(
    ctx: Arc<Ctx>,
    index: u32,
    things: Vec<String>,
    client: Client,
    mut start: watch::Receiver<Option<Window>>,
) -> Result<(PubResult, SubResult), Failure> {
    let o = &ctx.opts;
    let version = client.version;
    let qos = QoS::from_u8(o.qos).unwrap();
    let Client {
        mut stream,
        mut rbuf,
        ..
    } = client;
    let topics: Vec<String> = things.iter().map(|t| prefix(t)).collect();
    let mut p = PubResult {
        index,
        ..Default::default()
    };
    let mut s = SubResult::default();
    let window = loop {
        if let Some(w) = *start.borrow_and_update() {
            break w;
        }
        if start.changed().await.is_err() {
            return Ok((p, s));
        }
    };
    let cap = o.inflight.max(1) as u64;
    let pad = "x".repeat(o.payload_size.saturating_sub(64));
    let mut wbuf = BytesMut::with_capacity(16 * 1024);
    let mut outstanding = 0u64;
    let mut pid: u16 = 0;
    let mut next_thing = 0usize;
    let end = ctx.base + Duration::from_nanos(window.end_ns);
    let mut drain_deadline: Option<Instant> = None;
    let result: Result<(), Failure> = 'run: loop {
        let now_ns = ctx.now_ns();
        let sending = now_ns < window.end_ns;
        // Answers first: they make room for requests.
        loop {
            match decode(&mut rbuf, version, MAX_PACKET) {
                Ok(Some(Packet::Publish(m))) => {
                    if m.qos == QoS::AtLeastOnce {
                        encode(&Packet::PubAck(Ack::new(m.packet_id)), version, &mut wbuf);
                    }
                    s.total += 1;
                    let Some(sent) = client_token_ns(&m.payload) else {
                        s.foreign += 1;
                        continue;
                    };
                    outstanding = outstanding.saturating_sub(1);
                    p.acked += 1;
                    if m.topic.ends_with(b"/rejected") {
                        ctx.error(
                            "shadow_rejected",
                            String::from_utf8_lossy(&m.payload).into_owned(),
                        );
                        continue;
                    }
                    if sent >= window.start_ns {
                        s.received += 1;
                        s.latency.record(now_ns.saturating_sub(sent));
                    }
                    if now_ns >= window.start_ns && now_ns < window.end_ns {
                        s.delivered_window += 1;
                    }
                    s.last_recv_ns = now_ns;
                    ctx.received.fetch_add(1, Relaxed);
                }
                Ok(Some(Packet::Disconnect(d))) => {
                    break 'run Err(Failure::new(
                        "disconnected_by_broker",
                        format!("{:?}", d.reason),
                    ));
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => break 'run Err(Failure::new("decode", e)),
            }
        }
        // Requests, up to the in-flight cap.
        if sending {
            while outstanding < cap {
                let topic = &topics[next_thing];
                next_thing = (next_thing + 1) % topics.len();
                let body = format!(
                    r#"{{"state":{{"reported":{{"seq":{},"pad":"{pad}"}}}},"clientToken":"{now_ns}"}}"#,
                    p.sent_total
                );
                if qos != QoS::AtMostOnce {
                    pid = pid.checked_add(1).unwrap_or(1);
                }
                encode_publish(
                    &Publish {
                        dup: false,
                        qos,
                        retain: false,
                        topic: topic.clone().into(),
                        packet_id: pid,
                        properties: Properties::default(),
                        payload: body.into_bytes().into(),
                    },
                    version,
                    &mut wbuf,
                );
                outstanding += 1;
                p.sent_total += 1;
                ctx.sent.fetch_add(1, Relaxed);
                if now_ns >= window.start_ns {
                    p.sent_window += 1;
                }
                p.last_send_ns = now_ns;
            }
        } else if outstanding == 0 {
            break Ok(());
        } else if drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + Duration::from_secs_f64(o.drain_timeout));
        }
        if !wbuf.is_empty() {
            if let Err(e) = stream.write_all(&wbuf).await {
                break Err(Failure::new("io", e));
            }
            wbuf.clear();
        }
        if !sending && outstanding == 0 {
            break Ok(());
        }
        rbuf.reserve(16 * 1024);
        let wake = match drain_deadline {
            Some(d) => d,
            None => end,
        };
        tokio::select! {
            res = stream.read_buf(&mut rbuf) => match res {
                Ok(0) => break Err(Failure::new("closed_by_broker", "connection closed")),
                Ok(_) => {}
                Err(e) => break Err(Failure::new("io", e)),
            },
            _ = tokio::time::sleep_until(wake) => {
                if drain_deadline.is_some_and(|d| Instant::now() >= d) {
                    break Ok(());
                }
            }
        }
    };
    p.unacked = outstanding;
    disconnect(&mut stream, version).await;
    result?;
    Ok((p, s))
}

/// The send time a request carried in its client token, from an answer
/// (`"clientToken":"123"`), without parsing the whole document.
fn client_token_ns(payload: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"clientToken\":\"";
    let at = payload.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = &payload[at..];
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..n]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_time_comes_back_from_the_client_token() {
        let doc = br#"{"state":{"reported":{"seq":1}},"metadata":{},"version":3,"timestamp":1,"clientToken":"123456789"}"#;
        assert_eq!(client_token_ns(doc), Some(123456789));
        assert_eq!(client_token_ns(br#"{"code":429,"message":"x"}"#), None);
    }
}
