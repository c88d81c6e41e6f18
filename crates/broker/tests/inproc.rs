//! In-process tests: the broker served over `tokio::io::duplex` pipes and
//! driven with packets built by kumo-mqtt. Deterministic, no sockets.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kumo_broker::{Broker, BrokerConfig, ConnectionInfo};
use kumo_mqtt::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

struct Client {
    io: DuplexStream,
    buf: BytesMut,
    v: ProtocolVersion,
}

impl Client {
    async fn connect(
        b: &Broker,
        v: ProtocolVersion,
        id: &str,
        clean: bool,
        props: Properties,
    ) -> (Client, ConnAck) {
        Self::connect_with(b, v, id, clean, props, false).await
    }

    async fn connect_with(
        b: &Broker,
        v: ProtocolVersion,
        id: &str,
        clean: bool,
        props: Properties,
        publisher_ids: bool,
    ) -> (Client, ConnAck) {
        let (a, z) = tokio::io::duplex(1 << 20);
        let info = ConnectionInfo {
            remote: SocketAddr::from(([127, 0, 0, 1], 1)),
            listener: "test",
            client_cert: None,
            server_name: None,
            principal: None,
            admin: false,
            publisher_ids,
        };
        let b = b.clone();
        tokio::spawn(async move { b.serve(z, info).await });
        let mut c = Client {
            io: a,
            buf: BytesMut::new(),
            v,
        };
        c.send(Packet::Connect(Box::new(Connect {
            protocol: v,
            clean_start: clean,
            keep_alive: 60,
            client_id: id.into(),
            will: None,
            username: None,
            password: None,
            properties: props,
        })))
        .await;
        match c.recv().await {
            Some(Packet::ConnAck(a)) => (c, a),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn send(&mut self, p: Packet) {
        let mut out = BytesMut::new();
        encode(&p, self.v, &mut out);
        self.io.write_all(&out).await.unwrap();
    }

    async fn recv(&mut self) -> Option<Packet> {
        let fut = async {
            loop {
                if let Some(p) = decode(&mut self.buf, self.v, 1 << 24).unwrap() {
                    return Some(p);
                }
                if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                    return None;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), fut)
            .await
            .expect("timed out waiting for a packet")
    }

    async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubAck {
        let opts = SubscriptionOptions {
            qos,
            ..Default::default()
        };
        self.send(Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: Properties::default(),
            filters: vec![(filter.into(), opts)],
        }))
        .await;
        match self.recv().await {
            Some(Packet::SubAck(s)) => s,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    async fn publish(&mut self, topic: &str, payload: &str, qos: QoS, retain: bool, pid: u16) {
        self.send(Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic: Bytes::copy_from_slice(topic.as_bytes()),
            packet_id: pid,
            properties: Properties::default(),
            payload: Bytes::copy_from_slice(payload.as_bytes()),
        }))
        .await;
    }
}

#[tokio::test]
async fn v5_pubsub_roundtrip_qos1() {
    let b = Broker::new(BrokerConfig::default());
    let (mut c, ack) = Client::connect(
        &b,
        ProtocolVersion::V5,
        "basicPubSub",
        true,
        Properties::default(),
    )
    .await;
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(!ack.session_present);
    let s = c.subscribe("sdk/test/python", QoS::AtLeastOnce).await;
    assert_eq!(s.reasons, vec![ReasonCode::GrantedQos1]);
    c.publish(
        "sdk/test/python",
        "Hello World [1]",
        QoS::AtLeastOnce,
        false,
        7,
    )
    .await;
    let mut got_ack = false;
    let mut got_msg = false;
    while !(got_ack && got_msg) {
        match c.recv().await.unwrap() {
            Packet::PubAck(a) => {
                assert_eq!(a.packet_id, 7);
                got_ack = true;
            }
            Packet::Publish(p) => {
                assert_eq!(p.topic_str(), "sdk/test/python");
                assert_eq!(&p.payload[..], b"Hello World [1]");
                assert_eq!(p.qos, QoS::AtLeastOnce);
                c.send(Packet::PubAck(Ack::new(p.packet_id))).await;
                got_msg = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn v311_persistent_session_queues_and_redelivers() {
    let b = Broker::new(BrokerConfig::default());
    let (mut sub, _) = Client::connect(
        &b,
        ProtocolVersion::V311,
        "sub",
        false,
        Properties::default(),
    )
    .await;
    sub.subscribe("q/#", QoS::ExactlyOnce).await;
    drop(sub);
    // Wait for the broker to notice the close: a second client observes the
    // session as offline once a CONNECT with the same id resumes it later.
    let (mut publ, _) = Client::connect(
        &b,
        ProtocolVersion::V311,
        "pub",
        true,
        Properties::default(),
    )
    .await;
    publ.publish("q/a", "one", QoS::AtLeastOnce, false, 1).await;
    assert!(matches!(publ.recv().await, Some(Packet::PubAck(_))));
    let (mut sub, ack) = Client::connect(
        &b,
        ProtocolVersion::V311,
        "sub",
        false,
        Properties::default(),
    )
    .await;
    assert!(ack.session_present);
    match sub.recv().await.unwrap() {
        Packet::Publish(p) => {
            assert_eq!(&p.payload[..], b"one");
            assert_eq!(p.qos, QoS::AtLeastOnce);
            // Do not ack: reconnect and expect DUP redelivery.
        }
        other => panic!("unexpected {other:?}"),
    }
    drop(sub);
    let (mut sub, ack) = Client::connect(
        &b,
        ProtocolVersion::V311,
        "sub",
        false,
        Properties::default(),
    )
    .await;
    assert!(ack.session_present);
    match sub.recv().await.unwrap() {
        Packet::Publish(p) => {
            assert!(p.dup, "redelivery carries DUP");
            assert_eq!(&p.payload[..], b"one");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn takeover_sends_session_taken_over() {
    let b = Broker::new(BrokerConfig::default());
    let (mut first, _) =
        Client::connect(&b, ProtocolVersion::V5, "dup", true, Properties::default()).await;
    let (_second, ack) =
        Client::connect(&b, ProtocolVersion::V5, "dup", true, Properties::default()).await;
    assert_eq!(ack.reason, ReasonCode::Success);
    match first.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::SessionTakenOver),
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    assert_eq!(first.recv().await, None);
}

/// Acknowledged QoS 1 messages are never dropped for a connected subscriber
/// that is slower than its publishers: the publisher is held back instead.
/// (`bench/compare`'s fan-in run lost millions of acknowledged messages to
/// a full subscriber queue before this.)
#[tokio::test]
async fn slow_subscriber_holds_publisher_back_instead_of_dropping_qos1() {
    let b = Broker::new(BrokerConfig {
        max_queued_messages: 8,
        ..BrokerConfig::default()
    });
    let (mut sub, _) = Client::connect(
        &b,
        ProtocolVersion::V5,
        "slow-sub",
        true,
        Properties::default(),
    )
    .await;
    sub.subscribe("fan/in", QoS::AtLeastOnce).await;
    let (mut publ, _) = Client::connect(
        &b,
        ProtocolVersion::V5,
        "fast-pub",
        true,
        Properties::default(),
    )
    .await;
    let total = 200u16;
    for i in 1..=total {
        publ.publish("fan/in", &format!("{i}"), QoS::AtLeastOnce, false, i)
            .await;
    }
    let mut got = Vec::new();
    while got.len() < usize::from(total) {
        match sub.recv().await.expect("subscriber connection open") {
            Packet::Publish(p) => {
                got.push(String::from_utf8(p.payload.to_vec()).unwrap());
                sub.send(Packet::PubAck(Ack::new(p.packet_id))).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<String> = (1..=total).map(|i| i.to_string()).collect();
    assert_eq!(got, expected, "every acknowledged message, in order");
    let mut acks = 0;
    while acks < total {
        if let Some(Packet::PubAck(_)) = publ.recv().await {
            acks += 1;
        }
    }
}

#[tokio::test]
async fn deliveries_name_the_publisher_to_connections_that_ask() {
    let b = Broker::new(BrokerConfig::default());
    let v5 = ProtocolVersion::V5;
    let (mut console, _) =
        Client::connect_with(&b, v5, "kumo-console-1", true, Properties::default(), true).await;
    let (mut plain, _) = Client::connect(&b, v5, "plain", true, Properties::default()).await;
    let (mut device, _) = Client::connect(&b, v5, "raspi2", true, Properties::default()).await;
    console.subscribe("t/#", QoS::AtMostOnce).await;
    plain.subscribe("t/#", QoS::AtMostOnce).await;
    device.publish("t/1", "hi", QoS::AtMostOnce, false, 0).await;
    let Some(Packet::Publish(p)) = console.recv().await else {
        panic!("no PUBLISH")
    };
    assert_eq!(
        p.properties.user_properties,
        vec![(
            kumo_broker::PUBLISHER_PROPERTY.to_owned(),
            "raspi2".to_owned()
        )]
    );
    let Some(Packet::Publish(p)) = plain.recv().await else {
        panic!("no PUBLISH")
    };
    assert!(p.properties.user_properties.is_empty());
}
