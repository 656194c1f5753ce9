//! `meta.json`: everything a later stage needs to know about a prepared dataset, and the
//! figures a person wants to see (rows, users, items, positive rates, vocabulary sizes, tokens).

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::recipe::Recipe;

/// Version of the prepared-dataset layout; bumped when files change meaning.
pub const FORMAT_VERSION: u32 = 1;

/// The contents of `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Dataset name (from the recipe).
    pub name: String,
    /// sha256 over the format version, the recipe hash, the tokenizer hash and the raw files'
    /// names and sha256s: equal hashes mean an identical preparation.
    pub hash: String,
    /// The source files read (name, size, sha256), sorted by name.
    #[serde(default)]
    pub raw_files: Vec<RawFile>,
    /// sha256 of the recipe's canonical form.
    pub recipe_hash: String,
    /// The recipe as applied (protocol overrides included).
    pub recipe: Recipe,
    /// The tokenizer used.
    pub tokenizer: TokenizerMeta,
    /// Fields in ID-vector order, with their id ranges.
    pub fields: Vec<FieldMeta>,
    /// Total number of global feature ids (embedding table rows).
    pub vocab_size: u32,
    /// How many times each global id occurs in train (reserved ids: 0, except OOV which counts
    /// the rare values folded into it). Length `vocab_size`; the NCE noise distribution.
    pub feature_counts: Vec<u64>,
    /// The splits.
    pub splits: Splits,
    /// Dataset figures.
    pub stats: Stats,
    /// What readers dropped or filled in.
    pub notes: Vec<String>,
    /// Wall seconds the preparation took.
    pub seconds: f64,
}

/// One raw source file a dataset was prepared from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawFile {
    /// File name (within the source folder, or the source file's own name).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the content.
    pub sha256: String,
}

/// The tokenizer a dataset was prepared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerMeta {
    /// File it was loaded from.
    pub source: String,
    /// sha256 of its files.
    pub hash: String,
    /// Padding id.
    pub pad_id: u32,
    /// Mask token id, if any.
    pub mask_id: Option<u32>,
    /// Special tokens before the prompt.
    pub prefix: Vec<u32>,
    /// Special tokens after the prompt.
    pub suffix: Vec<u32>,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest prompt in tokens, specials included.
    pub max_len: usize,
    /// True when prompts were assembled from pre-tokenized pieces (exact for WordPiece), false
    /// when every prompt was tokenized whole.
    pub composed: bool,
}

/// One field of a prepared dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMeta {
    /// Field name.
    pub name: String,
    /// Global id of the field's PAD entry; OOV is `offset + 1`, MASK `offset + 2`.
    pub offset: u32,
    /// Ids the field occupies, reserved ones included.
    pub size: u32,
    /// Distinct values among all kept rows (before `min_count` and the train-only vocabulary).
    pub distinct_values: usize,
}

impl FieldMeta {
    /// The global ids the field occupies, reserved ones included (its rows in the shared
    /// embedding tables).
    pub fn ids(&self) -> Range<usize> {
        self.offset as usize..(self.offset + self.size) as usize
    }
}

/// The three splits. Under the `paper` protocol `valid` describes the test file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Splits {
    /// Training rows.
    pub train: SplitMeta,
    /// Validation rows.
    pub valid: SplitMeta,
    /// Test rows.
    pub test: SplitMeta,
}

impl Splits {
    /// The split called `name` (`train`, `valid`, `test`).
    pub fn get(&self, name: &str) -> Option<&SplitMeta> {
        match name {
            "train" => Some(&self.train),
            "valid" => Some(&self.valid),
            "test" => Some(&self.test),
            _ => None,
        }
    }
}

/// One split file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMeta {
    /// File name in the dataset folder.
    pub file: String,
    /// Rows.
    pub rows: usize,
    /// Rows labelled 1.
    pub positives: usize,
    /// `positives / rows`.
    pub positive_rate: f64,
    /// Earliest and latest timestamp (seconds), when the source has time.
    pub time_range: Option<(i64, i64)>,
    /// Share of rows whose value is out of vocabulary, per field name.
    pub oov_share: BTreeMap<String, f64>,
}

/// Figures about the prepared rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Rows the reader produced.
    pub rows_read: usize,
    /// Rows removed by the label's `drop` rule.
    pub rows_dropped: usize,
    /// Rows kept (sum of the three splits).
    pub rows: usize,
    /// Distinct users (the field with role `user`), if any.
    pub users: Option<usize>,
    /// Distinct items (the field with role `item`), if any.
    pub items: Option<usize>,
    /// Positive share over all kept rows.
    pub positive_rate: f64,
    /// Mean tokens per prompt, special tokens included, after truncation.
    pub tokens_mean: f64,
    /// Most tokens in one prompt before truncation (specials included).
    pub tokens_max_untruncated: usize,
    /// Prompts cut to `max_len`.
    pub truncated_rows: usize,
}

impl Meta {
    /// A Markdown summary: rows, users, items, positive rates, splits, vocabularies, tokens.
    pub fn report(&self) -> String {
        use std::fmt::Write;
        let s = &self.stats;
        let opt = |v: Option<usize>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## {} ({} split)\n",
            self.name, self.recipe.split.protocol
        );
        let _ = writeln!(
            out,
            "| rows read | rows dropped | rows | users | items | positive rate | features (V) |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.4} | {} |\n",
            s.rows_read,
            s.rows_dropped,
            s.rows,
            opt(s.users),
            opt(s.items),
            s.positive_rate,
            self.vocab_size
        );
        let _ = writeln!(out, "| split | rows | positive rate | time range |");
        let _ = writeln!(out, "|---|---:|---:|---|");
        for (name, split) in [
            ("train", &self.splits.train),
            ("valid", &self.splits.valid),
            ("test", &self.splits.test),
        ] {
            let range = split.time_range.map_or_else(
                || "-".to_owned(),
                |(a, b)| {
                    let day = |t: i64| {
                        chrono::DateTime::from_timestamp(t, 0)
                            .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d").to_string())
                    };
                    format!("{} .. {}", day(a), day(b))
                },
            );
            let _ = writeln!(
                out,
                "| {name} ({}) | {} | {:.4} | {range} |",
                split.file, split.rows, split.positive_rate
            );
        }
        let _ = writeln!(
            out,
            "\n| field | distinct values | vocabulary (with 3 reserved) | test OOV share |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for f in &self.fields {
            let oov = self
                .splits
                .test
                .oov_share
                .get(&f.name)
                .copied()
                .unwrap_or(0.0);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.4} |",
                f.name, f.distinct_values, f.size, oov
            );
        }
        let _ = writeln!(
            out,
            "\nTokens per prompt ({}): mean {:.1}, max {} before truncation to {}; {} prompts truncated.",
            self.tokenizer.source,
            s.tokens_mean,
            s.tokens_max_untruncated,
            self.tokenizer.max_len,
            s.truncated_rows
        );
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }
}
