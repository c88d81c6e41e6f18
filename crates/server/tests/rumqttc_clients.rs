//! Black-box: the real `kumo` binary on port 0, driven by rumqttc (MQTT
//! 3.1.1 and 5) over the plain TCP listener.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

/// The real binary, listeners on port 0 (kumo-testkit), and its data.
struct Kumo {
    _server: kumo_testkit::Kumo,
    _dir: kumo_testkit::TempDir,
    tcp: u16,
}

impl Kumo {
    fn start() -> Kumo {
        let dir = kumo_testkit::TempDir::new("rumqttc");
        let server = kumo_testkit::Kumo::start(
            std::path::Path::new(env!("CARGO_BIN_EXE_kumo")),
            dir.path(),
            &[],
        );
        let tcp = server.port("tcp");
        Kumo {
            _server: server,
            _dir: dir,
            tcp,
        }
    }
}

#[tokio::test]
async fn rumqttc_v4_pubsub_all_qos() {
    let kumo = Kumo::start();
    let mut opts = MqttOptions::new("rumqttc-v4", "127.0.0.1", kumo.tcp);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(opts, 16);
    client
        .subscribe("sdk/test/rust", QoS::ExactlyOnce)
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut published = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.len() < 3 {
        let ev = tokio::time::timeout_at(deadline, events.poll())
            .await
            .expect("timed out")
            .unwrap();
        match ev {
            Event::Incoming(Incoming::SubAck(ack)) if !published => {
                assert_eq!(
                    ack.return_codes,
                    vec![rumqttc::SubscribeReasonCode::Success(QoS::ExactlyOnce)]
                );
                for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
                    .into_iter()
                    .enumerate()
                {
                    client
                        .publish("sdk/test/rust", qos, false, format!("msg {i}"))
                        .await
                        .unwrap();
                }
                published = true;
            }
            Event::Incoming(Incoming::Publish(p)) => {
                received.push((p.qos, String::from_utf8(p.payload.to_vec()).unwrap()))
            }
            _ => {}
        }
    }
    received.sort_by_key(|(_, s)| s.clone());
    assert_eq!(
        received,
        vec![
            (QoS::AtMostOnce, "msg 0".into()),
            (QoS::AtLeastOnce, "msg 1".into()),
            (QoS::ExactlyOnce, "msg 2".into())
        ]
    );
}

#[tokio::test]
async fn rumqttc_v5_user_properties_and_retained() {
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::mqttbytes::QoS as Q5;
    use rumqttc::v5::{AsyncClient as Client5, Event as Ev5, MqttOptions as Opts5};

    let kumo = Kumo::start();
    // A retained message published first, with MQTT 5 properties.
    let (pubc, mut pub_events) =
        Client5::new(Opts5::new("rumqttc-v5-pub", "127.0.0.1", kumo.tcp), 16);
    let props = PublishProperties {
        user_properties: vec![("k".into(), "v".into())],
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    pubc.publish_with_properties(
        "state/raspi2",
        Q5::AtLeastOnce,
        true,
        "{\"on\":true}",
        props,
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, pub_events.poll())
            .await
            .expect("timed out")
            .unwrap()
        {
            Ev5::Incoming(Packet::PubAck(_)) => break,
            _ => continue,
        }
    }
    let (subc, mut sub_events) =
        Client5::new(Opts5::new("rumqttc-v5-sub", "127.0.0.1", kumo.tcp), 16);
    subc.subscribe("state/+", Q5::AtLeastOnce).await.unwrap();
    loop {
        match tokio::time::timeout_at(deadline, sub_events.poll())
            .await
            .expect("timed out")
            .unwrap()
        {
            Ev5::Incoming(Packet::Publish(p)) => {
                assert_eq!(&p.topic[..], b"state/raspi2");
                assert!(p.retain, "a retained copy sent on subscribe has RETAIN=1");
                let props = p.properties.expect("properties forwarded");
                assert_eq!(
                    props.user_properties,
                    vec![("k".to_string(), "v".to_string())]
                );
                assert_eq!(props.content_type.as_deref(), Some("application/json"));
                break;
            }
            _ => continue,
        }
    }
}
