//! The encoder's shape and behaviour, read from (and written to) a Hugging Face `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{PlmError, Result};

/// The model families this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// BERT and its descendants (MiniLM, TinyBERT): positions from 0, token types.
    Bert,
    /// RoBERTa: positions start after the padding id, pad id 1, byte-level BPE.
    Roberta,
}

/// The feed-forward activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact GELU (with erf), Hugging Face `gelu`.
    Gelu,
    /// The tanh approximation, Hugging Face `gelu_new` / `gelu_pytorch_tanh`.
    GeluTanh,
    /// ReLU.
    Relu,
}

/// Everything needed to build an encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlmConfig {
    /// BERT or RoBERTa.
    pub architecture: Architecture,
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Width of every token state (H).
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_layers: usize,
    /// Attention heads (H must be a multiple).
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Dropout on embeddings and sub-layer outputs.
    pub hidden_dropout: f64,
    /// Dropout on attention probabilities.
    pub attention_dropout: f64,
    /// Rows of the position table.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Padding token id (0 for BERT, 1 for RoBERTa).
    pub pad_token_id: usize,
}

fn key<'a>(path: &Path, json: &'a Value, name: &str) -> Result<&'a Value> {
    json.get(name)
        .ok_or_else(|| PlmError::config(path, name, "missing"))
}

fn usize_key(path: &Path, json: &Value, name: &str) -> Result<usize> {
    key(path, json, name)?
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| PlmError::config(path, name, "must be a non-negative integer"))
}

fn f64_key(path: &Path, json: &Value, name: &str, default: f64) -> Result<f64> {
    match json.get(name) {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| PlmError::config(path, name, "must be a number")),
    }
}

/// A key that may be absent or null, but when set must be a non-negative integer.
fn optional_usize(path: &Path, json: &Value, name: &str) -> Result<Option<usize>> {
    match json.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(|v| Some(v as usize)).ok_or_else(|| {
            PlmError::config(path, name, format!("{v} must be a non-negative integer"))
        }),
    }
}

/// A key that may be absent or null, but when set must be a string.
fn optional_str<'a>(path: &Path, json: &'a Value, name: &str) -> Result<Option<&'a str>> {
    match json.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| PlmError::config(path, name, format!("{v} must be a string"))),
    }
}

impl PlmConfig {
    /// The longest token sequence the position table holds: `max_position_embeddings`, less
    /// RoBERTa's offset (its positions start after the padding id).
    pub fn max_tokens(&self) -> usize {
        match self.architecture {
            Architecture::Bert => self.max_position_embeddings,
            Architecture::Roberta => self
                .max_position_embeddings
                .saturating_sub(self.pad_token_id + 1),
        }
    }

    /// Reads a Hugging Face `config.json`.
    pub fn from_hf_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| PlmError::io(path, e))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| PlmError::config(path, "", format!("not JSON: {e}")))?;
        Self::from_hf_json(&json, path)
    }

    /// Reads the fields of a parsed `config.json` (`path` names it in errors).
    pub fn from_hf_json(json: &Value, path: &Path) -> Result<Self> {
        let architecture = match key(path, json, "model_type")?.as_str() {
            Some("bert") => Architecture::Bert,
            Some("roberta") => Architecture::Roberta,
            other => {
                return Err(PlmError::config(
                    path,
                    "model_type",
                    format!("{other:?} is not supported; this crate implements bert and roberta"),
                ));
            }
        };
        if let Some(kind) = optional_str(path, json, "position_embedding_type")?
            && kind != "absolute"
        {
            return Err(PlmError::config(
                path,
                "position_embedding_type",
                format!("{kind:?}: only absolute positions are implemented"),
            ));
        }
        let activation = match optional_str(path, json, "hidden_act")?.unwrap_or("gelu") {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(PlmError::config(
                    path,
                    "hidden_act",
                    format!("{other:?} is not supported (gelu, gelu_new, relu)"),
                ));
            }
        };
        let config = PlmConfig {
            architecture,
            vocab_size: usize_key(path, json, "vocab_size")?,
            hidden_size: usize_key(path, json, "hidden_size")?,
            num_layers: usize_key(path, json, "num_hidden_layers")?,
            num_heads: usize_key(path, json, "num_attention_heads")?,
            intermediate_size: usize_key(path, json, "intermediate_size")?,
            activation,
            hidden_dropout: f64_key(path, json, "hidden_dropout_prob", 0.1)?,
            attention_dropout: f64_key(path, json, "attention_probs_dropout_prob", 0.1)?,
            max_position_embeddings: usize_key(path, json, "max_position_embeddings")?,
            type_vocab_size: optional_usize(path, json, "type_vocab_size")?.unwrap_or(2),
            layer_norm_eps: f64_key(path, json, "layer_norm_eps", 1e-12)?,
            pad_token_id: optional_usize(path, json, "pad_token_id")?.unwrap_or(
                if architecture == Architecture::Roberta {
                    1
                } else {
                    0
                },
            ),
        };
        config.check(path)?;
        Ok(config)
    }

    fn check(&self, path: &Path) -> Result<()> {
        if self.hidden_size == 0
            || self.num_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_heads)
        {
            return Err(PlmError::config(
                path,
                "num_attention_heads",
                format!(
                    "hidden_size {} is not a multiple of {} heads",
                    self.hidden_size, self.num_heads
                ),
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return Err(PlmError::config(
                path,
                "pad_token_id",
                format!("{} is outside the vocabulary", self.pad_token_id),
            ));
        }
        Ok(())
    }

    /// The `config.json` of this encoder (a bare `BertModel` / `RobertaModel`).
    pub fn to_hf_json(&self) -> Value {
        let (model_type, class) = match self.architecture {
            Architecture::Bert => ("bert", "BertModel"),
            Architecture::Roberta => ("roberta", "RobertaModel"),
        };
        json!({
            "architectures": [class],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": match self.activation { Activation::Gelu => "gelu", Activation::GeluTanh => "gelu_new", Activation::Relu => "relu" },
            "hidden_dropout_prob": self.hidden_dropout,
            "attention_probs_dropout_prob": self.attention_dropout,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "layer_norm_eps": self.layer_norm_eps,
            "pad_token_id": self.pad_token_id,
            "position_embedding_type": "absolute",
            "initializer_range": 0.02,
        })
    }

    /// Keeps only the first `k` layers (cheap CPU experiments).
    pub fn with_layers(mut self, k: usize) -> Self {
        self.num_layers = k.min(self.num_layers);
        self
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// First position id of a sequence (RoBERTa counts from `pad_token_id + 1`).
    pub fn position_offset(&self) -> usize {
        match self.architecture {
            Architecture::Bert => 0,
            Architecture::Roberta => self.pad_token_id + 1,
        }
    }

    fn bert(vocab: usize, hidden: usize, layers: usize, heads: usize, ffn: usize) -> Self {
        PlmConfig {
            architecture: Architecture::Bert,
            vocab_size: vocab,
            hidden_size: hidden,
            num_layers: layers,
            num_heads: heads,
            intermediate_size: ffn,
            activation: Activation::Gelu,
            hidden_dropout: 0.1,
            attention_dropout: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
        }
    }

    fn roberta(hidden: usize, layers: usize, heads: usize, ffn: usize) -> Self {
        PlmConfig {
            architecture: Architecture::Roberta,
            vocab_size: 50_265,
            max_position_embeddings: 514,
            type_vocab_size: 1,
            layer_norm_eps: 1e-5,
            pad_token_id: 1,
            ..Self::bert(50_265, hidden, layers, heads, ffn)
        }
    }

    /// sentence-transformers/all-MiniLM-L6-v2 (what `cargo xtask fetch minilm` provides).
    pub fn minilm_l6_h384() -> Self {
        Self::bert(30_522, 384, 6, 12, 1536)
    }

    /// TinyBERT General 4L-312D, the FLIP paper's default.
    pub fn tinybert_4l_312() -> Self {
        Self::bert(30_522, 312, 4, 12, 1200)
    }

    /// bert-base-uncased.
    pub fn bert_base() -> Self {
        Self::bert(30_522, 768, 12, 12, 3072)
    }

    /// roberta-base.
    pub fn roberta_base() -> Self {
        Self::roberta(768, 12, 12, 3072)
    }

    /// roberta-large.
    pub fn roberta_large() -> Self {
        Self::roberta(1024, 24, 16, 4096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_minilm_config() {
        let json = json!({"model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
            "num_attention_heads": 12, "intermediate_size": 1536, "hidden_act": "gelu", "max_position_embeddings": 512,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1});
        let c = PlmConfig::from_hf_json(&json, Path::new("config.json")).unwrap();
        assert_eq!(c, PlmConfig::minilm_l6_h384());
        assert_eq!(c.head_dim(), 32);
        let back = PlmConfig::from_hf_json(&c.to_hf_json(), Path::new("x")).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = json!({"model_type": "gpt2"});
        let err = PlmConfig::from_hf_json(&bad, Path::new("m/config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("m/config.json: `model_type`: Some(\"gpt2\") is not supported"),
            "{err}"
        );
        let mut c = PlmConfig::minilm_l6_h384().to_hf_json();
        c["num_attention_heads"] = json!(5);
        let err = PlmConfig::from_hf_json(&c, Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`num_attention_heads`: hidden_size 384 is not a multiple of 5 heads"),
            "{err}"
        );
        c.as_object_mut().unwrap().remove("vocab_size");
        let err = PlmConfig::from_hf_json(&c, Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "c.json: `vocab_size`: missing");
    }

    #[test]
    fn known_configurations() {
        for (c, layers, hidden) in [
            (PlmConfig::tinybert_4l_312(), 4, 312),
            (PlmConfig::bert_base(), 12, 768),
            (PlmConfig::roberta_base(), 12, 768),
            (PlmConfig::roberta_large(), 24, 1024),
        ] {
            assert_eq!((c.num_layers, c.hidden_size), (layers, hidden));
            assert_eq!(c.hidden_size % c.num_heads, 0);
        }
        assert_eq!(PlmConfig::roberta_base().position_offset(), 2);
        assert_eq!(PlmConfig::minilm_l6_h384().with_layers(2).num_layers, 2);
    }
}
