//! What a client command can fail with: one line for a person, and the exit code.

use std::fmt;

/// A failed client command. `Display` is the one line printed after `broker: `.
#[derive(Debug)]
pub struct CliError {
    /// What went wrong and, where it helps, what to do about it.
    pub message: String,
    /// The process exit code (1 unless a dyno's own exit code is passed on).
    pub code: u8,
}

impl CliError {
    /// A failure with exit code 1.
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: 1,
        }
    }

    /// A failure with its own exit code (a one-off dyno's, passed on).
    pub fn with_code(message: impl Into<String>, code: u8) -> CliError {
        CliError {
            message: message.into(),
            code,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the server or the OS said.
        f.write_str(&self.message.replace(['\n', '\r'], " "))
    }
}

/// Result of client commands.
pub type CliResult<T = ()> = Result<T, CliError>;
