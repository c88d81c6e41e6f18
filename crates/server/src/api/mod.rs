//! The AWS-compatible HTTPS API: AWS IoT's control plane (`iot`) and data
//! plane (`iot-data`) on one listener (default 8443), so that the aws CLI
//! and boto3 work against Kumo with `--endpoint-url`.
//!
//! One request, top to bottom ([`Api::handle`]):
//! 1. the body is read (at most [`MAX_BODY`]);
//! 2. the SigV4 signature is verified against Kumo's admin credentials
//!    (`kumo_sigv4::verify`, pure); its credential scope names the service
//!    (`iot`, or `iotdata` / `iotdevicegateway` for the data plane);
//! 3. the operation is found in AWS's operation table (`ops.rs`, generated
//!    from botocore's models) and its input gathered from URI, query,
//!    headers and body under AWS's member names;
//! 4. it is executed: registry operations by the registry service (plan →
//!    commit → apply, as for the admin socket), shadows by the shadow
//!    service, Publish by the broker; an operation AWS has and Kumo does
//!    not serve yet is answered `NotImplementedException`;
//! 5. errors are AWS's: status, `x-amzn-ErrorType` header and a
//!    `{"message": ...}` body, which boto3 turns into its exception classes.
//!
//! Why hyper and not axum's router: every route is an AWS operation found
//! through the generated table, so a path router would add nothing; the
//! whole API is one handler.

pub mod credentials;
mod data;
mod error;
pub mod ops;
pub(crate) mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use kumo_broker::Broker;
use serde_json::{json, Value};
use tracing::{debug, info};

use crate::admin::RegistryService;
use crate::shadows::ShadowService;
pub use error::ApiError;
use ops::{OpTable, RouteError, Service};

/// Largest request body read (a Publish payload is at most 128 KiB, a CA
/// certificate a few KiB).
pub const MAX_BODY: usize = 1 << 20;

/// Control-plane operations served outside the registry.
const IOT_EXTRA: &[&str] = &[
    "DescribeEndpoint",
    "AttachPrincipalPolicy",
    "DetachPrincipalPolicy",
];
/// Data-plane operations served.
const IOT_DATA: &[&str] = &[
    "GetThingShadow",
    "UpdateThingShadow",
    "DeleteThingShadow",
    "ListNamedShadowsForThing",
    "Publish",
    "GetRetainedMessage",
    "ListRetainedMessages",
];

/// Whether Kumo serves `op` of `service` (docs/compatibility.md says so too;
/// a test keeps the two in step).
pub fn serves(service: Service, op: &str) -> bool {
    match service {
        Service::Iot => kumo_registry::api::Request::knows(op) || IOT_EXTRA.contains(&op),
        Service::IotData => IOT_DATA.contains(&op),
    }
}

/// Everything a request may need.
pub struct Api {
    pub registry: Arc<RegistryService>,
    pub shadows: ShadowService,
    pub broker: Broker,
    /// The admin key pair; replaced in place by `kumo admin keys`.
    pub credentials: Arc<std::sync::RwLock<credentials::Credentials>>,
    pub ops: OpTable,
    /// What DescribeEndpoint answers (the first of `tls.endpoint_names`).
    pub endpoint: String,
    /// Accepted clock skew of signed requests, seconds (AWS: 5 minutes).
    pub max_skew_secs: u64,
    /// Region and account of the ARNs policies are checked against.
    pub arn: kumo_model::Arn,
    /// Logged-in console sessions.
    pub console: crate::console::Sessions,
    /// The MQTT port the console's connect kits give devices.
    pub device_port: u16,
    /// Kumo's root CA (PEM), for the connect kits.
    pub root_ca: Vec<u8>,
}

/// Who is on the other end of a connection.
#[derive(Clone)]
pub struct Peer {
    pub remote: SocketAddr,
    /// The client certificate (DER) the TLS handshake verified, if any: a
    /// registered, ACTIVE device certificate (the listener's verifier
    /// refuses any other).
    pub certificate: Option<Arc<[u8]>>,
}

/// Serve one accepted (TLS) connection until it closes.
pub async fn serve_connection<S>(api: Arc<Api>, stream: S, peer: Peer)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let remote = peer.remote;
    let service = hyper::service::service_fn(move |req| {
        let api = api.clone();
        let peer = peer.clone();
        async move { Ok::<_, std::convert::Infallible>(api.handle(req, &peer).await) }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .with_upgrades()
        .await
    {
        debug!(%remote, "HTTP connection ended: {e}");
    }
}

impl Api {
    async fn handle(&self, req: Request<Incoming>, peer: &Peer) -> Response<Full<Bytes>> {
        let remote = peer.remote;
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        if crate::console::is_console(&path) {
            return crate::console::handle(self, req, remote).await;
        }
        let result = if websocket::is_upgrade(&req) {
            websocket::accept(self, req, peer)
        } else {
            self.handle_inner(req, peer).await
        };
        match result {
            Ok(r) => r,
            Err(e) => {
                info!(%remote, %method, %path, status = e.status, error = e.aws_type, message = %e.message,
                    "API request refused");
                e.into_response()
            }
        }
    }

    async fn handle_inner(
        &self,
        req: Request<Incoming>,
        peer: &Peer,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|_| ApiError::payload_too_large(MAX_BODY))?
            .to_bytes();
        let raw_path = parts.uri.path();
        let raw_query = parts.uri.query().unwrap_or("");
        let headers: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        // A device on the data path may authenticate with its certificate
        // instead of a signature (AWS's HTTPS device endpoint).
        let signed = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            || raw_query.contains("X-Amz-Signature=");
        let device = match (&peer.certificate, signed) {
            (Some(cert), false) => Some(cert.clone()),
            _ => None,
        };
        let service = match device {
            Some(_) => Service::IotData,
            None => {
                self.authenticate(parts.method.as_str(), raw_path, raw_query, &headers, &body)?
            }
        };
        let routed = self
            .ops
            .route(
                service,
                parts.method.as_str(),
                raw_path,
                raw_query,
                &headers,
                &body,
            )
            .map_err(|e| match e {
                RouteError::NoSuchOperation => {
                    ApiError::unknown_operation(parts.method.as_str(), raw_path)
                }
                RouteError::Invalid(m) => ApiError::invalid_request(m),
            })?;
        let op = routed.op;
        debug!(op = %op.name, "API request");
        if !serves(service, &op.name) {
            return Err(ApiError::not_implemented(&op.name));
        }
        if let Some(cert) = &device {
            self.authorize_device(cert, peer.remote.ip(), &op.name, &routed.input)?;
        }
        let status = op.status;
        match service {
            Service::IotData => data::execute(self, op, routed.input, body).await,
            Service::Iot => {
                let output = self.control(&op.name, routed.input).await?;
                Ok(error::json_response(status, &output))
            }
        }
    }

    /// Verify the request's SigV4 signature; the service it was signed for.
    fn authenticate(
        &self,
        method: &str,
        raw_path: &str,
        raw_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Service, ApiError> {
        let body_sha256 = kumo_sigv4::sha256_hex(body);
        let request = kumo_sigv4::Request {
            method,
            raw_path,
            raw_query,
            headers,
            body_sha256: Some(&body_sha256),
        };
        let policy = kumo_sigv4::Policy {
            services: &["iot", "iotdata", "iotdevicegateway"],
            max_skew_secs: self.max_skew_secs,
            region: None,
        };
        let verified = kumo_sigv4::verify(&request, self, crate::admin::now_ms() / 1000, &policy)
            .map_err(ApiError::from_sigv4)?;
        Service::from_signing_name(&verified.service).ok_or_else(|| {
            ApiError::invalid_request(format!("unknown service {}", verified.service))
        })
    }

    /// A device's certificate-authenticated data-plane request: allowed by
    /// its certificate's policies, with AWS's actions and resources (the
    /// shadow actions on `thing/<thing>[/<shadow>]`, Publish on
    /// `topic/<topic>`, RetainPublish as well for a retained message).
    fn authorize_device(
        &self,
        certificate: &[u8],
        remote: std::net::IpAddr,
        op: &str,
        input: &serde_json::Map<String, Value>,
    ) -> Result<(), ApiError> {
        use kumo_policy::Action;
        let s = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or("");
        let (region, account) = (&self.arn.region, &self.arn.account);
        let thing = |with_shadow: bool| {
            let mut r = format!("arn:aws:iot:{region}:{account}:thing/{}", s("thingName"));
            if with_shadow && !s("shadowName").is_empty() {
                r = format!("{r}/{}", s("shadowName"));
            }
            r
        };
        let topic = kumo_policy::Arn::topic(region, account, s("topic"));
        let checks: Vec<(Action, String)> = match op {
            "GetThingShadow" => vec![(Action::GetThingShadow, thing(true))],
            "UpdateThingShadow" => vec![(Action::UpdateThingShadow, thing(true))],
            "DeleteThingShadow" => vec![(Action::DeleteThingShadow, thing(true))],
            "ListNamedShadowsForThing" => vec![(Action::ListNamedShadowsForThing, thing(false))],
            "GetRetainedMessage" => vec![(Action::GetRetainedMessage, topic.clone())],
            "ListRetainedMessages" => vec![(Action::ListRetainedMessages, "*".to_owned())],
            "Publish" => {
                let mut c = vec![(Action::Publish, topic.clone())];
                if input.get("retain").and_then(Value::as_bool) == Some(true) {
                    c.push((Action::RetainPublish, topic));
                }
                c
            }
            _ => vec![],
        };
        let allowed = !checks.is_empty()
            && checks.iter().all(|(action, resource)| {
                crate::policy_auth::http_allowed(
                    &self.registry,
                    certificate,
                    remote,
                    *action,
                    resource,
                )
            });
        if allowed {
            Ok(())
        } else {
            Err(ApiError::new(403, "ForbiddenException", "Forbidden"))
        }
    }

    /// A control-plane operation.
    async fn control(
        &self,
        op: &str,
        mut input: serde_json::Map<String, Value>,
    ) -> Result<Value, ApiError> {
        if op == "DescribeEndpoint" {
            return Ok(json!({ "endpointAddress": self.endpoint }));
        }
        if op == "AttachPrincipalPolicy" || op == "DetachPrincipalPolicy" {
            // The legacy forms of AttachPolicy / DetachPolicy.
            let target = input.remove("principal").unwrap_or(Value::Null);
            input.insert("target".into(), target);
            let modern = if op == "AttachPrincipalPolicy" {
                "AttachPolicy"
            } else {
                "DetachPolicy"
            };
            return self.registry_op(modern, input).await;
        }
        self.registry_op(op, input).await
    }

    async fn registry_op(
        &self,
        op: &str,
        mut input: serde_json::Map<String, Value>,
    ) -> Result<Value, ApiError> {
        input.insert("op".into(), json!(op));
        let request = kumo_registry::api::Request::from_json(Value::Object(input))
            .map_err(|e| ApiError::from_registry(&e))?;
        self.registry
            .execute_for(request, &self.broker)
            .await
            .map_err(|e| ApiError::from_registry(&e))
    }
}

impl kumo_sigv4::KeyLookup for Api {
    fn secret(&self, access_key_id: &str) -> Option<kumo_sigv4::SecretKey> {
        let c = self.credentials.read().unwrap_or_else(|e| e.into_inner());
        (access_key_id == c.access_key_id)
            .then(|| kumo_sigv4::SecretKey::new(c.secret_access_key.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/compatibility.md lists every operation of both services, and
    /// says "supported" or "partial" exactly for those Kumo serves.
    #[test]
    fn the_compatibility_page_matches_the_server() {
        let page = include_str!("../../../../docs/compatibility.md");
        let table = OpTable::builtin();
        for (service, heading) in [
            (Service::IotData, "## HTTPS API: data plane"),
            (Service::Iot, "## HTTPS API: control plane"),
        ] {
            let start = page.find(heading).expect(heading);
            let section = &page[start..];
            let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
            let mut rows = std::collections::HashMap::new();
            for line in section.lines().filter(|l| l.starts_with("| ")) {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                if cells.len() > 3 {
                    rows.insert(cells[1].to_owned(), cells[3].to_owned());
                }
            }
            let names = table.names(service);
            assert_eq!(names.len(), table.len(service));
            for op in names {
                let status = rows
                    .get(op)
                    .unwrap_or_else(|| panic!("{op} is missing from docs/compatibility.md"));
                let listed = status == "supported" || status.starts_with("partial");
                assert_eq!(
                    listed,
                    serves(service, op),
                    "{op}: docs/compatibility.md says {status:?}"
                );
            }
        }
    }
}
