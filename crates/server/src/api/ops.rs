//! Every operation of AWS IoT's `iot` and `iot-data` services, as the AWS
//! SDKs send them: HTTP method, URI template, and where each input member
//! travels. The table (`aws_ops.json`) is generated from botocore's service
//! models by `scripts/gen-aws-ops`, so routing follows exactly what boto3
//! and the aws CLI put on the wire.
//!
//! [`OpTable::route`] finds the operation of a request and turns its URI,
//! query string, headers and JSON body into one JSON object with AWS's
//! member names — the input the registry's `api::Request` (and the shadow
//! and publish handlers) take. Whether Kumo *serves* the operation is
//! decided by the caller; a known operation it does not serve is answered
//! NotImplemented, never a 404.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Which service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The control plane (`iot`, SigV4 signing name `iot`).
    Iot,
    /// The data plane (`iot-data`, SigV4 signing name `iotdata`).
    IotData,
}

impl Service {
    /// From a SigV4 credential scope's service.
    pub fn from_signing_name(name: &str) -> Option<Service> {
        match name {
            "iot" => Some(Service::Iot),
            "iotdata" | "iotdevicegateway" => Some(Service::IotData),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct File {
    services: HashMap<String, ServiceFile>,
}

#[derive(Debug, Deserialize)]
struct ServiceFile {
    operations: Vec<Operation>,
}

/// One operation of the model.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    pub name: String,
    pub method: String,
    pub uri: String,
    /// HTTP status of a success.
    pub status: u16,
    params: Vec<Param>,
    /// The member that is the whole request body (raw bytes), if any.
    pub payload: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Param {
    member: String,
    #[serde(rename = "in")]
    location: String,
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

/// The operations of both services.
pub struct OpTable {
    services: HashMap<Service, Vec<Template>>,
}

struct Template {
    op: Operation,
    /// Path segments: `Ok(literal)` or `Err(uri parameter name)`.
    segments: Vec<Result<String, String>>,
    /// Query keys fixed by the URI template itself (`/x?versions`), rare.
    fixed_query: Vec<(String, String)>,
}

/// URI parameter name → decoded value.
type Bindings = Vec<(String, String)>;

/// A request matched to its operation, with its input.
#[derive(Debug)]
pub struct Routed<'a> {
    pub op: &'a Operation,
    /// AWS member names → values; for a payload operation the body is not
    /// in here (see [`Operation::payload`]).
    pub input: Map<String, Value>,
}

/// Why a request's input could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No operation of the service has this method and path.
    NoSuchOperation,
    /// The operation was found but a parameter or the body is malformed.
    Invalid(String),
}

impl OpTable {
    /// The table built into Kumo.
    pub fn builtin() -> OpTable {
        OpTable::parse(include_str!("aws_ops.json")).expect("aws_ops.json is valid")
    }

    fn parse(text: &str) -> Result<OpTable, serde_json::Error> {
        let file: File = serde_json::from_str(text)?;
        let mut services = HashMap::new();
        for (name, svc) in file.services {
            let service = match name.as_str() {
                "iot" => Service::Iot,
                "iot-data" => Service::IotData,
                _ => continue,
            };
            let templates = svc.operations.into_iter().map(Template::new).collect();
            services.insert(service, templates);
        }
        Ok(OpTable { services })
    }

    /// The names of `service`'s operations.
    #[cfg(test)]
    pub fn names(&self, service: Service) -> Vec<&str> {
        self.services
            .get(&service)
            .into_iter()
            .flatten()
            .map(|t| t.op.name.as_str())
            .collect()
    }

    /// How many operations the table knows for `service`.
    #[cfg(test)]
    pub fn len(&self, service: Service) -> usize {
        self.services.get(&service).map_or(0, Vec::len)
    }

    /// The operation `method raw_path` is, with its input. `raw_path` and
    /// `raw_query` as received (percent-encoded); `body` is parsed as the
    /// JSON members unless the operation takes a raw payload.
    pub fn route(
        &self,
        service: Service,
        method: &str,
        raw_path: &str,
        raw_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Routed<'_>, RouteError> {
        let segments: Vec<&str> = raw_path
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let query = parse_query(raw_query);
        // The matching template with the most literal parts, and the URI
        // parameters it bound.
        let mut best: Option<(&Template, usize, Bindings)> = None;
        for t in self.services.get(&service).into_iter().flatten() {
            if t.op.method != method || t.segments.len() != segments.len() {
                continue;
            }
            if !t
                .fixed_query
                .iter()
                .all(|(k, _)| query.iter().any(|(q, _)| q == k))
            {
                continue;
            }
            let mut bound = Vec::new();
            let mut literals = 0;
            let ok = t
                .segments
                .iter()
                .zip(&segments)
                .all(|(want, got)| match want {
                    Ok(lit) => {
                        literals += 1;
                        lit == got
                    }
                    Err(param) => match percent_decode(got) {
                        Some(v) => {
                            bound.push((param.clone(), v));
                            true
                        }
                        None => false,
                    },
                });
            let score = literals + t.fixed_query.len();
            if ok && best.as_ref().is_none_or(|(_, s, _)| score > *s) {
                best = Some((t, score, bound));
            }
        }
        let (t, _, bound) = best.ok_or(RouteError::NoSuchOperation)?;
        let op = &t.op;
        let mut input = Map::new();
        if op.payload.is_none() && !body.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => input = m,
                Ok(_) => return Err(RouteError::Invalid("the body must be a JSON object".into())),
                Err(e) => return Err(RouteError::Invalid(format!("the body is not JSON: {e}"))),
            }
        }
        for p in &op.params {
            let raw = match p.location.as_str() {
                "uri" => bound
                    .iter()
                    .find(|(n, _)| *n == p.name)
                    .map(|(_, v)| v.clone()),
                "querystring" => query
                    .iter()
                    .find(|(k, _)| *k == p.name)
                    .map(|(_, v)| v.clone()),
                "header" => headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&p.name))
                    .map(|(_, v)| (*v).to_owned()),
                _ => None,
            };
            let Some(raw) = raw else { continue };
            let value = match p.ty.as_str() {
                "bool" => match raw.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(RouteError::Invalid(format!("{}: not a boolean", p.name))),
                },
                "int" => raw
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| RouteError::Invalid(format!("{}: not an integer", p.name)))?,
                _ => Value::String(raw),
            };
            input.insert(p.member.clone(), value);
        }
        Ok(Routed { op, input })
    }
}

impl Template {
    fn new(op: Operation) -> Template {
        let (path, fixed) = op.uri.split_once('?').unwrap_or((&op.uri, ""));
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Err(name.trim_end_matches('+').to_owned()),
                    None => Ok(s.to_owned()),
                },
            )
            .collect();
        let fixed_query = parse_query(fixed);
        Template {
            segments,
            fixed_query,
            op,
        }
    }
}

/// `a=1&b=x%2Fy&c` → [("a","1"), ("b","x/y"), ("c","")]; undecodable pairs
/// dropped. RFC 3986 decoding, as SigV4 canonicalises: `+` is a plus sign
/// (the AWS SDKs send a space as `%20`).
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// Percent-decode one URI component; None if it is not valid UTF-8 after
/// decoding or has a broken escape.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(
        service: Service,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (String, Value) {
        let t = OpTable::builtin();
        let r = t
            .route(service, method, path, query, headers, body)
            .unwrap();
        (r.op.name.clone(), Value::Object(r.input))
    }

    #[test]
    fn the_table_knows_both_services() {
        let t = OpTable::builtin();
        assert!(t.len(Service::Iot) > 250);
        assert!(t.len(Service::IotData) >= 10);
    }

    #[test]
    fn requests_route_as_boto3_sends_them() {
        use serde_json::json;
        assert_eq!(
            route(
                Service::Iot,
                "POST",
                "/things/raspi2",
                "",
                &[],
                br#"{"attributePayload":{"attributes":{"a":"1"}}}"#
            ),
            (
                "CreateThing".into(),
                json!({"thingName": "raspi2", "attributePayload": {"attributes": {"a": "1"}}})
            )
        );
        assert_eq!(
            route(
                Service::Iot,
                "GET",
                "/things",
                "maxResults=2&nextToken=abc",
                &[],
                b""
            ),
            (
                "ListThings".into(),
                json!({"maxResults": 2, "nextToken": "abc"})
            )
        );
        assert_eq!(
            route(
                Service::Iot,
                "PUT",
                "/certificates/ab12",
                "newStatus=INACTIVE",
                &[],
                b""
            ),
            (
                "UpdateCertificate".into(),
                json!({"certificateId": "ab12", "newStatus": "INACTIVE"})
            )
        );
        assert_eq!(
            route(
                Service::Iot,
                "DELETE",
                "/certificates/ab12",
                "forceDelete=true",
                &[],
                b""
            )
            .1,
            json!({"certificateId": "ab12", "forceDelete": true})
        );
        // A header member, and the longest literal match wins
        // (/things/{thingName}/principals, not /things/{thingName}).
        assert_eq!(
            route(
                Service::Iot,
                "PUT",
                "/things/raspi2/principals",
                "",
                &[("X-Amzn-Principal", "arn:x")],
                b""
            ),
            (
                "AttachThingPrincipal".into(),
                json!({"thingName": "raspi2", "principal": "arn:x"})
            )
        );
        // iot-data: the topic is one percent-encoded segment.
        let t = OpTable::builtin();
        let r = t
            .route(
                Service::IotData,
                "POST",
                "/topics/%24aws%2Fthings%2Fx%2Fshadow%2Fupdate",
                "qos=1",
                &[],
                b"raw",
            )
            .unwrap();
        assert_eq!(r.op.name, "Publish");
        assert_eq!(r.op.payload.as_deref(), Some("payload"));
        assert_eq!(
            Value::Object(r.input),
            json!({"topic": "$aws/things/x/shadow/update", "qos": 1})
        );
        assert_eq!(
            route(
                Service::IotData,
                "GET",
                "/things/raspi2/shadow",
                "name=config",
                &[],
                b""
            )
            .0,
            "GetThingShadow"
        );
    }

    #[test]
    fn bad_input_is_refused_and_unknown_paths_are_not_operations() {
        let t = OpTable::builtin();
        assert_eq!(
            t.route(Service::Iot, "GET", "/nothing/here", "", &[], b"")
                .unwrap_err(),
            RouteError::NoSuchOperation
        );
        assert!(matches!(
            t.route(Service::Iot, "GET", "/things", "maxResults=lots", &[], b""),
            Err(RouteError::Invalid(_))
        ));
        assert!(matches!(
            t.route(Service::Iot, "POST", "/things/x", "", &[], b"[1]"),
            Err(RouteError::Invalid(_))
        ));
    }
}
