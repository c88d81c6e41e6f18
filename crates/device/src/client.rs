//! One MQTT connection to Kumo or AWS IoT Core, kept up.
//!
//! [`Client::connect`] makes the first connection (failing with a one-line
//! explanation if it cannot), then a task drives rumqttc's event loop:
//! after a loss it waits a jittered, growing delay and connects again
//! (rumqttc resends unacknowledged QoS 1 publishes on a persistent
//! session). [`Client::publish`] and [`Client::subscribe`] return once the
//! broker acknowledged; incoming messages and connection changes arrive as
//! [`Event`]s.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event as RawEvent, EventLoop, Incoming, MqttOptions, Outgoing,
    QoS, SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, oneshot};

use crate::backoff::{jitter, Backoff};
use crate::tls::{client_config, Credentials};
use crate::DeviceError;

/// How to connect.
#[derive(Debug, Clone)]
pub struct Options {
    /// Host name (as in the server's certificate) or address.
    pub endpoint: String,
    /// 8883 (mutual TLS) or 443 (ALPN `x-amzn-mqtt-ca`).
    pub port: u16,
    pub credentials: Credentials,
    pub client_id: String,
    pub keep_alive: Duration,
    /// MQTT 3.1.1 Clean Session: false keeps subscriptions and queued
    /// QoS 1 messages across reconnects.
    pub clean_session: bool,
}

/// What happens on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message on a subscribed topic.
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
    },
    /// Connected: the first time (started with [`Client::start`]) or again
    /// after an interruption.
    Connected { session_present: bool },
    /// The connection was lost; the client is reconnecting.
    Interrupted(String),
    /// An attempt to connect failed; the next one follows after `retry_in`.
    Failed { reason: String, retry_in: Duration },
}

type Waiters<T> = Mutex<(
    VecDeque<(bool, oneshot::Sender<T>)>,
    HashMap<u16, oneshot::Sender<T>>,
)>;

/// Acknowledgements waited for, matched to requests by order of sending and
/// then by packet identifier.
#[derive(Default)]
struct Pending {
    publishes: Waiters<()>,
    subscribes: Waiters<Vec<SubscribeReasonCode>>,
}

/// A connected client (cheap to clone).
#[derive(Clone)]
pub struct Client {
    inner: AsyncClient,
    pending: Arc<Pending>,
    /// Filters subscribed, subscribed again after a reconnect that found no
    /// session.
    subscriptions: Arc<Mutex<Vec<(String, QoS)>>>,
}

fn mqtt_options(opts: &Options) -> Result<MqttOptions, DeviceError> {
    let tls = client_config(&opts.credentials, opts.port == 443)?;
    let mut mqtt = MqttOptions::new(&opts.client_id, &opts.endpoint, opts.port);
    mqtt.set_keep_alive(opts.keep_alive)
        .set_clean_session(opts.clean_session)
        .set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(tls))));
    Ok(mqtt)
}

impl Client {
    /// Connect (the first time: an error says what to fix) and keep the
    /// connection up in a background task. Events arrive on the receiver.
    pub async fn connect(opts: &Options) -> Result<(Client, mpsc::Receiver<Event>), DeviceError> {
        let (inner, mut eventloop) = AsyncClient::new(mqtt_options(opts)?, 64);
        // The first connection, with the reason it failed.
        loop {
            match eventloop.poll().await {
                Ok(RawEvent::Incoming(Incoming::ConnAck(_))) => break,
                Ok(_) => {}
                Err(e) => return Err(DeviceError::Connection(explain(&e, opts))),
            }
        }
        Ok(Self::spawn(inner, eventloop, opts, true))
    }

    /// Start connecting and keep trying (an agent that must come up before
    /// the network or the broker does): only bad files fail here;
    /// connection failures arrive as [`Event::Failed`].
    pub fn start(opts: &Options) -> Result<(Client, mpsc::Receiver<Event>), DeviceError> {
        let (inner, eventloop) = AsyncClient::new(mqtt_options(opts)?, 64);
        Ok(Self::spawn(inner, eventloop, opts, false))
    }

    fn spawn(
        inner: AsyncClient,
        eventloop: EventLoop,
        opts: &Options,
        connected: bool,
    ) -> (Client, mpsc::Receiver<Event>) {
        let client = Client {
            inner,
            pending: Arc::new(Pending::default()),
            subscriptions: Arc::default(),
        };
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(drive(
            eventloop,
            client.clone(),
            tx,
            opts.clone(),
            connected,
        ));
        (client, rx)
    }

    /// Publish; returns once the broker acknowledged (QoS 1) or the message
    /// left (QoS 0).
    pub async fn publish(
        &self,
        topic: &str,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), DeviceError> {
        let qos = to_qos(qos)?;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending.publishes)
            .0
            .push_back((qos == QoS::AtMostOnce, tx));
        self.inner
            .publish(topic, qos, retain, payload)
            .await
            .map_err(|e| DeviceError::Connection(format!("cannot publish: {e}")))?;
        rx.await.map_err(|_| {
            DeviceError::Connection(
                "the connection ended before the broker acknowledged the publish".into(),
            )
        })
    }

    /// Subscribe; returns the granted QoS, or an error if the broker
    /// refused the filter.
    pub async fn subscribe(&self, filter: &str, qos: u8) -> Result<u8, DeviceError> {
        let qos = to_qos(qos)?;
        {
            let mut subs = lock(&self.subscriptions);
            subs.retain(|(f, _)| f != filter);
            subs.push((filter.to_owned(), qos));
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.pending.subscribes).0.push_back((false, tx));
        self.inner
            .subscribe(filter, qos)
            .await
            .map_err(|e| DeviceError::Connection(format!("cannot subscribe: {e}")))?;
        let codes = rx.await.map_err(|_| {
            DeviceError::Connection(
                "the connection ended before the broker answered the subscribe".into(),
            )
        })?;
        match codes.first() {
            Some(SubscribeReasonCode::Success(q)) => Ok(*q as u8),
            _ => Err(DeviceError::Connection(format!(
                "the broker refused the subscription to {filter}: does the policy allow iot:Subscribe on it?"
            ))),
        }
    }

    /// Disconnect cleanly.
    pub async fn disconnect(&self) -> Result<(), DeviceError> {
        self.inner
            .disconnect()
            .await
            .map_err(|e| DeviceError::Connection(format!("cannot disconnect: {e}")))
    }
}

fn to_qos(q: u8) -> Result<QoS, DeviceError> {
    match q {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        _ => Err(DeviceError::Invalid(format!(
            "QoS {q} is not supported: use 0 or 1 (AWS IoT Core has no QoS 2)"
        ))),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drive the event loop until the client disconnects: acknowledgements to
/// their waiters, messages and connection changes to `events`, reconnects
/// after a jittered delay.
async fn drive(
    mut eventloop: EventLoop,
    client: Client,
    events: mpsc::Sender<Event>,
    opts: Options,
    mut connected: bool,
) {
    let pending = client.pending.clone();
    let mut backoff = Backoff::default();
    loop {
        match eventloop.poll().await {
            Ok(RawEvent::Incoming(Incoming::ConnAck(ack))) => {
                backoff.reset();
                if !connected {
                    connected = true;
                    if !ack.session_present {
                        // The broker kept no session: subscribe again. Each
                        // SUBACK gets a waiter nobody listens to.
                        let subs = lock(&client.subscriptions).clone();
                        for (filter, qos) in subs {
                            let (tx, _) = oneshot::channel();
                            lock(&pending.subscribes).0.push_back((false, tx));
                            let _ = client.inner.try_subscribe(filter, qos);
                        }
                    }
                    let _ = events
                        .send(Event::Connected {
                            session_present: ack.session_present,
                        })
                        .await;
                }
            }
            Ok(RawEvent::Incoming(Incoming::Publish(p))) => {
                let _ = events
                    .send(Event::Message {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                        qos: p.qos as u8,
                        retain: p.retain,
                    })
                    .await;
            }
            Ok(RawEvent::Outgoing(Outgoing::Publish(pkid))) => {
                let mut w = lock(&pending.publishes);
                // A resend after a reconnect keeps its waiter.
                if pkid == 0 || !w.1.contains_key(&pkid) {
                    if let Some((qos0, tx)) = w.0.pop_front() {
                        if qos0 || pkid == 0 {
                            let _ = tx.send(());
                        } else {
                            w.1.insert(pkid, tx);
                        }
                    }
                }
            }
            Ok(RawEvent::Incoming(Incoming::PubAck(ack))) => {
                if let Some(tx) = lock(&pending.publishes).1.remove(&ack.pkid) {
                    let _ = tx.send(());
                }
            }
            Ok(RawEvent::Outgoing(Outgoing::Subscribe(pkid))) => {
                let mut w = lock(&pending.subscribes);
                if let Some((_, tx)) = w.0.pop_front() {
                    w.1.insert(pkid, tx);
                }
            }
            Ok(RawEvent::Incoming(Incoming::SubAck(ack))) => {
                if let Some(tx) = lock(&pending.subscribes).1.remove(&ack.pkid) {
                    let _ = tx.send(ack.return_codes);
                }
            }
            Ok(RawEvent::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                let reason = explain(&e, &opts);
                let retry_in = backoff.next_delay(jitter());
                if connected {
                    connected = false;
                    let _ = events.send(Event::Interrupted(reason)).await;
                } else {
                    let _ = events.send(Event::Failed { reason, retry_in }).await;
                }
                tokio::time::sleep(retry_in).await;
            }
        }
    }
}

/// A connection error in words that say what to fix.
pub fn explain(e: &ConnectionError, opts: &Options) -> String {
    let at = format!("{}:{}", opts.endpoint, opts.port);
    if let Some(tls) = find::<rustls::Error>(e) {
        return match tls {
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            | rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature) => format!(
                "the server at {at} has a certificate the CA file {} does not vouch for: use the root CA of this server (the kit's root-CA.crt; AmazonRootCA1.pem for AWS IoT Core)",
                opts.credentials.ca_file.display()
            ),
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. }) => format!(
                "the server's certificate is not valid for the name {}: use the endpoint name it was issued for (Kumo: one of tls.endpoint_names)",
                opts.endpoint
            ),
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)
            | rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext { .. }) => {
                format!("the server's certificate at {at} has expired (or this device's clock is wrong: check the date)")
            }
            rustls::Error::AlertReceived(alert) => format!(
                "the server at {at} refused this device's certificate ({alert:?}): is it registered and ACTIVE, and is --cert the certificate of --key?"
            ),
            other => format!("TLS with {at} failed: {other}"),
        };
    }
    match e {
        ConnectionError::ConnectionRefused(code) => format!(
            "the server at {at} refused the connection ({code:?}): does the certificate's policy allow iot:Connect for client ID {}?",
            opts.client_id
        ),
        ConnectionError::MqttState(rumqttc::StateError::ConnectionAborted) => closed(opts),
        ConnectionError::NetworkTimeout => format!("no answer from {at} in time: check the endpoint, the port and the network"),
        _ => match find::<std::io::Error>(e) {
            Some(io) => match io.kind() {
                std::io::ErrorKind::ConnectionRefused => format!(
                    "nothing answers at {at} (connection refused): is the broker running, and is the port right (8883, or 443)?"
                ),
                std::io::ErrorKind::TimedOut => {
                    format!("no answer from {at} (timed out): check the endpoint, the port and the network")
                }
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                    closed(opts)
                }
                _ if io.to_string().contains("failed to lookup")
                    || io.to_string().contains("Name or service not known") => format!(
                    "cannot resolve the endpoint {}: check its spelling and the device's DNS",
                    opts.endpoint
                ),
                _ => format!("the connection to {at} failed: {io}"),
            },
            None => format!("the connection to {at} failed: {e}"),
        },
    }
}

/// A connection closed without a word: what AWS IoT Core (and Kumo) do to
/// an MQTT 3.1.1 CONNECT the policy refuses.
fn closed(opts: &Options) -> String {
    format!(
        "the server at {}:{} closed the connection: with AWS IoT Core and Kumo this usually means the certificate's policy does not allow iot:Connect for client ID {} (or another device took over this client ID)",
        opts.endpoint, opts.port, opts.client_id
    )
}

/// The first error of type `T` in `e`'s chain (through io::Error's inner
/// error, where tokio-rustls puts rustls' errors).
fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(t) = inner.downcast_ref::<T>() {
                    return Some(t);
                }
                cur = inner.source();
                continue;
            }
        }
        cur = err.source();
    }
    None
}
