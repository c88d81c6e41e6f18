//! Why `kumo` stopped, and the exit code that says so.
//!
//! Exit codes mean something to scripts and service managers:
//! `0` success, `1` runtime failure (a port in use, an unreadable file, a
//! broken data directory), `2` the operator must fix the configuration or
//! the command line (bad TOML, an invalid value, a private key readable by
//! others, an output file that already exists). `130` is a second
//! SIGINT/SIGTERM during shutdown.

use std::process::ExitCode;

/// An error on its way to `main`, classified by who has to act.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub error: anyhow::Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The operator's input is wrong: exit 2.
    Config,
    /// Something failed while running: exit 1.
    Runtime,
}

impl Failure {
    pub fn config(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            kind: Kind::Config,
            error: error.into(),
        }
    }

    pub fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            kind: Kind::Runtime,
            error: error.into(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.kind {
            Kind::Config => 2,
            Kind::Runtime => 1,
        })
    }
}

/// `?` on anything that is not already a [`Failure`] makes a runtime failure.
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::runtime(e)
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;
