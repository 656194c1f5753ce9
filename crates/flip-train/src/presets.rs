//! Named run settings: `cpu-quick` for a laptop-class CPU, `paper` for the paper's settings on
//! GPUs. Each says exactly what it shortens.

use serde::{Deserialize, Serialize};

use crate::pretrain::PretrainConfig;

/// A named bundle of settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preset {
    /// `cpu-quick` or `paper`.
    pub name: String,
    /// What the preset changes from the paper, for reports.
    pub description: String,
    /// Keep only the first k layers of the language model.
    pub plm_layers: Option<usize>,
    /// Pretraining settings.
    pub pretrain: PretrainConfig,
}

impl Preset {
    /// The preset called `name`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "cpu-quick" => Some(Self::cpu_quick()),
            "paper" => Some(Self::paper()),
            _ => None,
        }
    }

    /// Minutes on 2 CPU cores: 8,192 sampled training rows, one epoch, batch 32, the first 2
    /// layers of the language model.
    pub fn cpu_quick() -> Self {
        Preset {
            name: "cpu-quick".into(),
            description: "pretraining on 8,192 sampled training rows for 1 epoch at batch 32, language model cut to its first 2 layers".into(),
            plm_layers: Some(2),
            pretrain: PretrainConfig {
                epochs: 1,
                batch_size: 32,
                max_rows: Some(8192),
                ..PretrainConfig::default()
            },
        }
    }

    /// The paper's settings (official launcher): all training rows, 30 epochs, global batch
    /// 1024, AdamW 1e-4 with weight decay 1e-3, the whole language model. Meant for GPUs.
    pub fn paper() -> Self {
        Preset {
            name: "paper".into(),
            description: "all training rows, 30 epochs, global batch 1024, the whole language model (for GPUs)".into(),
            plm_layers: None,
            pretrain: PretrainConfig {
                epochs: 30,
                batch_size: 1024,
                max_rows: None,
                ..PretrainConfig::default()
            },
        }
    }
}
