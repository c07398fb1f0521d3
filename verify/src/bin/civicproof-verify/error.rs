//! Errors that stop the CLI before it can give a verdict: all of them exit with status 2.
//!
//! A verification failure is not an error here; it is a verdict, reported on standard output
//! with exit status 1.

use std::fmt;

/// Why the CLI could not verify anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Missing, contradictory or malformed arguments.
    Usage(String),
    /// The trust file or the pinned trust: unreadable, missing an entry, or a key conflict.
    Trust(String),
    /// A file or standard input could not be read, or the trust file not written.
    Io(String),
    /// A server could not be reached or did not answer 200.
    Network(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "usage error: {m}"),
            CliError::Trust(m) => write!(f, "trust error: {m}"),
            CliError::Io(m) => write!(f, "{m}"),
            CliError::Network(m) => write!(f, "network error: {m}"),
        }
    }
}

/// Shorthand for a usage error.
pub fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}
