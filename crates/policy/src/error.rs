//! Why a policy document was refused, in words fit to send back to the
//! caller of `CreatePolicy` / `CreatePolicyVersion`.
//!
//! Every error is the caller's fault (a retry with the same document fails the
//! same way) and maps to AWS's `MalformedPolicyException`, HTTP 400. The
//! [`Display`](std::fmt::Display) text says what is wrong and where, using a
//! JSON path such as `Statement[1].Effect` (statements are counted from 0; a
//! document whose `Statement` is a single object has only `Statement[0]`).

/// Largest policy document AWS IoT accepts, counted in characters with all
/// whitespace removed.
pub const MAX_POLICY_CHARS: usize = 2048;

/// A policy document that AWS IoT would refuse with `MalformedPolicyException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not JSON at all.
    #[error("the policy document is not valid JSON: {0}")]
    NotJson(String),
    /// The document is over the size limit.
    #[error(
        "the policy document has {chars} characters excluding whitespace; the maximum is {max}"
    )]
    TooLong { chars: usize, max: usize },
    /// An element has the wrong JSON type (an object where a string was
    /// expected, and so on).
    #[error("{path}: expected {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    /// `Version` is neither `2012-10-17` nor `2008-10-17`.
    #[error("Version: {found:?} is not a supported policy language version; use \"2012-10-17\"")]
    InvalidVersion { found: String },
    /// The document has no `Statement`, or an empty one.
    #[error("Statement: the policy document must contain at least one statement")]
    MissingStatement,
    /// An element this grammar does not know.
    #[error("{path}: unknown element {name:?}")]
    UnknownElement { path: String, name: String },
    /// An IAM element that has no meaning in an AWS IoT policy
    /// (`Principal`, `NotPrincipal`): IoT policies are attached to identities.
    #[error("Statement[{statement}]: an AWS IoT policy must not specify {name}")]
    UnsupportedElement {
        statement: usize,
        name: &'static str,
    },
    /// A statement without `Effect`.
    #[error("Statement[{statement}]: missing Effect")]
    MissingEffect { statement: usize },
    /// `Effect` is not `Allow` or `Deny`.
    #[error(
        "Statement[{statement}].Effect: {found:?} is not a valid effect; use \"Allow\" or \"Deny\""
    )]
    InvalidEffect { statement: usize, found: String },
    /// A statement with neither `Action` nor `NotAction`.
    #[error("Statement[{statement}]: missing Action")]
    MissingAction { statement: usize },
    /// A statement with neither `Resource` nor `NotResource`.
    #[error("Statement[{statement}]: missing Resource")]
    MissingResource { statement: usize },
    /// A statement with both `X` and `NotX`.
    #[error("Statement[{statement}]: {element} and Not{element} cannot both be present")]
    Conflicting {
        statement: usize,
        element: &'static str,
    },
    /// `Action: []` or `Resource: []`.
    #[error("Statement[{statement}].{element}: the list must not be empty")]
    EmptyList {
        statement: usize,
        element: &'static str,
    },
    /// An action that is not `*` or `service:Name` for a service AWS IoT
    /// policies know (`iot`, `iotjobsdata`, `greengrass`).
    #[error("Statement[{statement}].{element}: {action:?} is not a valid action; expected \"iot:ActionName\" (wildcards * and ? allowed)")]
    InvalidAction {
        statement: usize,
        element: &'static str,
        action: String,
    },
    /// A resource that is not `*` or an ARN.
    #[error("Statement[{statement}].{element}: {resource:?} is not a valid resource; expected \"*\" or an ARN such as \"arn:aws:iot:us-east-1:123456789012:topic/my/topic\"")]
    InvalidResource {
        statement: usize,
        element: &'static str,
        resource: String,
    },
    /// A condition operator this engine does not know.
    #[error("Statement[{statement}].Condition: unknown condition operator {operator:?}")]
    UnknownConditionOperator { statement: usize, operator: String },
    /// A condition value that cannot work with its operator (a number
    /// operator with a non-number, a malformed CIDR block, ...).
    #[error("Statement[{statement}].Condition.{operator}.{key}: {value:?} {reason}")]
    InvalidConditionValue {
        statement: usize,
        operator: String,
        key: String,
        value: String,
        reason: &'static str,
    },
}

impl PolicyError {
    /// The AWS error code (`__type` / `x-amzn-ErrorType`).
    pub fn aws_error_code(&self) -> &'static str {
        "MalformedPolicyException"
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(&self) -> u16 {
        400
    }

    /// The `message` field of the AWS error body, in AWS's wording
    /// ("Policy document is Malformed: ...") followed by our detail.
    pub fn aws_message(&self) -> String {
        format!("Policy document is Malformed: {self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_where() {
        let e = PolicyError::InvalidEffect {
            statement: 2,
            found: "Permit".into(),
        };
        assert_eq!(
            e.to_string(),
            "Statement[2].Effect: \"Permit\" is not a valid effect; use \"Allow\" or \"Deny\""
        );
        assert!(e
            .aws_message()
            .starts_with("Policy document is Malformed: Statement[2]"));
        assert_eq!(e.aws_error_code(), "MalformedPolicyException");
        assert_eq!(e.http_status(), 400);
    }
}
