//! Kumo's MQTT broker: sessions, the subscription index, routing, QoS flows,
//! retained messages, wills and flow control, for MQTT 3.1.1 and 5.0.
//!
//! The broker is handed an already-accepted byte stream (plain TCP, TLS,
//! later WebSocket) together with what the listener learned about the peer
//! ([`ConnectionInfo`]). It never opens sockets, never reads certificates and
//! never touches storage on the publish path.

mod config;
pub use config::{BrokerConfig, Compat};

use std::net::SocketAddr;

/// What the listener knows about an accepted connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub remote: SocketAddr,
    /// Name of the listener that accepted it (`tcp`, `tls`, `alpn`, ...), for logs.
    pub listener: &'static str,
    /// The verified client certificate chain's leaf (DER), when the
    /// transport authenticated one.
    pub client_cert: Option<Vec<u8>>,
    /// The SNI host name the client asked for, if any.
    pub server_name: Option<String>,
}

use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// A running broker. Cheap to clone: every clone is the same broker.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    #[allow(dead_code)]
    config: BrokerConfig,
}

impl Broker {
    pub fn new(config: BrokerConfig) -> Self {
        Broker { inner: Arc::new(Inner { config }) }
    }

    /// Serve one accepted connection until it ends. Spawn this per connection.
    pub async fn serve<S>(&self, stream: S, info: ConnectionInfo)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _ = (stream, info, &self.inner);
        todo!("broker core")
    }

    /// Graceful shutdown: publish the wills the spec requires, send every MQTT 5
    /// client DISCONNECT 0x8B (Server shutting down), close every connection and
    /// wait (bounded) for their tasks to end. Stop accepting before calling this.
    pub async fn shutdown(&self) {}
}
