//! Errors of loading, building and saving encoders; each names the file, key or tensor.

use std::path::{Path, PathBuf};

/// Result alias of the crate.
pub type Result<T, E = PlmError> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PlmError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A `config.json` key is missing or wrong.
    #[error("{}: `{key}`: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The checkpoint does not fit the configuration.
    #[error("{}: the checkpoint does not fit the model:\n{details}", path.display())]
    Checkpoint {
        /// The weights file.
        path: PathBuf,
        /// Missing, unexpected and mis-shaped tensors, one per line.
        details: String,
    },
    /// A model folder without weights or tokenizer.
    #[error("{}: {message}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// Tokenizer problems (from flip-data).
    #[error(transparent)]
    Tokenizer(#[from] flip_data::DataError),
}

impl PlmError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        PlmError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn config(path: &Path, key: &str, message: impl Into<String>) -> Self {
        PlmError::Config {
            path: path.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}
