//! The real `kumo` binary, started like a user would: port 0 listeners, a
//! temporary data directory, readiness from its `ready` log line
//! (kumo-testkit).
//!
//! Checks the TLS side of the server (certificates, ALPN, client-cert
//! refusal), the CLI's exit codes and graceful shutdown. MQTT behaviour
//! is tested against the broker elsewhere; here a CONNECT only shows that
//! the stream reached the broker.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const KUMO: &str = env!("CARGO_BIN_EXE_kumo");

use kumo_testkit::TempDir;

/// A `kumo` command with a clean environment (no inherited KUMO_* or RUST_LOG).
fn kumo(args: &[&str]) -> Command {
    kumo_testkit::command(Path::new(KUMO), args)
}

/// `kumo serve` on port 0 with debug logs (kumo-testkit: ready when it
/// says so, killed when dropped).
struct Server;

impl Server {
    fn start(dir: &Path, extra_env: &[(&str, &str)]) -> kumo_testkit::Kumo {
        let mut env = vec![("KUMO_LOG_LEVEL", "debug")];
        env.extend_from_slice(extra_env);
        kumo_testkit::Kumo::start(Path::new(KUMO), dir, &env)
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

struct ClientOpts<'a> {
    identity: Option<(&'a Path, &'a Path)>,
    alpn: Option<&'a [u8]>,
    tls12_only: bool,
}

fn client_config(root_ca: &Path, o: ClientOpts<'_>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(root_ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if o.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match o.identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    if let Some(p) = o.alpn {
        cfg.alpn_protocols = vec![p.to_vec()];
    }
    Arc::new(cfg)
}

async fn connect(
    cfg: Arc<rustls::ClientConfig>,
    port: u16,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        TlsConnector::from(cfg).connect(name, tcp),
    )
    .await
    .expect("TLS handshake timed out")
}

/// An MQTT 3.1.1 CONNECT, clean session, keep-alive 60, client id "it".
const CONNECT: &[u8] = &[
    0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'i', b't',
];

/// After the handshake the server must not reject us at the TLS layer: the
/// stream reaches the broker, which answers CONNECT with a CONNACK
/// (whatever its return code: authorization is not this test's business).
async fn assert_accepted(stream: &mut TlsStream<TcpStream>) {
    stream.write_all(CONNECT).await.unwrap();
    let mut buf = [0u8; 4];
    match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => assert_eq!(buf[0], 0x20, "expected a CONNACK, got {:?}", &buf[..n]),
        Ok(Ok(_)) => panic!("the connection closed without a CONNACK"),
        Ok(Err(e)) => panic!("the server refused the TLS connection: {e}"),
        Err(_) => panic!("no answer to CONNECT"),
    }
}

/// The server refuses: either the handshake fails, or (TLS 1.3, where the
/// client finishes first) the first read returns the server's alert.
async fn assert_refused(result: std::io::Result<TlsStream<TcpStream>>) {
    let Ok(mut stream) = result else { return };
    let _ = stream.write_all(CONNECT).await;
    let mut buf = [0u8; 4];
    let r = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("no answer");
    assert!(r.is_err(), "expected a TLS alert, got {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tls_and_alpn_with_device_certs_and_shuts_down_cleanly() {
    let dir = TempDir::new("serve");
    let data = dir.0.join("data");
    let certs = dir.0.join("certs");

    // A device certificate first: this creates the CAs.
    let out = kumo(&["cert", "issue", "dev-1", "--out"])
        .arg(&certs)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = certs.join("dev-1.cert.pem");
    let key = certs.join("dev-1.private.key");
    assert!(certs.join("dev-1.public.key").exists());
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let mut server = Server::start(&dir.0, &[]);
    // Registered and ACTIVE, or the default client_auth = "registry"
    // refuses it (tests/test_identity.py covers the refusals).
    let out = kumo(&["cert", "register", "--output", "json"])
        .arg(&cert)
        .arg("--active")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ... with a policy that lets it connect (default deny otherwise).
    let registered: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = registered["certificateId"].as_str().unwrap();
    let policy = dir.0.join("allow-all.json");
    fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
    )
    .unwrap();
    for args in [
        vec![
            "policy",
            "create",
            "allow-all",
            "--document",
            policy.to_str().unwrap(),
        ],
        vec!["policy", "attach", "allow-all", id],
    ] {
        let out = kumo(&args).arg("--data-dir").arg(&data).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ca = data.join("ca");
    for f in ["root-CA.crt", "server.crt", "device-ca.crt"] {
        assert!(ca.join(f).exists(), "{f} missing");
    }
    for f in ["root-CA.key", "server.key", "device-ca.key"] {
        assert_eq!(
            fs::metadata(ca.join(f)).unwrap().permissions().mode() & 0o777,
            0o600,
            "{f}"
        );
    }
    let root = ca.join("root-CA.crt");
    let log = read(&server.log);
    assert!(
        log.contains(&format!(
            "listening listener=tls addr=127.0.0.1:{}",
            server.port("tls")
        )),
        "{log}"
    );

    // ALPN listener, client certificate, SNI "localhost".
    let with_cert = |alpn, tls12_only| {
        client_config(
            &root,
            ClientOpts {
                identity: Some((&cert, &key)),
                alpn,
                tls12_only,
            },
        )
    };
    let mut s = connect(
        with_cert(Some(b"x-amzn-mqtt-ca"), false),
        server.port("alpn"),
        "localhost",
    )
    .await
    .expect("handshake on the alpn listener");
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"x-amzn-mqtt-ca"[..]));
    assert_accepted(&mut s).await;

    // TLS listener by IP address: the server certificate has an IP SAN.
    // TLS 1.2, where the handshake only completes once the server accepted
    // our certificate.
    let mut s = connect(with_cert(None, true), server.port("tls"), "127.0.0.1")
        .await
        .expect("handshake on the tls listener by IP");
    assert_accepted(&mut s).await;

    // No client certificate: refused, with TLS 1.2 and with TLS 1.3.
    for tls12_only in [true, false] {
        let cfg = client_config(
            &root,
            ClientOpts {
                identity: None,
                alpn: None,
                tls12_only,
            },
        );
        assert_refused(connect(cfg, server.port("tls"), "localhost").await).await;
    }

    // An SNI that is not an endpoint name fails the handshake.
    assert!(connect(
        with_cert(None, false),
        server.port("tls"),
        "elsewhere.example"
    )
    .await
    .is_err());

    // The alpn listener serves HTTPS (the API) to a client that offers no
    // ALPN, as AWS's 443 does: the request is answered the AWS way (here a
    // certificate client asks for a control-plane path: not on the device
    // data path).
    let mut s = connect(with_cert(None, false), server.port("alpn"), "localhost")
        .await
        .unwrap();
    s.write_all(b"GET /things HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(
        head.starts_with("HTTP/1.1 404")
            && head.contains("x-amzn-errortype: UnknownOperationException"),
        "{head}"
    );

    server.signal(libc::SIGTERM);
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "{}", read(&server.log));
    assert!(read(&server.log).contains("stopped"));
}

#[test]
fn port_in_use_exits_1_naming_the_address() {
    let dir = TempDir::new("inuse");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = kumo(&["serve", "--data-dir"])
        .arg(dir.0.join("data"))
        .env("KUMO_LISTENERS_TLS_BIND", &addr)
        .env("KUMO_LISTENERS_ALPN_ENABLED", "false")
        .env("KUMO_LISTENERS_API_ENABLED", "false")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&addr) && err.contains("tls listener"), "{err}");
}

#[test]
fn readable_ca_key_refuses_to_start_with_exit_2() {
    let dir = TempDir::new("perm");
    let data = dir.0.join("data");
    let out = kumo(&["cert", "issue", "d", "--out"])
        .arg(&dir.0)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = data.join("ca").join("device-ca.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = kumo(&["serve", "--data-dir"])
        .arg(&data)
        .env("KUMO_LISTENERS_TLS_BIND", "127.0.0.1:0")
        .env("KUMO_LISTENERS_ALPN_BIND", "127.0.0.1:0")
        .env("KUMO_LISTENERS_API_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("device-ca.key") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn check_config_accepts_the_example_and_locates_errors() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kumo.example.toml");
    let out = kumo(&["check-config", "--config"])
        .arg(&example)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("[mqtt]"));

    let dir = TempDir::new("check");
    let bad = dir.0.join("bad.toml");
    fs::write(
        &bad,
        "[listeners.tls]\nbind = \"0.0.0.0:8883\"\nbnid = \"x\"\n",
    )
    .unwrap();
    let out = kumo(&["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 3") && err.contains("bnid"), "{err}");

    let out = kumo(&["check-config"])
        .env("KUMO_MQTT_COMPAT", "nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KUMO_MQTT_COMPAT"));
}
