//! The first packet of a connection: reading CONNECT (the protocol level
//! is known only once it is read) and refusing it with the CONNACK the
//! client's protocol expects.

use bytes::BytesMut;
use kumo_mqtt::{
    decode, decode_connect_version, encode, ConnAck, Connect, DecodeError, Packet, Properties,
    PropertySet, ProtocolVersion, ReasonCode,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Answer CONNECT with a failing CONNACK and close.
pub(crate) async fn refuse<W: AsyncWrite + Unpin>(
    wr: &mut W,
    version: ProtocolVersion,
    reason: ReasonCode,
) {
    let properties = Properties::from(PropertySet {
        reason_string: Some(reason.text().to_owned()),
        ..PropertySet::default()
    });
    let ack = ConnAck {
        session_present: false,
        reason,
        properties,
    };
    let mut out = BytesMut::new();
    encode(&Packet::ConnAck(ack), version, &mut out);
    let _ = wr.write_all(&out).await;
    let _ = wr.shutdown().await;
}

/// Read the first packet, which must be CONNECT. `Err(Some(..))` means:
/// answer with this CONNACK, then close; `Err(None)`: just close.
pub(crate) async fn read_connect<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Box<Connect>, Option<(ProtocolVersion, ReasonCode)>> {
    loop {
        let version = decode_connect_version(buf);
        match decode(buf, ProtocolVersion::V5, max) {
            Ok(Some(Packet::Connect(c))) => return Ok(c),
            Ok(Some(_)) => return Err(None), // [MQTT-3.1.0-1]
            Ok(None) => {}
            Err(DecodeError::UnsupportedProtocolVersion { .. }) => {
                // [MQTT-3.1.2-2]: 3.1.1 CONNACK with return code 0x01.
                return Err(Some((
                    ProtocolVersion::V311,
                    ReasonCode::UnsupportedProtocolVersion,
                )));
            }
            Err(e) => {
                return Err(match version {
                    Some(ProtocolVersion::V5) => Some((ProtocolVersion::V5, e.reason_code())),
                    _ => None,
                })
            }
        }
        match rd.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(None),
            Ok(_) => {}
        }
    }
}
