//! # flip-data
//!
//! Data preparation for FLIP click-through-rate models: fetch raw files, read MovieLens,
//! BookCrossing, GoodReads or your own CSV/Parquet through a TOML recipe, build per-field
//! vocabularies on the training split, split rows without leakage, render every row as a prompt
//! whose field values are known spans, tokenize it with a Hugging Face tokenizer into token ids
//! and a token-to-field map, and store the result as Parquet with a `meta.json`.
//!
//! ```no_run
//! use flip_data::{FlipHome, LoadedRecipe, PrepareOptions, PromptTokenizer, prepare};
//! # fn main() -> flip_data::Result<()> {
//! let home = FlipHome::from_env();
//! let recipe = LoadedRecipe::from_file("datasets/ml-1m/recipe.toml".as_ref())?;
//! let tokenizer = PromptTokenizer::from_path(&home.model("all-MiniLM-L6-v2"))?;
//! let options = PrepareOptions {
//!     source: flip_data::prepare::source_location(&recipe, &home),
//!     out_dir: home.prepared("ml-1m", "temporal"),
//!     protocol: None,
//!     force: false,
//! };
//! let prepared = prepare(&recipe, &tokenizer, &options)?;
//! let train = prepared.dataset.load(flip_data::Split::Train)?;
//! for batch in flip_data::Batcher::new(&train, 1024, flip_data::Padding::Longest, 0) {
//!     // batch.ids: [B, M], batch.tokens: [B, L], batch.token_fields: [B, L] ...
//! #   let _ = batch;
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod batch;
pub mod dataset;
pub mod durable;
pub mod encode;
pub mod error;
pub mod fetch;
pub mod fixtures;
pub mod home;
pub mod meta;
pub mod prepare;
pub mod prompt;
pub mod prompt_groups;
pub mod readers;
pub mod recipe;
pub mod split;
pub mod store;
pub mod table;
pub mod template;
pub mod text;
pub mod tokenize;
pub mod vocab;

#[cfg(feature = "burn")]
pub use batch::TensorBatch;
pub use batch::{Batch, Batcher, Padding};
pub use dataset::{PreparedDataset, Split};
pub use error::{DataError, Result};
pub use home::FlipHome;
pub use meta::Meta;
pub use prepare::{PrepareOptions, Prepared, prepare};
pub use prompt_groups::PromptGroups;
pub use recipe::{LoadedRecipe, Protocol, Recipe};
pub use store::SplitData;
pub use tokenize::PromptTokenizer;
pub use vocab::Vocab;
