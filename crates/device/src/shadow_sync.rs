//! `kumo-device shadow sync FILE`: a local JSON file kept as the shadow's
//! reported state, both ways. The file is reported at start and whenever
//! it changes on disk; each delta (and one found at start or after a
//! reconnect) is offered to the hook, applied to the file under the
//! shadow's merge rules and reported, which clears it.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::sync::mpsc::Receiver;

use crate::shadow::{merge, replacement, Delta, Shadow};
use crate::DeviceError;

/// What the sync did, as JSON: `{"event": "synced"|"reported"|"delta"|"refused"|"error", ...}`.
pub type Note<'a> = &'a (dyn Fn(Value) + Send + std::marker::Sync);

fn read_state(file: &Path) -> Result<Value, DeviceError> {
    match std::fs::read(file) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| DeviceError::BadFile {
                what: "state file",
                path: file.to_owned(),
                problem: format!("is not JSON: {e}"),
            })?;
            if !v.is_object() {
                return Err(DeviceError::BadFile {
                    what: "state file",
                    path: file.to_owned(),
                    problem: "must hold a JSON object".into(),
                });
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_state(file, &json!({}))?;
            Ok(json!({}))
        }
        Err(e) => Err(DeviceError::unreadable("state file", file, e)),
    }
}

/// Written whole or not at all (temporary file, rename).
fn write_state(file: &Path, v: &Value) -> Result<(), DeviceError> {
    let tmp = file.with_extension("kumo-device.tmp");
    let text = serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| DeviceError::unreadable("state file", file, e))
}

fn modified(file: &Path) -> Option<SystemTime> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}

struct Syncer<'a> {
    shadow: Shadow,
    file: &'a Path,
    hook: Option<&'a str>,
    note: Note<'a>,
    /// What the shadow's reported state is, as far as we know.
    reported: Value,
    local: Value,
    mtime: Option<SystemTime>,
}

impl Syncer<'_> {
    /// Report the local state if the shadow does not have it yet.
    async fn report(&mut self) -> Result<(), DeviceError> {
        if self.local == self.reported {
            return Ok(());
        }
        let patch = replacement(&self.reported, &self.local);
        self.shadow
            .update(json!({"state": {"reported": patch}}))
            .await?;
        self.reported = self.local.clone();
        (self.note)(json!({"event": "reported", "state": self.local}));
        Ok(())
    }

    /// Offer a delta to the hook; if it accepts, apply and report it.
    async fn apply(&mut self, d: &Delta) -> Result<(), DeviceError> {
        println!(
            "{}",
            json!({"event": "delta", "version": d.version, "state": d.state})
        );
        if let Some(hook) = self.hook {
            let delta = d.state.to_string();
            let status = run_hook(hook, &delta).await;
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => {
                    (self.note)(json!({"event": "refused",
                        "reason": format!("the hook refused the delta ({s}); not applied")}));
                    return Ok(());
                }
                Err(e) => {
                    (self.note)(json!({"event": "refused",
                        "reason": format!("cannot run the hook {hook:?}: {e}; delta not applied")}));
                    return Ok(());
                }
            }
        }
        merge(&mut self.local, &d.state);
        write_state(self.file, &self.local)?;
        self.mtime = modified(self.file);
        self.report().await
    }

    /// The shadow as it is now: what it reports, and a delta waiting.
    async fn refresh(&mut self) -> Result<(), DeviceError> {
        let doc = self.shadow.get().await?;
        let version = doc
            .as_ref()
            .and_then(|d| d["version"].as_u64())
            .unwrap_or(0);
        self.reported = doc
            .as_ref()
            .map(|d| d["state"]["reported"].clone())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        self.report().await?;
        if let Some(delta) = doc
            .as_ref()
            .map(|d| d["state"]["delta"].clone())
            .filter(Value::is_object)
        {
            let version = doc
                .as_ref()
                .and_then(|d| d["version"].as_u64())
                .unwrap_or(0);
            self.apply(&Delta {
                version,
                state: delta,
            })
            .await?;
        }
        (self.note)(json!({"event": "synced", "version": version}));
        Ok(())
    }
}

async fn run_hook(hook: &str, delta: &str) -> std::io::Result<std::process::ExitStatus> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(hook)
        .env("KUMO_SHADOW_DELTA", delta)
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(delta.as_bytes()).await;
    }
    child.wait().await
}

/// Keep `file` and the shadow in sync until `deltas` ends. The first
/// exchange with the shadow must succeed when `strict_start` (a command
/// run by hand); otherwise (the agent) failures are noted and retried at the
/// next reconnect or change. `reconnected` says a connection was made again.
pub async fn run(
    shadow: Shadow,
    mut deltas: Receiver<Delta>,
    mut reconnected: Receiver<()>,
    file: &Path,
    hook: Option<&str>,
    note: Note<'_>,
    strict_start: bool,
) -> Result<(), DeviceError> {
    let local = read_state(file)?;
    let mut s = Syncer {
        shadow,
        file,
        hook,
        note,
        reported: Value::Null,
        mtime: modified(file),
        local,
    };
    let failed = |e: DeviceError| note(json!({"event": "error", "reason": e.to_string()}));
    match s.refresh().await {
        Ok(()) => {}
        Err(e) if strict_start => return Err(e),
        Err(e) => failed(e),
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            d = deltas.recv() => match d {
                Some(d) => s.apply(&d).await.unwrap_or_else(failed),
                None => break,
            },
            // Deltas may have been missed while away.
            r = reconnected.recv() => match r {
                Some(()) => s.refresh().await.unwrap_or_else(failed),
                None => break,
            },
            _ = tick.tick() => {
                let now = modified(file);
                if now != s.mtime {
                    s.mtime = now;
                    match read_state(file) {
                        Ok(v) => {
                            s.local = v;
                            s.report().await.unwrap_or_else(failed);
                        }
                        // Mid-edit: try again at the next change.
                        Err(e) => failed(e),
                    }
                }
            }
        }
    }
    Ok(())
}
