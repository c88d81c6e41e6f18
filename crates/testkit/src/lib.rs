//! The real `kumo` binary for Rust black-box tests, started as a user would:
//! a fresh data directory, every listener on `127.0.0.1:0`, an environment
//! without inherited `KUMO_*` or `RUST_LOG`. `--ports-file -` makes Kumo
//! print its bound ports on stdout once it is ready: a blocking read of
//! that line is the wait (no polling, no sleeps). Its log is kept in
//! `kumo.log` for failure messages. Killed when dropped.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a start or a stop may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!("kumo-it-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&p).expect("create a temporary directory");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A `kumo` command with a clean environment.
pub fn command(bin: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("KUMO_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c
}

/// A running `kumo serve`.
pub struct Kumo {
    pid: i32,
    /// The bound ports by listener name (`tcp`, `tls`, `alpn`, `api`).
    pub ports: serde_json::Value,
    /// Its output so far (stderr, copied as it comes).
    pub log: PathBuf,
    exited: mpsc::Receiver<ExitStatus>,
    status: Option<ExitStatus>,
}

impl Kumo {
    /// `kumo serve` with its data in `dir/data`, listeners on port 0,
    /// endpoint names `localhost` and `127.0.0.1`, and `env` on top.
    pub fn start(bin: &Path, dir: &Path, env: &[(&str, &str)]) -> Kumo {
        let log = dir.join("kumo.log");
        let mut cmd = command(bin, &["serve", "--data-dir"]);
        cmd.arg(dir.join("data")).args(["--ports-file", "-"]);
        for l in ["TCP", "TLS", "ALPN", "API"] {
            cmd.env(format!("KUMO_LISTENERS_{l}_BIND"), "127.0.0.1:0");
        }
        cmd.env("KUMO_TLS_ENDPOINT_NAMES", "localhost,127.0.0.1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).expect("create kumo.log"));
        let mut child = cmd.spawn().expect("start kumo");
        let pid = child.id() as i32;
        let stdout = child.stdout.take().expect("piped stdout");
        let (ports_tx, ports_rx) = mpsc::channel();
        // The first line is the ports; the sender drops at EOF (kumo exited).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = ports_tx.send(line);
            }
        });
        let (exit_tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        let mut kumo = Kumo {
            pid,
            ports: serde_json::Value::Null,
            log,
            exited,
            status: None,
        };
        match ports_rx.recv_timeout(DEADLINE) {
            Ok(line) => {
                kumo.ports = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("kumo printed {line:?}, not its ports: {e}"));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = kumo.wait();
                panic!(
                    "kumo exited with {status} before it was ready:\n{}",
                    kumo.log_text()
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!(
                    "kumo was not ready after {DEADLINE:?}:\n{}",
                    kumo.log_text()
                );
            }
        }
        kumo
    }

    pub fn port(&self, name: &str) -> u16 {
        self.ports[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no {name} port in {}", self.ports)) as u16
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(self.pid, sig) },
            0,
            "kill({}, {sig})",
            self.pid
        );
    }

    /// Wait for the exit (at most [`DEADLINE`], then SIGKILL and panic).
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        match self.exited.recv_timeout(DEADLINE) {
            Ok(s) => {
                self.status = Some(s);
                s
            }
            Err(_) => {
                self.signal(libc::SIGKILL);
                panic!(
                    "kumo did not exit within {DEADLINE:?}:\n{}",
                    self.log_text()
                );
            }
        }
    }
}

impl Drop for Kumo {
    fn drop(&mut self) {
        if self.status.is_none() && self.exited.try_recv().is_err() {
            // SAFETY: kill(2) on our own child's pid, which has not been reaped.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = self.exited.recv_timeout(DEADLINE);
        }
    }
}
