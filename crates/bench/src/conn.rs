//! Opening one MQTT connection: TCP (optionally from a chosen source
//! address), TLS, CONNECT → CONNACK, and SUBSCRIBE → SUBACK. Errors carry a
//! short kind (`tcp_connect`, `tls_handshake`, `connack_refused`, ...) that
//! the report groups by.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use kumo_mqtt::{
    decode, encode, Connect, Packet, Properties, ProtocolVersion, QoS, Subscribe,
    SubscriptionOptions,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

use crate::run::Ctx;

/// Largest packet we accept from the broker.
pub const MAX_PACKET: usize = 16 * 1024 * 1024;

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}
pub type BoxStream = Box<dyn Stream>;

/// A failure with the kind the report counts it under.
#[derive(Debug)]
pub struct Failure {
    pub kind: String,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: &str, detail: impl std::fmt::Display) -> Failure {
        Failure {
            kind: kind.to_owned(),
            detail: detail.to_string(),
        }
    }
}

/// A connected, CONNACKed client.
pub struct Client {
    pub stream: BoxStream,
    /// Bytes read after the CONNACK/SUBACK.
    pub rbuf: BytesMut,
    pub version: ProtocolVersion,
}

/// Connect client `index` with client id `client_id`.
pub async fn connect(ctx: &Ctx, index: usize, client_id: String) -> Result<Client, Failure> {
    let o = &ctx.opts;
    let socket = TcpSocket::new_v4().map_err(|e| Failure::new("socket", e))?;
    if !ctx.source_ips.is_empty() {
        let ip = ctx.source_ips[index % ctx.source_ips.len()];
        socket
            .bind(SocketAddr::new(IpAddr::V4(ip), 0))
            .map_err(|e| Failure::new("bind", format!("{ip}: {e}")))?;
    }
    let tcp = socket
        .connect(ctx.addr)
        .await
        .map_err(|e| Failure::new("tcp_connect", e))?;
    let _ = tcp.set_nodelay(true);
    let mut stream: BoxStream = match &ctx.tls {
        None => Box::new(tcp),
        Some(tls) => {
            let c = TlsConnector::from(tls.config(index));
            Box::new(
                c.connect(tls.server_name.clone(), tcp)
                    .await
                    .map_err(|e| Failure::new("tls_handshake", e))?,
            )
        }
    };
    let version = ctx.version;
    let mut props = Properties::default();
    if version.is_v5() {
        props.receive_maximum = Some(o.inflight.max(1));
        if o.session_expiry > 0 {
            props.session_expiry_interval = Some(o.session_expiry);
        }
    }
    let connect = Packet::Connect(Box::new(Connect {
        protocol: version,
        // MQTT 5 starts a new session either way (it persists through its
        // expiry); MQTT 3.1.1 can only ask for persistence by not cleaning.
        clean_start: version.is_v5() || o.session_expiry == 0,
        keep_alive: o.keepalive,
        client_id,
        will: None,
        username: None,
        password: None,
        properties: props,
    }));
    let mut out = BytesMut::new();
    encode(&connect, version, &mut out);
    stream
        .write_all(&out)
        .await
        .map_err(|e| Failure::new("io", e))?;
    let mut rbuf = BytesMut::with_capacity(4096);
    match read_packet(&mut stream, &mut rbuf, version).await? {
        Packet::ConnAck(ack) if !ack.reason.is_error() => {}
        Packet::ConnAck(ack) => {
            return Err(Failure::new("connack_refused", format!("{:?}", ack.reason)))
        }
        other => {
            return Err(Failure::new(
                "protocol",
                format!("expected CONNACK, got {:?}", other.packet_type()),
            ))
        }
    }
    Ok(Client {
        stream,
        rbuf,
        version,
    })
}

impl Client {
    /// Subscribe to one filter and wait for its SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), Failure> {
        let sub = Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: Properties::default(),
            filters: vec![(
                filter.to_owned(),
                SubscriptionOptions {
                    qos,
                    ..Default::default()
                },
            )],
        });
        let mut out = BytesMut::new();
        encode(&sub, self.version, &mut out);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| Failure::new("io", e))?;
        loop {
            match read_packet(&mut self.stream, &mut self.rbuf, self.version).await? {
                Packet::SubAck(ack) => {
                    return match ack.reasons.first() {
                        Some(r) if !r.is_error() => Ok(()),
                        r => Err(Failure::new("suback_refused", format!("{filter}: {r:?}"))),
                    };
                }
                // Retained messages may come before the SUBACK; ignore them.
                Packet::Publish(_) | Packet::PingResp => continue,
                other => {
                    return Err(Failure::new(
                        "protocol",
                        format!("expected SUBACK, got {:?}", other.packet_type()),
                    ))
                }
            }
        }
    }
}

/// Read until one whole packet is buffered, and decode it.
pub async fn read_packet(
    stream: &mut BoxStream,
    rbuf: &mut BytesMut,
    version: ProtocolVersion,
) -> Result<Packet, Failure> {
    loop {
        match decode(rbuf, version, MAX_PACKET) {
            Ok(Some(p)) => return Ok(p),
            Ok(None) => {}
            Err(e) => return Err(Failure::new("decode", e)),
        }
        rbuf.reserve(4096);
        let n = stream
            .read_buf(rbuf)
            .await
            .map_err(|e| Failure::new("io", e))?;
        if n == 0 {
            return Err(Failure::new("closed_by_broker", "connection closed"));
        }
    }
}

/// Send DISCONNECT and close, ignoring errors (the run is over).
pub async fn disconnect<W: AsyncWrite + Unpin>(w: &mut W, version: ProtocolVersion) {
    let mut out = BytesMut::new();
    encode(
        &Packet::Disconnect(kumo_mqtt::Disconnect::new(kumo_mqtt::ReasonCode::Success)),
        version,
        &mut out,
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = w.write_all(&out).await;
        let _ = w.shutdown().await;
    })
    .await;
}
