//! Opening a prepared dataset folder and loading its splits.

use std::path::{Path, PathBuf};

use crate::error::{DataError, IoContext, Result};
use crate::meta::{FORMAT_VERSION, Meta};
use crate::store::{SplitData, read_split};
use crate::vocab::Vocab;

/// File names inside a prepared dataset folder.
pub const META_FILE: &str = "meta.json";
/// The vocabularies.
pub const VOCAB_FILE: &str = "vocab.json";

/// The three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training rows.
    Train,
    /// Validation rows (the test rows under the `paper` protocol).
    Valid,
    /// Test rows.
    Test,
}

impl Split {
    /// `train`, `valid` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

/// A prepared dataset on disk.
#[derive(Debug, Clone)]
pub struct PreparedDataset {
    dir: PathBuf,
    meta: Meta,
}

impl PreparedDataset {
    /// Opens `dir`, checking that its files are present and its layout version is known.
    pub fn open(dir: &Path) -> Result<Self> {
        let meta_path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&meta_path).at(&meta_path)?;
        let version: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| DataError::format(&meta_path, format!("not JSON: {e}")))?;
        let found = version.get("format_version").and_then(|v| v.as_u64());
        if found != Some(u64::from(FORMAT_VERSION)) {
            return Err(DataError::format(
                &meta_path,
                format!(
                    "prepared with layout version {found:?}, this build reads {FORMAT_VERSION}; prepare again"
                ),
            ));
        }
        let meta: Meta = serde_json::from_value(version)
            .map_err(|e| DataError::format(&meta_path, format!("unexpected content: {e}")))?;
        for file in [
            &meta.splits.train.file,
            &meta.splits.valid.file,
            &meta.splits.test.file,
        ] {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(DataError::format(
                    &path,
                    "missing split file: prepare again",
                ));
            }
        }
        Ok(PreparedDataset {
            dir: dir.to_owned(),
            meta,
        })
    }

    /// Opens `dir` and checks it was tokenized by the tokenizer with hash `tokenizer_hash`.
    pub fn open_for_tokenizer(
        dir: &Path,
        tokenizer_hash: &str,
        tokenizer_source: &Path,
    ) -> Result<Self> {
        let dataset = Self::open(dir)?;
        if dataset.meta.tokenizer.hash != tokenizer_hash {
            return Err(DataError::format(
                dir.join(META_FILE),
                format!(
                    "prepared with the tokenizer {} (sha256 {}), but {} (sha256 {}) was requested; \
                     prepare the dataset again with this tokenizer",
                    dataset.meta.tokenizer.source,
                    &dataset.meta.tokenizer.hash[..12],
                    tokenizer_source.display(),
                    &tokenizer_hash[..tokenizer_hash.len().min(12)]
                ),
            ));
        }
        Ok(dataset)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The contents of `meta.json`.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Number of fields (M).
    pub fn num_fields(&self) -> usize {
        self.meta.fields.len()
    }

    /// Reads a split into memory.
    pub fn load(&self, split: Split) -> Result<SplitData> {
        let file = &self
            .meta
            .splits
            .get(split.name())
            .expect("three splits")
            .file;
        read_split(&self.dir.join(file), self.num_fields())
    }

    /// Reads the vocabularies (needed to score new rows).
    pub fn vocab(&self) -> Result<Vocab> {
        let path = self.dir.join(VOCAB_FILE);
        let text = std::fs::read_to_string(&path).at(&path)?;
        let vocab: Vocab = serde_json::from_str(&text)
            .map_err(|e| DataError::format(&path, format!("not a vocabulary: {e}")))?;
        Ok(vocab.reindex())
    }
}
