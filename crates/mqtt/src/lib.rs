//! MQTT 3.1.1 and 5.0 on the wire, written for Kumo.
//!
//! This crate turns bytes into [`Packet`]s and back, and knows the rules of
//! topic names and topic filters. It never does I/O, never reads a clock and
//! never allocates a copy of a PUBLISH payload: payloads are [`bytes::Bytes`]
//! slices of the buffer they were read from.
//!
//! Reading: feed the bytes you have to [`decode`]. It returns `Ok(None)` until a
//! whole packet is buffered, and rejects a packet larger than the limit as soon
//! as its fixed header is readable, before its body arrives.
//!
//! Writing: [`encode`] appends a packet to a `BytesMut`. For fan-out,
//! [`encode_publish`] also returns where the packet identifier sits so the
//! same encoded bytes can be reused for many subscribers.

mod decode;
mod encode;
mod error;
mod packet;
mod properties;
mod reason;
pub mod topic;
mod wire;

pub use decode::{decode, decode_connect_version};
pub use encode::{
    encode, encode_publish, encode_publish_ref, encoded_len, publish_ref_len, PublishRef,
};
pub use error::DecodeError;
pub use packet::*;
pub use properties::{Properties, PropertySet};
pub use reason::ReasonCode;
pub use topic::{TopicFilter, TopicName};

/// Largest value a Variable Byte Integer can carry (MQTT 5 §1.5.5).
pub const MAX_VARINT: u32 = 268_435_455;
