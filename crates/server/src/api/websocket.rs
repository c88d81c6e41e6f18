//! MQTT over WebSocket: `wss://endpoint/mqtt` with a SigV4-presigned URL
//! (service `iotdevicegateway`), as the AWS IoT Device SDKs connect with
//! `websockets_with_default_aws_signing`.
//!
//! The handshake is checked here (signature, `Upgrade: websocket`, version
//! 13, subprotocol `mqtt`); hyper hands over the upgraded connection,
//! tokio-tungstenite does the WebSocket framing, and a bridge task turns
//! the binary messages back into the byte stream the broker serves (through
//! an in-memory pipe), exactly as it serves a TLS stream. The signature is Kumo's admin credentials, so the
//! connection is not limited by a device policy (AWS would apply the IAM
//! identity's policy).

use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use kumo_broker::ConnectionInfo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info};

use super::{error::ApiError, Api, Peer};

/// RFC 6455 §1.3.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether `req` asks to open a WebSocket.
pub fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.method() == hyper::Method::GET
        && req
            .headers()
            .get(hyper::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answer the handshake; on success the connection is served as MQTT once
/// hyper hands it over.
pub fn accept(
    api: &Api,
    mut req: Request<Incoming>,
    peer: &Peer,
) -> Result<Response<Full<Bytes>>, ApiError> {
    if req.uri().path() != "/mqtt" {
        return Err(ApiError::unknown_operation(
            "GET (WebSocket)",
            req.uri().path(),
        ));
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = kumo_sigv4::Request {
        method: "GET",
        raw_path: req.uri().path(),
        raw_query: req.uri().query().unwrap_or(""),
        headers: &header_refs,
        body_sha256: Some(&kumo_sigv4::sha256_hex(b"")),
    };
    let policy = kumo_sigv4::Policy {
        services: &["iotdevicegateway"],
        max_skew_secs: api.max_skew_secs,
        region: None,
    };
    let verified = kumo_sigv4::verify(&request, api, crate::admin::now_ms() / 1000, &policy)
        .map_err(ApiError::from_sigv4)?;
    if header("sec-websocket-version").as_deref() != Some("13") {
        return Err(ApiError::invalid_request(
            "Sec-WebSocket-Version must be 13",
        ));
    }
    let key = header("sec-websocket-key")
        .ok_or_else(|| ApiError::invalid_request("Sec-WebSocket-Key is missing"))?;
    let wants_mqtt = header("sec-websocket-protocol")
        .is_some_and(|p| p.split(',').any(|p| p.trim().eq_ignore_ascii_case("mqtt")));
    if !wants_mqtt {
        return Err(ApiError::invalid_request(
            "Sec-WebSocket-Protocol must offer mqtt",
        ));
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let broker = api.broker.clone();
    let remote = peer.remote;
    let principal: std::sync::Arc<str> = verified.access_key_id.as_str().into();
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(u) => u,
            Err(e) => return debug!(%remote, "WebSocket upgrade failed: {e}"),
        };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        info!(%remote, "MQTT over WebSocket connected");
        let info = ConnectionInfo {
            remote,
            listener: "wss",
            client_cert: None,
            server_name: None,
            principal: Some(principal),
            admin: true,
            publisher_ids: false,
        };
        let (broker_side, bridge_side) = tokio::io::duplex(64 * 1024);
        tokio::spawn(bridge(ws, bridge_side));
        broker.serve(broker_side, info).await;
    });
    Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept_key(&key))
        .header("sec-websocket-protocol", "mqtt")
        .body(Full::new(Bytes::new()))
        .map_err(|e| ApiError::new(500, "InternalFailureException", e.to_string()))
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub(crate) fn accept_key(key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{}{WS_GUID}", key.trim()).as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Pump bytes between the broker's side of a pipe and the WebSocket: what
/// the broker writes goes out as one binary message per read (each sent and
/// flushed at once), binary messages coming in are written to the broker.
/// Text messages end the connection (MQTT travels only in binary messages,
/// MQTT 5 §6.0); pings are answered by tungstenite.
async fn bridge<S>(mut ws: WebSocketStream<S>, mut pipe: tokio::io::DuplexStream)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = pipe.read(&mut buf) => match n {
                Ok(0) | Err(_) => {
                    let _ = ws.close(None).await;
                    return;
                }
                Ok(n) => {
                    if ws.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        return;
                    }
                }
            },
            m = ws.next() => match m {
                Some(Ok(Message::Binary(data))) => {
                    if pipe.write_all(&data).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    debug!("closing a WebSocket that sent text: MQTT needs binary messages");
                    return;
                }
                None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            super::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
