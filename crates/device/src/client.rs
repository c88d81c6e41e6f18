//! One MQTT connection to Kumo or AWS IoT Core, kept up.
//!
//! [`Client::connect`] makes the first connection (failing with a one-line
//! explanation if it cannot), then a task drives rumqttc's event loop:
//! after a loss it waits a jittered, growing delay and connects again
//! (rumqttc resends unacknowledged QoS 1 publishes on a persistent
//! session). [`Client::publish`] and [`Client::subscribe`] return once the
//! broker acknowledged; incoming messages and connection changes arrive as
//! [`Event`]s. MQTT 3.1.1 and 5 (rumqttc's two clients behind one face:
//! [`Handle`] and [`Loop`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5 as p5;
use rumqttc::{Outgoing, TlsConfiguration, Transport};
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
    /// QoS 1 messages across reconnects (MQTT 5: Clean Start 0 and a
    /// session expiry of a day).
    pub clean_session: bool,
    /// Speak MQTT 5 instead of 3.1.1.
    pub mqtt5: bool,
    /// Offer ALPN `x-amzn-mqtt-ca` on a port other than 443 (a forwarded
    /// port); on 443 it is always offered.
    pub alpn: bool,
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
    /// Ok, or the broker's reason for refusing (MQTT 5 PUBACK).
    publishes: Waiters<Result<(), String>>,
    /// Granted QoS per filter, None where refused.
    subscribes: Waiters<Vec<Option<u8>>>,
}

/// A connected client (cheap to clone).
#[derive(Clone)]
pub struct Client {
    inner: Handle,
    pending: Arc<Pending>,
    /// Filters subscribed, subscribed again after a reconnect that found no
    /// session.
    subscriptions: Arc<Mutex<Vec<(String, u8)>>>,
}

/// rumqttc's client for the protocol in use.
#[derive(Clone)]
enum Handle {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// rumqttc's event loop for the protocol in use.
enum Loop {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<rumqttc::v5::EventLoop>),
}

/// What either event loop reported, in one vocabulary.
enum Raw {
    ConnAck { session_present: bool },
    Publish(Event),
    OutPublish(u16),
    PubAck { pkid: u16, refused: Option<String> },
    OutSubscribe(u16),
    SubAck { pkid: u16, granted: Vec<Option<u8>> },
    OutDisconnect,
    Other,
}

fn q4(q: u8) -> rumqttc::QoS {
    if q == 0 {
        rumqttc::QoS::AtMostOnce
    } else {
        rumqttc::QoS::AtLeastOnce
    }
}

fn q5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    if q == 0 {
        rumqttc::v5::mqttbytes::QoS::AtMostOnce
    } else {
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce
    }
}

fn client_error(what: &str, e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Connection(format!("cannot {what}: {e}"))
}

impl Handle {
    fn new(opts: &Options) -> Result<(Handle, Loop), DeviceError> {
        let tls = client_config(&opts.credentials, opts.port == 443 || opts.alpn)?;
        let transport = Transport::Tls(TlsConfiguration::Rustls(Arc::new(tls)));
        if opts.mqtt5 {
            let mut o = rumqttc::v5::MqttOptions::new(&opts.client_id, &opts.endpoint, opts.port);
            o.set_keep_alive(opts.keep_alive)
                .set_clean_start(opts.clean_session)
                .set_transport(transport);
            if !opts.clean_session {
                o.set_session_expiry_interval(Some(86_400));
            }
            let (c, l) = rumqttc::v5::AsyncClient::new(o, 64);
            Ok((Handle::V5(c), Loop::V5(Box::new(l))))
        } else {
            let mut o = rumqttc::MqttOptions::new(&opts.client_id, &opts.endpoint, opts.port);
            o.set_keep_alive(opts.keep_alive)
                .set_clean_session(opts.clean_session)
                .set_transport(transport);
            let (c, l) = rumqttc::AsyncClient::new(o, 64);
            Ok((Handle::V4(c), Loop::V4(Box::new(l))))
        }
    }

    async fn publish(
        &self,
        topic: &str,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), DeviceError> {
        match self {
            Handle::V4(c) => c
                .publish(topic, q4(qos), retain, payload)
                .await
                .map_err(|e| client_error("publish", e)),
            Handle::V5(c) => c
                .publish(topic, q5(qos), retain, payload)
                .await
                .map_err(|e| client_error("publish", e)),
        }
    }

    async fn subscribe(&self, filter: &str, qos: u8) -> Result<(), DeviceError> {
        match self {
            Handle::V4(c) => c
                .subscribe(filter, q4(qos))
                .await
                .map_err(|e| client_error("subscribe", e)),
            Handle::V5(c) => c
                .subscribe(filter, q5(qos))
                .await
                .map_err(|e| client_error("subscribe", e)),
        }
    }

    fn try_subscribe(&self, filter: &str, qos: u8) {
        let _ = match self {
            Handle::V4(c) => c.try_subscribe(filter, q4(qos)).map_err(|e| e.to_string()),
            Handle::V5(c) => c.try_subscribe(filter, q5(qos)).map_err(|e| e.to_string()),
        };
    }

    async fn disconnect(&self) -> Result<(), DeviceError> {
        match self {
            Handle::V4(c) => c
                .disconnect()
                .await
                .map_err(|e| client_error("disconnect", e)),
            Handle::V5(c) => c
                .disconnect()
                .await
                .map_err(|e| client_error("disconnect", e)),
        }
    }
}

impl Loop {
    /// The next event, or the failure explained.
    async fn poll(&mut self, opts: &Options) -> Result<Raw, Failure> {
        match self {
            Loop::V4(l) => {
                use rumqttc::{Event as E, Incoming as I};
                match l.poll().await {
                    Ok(E::Incoming(I::ConnAck(a))) => Ok(Raw::ConnAck {
                        session_present: a.session_present,
                    }),
                    Ok(E::Incoming(I::Publish(p))) => Ok(Raw::Publish(Event::Message {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                        qos: p.qos as u8,
                        retain: p.retain,
                    })),
                    Ok(E::Incoming(I::PubAck(a))) => Ok(Raw::PubAck {
                        pkid: a.pkid,
                        refused: None,
                    }),
                    Ok(E::Incoming(I::SubAck(a))) => Ok(Raw::SubAck {
                        pkid: a.pkid,
                        granted: a
                            .return_codes
                            .iter()
                            .map(|c| match c {
                                rumqttc::SubscribeReasonCode::Success(q) => Some(*q as u8),
                                rumqttc::SubscribeReasonCode::Failure => None,
                            })
                            .collect(),
                    }),
                    Ok(E::Outgoing(o)) => Ok(outgoing(o)),
                    Ok(_) => Ok(Raw::Other),
                    Err(rumqttc::ConnectionError::RequestsDone) => Err(Failure::Done),
                    Err(e) => Err(Failure::Lost(match &e {
                        rumqttc::ConnectionError::ConnectionRefused(code) => {
                            refused(opts, &format!("{code:?}"))
                        }
                        rumqttc::ConnectionError::MqttState(
                            rumqttc::StateError::ConnectionAborted,
                        ) => closed(opts),
                        _ => explain(&e, opts),
                    })),
                }
            }
            Loop::V5(l) => {
                use rumqttc::v5::{Event as E, Incoming as I};
                match l.poll().await {
                    Ok(E::Incoming(I::ConnAck(a))) => Ok(Raw::ConnAck {
                        session_present: a.session_present,
                    }),
                    Ok(E::Incoming(I::Publish(p))) => Ok(Raw::Publish(Event::Message {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        payload: p.payload.to_vec(),
                        qos: p.qos as u8,
                        retain: p.retain,
                    })),
                    Ok(E::Incoming(I::PubAck(a))) => Ok(Raw::PubAck {
                        pkid: a.pkid,
                        refused: match a.reason {
                            p5::PubAckReason::Success | p5::PubAckReason::NoMatchingSubscribers => {
                                None
                            }
                            r => Some(format!("{r:?}")),
                        },
                    }),
                    Ok(E::Incoming(I::SubAck(a))) => Ok(Raw::SubAck {
                        pkid: a.pkid,
                        granted: a
                            .return_codes
                            .iter()
                            .map(|c| match c {
                                p5::SubscribeReasonCode::Success(q) => Some(*q as u8),
                                _ => None,
                            })
                            .collect(),
                    }),
                    Ok(E::Outgoing(o)) => Ok(outgoing(o)),
                    Ok(_) => Ok(Raw::Other),
                    Err(rumqttc::v5::ConnectionError::RequestsDone) => Err(Failure::Done),
                    Err(e) => Err(Failure::Lost(match &e {
                        rumqttc::v5::ConnectionError::ConnectionRefused(code) => {
                            refused(opts, &format!("{code:?}"))
                        }
                        rumqttc::v5::ConnectionError::MqttState(
                            rumqttc::v5::StateError::ConnectionAborted,
                        ) => closed(opts),
                        _ => explain(&e, opts),
                    })),
                }
            }
        }
    }
}

fn outgoing(o: Outgoing) -> Raw {
    match o {
        Outgoing::Publish(pkid) => Raw::OutPublish(pkid),
        Outgoing::Subscribe(pkid) => Raw::OutSubscribe(pkid),
        Outgoing::Disconnect => Raw::OutDisconnect,
        _ => Raw::Other,
    }
}

/// Why the event loop stopped.
enum Failure {
    /// The client disconnected: the loop is over.
    Done,
    /// The connection failed, in words that say what to fix.
    Lost(String),
}

fn refused(opts: &Options, code: &str) -> String {
    format!(
        "the server at {}:{} refused the connection ({code}): does the certificate's policy allow iot:Connect for client ID {}?",
        opts.endpoint, opts.port, opts.client_id
    )
}

impl Client {
    /// Connect (the first time: an error says what to fix) and keep the
    /// connection up in a background task. Events arrive on the receiver.
    pub async fn connect(opts: &Options) -> Result<(Client, mpsc::Receiver<Event>), DeviceError> {
        let (inner, mut eventloop) = Handle::new(opts)?;
        // The first connection, with the reason it failed.
        loop {
            match eventloop.poll(opts).await {
                Ok(Raw::ConnAck { .. }) => break,
                Ok(_) => {}
                Err(Failure::Lost(why)) => return Err(DeviceError::Connection(why)),
                Err(Failure::Done) => {
                    return Err(DeviceError::Connection(
                        "the client stopped before connecting".into(),
                    ))
                }
            }
        }
        Ok(Self::spawn(inner, eventloop, opts, true))
    }

    /// Start connecting and keep trying (an agent that must come up before
    /// the network or the broker does): only bad files fail here;
    /// connection failures arrive as [`Event::Failed`].
    pub fn start(opts: &Options) -> Result<(Client, mpsc::Receiver<Event>), DeviceError> {
        let (inner, eventloop) = Handle::new(opts)?;
        Ok(Self::spawn(inner, eventloop, opts, false))
    }

    fn spawn(
        inner: Handle,
        eventloop: Loop,
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
        check_qos(qos)?;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending.publishes).0.push_back((qos == 0, tx));
        self.inner.publish(topic, qos, retain, payload).await?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(DeviceError::Connection(format!(
                "the broker refused the publish to {topic} ({reason}): does the policy allow iot:Publish on it?"
            ))),
            Err(_) => Err(DeviceError::Connection(
                "the connection ended before the broker acknowledged the publish".into(),
            )),
        }
    }

    /// Subscribe; returns the granted QoS, or an error if the broker
    /// refused the filter.
    pub async fn subscribe(&self, filter: &str, qos: u8) -> Result<u8, DeviceError> {
        check_qos(qos)?;
        {
            let mut subs = lock(&self.subscriptions);
            subs.retain(|(f, _)| f != filter);
            subs.push((filter.to_owned(), qos));
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.pending.subscribes).0.push_back((false, tx));
        self.inner.subscribe(filter, qos).await?;
        let granted = rx.await.map_err(|_| {
            DeviceError::Connection(
                "the connection ended before the broker answered the subscribe".into(),
            )
        })?;
        match granted.first() {
            Some(Some(q)) => Ok(*q),
            _ => Err(DeviceError::Connection(format!(
                "the broker refused the subscription to {filter}: does the policy allow iot:Subscribe on it?"
            ))),
        }
    }

    /// Disconnect cleanly.
    pub async fn disconnect(&self) -> Result<(), DeviceError> {
        self.inner.disconnect().await
    }
}

fn check_qos(q: u8) -> Result<(), DeviceError> {
    if q <= 1 {
        Ok(())
    } else {
        Err(DeviceError::Invalid(format!(
            "QoS {q} is not supported: use 0 or 1 (AWS IoT Core has no QoS 2)"
        )))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drive the event loop until the client disconnects: acknowledgements to
/// their waiters, messages and connection changes to `events`, reconnects
/// after a jittered delay.
async fn drive(
    mut eventloop: Loop,
    client: Client,
    events: mpsc::Sender<Event>,
    opts: Options,
    mut connected: bool,
) {
    let pending = client.pending.clone();
    let mut backoff = Backoff::default();
    loop {
        match eventloop.poll(&opts).await {
            Ok(Raw::ConnAck { session_present }) => {
                backoff.reset();
                if !connected {
                    connected = true;
                    if !session_present {
                        // The broker kept no session: subscribe again. Each
                        // SUBACK gets a waiter nobody listens to.
                        let subs = lock(&client.subscriptions).clone();
                        for (filter, qos) in subs {
                            let (tx, _) = oneshot::channel();
                            lock(&pending.subscribes).0.push_back((false, tx));
                            client.inner.try_subscribe(&filter, qos);
                        }
                    }
                    let _ = events.send(Event::Connected { session_present }).await;
                }
            }
            Ok(Raw::Publish(message)) => {
                let _ = events.send(message).await;
            }
            Ok(Raw::OutPublish(pkid)) => {
                let mut w = lock(&pending.publishes);
                // A resend after a reconnect keeps its waiter.
                if pkid == 0 || !w.1.contains_key(&pkid) {
                    if let Some((qos0, tx)) = w.0.pop_front() {
                        if qos0 || pkid == 0 {
                            let _ = tx.send(Ok(()));
                        } else {
                            w.1.insert(pkid, tx);
                        }
                    }
                }
            }
            Ok(Raw::PubAck { pkid, refused }) => {
                if let Some(tx) = lock(&pending.publishes).1.remove(&pkid) {
                    let _ = tx.send(refused.map_or(Ok(()), Err));
                }
            }
            Ok(Raw::OutSubscribe(pkid)) => {
                let mut w = lock(&pending.subscribes);
                if let Some((_, tx)) = w.0.pop_front() {
                    w.1.insert(pkid, tx);
                }
            }
            Ok(Raw::SubAck { pkid, granted }) => {
                if let Some(tx) = lock(&pending.subscribes).1.remove(&pkid) {
                    let _ = tx.send(granted);
                }
            }
            Ok(Raw::OutDisconnect) | Err(Failure::Done) => return,
            Ok(Raw::Other) => {}
            Err(Failure::Lost(reason)) => {
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
fn explain(e: &(dyn std::error::Error + 'static), opts: &Options) -> String {
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
    if e.downcast_ref::<rumqttc::ConnectionError>()
        .is_some_and(|c| matches!(c, rumqttc::ConnectionError::NetworkTimeout))
        || e.downcast_ref::<rumqttc::v5::ConnectionError>()
            .is_some_and(|c| matches!(c, rumqttc::v5::ConnectionError::Timeout(_)))
    {
        return format!(
            "no answer from {at} in time: check the endpoint, the port and the network"
        );
    }
    {
        match find::<std::io::Error>(e) {
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
        }
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
