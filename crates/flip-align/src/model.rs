//! The two towers with the three alignment heads, and one pretraining step's losses.
//!
//! Per step: two ID passes (clean ids for ICL and MLM, masked ids for MTM), one PLM pass over
//! the clean text (its pooled states feed ICL, all its states feed the MTM attention; the
//! official code runs this pass twice) and one over the masked text (MLM). A term switched off
//! (weight 0) skips the passes only it needs.

use burn::module::{Module, Param};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use flip_data::Batch;
use flip_id_models::CtrNet;
use flip_plm::{Plm, Pooling, pool};
use serde::{Deserialize, Serialize};

use crate::icl::{ProjectionHead, ProjectionHeadConfig, batch_centered, info_nce};
use crate::masking::MaskedBatch;
use crate::mlm::{HeadOutput, MlmHead, MlmHeadConfig};
use crate::mtm::{MtmConfig, MtmHead, MtmTargets, NoiseDistribution};

/// Alignment settings (heads and loss weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlignConfig {
    /// Width of the contrastive projections. Default 128.
    pub projection_dim: usize,
    /// Dropout in the projection heads. Default 0.2.
    pub projection_dropout: f64,
    /// InfoNCE temperature. Default 0.7.
    pub temperature: f64,
    /// Learn the temperature (as its logarithm). Default false.
    pub learnable_temperature: bool,
    /// L2-normalise the projections (cosine similarities). Default false, as the official code.
    pub normalize: bool,
    /// Subtract each projection's batch mean before comparing rows
    /// ([`crate::icl::batch_centered`]). Default false, as the official code.
    pub center: bool,
    /// Dropout in the MLM head. Default 0.2.
    pub mlm_dropout: f64,
    /// The MTM head.
    pub mtm: MtmConfig,
    /// Weight of the contrastive loss; 0 switches it off. Default 1.
    pub icl_weight: f64,
    /// Weight of the MLM loss; 0 switches it off. Default 1.
    pub mlm_weight: f64,
    /// Weight of the MTM loss; 0 switches it off. Default 1.
    pub mtm_weight: f64,
    /// Do the official code's extra work (for cost comparisons and exact reproduction): two
    /// clean PLM passes (one for `[CLS]`, one for the token states) and the MLM vocabulary
    /// projection over every position before picking the masked ones. Default false.
    pub official_compute: bool,
}

impl AlignConfig {
    /// Projections `[B, P]` as the contrastive loss compares them: batch-centred when
    /// `center` (normalisation, when on, happens inside the loss).
    pub fn compared(&self, z: Tensor<2>) -> Tensor<2> {
        if self.center { batch_centered(z) } else { z }
    }
}

impl Default for AlignConfig {
    fn default() -> Self {
        AlignConfig {
            projection_dim: 128,
            projection_dropout: 0.2,
            temperature: 0.7,
            learnable_temperature: false,
            normalize: false,
            center: false,
            mlm_dropout: 0.2,
            mtm: MtmConfig::default(),
            icl_weight: 1.0,
            mlm_weight: 1.0,
            mtm_weight: 1.0,
            official_compute: false,
        }
    }
}

/// The ID model, the language model and the alignment heads.
#[derive(Module, Debug)]
pub struct FlipPretrainer {
    /// The ID tower.
    pub id_model: CtrNet,
    /// The language tower.
    pub plm: Plm,
    id_projection: ProjectionHead,
    text_projection: ProjectionHead,
    /// `ln τ` `[1]`; trained only with `learnable_temperature`.
    log_temperature: Param<Tensor<1>>,
    mlm: MlmHead,
    mtm: MtmHead,
    /// How the text tower's token states become the vector the contrastive head projects.
    #[module(skip)]
    pooling: Pooling,
}

impl FlipPretrainer {
    /// Puts heads on two towers. `noise` is the MTM noise distribution over the feature ids;
    /// `num_fields` the dataset's M.
    pub fn new(
        id_model: CtrNet,
        plm: Plm,
        vocab_size: usize,
        num_fields: usize,
        noise: &NoiseDistribution,
        config: &AlignConfig,
        device: &Device,
    ) -> Self {
        let (d_id, h) = (id_model.repr_dim(), plm.hidden_size());
        let projection = |input| {
            ProjectionHeadConfig::new(input)
                .with_output(config.projection_dim)
                .with_dropout(config.projection_dropout)
                .init(device)
        };
        let log_temperature = Param::from_tensor(Tensor::from_floats(
            [config.temperature.ln() as f32],
            device,
        ))
        .set_require_grad(config.learnable_temperature);
        FlipPretrainer {
            id_projection: projection(d_id),
            text_projection: projection(h),
            log_temperature,
            mlm: MlmHeadConfig::new(h, d_id, vocab_size)
                .with_dropout(config.mlm_dropout)
                .init(device),
            mtm: MtmHead::new(&config.mtm, num_fields, d_id, h, noise, device),
            id_model,
            plm,
            pooling: Pooling::Cls,
        }
    }

    /// Pools the text tower's states this way for the contrastive head (default
    /// [`Pooling::Cls`], as the official code; a model folder says its own way,
    /// [`flip_plm::LoadedPlm::pooling`]).
    pub fn with_pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// How the text tower's states are pooled for the contrastive head.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The InfoNCE temperature.
    pub fn temperature(&self) -> f32 {
        self.log_temperature.val().exp().into_scalar::<f32>()
    }
}

/// One batch's inputs on the device.
#[derive(Debug, Clone)]
pub struct PretrainBatch {
    /// Clean ids `[B, M]`.
    pub ids: Tensor<2, Int>,
    /// Ids with masked fields `[B, M]`.
    pub masked_ids: Tensor<2, Int>,
    /// Clean tokens `[B, L]`.
    pub tokens: Tensor<2, Int>,
    /// Tokens with masked value spans `[B, L]`.
    pub masked_tokens: Tensor<2, Int>,
    /// `[B, L]`, true on real tokens.
    pub mask: Tensor<2, Bool>,
    /// Masked token positions `b · L + l` `[N]` and their original ids `[N]` (none: no MLM).
    pub mlm: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
    /// Masked fields `[B, k]`.
    pub fields: Tensor<2, Int>,
    /// Their true ids `[B, k]`.
    pub targets: Tensor<2, Int>,
    /// Noise ids `[B, k, K]`.
    pub noise: Tensor<3, Int>,
}

impl PretrainBatch {
    /// Moves a batch, its masks and its noise ids (`B · k · K` of them) to `device`.
    pub fn new(batch: &Batch, masked: &MaskedBatch, noise: Vec<i64>, device: &Device) -> Self {
        let (b, m, l, k) = (batch.size, batch.num_fields, batch.seq_len, masked.k);
        let int2 = |v: &Vec<i64>, shape: [usize; 2]| {
            Tensor::<2, Int>::from_data(TensorData::new(v.clone(), shape), device)
        };
        let int1 = |v: &Vec<i64>| {
            Tensor::<1, Int>::from_data(TensorData::new(v.clone(), [v.len()]), device)
        };
        let noise_count = noise.len() / (b * k);
        PretrainBatch {
            ids: int2(&batch.ids, [b, m]),
            masked_ids: int2(&masked.masked_ids, [b, m]),
            tokens: int2(&batch.tokens, [b, l]),
            masked_tokens: int2(&masked.masked_tokens, [b, l]),
            mask: Tensor::from_data(
                TensorData::new(batch.attention_mask.clone(), [b, l]),
                device,
            ),
            mlm: (!masked.mlm_positions.is_empty())
                .then(|| (int1(&masked.mlm_positions), int1(&masked.mlm_targets))),
            fields: int2(&masked.tabular_fields, [b, k]),
            targets: int2(&masked.tabular_targets, [b, k]),
            noise: Tensor::from_data(TensorData::new(noise, [b, k, noise_count]), device),
        }
    }
}

/// One step's losses.
#[derive(Debug, Clone)]
pub struct PretrainOutput {
    /// Weighted sum `[1]`.
    pub loss: Tensor<1>,
    /// Contrastive loss, when on.
    pub icl: Option<Tensor<1>>,
    /// The projection heads' outputs, ID side and text side `[B, P]` each, before the
    /// contrastive loss centres them (for diagnostics such as [`crate::ProjectionGeometry`]),
    /// when on.
    pub projections: Option<(Tensor<2>, Tensor<2>)>,
    /// MLM loss and accuracy, when on and the batch has masked tokens.
    pub mlm: Option<HeadOutput>,
    /// MTM loss and accuracy, when on.
    pub mtm: Option<HeadOutput>,
}

/// A batch's (or a data-parallel share's) contribution before the contrastive loss, which
/// needs every row of the batch: the projected representations of both towers and the two
/// masked-prediction losses, which are means over the share's own positions.
#[derive(Debug, Clone)]
pub struct PretrainParts {
    /// ID-side projections `[B, P]` (contrastive loss on).
    pub z_id: Option<Tensor<2>>,
    /// Text-side projections of the pooled text `[B, P]` (contrastive loss on).
    pub z_text: Option<Tensor<2>>,
    /// MLM loss and accuracy, when on and the share has masked tokens.
    pub mlm: Option<HeadOutput>,
    /// MTM loss and accuracy, when on.
    pub mtm: Option<HeadOutput>,
}

impl FlipPretrainer {
    /// Everything of one batch's step but the contrastive loss (see [`PretrainParts`]).
    pub fn parts(&self, batch: &PretrainBatch, config: &AlignConfig) -> PretrainParts {
        let icl_on = config.icl_weight > 0.0;
        let mlm_on = config.mlm_weight > 0.0 && batch.mlm.is_some();
        let mtm_on = config.mtm_weight > 0.0;
        let clean_repr = (icl_on || mlm_on).then(|| self.id_model.represent(batch.ids.clone()));
        let clean_pass = || {
            self.plm
                .forward(batch.tokens.clone(), batch.mask.clone(), None)
        };
        let clean_states = (icl_on || mtm_on).then(clean_pass);

        let (z_id, z_text) = if icl_on {
            // The official code runs the clean text through the language model a second time
            // for the pooled ([CLS]) vector.
            let states = if config.official_compute {
                clean_pass()
            } else {
                clean_states.clone().expect("computed")
            };
            let pooled = pool(states, batch.mask.clone(), self.pooling);
            (
                Some(
                    self.id_projection
                        .forward(clean_repr.clone().expect("computed")),
                ),
                Some(self.text_projection.forward(pooled)),
            )
        } else {
            (None, None)
        };
        let mlm = mlm_on.then(|| {
            let (positions, targets) = batch.mlm.clone().expect("checked");
            let masked_states =
                self.plm
                    .forward(batch.masked_tokens.clone(), batch.mask.clone(), None);
            let repr = clean_repr.clone().expect("computed");
            if config.official_compute {
                self.mlm
                    .forward_all_positions(masked_states, repr, positions, targets)
            } else {
                self.mlm.forward(masked_states, repr, positions, targets)
            }
        });
        let mtm = mtm_on.then(|| {
            let masked_repr = self.id_model.represent(batch.masked_ids.clone());
            self.mtm.forward(
                masked_repr,
                clean_states.clone().expect("computed"),
                batch.mask.clone(),
                MtmTargets {
                    fields: batch.fields.clone(),
                    targets: batch.targets.clone(),
                    noise: batch.noise.clone(),
                },
                config.mtm.objective,
            )
        });
        PretrainParts {
            z_id,
            z_text,
            mlm,
            mtm,
        }
    }

    /// The symmetric InfoNCE of the projections of a whole batch, at this model's temperature
    /// (batch-centred first when `config.center`).
    ///
    /// # Shapes
    /// - `z_id`, `z_text`: `[B, P]`; output `[1]`
    pub fn contrastive(
        &self,
        z_id: Tensor<2>,
        z_text: Tensor<2>,
        config: &AlignConfig,
    ) -> Tensor<1> {
        info_nce(
            config.compared(z_id),
            config.compared(z_text),
            self.log_temperature.val().exp(),
            config.normalize,
        )
    }

    /// The pretraining losses of one batch.
    pub fn forward(&self, batch: &PretrainBatch, config: &AlignConfig) -> PretrainOutput {
        let parts = self.parts(batch, config);
        let projections = parts.z_id.zip(parts.z_text);
        let icl = projections
            .clone()
            .map(|(z_id, z_text)| self.contrastive(z_id, z_text, config));
        let (mlm, mtm) = (parts.mlm, parts.mtm);
        let device = batch.ids.device();
        let mut loss = Tensor::<1>::zeros([1], &device);
        if let Some(l) = &icl {
            loss = loss + l.clone().mul_scalar(config.icl_weight);
        }
        if let Some(o) = &mlm {
            loss = loss + o.loss.clone().mul_scalar(config.mlm_weight);
        }
        if let Some(o) = &mtm {
            loss = loss + o.loss.clone().mul_scalar(config.mtm_weight);
        }
        PretrainOutput {
            loss,
            icl,
            projections,
            mlm,
            mtm,
        }
    }
}
