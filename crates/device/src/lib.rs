//! Kumo's device side: connect a device to Kumo or to AWS IoT Core with its
//! certificate (mutual TLS on 8883, or 443 with ALPN `x-amzn-mqtt-ca`),
//! keep the connection up, publish and subscribe. The `kumo-device` binary
//! is built on it.
//!
//! No server crate is a dependency: only rumqttc, rustls (aws-lc-rs) and
//! tokio.

pub mod agent;
pub mod backoff;
pub mod client;
pub mod convert;
mod error;
pub mod queue;
pub mod shadow;
pub mod shadow_sync;
pub mod tls;

pub use client::{Client, Event, Options};
pub use error::DeviceError;
pub use tls::Credentials;
