//! kumo-bench against the real `kumo` binary: tiny scenarios whose counts
//! must add up exactly. No timings are asserted.
//!
//! `kumo` belongs to another package, so `CARGO_BIN_EXE_kumo` does not
//! exist here; it is found beside this test's own profile directory
//! (target/<profile>/kumo), which `cargo build --workspace --all-targets`
//! (scripts/test's build stage) produces. Without it the tests say so and
//! pass vacuously.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BENCH: &str = env!("CARGO_BIN_EXE_kumo-bench");

fn kumo_path() -> Option<PathBuf> {
    // target/<profile>/deps/scenarios-HASH → target/<profile>/kumo
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("kumo");
    p.exists().then_some(p)
}

/// The real binary on port 0 (kumo-testkit) and its data directory.
struct Kumo {
    server: kumo_testkit::Kumo,
    dir: kumo_testkit::TempDir,
}

impl Kumo {
    fn start(tag: &str) -> Option<Kumo> {
        let Some(bin) = kumo_path() else {
            eprintln!("SKIP: target/<profile>/kumo not built; run `cargo build --workspace` first");
            return None;
        };
        let dir = kumo_testkit::TempDir::new(&format!("bench-{tag}"));
        // kumo-bench makes a certificate per connection from the device CA
        // (--gen-certs): accept those without the registry.
        let server =
            kumo_testkit::Kumo::start(&bin, dir.path(), &[("KUMO_TLS_CLIENT_AUTH", "ca_file")]);
        Some(Kumo { server, dir })
    }

    fn port(&self, l: &str) -> String {
        self.server.port(l).to_string()
    }

    fn ca(&self, f: &str) -> PathBuf {
        self.dir.path().join("data").join("ca").join(f)
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
