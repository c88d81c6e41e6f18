//! What a client may do, decided outside the broker.
//!
//! The broker knows nothing of certificates, policies or registries: the
//! server gives it an [`Authorizer`] that answers CONNECT with the
//! connection's [`Permissions`] (or a refusal), and the broker asks those
//! on every PUBLISH, every SUBSCRIBE filter and every delivery (Receive),
//! answering as AWS IoT Core does:
//!
//! | denied | MQTT 3.1.1 | MQTT 5 |
//! |---|---|---|
//! | CONNECT | connection closed, no CONNACK | CONNACK 0x87, closed |
//! | PUBLISH | connection closed | PUBACK 0x87 (QoS 1), dropped (QoS 0) |
//! | SUBSCRIBE | connection closed | SUBACK 0x87 for that filter |
//! | delivery | dropped for that subscriber | dropped for that subscriber |
//!
//! Without an authorizer (or when it answers `None`), everything is allowed.

use std::net::SocketAddr;
use std::sync::Arc;

/// The checks of one connection. Called on hot paths: no I/O, no waiting.
pub trait Permissions: Send + Sync + 'static {
    /// PUBLISH to `topic` (with RETAIN set: `retain`).
    fn may_publish(&self, topic: &str, retain: bool) -> bool;
    /// SUBSCRIBE to `filter`, exactly as the client wrote it.
    fn may_subscribe(&self, filter: &str) -> bool;
    /// Deliver a message published to `topic` to this client.
    fn may_receive(&self, topic: &str) -> bool;
}

/// A CONNECT, as the authorizer sees it.
#[derive(Debug)]
pub struct ConnectRequest<'a> {
    pub client_id: &'a str,
    pub remote: SocketAddr,
    pub listener: &'static str,
    /// The certificate id, on a connection that authenticated with one;
    /// the access key ID on an admin connection.
    pub principal: Option<&'a str>,
    /// Authenticated with Kumo's admin credentials, not a certificate.
    pub admin: bool,
    /// Its DER, for certificate policy variables.
    pub client_cert: Option<&'a [u8]>,
    /// The session outlives the connection (Clean Session 0 / Session
    /// Expiry > 0): AWS's `iot:ConnectAttributes` `PersistentConnect`.
    pub persistent: bool,
    /// A will is set: `LastWill`.
    pub will_topic: Option<&'a str>,
}

/// Decides CONNECT. `Ok(None)`: allowed, everything permitted.
pub trait Authorizer: Send + Sync + 'static {
    fn connect(&self, req: &ConnectRequest<'_>) -> Result<Option<Arc<dyn Permissions>>, Refused>;
}

/// A CONNECT the authorizer refused, and why (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);
