//! The shadow topic grammar (device-shadow-mqtt.md, reserved-topics.md):
//!
//! ```text
//! $aws/things/<thing>/shadow/<op>[/<response>]                   classic shadow
//! $aws/things/<thing>/shadow/name/<shadowName>/<op>[/<response>] named shadow
//! ```
//!
//! `<op>` is `get`, `update` or `delete`; clients publish to the bare
//! operation topic and the service answers on `accepted` / `rejected`
//! (and, for `update`, `delta` / `documents`).

use std::fmt;

/// The request a client publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Get,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<Operation> {
        match s {
            "get" => Some(Operation::Get),
            "update" => Some(Operation::Update),
            "delete" => Some(Operation::Delete),
            _ => None,
        }
    }
}

/// The kind of message the service publishes in answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Response {
    Accepted,
    Rejected,
    /// `update/delta` only.
    Delta,
    /// `update/documents` only.
    Documents,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Accepted => "accepted",
            Response::Rejected => "rejected",
            Response::Delta => "delta",
            Response::Documents => "documents",
        }
    }
}

/// Longest shadow name (botocore `iot-data` `ShadowName`: max 64).
pub const MAX_SHADOW_NAME_LEN: usize = 64;

/// A named shadow's name: 1–64 characters of `[$a-zA-Z0-9:_-]` (botocore
/// `iot-data` `ShadowName` pattern `[$a-zA-Z0-9:_-]+`, max 64).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShadowName(String);

/// A string that breaks the shadow-name rule, worded like botocore's
/// validation message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("1 validation error detected: Value '{0}' at 'shadowName' failed to satisfy constraint: Member must satisfy regular expression pattern: [$a-zA-Z0-9:_-]+ and have length between 1 and 64")]
pub struct InvalidShadowName(pub String);

fn is_shadow_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SHADOW_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'$' | b':' | b'_' | b'-'))
}

impl ShadowName {
    pub fn new(s: &str) -> Result<ShadowName, InvalidShadowName> {
        if is_shadow_name(s) {
            Ok(ShadowName(s.to_owned()))
        } else {
            Err(InvalidShadowName(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ShadowName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ShadowName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ShadowName {
    type Err = InvalidShadowName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShadowName::new(s)
    }
}

/// A request topic, borrowed from the PUBLISH it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTopic<'a> {
    /// A valid thing name.
    pub thing: &'a str,
    /// `None` for the classic shadow; else a valid shadow name.
    pub shadow: Option<&'a str>,
    pub operation: Operation,
}

impl<'a> RequestTopic<'a> {
    /// What a 404 names: the shadow name for a named shadow, the thing name
    /// for the classic one.
    pub fn label(&self) -> &'a str {
        self.shadow.unwrap_or(self.thing)
    }

    /// The topic the service answers this request on.
    pub fn response_topic(&self, resp: Response) -> String {
        response_topic(self.thing, self.shadow, self.operation, resp)
    }
}

/// `$aws/things/T/shadow/get|update|delete` and
/// `$aws/things/T/shadow/name/N/get|update|delete`. `None` for anything else
/// (response topics, other `$aws` topics, invalid names, extra levels).
pub fn parse_request_topic(topic: &str) -> Option<RequestTopic<'_>> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("shadow/")?;
    kumo_model::ThingName::new(thing).ok()?;
    let (shadow, op) = match rest.strip_prefix("name/") {
        Some(named) => {
            let (name, op) = named.split_once('/')?;
            if !is_shadow_name(name) {
                return None;
            }
            (Some(name), op)
        }
        None => (None, rest),
    };
    // `op` must be a single level: no '/' left.
    let operation = Operation::parse(op)?;
    Some(RequestTopic {
        thing,
        shadow,
        operation,
    })
}

/// The prefix of a shadow's topics: `$aws/things/T/shadow` or
/// `$aws/things/T/shadow/name/N`.
pub fn shadow_prefix(thing: &str, shadow: Option<&str>) -> String {
    match shadow {
        Some(name) => format!("$aws/things/{thing}/shadow/name/{name}"),
        None => format!("$aws/things/{thing}/shadow"),
    }
}

/// e.g. `response_topic("t", Some("n"), Operation::Update, Response::Delta)
/// == "$aws/things/t/shadow/name/n/update/delta"`.
pub fn response_topic(thing: &str, shadow: Option<&str>, op: Operation, resp: Response) -> String {
    format!(
        "{}/{}/{}",
        shadow_prefix(thing, shadow),
        op.as_str(),
        resp.as_str()
    )
}

/// Whether a topic lies in a shadow's reserved subtree: `$aws/things/+/shadow`
/// or anything below it (`$aws/things/+/shadow/#`). AWS reserves the whole
/// subtree and may add topics to it (device-shadow-mqtt.md), so the bare
/// prefix counts too. The thing level is not validated beyond being
/// non-empty.
pub fn is_shadow_topic(topic: &str) -> bool {
    let Some(rest) = topic.strip_prefix("$aws/things/") else {
        return false;
    };
    let Some((thing, rest)) = rest.split_once('/') else {
        return false;
    };
    !thing.is_empty() && (rest == "shadow" || rest.starts_with("shadow/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        type Parsed<'a> = Option<(&'a str, Option<&'a str>, Operation)>;
        let cases: &[(&str, Parsed)] = &[
            (
                "$aws/things/t/shadow/get",
                Some(("t", None, Operation::Get)),
            ),
            (
                "$aws/things/my-Thing_1:x/shadow/update",
                Some(("my-Thing_1:x", None, Operation::Update)),
            ),
            (
                "$aws/things/t/shadow/delete",
                Some(("t", None, Operation::Delete)),
            ),
            (
                "$aws/things/t/shadow/name/n/get",
                Some(("t", Some("n"), Operation::Get)),
            ),
            (
                "$aws/things/t/shadow/name/$package/update",
                Some(("t", Some("$package"), Operation::Update)),
            ),
            (
                "$aws/things/name/shadow/name/name/delete",
                Some(("name", Some("name"), Operation::Delete)),
            ),
            // Response topics, extra or missing levels, other topics.
            ("$aws/things/t/shadow/get/accepted", None),
            ("$aws/things/t/shadow/update/delta", None),
            ("$aws/things/t/shadow/name/n/update/documents", None),
            ("$aws/things/t/shadow/name/get", None),
            ("$aws/things/t/shadow/name/n", None),
            ("$aws/things/t/shadow/name//get", None),
            ("$aws/things/t/shadow", None),
            ("$aws/things/t/shadow/", None),
            ("$aws/things/t/shadow/list", None),
            ("$aws/things/t/shadow/GET", None),
            ("$aws/things//shadow/get", None),
            ("$aws/things/t/jobs/get", None),
            ("$aws/things/t/shadowx/get", None),
            ("$aws/thing/t/shadow/get", None),
            ("aws/things/t/shadow/get", None),
            ("/$aws/things/t/shadow/get", None),
            ("$aws/things/t/shadow/get/", None),
            // Invalid names.
            ("$aws/things/t$/shadow/get", None),
            ("$aws/things/a b/shadow/get", None),
            ("$aws/things/t/shadow/name/a.b/get", None),
            ("$aws/things/t/shadow/name/+/get", None),
            ("$aws/things/+/shadow/get", None),
            ("$aws/things/#/shadow/get", None),
        ];
        for (topic, want) in cases {
            let got = parse_request_topic(topic).map(|r| (r.thing, r.shadow, r.operation));
            assert_eq!(got, *want, "{topic}");
        }
    }

    #[test]
    fn name_lengths() {
        let thing128 = "t".repeat(128);
        let thing129 = "t".repeat(129);
        let name64 = "n".repeat(64);
        let name65 = "n".repeat(65);
        assert!(parse_request_topic(&format!("$aws/things/{thing128}/shadow/get")).is_some());
        assert!(parse_request_topic(&format!("$aws/things/{thing129}/shadow/get")).is_none());
        assert!(parse_request_topic(&format!("$aws/things/t/shadow/name/{name64}/get")).is_some());
        assert!(parse_request_topic(&format!("$aws/things/t/shadow/name/{name65}/get")).is_none());
        assert!(ShadowName::new(&name64).is_ok());
        assert_eq!(
            ShadowName::new(&name65),
            Err(InvalidShadowName(name65.clone()))
        );
        assert!(ShadowName::new("").is_err());
        assert!(ShadowName::new("é").is_err());
        assert_eq!(ShadowName::new("$a:b_c-9").unwrap().to_string(), "$a:b_c-9");
    }

    #[test]
    fn labels_and_responses() {
        let classic = parse_request_topic("$aws/things/t/shadow/get").unwrap();
        assert_eq!(classic.label(), "t");
        assert_eq!(
            classic.response_topic(Response::Rejected),
            "$aws/things/t/shadow/get/rejected"
        );
        let named = parse_request_topic("$aws/things/t/shadow/name/n/update").unwrap();
        assert_eq!(named.label(), "n");
        assert_eq!(
            response_topic("t", Some("n"), Operation::Update, Response::Delta),
            "$aws/things/t/shadow/name/n/update/delta"
        );
        assert_eq!(
            response_topic("t", None, Operation::Update, Response::Documents),
            "$aws/things/t/shadow/update/documents"
        );
        assert_eq!(
            response_topic("t", None, Operation::Delete, Response::Accepted),
            "$aws/things/t/shadow/delete/accepted"
        );
    }

    #[test]
    fn shadow_subtree() {
        for t in [
            "$aws/things/t/shadow",
            "$aws/things/t/shadow/get",
            "$aws/things/t/shadow/get/accepted",
            "$aws/things/t/shadow/name/n/update/delta",
            "$aws/things/t/shadow/anything/else",
        ] {
            assert!(is_shadow_topic(t), "{t}");
        }
        for t in [
            "$aws/things/t/shadowx",
            "$aws/things//shadow/get",
            "$aws/things/t/jobs/get",
            "$aws/things/t",
            "things/t/shadow/get",
            "$aws/events/presence/connected/c",
        ] {
            assert!(!is_shadow_topic(t), "{t}");
        }
    }
}
