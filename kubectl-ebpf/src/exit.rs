//! Exit codes (docs/exit-codes.md) and the one-line errors that go with them.

use std::fmt;

use tracer_protocol::ErrorCode;

pub const SUCCESS: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const PERMISSION: u8 = 3;
pub const PARTIAL: u8 = 5;
pub const INTERRUPTED: u8 = 130;

/// An error for a person: what went wrong, what to do, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hint: String,
    pub code: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hint: hint.into(),
            code: USAGE,
        }
    }

    pub fn failure(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hint: hint.into(),
            code: FAILURE,
        }
    }

    /// A tracer's own error record, passed on with its documented exit code.
    pub fn from_tracer(code: ErrorCode, message: &str, hint: &str) -> Self {
        CliError {
            message: message.to_owned(),
            hint: hint.to_owned(),
            code: code.exit_code(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hint.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}; {}", self.message, self.hint)
        }
    }
}

impl std::error::Error for CliError {}
