//! Loading Hugging Face checkpoints (`model.safetensors` or `pytorch_model.bin`) into a
//! [`Plm`], with or without the `bert.` / `roberta.` prefix and the MLM head. Anything that
//! does not fit is reported — missing, unexpected and mis-shaped tensors — and never silently
//! ignored; a tensor the model needs and the checkpoint lacks is an error.

use std::path::{Path, PathBuf};

use burn::store::{
    ApplyError, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use burn::tensor::Device;
use flip_data::PromptTokenizer;

use crate::config::PlmConfig;
use crate::encoder::Plm;
use crate::error::{PlmError, Result};
use crate::pooling::Pooling;

/// Checkpoint names to ours, applied in order.
const TO_OURS: [(&str, &str); 14] = [
    (r"^(bert|roberta)\.", ""),
    (r"^cls\.predictions\.transform\.dense\.", "mlm.dense."),
    (
        r"^cls\.predictions\.transform\.LayerNorm\.",
        "mlm.layer_norm.",
    ),
    (r"^cls\.predictions\.bias$", "mlm.bias"),
    (r"^cls\.predictions\.decoder\.", "tied_decoder."),
    (r"^lm_head\.dense\.", "mlm.dense."),
    (r"^lm_head\.layer_norm\.", "mlm.layer_norm."),
    (r"^lm_head\.bias$", "mlm.bias"),
    (r"^lm_head\.decoder\.", "tied_decoder."),
    (r"\.LayerNorm\.", ".layer_norm."),
    (r"attention\.self\.(query|key|value)\.", "attention.$1."),
    (r"attention\.output\.dense\.", "attention.output."),
    (r"attention\.output\.layer_norm\.", "attention.output_norm."),
    (
        r"(layer\.[0-9]+)\.(intermediate|output)(\.dense)?\.",
        "$1.$2.",
    ),
];

/// After [`TO_OURS`]: the layer's output LayerNorm.
const OUTPUT_NORM: (&str, &str) = (r"(layer\.[0-9]+)\.output\.layer_norm\.", "$1.output_norm.");

/// Checkpoint tensors the encoder does not use on purpose.
fn is_ignorable(key: &str, kept_layers: usize) -> bool {
    if key.starts_with("pooler.")
        || key == "embeddings.position_ids"
        || key.starts_with("tied_decoder.")
    {
        return true;
    }
    // Layers beyond those kept (`with_layers`).
    key.strip_prefix("encoder.layer.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n >= kept_layers)
}

pub(crate) fn remapper() -> KeyRemapper {
    let mut patterns: Vec<(&str, &str)> = TO_OURS.to_vec();
    patterns.push(OUTPUT_NORM);
    KeyRemapper::from_patterns(patterns).expect("valid patterns")
}

/// What loading did besides copying tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The weights file.
    pub weights: PathBuf,
    /// Tensors copied from it.
    pub applied: usize,
    /// Model tensors the checkpoint does not have that were initialised instead (the MLM head of
    /// an encoder-only checkpoint).
    pub initialized: Vec<String>,
    /// Checkpoint tensors left out on purpose (pooler, tied decoder, dropped layers).
    pub ignored: Vec<String>,
}

/// Options of [`load`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadOptions {
    /// Keep only the first k layers.
    pub layers: Option<usize>,
    /// Build the MLM head (loaded when present, initialised otherwise).
    pub mlm_head: bool,
    /// Replace both dropout probabilities of `config.json` (0 for deterministic training).
    pub dropout: Option<f64>,
    /// Pool this way instead of the folder's way ([`Pooling::of_folder`]).
    pub pooling: Option<Pooling>,
}

/// A loaded model folder.
pub struct LoadedPlm {
    /// The encoder.
    pub model: Plm,
    /// Its configuration (with the layer count actually kept).
    pub config: PlmConfig,
    /// The folder's tokenizer, padding and truncation removed.
    pub tokenizer: PromptTokenizer,
    /// How to pool its token states: [`LoadOptions::pooling`], else the folder's.
    pub pooling: Pooling,
    /// What loading did.
    pub report: LoadReport,
}

/// The weights file of a model folder.
pub fn weights_file(dir: &Path) -> Result<PathBuf> {
    ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| PlmError::Folder {
            path: dir.to_owned(),
            message: "no model.safetensors or pytorch_model.bin".into(),
        })
}

/// Loads a Hugging Face model folder: `config.json`, weights and tokenizer.
pub fn load(dir: &Path, options: LoadOptions, device: &Device) -> Result<LoadedPlm> {
    let mut config = PlmConfig::from_hf_file(&dir.join("config.json"))?;
    if let Some(k) = options.layers {
        config = config.with_layers(k);
    }
    if let Some(p) = options.dropout {
        config.hidden_dropout = p;
        config.attention_dropout = p;
    }
    let model = config.init(options.mlm_head, device);
    let (model, report) = load_weights(model, &weights_file(dir)?)?;
    let tokenizer = PromptTokenizer::from_path(dir)?;
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(PlmError::config(
            &dir.join("config.json"),
            "vocab_size",
            format!(
                "{}, but the folder's tokenizer has {} tokens: its higher ids have no embedding",
                config.vocab_size,
                tokenizer.vocab_size()
            ),
        ));
    }
    let pooling = match options.pooling {
        Some(p) => p,
        None => Pooling::of_folder(dir)?,
    };
    Ok(LoadedPlm {
        model,
        config,
        tokenizer,
        pooling,
        report,
    })
}

/// Copies a checkpoint's tensors into `model`, checking that everything fits.
pub fn load_weights(mut model: Plm, weights: &Path) -> Result<(Plm, LoadReport)> {
    let kept = model.num_layers();
    let is_bin = weights.extension().is_some_and(|e| e == "bin");
    let result = if is_bin {
        let mut store = PytorchStore::from_file(weights)
            .remap(remapper())
            .allow_partial(true)
            .validate(false);
        model
            .load_from(&mut store)
            .map_err(|e| checkpoint_error(weights, format!("cannot read: {e}")))?
    } else {
        let mut store = SafetensorsStore::from_file(weights)
            .with_from_adapter(PyTorchToBurnAdapter)
            .remap(remapper())
            .allow_partial(true)
            .validate(false);
        model
            .load_from(&mut store)
            .map_err(|e| checkpoint_error(weights, format!("cannot read: {e}")))?
    };
    let mut problems = Vec::new();
    for error in &result.errors {
        problems.push(match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => {
                format!(
                    "  mis-shaped: {path}: the model has {:?}, the checkpoint {:?}",
                    expected.as_slice(),
                    found.as_slice()
                )
            }
            other => format!("  {other}"),
        });
    }
    let has_mlm_tensors = result.applied.iter().any(|p| p.starts_with("mlm."));
    let mut initialized = Vec::new();
    for (path, _) in &result.missing {
        if path.starts_with("mlm.") && !has_mlm_tensors {
            initialized.push(path.clone());
        } else {
            problems.push(format!("  missing: {path}"));
        }
    }
    let mut ignored = Vec::new();
    for key in &result.unused {
        if is_ignorable(key, kept) || (key.starts_with("mlm.") && model.mlm.is_none()) {
            ignored.push(key.clone());
        } else {
            problems.push(format!("  unexpected: {key}"));
        }
    }
    if !problems.is_empty() {
        return Err(checkpoint_error(weights, problems.join("\n")));
    }
    if !initialized.is_empty() {
        tracing::info!(
            "{}: no MLM head in the checkpoint; {} tensors initialised",
            weights.display(),
            initialized.len()
        );
    }
    Ok((
        model,
        LoadReport {
            weights: weights.to_owned(),
            applied: result.applied.len(),
            initialized,
            ignored,
        },
    ))
}

fn checkpoint_error(path: &Path, details: String) -> PlmError {
    PlmError::Checkpoint {
        path: path.to_owned(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names_map_to_ours() {
        use burn::store::KeyRemapper;
        let remap = |k: &str| {
            let r: KeyRemapper = remapper();
            let pairs = r.to_regex_pairs();
            let mut key = k.to_owned();
            for (re, to) in pairs {
                key = re.replace_all(&key, to.as_str()).into_owned();
            }
            key
        };
        for (hf, ours) in [
            (
                "bert.embeddings.LayerNorm.weight",
                "embeddings.layer_norm.weight",
            ),
            (
                "encoder.layer.3.attention.self.query.weight",
                "encoder.layer.3.attention.query.weight",
            ),
            (
                "roberta.encoder.layer.0.attention.output.dense.bias",
                "encoder.layer.0.attention.output.bias",
            ),
            (
                "encoder.layer.1.attention.output.LayerNorm.weight",
                "encoder.layer.1.attention.output_norm.weight",
            ),
            (
                "encoder.layer.1.intermediate.dense.weight",
                "encoder.layer.1.intermediate.weight",
            ),
            (
                "encoder.layer.11.output.dense.weight",
                "encoder.layer.11.output.weight",
            ),
            (
                "encoder.layer.11.output.LayerNorm.bias",
                "encoder.layer.11.output_norm.bias",
            ),
            (
                "cls.predictions.transform.LayerNorm.bias",
                "mlm.layer_norm.bias",
            ),
            ("cls.predictions.bias", "mlm.bias"),
            ("lm_head.dense.weight", "mlm.dense.weight"),
            ("lm_head.decoder.weight", "tied_decoder.weight"),
        ] {
            assert_eq!(remap(hf), ours, "{hf}");
        }
        assert!(is_ignorable("encoder.layer.4.output.weight", 4));
        assert!(!is_ignorable("encoder.layer.3.output.weight", 4));
        assert!(is_ignorable("pooler.dense.weight", 4));
    }
}
