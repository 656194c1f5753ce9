//! # flip-plm
//!
//! BERT and RoBERTa encoders on burn tensors, built from a Hugging Face `config.json`, loaded
//! from `model.safetensors` or `pytorch_model.bin` (with or without the `bert.`/`roberta.`
//! prefix and the MLM head), and saved back as a Hugging Face folder. All token states
//! `[B, L, H]` are returned; pooling is `cls` or `mean`, read from a sentence-transformers
//! folder's pooling config (`[CLS]` otherwise); the optional MLM head's decoder is
//! tied to the word embeddings and is applied to chosen positions only.
//!
//! Tokenization comes from `flip-data` (`PromptTokenizer`), which reads `tokenizer.json`,
//! `vocab.txt` or `vocab.json` + `merges.txt` and removes padding and truncation baked into the
//! file.
//!
//! ```no_run
//! use burn::tensor::Device;
//! use flip_plm::{LoadOptions, Pooling, load, pool};
//! # fn main() -> flip_plm::Result<()> {
//! let device = Device::flex();
//! let plm = load("all-MiniLM-L6-v2".as_ref(), LoadOptions::default(), &device)?;
//! # let (tokens, mask): (burn::tensor::Tensor<2, burn::tensor::Int>, burn::tensor::Tensor<2, burn::tensor::Bool>) = todo!();
//! let states = plm.model.forward(tokens, mask.clone(), None); // [B, L, 384]
//! let sentence = pool(states, mask, plm.pooling); // [B, 384], mean for this folder
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod dropout;
pub mod encoder;
pub mod error;
pub mod fused;
pub mod load;
pub mod pooling;
pub mod save;

pub use config::{Activation, Architecture, PlmConfig};
pub use encoder::Plm;
pub use error::{PlmError, Result};
pub use load::{LoadOptions, LoadReport, LoadedPlm, load, load_weights};
pub use pooling::{Pooling, pool, save_pooling};
pub use save::save_pretrained;
