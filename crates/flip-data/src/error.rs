//! The one error type of the crate. Every variant names the file, line, key or field involved,
//! so a user can find the problem without a debugger.

use std::io;
use std::path::{Path, PathBuf};

/// Result alias used throughout `flip-data`.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// What went wrong while fetching, reading, preparing or loading data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An operating-system error on a file or directory.
    #[error("{}", io_message(path, source))]
    Io {
        /// The file or directory being read or written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A line of a text file that could not be understood.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (for CSV files: the record's first line).
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// A whole file that is not what was expected (encoding, header, truncated Parquet ...).
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A recipe or schema file with a wrong key or value.
    #[error("{}: `{key}`: {message}", path.display())]
    Recipe {
        /// The recipe file.
        path: PathBuf,
        /// The TOML key (dotted) that is wrong.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// Data that is well-formed but unusable (for example nothing left after filtering).
    #[error("{0}")]
    Data(String),
    /// A problem while obtaining raw files (pip, checksums, archive members).
    #[error("{0}")]
    Fetch(String),
}

fn io_message(path: &Path, source: &io::Error) -> String {
    match source.kind() {
        io::ErrorKind::StorageFull => format!(
            "{}: no space left on device; free some space or set FLIP_HOME to a larger disk",
            path.display()
        ),
        io::ErrorKind::NotFound => format!("{}: file or directory not found", path.display()),
        _ => format!("{}: {source}", path.display()),
    }
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse error at `path:line`.
    pub fn parse(path: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        DataError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// A file-level format error.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A recipe error at a TOML key.
    pub fn recipe(
        path: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DataError::Recipe {
            path: path.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Adds the path to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| DataError::io(path, e))
    }
}
