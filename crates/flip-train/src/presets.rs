//! Named run settings: `cpu-quick` for a laptop-class CPU, `paper` for the paper's settings on
//! GPUs. Each says exactly what it shortens.

use flip_align::AlignConfig;
use serde::{Deserialize, Serialize};

use crate::finetune::{FinetuneConfig, JointProtocol};
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
    /// Finetuning with the language model (FLIP_PLM, FLIP, the language-model baseline).
    pub finetune: FinetuneConfig,
    /// Training rows sampled for the variants with the language model. Default: all.
    pub finetune_rows: Option<usize>,
    /// Validation and test rows sampled for scoring every variant. Default: all.
    pub eval_rows: Option<usize>,
    /// Most epochs of the ID-only variants.
    pub id_epochs: usize,
    /// How FLIP's towers are finetuned together.
    pub joint: JointProtocol,
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

    /// Minutes on 2 CPU cores: the language model cut to its first 2 layers; pretraining on
    /// 4,096 sampled training rows for one epoch, the ID tower and the heads at learning rate
    /// 1e-3 (with the official 1e-4, 128 Adam steps move embeddings initialised at
    /// N(0, 1e-4) by at most about 0.013, and MTM barely leaves chance); the variants with the
    /// language model finetuned on 4,096 sampled rows for at most 2 epochs; the contrastive
    /// loss on batch-centred, L2-normalised projections with a learned temperature starting at
    /// 0.1 (the official unnormalised projections at τ = 0.7 collapse both towers onto one
    /// direction each and the loss stays at ln B); the language-model variants choosing their
    /// epoch on 2,000 sampled validation rows, the ID-only variants (trained on all rows, at
    /// most 5 epochs) on every validation row; every variant scored on 2,000 sampled test rows
    /// and the full test split; FLIP by the staged protocol.
    pub fn cpu_quick() -> Self {
        Preset {
            name: "cpu-quick".into(),
            description: "language model cut to its first 2 layers; pretraining on 4,096 sampled training rows for 1 epoch (batch 32, \
                          learning rate 1e-3 for the ID tower and heads, 1e-4 for the language model; \
                          contrastive loss on batch-centred, normalised projections with a learned temperature from 0.1); \
                          variants with the language model finetuned on 4,096 sampled training rows for at most 2 epochs, in batches of similar prompt length; \
                          language-model variants' epochs chosen on 2,000 sampled validation rows; ID-only variants trained on all rows for at most 5 epochs, their epochs chosen on every validation row; \
                          all variants scored on 2,000 sampled test rows and the full test split; \
                          FLIP in stages, from this seed's FLIP_ID and FLIP_PLM"
                .into(),
            plm_layers: Some(2),
            pretrain: PretrainConfig {
                epochs: 1,
                batch_size: 32,
                max_rows: Some(4096),
                learning_rate: 1e-3,
                align: AlignConfig {
                    center: true,
                    normalize: true,
                    learnable_temperature: true,
                    temperature: 0.1,
                    ..AlignConfig::default()
                },
                ..PretrainConfig::default()
            },
            finetune: FinetuneConfig {
                max_epochs: 2,
                length_bucket_batches: 64,
                ..FinetuneConfig::default()
            },
            finetune_rows: Some(4096),
            eval_rows: Some(2000),
            id_epochs: 5,
            joint: JointProtocol::Staged,
        }
    }

    /// The paper's settings (official launchers): all rows; pretraining 30 epochs at global
    /// batch 1024 with AdamW 1e-4 and weight decay 1e-3; finetuning at batch 128 for at most
    /// 25 epochs with patience 3, learning rate 5e-5 for both groups; the whole language model;
    /// FLIP by the official joint protocol.
    /// Meant for GPUs.
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
            finetune: FinetuneConfig {
                batch_size: 128,
                max_epochs: 25,
                patience: 3,
                learning_rate: 5e-5,
                ..FinetuneConfig::default()
            },
            finetune_rows: None,
            eval_rows: None,
            id_epochs: 20,
            joint: JointProtocol::Official,
        }
    }
}
