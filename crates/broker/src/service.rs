//! Kumo's own services on reserved topics.
//!
//! Some topics are requests to Kumo rather than messages between clients:
//! `$aws/things/{thing}/shadow/update` asks the shadow service to change a
//! document. A [`Service`] sees every PUBLISH that passed authorization and
//! takes the ones it answers; it replies later by publishing its own
//! messages (`.../update/accepted`, `.../update/delta`, ...) through
//! [`crate::Broker::publish_event`], which are routed to every subscriber
//! allowed to receive them, like any other message.
//!
//! The request is still routed to the request topic's subscribers, as AWS
//! IoT Core does (a test client subscribed to `$aws/things/+/shadow/#` sees
//! both the request and the answers), and it is acknowledged as delivered
//! even when nobody subscribed to it: the service took it.

use bytes::Bytes;

/// One PUBLISH offered to a service.
#[derive(Debug)]
pub struct Request<'a> {
    pub topic: &'a str,
    pub payload: &'a Bytes,
    /// Unique per connection for the broker's lifetime (not the client
    /// ID, which a new connection can take over): for per-connection
    /// limits such as the shadow service's 10 requests in flight.
    pub connection: u64,
    pub client_id: &'a str,
}

/// A service answering requests published to reserved topics.
pub trait Service: Send + Sync + 'static {
    /// Take `request` if this service answers its topic (and return true),
    /// or leave it (false). Called on the publishing connection's task for
    /// every authorised PUBLISH: decide from the topic cheaply, do no I/O
    /// and never block; do the work on a task of your own.
    fn offer(&self, request: &Request<'_>) -> bool;
}
