//! AWS's error shape: HTTP status, the exception name in the
//! `x-amzn-ErrorType` header, and `{"message": "..."}` as the body. botocore
//! reads the header to pick the exception class (`ResourceNotFoundException`,
//! `DeleteConflictException`, ...).

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use serde_json::{json, Value};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub aws_type: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, aws_type: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            aws_type: aws_type.into(),
            message: message.into(),
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "InvalidRequestException", message)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            413,
            "RequestEntityTooLargeException",
            format!("The request body exceeds {limit} bytes"),
        )
    }

    /// No operation of the service has this method and path.
    pub fn unknown_operation(method: &str, path: &str) -> ApiError {
        ApiError::new(
            404,
            "UnknownOperationException",
            format!("No AWS IoT operation is {method} {path}"),
        )
    }

    /// An AWS IoT operation Kumo does not serve (yet).
    pub fn not_implemented(op: &str) -> ApiError {
        ApiError::new(
            501,
            "NotImplementedException",
            format!("Kumo does not implement {op} yet (see docs/compatibility.md)"),
        )
    }

    pub fn from_registry(e: &kumo_registry::RegistryError) -> ApiError {
        ApiError::new(e.http_status(), e.aws_type(), e.message())
    }

    pub fn from_sigv4(e: kumo_sigv4::SigV4Error) -> ApiError {
        ApiError::new(e.http_status(), e.aws_type(), e.to_string())
    }

    pub fn from_shadow(e: &kumo_shadow::ShadowError) -> ApiError {
        ApiError::new(e.code, e.aws_type(), e.message.clone())
    }

    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::to_vec(&json!({ "message": self.message })).unwrap_or_default();
        Response::builder()
            .status(self.status)
            .header("content-type", "application/json")
            .header("x-amzn-ErrorType", self.aws_type.as_str())
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

pub fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let body = match body {
        // Operations with no output answer an empty body.
        Value::Object(m) if m.is_empty() => Vec::new(),
        v => serde_json::to_vec(v).unwrap_or_default(),
    };
    bytes_response(status, "application/json", Bytes::from(body))
}

pub fn bytes_response(status: u16, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
