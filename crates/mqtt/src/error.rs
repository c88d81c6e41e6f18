//! Why a packet could not be read, and what to tell the peer.

use crate::ReasonCode;

/// A packet the peer sent that cannot be accepted. Every variant knows the
/// MQTT 5 reason code the server answers with (in CONNACK before a session
/// exists, in DISCONNECT after); MQTT 3.1.1 peers are simply disconnected,
/// except for [`DecodeError::UnsupportedProtocolVersion`] which has a CONNACK
/// return code of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not form a packet (bad length, bad flags, bad encoding).
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// The packet is well formed but breaks a rule of the protocol.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// The packet is larger than the receiver's maximum packet size.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge { size: usize, max: usize },
    /// A PUBLISH topic name that is not a valid topic name.
    #[error("invalid topic name: {0}")]
    TopicNameInvalid(&'static str),
    /// CONNECT named a protocol or level we do not speak.
    #[error("unsupported protocol: name {name:?} level {level}")]
    UnsupportedProtocolVersion { name: String, level: u8 },
}

impl DecodeError {
    /// The reason code to send the peer.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::Malformed(_) => ReasonCode::MalformedPacket,
            DecodeError::Protocol(_) => ReasonCode::ProtocolError,
            DecodeError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            DecodeError::TopicNameInvalid(_) => ReasonCode::TopicNameInvalid,
            DecodeError::UnsupportedProtocolVersion { .. } => {
                ReasonCode::UnsupportedProtocolVersion
            }
        }
    }
}
