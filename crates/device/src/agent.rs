//! `kumo-device run`: the agent. One persistent connection; lines written
//! to a local Unix socket become QoS 1 messages on a topic, kept in the
//! on-disk queue until the broker has them (like the AWS IoT Device Client's
//! sensor-publish, minus the loss); a heartbeat; a clean stop on SIGTERM;
//! log lines for journald.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::AsyncBufReadExt;
use tokio::sync::Notify;

use crate::queue::Queue;
use crate::shadow::Shadow;
use crate::shadow_sync;
use crate::{Client, Credentials, DeviceError, Event, Options};

/// `device.toml`. Relative paths are relative to the file's directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub endpoint: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub ca_file: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_id: String,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: u64,
    /// MQTT 5 instead of 3.1.1.
    #[serde(default)]
    pub mqtt5: bool,
    /// Offer ALPN x-amzn-mqtt-ca on a port other than 443.
    #[serde(default)]
    pub alpn: bool,
    #[serde(default)]
    pub queue: QueueConfig,
    pub publish: Option<PublishConfig>,
    pub heartbeat: Option<HeartbeatConfig>,
    pub shadow: Option<ShadowConfig>,
}

/// `file` kept as the shadow's reported state (`kumo-device shadow sync`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    pub file: PathBuf,
    /// Run with each delta (JSON on stdin); non-zero refuses it.
    pub hook: Option<String>,
    /// The thing (default: the client ID).
    pub thing: Option<String>,
    /// A named shadow (default: the classic one).
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    #[serde(default = "default_queue_dir")]
    pub dir: PathBuf,
    #[serde(default = "default_max_messages")]
    pub max_messages: usize,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            dir: default_queue_dir(),
            max_messages: default_max_messages(),
            max_bytes: default_max_bytes(),
        }
    }
}

/// Lines written to `socket` (a Unix stream socket) are published to `topic`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    pub socket: PathBuf,
    pub topic: String,
}

/// `{"uptime_s", "queued"}` to `topic` every `interval_secs` while connected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    pub topic: String,
    #[serde(default = "default_heartbeat")]
    pub interval_secs: u64,
}

fn default_port() -> u16 {
    8883
}
fn default_keep_alive() -> u64 {
    30
}
fn default_queue_dir() -> PathBuf {
    PathBuf::from("queue")
}
fn default_max_messages() -> usize {
    10_000
}
fn default_max_bytes() -> u64 {
    16 << 20
}
fn default_heartbeat() -> u64 {
    60
}

/// Read `device.toml`; every path in it is made absolute against its directory.
pub fn load(path: &Path) -> Result<AgentConfig, DeviceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DeviceError::unreadable("configuration", path, e))?;
    let mut c: AgentConfig = toml::from_str(&text).map_err(|e| DeviceError::BadFile {
        what: "configuration",
        path: path.to_owned(),
        problem: match e.span() {
            Some(span) => format!(
                "is not valid at line {}: {}",
                text[..span.start].matches('\n').count() + 1,
                e.message()
            ),
            None => format!("is not valid: {}", e.message()),
        },
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [&mut c.ca_file, &mut c.cert, &mut c.key, &mut c.queue.dir] {
        *p = base.join(&*p);
    }
    if let Some(p) = &mut c.publish {
        p.socket = base.join(&p.socket);
    }
    if let Some(s) = &mut c.shadow {
        s.file = base.join(&s.file);
    }
    if c.heartbeat.as_ref().is_some_and(|h| h.interval_secs == 0) {
        return Err(DeviceError::BadFile {
            what: "configuration",
            path: path.to_owned(),
            problem: "sets heartbeat.interval_secs to 0: use 1 or more".into(),
        });
    }
    Ok(c)
}

/// Log lines: under systemd (stderr is the journal) with a priority prefix.
/// Debug lines (priority 7) only with `KUMO_DEVICE_LOG=debug`.
fn log(priority: u8, message: &str) {
    if priority >= 7 && std::env::var("KUMO_DEVICE_LOG").as_deref() != Ok("debug") {
        return;
    }
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        eprintln!("<{priority}>{message}");
    } else {
        let level = match priority {
            0..=3 => "error",
            4 => "warning",
            5 | 6 => "info",
            _ => "debug",
        };
        eprintln!("kumo-device: {level}: {message}");
    }
}

/// Shadow sync's notes, as log lines.
fn note(v: serde_json::Value) {
    let state = || v["state"].to_string();
    match v["event"].as_str() {
        Some("delta") => log(
            6,
            &format!("shadow delta (version {}): {}", v["version"], state()),
        ),
        Some("reported") => log(6, &format!("shadow reported: {}", state())),
        Some("synced") => log(6, &format!("shadow in sync (version {})", v["version"])),
        _ => log(
            4,
            &format!("shadow: {}", v["reason"].as_str().unwrap_or_default()),
        ),
    }
}

/// Run until SIGTERM or SIGINT.
pub async fn run(c: AgentConfig) -> Result<(), DeviceError> {
    let queue = Arc::new(Queue::open(
        &c.queue.dir,
        c.queue.max_messages,
        c.queue.max_bytes,
    )?);
    let opts = Options {
        endpoint: c.endpoint.clone(),
        port: c.port,
        credentials: Credentials {
            ca_file: c.ca_file.clone(),
            cert: c.cert.clone(),
            key: c.key.clone(),
        },
        client_id: c.client_id.clone(),
        keep_alive: Duration::from_secs(c.keep_alive_secs),
        clean_session: false,
        mqtt5: c.mqtt5,
        alpn: c.alpn,
    };
    let listener = match &c.publish {
        Some(p) => Some(bind(&p.socket)?),
        None => None,
    };
    let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt())?;
    let (client, events) = Client::start(&opts)?;
    // With a shadow, its answers are routed out of the events first.
    let (mut events, shadow_sync) = match &c.shadow {
        None => (events, None),
        Some(sc) => {
            let thing = sc.thing.clone().unwrap_or_else(|| c.client_id.clone());
            let (shadow, deltas, other) = Shadow::attach(
                client.clone(),
                events,
                &c.client_id,
                &thing,
                sc.name.as_deref(),
            )?;
            let (again_tx, again_rx) = tokio::sync::mpsc::channel(4);
            let (file, hook) = (sc.file.clone(), sc.hook.clone());
            log(
                6,
                &format!(
                    "keeping {} in sync with the shadow of {thing}",
                    file.display()
                ),
            );
            let task = tokio::spawn(async move {
                // Subscribed before the first get: no delta falls between.
                while let Err(e) = shadow.subscribe().await {
                    log(4, &format!("shadow: {e}; trying again"));
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                if let Err(e) = shadow_sync::run(
                    shadow,
                    deltas,
                    again_rx,
                    &file,
                    hook.as_deref(),
                    &note,
                    false,
                )
                .await
                {
                    log(3, &format!("shadow sync stopped: {e}"));
                }
            });
            (other, Some((task, again_tx)))
        }
    };
    log(
        6,
        &format!(
            "starting: client ID {} to {}:{}, {} message(s) queued",
            c.client_id,
            c.endpoint,
            c.port,
            queue.len()
        ),
    );
    let wake = Arc::new(Notify::new());
    let connected = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn(send_queue(client.clone(), queue.clone(), wake.clone()));
    let reader = match (listener, &c.publish) {
        (Some(l), Some(p)) => {
            log(
                6,
                &format!(
                    "publishing lines from {} to {}",
                    p.socket.display(),
                    p.topic
                ),
            );
            Some(tokio::spawn(accept_lines(
                l,
                p.topic.clone(),
                queue.clone(),
                wake.clone(),
            )))
        }
        _ => None,
    };
    let heartbeat = c.heartbeat.as_ref().map(|h| {
        tokio::spawn(beat(
            client.clone(),
            h.topic.clone(),
            Duration::from_secs(h.interval_secs),
            queue.clone(),
            connected.clone(),
        ))
    });
    let mut was_connected = false;
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Some(Event::Connected { session_present }) => {
                    connected.store(true, Ordering::SeqCst);
                    log(6, &format!("connected (session present: {session_present}), {} message(s) queued", queue.len()));
                    wake.notify_one();
                    // The first connection starts the sync; later ones refresh it.
                    if let (true, Some((_, again))) = (was_connected, &shadow_sync) {
                        let _ = again.try_send(());
                    }
                    was_connected = true;
                }
                Some(Event::Interrupted(why)) => {
                    connected.store(false, Ordering::SeqCst);
                    log(4, &format!("connection lost: {why}; reconnecting"));
                }
                Some(Event::Failed { reason, retry_in }) => {
                    log(4, &format!("cannot connect: {reason}; next attempt in {retry_in:.1?}"));
                }
                Some(Event::Message { .. }) => {}
                None => break,
            },
            _ = term.recv() => { log(6, "SIGTERM: stopping"); break; }
            _ = int.recv() => { log(6, "SIGINT: stopping"); break; }
        }
    }
    if let Some(r) = reader {
        r.abort();
    }
    if let Some((task, _)) = shadow_sync {
        task.abort();
    }
    if let Some(h) = heartbeat {
        h.abort();
    }
    sender.abort();
    if let Some(p) = &c.publish {
        let _ = std::fs::remove_file(&p.socket);
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), client.disconnect()).await;
    log(
        6,
        &format!(
            "stopped; {} message(s) stay queued for the next start",
            queue.len()
        ),
    );
    Ok(())
}

fn signal(
    kind: tokio::signal::unix::SignalKind,
) -> Result<tokio::signal::unix::Signal, DeviceError> {
    tokio::signal::unix::signal(kind)
        .map_err(|e| DeviceError::Invalid(format!("cannot handle signals: {e}")))
}

/// The local socket lines come in on; a stale one (nobody listening) is
/// replaced, a live one is an error (another agent runs).
fn bind(path: &Path) -> Result<tokio::net::UnixListener, DeviceError> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DeviceError::Invalid(format!(
                "{} is in use: is another kumo-device agent running?",
                path.display()
            )));
        }
        let _ = std::fs::remove_file(path);
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let l = tokio::net::UnixListener::bind(path)
        .map_err(|e| DeviceError::unreadable("publish socket", path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660));
    }
    Ok(l)
}

/// Every line on every connection to the socket: queued (on disk) for `topic`.
async fn accept_lines(
    l: tokio::net::UnixListener,
    topic: String,
    queue: Arc<Queue>,
    wake: Arc<Notify>,
) {
    loop {
        let Ok((stream, _)) = l.accept().await else {
            continue;
        };
        let (topic, queue, wake) = (topic.clone(), queue.clone(), wake.clone());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.is_empty() {
                    continue;
                }
                match queue.push(&topic, line.as_bytes(), false) {
                    Ok(seq) => {
                        log(
                            7,
                            &format!("queued #{seq} for {topic} ({} waiting)", queue.len()),
                        );
                        wake.notify_one();
                    }
                    Err(e) => log(3, &format!("line dropped: {e}")),
                }
            }
        });
    }
}

/// Publish the queue, oldest first, one at a time: a message leaves the
/// disk once the broker acknowledged it.
async fn send_queue(client: Client, queue: Arc<Queue>, wake: Arc<Notify>) {
    loop {
        match queue.first() {
            Ok(Some(m)) => match client.publish(&m.topic, 1, m.retain, m.payload).await {
                Ok(()) => {
                    if let Err(e) = queue.remove(m.seq) {
                        log(3, &e.to_string());
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Err(e) => {
                    log(4, &format!("publish not acknowledged, will retry: {e}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            Ok(None) => wake.notified().await,
            Err(e) => {
                log(3, &e.to_string());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn beat(
    client: Client,
    topic: String,
    every: Duration,
    queue: Arc<Queue>,
    connected: Arc<AtomicBool>,
) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if !connected.load(Ordering::SeqCst) {
            continue;
        }
        let body = serde_json::json!({
            "uptime_s": started.elapsed().as_secs(),
            "queued": queue.len(),
        });
        if let Err(e) = client
            .publish(&topic, 0, false, body.to_string().into_bytes())
            .await
        {
            log(4, &format!("heartbeat not sent: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_resolves_paths_and_explains_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.toml");
        std::fs::write(
            &path,
            "endpoint = \"localhost\"\nca_file = \"root-CA.crt\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
             client_id = \"raspi2\"\n[publish]\nsocket = \"run/publish.sock\"\ntopic = \"raspi2/telemetry\"\n",
        )
        .unwrap();
        let c = load(&path).unwrap();
        assert_eq!(c.port, 8883);
        assert_eq!(c.ca_file, dir.path().join("root-CA.crt"));
        assert_eq!(c.queue.dir, dir.path().join("queue"));
        assert_eq!(
            c.publish.unwrap().socket,
            dir.path().join("run/publish.sock")
        );
        std::fs::write(&path, "endpoint = \"x\"\nprot = 1\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("unknown field `prot`"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
