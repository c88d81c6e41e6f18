//! Why a request was refused, in AWS's words.
//!
//! Each error knows the `x-amzn-ErrorType` AWS would send ([`SigV4Error::aws_type`],
//! the REST-JSON `*Exception` names the `iot` model uses) and the HTTP status
//! ([`SigV4Error::http_status`]); its `Display` is the `message` AWS sends.
//! Every fault here is the caller's (the client's) except
//! [`SigV4Error::PayloadHashUnavailable`], which is ours; none is fixed by
//! retrying the same request.
//!
//! Where the texts come from (the "source" line on each variant):
//! * **verified**: quoted from a real AWS response in a public issue or from
//!   AWS documentation, cited by URL.
//! * **cross-check only**: seen only in another re-implementation
//!   (scratchstack-aws-signature, `src/constants.rs`), not in an AWS response.
//! * **memory / unverified**: from general knowledge of AWS (mostly S3's
//!   texts); confirm before relying on it.
//! * **Kumo**: our own wording, where AWS's could not be found.
//!
//! Statuses: AWS's REST-JSON front end answers 403 for every authentication
//! failure seen in reports (InvalidSignatureException for IoT's own
//! `iot` API: aws/aws-sdk-js-v3#1569; UnrecognizedClientException:
//! badslug/Paw-AWSSignature4DynamicValue#5; IncompleteSignatureException and
//! MissingAuthenticationTokenException: aws/chalice#828, #12). The
//! query-protocol services document 400 for IncompleteSignature (AWS "Common
//! Errors" pages) and DynamoDB answers 400; IoT is REST-JSON, so 403 here.
//!
//! The iot-data plane reportedly names the same failures `ForbiddenException`
//! ("ForbiddenException: The security token included in the request is
//! invalid.", iot-data from Lambda, aws/aws-sdk-js#1710); see
//! [`SigV4Error::aws_type_data_plane`].

/// The message AWS sends when the signature does not match. **Verified**:
/// aws/aws-sdk-js-v3#1569 (IoTClient, InvalidSignatureException, 403) and
/// aws/aws-sdk-net#964 (iot-data Publish).
pub const MSG_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// **Verified**: badslug/Paw-AWSSignature4DynamicValue#5 (403,
/// `x-amzn-ErrorType: UnrecognizedClientException`), aws/aws-sdk-js#1710.
pub const MSG_UNRECOGNIZED_CLIENT: &str = "The security token included in the request is invalid.";

/// Why verify() refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    /// Source: **verified**, `{"message":"Missing Authentication Token"}` with
    /// `x-amzn-ErrorType: MissingAuthenticationTokenException`, 403
    /// (aws/chalice#12, brefphp/bref#1250). The query-protocol services say
    /// "Request is missing Authentication Token" instead (cross-check only).
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,

    /// Both an `Authorization` header and presigned query parameters.
    /// Source: memory / unverified (S3's text).
    #[error("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")]
    AmbiguousAuthentication,

    /// An algorithm other than `AWS4-HMAC-SHA256`.
    /// Source: cross-check only ("Unsupported AWS 'algorithm': ").
    #[error("Unsupported AWS 'algorithm': '{0}'")]
    UnsupportedAlgorithm(String),

    /// The `Authorization` header lacks parameters, or there is no date.
    /// Source: **verified**, the sentences and their order from API Gateway
    /// responses quoted in aws/chalice#828 and
    /// amazon-elasticsearch-service-with-authentication#4:
    /// "Authorization header requires 'Credential' parameter. Authorization
    /// header requires 'Signature' parameter. Authorization header requires
    /// 'SignedHeaders' parameter. Authorization header requires existence of
    /// either a 'X-Amz-Date' or a 'Date' header. Authorization=…".
    #[error("{}", incomplete_message(*.missing_credential, *.missing_signature, *.missing_signed_headers, *.missing_date, .authorization))]
    AuthorizationIncomplete {
        missing_credential: bool,
        missing_signature: bool,
        missing_signed_headers: bool,
        missing_date: bool,
        /// The header value as received.
        authorization: String,
    },

    /// A comma-separated part of the `Authorization` header without `=`.
    /// Source: **verified**, IncompleteSignatureException from DynamoDB and
    /// Cloud9 (awslabs/fhir-works-on-aws-deployment#379, iann0036/cloud9-sync#10).
    #[error("'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{authorization}'.")]
    AuthorizationPairInvalid { pair: String, authorization: String },

    /// A credential that is not `AKID/date/region/service/terminator`.
    /// Source: cross-check only (the first sentence); ", got '…'" is Kumo's.
    #[error("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{0}'")]
    CredentialMalformed(String),

    /// X-Amz-Date (or Date) that is not a date.
    /// Source: memory / unverified.
    #[error("Date must be in ISO-8601 'basic format'. Got '{0}'. See http://en.wikipedia.org/wiki/ISO_8601")]
    DateMalformed(String),

    /// `host` is not among the signed headers.
    /// Source: **verified**, babbel/okhttp-aws-signer#10 (Amazon Location),
    /// NetSPI/AWSSigner#3. Newer responses say "'Host' or ':authority' must
    /// be …" (cross-check only).
    #[error("'Host' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,

    /// A presigned request lacks a required query parameter.
    /// Source: cross-check only.
    #[error(
        "AWS query-string parameters must include '{0}'. Re-examine the query-string parameters."
    )]
    QueryParameterMissing(&'static str),

    /// `X-Amz-Expires` is not a whole number of seconds in 1..=604800.
    /// Source: memory / unverified (S3's AuthorizationQueryParametersError texts).
    #[error("{0}")]
    ExpiresInvalid(String),

    /// The credential scope names another region, another service, another
    /// terminator or another day than the request. AWS lists every problem
    /// in one message, each sentence followed by a space. Sources:
    /// **verified** region "Credential should be scoped to a valid region,
    /// not 'eu-west-1'. " (joona/aws-es-curl#15, aws/aws-sdk-ruby#508);
    /// **verified** service "Credential should be scoped to correct service:
    /// 'batch'. " (cllunsford/aws-signing-proxy#25; InvalidSignatureException
    /// in aws/aws-sdk-js#4097); **verified** date "Date in Credential scope
    /// does not match YYYYMMDD from ISO-8601 version of date from HTTP. "
    /// (Kinesis, disneystreaming/smithy4s#387; an older form adds
    /// ": '20151124' != '20151125', from '20151125T154140Z'.",
    /// tedder/requests-aws4auth#7); terminator "Credential should be scoped
    /// with a valid terminator: 'aws4_request'" is in AWS's troubleshooting
    /// guide, ", not '…'. " is cross-check only.
    #[error("{}", scope_message(.wrong_region, .expected_service, .wrong_terminator, .date_mismatch))]
    CredentialScope {
        /// The scope's region, when the policy does not accept it.
        wrong_region: Option<String>,
        /// The service the policy expects first, when the scope names another.
        expected_service: Option<String>,
        /// The scope's last element, when it is not `aws4_request`.
        wrong_terminator: Option<String>,
        /// `(scope date, request date)` when they differ.
        date_mismatch: Option<(String, String)>,
    },

    /// The request time is more than the allowed skew before `now`.
    /// Source: **verified** format, "Signature expired: 20140325T143453Z is
    /// now earlier than 20140325T143751Z (20140325T145251Z - 15 min.)"
    /// (aws/aws-sdk-js#254, InvalidSignatureException) and "… - 5 min.)"
    /// (Lambda, Transcribe, Rekognition reports).
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - {minutes} min.)")]
    SignatureExpired {
        signed: String,
        earliest: String,
        now: String,
        minutes: u64,
    },

    /// The request time is more than the allowed skew after `now`.
    /// Source: **verified** format, "Signature not yet current:
    /// 20230804T000000Z is still later than 20230803T172233Z
    /// (20230803T171733Z + 5 min.)" (NickWaterton/Roomba980-Python#118, 403).
    #[error(
        "Signature not yet current: {signed} is still later than {latest} ({now} + {minutes} min.)"
    )]
    SignatureNotYetCurrent {
        signed: String,
        latest: String,
        now: String,
        minutes: u64,
    },

    /// A presigned URL used after `X-Amz-Date + X-Amz-Expires`.
    /// Source: **verified** text "Request has expired" from a non-S3
    /// presigned WebSocket URL (Transcribe streaming,
    /// amazon-archives/amazon-transcribe-websocket-static#15) and from S3
    /// (`AccessDenied`); the error type for non-S3 services is unverified.
    #[error("Request has expired")]
    RequestExpired {
        /// When it expired (ISO 8601 basic), for logs.
        expired_at: String,
    },

    /// The access key is unknown. Source: see [`MSG_UNRECOGNIZED_CLIENT`].
    #[error("{}", MSG_UNRECOGNIZED_CLIENT)]
    UnrecognizedClient { access_key_id: String },

    /// The signature does not match. Source: see [`MSG_SIGNATURE_MISMATCH`].
    #[error("{}", MSG_SIGNATURE_MISMATCH)]
    SignatureMismatch,

    /// A header named in SignedHeaders is not in the request. AWS would
    /// compute a different canonical request and answer with a plain
    /// mismatch, so the client sees exactly that; the name is for logs.
    #[error("{}", MSG_SIGNATURE_MISMATCH)]
    SignedHeaderMissing(String),

    /// `x-amz-content-sha256` holds neither `UNSIGNED-PAYLOAD` nor the body's
    /// hash. A non-S3 AWS service hashes the body itself, so this too is a
    /// plain mismatch to the client.
    #[error("{}", MSG_SIGNATURE_MISMATCH)]
    PayloadHashMismatch,

    /// The caller passed no body hash and the request has no
    /// `x-amz-content-sha256`: the server must read the body first. Our
    /// fault, not the client's. Source: Kumo (message as botocore's
    /// `InternalFailureException` default).
    #[error("An internal error occurred.")]
    PayloadHashUnavailable,
}

fn incomplete_message(cred: bool, sig: bool, signed: bool, date: bool, auth: &str) -> String {
    let mut out = String::new();
    if cred {
        out.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if sig {
        out.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed {
        out.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if date {
        out.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    out.push_str("Authorization=");
    out.push_str(auth);
    out
}

fn scope_message(
    region: &Option<String>,
    service: &Option<String>,
    terminator: &Option<String>,
    date: &Option<(String, String)>,
) -> String {
    let mut out = String::new();
    if let Some(r) = region {
        out.push_str(&format!(
            "Credential should be scoped to a valid region, not '{r}'. "
        ));
    }
    if let Some(s) = service {
        out.push_str(&format!(
            "Credential should be scoped to correct service: '{s}'. "
        ));
    }
    if let Some(t) = terminator {
        out.push_str(&format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{t}'. "
        ));
    }
    if date.is_some() {
        out.push_str(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP. ",
        );
    }
    out
}

impl SigV4Error {
    /// The `x-amzn-ErrorType` / `__type` AWS's REST-JSON services (the `iot`
    /// control plane) send for this error.
    pub fn aws_type(&self) -> &'static str {
        use SigV4Error::*;
        match self {
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
            AmbiguousAuthentication
            | UnsupportedAlgorithm(_)
            | AuthorizationIncomplete { .. }
            | AuthorizationPairInvalid { .. }
            | CredentialMalformed(_)
            | DateMalformed(_)
            | HostNotSigned
            | QueryParameterMissing(_)
            | ExpiresInvalid(_) => "IncompleteSignatureException",
            CredentialScope { .. }
            | SignatureExpired { .. }
            | SignatureNotYetCurrent { .. }
            | SignatureMismatch
            | SignedHeaderMissing(_)
            | PayloadHashMismatch => "InvalidSignatureException",
            RequestExpired { .. } => "AccessDeniedException",
            UnrecognizedClient { .. } => "UnrecognizedClientException",
            PayloadHashUnavailable => "InternalFailureException",
        }
    }

    /// The error type for the iot-data plane (`iotdata`), whose model has
    /// `ForbiddenException` (403) and `InternalFailureException` (500) and
    /// which reportedly uses the former for authentication failures
    /// (aws/aws-sdk-js#1710). Unverified beyond that one report.
    pub fn aws_type_data_plane(&self) -> &'static str {
        if self.http_status() == 500 {
            "InternalFailureException"
        } else {
            "ForbiddenException"
        }
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            SigV4Error::PayloadHashUnavailable => 500,
            _ => 403,
        }
    }

    /// Whether the client caused it (everything but
    /// [`SigV4Error::PayloadHashUnavailable`]).
    pub fn is_client_fault(&self) -> bool {
        self.http_status() < 500
    }
}

/// Why [`crate::sign_headers`] or [`crate::presign_url`] could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the request has no Host header")]
    MissingHost,
    #[error("header name {0:?} is not an HTTP token")]
    InvalidHeaderName(String),
    #[error("header {0:?} has a value with CR, LF or NUL")]
    InvalidHeaderValue(String),
    #[error("header {0:?} is set by the signer; leave it out of the request")]
    ReservedHeader(String),
    #[error("query parameter {0:?} is set by the signer; leave it out of the request")]
    ReservedQueryParameter(String),
    #[error("{0:?} cannot appear in a credential scope (empty, or contains '/', ',', '=', ';' or whitespace)")]
    InvalidScopeComponent(String),
    #[error("time {0} is outside years 1970..=9999")]
    TimeOutOfRange(u64),
    #[error("expiry of {0} s is outside 1..=604800")]
    ExpiresOutOfRange(u64),
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD or the body's SHA-256")]
    ContentSha256Mismatch,
    #[error("a presigned URL needs the body's SHA-256 (or an x-amz-content-sha256 header)")]
    PayloadHashRequired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_message_matches_api_gateway() {
        let e = SigV4Error::AuthorizationIncomplete {
            missing_credential: true,
            missing_signature: true,
            missing_signed_headers: true,
            missing_date: true,
            authorization: "eyJ0eXAi".into(),
        };
        assert_eq!(
            e.to_string(),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=eyJ0eXAi"
        );
        assert_eq!(e.aws_type(), "IncompleteSignatureException");
        assert_eq!(e.http_status(), 403);
    }

    #[test]
    fn scope_message_concatenates_like_aws() {
        let e = SigV4Error::CredentialScope {
            wrong_region: Some("eu-west-1".into()),
            expected_service: Some("iot".into()),
            wrong_terminator: None,
            date_mismatch: None,
        };
        assert_eq!(
            e.to_string(),
            "Credential should be scoped to a valid region, not 'eu-west-1'. Credential should be scoped to correct service: 'iot'. "
        );
    }

    #[test]
    fn data_plane_names() {
        assert_eq!(
            SigV4Error::SignatureMismatch.aws_type_data_plane(),
            "ForbiddenException"
        );
        assert_eq!(
            SigV4Error::PayloadHashUnavailable.aws_type_data_plane(),
            "InternalFailureException"
        );
        assert!(!SigV4Error::PayloadHashUnavailable.is_client_fault());
    }
}
