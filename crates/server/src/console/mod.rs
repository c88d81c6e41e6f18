//! The web console at `/console` on the HTTPS API listener: server-rendered
//! HTML (maud templates, compiled into the binary), one embedded stylesheet,
//! no JavaScript build step and no third-party assets.
//!
//! Access: log in with the admin credentials (access key ID and secret, as
//! in `<data_dir>/credentials`); the session is a random token in a
//! `Secure; HttpOnly; SameSite=Strict` cookie scoped to `/console`, kept in
//! memory for 12 hours. State-changing forms carry the session's CSRF token
//! as well. Nothing but the login page, the stylesheet and the icon is
//! served without a session.
//!
//! The live parts (test client, the wizard's wait, shadow and connection
//! updates) run over one WebSocket per tab, `/console/live` ([`live`]).

mod live;
mod locate;
mod pages;
mod wizard;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tracing::info;

use crate::api::Api;

/// How long a console session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
const COOKIE: &str = "kumo_session";
const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");
/// How long the wizard keeps a kit (with its private key) for download.
const KIT_TTL: Duration = Duration::from_secs(3600);
const FAVICON: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>\
<path fill='#2457d6' d='M9 26a7 7 0 0 1-.6-14A9 9 0 0 1 26 13a6.5 6.5 0 0 1-1 13z'/></svg>";

/// Logged-in browsers.
#[derive(Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
    /// Kits the wizard made, by id, until downloaded or expired.
    kits: Mutex<HashMap<String, Kit>>,
}

/// A connect kit made by the wizard, for the session that made it only.
struct Kit {
    session: String,
    expires: Instant,
    thing: String,
    certificate_id: String,
    platform: wizard::Platform,
    zip: Vec<u8>,
}

#[derive(Clone)]
struct Session {
    expires: Instant,
    csrf: String,
}

impl Sessions {
    fn lookup(&self, token: &str) -> Option<Session> {
        let mut m = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        m.retain(|_, s| s.expires > now);
        m.get(token).cloned()
    }

    fn create(&self) -> std::io::Result<String> {
        let token = random_hex(32)?;
        let csrf = random_hex(16)?;
        let mut m = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        m.insert(
            token.clone(),
            Session {
                expires: Instant::now() + SESSION_TTL,
                csrf,
            },
        );
        Ok(token)
    }

    fn remove(&self, token: &str) {
        let mut m = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(token);
        let mut kits = self.kits.lock().unwrap_or_else(|e| e.into_inner());
        kits.retain(|_, k| k.session != token);
    }

    fn add_kit(&self, kit: Kit) -> std::io::Result<String> {
        let id = random_hex(12)?;
        let mut kits = self.kits.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        kits.retain(|_, k| k.expires > now);
        kits.insert(id.clone(), kit);
        Ok(id)
    }

    /// A kit of this session: f(kit) if it is there.
    fn with_kit<T>(&self, session: &str, id: &str, f: impl FnOnce(&Kit) -> T) -> Option<T> {
        let kits = self.kits.lock().unwrap_or_else(|e| e.into_inner());
        kits.get(id)
            .filter(|k| k.session == session && k.expires > Instant::now())
            .map(f)
    }
}

fn random_hex(n: usize) -> std::io::Result<String> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| std::io::Error::other("the system random number generator failed"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Whether a request is for the console.
pub fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// Serve one console request.
pub async fn handle(
    api: &Api,
    req: Request<Incoming>,
    remote: std::net::SocketAddr,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let token = cookie(&req, COOKIE);
    let session = token.as_deref().and_then(|t| api.console.lookup(t));
    match (method.as_str(), path.as_str()) {
        ("GET", "/console/console.css") => {
            respond(200, "text/css; charset=utf-8", CSS.as_bytes().to_vec(), &[])
        }
        ("GET", "/console/favicon.svg") => {
            respond(200, "image/svg+xml", FAVICON.as_bytes().to_vec(), &[])
        }
        ("GET", "/console/login") => html(200, pages::login(None)),
        ("POST", "/console/login") => {
            let form = read_form(req).await;
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let ok = {
                let c = api.credentials.read().unwrap_or_else(|e| e.into_inner());
                constant_eq(get("access_key_id").unwrap_or("").trim(), &c.access_key_id)
                    & constant_eq(get("secret").unwrap_or("").trim(), &c.secret_access_key)
            };
            if !ok {
                info!("console login refused: wrong access key ID or secret");
                return html(
                    401,
                    pages::login(Some("Wrong access key ID or secret access key.")),
                );
            }
            match api.console.create() {
                Ok(token) => {
                    info!("console login");
                    let cookie = format!(
                        "{COOKIE}={token}; Path=/console; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
                        SESSION_TTL.as_secs()
                    );
                    redirect("/console", &[("set-cookie", cookie.as_str())])
                }
                Err(e) => html(
                    500,
                    pages::message("Cannot start a session", &e.to_string()),
                ),
            }
        }
        _ if session.is_none() => redirect("/console/login", &[]),
        ("POST", "/console/logout") => {
            let s = session.expect("checked above");
            if let Err(refused) = checked_form(req, &s).await {
                return refused;
            }
            if let Some(t) = &token {
                api.console.remove(t);
            }
            let clear =
                format!("{COOKIE}=; Path=/console; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
            redirect("/console/login", &[("set-cookie", clear.as_str())])
        }
        ("GET", "/console/console.js") => respond(
            200,
            "text/javascript; charset=utf-8",
            JS.as_bytes().to_vec(),
            &[],
        ),
        ("GET", "/console/live") => live_upgrade(api, req, remote),
        ("GET", "/console/stats") => {
            let s = api.broker.stats();
            let body = serde_json::json!({
                "connections": s.connections,
                "messagesIn": s.messages_in,
                "messagesOut": s.messages_out,
                "time": crate::admin::now_ms(),
            });
            respond(200, "application/json", body.to_string().into_bytes(), &[])
        }
        ("GET", "/console/status") => {
            let certs: Vec<String> = query_param(&req, "certificates")
                .unwrap_or_default()
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            let body = serde_json::json!({ "clients": pages::clients_of(api, &certs) });
            respond(200, "application/json", body.to_string().into_bytes(), &[])
        }
        ("GET", "/console/test") => {
            let s = session.expect("checked above");
            html(
                200,
                pages::test_client(&s.csrf, &query_params(&req, "filter")),
            )
        }
        ("GET", "/console/connect") => {
            let s = session.expect("checked above");
            html(200, wizard::connect_form(&s.csrf, None, ""))
        }
        ("POST", "/console/connect") => {
            let s = session.expect("checked above");
            let form = match checked_form(req, &s).await {
                Ok(f) => f,
                Err(refused) => return refused,
            };
            let token = token.clone().unwrap_or_default();
            wizard::connect_device(api, &s, &token, &form).await
        }
        ("GET", p) if p.starts_with("/console/connect/") => {
            let s = session.expect("checked above");
            let token = token.clone().unwrap_or_default();
            let rest = &p["/console/connect/".len()..];
            let (id, file) = rest.split_once('/').unwrap_or((rest, ""));
            match file {
                "" => api
                    .console
                    .with_kit(&token, id, |k| {
                        let connected =
                            pages::clients_of(api, std::slice::from_ref(&k.certificate_id));
                        wizard::connect_steps(
                            &s.csrf,
                            &wizard::KitView {
                                id,
                                thing: &k.thing,
                                certificate_id: &k.certificate_id,
                                platform: k.platform,
                                endpoint: &api.endpoint,
                                port: api.device_port,
                                connected,
                            },
                        )
                    })
                    .map_or_else(
                        || html(404, wizard::kit_gone(&s.csrf)),
                        |page| html(200, page),
                    ),
                "connect_device_package.zip" => api
                    .console
                    .with_kit(&token, id, |k| k.zip.clone())
                    .map_or_else(
                        || html(404, wizard::kit_gone(&s.csrf)),
                        |zip| {
                            respond(
                                200,
                                "application/zip",
                                zip,
                                &[(
                                    "content-disposition",
                                    "attachment; filename=\"connect_device_package.zip\"",
                                )],
                            )
                        },
                    ),
                _ => html(404, pages::not_found(&s.csrf, &path)),
            }
        }
        ("GET", "/console") | ("GET", "/console/") => {
            let s = session.expect("checked above");
            html(200, pages::overview(api, &s.csrf))
        }
        ("GET", "/console/certificates") => {
            let s = session.expect("checked above");
            html(200, pages::certificates(api, &s.csrf, None))
        }
        ("POST", "/console/certificates") => {
            let s = session.expect("checked above");
            let form = match checked_form(req, &s).await {
                Ok(f) => f,
                Err(refused) => return refused,
            };
            let get = |k: &str| form.get(k);
            let (id, status) = (
                get("id").unwrap_or_default(),
                get("status").unwrap_or_default(),
            );
            let request = kumo_registry::api::Request::from_json(serde_json::json!({
                "op": "UpdateCertificate", "certificateId": id, "newStatus": status,
            }));
            let result = match request {
                Ok(r) => api.registry.execute_for(r, &api.broker).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(_) => html(
                    200,
                    pages::certificates(
                        api,
                        &s.csrf,
                        Some((
                            &format!(
                                "Certificate {}… is now {status}.",
                                id.get(..16).unwrap_or(&id)
                            ),
                            true,
                        )),
                    ),
                ),
                Err(e) => html(
                    e.http_status(),
                    pages::certificates(
                        api,
                        &s.csrf,
                        Some((&format!("{}: {}", e.aws_type(), e.message()), false)),
                    ),
                ),
            }
        }
        ("GET", "/console/policies") => {
            let s = session.expect("checked above");
            html(200, pages::policies(api, &s.csrf))
        }
        (m @ ("GET" | "POST"), p) if p.starts_with("/console/policies/") => {
            let s = session.expect("checked above");
            let name = crate::api::ops::percent_decode(&p["/console/policies/".len()..])
                .unwrap_or_default();
            if m == "GET" {
                return match pages::policy(api, &s.csrf, &name, None, None) {
                    Some(page) => html(200, page),
                    None => html(404, pages::not_found(&s.csrf, &path)),
                };
            }
            let form = match checked_form(req, &s).await {
                Ok(f) => f,
                Err(refused) => return refused,
            };
            let draft = form.get("document").unwrap_or_default();
            let (status, msg) = match save_policy_version(api, &name, &draft).await {
                Ok(v) => (
                    200,
                    (format!("Saved as version {v}, now the default."), true),
                ),
                Err(e) => (400, (e, false)),
            };
            let draft = (!msg.1).then_some(draft.as_str());
            match pages::policy(api, &s.csrf, &name, Some((&msg.0, msg.1)), draft) {
                Some(page) => html(status, page),
                None => html(404, pages::not_found(&s.csrf, &path)),
            }
        }
        ("GET", "/console/things") => {
            let s = session.expect("checked above");
            let q = query_param(&req, "q").unwrap_or_default();
            html(200, pages::things(api, &s.csrf, &q))
        }
        (m @ ("GET" | "POST"), p)
            if p.starts_with("/console/things/") && p.ends_with("/shadow") =>
        {
            let s = session.expect("checked above");
            let thing = crate::api::ops::percent_decode(
                &p["/console/things/".len()..p.len() - "/shadow".len()],
            )
            .unwrap_or_default();
            let name = query_param(&req, "name").filter(|n| !n.is_empty());
            if kumo_model::ThingName::new(&thing).is_err()
                || name
                    .as_deref()
                    .is_some_and(|n| kumo_shadow::ShadowName::new(n).is_err())
            {
                return html(404, pages::not_found(&s.csrf, &path));
            }
            if m == "GET" {
                let saved = query_param(&req, "saved").is_some();
                let msg = saved.then_some(("Saved.", true));
                return html(
                    200,
                    pages::shadow(api, &s.csrf, &thing, name.as_deref(), msg, None),
                );
            }
            let form = match checked_form(req, &s).await {
                Ok(f) => f,
                Err(refused) => return refused,
            };
            let get = |k: &str| form.get(k);
            let draft = get("desired").unwrap_or_default();
            let version: u64 = get("version").and_then(|v| v.parse().ok()).unwrap_or(0);
            match edit_desired(api, &thing, name.as_deref(), &draft, version).await {
                Ok(()) => {
                    let to = pages::shadow_href(&thing, name.as_deref());
                    let sep = if to.contains('?') { '&' } else { '?' };
                    redirect(&format!("{to}{sep}saved=1"), &[])
                }
                Err(e) => html(
                    409,
                    pages::shadow(
                        api,
                        &s.csrf,
                        &thing,
                        name.as_deref(),
                        Some((&e, false)),
                        Some(&draft),
                    ),
                ),
            }
        }
        ("GET", p) if p.starts_with("/console/things/") => {
            let s = session.expect("checked above");
            let name =
                crate::api::ops::percent_decode(&p["/console/things/".len()..]).unwrap_or_default();
            match pages::thing(api, &s.csrf, &name) {
                Some(page) => html(200, page),
                None => html(404, pages::not_found(&s.csrf, &path)),
            }
        }
        _ => {
            let s = session.expect("checked above");
            html(404, pages::not_found(&s.csrf, &path))
        }
    }
}

/// The live connection's WebSocket handshake (the session was checked):
/// only from the console's own pages (`Origin` is this host).
fn live_upgrade(
    api: &Api,
    mut req: Request<Incoming>,
    remote: std::net::SocketAddr,
) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let refuse = |status: u16, why: &str| {
        respond(
            status,
            "text/plain; charset=utf-8",
            why.as_bytes().to_vec(),
            &[],
        )
    };
    if !crate::api::websocket::is_upgrade(&req)
        || header("sec-websocket-version").as_deref() != Some("13")
    {
        return refuse(400, "a WebSocket (version 13) handshake is expected here");
    }
    let same_origin = match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => origin == format!("https://{host}"),
        _ => false,
    };
    if !same_origin {
        info!(%remote, "console live connection refused: not from the console's origin");
        return refuse(403, "only the console's own pages may open this connection");
    }
    let Some(key) = header("sec-websocket-key") else {
        return refuse(400, "Sec-WebSocket-Key is missing");
    };
    let Ok(suffix) = random_hex(4) else {
        return refuse(500, "the system random number generator failed");
    };
    let client_id = format!("kumo-console-{suffix}");
    let access_key_id = api
        .credentials
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .access_key_id
        .clone();
    let upgrade = hyper::upgrade::on(&mut req);
    let broker = api.broker.clone();
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => live::run(broker, upgraded, remote, access_key_id, client_id).await,
            Err(e) => tracing::debug!(%remote, "console WebSocket upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header(
            "sec-websocket-accept",
            crate::api::websocket::accept_key(&key),
        )
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Every value of a query parameter.
fn query_params(req: &Request<Incoming>, name: &str) -> Vec<String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| crate::api::ops::percent_decode(&v.replace('+', " ")))?
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// The first non-empty value of a query parameter.
fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    query_params(req, name).into_iter().next()
}

fn cookie(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A posted form.
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// A posted form that carries the session's CSRF token, or the 403 answer.
async fn checked_form(req: Request<Incoming>, s: &Session) -> Result<Form, Response<Full<Bytes>>> {
    let form = Form(read_form(req).await);
    match form.get("csrf") {
        Some(c) if constant_eq(&c, &s.csrf) => Ok(form),
        _ => Err(html(
            403,
            pages::message("Forbidden", "The form's token is not this session's."),
        )),
    }
}

/// An `application/x-www-form-urlencoded` body (at most 64 KiB).
async fn read_form(req: Request<Incoming>) -> Vec<(String, String)> {
    let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Vec::new(),
    };
    let text = String::from_utf8_lossy(&body);
    text.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| crate::api::ops::percent_decode(&s.replace('+', " "));
            Some((dec(k)?, dec(v)?))
        })
        .collect()
}

fn constant_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

fn html(status: u16, page: maud::Markup) -> Response<Full<Bytes>> {
    respond(
        status,
        "text/html; charset=utf-8",
        page.into_string().into_bytes(),
        &[],
    )
}

fn redirect(to: &str, extra: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut headers = vec![("location", to)];
    headers.extend_from_slice(extra);
    respond(303, "text/plain; charset=utf-8", Vec::new(), &headers)
}

fn respond(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "same-origin")
        .header(
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
        );
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// CreatePolicyVersion (as the new default) with the edited document. A
/// refused document says where: AWS's message names the element, and for
/// text that is not JSON the line and column.
async fn save_policy_version(api: &Api, name: &str, document: &str) -> Result<String, String> {
    let request = kumo_registry::api::Request::from_json(serde_json::json!({
        "op": "CreatePolicyVersion", "policyName": name, "policyDocument": document,
        "setAsDefault": true,
    }))
    .map_err(|e| e.message())?;
    let out = api
        .registry
        .execute_for(request, &api.broker)
        .await
        .map_err(|e| format!("{}: {}", e.aws_type(), e.message()))?;
    Ok(out["policyVersionId"].as_str().unwrap_or("?").to_owned())
}

/// Replace the shadow's desired state with `draft` (a JSON object), as read
/// at `version`: keys no longer there are sent as null (deleted), so the
/// document ends up exactly as edited; a concurrent change is a conflict.
async fn edit_desired(
    api: &Api,
    thing: &str,
    name: Option<&str>,
    draft: &str,
    version: u64,
) -> Result<(), String> {
    let new: serde_json::Value =
        serde_json::from_str(draft).map_err(|e| format!("Not JSON: {e}"))?;
    if !new.is_object() {
        return Err("Desired state must be a JSON object.".into());
    }
    let current = api
        .shadows
        .documents_of(thing)
        .into_iter()
        .find(|(n, _)| n.as_deref() == name)
        .and_then(|(_, d)| serde_json::from_slice::<serde_json::Value>(&d).ok());
    let old = current
        .as_ref()
        .map(|d| d["state"]["desired"].clone())
        .unwrap_or(serde_json::Value::Null);
    let mut request =
        serde_json::json!({ "state": { "desired": kumo_shadow::replacement(&old, &new) } });
    if current.is_some() {
        request["version"] = serde_json::json!(version);
    }
    let payload = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
    api.shadows
        .execute(thing, name, kumo_shadow::Operation::Update, payload)
        .await
        .map(drop)
        .map_err(|e| {
            if e.code == 409 {
                "Version conflict: the shadow changed since this page was loaded. \
                 Your edit is below; the state above is the current one."
                    .to_owned()
            } else {
                format!("{} {}", e.code, e.message)
            }
        })
}
