//! Failures and the exit codes they map to.

use datamgmt_client::api::RelayError;
use reqwest::StatusCode;

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
    /// 1: the operation failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(1, message)
    }
    /// 2: bad usage or input.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(2, message)
    }
    /// 3: nothing by that name.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(3, message)
    }
    /// 4: refused.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(4, message)
    }
    /// 5: a service is unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(5, message)
    }
    /// A local I/O failure.
    pub fn io(error: std::io::Error) -> Self {
        Self::failed(format!("I/O: {error}"))
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// What to tell the user.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An answer with an error `status`, `text` saying what the relay said.
    fn from_status(status: StatusCode, text: String) -> Self {
        match status.as_u16() {
            400 | 413 => Self::usage(text),
            401 | 403 => Self::refused(text),
            404 => Self::not_found(text),
            409 => Self::failed(text),
            502..=504 => Self::unavailable(text),
            _ => Self::failed(text),
        }
    }
}

impl From<RelayError> for CliError {
    fn from(error: RelayError) -> Self {
        let text = error.to_string();
        match error {
            RelayError::Api { status, .. } | RelayError::Status { status, .. } => {
                Self::from_status(status, text)
            }
            RelayError::Transport { .. } => Self::unavailable(text),
            RelayError::Destination { .. } => Self::usage(text),
            RelayError::Decode { .. } | RelayError::HashMismatch { .. } | RelayError::Io(_) => {
                Self::failed(text)
            }
        }
    }
}
