//! `kumo kit NAME`: the self-hosted twin of the AWS IoT console's "connect
//! one device" package.
//!
//! Through the admin socket it makes sure the thing exists, creates an
//! ACTIVE certificate and key pair for it, creates (once) the thing's
//! least-privilege policy `NAME-Policy`, attaches both, and writes
//! `connect_device_package.zip`:
//!
//! | file | what |
//! |---|---|
//! | `NAME.cert.pem`, `NAME.private.key`, `NAME.public.key` | as the console's kit |
//! | `NAME.cert.der`, `NAME.private.key.der` | the same in DER, for MicroPython (no OpenSSL step) |
//! | `NAME-Policy` | the policy document |
//! | `root-CA.crt` | Kumo's root CA (the console's kit downloads Amazon's) |
//! | `start.sh`, `pubsub.py` | install `awsiotsdk` into a venv, run a pub/sub loop |
//! | `README.md` | what each file is, how to connect |

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use serde_json::json;

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

fn readme(thing: &str, endpoint: &str, port: u16, cert_id: &str) -> String {
    format!(
        r#"# Connect kit for {thing}

Made by `kumo kit {thing}` for the Kumo server at `{endpoint}` (MQTT over
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

/// The zip entries: (name, content, unix mode).
type Entry = (String, Vec<u8>, u32);

fn write_zip(path: &Path, entries: &[Entry]) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
        .map_err(Failure::runtime)?;
    let mut zip = zip::ZipWriter::new(file);
    for (name, data, mode) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(*mode);
        zip.start_file(name.as_str(), options)
            .and_then(|()| zip.write_all(data).map_err(Into::into))
            .with_context(|| format!("cannot write {name} into {}", path.display()))
            .map_err(Failure::runtime)?;
    }
    zip.finish()
        .with_context(|| format!("cannot finish {}", path.display()))
        .map_err(Failure::runtime)?;
    Ok(())
}

fn der_of(pem_text: &str, what: &str) -> Result<Vec<u8>> {
    pem::parse(pem_text)
        .map(pem::Pem::into_contents)
        .map_err(|e| Failure::runtime(anyhow!("the server's {what} is not PEM: {e}")))
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
    let thing = args.name;

    // The thing: reuse it if it exists.
    if let Err(e) = admin.call_aws("DescribeThing", json!({ "thingName": thing }))? {
        if e.0 != "ResourceNotFoundException" {
            return Err(e.into_failure());
        }
        admin.call("CreateThing", json!({ "thingName": thing }))?;
    }
    let created = admin.call("CreateKeysAndCertificate", json!({ "setAsActive": true }))?;
    let cert_id = created["certificateId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cert_arn = created["certificateArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // The policy: created once per thing, reused by later kits.
    let policy_name = format!("{thing}-Policy");
    let document = match admin.call_aws("GetPolicy", json!({ "policyName": policy_name }))? {
        Ok(p) => p["policyDocument"].as_str().unwrap_or_default().to_owned(),
        Err(e) if e.0 == "ResourceNotFoundException" => {
            let doc = policy_document(&admin.arn_prefix(), &thing);
            admin.call(
                "CreatePolicy",
                json!({ "policyName": policy_name, "policyDocument": doc }),
            )?;
            doc
        }
        Err(e) => return Err(e.into_failure()),
    };
    admin.call(
        "AttachPolicy",
        json!({ "policyName": policy_name, "target": cert_arn }),
    )?;
    admin.call(
        "AttachThingPrincipal",
        json!({ "thingName": thing, "principal": cert_arn }),
    )?;

    let endpoint = args.endpoint.unwrap_or_else(|| admin.endpoint());
    let port = match args.port {
        Some(p) => p,
        None => admin.tls_port()?,
    };
    let cert_pem = created["certificatePem"].as_str().unwrap_or_default();
    let key_pem = created["keyPair"]["PrivateKey"]
        .as_str()
        .unwrap_or_default();
    let public_pem = created["keyPair"]["PublicKey"].as_str().unwrap_or_default();
    let root_ca = std::fs::read(admin.root_ca())
        .with_context(|| format!("cannot read {}", admin.root_ca().display()))
        .map_err(Failure::runtime)?;
    let entries: Vec<Entry> = vec![
        (format!("{thing}.cert.pem"), cert_pem.into(), 0o644),
        (format!("{thing}.private.key"), key_pem.into(), 0o600),
        (format!("{thing}.public.key"), public_pem.into(), 0o644),
        (
            format!("{thing}.cert.der"),
            der_of(cert_pem, "certificate")?,
            0o644,
        ),
        (
            format!("{thing}.private.key.der"),
            der_of(key_pem, "private key")?,
            0o600,
        ),
        (format!("{thing}-Policy"), document.into_bytes(), 0o644),
        ("root-CA.crt".into(), root_ca, 0o644),
        (
            "start.sh".into(),
            start_sh(&thing, &endpoint, port).into_bytes(),
            0o755,
        ),
        ("pubsub.py".into(), PUBSUB_PY.into(), 0o644),
        (
            "README.md".into(),
            readme(&thing, &endpoint, port, &cert_id).into_bytes(),
            0o644,
        ),
    ];
    write_zip(&out, &entries)?;
    admin.print(&json!({
        "kit": out.display().to_string(),
        "thingName": thing,
        "certificateId": cert_id,
        "certificateArn": cert_arn,
        "policyName": policy_name,
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
