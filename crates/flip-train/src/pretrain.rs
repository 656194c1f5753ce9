//! FLIP pretraining: both towers on the three alignment losses.
//!
//! AdamW with two parameter groups (the language model and everything else, each with its own
//! learning rate), a cosine schedule stepped once per epoch as the official code's
//! (`CosineAnnealingLR` over the epochs: a one-epoch run keeps its rate; per step on request), optional gradient clipping, one
//! checkpoint per epoch and one at interruption. Every random choice of a step — the batch
//! order, the masks, the noise ids and the dropout masks — derives from `(seed, epoch, step)`,
//! so `resume` continues exactly where an interrupted run stopped and ends with the same
//! numbers as an uninterrupted one (tested).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::store::{BurnpackStore, ModuleSnapshot};
use flip_align::{
    AlignConfig, FieldMasker, FlipPretrainer, MaskConfig, NoiseDistribution, ProjectionGeometry,
    chance_accuracy,
};
use flip_data::{Batcher, Padding, SplitData};
use serde::{Deserialize, Serialize};

use crate::adamw::FusedAdamW;
use crate::atomic::{sync_dir, write_atomically};
use crate::divergence::{Diverged, check_loss};
use crate::failpoint;
use crate::parallel::{Replicas, materialize};
use crate::plot::{Series, line_chart};
use crate::pretrain_step::{StepGradients, step_gradients};
use crate::progress::EpochProgress;
use crate::validate::Check;
use flip_data::durable::sync_tree;

/// Name prefix of the temporary folder a checkpoint is written to before it is renamed into
/// place.
const UNFINISHED_CHECKPOINT: &str = ".checkpoint-";
/// The settings a checkpoint was written with, inside its folder.
const CHECKPOINT_CONFIG: &str = "config.json";

/// Pretraining settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    /// Passes over the (possibly sampled) training rows. Default 1.
    pub epochs: usize,
    /// Rows per step. Default 32.
    pub batch_size: usize,
    /// Use a seeded random sample of this many training rows. Default: all.
    pub max_rows: Option<usize>,
    /// Learning rate of the ID tower and the heads. Default 1e-4 (the official launcher).
    pub learning_rate: f64,
    /// Learning rate of the language model. Default 1e-4.
    pub plm_learning_rate: f64,
    /// AdamW weight decay. Default 1e-3.
    pub weight_decay: f64,
    /// Clip each group's gradient norm to this. Default none.
    pub grad_clip_norm: Option<f64>,
    /// Decay the cosine schedule at every step instead of once per epoch (epoch `e` of `E`
    /// runs at `½(1 + cos(π e / E))` of the base rate, as the official code). Default false.
    pub cosine_per_step: bool,
    /// Raise both learning rates linearly over this many first steps (step `s` at
    /// `(s + 1) / n` of the scheduled rate). Default 0: none, as the official code.
    pub warmup_steps: usize,
    /// Draw the ID tower's embedding tables from `N(0, std²)` before pretraining instead of
    /// the backbone's own initialisation (the zoo's 1e-4, at which every row's ID projection
    /// starts nearly the same). Default none.
    pub id_embedding_std: Option<f64>,
    /// Start the ID tower from this burnpack file instead of its initialisation: a model of
    /// the same backbone trained on the same dataset (for example a run's
    /// `finetuned/flip-id-seed2012.bpk`), so that the language model is aligned with a click
    /// model rather than with a tower that learns alongside it. Not the paper's protocol (its
    /// towers both start untrained). Default none.
    pub id_start: Option<PathBuf>,
    /// The sha256 of `id_start`'s file, filled in when pretraining starts (and recorded in
    /// the run's settings, so that a run is reused only with the same file); given, it must
    /// match. Default none.
    pub id_start_sha256: Option<String>,
    /// Keep the ID tower's weights as they start: only the heads, the temperature and the
    /// language model learn (with `id_start`, the language model is aligned with that click
    /// model exactly as it is, while the heads keep `learning_rate`). Not the paper's
    /// protocol. Default false.
    pub freeze_id_tower: bool,
    /// Pad prompts to this length instead of the batch's longest (the official code pads to
    /// 100). Default none.
    pub pad_to: Option<usize>,
    /// Seed of the row sample, batch order, masks, noise and dropout. Default 2012.
    pub seed: u64,
    /// Steps between log lines. Default 10.
    pub log_every: usize,
    /// Masking.
    pub mask: MaskConfig,
    /// Heads and loss weights.
    pub align: AlignConfig,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            epochs: 1,
            batch_size: 32,
            max_rows: None,
            learning_rate: 1e-4,
            plm_learning_rate: 1e-4,
            weight_decay: 1e-3,
            grad_clip_norm: None,
            cosine_per_step: false,
            warmup_steps: 0,
            id_embedding_std: None,
            id_start: None,
            id_start_sha256: None,
            freeze_id_tower: false,
            pad_to: None,
            seed: 2012,
            log_every: 10,
            mask: MaskConfig::default(),
            align: AlignConfig::default(),
        }
    }
}

/// The cosine schedule's share of the base learning rate at `step` (0-based) of a run of
/// `epochs` epochs of `steps_per_epoch` steps: `½(1 + cos(π e / E))` for the step's epoch `e`,
/// or with `per_step` `½(1 + cos(π s / S))` over all `S` steps.
pub fn cosine_factor(step: u64, steps_per_epoch: usize, epochs: usize, per_step: bool) -> f64 {
    let progress = if per_step {
        step as f64 / (steps_per_epoch * epochs).max(1) as f64
    } else {
        (step as usize / steps_per_epoch.max(1)) as f64 / epochs.max(1) as f64
    };
    0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// The linear warm-up's share of the scheduled rate at `step` (0-based): `(step + 1) / warmup`
/// during the first `warmup` steps, 1 after (and always 1 without warm-up).
pub fn warmup_factor(step: u64, warmup: usize) -> f64 {
    if (step as usize) < warmup {
        (step + 1) as f64 / warmup as f64
    } else {
        1.0
    }
}

/// Means over the steps since the previous log line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Steps done (1-based) at the end of the window.
    pub step: u64,
    /// Epoch (1-based).
    pub epoch: usize,
    /// Total loss.
    pub loss: f64,
    /// Contrastive loss.
    pub icl: f64,
    /// MLM loss.
    pub mlm: f64,
    /// MLM accuracy.
    pub mlm_accuracy: f64,
    /// MTM loss.
    pub mtm: f64,
    /// MTM accuracy (true id at or above every noise id, ties to the target as the official
    /// argmax).
    pub mtm_accuracy: f64,
    /// The MTM accuracy of scores that know nothing, for the noise ids drawn
    /// ([`flip_align::chance_accuracy`]; 0 with MTM off).
    #[serde(default)]
    pub mtm_chance: f64,
    /// Mean cosine between two rows' ID projections in a batch (1: every row projects to the
    /// same direction). 0 with the contrastive loss off.
    #[serde(default)]
    pub id_cosine: f64,
    /// Mean cosine between two rows' text projections in a batch.
    #[serde(default)]
    pub text_cosine: f64,
    /// Mean cosine of a row's two projections minus that of unmatched pairs, as the
    /// contrastive loss compares them (batch-centred with `align.center`; 0: no alignment
    /// beyond chance).
    #[serde(default)]
    pub pair_gap: f64,
    /// The contrastive temperature at the end of the window.
    #[serde(default)]
    pub temperature: f64,
    /// Learning rate of the heads and ID tower.
    pub learning_rate: f64,
    /// Training rows per second over the window.
    pub samples_per_second: f64,
}

impl StepRecord {
    fn add(&mut self, other: &StepRecord) {
        self.loss += other.loss;
        self.icl += other.icl;
        self.mlm += other.mlm;
        self.mlm_accuracy += other.mlm_accuracy;
        self.mtm += other.mtm;
        self.mtm_accuracy += other.mtm_accuracy;
        self.mtm_chance += other.mtm_chance;
    }

    fn scaled(mut self, n: f64) -> Self {
        for v in [
            &mut self.loss,
            &mut self.icl,
            &mut self.mlm,
            &mut self.mlm_accuracy,
            &mut self.mtm,
            &mut self.mtm_accuracy,
            &mut self.mtm_chance,
        ] {
            *v /= n;
        }
        self
    }
}

/// Where a run stands, saved with every checkpoint; [`Default`] is a run that has not started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainState {
    /// Epoch in progress (0-based).
    pub epoch: usize,
    /// Steps of that epoch already done.
    pub step_in_epoch: usize,
    /// Steps done in all.
    pub global_step: u64,
    /// The log so far.
    pub records: Vec<StepRecord>,
    /// True once every epoch is done.
    pub finished: bool,
    /// Wall seconds spent in the training loop so far, summed over every invocation of a
    /// resumed run (checkpoint writes included); `None` when the run resumed from a checkpoint
    /// that did not record it.
    #[serde(default)]
    pub seconds: Option<f64>,
}

impl Default for PretrainState {
    /// No step done, no time spent (a known zero, unlike a checkpoint without `seconds`).
    fn default() -> Self {
        Self {
            epoch: 0,
            step_in_epoch: 0,
            global_step: 0,
            records: Vec::new(),
            finished: false,
            seconds: Some(0.0),
        }
    }
}

/// What [`PretrainRun::run`] returns.
pub struct Pretrained {
    /// The model after the last step done.
    pub model: FlipPretrainer,
    /// Where the run stands.
    pub state: PretrainState,
    /// True when stopped by `stop` before the end (a checkpoint was written).
    pub interrupted: bool,
}

/// Errors of the pretraining loop.
#[derive(Debug, thiserror::Error)]
pub enum PretrainError {
    /// The settings cannot run (checked before any work).
    #[error(transparent)]
    Invalid(#[from] crate::validate::InvalidSettings),
    /// A step's loss was not finite; the last checkpoint (if any) is kept as it was.
    #[error(transparent)]
    Diverged(#[from] Diverged),
    /// A checkpoint could not be written or read.
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

fn ckpt_error(path: &Path, e: impl std::fmt::Display) -> PretrainError {
    PretrainError::Checkpoint {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// SplitMix64 of a step counter, for per-step device seeds.
fn step_seed(seed: u64, step: u64) -> u64 {
    let mut x = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The training rows used: all of them, or a seeded sample of `max_rows`.
pub fn training_rows(train: &SplitData, config: &PretrainConfig) -> SplitData {
    match config.max_rows {
        Some(n) if n < train.len() => {
            use rand::SeedableRng;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
            let mut rows: Vec<usize> =
                rand::seq::index::sample(&mut rng, train.len(), n).into_vec();
            rows.sort_unstable();
            train.subset(&rows)
        }
        _ => train.clone(),
    }
}

/// A pretraining run writing its checkpoint, log and plots under `run_dir`.
pub struct PretrainRun<'a> {
    /// Settings.
    pub config: &'a PretrainConfig,
    /// The rows to train on (see [`training_rows`]).
    pub data: &'a SplitData,
    /// Masks for the dataset.
    pub masker: &'a FieldMasker,
    /// MTM noise.
    pub noise: &'a NoiseDistribution,
    /// The tokenizer's padding id.
    pub pad_id: u32,
    /// The autodiff devices (one, or several sharing every batch).
    pub replicas: &'a Replicas,
    /// Output folder.
    pub run_dir: &'a Path,
}

impl PretrainRun<'_> {
    fn checkpoint_dir(&self) -> PathBuf {
        self.run_dir.join("checkpoint")
    }

    /// Where the previous checkpoint waits while a new one is renamed into place.
    fn previous_checkpoint_dir(&self) -> PathBuf {
        self.run_dir.join("checkpoint.previous")
    }

    /// The complete checkpoint to resume from: `checkpoint/`, or, when a crash came between
    /// the two renames of a swap, the previous one moved aside. A checkpoint folder is complete
    /// when it holds `state.json`, which is written last.
    fn resumable_checkpoint(&self) -> Option<PathBuf> {
        [self.checkpoint_dir(), self.previous_checkpoint_dir()]
            .into_iter()
            .find(|dir| dir.join("state.json").is_file())
    }

    /// Whether a checkpoint exists to resume from.
    pub fn has_checkpoint(&self) -> bool {
        self.resumable_checkpoint().is_some()
    }

    /// Trains `model`, first loading the checkpoint when `resume`. After every step `stop` is
    /// asked (with the number of steps done); when it says yes, a checkpoint is written and the
    /// run returns early.
    pub fn run(
        &self,
        mut model: FlipPretrainer,
        resume: bool,
        stop: &dyn Fn(u64) -> bool,
    ) -> Result<Pretrained, PretrainError> {
        let c = self.config;
        c.check()?;
        // Draw lazily initialised heads now, from the caller's seed, before any replica forks.
        materialize(&model);
        let make_optim = |clip_norm: Option<f64>| {
            FusedAdamW::new(c.weight_decay as f32).init(clip_norm.map(|norm| norm as f32))
        };
        let mut rest_optim = make_optim(c.grad_clip_norm);
        let mut plm_optim = make_optim(c.grad_clip_norm);
        let mut state = PretrainState::default();
        if resume && let Some(dir) = self.resumable_checkpoint() {
            let text =
                std::fs::read_to_string(dir.join("state.json")).map_err(|e| ckpt_error(&dir, e))?;
            state =
                serde_json::from_str(&text).map_err(|e| ckpt_error(&dir.join("state.json"), e))?;
            self.check_checkpoint_config(&dir)?;
            let mut store = BurnpackStore::from_file(dir.join("model.bpk"));
            model
                .load_from(&mut store)
                .map_err(|e| ckpt_error(&dir.join("model.bpk"), e))?;
            rest_optim = rest_optim
                .load(dir.join("optim-rest.bpk"))
                .map_err(|e| ckpt_error(&dir, e))?;
            plm_optim = plm_optim
                .load(dir.join("optim-plm.bpk"))
                .map_err(|e| ckpt_error(&dir, e))?;
            tracing::info!(
                "resuming from epoch {}, step {} of that epoch",
                state.epoch + 1,
                state.step_in_epoch
            );
        }
        if state.finished {
            return Ok(Pretrained {
                model,
                state,
                interrupted: false,
            });
        }
        // This invocation's share of the loop's wall time, added to the earlier ones'.
        let (seconds_before, leg_started) = (state.seconds, Instant::now());
        let loop_seconds = || seconds_before.map(|s| s + leg_started.elapsed().as_secs_f64());
        let padding = c.pad_to.map_or(Padding::Longest, Padding::Fixed);
        let steps_per_epoch = self.data.len().div_ceil(c.batch_size);
        let schedule = |step: u64, base: f64| {
            base * cosine_factor(step, steps_per_epoch, c.epochs, c.cosine_per_step)
                * warmup_factor(step, c.warmup_steps)
        };
        let noise_per_field = c.align.mtm.noise;
        let mut window = StepRecord::default();
        // Summed over the window's steps that have a geometry (batches of two rows or more).
        let mut window_geometry = (ProjectionGeometry::default(), 0usize);
        let mut window_steps = 0usize;
        let mut window_started = Instant::now();
        let mut window_rows = 0usize;
        while state.epoch < c.epochs {
            let epoch = state.epoch;
            let batches = Batcher::new(self.data, c.batch_size, padding, self.pad_id)
                .shuffled(c.seed.wrapping_add(epoch as u64));
            let mut progress = EpochProgress::new(
                &format!("pretrain {}/{}", epoch + 1, c.epochs),
                format!("pretraining epoch {}/{}", epoch + 1, c.epochs),
                steps_per_epoch,
                state.step_in_epoch,
            );
            for batch in batches.skip(state.step_in_epoch) {
                let step = state.global_step;
                self.replicas.seed(step_seed(c.seed, step));
                let masked = self.masker.mask(&batch, step);
                let noise = self
                    .noise
                    .draw(batch.size * masked.k * noise_per_field, c.seed, step);
                let mtm_chance = if c.align.mtm_weight > 0.0 {
                    chance_accuracy(&masked.tabular_targets, &noise, noise_per_field)
                } else {
                    0.0
                };
                let StepGradients {
                    record,
                    geometry,
                    plm: plm_grads,
                    rest: rest_grads,
                } = step_gradients(
                    &model,
                    &batch,
                    &masked,
                    noise,
                    &c.align,
                    c.freeze_id_tower,
                    self.replicas,
                );
                // Before the optimizer step: a diverged step changes no weight, and no
                // checkpoint is written after it.
                check_loss(
                    "pretraining",
                    epoch + 1,
                    state.step_in_epoch + 1,
                    record.loss,
                )?;
                window.add(&StepRecord {
                    mtm_chance,
                    ..record
                });
                if let Some(g) = geometry {
                    window_geometry = (window_geometry.0.plus(g), window_geometry.1 + 1);
                }
                let (lr, plm_lr) = (
                    schedule(step, c.learning_rate),
                    schedule(step, c.plm_learning_rate),
                );
                model = rest_optim.step(lr, model, rest_grads);
                model.plm = plm_optim.step(plm_lr, model.plm.clone(), plm_grads);
                failpoint::point(failpoint::points::PRETRAIN_STEP);
                state.global_step += 1;
                state.step_in_epoch += 1;
                window_steps += 1;
                window_rows += batch.size;
                progress.inc(batch.size);
                if window_steps == c.log_every.max(1) || state.step_in_epoch == steps_per_epoch {
                    let (sum, steps) = std::mem::take(&mut window_geometry);
                    let geometry = sum.scaled(steps.max(1) as f64);
                    let record = StepRecord {
                        step: state.global_step,
                        epoch: epoch + 1,
                        id_cosine: geometry.id_cosine,
                        text_cosine: geometry.text_cosine,
                        pair_gap: geometry.pair_gap,
                        temperature: f64::from(model.temperature()),
                        learning_rate: lr,
                        samples_per_second: window_rows as f64
                            / window_started.elapsed().as_secs_f64(),
                        ..std::mem::take(&mut window).scaled(window_steps as f64)
                    };
                    let summary = format!(
                        "loss {:.3} icl {:.3} (cos id {:.2} text {:.2} gap {:.3}) mlm {:.3} ({:.0}%) mtm {:.3} ({:.0}%) {:.1} rows/s",
                        record.loss,
                        record.icl,
                        record.id_cosine,
                        record.text_cosine,
                        record.pair_gap,
                        record.mlm,
                        100.0 * record.mlm_accuracy,
                        record.mtm,
                        100.0 * record.mtm_accuracy,
                        record.samples_per_second
                    );
                    progress.set_message(summary);
                    state.records.push(record);
                    (window_steps, window_rows, window_started) = (0, 0, Instant::now());
                }
                if stop(state.global_step) {
                    progress.abandon();
                    state.seconds = loop_seconds();
                    self.save_checkpoint(&model, &rest_optim, &plm_optim, &state)?;
                    tracing::info!(
                        "interrupted: checkpoint written at step {}; `--resume` continues",
                        state.global_step
                    );
                    return Ok(Pretrained {
                        model,
                        state,
                        interrupted: true,
                    });
                }
            }
            progress.finish();
            state.epoch += 1;
            state.step_in_epoch = 0;
            state.finished = state.epoch == c.epochs;
            state.seconds = loop_seconds();
            self.save_checkpoint(&model, &rest_optim, &plm_optim, &state)?;
            self.write_logs(&state)?;
        }
        Ok(Pretrained {
            model,
            state,
            interrupted: false,
        })
    }

    /// Writes a checkpoint so that a complete one exists at every instant, whatever moment a
    /// crash picks: the files go to a fresh temporary folder and are flushed to disk; the
    /// current checkpoint is renamed to `checkpoint.previous`, the new one renamed into place,
    /// and only then is the previous one removed.
    fn save_checkpoint(
        &self,
        model: &FlipPretrainer,
        rest: &burn::optim::ModuleOptimizer,
        plm: &burn::optim::ModuleOptimizer,
        state: &PretrainState,
    ) -> Result<(), PretrainError> {
        let (dir, previous) = (self.checkpoint_dir(), self.previous_checkpoint_dir());
        self.remove_unfinished_checkpoints()?;
        let staging = tempfile::Builder::new()
            .prefix(UNFINISHED_CHECKPOINT)
            .tempdir_in(self.run_dir)
            .map_err(|e| ckpt_error(self.run_dir, e))?;
        let tmp = staging.path();
        let mut store = BurnpackStore::from_file(tmp.join("model.bpk")).overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|e| ckpt_error(&tmp.join("model.bpk"), e))?;
        failpoint::point(failpoint::points::CHECKPOINT_PARTIAL);
        rest.save(tmp.join("optim-rest.bpk"))
            .map_err(|e| ckpt_error(tmp, e))?;
        plm.save(tmp.join("optim-plm.bpk"))
            .map_err(|e| ckpt_error(tmp, e))?;
        let config = serde_json::to_string_pretty(self.config).expect("settings serialize");
        std::fs::write(tmp.join(CHECKPOINT_CONFIG), config).map_err(|e| ckpt_error(tmp, e))?;
        let json = serde_json::to_string_pretty(state).expect("state serializes");
        std::fs::write(tmp.join("state.json"), json).map_err(|e| ckpt_error(tmp, e))?;
        sync_tree(tmp).map_err(|e| ckpt_error(tmp, e))?;
        let staged = staging.keep();
        if dir.join("state.json").is_file() {
            if previous.exists() {
                std::fs::remove_dir_all(&previous).map_err(|e| ckpt_error(&previous, e))?;
            }
            std::fs::rename(&dir, &previous).map_err(|e| ckpt_error(&dir, e))?;
            sync_dir(self.run_dir).map_err(|e| ckpt_error(self.run_dir, e))?;
        } else if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| ckpt_error(&dir, e))?;
        }
        failpoint::point(failpoint::points::CHECKPOINT_SWAP);
        std::fs::rename(&staged, &dir).map_err(|e| ckpt_error(&dir, e))?;
        sync_dir(self.run_dir).map_err(|e| ckpt_error(self.run_dir, e))?;
        if previous.exists() {
            std::fs::remove_dir_all(&previous).map_err(|e| ckpt_error(&previous, e))?;
        }
        self.write_logs(state)
    }

    /// Refuses a checkpoint written with other settings (a resumed run would silently mix
    /// them), naming the keys that differ.
    fn check_checkpoint_config(&self, dir: &Path) -> Result<(), PretrainError> {
        let path = dir.join(CHECKPOINT_CONFIG);
        if !path.is_file() {
            return Err(ckpt_error(
                &path,
                "missing: the checkpoint was written before checkpoints recorded their settings, \
                 so resuming it cannot be checked; start a new run folder",
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ckpt_error(&path, e))?;
        let written: PretrainConfig =
            serde_json::from_str(&text).map_err(|e| ckpt_error(&path, e))?;
        let changes = crate::experiment::differences(&written, self.config)
            .map_err(|e| ckpt_error(&path, e))?;
        if changes.is_empty() {
            return Ok(());
        }
        Err(ckpt_error(
            &path,
            format!(
                "this checkpoint was written with other settings (checkpoint -> now):\n{}\n\
                 resume with the same settings, or start a new run folder",
                crate::experiment::describe_differences(&changes)
            ),
        ))
    }

    /// Removes the temporary folders of checkpoint writes that a crash interrupted (never read).
    fn remove_unfinished_checkpoints(&self) -> Result<(), PretrainError> {
        let entries = std::fs::read_dir(self.run_dir).map_err(|e| ckpt_error(self.run_dir, e))?;
        for entry in entries.flatten() {
            let unfinished = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(UNFINISHED_CHECKPOINT));
            if unfinished && entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path()).map_err(|e| ckpt_error(&entry.path(), e))?;
            }
        }
        Ok(())
    }

    /// `pretrain.jsonl` and the PNG curves from the records so far.
    fn write_logs(&self, state: &PretrainState) -> Result<(), PretrainError> {
        let path = self.run_dir.join("pretrain.jsonl");
        let mut text = String::new();
        for r in &state.records {
            text.push_str(&serde_json::to_string(r).expect("records serialize"));
            text.push('\n');
        }
        write_atomically(&path, text.as_bytes()).map_err(|e| ckpt_error(&path, e))?;
        if state.records.len() >= 2 {
            let series = |name: &str, f: fn(&StepRecord) -> f64| Series {
                name: name.into(),
                points: state
                    .records
                    .iter()
                    .map(|r| (r.step as f64, f(r)))
                    .collect(),
            };
            let on = |w: f64| w > 0.0;
            let a = &self.config.align;
            let mut losses = Vec::new();
            if on(a.icl_weight) {
                losses.push(series("ICL (InfoNCE)", |r| r.icl));
            }
            if on(a.mlm_weight) {
                losses.push(series("MLM", |r| r.mlm));
            }
            if on(a.mtm_weight) {
                losses.push(series("MTM (NCE)", |r| r.mtm));
            }
            let mut plots = vec![
                ("pretrain-losses.png", "Pretraining losses", "loss", losses),
                (
                    "pretrain-accuracy.png",
                    "Pretraining accuracies",
                    "accuracy",
                    vec![
                        series("MLM token accuracy", |r| r.mlm_accuracy),
                        series("MTM: true id at or above all noise ids", |r| r.mtm_accuracy),
                        series("MTM chance (empirical)", |r| r.mtm_chance),
                    ],
                ),
            ];
            if on(a.icl_weight) {
                plots.push((
                    "pretrain-cosine.png",
                    "Contrastive projections: cosines within a batch",
                    "cosine",
                    vec![
                        series("ID rows, pairwise", |r| r.id_cosine),
                        series("text rows, pairwise", |r| r.text_cosine),
                        series("own pair minus other pairs (ID vs text)", |r| r.pair_gap),
                    ],
                ));
            }
            for (file, title, y, s) in plots {
                let path = self.run_dir.join(file);
                line_chart(&path, title, "step", y, &s).map_err(|e| ckpt_error(&path, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{cosine_factor, warmup_factor};

    #[test]
    fn warm_up_rises_linearly_then_holds() {
        assert_eq!(warmup_factor(0, 0), 1.0);
        assert_eq!(warmup_factor(5, 0), 1.0);
        assert_eq!(warmup_factor(0, 4), 0.25);
        assert_eq!(warmup_factor(1, 4), 0.5);
        assert_eq!(warmup_factor(3, 4), 1.0);
        assert_eq!(warmup_factor(100, 4), 1.0);
    }

    #[test]
    fn the_cosine_schedule_steps_once_per_epoch_unless_asked_per_step() {
        // One epoch: the official schedule keeps the base rate throughout.
        for step in [0, 63, 127] {
            assert_eq!(cosine_factor(step, 128, 1, false), 1.0);
        }
        // Two epochs of 10 steps: the base rate, then ½(1 + cos(π/2)) = ½.
        assert_eq!(cosine_factor(9, 10, 2, false), 1.0);
        assert!((cosine_factor(10, 10, 2, false) - 0.5).abs() < 1e-12);
        assert!((cosine_factor(19, 10, 2, false) - 0.5).abs() < 1e-12);
        // Per step: halfway through one epoch is half the rate, the mean over it is ½.
        assert!((cosine_factor(64, 128, 1, true) - 0.5).abs() < 1e-12);
        let mean = (0..128)
            .map(|s| cosine_factor(s, 128, 1, true))
            .sum::<f64>()
            / 128.0;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }
}
