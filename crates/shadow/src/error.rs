//! Shadow errors: the `code`/`message` pairs AWS publishes on `…/rejected`
//! (or returns over HTTP), and the document that carries them.
//!
//! Messages are AWS's exact words. Sources: the "Device Shadow error
//! messages" page (docs.aws.amazon.com/iot/latest/developerguide/
//! device-shadow-error-messages.html), captured AWS payloads quoted on each
//! constructor, and `iot-errors.md` in awsdocs/aws-iot-docs for 429.

use serde::Serialize;

/// 400 message: the payload is not JSON, or not a JSON object.
pub const MSG_INVALID_JSON: &str = "Invalid JSON";
/// 400 message: an update without `state`.
pub const MSG_MISSING_STATE: &str = "Missing required node: state";
/// 400 message: `state` is neither an object nor `null`.
pub const MSG_STATE_NOT_OBJECT: &str = "State node must be an object";
/// 400 message: `desired` is neither an object nor `null`.
pub const MSG_DESIRED_NOT_OBJECT: &str = "Desired node must be an object";
/// 400 message: `reported` is neither an object nor `null`.
pub const MSG_REPORTED_NOT_OBJECT: &str = "Reported node must be an object";
/// 400 message: `version` is not a non-negative integer.
pub const MSG_INVALID_VERSION: &str = "Invalid version";
/// 400 message: `clientToken` is not a string of at most 64 bytes.
pub const MSG_INVALID_CLIENT_TOKEN: &str = "Invalid clientToken";
/// 400 message: `desired` or `reported` nests deeper than
/// [`MAX_DEPTH`](crate::MAX_DEPTH).
pub const MSG_TOO_DEEP: &str = "JSON contains too many levels of nesting; maximum is 6";
/// 401 message.
pub const MSG_UNAUTHORIZED: &str = "Unauthorized";
/// 403 message.
pub const MSG_FORBIDDEN: &str = "Forbidden";
/// 409 message.
pub const MSG_VERSION_CONFLICT: &str = "Version conflict";
/// 413 message.
pub const MSG_TOO_LARGE: &str = "The payload exceeds the maximum size allowed";
/// 415 message (sic: "documented").
pub const MSG_NOT_UTF8: &str = "Unsupported documented encoding; supported encoding is UTF-8";
/// 429 message. AWS documents only the condition (more than 10 in-flight
/// requests on one connection); the words are the Device Shadow row of
/// `developerguide/iot-errors.md` (awsdocs/aws-iot-docs): "Too many
/// requests." **[unverified against a captured payload]**
pub const MSG_TOO_MANY_REQUESTS: &str = "Too many requests";
/// 500 message.
pub const MSG_INTERNAL: &str = "Internal service failure";

/// A rejected shadow request, as AWS reports it.
///
/// Over MQTT it becomes the payload of `…/get|update|delete/rejected`
/// ([`to_document`](Self::to_document)); over HTTP (`iot-data`) the status is
/// [`code`](Self::code), the `x-amzn-ErrorType` header is
/// [`aws_type`](Self::aws_type) and the body is `{"message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {message}")]
pub struct ShadowError {
    /// The HTTP status code, also the `code` of the MQTT error document.
    pub code: u16,
    pub message: String,
    /// The request's `clientToken` when it could be read (a valid string of at
    /// most 64 bytes), echoed in the error document.
    pub client_token: Option<String>,
}

#[derive(Serialize)]
struct ErrorDocument<'a> {
    code: u16,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<u64>,
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
}

impl ShadowError {
    pub fn new(code: u16, message: impl Into<String>, client_token: Option<String>) -> Self {
        ShadowError {
            code,
            message: message.into(),
            client_token,
        }
    }

    /// 400 with one of the `MSG_*` texts.
    pub fn bad_request(message: impl Into<String>, client_token: Option<String>) -> Self {
        Self::new(400, message, client_token)
    }

    /// 401 `Unauthorized`.
    pub fn unauthorized(client_token: Option<String>) -> Self {
        Self::new(401, MSG_UNAUTHORIZED, client_token)
    }

    /// 403 `Forbidden`.
    pub fn forbidden(client_token: Option<String>) -> Self {
        Self::new(403, MSG_FORBIDDEN, client_token)
    }

    /// 404 for a get or delete of a shadow that does not exist. `label` is
    /// the thing name for a classic shadow and the shadow name for a named
    /// one, in single quotes: a captured AWS payload is
    /// `{"code":404,"message":"No shadow exists with name: '<YourThingName>'","clientToken":"…"}`
    /// (aws-iot-device-sdk-js-v2 `samples/node/shadow/README.md`, classic
    /// shadow; aws-sdk-ios#5388 and amazon-freertos#3334 show the same).
    pub fn not_found(label: &str, client_token: Option<String>) -> Self {
        Self::new(
            404,
            format!("No shadow exists with name: '{label}'"),
            client_token,
        )
    }

    /// 409 `Version conflict`.
    pub fn version_conflict(client_token: Option<String>) -> Self {
        Self::new(409, MSG_VERSION_CONFLICT, client_token)
    }

    /// 413 `The payload exceeds the maximum size allowed`.
    pub fn too_large(client_token: Option<String>) -> Self {
        Self::new(413, MSG_TOO_LARGE, client_token)
    }

    /// 415 for a payload that is not UTF-8 (no token can be read from it).
    pub fn not_utf8() -> Self {
        Self::new(415, MSG_NOT_UTF8, None)
    }

    /// 429, for the caller's in-flight limit (10 per connection on AWS).
    pub fn too_many_requests(client_token: Option<String>) -> Self {
        Self::new(429, MSG_TOO_MANY_REQUESTS, client_token)
    }

    /// 500 `Internal service failure`, e.g. when storage fails.
    pub fn internal(client_token: Option<String>) -> Self {
        Self::new(500, MSG_INTERNAL, client_token)
    }

    /// Whether the error document carries a `timestamp`. AWS's documented
    /// error format has one but says it "is not present in all error response
    /// documents"; every captured 400, 404 and 409 payload lacks it
    /// (400: aws-iot-device-sdk-cpp#110; 404: aws-iot-device-sdk-js-v2 shadow
    /// sample; 409: device-shadow-data-flow.md "Optimistic locking"). Other
    /// codes keep the documented field. **[partly unverified]**
    fn has_timestamp(&self) -> bool {
        !matches!(self.code, 400 | 404 | 409)
    }

    /// The MQTT `…/rejected` payload:
    /// `{"code":N,"message":"…","timestamp":T?,"clientToken":"…"?}`.
    pub fn to_document(&self, now: u64) -> Vec<u8> {
        let doc = ErrorDocument {
            code: self.code,
            message: &self.message,
            timestamp: self.has_timestamp().then_some(now),
            client_token: self.client_token.as_deref(),
        };
        serde_json::to_vec(&doc).expect("an error document always serializes")
    }

    /// The `iot-data` exception name for the `x-amzn-ErrorType` header, from
    /// botocore's `iot-data/2015-05-28/service-2.json` (checked against
    /// botocore 1.43.11): every shape there with its `httpStatusCode`.
    pub fn aws_type(&self) -> &'static str {
        match self.code {
            400 => "InvalidRequestException",
            401 => "UnauthorizedException",
            403 => "ForbiddenException",
            404 => "ResourceNotFoundException",
            405 => "MethodNotAllowedException",
            409 => "ConflictException",
            413 => "RequestEntityTooLargeException",
            415 => "UnsupportedDocumentEncodingException",
            429 => "ThrottlingException",
            503 => "ServiceUnavailableException",
            _ => "InternalFailureException",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        let cases: &[(ShadowError, &str)] = &[
            (
                ShadowError::not_found("Limits", Some("t".into())),
                r#"{"code":404,"message":"No shadow exists with name: 'Limits'","clientToken":"t"}"#,
            ),
            (
                ShadowError::version_conflict(Some("426bfd96".into())),
                r#"{"code":409,"message":"Version conflict","clientToken":"426bfd96"}"#,
            ),
            (
                ShadowError::bad_request(MSG_MISSING_STATE, Some("empty".into())),
                r#"{"code":400,"message":"Missing required node: state","clientToken":"empty"}"#,
            ),
            (
                ShadowError::too_many_requests(None),
                r#"{"code":429,"message":"Too many requests","timestamp":7}"#,
            ),
            (
                ShadowError::internal(Some("x".into())),
                r#"{"code":500,"message":"Internal service failure","timestamp":7,"clientToken":"x"}"#,
            ),
            (
                ShadowError::unauthorized(None),
                r#"{"code":401,"message":"Unauthorized","timestamp":7}"#,
            ),
            (
                ShadowError::forbidden(None),
                r#"{"code":403,"message":"Forbidden","timestamp":7}"#,
            ),
            (
                ShadowError::too_large(None),
                r#"{"code":413,"message":"The payload exceeds the maximum size allowed","timestamp":7}"#,
            ),
            (
                ShadowError::not_utf8(),
                r#"{"code":415,"message":"Unsupported documented encoding; supported encoding is UTF-8","timestamp":7}"#,
            ),
        ];
        for (err, want) in cases {
            assert_eq!(String::from_utf8(err.to_document(7)).unwrap(), *want);
        }
    }

    #[test]
    fn aws_types() {
        let cases = [
            (400, "InvalidRequestException"),
            (401, "UnauthorizedException"),
            (403, "ForbiddenException"),
            (404, "ResourceNotFoundException"),
            (405, "MethodNotAllowedException"),
            (409, "ConflictException"),
            (413, "RequestEntityTooLargeException"),
            (415, "UnsupportedDocumentEncodingException"),
            (429, "ThrottlingException"),
            (500, "InternalFailureException"),
            (503, "ServiceUnavailableException"),
        ];
        for (code, name) in cases {
            assert_eq!(ShadowError::new(code, "m", None).aws_type(), name);
        }
    }

    #[test]
    fn display() {
        assert_eq!(
            ShadowError::version_conflict(None).to_string(),
            "409 Version conflict"
        );
    }
}
