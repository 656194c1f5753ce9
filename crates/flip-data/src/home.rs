//! The cache folder (`$FLIP_HOME`, default `~/.cache/flip`) and its layout:
//! `raw/<source>/` fetched data files, `models/<name>/` model folders, `wheels/` downloads in
//! progress, `prepared/<dataset>-<protocol>/` prepared datasets.

use std::path::{Path, PathBuf};

/// The cache root and its sub-folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlipHome {
    root: PathBuf,
}

impl FlipHome {
    /// `$FLIP_HOME`, else `$HOME/.cache/flip`, else `./.flip`.
    pub fn from_env() -> Self {
        let root = std::env::var_os("FLIP_HOME")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("flip"))
            })
            .unwrap_or_else(|| PathBuf::from(".flip"));
        FlipHome { root }
    }

    /// A cache rooted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        FlipHome { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the raw files of a fetched source live.
    pub fn raw(&self, source: &str) -> PathBuf {
        self.root.join("raw").join(source)
    }

    /// Where a fetched model folder lives.
    pub fn model(&self, name: &str) -> PathBuf {
        self.root.join("models").join(name)
    }

    /// Where wheels are downloaded to.
    pub fn wheels(&self) -> PathBuf {
        self.root.join("wheels")
    }

    /// Default output folder of `prepare`.
    pub fn prepared(&self, dataset: &str, protocol: &str) -> PathBuf {
        self.root
            .join("prepared")
            .join(format!("{dataset}-{protocol}"))
    }
}
