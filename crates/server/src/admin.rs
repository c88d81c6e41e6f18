//! The admin socket: registry operations for `kumo thing|cert|policy|api`
//! on the same machine.
//!
//! A Unix socket, `admin.sock` in the data directory, mode 0600: whoever
//! may read the CA keys next to it may administer Kumo, nobody else (the
//! file system is the credential). One request per connection: a line of
//! JSON, `{"op": "CreateThing", "thingName": "raspi2", ...}` (AWS's
//! operation and field names, see `kumo_registry::api`), answered by one
//! line: `{"ok": {...}}` with the body AWS would send, or
//! `{"error": {"type": "ResourceNotFoundException", "status": 404,
//! "message": "..."}}`. One operation is Kumo's own: `DescribeListeners`
//! answers the bound ports, `{"tcp": 1883, "tls": 8883, "alpn": 443}`.
//! `RotateAdminKeys` replaces the HTTPS API's admin credentials.
//! `GetThingShadow`, `UpdateThingShadow` and `DeleteThingShadow` (iot-data's
//! names; `{"thingName", "shadowName"?, "payload"?}` with the request
//! document as text) go to the shadow service.
//!
//! Changes are durable before they are answered: an operation is planned
//! against the in-memory registry, its records committed by the store, and
//! only then applied and answered ([`RegistryService::execute`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kumo_broker::Broker;
use kumo_registry::api::{Effects, Request};
use kumo_registry::{Issuer, Planned, Registry, RegistryError};
use kumo_shadow::Operation;
use kumo_store::Store;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Mutex};
use tracing::{debug, info, warn};

use crate::shadows::ShadowService;

/// Requests larger than this are refused (a policy document is ≤ 2 KB, a
/// certificate PEM ≤ 64 KB).
const MAX_REQUEST: usize = 1 << 20;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// The registry with its store and issuer: what the admin socket (and
/// later the HTTP API and the TLS verifier) share.
pub struct RegistryService {
    state: RwLock<Registry>,
    /// Held from plan to apply, so that changes are planned one at a time
    /// against the state they will be applied to.
    writer: Mutex<()>,
    store: Store,
    issuer: Arc<Issuer>,
    /// Moves on every applied change: compiled policies older than it are
    /// recompiled (`policy_auth.rs`).
    generation: AtomicU64,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RegistryService {
    pub fn new(registry: Registry, store: Store, issuer: Issuer) -> RegistryService {
        RegistryService {
            state: RwLock::new(registry),
            writer: Mutex::new(()),
            store,
            issuer: Arc::new(issuer),
            generation: AtomicU64::new(0),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn read<T>(&self, f: impl FnOnce(&Registry) -> T) -> T {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Run one operation; see the module docs for the order of events.
    pub async fn execute(
        self: &Arc<Self>,
        req: Request,
    ) -> Result<(Value, Effects), RegistryError> {
        let name = req.name();
        let read_only = req.is_read();
        let issuer = self.issuer.clone();
        self.apply(name, read_only, move |r| r.execute(req, &issuer, now_ms()))
            .await
    }

    /// Execute `req` and carry out its effects on the broker (close the
    /// connections of certificates that left ACTIVE). The one way in for
    /// the admin socket and the HTTPS API.
    pub async fn execute_for(
        self: &Arc<Self>,
        req: Request,
        broker: &Broker,
    ) -> Result<Value, RegistryError> {
        let (output, effects) = self.execute(req).await?;
        for id in &effects.deactivated {
            let n = broker.disconnect_principal(id.as_str());
            info!(certificate_id = %id, connections = n,
                "certificate is no longer ACTIVE: its connections are closed");
        }
        Ok(output)
    }

    /// Plan with `plan` (off the runtime threads: it may generate an RSA
    /// key), make the changes durable, apply them, and return the output.
    /// Changing operations run one at a time.
    pub async fn apply<T: Send + 'static, E: Send + 'static>(
        self: &Arc<Self>,
        name: &'static str,
        read_only: bool,
        plan: impl FnOnce(&Registry) -> Result<(Planned<T>, E), RegistryError> + Send + 'static,
    ) -> Result<(T, E), RegistryError> {
        let _writer = if read_only {
            None
        } else {
            Some(self.writer.lock().await)
        };
        let this = self.clone();
        let (planned, extra) = tokio::task::spawn_blocking(move || this.read(plan))
            .await
            .map_err(|e| RegistryError::Internal(format!("operation failed: {e}")))??;
        if !planned.changes.is_empty() {
            self.store
                .submit(planned.ops())
                .wait()
                .await
                .map_err(|e| RegistryError::Internal(format!("not stored: {e}")))?;
            self.state
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .apply_all(planned.changes);
            self.generation.fetch_add(1, Ordering::AcqRel);
            info!(op = name, "registry changed");
        }
        Ok((planned.output, extra))
    }
}

/// Bind the admin socket (replacing a stale one from an earlier run).
pub fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    let path = socket_path(data_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => debug!(path = %path.display(), "removed a stale admin socket"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serve admin requests until `shutdown` turns true.
pub async fn serve(
    listener: UnixListener,
    service: Arc<RegistryService>,
    broker: Broker,
    shadows: ShadowService,
    keys: Keys,
    listeners: Value,
    mut shutdown: watch::Receiver<bool>,
) {
    let keys = Arc::new(keys);
    let listeners = Arc::new(listeners);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(handle(
                    stream,
                    service.clone(),
                    broker.clone(),
                    shadows.clone(),
                    keys.clone(),
                    listeners.clone(),
                ));
            }
            Err(e) => {
                warn!("admin socket accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The HTTPS API's admin credentials, for `RotateAdminKeys`.
pub struct Keys {
    pub data_dir: PathBuf,
    pub credentials: Arc<std::sync::RwLock<crate::api::credentials::Credentials>>,
}

impl Keys {
    fn rotate(&self) -> anyhow::Result<crate::api::credentials::Credentials> {
        let new = crate::api::credentials::rotate(&self.data_dir)?;
        *self.credentials.write().unwrap_or_else(|e| e.into_inner()) = new.clone();
        info!(access_key_id = %new.access_key_id, "admin credentials rotated; the old ones no longer work");
        Ok(new)
    }
}

/// `GetThingShadow`, `UpdateThingShadow` or `DeleteThingShadow`, with its
/// request: `{"thingName", "shadowName"?, "payload"?}` (the payload as
/// text, passed to the service byte for byte).
fn shadow_op(req: &Value) -> Option<Operation> {
    match req["op"].as_str()? {
        "GetThingShadow" => Some(Operation::Get),
        "UpdateThingShadow" => Some(Operation::Update),
        "DeleteThingShadow" => Some(Operation::Delete),
        _ => None,
    }
}

async fn shadow_call(shadows: &ShadowService, op: Operation, req: &Value) -> Value {
    let invalid = |message: String| json!({"error": {"type": "InvalidRequestException", "status": 400, "message": message}});
    let Some(thing) = req["thingName"].as_str() else {
        return invalid("thingName is required".into());
    };
    if let Err(e) = kumo_model::ThingName::new(thing) {
        return invalid(e.to_string());
    }
    let name = req["shadowName"].as_str();
    if let Some(n) = name {
        if let Err(e) = kumo_shadow::ShadowName::new(n) {
            return invalid(e.to_string());
        }
    }
    let payload = match &req["payload"] {
        Value::Null => Bytes::new(),
        Value::String(s) => Bytes::copy_from_slice(s.as_bytes()),
        _ => return invalid("payload must be the request document as text".into()),
    };
    match shadows.execute(thing, name, op, payload).await {
        Ok(doc) => match serde_json::from_slice::<Value>(&doc) {
            Ok(v) => json!({ "ok": v }),
            Err(_) => json!({ "ok": String::from_utf8_lossy(&doc) }),
        },
        Err(e) => json!({"error": {
            "type": e.aws_type(), "status": e.code, "message": e.message,
        }}),
    }
}

fn error_json(e: &RegistryError) -> Value {
    let mut v =
        json!({"error": {"type": e.aws_type(), "status": e.http_status(), "message": e.message()}});
    if let RegistryError::ResourceAlreadyExists {
        resource_id,
        resource_arn,
        ..
    } = e
    {
        v["error"]["resourceId"] = json!(resource_id);
        v["error"]["resourceArn"] = json!(resource_arn);
    }
    v
}

async fn handle(
    stream: UnixStream,
    service: Arc<RegistryService>,
    broker: Broker,
    shadows: ShadowService,
    keys: Arc<Keys>,
    listeners: Arc<Value>,
) {
    let (rd, mut wr) = stream.into_split();
    let mut line = Vec::new();
    let mut rd = BufReader::new(rd).take(MAX_REQUEST as u64 + 1);
    if let Err(e) = rd.read_until(b'\n', &mut line).await {
        return debug!("admin request unreadable: {e}");
    }
    let request = if line.len() > MAX_REQUEST {
        Err(RegistryError::InvalidRequest(format!(
            "request larger than {MAX_REQUEST} bytes"
        )))
    } else {
        serde_json::from_slice::<Value>(&line)
            .map_err(|e| RegistryError::InvalidRequest(format!("not JSON: {e}")))
    };
    let reply = match request {
        Err(e) => error_json(&e),
        // Kumo's own operation: the ports the listeners are bound to (for
        // `kumo kit` when the configuration says port 0).
        Ok(req) if req["op"] == "DescribeListeners" => json!({ "ok": *listeners }),
        // Kumo's own: new admin credentials for the HTTPS API, in effect at once.
        Ok(req) if req["op"] == "RotateAdminKeys" => match keys.rotate() {
            Ok(c) => json!({ "ok": {
                "accessKeyId": c.access_key_id,
                "secretAccessKey": c.secret_access_key,
                "path": crate::api::credentials::path(&keys.data_dir),
            }}),
            Err(e) => json!({"error": {"type": "InternalFailureException", "status": 500,
                "message": format!("{e:#}")}}),
        },
        // Kumo's own: provision a device for a connect kit (`kumo kit`).
        Ok(req) if req["op"] == "CreateConnectKit" => {
            match kumo_model::ThingName::new(req["thingName"].as_str().unwrap_or_default()) {
                Err(e) => error_json(&RegistryError::InvalidRequest(e.to_string())),
                Ok(thing) => match crate::kit::provision(&service, &broker, thing.as_str()).await {
                    Ok(p) => json!({ "ok": p }),
                    Err(e) => error_json(&e),
                },
            }
        }
        Ok(req) => match shadow_op(&req) {
            Some(op) => shadow_call(&shadows, op, &req).await,
            None => match Request::from_json(req) {
                Err(e) => error_json(&e),
                Ok(req) => match service.execute_for(req, &broker).await {
                    Ok(output) => json!({ "ok": output }),
                    Err(e) => error_json(&e),
                },
            },
        },
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_default();
    out.push(b'\n');
    let _ = wr.write_all(&out).await;
    let _ = wr.shutdown().await;
}
