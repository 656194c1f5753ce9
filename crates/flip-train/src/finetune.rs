//! Finetuning with the language model: FLIP_PLM (the language model and a fresh linear head on
//! its pooled states), the plain language-model baseline (the same, without alignment
//! pretraining) and FLIP (both towers, logits mixed by a learned `α`).
//!
//! FLIP's prediction is `σ(α z_id + (1 − α) z_plm)`, `α` a learned scalar starting at 0 (all on
//! the language model, as the official code) or, with `gated_alpha`, `σ(a)` starting at ½; the
//! loss is the sum of the three binary cross-entropies (joint, ID alone, language model alone).
//! AdamW with two groups: the language model's learning rate and everyone else's. Early
//! stopping on validation AUC, best epoch restored. ID-only finetuning (FLIP_ID, and the ID
//! baselines) uses [`crate::ctr::fit`].

use std::time::Instant;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use flip_data::{Batch, Batcher, Padding, PromptGroups, SplitData};
use flip_id_models::CtrNet;
use flip_plm::{Plm, Pooling, pool};
use serde::{Deserialize, Serialize};

use crate::adamw::FusedAdamW;
use crate::ctr::{EpochRecord, Evaluation, bce_with_logits, weighted_bce_sum};
use crate::divergence::{TrainError, check_loss};
use crate::parallel::{Replicas, materialize, sum_gradients};
use crate::progress::EpochProgress;
use crate::validate::Check;

/// Settings of [`finetune`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Learning rate of the ID tower, the head and `α`. Default 1e-3.
    pub learning_rate: f64,
    /// Learning rate of the language model. Default 5e-5 (the official value).
    pub plm_learning_rate: f64,
    /// Learning rate of the ID tower, the head and `α` when FLIP starts from finetuned towers
    /// (the staged protocol), in place of `learning_rate`. Default 5e-5.
    pub staged_learning_rate: f64,
    /// Most epochs of the staged protocol's joint finetuning, in place of `max_epochs`; 0
    /// keeps the starting mixture (the finetuned towers, `α` chosen on validation rows) as
    /// FLIP. Default: `max_epochs`.
    pub staged_max_epochs: Option<usize>,
    /// AdamW weight decay. Default 1e-3.
    pub weight_decay: f64,
    /// Rows per step. Default 32.
    pub batch_size: usize,
    /// Rows per scoring step. Default 128.
    pub eval_batch_size: usize,
    /// Most epochs (0 only with `keep_start`: the starting model is kept). Default 3.
    pub max_epochs: usize,
    /// Epochs without a better validation AUC before stopping. Default 1.
    pub patience: usize,
    /// `α = σ(a)` instead of the official unconstrained `α`. Default false.
    pub gated_alpha: bool,
    /// Freeze the language model's word-embedding table (no gradient, no update): faster
    /// steps, the table keeping what pretraining put in it. Default false.
    pub freeze_word_embeddings: bool,
    /// Score the model before the first epoch too, and keep it (epoch 0) when no epoch beats
    /// it on validation: a model that starts from finetuned towers is then never made worse.
    /// Default false.
    pub keep_start: bool,
    /// Batches rows of similar prompt length together, for less padding: each epoch's
    /// shuffled rows are cut into windows of this many batches, each window sorted by prompt
    /// length and cut into batches, visited in random order ([`Batcher::bucketed`]). 0 keeps
    /// the plain shuffled batches. Default 0.
    pub length_bucket_batches: usize,
    /// Train a tower that reads only the prompt (the plain language model, FLIP_PLM) on each
    /// distinct prompt of its rows once an epoch, weighted by the rows that share it and
    /// labelled with their click rate ([`PromptGroups`]): the same loss over an epoch as those
    /// rows one by one, at the cost of the distinct prompts, so that a template that spells
    /// only the item lets the tower learn from every training row. Batches, steps, epochs and
    /// the epoch records' samples per second then count prompts. A tower with an ID beside it (FLIP) still trains row by row (its
    /// logit differs between rows that share a prompt). Default false.
    pub group_prompts: bool,
    /// Seed of the head, the batch order and dropout. Default 2012.
    pub seed: u64,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            learning_rate: 1e-3,
            plm_learning_rate: 5e-5,
            staged_learning_rate: 5e-5,
            staged_max_epochs: None,
            weight_decay: 1e-3,
            batch_size: 32,
            eval_batch_size: 128,
            max_epochs: 3,
            patience: 1,
            gated_alpha: false,
            keep_start: false,
            freeze_word_embeddings: false,
            length_bucket_batches: 0,
            group_prompts: false,
            seed: 2012,
        }
    }
}

/// How FLIP (both towers, logits mixed) is finetuned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JointProtocol {
    /// The official code's: both pretrained towers finetuned together from the start, on the
    /// rows the language model sees, `α` from its initial value.
    #[default]
    Official,
    /// In stages: FLIP starts from this seed's FLIP_ID (finetuned on every training row) and
    /// FLIP_PLM (finetuned on the language model's rows); `α` is the mixing weight under which
    /// both towers' logits rank the validation rows best (AUC over a grid of 0.01 steps, the
    /// ID tower alone included); then both towers and `α` are
    /// finetuned together on the language model's rows, and the epoch with the best validation
    /// AUC is kept, the starting mixture (epoch 0) included.
    Staged,
}

impl JointProtocol {
    /// `official` or `staged`.
    pub fn name(self) -> &'static str {
        match self {
            JointProtocol::Official => "official",
            JointProtocol::Staged => "staged",
        }
    }
}

/// A language model with a click head, optionally joined with an ID model (FLIP).
#[derive(Module, Debug)]
pub struct TextClassifier {
    /// The ID tower (FLIP only).
    pub id_model: Option<CtrNet>,
    /// The language tower.
    pub plm: Plm,
    head: Linear,
    /// `α` (or its logit when gated) `[1]`.
    alpha: Param<Tensor<1>>,
    gated: bool,
    /// How the language model's token states become the vector the head reads.
    #[module(skip)]
    pooling: Pooling,
}

/// The logits of a batch.
pub struct TextLogits {
    /// The prediction's logit `[B]`.
    pub output: Tensor<1>,
    /// The ID tower's logit `[B]` (FLIP).
    pub id: Option<Tensor<1>>,
    /// The language model's logit `[B]`.
    pub plm: Tensor<1>,
}

impl TextClassifier {
    /// A fresh head (and `α`) on `plm`, joined with `id_model` when given. The head reads the
    /// first token's state until [`TextClassifier::with_pooling`] says otherwise.
    pub fn new(plm: Plm, id_model: Option<CtrNet>, gated_alpha: bool, device: &Device) -> Self {
        TextClassifier {
            head: LinearConfig::new(plm.hidden_size(), 1).init(device),
            alpha: Param::from_tensor(Tensor::zeros([1], device)),
            gated: gated_alpha,
            id_model,
            plm,
            pooling: Pooling::Cls,
        }
    }

    /// The head reads the language model's states pooled this way (a model folder says its own
    /// way, [`flip_plm::LoadedPlm::pooling`]).
    pub fn with_pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// How the language model's states are pooled.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// This (finetuned) language-model classifier, its head kept, joined with `id_model`: FLIP
    /// from two finetuned towers.
    pub fn joined(mut self, id_model: CtrNet) -> Self {
        self.id_model = Some(id_model);
        self
    }

    /// `α` set to `alpha` (kept inside (0, 1) when gated, where `α = σ(a)`).
    pub fn with_alpha(mut self, alpha: f32) -> Self {
        let device = self.alpha.val().device();
        let stored = if self.gated {
            let a = alpha.clamp(1e-4, 1.0 - 1e-4);
            (a / (1.0 - a)).ln()
        } else {
            alpha
        };
        self.alpha = Param::from_tensor(Tensor::from_floats([stored], &device));
        self
    }

    /// The mixing weight of the ID logit.
    pub fn alpha(&self) -> f32 {
        let a = self.alpha.val();
        if self.gated {
            sigmoid(a).into_scalar::<f32>()
        } else {
            a.into_scalar::<f32>()
        }
    }

    /// # Shapes
    /// - `ids`: `[B, M]`, `tokens`: `[B, L]`, `mask`: `[B, L]`
    /// - output: logits `[B]`
    pub fn forward(
        &self,
        ids: Tensor<2, Int>,
        tokens: Tensor<2, Int>,
        mask: Tensor<2, Bool>,
    ) -> TextLogits {
        let [b, _] = tokens.dims();
        let pooled = pool(
            self.plm.forward(tokens, mask.clone(), None),
            mask,
            self.pooling,
        );
        let plm = self.head.forward(pooled).reshape([b]);
        match &self.id_model {
            None => TextLogits {
                output: plm.clone(),
                id: None,
                plm,
            },
            Some(id_model) => {
                let id = id_model.forward(ids).logit;
                let a = if self.gated {
                    sigmoid(self.alpha.val())
                } else {
                    self.alpha.val()
                };
                let output = id.clone() * a.clone() + plm.clone() * a.neg().add_scalar(1.0);
                TextLogits {
                    output,
                    id: Some(id),
                    plm,
                }
            }
        }
    }

    /// The training loss: BCE of the prediction, plus (FLIP) those of each tower.
    pub fn loss(&self, logits: &TextLogits, labels: Tensor<1>) -> Tensor<1> {
        let mut loss = bce_with_logits(logits.output.clone(), labels.clone());
        if let Some(id) = &logits.id {
            loss = loss
                + bce_with_logits(id.clone(), labels.clone())
                + bce_with_logits(logits.plm.clone(), labels);
        }
        loss
    }
}

fn tensors(
    batch: &Batch,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Bool>, Tensor<1>) {
    let (b, m, l) = (batch.size, batch.num_fields, batch.seq_len);
    (
        Tensor::from_data(TensorData::new(batch.ids.clone(), [b, m]), device),
        Tensor::from_data(TensorData::new(batch.tokens.clone(), [b, l]), device),
        Tensor::from_data(
            TensorData::new(batch.attention_mask.clone(), [b, l]),
            device,
        ),
        Tensor::from_data(TensorData::new(batch.labels.clone(), [b]), device),
    )
}

/// The values of a `[B]` tensor on the host.
fn host_values(t: Tensor<1>) -> Vec<f32> {
    t.into_data().convert::<f32>().iter::<f32>().collect()
}

/// Runs `score` on batches of `data` grouped by prompt length (little padding) and puts each
/// row's values back at its place in the split: `[N]` per output of `score`.
fn scored_in_split_order<const K: usize>(
    data: &SplitData,
    batch_size: usize,
    pad_id: u32,
    mut score: impl FnMut(&Batch) -> [Vec<f32>; K],
) -> [Vec<f32>; K] {
    let mut out: [Vec<f32>; K] = std::array::from_fn(|_| vec![f32::NAN; data.len()]);
    for batch in Batcher::new(data, batch_size, Padding::Longest, pad_id).by_length() {
        for (values, column) in score(&batch).into_iter().zip(out.iter_mut()) {
            for (&row, value) in batch.rows.iter().zip(values) {
                column[row] = value;
            }
        }
    }
    out
}

/// What [`text_scores`] returns: per row of the split, in split order, `[N]` each.
#[derive(Debug, Clone, PartialEq)]
pub struct TextScores {
    /// Click probabilities (of the mixture, for FLIP).
    pub probs: Vec<f32>,
    /// The ID tower's logits (`None` without an ID tower).
    pub id_logits: Option<Vec<f32>>,
    /// The language model's logits.
    pub plm_logits: Vec<f32>,
}

/// Click probabilities and each tower's logit for every row of `data` (inference device), in
/// one pass; rows are scored in batches of similar prompt length, each padded to its longest
/// prompt.
pub fn text_scores(
    model: &TextClassifier,
    data: &SplitData,
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> TextScores {
    let [probs, id, plm] = scored_in_split_order(data, batch_size, pad_id, |batch| {
        let (ids, tokens, mask, _) = tensors(batch, device);
        let logits = model.forward(ids, tokens, mask);
        [
            host_values(sigmoid(logits.output)),
            logits.id.map(host_values).unwrap_or_default(),
            host_values(logits.plm),
        ]
    });
    TextScores {
        probs,
        id_logits: model.id_model.is_some().then_some(id),
        plm_logits: plm,
    }
}

/// Click probabilities of every row of `data` (inference device) `[N]`, in split order (see
/// [`text_scores`], which also copies each tower's logits to the host).
pub fn predict_text(
    model: &TextClassifier,
    data: &SplitData,
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Vec<f32> {
    let [probs] = scored_in_split_order(data, batch_size, pad_id, |batch| {
        let (ids, tokens, mask, _) = tensors(batch, device);
        [host_values(sigmoid(
            model.forward(ids, tokens, mask).output,
        ))]
    });
    probs
}

/// Each tower's logit for every row of `data` (inference device): `(ID tower, language
/// model)`, each `[N]`; the ID side is `None` without an ID tower.
pub fn tower_logits(
    model: &TextClassifier,
    data: &SplitData,
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> (Option<Vec<f32>>, Vec<f32>) {
    let scores = text_scores(model, data, batch_size, pad_id, device);
    (scores.id_logits, scores.plm_logits)
}

/// AUC and LogLoss of `model` on `data`.
pub fn evaluate_text(
    model: &TextClassifier,
    data: &SplitData,
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Evaluation {
    Evaluation::of(
        &data.labels,
        &predict_text(model, data, batch_size, pad_id, device),
    )
}

/// What [`finetune`] returns.
pub struct FittedText {
    /// The best epoch's model on the inference device.
    pub model: TextClassifier,
    /// Every epoch.
    pub history: Vec<EpochRecord>,
    /// The epoch kept (1-based; 0: the starting model, with [`FinetuneConfig::keep_start`]).
    pub best_epoch: usize,
    /// Its validation metrics.
    pub best_valid: Evaluation,
}

/// Finetunes `model` (on the main device of `replicas`, autodiff devices) on `train`,
/// selecting the epoch by AUC on `valid`. With several devices every batch is shared among
/// them (see [`crate::parallel`]); scoring runs on the main one. Settings that cannot run are
/// refused before any work; a non-finite loss stops training ([`TrainError`]).
pub fn finetune(
    mut model: TextClassifier,
    train: &SplitData,
    valid: &SplitData,
    pad_id: u32,
    config: &FinetuneConfig,
    replicas: &Replicas,
    mut on_epoch: impl FnMut(&EpochRecord),
) -> Result<FittedText, TrainError> {
    config.check()?;
    let main = replicas.main();
    let inner = main.clone().inner();
    if config.freeze_word_embeddings {
        model.plm = model.plm.with_frozen_word_embeddings();
    }
    materialize(&model);
    let optim = || FusedAdamW::new(config.weight_decay as f32).init(None);
    let (mut rest_optim, mut plm_optim) = (optim(), optim());
    let mut best: Option<(Evaluation, usize, TextClassifier)> = None;
    if config.keep_start {
        let start = evaluate_text(
            &model.valid(),
            valid,
            config.eval_batch_size,
            pad_id,
            &inner,
        );
        tracing::info!(
            "before finetuning: valid AUC {:.4} LogLoss {:.4}, α {:.3}",
            start.auc,
            start.logloss,
            model.alpha()
        );
        best = Some((start, 0, model.valid()));
    }
    let groups = (config.group_prompts && model.id_model.is_none()).then(|| {
        let groups = PromptGroups::of(train);
        tracing::info!(
            "language model on {} distinct prompts standing for {} training rows",
            groups.len(),
            groups.total_rows()
        );
        groups
    });
    let train = groups.as_ref().map_or(train, |g| &g.data);
    // What a step's batch holds, for the logs.
    let unit = if groups.is_some() { "prompts" } else { "rows" };
    let mut history = Vec::new();
    let mut since_best = 0;
    for epoch in 1..=config.max_epochs {
        let started = Instant::now();
        let epoch_seed = config.seed.wrapping_add(epoch as u64);
        let mut batches =
            Batcher::new(train, config.batch_size, Padding::Longest, pad_id).shuffled(epoch_seed);
        if config.length_bucket_batches > 0 {
            // The batches' visit order draws from its own stream, apart from the rows' shuffle.
            batches = batches.bucketed(config.length_bucket_batches, epoch_seed ^ 0xB0C4E7);
        }
        let mut progress = EpochProgress::new(
            &format!("finetune {epoch}"),
            format!("language-model finetuning epoch {epoch}"),
            batches.num_batches(),
            0,
        );
        let (mut loss_sum, mut steps) = (0.0, 0usize);
        for (step, batch) in batches.enumerate() {
            replicas.seed(config.seed ^ ((epoch as u64) << 32) ^ step as u64);
            let batch_rows: f32 = groups
                .as_ref()
                .map_or(0.0, |g| batch.rows.iter().map(|&r| g.rows[r]).sum());
            let parts = replicas.map(batch.size, |share, device| {
                let replica = model.clone().fork(device);
                let whole = share.len() == batch.size;
                let shard = if whole {
                    batch.clone()
                } else {
                    batch.slice_rows(share)
                };
                let (ids, tokens, mask, labels) = tensors(&shard, device);
                let logits = replica.forward(ids, tokens, mask);
                let loss = match &groups {
                    // Each shard's share of the mean over the rows the whole batch stands for.
                    Some(g) => {
                        let per_group = |values: &[f32]| {
                            let picked: Vec<f32> = shard.rows.iter().map(|&r| values[r]).collect();
                            Tensor::<1>::from_data(TensorData::new(picked, [shard.size]), device)
                        };
                        weighted_bce_sum(
                            logits.output,
                            per_group(&g.click_rate),
                            per_group(&g.rows),
                        )
                        .div_scalar(batch_rows)
                    }
                    None if whole => replica.loss(&logits, labels),
                    None => replica
                        .loss(&logits, labels)
                        .mul_scalar(shard.size as f32 / batch.size as f32),
                };
                let value = f64::from(loss.clone().into_scalar::<f32>());
                let mut grads = loss.backward();
                let plm = GradientsParams::from_module(&mut grads, &replica.plm);
                (value, plm, GradientsParams::from_grads(grads, &replica))
            });
            let value = parts.iter().map(|(value, _, _)| value).sum::<f64>();
            steps += 1;
            check_loss("finetuning", epoch, steps, value)?;
            loss_sum += value;
            let (plm_grads, rest_grads) = if parts.len() == 1 {
                let (_, plm, rest) = parts.into_iter().next().expect("one part");
                (plm, rest)
            } else {
                let (plm, rest): (Vec<_>, Vec<_>) =
                    parts.into_iter().map(|(_, plm, rest)| (plm, rest)).unzip();
                (
                    sum_gradients(&model.plm, main, plm),
                    sum_gradients(&model, main, rest),
                )
            };
            model = rest_optim.step(config.learning_rate, model, rest_grads);
            model.plm = plm_optim.step(config.plm_learning_rate, model.plm.clone(), plm_grads);
            progress.inc(batch.size);
            if steps % 10 == 0 {
                progress.set_message(format!(
                    "loss {:.4}, {:.1} {unit}/s",
                    loss_sum / steps as f64,
                    progress.rows_per_second()
                ));
            }
        }
        progress.finish();
        let train_seconds = started.elapsed().as_secs_f64();
        let valid_eval = evaluate_text(
            &model.valid(),
            valid,
            config.eval_batch_size,
            pad_id,
            &inner,
        );
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / steps.max(1) as f64,
            valid: valid_eval,
            train_seconds,
            samples_per_second: train.len() as f64 / train_seconds,
        };
        tracing::info!(
            "epoch {epoch}: train loss {:.4}, valid AUC {:.4} LogLoss {:.4}, α {:.3}, {:.1} {unit}/s",
            record.train_loss,
            valid_eval.auc,
            valid_eval.logloss,
            model.alpha(),
            record.samples_per_second
        );
        on_epoch(&record);
        history.push(record);
        if best.as_ref().is_none_or(|(e, _, _)| valid_eval.auc > e.auc) {
            // A snapshot (`valid()`): a clone would share batch-norm running statistics.
            best = Some((valid_eval, epoch, model.valid()));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= config.patience {
                break;
            }
        }
    }
    let (best_valid, best_epoch, model) = best.expect("at least one epoch");
    Ok(FittedText {
        model,
        history,
        best_epoch,
        best_valid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_starts_on_the_language_model() {
        let device = Device::flex();
        let plm = flip_plm::PlmConfig::minilm_l6_h384().with_layers(1);
        let model = TextClassifier::new(plm.init(false, &device), None, false, &device);
        assert_eq!(model.alpha(), 0.0);
        let gated = TextClassifier::new(plm.init(false, &device), None, true, &device);
        assert_eq!(gated.alpha(), 0.5);
    }

    #[test]
    fn a_set_mixing_weight_reads_back_plain_and_gated() {
        let device = Device::flex();
        let plm = flip_plm::PlmConfig::minilm_l6_h384().with_layers(1);
        let plain = TextClassifier::new(plm.init(false, &device), None, false, &device);
        assert_eq!(plain.with_alpha(1.3).alpha(), 1.3, "unconstrained");
        let gated = TextClassifier::new(plm.init(false, &device), None, true, &device);
        assert!((gated.clone().with_alpha(0.8).alpha() - 0.8).abs() < 1e-6);
        // σ(a) cannot reach 1: the weight is kept just inside.
        assert!(gated.with_alpha(1.3).alpha() < 1.0);
    }
}
