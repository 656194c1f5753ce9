//! Saving a (finetuned) encoder back as a Hugging Face folder that PyTorch users load with
//! `AutoModel.from_pretrained`: `model.safetensors` with Hugging Face names, `config.json`, and
//! the tokenizer files and the pooling (sentence-transformers' `modules.json` and
//! `1_Pooling/config.json`), written to a temporary folder and renamed into place.

use std::path::Path;

use burn::store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PathFilter, SafetensorsStore,
};

use crate::config::PlmConfig;
use crate::encoder::Plm;
use crate::error::{PlmError, Result};
use crate::pooling::{Pooling, save_pooling};

/// Our names to the names of a bare `BertModel` / `RobertaModel`.
const TO_HF: [(&str, &str); 6] = [
    (r"\.layer_norm\.", ".LayerNorm."),
    (r"attention\.(query|key|value)\.", "attention.self.$1."),
    (r"attention\.output\.", "attention.output.dense."),
    (r"attention\.output_norm\.", "attention.output.LayerNorm."),
    (r"(layer\.[0-9]+)\.(intermediate|output)\.", "$1.$2.dense."),
    (r"(layer\.[0-9]+)\.output_norm\.", "$1.output.LayerNorm."),
];

/// Tokenizer files copied when present.
const TOKENIZER_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
];

/// Writes `model` (without its MLM head) as a Hugging Face folder at `dir`, with the tokenizer
/// files of `tokenizer_dir` and `pooling` as a sentence-transformers pooling config (so that
/// [`crate::load()`] pools the saved model the same way).
pub fn save_pretrained(
    model: &Plm,
    config: &PlmConfig,
    pooling: Pooling,
    tokenizer_dir: &Path,
    dir: &Path,
) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| PlmError::io(parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".plm-")
        .tempdir_in(parent)
        .map_err(|e| PlmError::io(parent, e))?;
    let weights = staging.path().join("model.safetensors");
    let mut store = SafetensorsStore::from_file(&weights)
        .with_to_adapter(BurnToPyTorchAdapter)
        .filter(PathFilter::new().with_regex(r"^(embeddings|encoder)\."))
        .remap(KeyRemapper::from_patterns(TO_HF.to_vec()).expect("valid patterns"))
        .metadata("format", "pt");
    model
        .save_into(&mut store)
        .map_err(|e| PlmError::Checkpoint {
            path: weights.clone(),
            details: format!("cannot write: {e}"),
        })?;
    let config_path = staging.path().join("config.json");
    let json = serde_json::to_string_pretty(&config.to_hf_json()).expect("a config serializes");
    std::fs::write(&config_path, json).map_err(|e| PlmError::io(&config_path, e))?;
    save_pooling(staging.path(), pooling, config.hidden_size)?;
    for name in TOKENIZER_FILES {
        let from = tokenizer_dir.join(name);
        if from.is_file() {
            let to = staging.path().join(name);
            std::fs::copy(&from, &to).map_err(|e| PlmError::io(&to, e))?;
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| PlmError::io(dir, e))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(|e| PlmError::io(dir, e))
}
