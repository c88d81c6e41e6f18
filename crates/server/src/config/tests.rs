//! Config parsing, defaults, validation and environment overrides.

use super::*;

const EXAMPLE: &str = include_str!("../../../../kumo.example.toml");

fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let dir = std::env::temp_dir().join(format!(
        "kumo-config-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kumo.toml");
    std::fs::write(&path, text).unwrap();
    let r = load(Some(&path), vars(env), None);
    std::fs::remove_dir_all(&dir).unwrap();
    r
}

#[test]
fn defaults() {
    let c = load(None, vec![], None).unwrap().config;
    assert_eq!(c.data_dir, PathBuf::from("./kumo-data"));
    assert!(!c.listeners.tcp.enabled);
    assert!(c.listeners.tls.enabled);
    assert_eq!(c.listeners.tls.bind, "0.0.0.0:8883".parse().unwrap());
    assert_eq!(c.listeners.alpn.bind, "0.0.0.0:443".parse().unwrap());
    assert!(c.tls.require_client_cert);
    assert_eq!(
        c.tls.client_ca_file,
        PathBuf::from("./kumo-data/ca/device-ca.crt")
    );
    for n in ["localhost", "127.0.0.1"] {
        assert!(c.tls.endpoint_names.iter().any(|e| e == n), "{n} missing");
    }
    assert_eq!(c.log.level, "info");
    assert_eq!(c.log.format, LogFormat::Text);
    let b = c.mqtt.broker_config();
    let d = BrokerConfig::default();
    assert_eq!(b.compat, Compat::Spec);
    assert_eq!(b.max_packet_size, d.max_packet_size);
    assert_eq!(b.max_keep_alive, None);
}

#[test]
fn example_file_is_valid_and_equals_defaults() {
    let c = load_str(EXAMPLE, &[]).unwrap().config;
    let d = load(None, vec![], None).unwrap().config;
    assert_eq!(toml::to_string(&c).unwrap(), toml::to_string(&d).unwrap());
}

#[test]
fn every_env_key_is_a_file_field_and_documented() {
    for (key, kind) in env::KEYS {
        let sample = match kind {
            env::Kind::Str => match *key {
                "mqtt.compat" => "aws_strict",
                "log.format" => "json",
                "log.level" => "debug",
                "store.durability" => "async",
                "aws.account_id" => "123456789012",
                "tls.client_auth" => "ca_file",
                k if k.ends_with(".bind") => "127.0.0.1:0",
                _ => "x",
            },
            env::Kind::Bool => "true",
            env::Kind::UInt(_) => "100",
            env::Kind::StrList => "localhost,10.0.0.1",
        };
        let name = env::var_name(key);
        let r = load(None, vars(&[(&name, sample)]), None)
            .unwrap_or_else(|e| panic!("{name}={sample}: {e}"));
        assert_eq!(r.env_applied, vec![name.clone()]);
        let field = key.rsplit('.').next().unwrap();
        assert!(
            EXAMPLE.contains(&format!("\n{field} =")) || EXAMPLE.contains(&format!("# {field} =")),
            "{key} is not documented in kumo.example.toml"
        );
    }
}

#[test]
fn aws_region_and_account_are_checked() {
    let c = load_str("", &[]).unwrap().config;
    assert_eq!(
        (c.aws.region.as_str(), c.aws.account_id.as_str()),
        ("us-east-1", "000000000000")
    );
    let e = load_str("[aws]\naccount_id = \"12\"\n", &[]).unwrap_err().0;
    assert!(
        e.contains("aws.account_id") && e.contains("12 digits"),
        "{e}"
    );
    let e = load_str("[aws]\nregion = \"US East\"\n", &[])
        .unwrap_err()
        .0;
    assert!(e.contains("aws.region"), "{e}");
}

#[test]
fn unknown_field_is_an_error_with_location() {
    let e = load_str("[mqtt]\nmax_packet_sise = 10\n", &[])
        .unwrap_err()
        .0;
    assert!(e.contains("max_packet_sise"), "{e}");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn wrong_type_is_an_error_with_location() {
    let e = load_str("[mqtt]\n\nreceive_maximum = 70000\n", &[])
        .unwrap_err()
        .0;
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn bad_bind_names_the_key() {
    let e = load_str("[listeners.tls]\nbind = \"localhost\"\n", &[])
        .unwrap_err()
        .0;
    assert!(e.starts_with("listeners.tls.bind:"), "{e}");
}

#[test]
fn env_overrides_file() {
    let text = "[listeners.tls]\nbind = \"0.0.0.0:9999\"\n[mqtt]\nmax_inflight = 5\n";
    let r = load_str(
        text,
        &[
            ("KUMO_LISTENERS_TLS_BIND", "127.0.0.1:0"),
            ("KUMO_LISTENERS_TCP_BIND", "127.0.0.1:0"),
            ("KUMO_LISTENERS_ALPN_ENABLED", "false"),
            ("KUMO_MQTT_COMPAT", "aws_strict"),
            ("KUMO_TLS_ENDPOINT_NAMES", "a.example, 10.1.2.3"),
            ("KUMO_BOGUS", "1"),
            ("KUMO_CONFIG", "ignored"),
            ("OTHER", "x"),
        ],
    )
    .unwrap();
    let c = r.config;
    assert_eq!(c.listeners.tls.bind, "127.0.0.1:0".parse().unwrap());
    assert!(
        c.listeners.tcp.enabled,
        "a tcp bind turns the tcp listener on"
    );
    assert!(!c.listeners.alpn.enabled);
    assert_eq!(c.tls.endpoint_names, vec!["a.example", "10.1.2.3"]);
    assert_eq!(r.env_unknown, vec!["KUMO_BOGUS"]);
    // aws_strict is the base; the file's explicit field still wins over it.
    let b = c.mqtt.broker_config();
    assert_eq!(b.compat, Compat::AwsStrict);
    assert_eq!(b.max_packet_size, 149_504);
    assert_eq!(b.max_keep_alive, Some(1200));
    assert_eq!(b.max_inflight, 5);
}

#[test]
fn bad_env_value_names_the_variable() {
    let e = load(None, vars(&[("KUMO_MQTT_RECEIVE_MAXIMUM", "70000")]), None)
        .unwrap_err()
        .0;
    assert!(e.contains("KUMO_MQTT_RECEIVE_MAXIMUM"), "{e}");
    let e = load(None, vars(&[("KUMO_MQTT_COMPAT", "aws")]), None)
        .unwrap_err()
        .0;
    assert!(e.contains("environment"), "{e}");
    let e = load(None, vars(&[("KUMO_MQTT_RECEIVE_MAXIMUM", "0")]), None)
        .unwrap_err()
        .0;
    assert!(
        e.contains("mqtt.receive_maximum") && e.contains("KUMO_MQTT_RECEIVE_MAXIMUM"),
        "{e}"
    );
}

#[test]
fn all_listeners_disabled_is_an_error() {
    let e = load(
        None,
        vars(&[
            ("KUMO_LISTENERS_TLS_ENABLED", "no"),
            ("KUMO_LISTENERS_ALPN_ENABLED", "off"),
            ("KUMO_LISTENERS_API_ENABLED", "0"),
        ]),
        None,
    )
    .unwrap_err()
    .0;
    assert!(e.starts_with("listeners:"), "{e}");
}

#[test]
fn data_dir_flag_wins_and_moves_default_client_ca() {
    let r = load(None, vars(&[("KUMO_DATA_DIR", "/a")]), Some("/b".into())).unwrap();
    assert_eq!(r.config.data_dir, PathBuf::from("/b"));
    assert_eq!(
        r.config.tls.client_ca_file,
        PathBuf::from("/b/ca/device-ca.crt")
    );
}

#[test]
fn endpoint_names_are_checked() {
    assert!(check_endpoint_name("iot.example.com").is_ok());
    assert!(check_endpoint_name("*.example.com").is_ok());
    assert!(check_endpoint_name("::1").is_ok());
    assert!(check_endpoint_name("bad name").is_err());
    assert!(check_endpoint_name("a..b").is_err());
    assert!(check_endpoint_name("").is_err());
    let e = load_str("[tls]\nendpoint_names = []\n", &[]).unwrap_err().0;
    assert!(e.starts_with("tls.endpoint_names:"), "{e}");
}

#[test]
fn keep_alive_bounds_are_consistent() {
    let e = load_str("[mqtt]\nmin_keep_alive = 100\nmax_keep_alive = 60\n", &[])
        .unwrap_err()
        .0;
    assert!(e.starts_with("mqtt.min_keep_alive:"), "{e}");
}
