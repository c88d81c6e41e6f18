//! `kumo kit NAME`: the self-hosted twin of the AWS IoT console's "connect
//! one device" package.
//!
//! The server ([`provision`], through the admin socket's
//! `CreateConnectKit`, or the web console's wizard) makes sure the thing
//! exists, creates an ACTIVE certificate and key pair for it, creates (once)
//! the thing's least-privilege policy `NAME-Policy` and attaches both;
//! [`package`] makes `connect_device_package.zip`:
//!
//! | file | what |
//! |---|---|
//! | `NAME.cert.pem`, `NAME.private.key`, `NAME.public.key` | as the console's kit |
//! | `NAME.cert.der`, `NAME.private.key.der` | the same in DER, for MicroPython (no OpenSSL step) |
//! | `NAME-Policy` | the policy document |
//! | `root-CA.crt` | Kumo's root CA (the console's kit downloads Amazon's) |
//! | `start.sh`, `pubsub.py` | install `awsiotsdk` into a venv, run a pub/sub loop |
//! | `start-kumo-device.sh` | the same loop with `kumo-device` (Rust) |
//! | `device.toml` | the `kumo-device` agent's configuration for this device |
//! | `main.py` | the same loop for MicroPython with `umqtt.simple` and the DER files |
//! | `README.md` | what each file is, how to connect |

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use kumo_broker::Broker;
use kumo_registry::RegistryError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::admin::RegistryService;
use crate::admin_cli::Admin;
use crate::cli::{AdminArgs, KitArgs};
use crate::error::{Failure, Result};

const PUBSUB_PY: &str = include_str!("kit/pubsub.py");

/// The console kit policy's shape: connect as the thing or as the SDK
/// samples' client ids, use the thing's own topics, its own shadows
/// (classic and named: `*` crosses levels) and the samples' `sdk/test/*`
/// topics.
///
/// Client ids beyond the console's: `test-*` (the Python SDK samples'
/// default), `gen` + 32 hex digits (what the SDK's MQTT 5 client picks for
/// itself when none is given and it takes the server for IoT Core, as in
/// the SDK's shadow sample) and `$GEN/*` (what the server assigns to an
/// MQTT 5 client that sends none).
pub fn policy_document(arn_prefix: &str, thing: &str) -> String {
    let topics = |kind: &str| {
        json!([
            format!("{arn_prefix}:{kind}/sdk/test/*"),
            format!("{arn_prefix}:{kind}/{thing}/*"),
            format!("{arn_prefix}:{kind}/$aws/things/{thing}/shadow/*"),
        ])
    };
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": topics("topic")},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": topics("topicfilter")},
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": [
                format!("{arn_prefix}:client/{thing}"),
                format!("{arn_prefix}:client/basicPubSub"),
                format!("{arn_prefix}:client/sdk-java"),
                format!("{arn_prefix}:client/sdk-nodejs-*"),
                format!("{arn_prefix}:client/test-*"),
                format!("{arn_prefix}:client/gen{}", "?".repeat(32)),
                format!("{arn_prefix}:client/$GEN/*"),
            ]},
        ],
    });
    serde_json::to_string_pretty(&doc).expect("JSON")
}

fn start_sh(thing: &str, endpoint: &str, port: u16) -> String {
    format!(
        r#"#!/usr/bin/env bash
# Connect {thing} to Kumo at {endpoint}:{port} with the AWS IoT Device SDK v2
# for Python, like the AWS IoT console's start.sh: installs awsiotsdk into
# ./venv (from PyPI) and runs pubsub.py, which subscribes to sdk/test/python
# and publishes "Hello World! [n]" to it. COUNT=3 ./start.sh stops after 3
# messages; the default (0) runs until you press Ctrl-C.
set -e
cd "$(dirname "$0")"

if ! python3 --version > /dev/null 2>&1; then
  printf "\nERROR: python3 must be installed.\n"
  exit 1
fi

if [ ! -x venv/bin/python ]; then
  printf "\nCreating a Python virtual environment in ./venv...\n"
  python3 -m venv venv
fi
if ! venv/bin/python -c "import awsiot" > /dev/null 2>&1; then
  printf "\nInstalling the AWS IoT Device SDK v2 for Python...\n"
  venv/bin/python -m pip install --quiet awsiotsdk
fi

printf "\nRunning pub/sub sample application...\n"
exec venv/bin/python pubsub.py --endpoint {endpoint} --port {port} \
  --ca_file root-CA.crt --cert {thing}.cert.pem --key {thing}.private.key \
  --client_id basicPubSub --topic sdk/test/python --count "${{COUNT:-0}}"
"#
    )
}

fn device_toml(thing: &str, endpoint: &str, port: u16) -> String {
    format!(
        r#"# kumo-device's configuration for {thing}: `kumo-device run --config device.toml`
# runs the agent; `kumo-device pubsub --kit .` (and every other command) takes
# the connection from here. Relative paths are relative to this file.
endpoint = "{endpoint}"
port = {port}
ca_file = "root-CA.crt"
cert = "{thing}.cert.pem"
key = "{thing}.private.key"
client_id = "{thing}"

# Messages wait here until the broker acknowledged them.
[queue]
dir = "queue"

# Each line written to this socket becomes a message on the topic:
#   echo '{{"temperature": 21.5}}' | nc -U publish.sock
[publish]
socket = "publish.sock"
topic = "{thing}/telemetry"

[heartbeat]
topic = "{thing}/heartbeat"
interval_secs = 60

# shadow.json is the shadow's reported state; deltas are applied to it.
[shadow]
file = "shadow.json"
"#
    )
}

fn start_kumo_device_sh(thing: &str, endpoint: &str, port: u16) -> String {
    format!(
        r#"#!/usr/bin/env bash
# Connect {thing} to Kumo at {endpoint}:{port} with kumo-device, Kumo's Rust
# device tool (one binary, no Python): subscribes to sdk/test/python and
# publishes "Hello World! [n]" to it, like start.sh. COUNT=3 stops after 3
# messages; the default (0) runs until you press Ctrl-C. KUMO_DEVICE names the
# binary if it is not on the PATH.
set -e
cd "$(dirname "$0")"

KUMO_DEVICE="${{KUMO_DEVICE:-kumo-device}}"
if ! command -v "$KUMO_DEVICE" > /dev/null 2>&1; then
  printf "\nERROR: kumo-device is not installed. Build it from Kumo's source with\n"
  printf "  cargo install --path crates/device\n"
  printf "or copy the binary onto the PATH (or set KUMO_DEVICE=/path/to/kumo-device).\n"
  exit 1
fi

printf "\nRunning pub/sub sample application...\n"
exec "$KUMO_DEVICE" pubsub --endpoint {endpoint} --port {port} \
  --ca_file root-CA.crt --cert {thing}.cert.pem --key {thing}.private.key \
  --client_id basicPubSub --topic sdk/test/python --count "${{COUNT:-0}}"
"#
    )
}

fn micropython_main(thing: &str, endpoint: &str, port: u16) -> String {
    format!(
        r#"# Connect {thing} to Kumo at {endpoint}:{port} from MicroPython (Raspberry Pi
# Pico W, ESP32, W5100S-EVB-Pico) with umqtt.simple and the kit's DER files:
#
#   mpremote mip install umqtt.simple
#   mpremote mkdir :cert
#   mpremote cp {thing}.cert.der {thing}.private.key.der :cert/
#   mpremote cp main.py :main.py
#   mpremote reset
#
# Set WIFI_SSID / WIFI_PASSWORD below on a Wi-Fi board; a wired board only
# needs its network up before the connect. It publishes a JSON message to
# {thing}/hello every 5 seconds and prints what arrives on {thing}/commands.
import json
import time

from umqtt.simple import MQTTClient

ENDPOINT = "{endpoint}"
PORT = {port}
CLIENT_ID = b"{thing}"
TOPIC = b"{thing}/hello"
COMMANDS = b"{thing}/commands"
WIFI_SSID = ""
WIFI_PASSWORD = ""


def wifi():
    import network

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(WIFI_SSID, WIFI_PASSWORD)
        while not wlan.isconnected():
            time.sleep(0.5)
    print("network up:", wlan.ifconfig()[0])


def on_message(topic, msg):
    print("received", topic, msg)


if WIFI_SSID:
    wifi()
with open("cert/{thing}.private.key.der", "rb") as f:
    key = f.read()
with open("cert/{thing}.cert.der", "rb") as f:
    cert = f.read()

client = MQTTClient(CLIENT_ID, ENDPOINT, port=PORT, keepalive=60, ssl=True,
                    ssl_params={{"key": key, "cert": cert, "server_side": False}})
client.set_callback(on_message)
client.connect()
print("connected to", ENDPOINT)
client.subscribe(COMMANDS)
n = 0
while True:
    n += 1
    client.publish(TOPIC, json.dumps({{"message": "Hello from MicroPython", "sequence": n}}).encode())
    print("published", n)
    deadline = time.time() + 5
    while time.time() < deadline:
        client.check_msg()
        time.sleep(0.1)
"#
    )
}

fn readme(thing: &str, endpoint: &str, port: u16, cert_id: &str) -> String {
    format!(
        r#"# Connect kit for {thing}

Made by Kumo (`kumo kit {thing}` or the web console's "Connect a device") for the Kumo server at `{endpoint}` (MQTT over
mutual TLS on port {port}; port 443 serves the same with ALPN
`x-amzn-mqtt-ca`, as AWS IoT Core does).

| file | what |
|---|---|
| `{thing}.cert.pem` | the device certificate (id `{cert_id}`), ACTIVE, attached to thing `{thing}` |
| `{thing}.private.key` | its private key (RSA, PKCS#1 PEM); Kumo keeps no copy |
| `{thing}.public.key` | its public key |
| `{thing}.cert.der`, `{thing}.private.key.der` | the certificate and key in DER, for MicroPython (`ssl.wrap_socket(..., key=..., cert=...)` / umqtt.simple `ssl_params`) |
| `{thing}-Policy` | the policy attached to the certificate |
| `root-CA.crt` | Kumo's root CA: the device verifies the server with it |
| `start.sh`, `pubsub.py` | run a pub/sub loop with the AWS IoT Device SDK v2 for Python |
| `start-kumo-device.sh` | the same loop with `kumo-device` (Rust, one binary, no Python) |
| `device.toml` | `kumo-device run --config device.toml`: the agent (queue, socket, heartbeat, shadow); `--kit .` for the other commands |
| `main.py` | the same for MicroPython boards with `umqtt.simple` (instructions at its top) |

Run `./start.sh` (Python 3 needed; it installs `awsiotsdk` into `./venv`).
It connects as client id `basicPubSub`, subscribes to `sdk/test/python` and
publishes to it. `COUNT=3 ./start.sh` stops after three messages.

The policy lets the device connect as `{thing}` (or as the SDK samples'
client ids `basicPubSub`, `sdk-java`, `sdk-nodejs-*`), publish, subscribe
and receive on `{thing}/*`, its shadow topics `$aws/things/{thing}/shadow/*`
and the samples' `sdk/test/*`, and nothing else.

Keep `{thing}.private.key` secret. If it leaks: `kumo cert update {cert_id} revoked`.
"#
    )
}

/// What provisioning a device made: the thing's new certificate, its key
/// pair (Kumo keeps no copy of the private key) and the thing's policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provisioned {
    pub thing_name: String,
    pub certificate_id: String,
    pub certificate_arn: String,
    pub certificate_pem: String,
    pub private_key: String,
    pub public_key: String,
    pub policy_name: String,
    pub policy_document: String,
}

/// Where the device connects, for the kit's scripts.
pub struct Target<'a> {
    pub endpoint: &'a str,
    pub port: u16,
    /// Kumo's root CA (PEM).
    pub root_ca: &'a [u8],
}

/// The console's "connect one device" steps, in the server: make sure the
/// thing exists, create an ACTIVE certificate and key pair, create (once)
/// the thing's policy `NAME-Policy`, attach the policy to the certificate
/// and the certificate to the thing. `kumo kit` (through the admin socket)
/// and the web console's wizard both run this.
pub async fn provision(
    registry: &Arc<RegistryService>,
    broker: &Broker,
    thing: &str,
) -> std::result::Result<Provisioned, RegistryError> {
    let arn_prefix = registry.read(|r| {
        let a = r.arn();
        format!("arn:aws:iot:{}:{}", a.region, a.account)
    });
    let arn_prefix = arn_prefix.as_str();
    let call = |v: serde_json::Value| async move {
        registry
            .execute_for(kumo_registry::api::Request::from_json(v)?, broker)
            .await
    };
    match call(json!({"op": "DescribeThing", "thingName": thing})).await {
        Ok(_) => {}
        Err(RegistryError::ResourceNotFound(_)) => {
            call(json!({"op": "CreateThing", "thingName": thing})).await?;
        }
        Err(e) => return Err(e),
    }
    let created = call(json!({"op": "CreateKeysAndCertificate", "setAsActive": true})).await?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let certificate_arn = text(&created["certificateArn"]);
    let policy_name = format!("{thing}-Policy");
    let policy_document = match call(json!({"op": "GetPolicy", "policyName": policy_name})).await {
        Ok(p) => text(&p["policyDocument"]),
        Err(RegistryError::ResourceNotFound(_)) => {
            let doc = policy_document(arn_prefix, thing);
            call(json!({"op": "CreatePolicy", "policyName": policy_name, "policyDocument": doc}))
                .await?;
            doc
        }
        Err(e) => return Err(e),
    };
    call(json!({"op": "AttachPolicy", "policyName": policy_name, "target": certificate_arn}))
        .await?;
    call(json!({"op": "AttachThingPrincipal", "thingName": thing, "principal": certificate_arn}))
        .await?;
    Ok(Provisioned {
        thing_name: thing.to_owned(),
        certificate_id: text(&created["certificateId"]),
        certificate_arn,
        certificate_pem: text(&created["certificatePem"]),
        private_key: text(&created["keyPair"]["PrivateKey"]),
        public_key: text(&created["keyPair"]["PublicKey"]),
        policy_name,
        policy_document,
    })
}

/// `connect_device_package.zip`, in memory.
pub fn package(p: &Provisioned, t: &Target<'_>) -> std::result::Result<Vec<u8>, String> {
    let thing = p.thing_name.as_str();
    let der = |pem_text: &str, what: &str| {
        pem::parse(pem_text)
            .map(pem::Pem::into_contents)
            .map_err(|e| format!("the {what} is not PEM: {e}"))
    };
    let entries: Vec<(String, Vec<u8>, u32)> = vec![
        (
            format!("{thing}.cert.pem"),
            p.certificate_pem.clone().into(),
            0o644,
        ),
        (
            format!("{thing}.private.key"),
            p.private_key.clone().into(),
            0o600,
        ),
        (
            format!("{thing}.public.key"),
            p.public_key.clone().into(),
            0o644,
        ),
        (
            format!("{thing}.cert.der"),
            der(&p.certificate_pem, "certificate")?,
            0o644,
        ),
        (
            format!("{thing}.private.key.der"),
            der(&p.private_key, "private key")?,
            0o600,
        ),
        (
            format!("{thing}-Policy"),
            p.policy_document.clone().into(),
            0o644,
        ),
        ("root-CA.crt".into(), t.root_ca.to_vec(), 0o644),
        (
            "start.sh".into(),
            start_sh(thing, t.endpoint, t.port).into_bytes(),
            0o755,
        ),
        ("pubsub.py".into(), PUBSUB_PY.into(), 0o644),
        (
            "device.toml".into(),
            device_toml(thing, t.endpoint, t.port).into_bytes(),
            0o644,
        ),
        (
            "start-kumo-device.sh".into(),
            start_kumo_device_sh(thing, t.endpoint, t.port).into_bytes(),
            0o755,
        ),
        (
            "main.py".into(),
            micropython_main(thing, t.endpoint, t.port).into_bytes(),
            0o644,
        ),
        (
            "README.md".into(),
            readme(thing, t.endpoint, t.port, &p.certificate_id).into_bytes(),
            0o644,
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in &entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(*mode);
        zip.start_file(name.as_str(), options)
            .map_err(|e| e.to_string())
            .and_then(|()| zip.write_all(data).map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot write {name} into the kit: {e}"))?;
    }
    let out = zip
        .finish()
        .map_err(|e| format!("cannot finish the kit: {e}"))?;
    Ok(out.into_inner())
}

pub fn run(args: KitArgs) -> Result<()> {
    let out: PathBuf = args
        .output
        .unwrap_or_else(|| PathBuf::from("connect_device_package.zip"));
    if out.exists() {
        return Err(Failure::config(anyhow!(
            "{} already exists; refusing to overwrite it (remove it or choose another --out)",
            out.display()
        )));
    }
    let admin = Admin::new(AdminArgs {
        config: args.config,
        output: args.format,
    })?;
    let made = admin.call("CreateConnectKit", json!({ "thingName": args.name }))?;
    let made: Provisioned = serde_json::from_value(made)
        .context("unreadable answer from the server")
        .map_err(Failure::runtime)?;
    let endpoint = args.endpoint.unwrap_or_else(|| admin.endpoint());
    let port = match args.port {
        Some(p) => p,
        None => admin.tls_port()?,
    };
    let root_ca = std::fs::read(admin.root_ca())
        .with_context(|| format!("cannot read {}", admin.root_ca().display()))
        .map_err(Failure::runtime)?;
    let target = Target {
        endpoint: &endpoint,
        port,
        root_ca: &root_ca,
    };
    let zip = package(&made, &target).map_err(|e| Failure::runtime(anyhow!(e)))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out)
        .and_then(|mut f| f.write_all(&zip))
        .with_context(|| format!("cannot write {}", out.display()))
        .map_err(Failure::runtime)?;
    admin.print(&json!({
        "kit": out.display().to_string(),
        "thingName": made.thing_name,
        "certificateId": made.certificate_id,
        "certificateArn": made.certificate_arn,
        "policyName": made.policy_name,
        "endpoint": endpoint,
        "port": port,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kit_policy_is_valid_and_least_privilege() {
        let prefix = "arn:aws:iot:us-east-1:000000000000";
        let text = policy_document(prefix, "raspi2");
        let doc = kumo_policy::PolicyDocument::parse(&text).unwrap();
        let mut thing = kumo_policy::Context::with_client_id("raspi2");
        thing.thing = None;
        let set = kumo_policy::PolicySet::compile([&doc], &thing);
        use kumo_policy::Action::*;
        let allowed = |a, r: &str| set.is_allowed(a, &format!("{prefix}:{r}"));
        assert!(allowed(Connect, "client/raspi2"));
        assert!(allowed(Connect, "client/basicPubSub"));
        assert!(!allowed(Connect, "client/pico"));
        assert!(allowed(Publish, "topic/sdk/test/python"));
        assert!(allowed(Publish, "topic/raspi2/temp"));
        assert!(allowed(
            Subscribe,
            "topicfilter/$aws/things/raspi2/shadow/update/accepted"
        ));
        assert!(!allowed(Subscribe, "topicfilter/#"));
        assert!(!allowed(Subscribe, "topicfilter/$aws/things/+/shadow/#"));
        assert!(!allowed(Publish, "topic/pico/temp"));
        assert!(!allowed(Receive, "topic/$aws/things/pico/shadow/update"));
        // Its own shadows, classic and named, and nobody else's.
        for (action, kind) in [
            (Publish, "topic"),
            (Receive, "topic"),
            (Subscribe, "topicfilter"),
        ] {
            for own in [
                "$aws/things/raspi2/shadow/update",
                "$aws/things/raspi2/shadow/get/accepted",
                "$aws/things/raspi2/shadow/name/config/update/delta",
            ] {
                assert!(allowed(action, &format!("{kind}/{own}")), "{own}");
            }
            for other in [
                "$aws/things/pico/shadow/update",
                "$aws/things/pico/shadow/name/config/update",
                "$aws/things/raspi2x/shadow/update",
                "$aws/things/raspi2/jobs/get",
            ] {
                assert!(!allowed(action, &format!("{kind}/{other}")), "{other}");
            }
        }
        assert!(allowed(Connect, "client/test-1234"));
        assert!(allowed(Connect, "client/$GEN/0f1e2d"));
        assert!(allowed(
            Connect,
            "client/genababc992d1a1ef1a1fb1a9a3bd3887ed"
        ));
        assert!(!allowed(Connect, "client/general"));
        let _: serde_json::Value = serde_json::from_str(&text).unwrap();
    }
}
