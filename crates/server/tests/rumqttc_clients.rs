//! Black-box: the real `kumo` binary on port 0, driven by rumqttc (MQTT
//! 3.1.1 and 5) over the plain TCP listener.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

struct Kumo {
    child: Child,
    _dir: TempDir,
    tcp: u16,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Kumo {
    fn start() -> Kumo {
        let dir = std::env::temp_dir().join(format!(
            "kumo-rumqttc-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ports = dir.join("ports.json");
        let child = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .args(["serve", "--data-dir"])
            .arg(dir.join("data"))
            .arg("--ports-file")
            .arg(&ports)
            .env("KUMO_LISTENERS_TCP_BIND", "127.0.0.1:0")
            .env("KUMO_LISTENERS_TLS_BIND", "127.0.0.1:0")
            .env("KUMO_LISTENERS_ALPN_BIND", "127.0.0.1:0")
            .env("KUMO_LISTENERS_API_BIND", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kumo");
        let tcp = wait_for_port(&ports);
        Kumo {
            child,
            _dir: TempDir(dir),
            tcp,
        }
    }
}

impl Drop for Kumo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn wait_for_port(ports: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(ports) {
            let v: serde_json::Value = serde_json::from_str(&text).expect("ports file is JSON");
            return v["tcp"].as_u64().expect("tcp port") as u16;
        }
        assert!(
            Instant::now() < deadline,
            "kumo did not write its ports file"
        );
        std::thread::sleep(Duration::from_millis(20));
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
