//! Saving a (finetuned) encoder back as a Hugging Face folder that PyTorch users load with
//! `AutoModel.from_pretrained`: `model.safetensors` with Hugging Face names (and the source
//! checkpoint's pooler, which the encoder neither uses nor trains, so that no key of a bare
//! `BertModel` / `RobertaModel` is missing), `config.json`, and the tokenizer files and the
//! pooling (sentence-transformers' `modules.json` and `1_Pooling/config.json`), written to a
//! temporary folder and renamed into place.

use std::path::Path;

use burn::store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PathFilter, SafetensorsStore,
};

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

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

/// Writes `model` (without its MLM head) as a Hugging Face folder at `dir`, with the pooler
/// and the tokenizer files of the checkpoint folder it was loaded from (`source_dir`), and
/// `pooling` as a sentence-transformers pooling config (so that [`crate::load()`] pools the
/// saved model the same way).
pub fn save_pretrained(
    model: &Plm,
    config: &PlmConfig,
    pooling: Pooling,
    source_dir: &Path,
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
    keep_source_pooler(&weights, source_dir, config.hidden_size)?;
    let config_path = staging.path().join("config.json");
    let json = serde_json::to_string_pretty(&config.to_hf_json()).expect("a config serializes");
    std::fs::write(&config_path, json).map_err(|e| PlmError::io(&config_path, e))?;
    save_pooling(staging.path(), pooling, config.hidden_size)?;
    for name in TOKENIZER_FILES {
        let from = source_dir.join(name);
        if from.is_file() {
            let to = staging.path().join(name);
            std::fs::copy(&from, &to).map_err(|e| PlmError::io(&to, e))?;
        }
    }
    flip_data::durable::sync_tree(staging.path()).map_err(|e| PlmError::io(staging.path(), e))?;
    let staged = staging.keep();
    flip_data::durable::replace_dir(&staged, dir).map_err(|e| PlmError::io(dir, e))
}

/// Adds the pooler of the checkpoint in `source_dir` (`pooler.dense.weight` `[H, H]` and
/// `.bias` `[H]`, with or without a `bert.` / `roberta.` prefix) to the safetensors file
/// `saved`, under the bare names `AutoModel` expects. A source without a pooler, or with
/// PyTorch `.bin` weights, adds nothing.
fn keep_source_pooler(saved: &Path, source_dir: &Path, hidden: usize) -> Result<()> {
    let source = crate::load::weights_file(source_dir)?;
    if source.extension().is_none_or(|e| e != "safetensors") {
        tracing::warn!(
            "{}: not a safetensors file, so the saved model has no pooler",
            source.display()
        );
        return Ok(());
    }
    let unreadable = |path: &Path, e: safetensors::SafeTensorError| PlmError::Checkpoint {
        path: path.to_owned(),
        details: format!("cannot read: {e}"),
    };
    let source_bytes = std::fs::read(&source).map_err(|e| PlmError::io(&source, e))?;
    let source_tensors =
        SafeTensors::deserialize(&source_bytes).map_err(|e| unreadable(&source, e))?;
    let pooler: Vec<(String, TensorView<'_>)> = source_tensors
        .iter()
        .filter_map(|(name, view)| {
            let bare = name
                .strip_prefix("bert.")
                .or_else(|| name.strip_prefix("roberta."))
                .unwrap_or(name);
            bare.starts_with("pooler.").then(|| (bare.to_owned(), view))
        })
        .collect();
    if pooler.is_empty() {
        return Ok(());
    }
    for (name, view) in &pooler {
        let expected: &[usize] = if name.ends_with(".weight") {
            &[hidden, hidden]
        } else {
            &[hidden]
        };
        if view.shape() != expected {
            return Err(PlmError::Checkpoint {
                path: source.clone(),
                details: format!(
                    "{name} has shape {:?}, expected {expected:?} for hidden size {hidden}",
                    view.shape()
                ),
            });
        }
    }
    let saved_bytes = std::fs::read(saved).map_err(|e| PlmError::io(saved, e))?;
    let (_, header) = SafeTensors::read_metadata(&saved_bytes).map_err(|e| unreadable(saved, e))?;
    let ours = SafeTensors::deserialize(&saved_bytes).map_err(|e| unreadable(saved, e))?;
    let merged = saved.with_extension("merged");
    safetensors::serialize_to_file(
        ours.tensors().into_iter().chain(pooler),
        header.metadata().clone(),
        &merged,
    )
    .map_err(|e| PlmError::Checkpoint {
        path: merged.clone(),
        details: format!("cannot write: {e}"),
    })?;
    std::fs::rename(&merged, saved).map_err(|e| PlmError::io(saved, e))
}
