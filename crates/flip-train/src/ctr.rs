//! Training and evaluating a CTR model of the zoo: Adam (the embedding tables optionally at a
//! rate of their own), mini-batches of shuffled rows, binary cross-entropy (mean over the
//! batch) plus L2 on the looked-up embeddings, optional unseen-value dropout
//! ([`crate::oov_dropout`]), early stopping on validation AUC with patience, the best epoch's
//! weights restored.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use flip_data::{Batch, Batcher, Padding, SplitData};
use flip_id_models::{CtrNet, Embedded};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::divergence::{TrainError, check_loss};
use crate::metrics::{auc, log_loss};
use crate::oov_dropout::{OovDropout, hide_values};
use crate::progress::EpochProgress;
use crate::sparse::{GatheredRows, SparseAdam, TouchedRows};
use crate::validate::Check;

/// Settings of [`fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CtrTrainConfig {
    /// Adam learning rate. Default 1e-3.
    pub learning_rate: f64,
    /// Adam learning rate of the embedding tables (both), where it differs from
    /// `learning_rate` (a pretrained start kept closer to its embeddings while the layers
    /// learn at the full rate). Default: the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_learning_rate: Option<f64>,
    /// Rows per training step. Default 1024.
    pub batch_size: usize,
    /// Rows per scoring step. Default 8192.
    pub eval_batch_size: usize,
    /// Most epochs. Default 10.
    pub max_epochs: usize,
    /// Epochs without a better validation AUC before stopping. Default 2.
    pub patience: usize,
    /// L2 penalty on the embeddings a batch looks up: `λ Σ_{b,f} ‖e_{b,f}‖² / B`. Default 0.
    pub embedding_l2: f64,
    /// Update only the embedding rows a batch touches (lazy Adam). Default false.
    pub sparse_embeddings: bool,
    /// Fields whose training values are replaced by the field's OOV id at random, drawn afresh
    /// every epoch from the seed (scoring is unchanged). Default: none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub oov_dropout: Vec<OovDropout>,
    /// Seed of the weights and the batch order. Default 2012.
    pub seed: u64,
}

impl Default for CtrTrainConfig {
    fn default() -> Self {
        CtrTrainConfig {
            learning_rate: 1e-3,
            embedding_learning_rate: None,
            batch_size: 1024,
            eval_batch_size: 8192,
            max_epochs: 10,
            patience: 2,
            embedding_l2: 0.0,
            sparse_embeddings: false,
            oov_dropout: Vec::new(),
            seed: 2012,
        }
    }
}

/// Metrics of a model on one split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// ROC AUC (NaN when the split has one class only).
    pub auc: f64,
    /// Mean binary cross-entropy.
    pub logloss: f64,
    /// Rows scored.
    pub rows: usize,
}

impl Evaluation {
    /// The metrics of click probabilities `probs` against `labels` (one per row).
    pub fn of(labels: &[u8], probs: &[f32]) -> Self {
        Evaluation {
            auc: auc(labels, probs).unwrap_or(f64::NAN),
            logloss: log_loss(labels, probs),
            rows: labels.len(),
        }
    }
}

/// One epoch of training, as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss (BCE plus penalty).
    pub train_loss: f64,
    /// Validation metrics after the epoch.
    pub valid: Evaluation,
    /// Wall seconds of the training pass (scoring excluded).
    pub train_seconds: f64,
    /// Training rows per second.
    pub samples_per_second: f64,
}

/// What [`fit`] returns.
#[derive(Debug)]
pub struct Fitted {
    /// The model of the best epoch, on the inference device.
    pub model: CtrNet,
    /// Every epoch.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept (1-based).
    pub best_epoch: usize,
}

/// Numerically stable binary cross-entropy of logits, mean over the batch.
///
/// # Shapes
/// - `logits`, `labels`: `[B]`
/// - output: `[1]`
pub fn bce_with_logits(logits: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    row_bce_with_logits(logits, labels).mean()
}

/// Binary cross-entropy of logits against labels in `[0, 1]` (a click rate is a label too),
/// each row's times its weight, summed: `Σ w·BCE(y, σ(z))`.
///
/// # Shapes
/// - `logits`, `labels`, `weights`: `[B]`
/// - output: `[1]`
pub fn weighted_bce_sum(logits: Tensor<1>, labels: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
    (row_bce_with_logits(logits, labels) * weights).sum()
}

/// `[B]`: each row's `max(z, 0) − z·y + ln(1 + e^{−|z|})`.
fn row_bce_with_logits(logits: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    let softplus_tail = logits.clone().abs().neg().exp().log1p();
    relu(logits.clone()) - logits * labels + softplus_tail
}

fn l2_penalty(x: &Embedded, lambda: f64) -> Option<Tensor<1>> {
    (lambda > 0.0).then(|| {
        let [b, _, _] = x.fields.dims();
        x.fields
            .clone()
            .square()
            .sum()
            .mul_scalar(lambda / b as f64)
    })
}

/// Scores every row of `data` with `model` (inference device), in batches.
pub fn predict(model: &CtrNet, data: &SplitData, batch_size: usize, device: &Device) -> Vec<f32> {
    let mut probs = Vec::with_capacity(data.len());
    for batch in Batcher::new(data, batch_size, Padding::Longest, 0) {
        let ids = ids_tensor(&batch, device);
        probs.extend(
            sigmoid(model.forward(ids).logit)
                .into_data()
                .convert::<f32>()
                .iter::<f32>(),
        );
    }
    probs
}

/// AUC and LogLoss of `model` on `data`.
pub fn evaluate(
    model: &CtrNet,
    data: &SplitData,
    batch_size: usize,
    device: &Device,
) -> Evaluation {
    Evaluation::of(&data.labels, &predict(model, data, batch_size, device))
}

fn ids_tensor(batch: &Batch, device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(
        TensorData::new(batch.ids.clone(), [batch.size, batch.num_fields]),
        device,
    )
}

/// Trains `model` (built on `device`, an autodiff device) on `train`, selecting the epoch by
/// AUC on `valid`. `on_epoch` sees every epoch's record as it ends (for logs). Settings that
/// cannot run (among them an `oov_dropout` field beyond `train`'s fields) are refused before
/// any work ([`TrainError::Invalid`]); a step whose loss is not finite stops training
/// ([`TrainError::Diverged`]).
pub fn fit(
    mut model: CtrNet,
    train: &SplitData,
    valid: &SplitData,
    config: &CtrTrainConfig,
    device: &Device,
    mut on_epoch: impl FnMut(&EpochRecord),
) -> Result<Fitted, TrainError> {
    assert!(device.is_autodiff(), "fit needs an autodiff device");
    config.check()?;
    check_dropout_fields(&config.oov_dropout, train.num_fields)?;
    let inner = device.clone().inner();
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let mut sparse = config
        .sparse_embeddings
        .then(|| SparseAdam::new(model.embedding()));
    let mut best: Option<(f64, usize, CtrNet)> = None;
    let mut history = Vec::new();
    let mut since_best = 0;
    let learning_rate = config.learning_rate;
    let table_learning_rate = config.embedding_learning_rate.unwrap_or(learning_rate);
    for epoch in 1..=config.max_epochs {
        let started = Instant::now();
        let batches = Batcher::new(train, config.batch_size, Padding::Longest, 0)
            .shuffled(config.seed.wrapping_add(epoch as u64));
        let mut progress = EpochProgress::new(
            &format!("epoch {epoch}"),
            format!("ID-model training epoch {epoch}"),
            batches.num_batches(),
            0,
        );
        let (mut loss_sum, mut steps) = (0.0f64, 0usize);
        let mut window = RunningAuc::new(64 * config.batch_size);
        // Its own stream: a run without dropout draws nothing from it and is unchanged.
        let mut hiding = ChaCha8Rng::seed_from_u64(dropout_seed(config.seed, epoch));
        for mut batch in batches {
            hide_values(
                &mut batch.ids,
                batch.num_fields,
                &config.oov_dropout,
                &mut hiding,
            );
            let labels =
                Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [batch.size]), device);
            let (logits, loss) = match sparse.as_mut() {
                None => {
                    let x = model.embed(ids_tensor(&batch, device));
                    let out = model.forward_embedded(&x);
                    let mut loss = bce_with_logits(out.logit.clone(), labels);
                    if let Some(p) = l2_penalty(&x, config.embedding_l2) {
                        loss = loss + p;
                    }
                    let mut grads = loss.backward();
                    if table_learning_rate == learning_rate {
                        let grads = GradientsParams::from_grads(grads, &model);
                        model = optimizer.step(learning_rate, model, grads);
                    } else {
                        let table_grads =
                            GradientsParams::from_module(&mut grads, model.embedding());
                        let grads = GradientsParams::from_grads(grads, &model);
                        model = optimizer.step(learning_rate, model, grads);
                        model = optimizer.step(table_learning_rate, model, table_grads);
                    }
                    (out.logit, loss)
                }
                Some(adam) => {
                    let touched = TouchedRows::new(&batch.ids);
                    let rows = GatheredRows::gather(model.embedding(), &touched, model.reads());
                    let x = rows.embedded(&touched, batch.size, batch.num_fields);
                    let out = model.forward_embedded(&x);
                    let mut loss = bce_with_logits(out.logit.clone(), labels);
                    if let Some(p) = l2_penalty(&x, config.embedding_l2) {
                        loss = loss + p;
                    }
                    let mut grads = loss.backward();
                    let row_grads = rows.take_grads(&mut grads);
                    let params = GradientsParams::from_grads(grads, &model);
                    model = optimizer.step(learning_rate, model, params);
                    let emb = model.embedding().clone();
                    model =
                        model.with_embedding(adam.step(table_learning_rate, emb, &rows, row_grads));
                    (out.logit, loss)
                }
            };
            let value = f64::from(loss.into_scalar::<f32>());
            steps += 1;
            check_loss("ID-model training", epoch, steps, value)?;
            loss_sum += value;
            window.push(
                &batch.labels,
                sigmoid(logits.inner())
                    .into_data()
                    .convert::<f32>()
                    .iter::<f32>(),
            );
            progress.inc(batch.size);
            if steps % 20 == 0 {
                progress.set_message(format!(
                    "loss {:.4} auc {:.4}, {:.1} rows/s",
                    loss_sum / steps as f64,
                    window.auc(),
                    progress.rows_per_second()
                ));
            }
        }
        progress.finish();
        let train_seconds = started.elapsed().as_secs_f64();
        let valid_eval = evaluate(&model.valid(), valid, config.eval_batch_size, &inner);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / steps.max(1) as f64,
            valid: valid_eval,
            train_seconds,
            samples_per_second: train.len() as f64 / train_seconds,
        };
        tracing::info!(
            "epoch {epoch}: train loss {:.4}, valid AUC {:.4} LogLoss {:.4}, {:.0} rows/s",
            record.train_loss,
            valid_eval.auc,
            valid_eval.logloss,
            record.samples_per_second
        );
        on_epoch(&record);
        history.push(record);
        let improved = best
            .as_ref()
            .is_none_or(|(auc, _, _)| valid_eval.auc > *auc);
        if improved {
            // `valid()`, not `clone()`: a clone shares the batch-norm running statistics
            // (burn's `RunningState` is an `Arc`), which later epochs would keep updating.
            best = Some((valid_eval.auc, epoch, model.valid()));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= config.patience {
                tracing::info!("no better validation AUC for {since_best} epochs: stopping");
                break;
            }
        }
    }
    let (_, best_epoch, best_model) = best.expect("at least one epoch");
    Ok(Fitted {
        model: best_model,
        history,
        best_epoch,
    })
}

/// The seed of epoch `epoch`'s unseen-value draws: apart from the batch order's
/// (`seed + epoch`).
fn dropout_seed(seed: u64, epoch: usize) -> u64 {
    seed.rotate_left(32) ^ 0x6f6f_765f_6472_6f70 ^ epoch as u64
}

/// Refuses a dropout whose field is not a column of rows with `num_fields` fields (the rows'
/// width is known only here; the rates are checked with the rest of the settings).
fn check_dropout_fields(dropouts: &[OovDropout], num_fields: usize) -> Result<(), TrainError> {
    let mut c = crate::validate::Checker::new("oov_dropout");
    for (i, d) in dropouts.iter().enumerate() {
        c.require(d.field < num_fields, &format!("{i}.field"), || {
            format!(
                "is {}, but the rows have {num_fields} fields (0 to {})",
                d.field,
                num_fields.saturating_sub(1)
            )
        });
    }
    Ok(c.finish()?)
}

/// AUC over the most recent predictions, for the progress bar.
struct RunningAuc {
    labels: std::collections::VecDeque<u8>,
    probs: std::collections::VecDeque<f32>,
    capacity: usize,
}

impl RunningAuc {
    fn new(capacity: usize) -> Self {
        RunningAuc {
            labels: Default::default(),
            probs: Default::default(),
            capacity,
        }
    }

    fn push(&mut self, labels: &[f32], probs: impl Iterator<Item = f32>) {
        self.labels
            .extend(labels.iter().map(|&l| u8::from(l > 0.5)));
        self.probs.extend(probs);
        while self.labels.len() > self.capacity {
            self.labels.pop_front();
            self.probs.pop_front();
        }
    }

    fn auc(&self) -> f64 {
        let labels: Vec<u8> = self.labels.iter().copied().collect();
        let probs: Vec<f32> = self.probs.iter().copied().collect();
        auc(&labels, &probs).unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_matches_the_definition_and_is_stable() {
        let device = Device::flex();
        let logits = Tensor::<1>::from_floats([0.3, -2.0, 40.0, -40.0], &device);
        let labels = Tensor::<1>::from_floats([1.0, 0.0, 0.0, 1.0], &device);
        let got = bce_with_logits(logits, labels).into_scalar::<f32>();
        let s = |z: f32| 1.0 / (1.0 + (-z).exp());
        let expected = (-(s(0.3)).ln() - (1.0 - s(-2.0)).ln() + 40.0 + 40.0) / 4.0;
        assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
    }

    #[test]
    fn weighted_bce_sums_each_rows_loss_against_its_click_rate_times_its_weight() {
        let device = Device::flex();
        let logits = Tensor::<1>::from_floats([0.3, -2.0, 1.5], &device);
        let rates = Tensor::<1>::from_floats([0.75, 0.0, 0.5], &device);
        let weights = Tensor::<1>::from_floats([4.0, 2.0, 1.0], &device);
        let got = weighted_bce_sum(logits, rates, weights).into_scalar::<f32>();
        let s = |z: f32| 1.0 / (1.0 + (-z).exp());
        let bce = |z: f32, y: f32| -(y * s(z).ln() + (1.0 - y) * (1.0 - s(z)).ln());
        // Group 0 is four rows, three of them clicks: the same as those rows one by one.
        let expected = 3.0 * bce(0.3, 1.0) + bce(0.3, 0.0) + 2.0 * bce(-2.0, 0.0) + bce(1.5, 0.5);
        assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
    }
}
