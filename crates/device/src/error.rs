//! What went wrong, in one line that says what to fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// A file given on the command line or in the configuration.
    #[error("cannot read the {what} {path}: {reason}")]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// A file that is there but holds the wrong thing.
    #[error("the {what} {path} {problem}")]
    BadFile {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
    /// The private key is not the certificate's.
    #[error("the private key {key} does not belong to the certificate {cert}: use the key that was made with this certificate (the kit's NAME.private.key)")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    /// Bad input that is not a file.
    #[error("{0}")]
    Invalid(String),
    /// The shadow service refused a request.
    #[error("the shadow {shadow:?} refused the request: {code} {message}")]
    Rejected {
        shadow: String,
        code: u16,
        message: String,
    },
    /// The connection could not be made or was lost.
    #[error("{0}")]
    Connection(String),
}

impl DeviceError {
    pub fn unreadable(what: &'static str, path: &std::path::Path, e: std::io::Error) -> Self {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => e.to_string(),
        };
        DeviceError::Unreadable {
            what,
            path: path.to_owned(),
            reason,
        }
    }
}
