//! kumo-bench against the real `kumo` binary: tiny scenarios whose counts
//! must add up exactly. No timings are asserted.
//!
//! `kumo` belongs to another package, so `CARGO_BIN_EXE_kumo` does not
//! exist here; it is found beside this test's own profile directory
//! (target/<profile>/kumo), which `cargo build --workspace --all-targets`
//! (scripts/test's build stage) produces. Without it the tests say so and
//! pass vacuously.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BENCH: &str = env!("CARGO_BIN_EXE_kumo-bench");

fn kumo_path() -> Option<PathBuf> {
    // target/<profile>/deps/scenarios-HASH → target/<profile>/kumo
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("kumo");
    p.exists().then_some(p)
}

struct Kumo {
    child: Child,
    dir: PathBuf,
    ports: Value,
}

impl Kumo {
    fn start(tag: &str) -> Option<Kumo> {
        let Some(bin) = kumo_path() else {
            eprintln!("SKIP: target/<profile>/kumo not built; run `cargo build --workspace` first");
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "kumo-bench-it-{tag}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        let ports_file = dir.join("ports.json");
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--data-dir"])
            .arg(dir.join("data"))
            .arg("--ports-file")
            .arg(&ports_file);
        for (k, _) in std::env::vars() {
            if k.starts_with("KUMO_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        for l in ["TCP", "TLS", "ALPN", "API"] {
            cmd.env(format!("KUMO_LISTENERS_{l}_BIND"), "127.0.0.1:0");
        }
        cmd.env("KUMO_TLS_ENDPOINT_NAMES", "localhost,127.0.0.1")
            // kumo-bench makes a certificate per connection from the device
            // CA (--gen-certs): accept those without the registry.
            .env("KUMO_TLS_CLIENT_AUTH", "ca_file")
            .env("KUMO_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("kumo.log")).unwrap());
        let mut child = cmd.spawn().unwrap();
        let t = Instant::now();
        let ports = loop {
            if let Some(st) = child.try_wait().unwrap() {
                panic!(
                    "kumo exited with {st}: {}",
                    fs::read_to_string(dir.join("kumo.log")).unwrap_or_default()
                );
            }
            if let Ok(s) = fs::read_to_string(&ports_file) {
                break serde_json::from_str(&s).unwrap();
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no ports file");
            std::thread::sleep(Duration::from_millis(20));
        };
        Some(Kumo { child, dir, ports })
    }

    fn port(&self, l: &str) -> String {
        self.ports[l].as_u64().unwrap().to_string()
    }

    fn ca(&self, f: &str) -> PathBuf {
        self.dir.join("data").join("ca").join(f)
    }
}

impl Drop for Kumo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Run kumo-bench with `--json -` and return the parsed report.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(BENCH)
        .args(args)
        .args(["--json", "-", "--quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kumo-bench {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn u(v: &Value, path: &str) -> u64 {
    let mut x = v;
    for k in path.split('.') {
        x = &x[k];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{path} is not a number in {v:#}"))
}

fn assert_exact(r: &Value, expected: u64) {
    assert_eq!(u(r, "messages.sent"), expected, "{r:#}");
    assert_eq!(u(r, "messages.received"), expected, "{r:#}");
    assert_eq!(u(r, "messages.lost"), 0, "{r:#}");
    assert_eq!(u(r, "messages.duplicates"), 0, "{r:#}");
    assert_eq!(u(r, "latency_us.count"), expected, "{r:#}");
    assert!(r["errors"].as_object().unwrap().is_empty(), "{r:#}");
}

#[test]
fn p2p_qos1_counts_add_up() {
    let Some(k) = Kumo::start("p2p") else { return };
    let port = k.port("tcp");
    let n = 500;
    let r = bench(&[
        "p2p",
        "-p",
        &port,
        "-P",
        "4",
        "-q",
        "1",
        "-n",
        &n.to_string(),
        "--inflight",
        "20",
    ]);
    assert_eq!(u(&r, "connections.connected"), 8);
    assert_eq!(u(&r, "messages.acked"), 4 * n);
    assert_exact(&r, 4 * n);
    assert_eq!(r["scenario"], "p2p");
    assert!(r["generator_saturated"].is_boolean());
}

#[test]
fn fan_in_and_fan_out_qos2_mqtt311_counts_add_up() {
    let Some(k) = Kumo::start("fan") else { return };
    let port = k.port("tcp");
    // 3 publishers → a shared group of 2: every message exactly once in the group.
    let r = bench(&[
        "fan-in", "-p", &port, "-P", "3", "-S", "2", "-q", "2", "--mqtt", "3", "-n", "200",
    ]);
    assert_exact(&r, 600);
    // 1 publisher → 5 subscribers: every message 5 times.
    let r = bench(&[
        "fan-out", "-p", &port, "-S", "5", "-q", "2", "-n", "200", "--rate", "2000",
    ]);
    assert_eq!(u(&r, "messages.sent"), 200);
    assert_eq!(u(&r, "messages.received"), 1000);
    assert_eq!(u(&r, "messages.lost"), 0);
    assert_eq!(u(&r, "messages.duplicates"), 0);
}

#[test]
fn conn_with_generated_client_certs_over_mtls() {
    let Some(k) = Kumo::start("mtls") else { return };
    let port = k.port("tls");
    let (ca, crt, key) = (
        k.ca("root-CA.crt"),
        k.ca("device-ca.crt"),
        k.ca("device-ca.key"),
    );
    let r = bench(&[
        "conn",
        "-p",
        &port,
        "-c",
        "20",
        "-d",
        "0.2",
        "--tls",
        "--ca-file",
        p(&ca),
        "--gen-certs",
        "--ca-cert",
        p(&crt),
        "--ca-key",
        p(&key),
    ]);
    assert_eq!(u(&r, "connections.connected"), 20, "{r:#}");
    assert_eq!(u(&r, "connections.failed"), 0, "{r:#}");
    assert_eq!(r["config"]["mtls"], "generated");
    // And a publish/subscribe run over the ALPN listener with those certificates.
    let port = k.port("alpn");
    let r = bench(&[
        "p2p",
        "-p",
        &port,
        "-P",
        "2",
        "-q",
        "1",
        "-n",
        "100",
        "--tls",
        "--alpn",
        "x-amzn-mqtt-ca",
        "--ca-file",
        p(&ca),
        "--gen-certs",
        "--ca-cert",
        p(&crt),
        "--ca-key",
        p(&key),
    ]);
    assert_exact(&r, 200);
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}
