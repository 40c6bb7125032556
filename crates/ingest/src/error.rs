//! The errors operators see: each names the file, key, address or peer at fault.

use std::fmt;
use std::path::PathBuf;

/// Why the daemon could not start, or a command could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum IngestError {
    /// The config file could not be read.
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The config file is not valid (the message names the key and the line).
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// A setting (from the file or a flag) has an unusable value.
    InvalidSetting {
        /// The key (the flag is the same name with `--` and dashes).
        key: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate, key or trust file could not be loaded.
    Tls(tlswire_core::ConfigError),
    /// A file or socket operation failed.
    Io {
        /// What was being done, naming the file or address.
        what: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The embedded store failed.
    Embedded {
        /// The database file.
        path: PathBuf,
        /// redb's reason.
        reason: String,
    },
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadConfig { path, source } => {
                write!(f, "cannot read config file {}: {source}", path.display())
            }
            Self::ParseConfig { path, message } => {
                write!(f, "invalid config file {}: {message}", path.display())
            }
            Self::InvalidSetting { key, value, reason } => {
                write!(f, "invalid {key} {value:?}: {reason}")
            }
            Self::Tls(e) => write!(f, "{e}"),
            Self::Io { what, source } => write!(f, "{what}: {source}"),
            Self::Embedded { path, reason } => {
                write!(f, "embedded store {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for IngestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ReadConfig { source, .. } | Self::Io { source, .. } => Some(source),
            Self::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<tlswire_core::ConfigError> for IngestError {
    fn from(e: tlswire_core::ConfigError) -> Self {
        Self::Tls(e)
    }
}

impl IngestError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
