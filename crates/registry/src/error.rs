//! What a registry operation can answer instead of a result, as AWS IoT
//! names it: each error knows its exception name (the `x-amzn-ErrorType` /
//! `__type` the aws CLI and boto3 read) and its HTTP status.

use kumo_model::InvalidName;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Bad input: a name, a status, a missing field.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{message}")]
    ResourceAlreadyExists {
        message: String,
        resource_id: String,
        resource_arn: String,
    },
    /// The resource is attached to something, or has versions, that must
    /// go first.
    #[error("{0}")]
    DeleteConflict(String),
    /// The certificate's status does not allow this (e.g. deleting an
    /// ACTIVE certificate).
    #[error("{0}")]
    CertificateState(String),
    /// The certificate does not parse or does not verify.
    #[error("{0}")]
    CertificateValidation(String),
    #[error("{0}")]
    CertificateConflict(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    VersionsLimitExceeded(String),
    #[error("{0}")]
    VersionConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    RegistrationCodeValidation(String),
    /// Kumo's own fault (a stored record that does not decode, a failed
    /// write).
    #[error("{0}")]
    Internal(String),
}

impl RegistryError {
    /// The AWS exception name.
    pub fn aws_type(&self) -> &'static str {
        match self {
            RegistryError::InvalidRequest(_) => "InvalidRequestException",
            RegistryError::ResourceNotFound(_) => "ResourceNotFoundException",
            RegistryError::ResourceAlreadyExists { .. } => "ResourceAlreadyExistsException",
            RegistryError::DeleteConflict(_) => "DeleteConflictException",
            RegistryError::CertificateState(_) => "CertificateStateException",
            RegistryError::CertificateValidation(_) => "CertificateValidationException",
            RegistryError::CertificateConflict(_) => "CertificateConflictException",
            RegistryError::MalformedPolicy(_) => "MalformedPolicyException",
            RegistryError::VersionsLimitExceeded(_) => "VersionsLimitExceededException",
            RegistryError::VersionConflict(_) => "VersionConflictException",
            RegistryError::LimitExceeded(_) => "LimitExceededException",
            RegistryError::RegistrationCodeValidation(_) => "RegistrationCodeValidationException",
            RegistryError::Internal(_) => "InternalFailureException",
        }
    }

    /// The HTTP status AWS answers with (botocore's `iot` model).
    pub fn http_status(&self) -> u16 {
        match self {
            RegistryError::InvalidRequest(_)
            | RegistryError::CertificateValidation(_)
            | RegistryError::MalformedPolicy(_)
            | RegistryError::RegistrationCodeValidation(_) => 400,
            RegistryError::ResourceNotFound(_) => 404,
            RegistryError::CertificateState(_) => 406,
            RegistryError::ResourceAlreadyExists { .. }
            | RegistryError::DeleteConflict(_)
            | RegistryError::CertificateConflict(_)
            | RegistryError::VersionsLimitExceeded(_)
            | RegistryError::VersionConflict(_) => 409,
            RegistryError::LimitExceeded(_) => 410,
            RegistryError::Internal(_) => 500,
        }
    }

    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl From<InvalidName> for RegistryError {
    fn from(e: InvalidName) -> RegistryError {
        RegistryError::InvalidRequest(e.to_string())
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
