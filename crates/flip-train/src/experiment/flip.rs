//! The FLIP experiment on one dataset: pretraining (and, when asked, its ablations), then for
//! every seed the ID backbone from scratch, FLIP_ID, the language model without alignment,
//! FLIP_PLM and FLIP, each scored on the same sampled test rows; a report after every seed.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use flip_train::experiment::{Experiment, FlipSettings, model_named, preset_named};
//! let dataset = flip_data::PreparedDataset::open("prepared/ml-100k-temporal".as_ref())?;
//! let settings = FlipSettings::from_preset(
//!     &preset_named("cpu-quick")?,
//!     model_named("dcnv2")?,
//!     "models/minilm".into(),
//! );
//! let device = burn::tensor::Device::flex();
//! let mut experiment = Experiment::new(dataset, settings, "runs/flip", device)?;
//! let report = experiment.run()?;
//! println!("{}", report.markdown);
//! # Ok(()) }
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use flip_data::{PreparedDataset, Split, SplitData};
use flip_id_models::{CtrNet, InputShape};
use flip_plm::{LoadOptions, Plm, Pooling, load};

use super::flip_report::{self, Report};
use super::interrupt::Interrupt;
use super::run_dir::{claim, release_if_unused};
use super::saved::{SavedRun, load_module, save_module};
use super::settings::FlipSettings;
use super::towers::{Towers, check_prompt_length, field_rows, input_shape, pretrain_towers};
use super::user_segments::{ByUser, UserField, UserSegments};
use super::variants::{Ablation, Finished, Variant, curve, sample, sample_apart};
use crate::atomic::{write_atomically, write_json_atomically};
use crate::ctr::{CtrTrainConfig, EpochRecord, Evaluation, evaluate, fit, predict};
use crate::finetune::{
    FinetuneConfig, JointProtocol, TextClassifier, evaluate_text, finetune, text_scores,
    tower_logits,
};
use crate::metrics::{auc, prior_log_loss};
use crate::mixing::{MixtureInHindsight, mixing_weight_by_auc};
use crate::oov_dropout::OovDropout;
use crate::parallel::Replicas;
use crate::plot::{Series, line_chart};
use crate::report::SeedOutcome;
use crate::validate::Check;

/// The splits every variant trains and is scored on.
struct Rows {
    /// All training rows (the ID-only variants).
    train: SplitData,
    /// The sample the language-model variants train on.
    train_sample: SplitData,
    /// Sampled validation rows (early stopping).
    valid: SplitData,
    /// The whole validation split (early stopping of the ID-only variants, when the settings
    /// say so).
    full_valid: SplitData,
    /// As many other validation rows (none when fewer are left): the staged protocol chooses
    /// FLIP's `α` and epoch on rows that selected neither tower's epoch.
    mixing: Option<SplitData>,
    /// Sampled test rows (every variant).
    test: SplitData,
    /// The whole test split (the ID-only variants, when `test` is a sample).
    full_test: SplitData,
    /// The whole test split's rows by whether their user was seen in training (none when the
    /// recipe names no user field or every row falls on one side).
    test_users: Option<UserSegments>,
}

impl Rows {
    /// The validation rows that choose FLIP's `α` and epoch in the staged protocol: those apart
    /// from the early-stopping rows, else (too few others) the early-stopping rows.
    fn selecting_flip(&self) -> &SplitData {
        self.mixing.as_ref().unwrap_or(&self.valid)
    }
}

/// The whole FLIP experiment in one run folder. [`Experiment::run`] does everything in order;
/// [`Experiment::pretrain`] and [`Experiment::finetune`] run single stages, and
/// [`Experiment::report`] writes the report of what ran.
pub struct Experiment {
    dataset: PreparedDataset,
    settings: FlipSettings,
    dir: PathBuf,
    devices: Vec<Device>,
    /// Whether this experiment made its run folder (removed again when pretraining fails
    /// before doing anything).
    created_dir: bool,
    resume: bool,
    interrupt: Interrupt,
    shape: InputShape,
    pad_id: u32,
    /// How the language model is pooled: the settings' pooling, else the model folder's (the
    /// pretrained folder keeps it).
    pooling: Pooling,
    rows: Rows,
    /// The user field's unseen-value dropout of every ID-only variant
    /// ([`FlipSettings::unseen_user_rate`]), resolved against the dataset.
    user_dropout: Option<OovDropout>,
    /// The embedding rows FLIP_ID draws fresh ([`FlipSettings::id_fresh_fields`]).
    fresh_rows: Vec<Range<usize>>,
    towers: Option<Towers>,
    ablated: Vec<(Ablation, Towers)>,
    /// The backbone from scratch that pretraining trained first to start its ID tower from
    /// ([`FlipSettings::pretrain_from_trained_id`]): its seed and outcomes, which that seed's
    /// "from scratch" row takes instead of training it again.
    trained_start: Option<(u64, Scored)>,
    /// Outcomes per report row, in the order they first ran.
    results: Vec<(String, Vec<SeedOutcome>)>,
    curves: Vec<Series>,
    timings: Vec<(String, f64)>,
    /// FLIP's mixture on the full test split in hindsight, per seed, in the order they ran.
    mixtures: Vec<(u64, MixtureInHindsight)>,
    started: Instant,
}

impl Experiment {
    /// An experiment with `settings` on `dataset` in the run folder `dir`, computing on
    /// `device`. The folder is claimed: one that a run with other settings made is refused
    /// (naming the keys that differ), a new one gets `settings.toml`.
    pub fn new(
        dataset: PreparedDataset,
        settings: FlipSettings,
        dir: impl Into<PathBuf>,
        device: Device,
    ) -> Result<Self> {
        let dir = dir.into();
        settings.check()?;
        let pooling = match settings.pretraining.pooling {
            Some(p) => p,
            None => Pooling::of_folder(&settings.pretraining.plm)?,
        };
        let user_dropout = match settings.unseen_user_rate {
            None => None,
            Some(rate) => {
                let user = UserField::of_dataset(&dataset)?.with_context(|| {
                    format!(
                        "unseen_user_rate is set, but the recipe of {} names no field with \
                         role = \"user\"",
                        dataset.dir().display()
                    )
                })?;
                Some(user.dropout(rate))
            }
        };
        let fresh_rows = field_rows(dataset.meta(), &settings.id_fresh_fields, "id_fresh_fields")?;
        let created_dir = !dir.exists();
        claim(&dir, &dataset, &settings)?;
        let meta = dataset.meta();
        let load = |split| {
            dataset.load(split).inspect_err(|_| {
                if created_dir {
                    release_if_unused(&dir);
                }
            })
        };
        let (full_test, train, valid) =
            (load(Split::Test)?, load(Split::Train)?, load(Split::Valid)?);
        let test_users = UserSegments::of_dataset(&dataset, &full_test)?;
        let rows = Rows {
            train_sample: sample(&train, settings.finetune_rows, 2012),
            mixing: sample_apart(&valid, settings.eval_rows, settings.eval_rows, 2013, 2015),
            valid: sample(&valid, settings.eval_rows, 2013),
            test: sample(&full_test, settings.eval_rows, 2014),
            full_valid: valid,
            full_test,
            test_users,
            train,
        };
        Ok(Experiment {
            shape: input_shape(&dataset),
            pad_id: meta.tokenizer.pad_id,
            pooling,
            dataset,
            settings,
            dir,
            devices: vec![device],
            created_dir,
            resume: false,
            interrupt: Interrupt::new(),
            rows,
            user_dropout,
            fresh_rows,
            towers: None,
            ablated: Vec::new(),
            trained_start: None,
            results: Vec::new(),
            curves: Vec::new(),
            timings: Vec::new(),
            mixtures: Vec::new(),
            started: Instant::now(),
        })
    }

    /// Computes on `devices` instead: the first runs everything; pretraining and the
    /// language-model variants share every batch among all of them (data parallel).
    pub fn on_devices(mut self, devices: Vec<Device>) -> Self {
        if !devices.is_empty() {
            self.devices = devices;
        }
        self
    }

    /// Continue an interrupted run: pretraining from its checkpoint, finished variants read
    /// back from their records instead of trained again.
    pub fn resuming(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Stop requests (Ctrl-C): pretraining stops after its step, with a checkpoint.
    pub fn with_interrupt(mut self, interrupt: Interrupt) -> Self {
        self.interrupt = interrupt;
        self
    }

    /// The settings.
    pub fn settings(&self) -> &FlipSettings {
        &self.settings
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The prepared dataset.
    pub fn dataset(&self) -> &PreparedDataset {
        &self.dataset
    }

    fn backbone(&self) -> &'static str {
        self.settings.pretraining.backbone.name()
    }

    /// Pretrains both towers into `pretrain/` (reused when finished, continued from its
    /// checkpoint when resuming) and, with `ablations`, each ablation into
    /// `pretrain-<ablation>/`; writes `models/run.json` for scoring. Runs once. With
    /// [`FlipSettings::pretrain_from_trained_id`], the backbone from scratch with the
    /// pretraining's seed is trained first (unless its saved model is there) and every
    /// pretraining starts its ID tower from it.
    pub fn pretrain(&mut self) -> Result<&Towers> {
        if self.towers.is_none() {
            let mut pretraining = self.settings.pretraining.clone();
            if let Some((seed, path)) = self.trained_start_file() {
                if !path.is_file() {
                    self.train_start(seed)?;
                }
                pretraining.pretrain.id_start = Some(path);
            }
            let towers = pretrain_towers(
                &self.dataset,
                &pretraining,
                &self.dir.join("pretrain"),
                &self.devices,
                self.resume,
                &self.interrupt,
            )
            .inspect_err(|_| {
                if self.created_dir && release_if_unused(&self.dir) {
                    tracing::info!("{}: removed (nothing was done in it)", self.dir.display());
                }
            })?;
            self.timings
                .push(("pretraining".to_owned(), towers.seconds));
            if self.settings.ablations {
                for ablation in Ablation::ALL {
                    let mut settings = pretraining.clone();
                    let align = &mut settings.pretrain.align;
                    [align.icl_weight, align.mlm_weight, align.mtm_weight] = ablation.weights();
                    let t = pretrain_towers(
                        &self.dataset,
                        &settings,
                        &self.dir.join(format!("pretrain-{}", ablation.name())),
                        &self.devices,
                        self.resume,
                        &self.interrupt,
                    )?;
                    self.timings
                        .push((format!("pretraining, {}", ablation.name()), t.seconds));
                    self.ablated.push((ablation, t));
                }
            }
            let saved = SavedRun {
                dataset: self.dataset.dir().to_owned(),
                dataset_hash: Some(self.dataset.meta().hash.clone()),
                plm_dir: towers.plm_dir(),
                plm_layers: self.settings.pretraining.plm_layers,
                backbone: towers.backbone.clone(),
                gated_alpha: self.settings.finetune.gated_alpha,
                pooling: self.pooling,
            };
            write_json_atomically(&self.dir.join("models").join("run.json"), &saved)
                .context("writing models/run.json")?;
            self.towers = Some(towers);
        }
        Ok(self.towers.as_ref().expect("pretrained above"))
    }

    /// With [`FlipSettings::pretrain_from_trained_id`]: the pretraining's seed and the file its
    /// ID tower starts from, the saved backbone from scratch with that seed.
    fn trained_start_file(&self) -> Option<(u64, PathBuf)> {
        self.settings.pretrain_from_trained_id.then(|| {
            let seed = self.settings.pretraining.pretrain.seed;
            let key = Variant::Scratch.key(self.backbone());
            (seed, self.finetuned_path(&key, seed))
        })
    }

    /// Trains the backbone from scratch with `seed` (on all rows, exactly as its report row,
    /// which then takes these outcomes) and saves it as [`Experiment::trained_start_file`].
    fn train_start(&mut self, seed: u64) -> Result<()> {
        tracing::info!(
            "pretraining starts its ID tower from {} from scratch, seed {seed}: training that first",
            self.backbone()
        );
        let device = self.devices[0].clone().autodiff();
        let (backbone, shape) = (self.settings.pretraining.backbone.clone(), self.shape);
        let scored = self.id_variant(
            Variant::Scratch,
            |d| Ok(backbone.init(shape, d)),
            seed,
            &device,
        )?;
        self.trained_start = Some((seed, scored));
        Ok(())
    }

    /// The variants [`Experiment::run`] finetunes for every seed, in order.
    pub fn variants(&self) -> Vec<Variant> {
        let mut out = vec![Variant::Scratch, Variant::FlipId];
        if self.rows.train_sample.len() < self.rows.train.len() {
            out.extend([Variant::ScratchOnSample, Variant::FlipIdOnSample]);
        }
        out.extend(self.ablated.iter().map(|&(a, _)| Variant::FlipIdAblated(a)));
        if !self.settings.id_only {
            out.extend([Variant::Plm, Variant::FlipPlm, Variant::Flip]);
        }
        out
    }

    /// Finetunes `variant` with `seed` (pretraining first if it has not run), scores it on the
    /// test rows (and on the full test split when those are a sample) and adds it to the
    /// report's rows. With resume, a variant finished before is read back. The first seed's
    /// FLIP_ID and FLIP are saved under `models/` for scoring. With the staged protocol, FLIP
    /// needs this seed's FLIP_ID and FLIP_PLM finetuned first (the order of
    /// [`Experiment::variants`]).
    pub fn finetune(&mut self, variant: Variant, seed: u64) -> Result<SeedOutcome> {
        self.pretrain()?;
        let towers = self.towers.clone().expect("pretrained");
        let device = self.devices[0].clone().autodiff();
        let backbone = self.backbone();
        let (outcome, full, by_user) = match variant {
            Variant::Scratch if self.trained_start.as_ref().is_some_and(|(s, _)| *s == seed) => {
                self.trained_start.take().expect("checked").1
            }
            Variant::Scratch | Variant::ScratchOnSample => {
                let shape = self.shape;
                self.id_variant(
                    variant,
                    |d| Ok(towers.backbone.init(shape, d)),
                    seed,
                    &device,
                )?
            }
            Variant::FlipId | Variant::FlipIdOnSample => {
                let (transfer, shape) = (self.settings.id_transfer, self.shape);
                let fresh_rows = self.fresh_rows.clone();
                self.id_variant(
                    variant,
                    |d| towers.id_model_transferring(transfer, &fresh_rows, shape, d),
                    seed,
                    &device,
                )?
            }
            Variant::FlipIdAblated(a) => {
                let t = self
                    .ablated
                    .iter()
                    .find(|(b, _)| *b == a)
                    .map(|(_, t)| t.clone())
                    .with_context(|| {
                        format!(
                            "the ablation {} was not pretrained (ablations off)",
                            a.name()
                        )
                    })?;
                let shape = self.shape;
                self.id_variant(variant, |d| t.id_model(shape, d), seed, &device)?
            }
            Variant::Plm | Variant::FlipPlm | Variant::Flip => {
                let replicas = Replicas::new(
                    std::iter::once(device.clone())
                        .chain(self.devices[1..].iter().map(|d| d.clone().autodiff()))
                        .collect(),
                );
                self.text_variant(variant, seed, &replicas)?
            }
        };
        self.add(variant.label(backbone), outcome.clone());
        if let Some(f) = full {
            self.add(variant.full_test_label(backbone), f);
        }
        if let Some(by_user) = by_user {
            let labels = variant.user_labels(backbone);
            self.add(labels.seen, by_user.seen);
            self.add(labels.unseen, by_user.unseen);
        }
        Ok(outcome)
    }

    /// The whole experiment: pretraining, then every variant of [`Experiment::variants`] for
    /// every seed, the report rewritten after each seed; then the validation curves.
    pub fn run(&mut self) -> Result<Report> {
        self.pretrain()?;
        let mut report = None;
        for seed in self.settings.seeds.clone() {
            self.devices[0].clone().autodiff().seed(seed);
            for variant in self.variants() {
                self.finetune(variant, seed)?;
            }
            report = Some(self.report()?);
        }
        if !self.curves.is_empty() {
            let _ = line_chart(
                &self.dir.join("valid-auc.png"),
                "Validation AUC per epoch (seed 2012)",
                "epoch",
                "AUC",
                &self.curves,
            );
        }
        report.context("no seeds to run")
    }

    /// Writes `report.md` and `results.json` for what has run so far and returns them.
    pub fn report(&self) -> Result<Report> {
        let preset = self.settings.pretraining.preset()?;
        let report = flip_report::build(&flip_report::Inputs {
            meta: self.dataset.meta(),
            settings: &self.settings,
            preset: &preset,
            dir: &self.dir,
            rows: &self.results,
            timings: &self.timings,
            seconds: self.started.elapsed().as_secs_f64(),
            counts: flip_report::RowCounts {
                train: self.rows.train.len(),
                train_sample: self.rows.train_sample.len(),
                valid: self.rows.valid.len(),
                test: self.rows.test.len(),
                mixing: self.rows.mixing.as_ref().map(SplitData::len),
                test_users: self.rows.test_users.as_ref().map(|users| ByUser {
                    seen: users.seen.len(),
                    unseen: users.unseen.len(),
                }),
            },
            pooling: self.pooling,
            prior: self.prior(),
            id_tower_click: self.towers.as_ref().and_then(|t| t.id_tower_click),
            mixtures: &self.mixtures,
        })?;
        write_atomically(&self.dir.join("report.md"), report.markdown.as_bytes())?;
        write_atomically(
            &self.dir.join("results.json"),
            serde_json::to_string_pretty(&report.json)?.as_bytes(),
        )?;
        Ok(report)
    }

    /// The prior's LogLoss on the test rows (and the full test split when they are a sample).
    fn prior(&self) -> flip_report::Prior {
        let rows = &self.rows;
        let (click_rate, test_logloss) = prior_log_loss(&rows.train.labels, &rows.test.labels);
        let full_test_logloss = (rows.full_test.len() != rows.test.len())
            .then(|| prior_log_loss(&rows.train.labels, &rows.full_test.labels).1);
        flip_report::Prior {
            click_rate,
            test_logloss,
            full_test_logloss,
        }
    }

    fn add(&mut self, name: String, outcome: SeedOutcome) {
        match self.results.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(outcome),
            None => self.results.push((name, vec![outcome])),
        }
    }

    /// The trainer of an ID-only variant: the ID settings on all rows (FLIP_ID at its own
    /// learning rates when set); on the language model's sample, the language-model
    /// variants' batch size, epochs, patience and ID learning rate, so that "on the same rows"
    /// compares like with like. Every one hides users at the settings' unseen-user rate.
    fn id_config(&self, variant: Variant, seed: u64) -> CtrTrainConfig {
        let mut id = self.settings.id_training.clone();
        id.oov_dropout.extend(self.user_dropout.clone());
        match variant {
            Variant::ScratchOnSample | Variant::FlipIdOnSample => {
                let text = &self.settings.finetune;
                CtrTrainConfig {
                    seed,
                    batch_size: text.batch_size,
                    max_epochs: text.max_epochs,
                    patience: text.patience,
                    learning_rate: text.learning_rate,
                    ..id.clone()
                }
            }
            Variant::FlipId | Variant::FlipIdAblated(_) => CtrTrainConfig {
                seed,
                learning_rate: self
                    .settings
                    .flip_id_learning_rate
                    .unwrap_or(id.learning_rate),
                embedding_learning_rate: self
                    .settings
                    .flip_id_embedding_learning_rate
                    .or(id.embedding_learning_rate),
                ..id.clone()
            },
            _ => CtrTrainConfig { seed, ..id.clone() },
        }
    }

    /// An ID-only variant: its model built by `build` and trained, unless resume finds it
    /// finished; scored on the test rows and the full test split, whole and by user.
    fn id_variant(
        &mut self,
        variant: Variant,
        build: impl FnOnce(&Device) -> Result<CtrNet>,
        seed: u64,
        device: &Device,
    ) -> Result<Scored> {
        let backbone = self.backbone();
        let name = variant.key(backbone);
        // The model pretraining starts from, when it is this one and not saved yet: trained
        // again even where a finished record exists, to save it.
        let start_file = self
            .trained_start_file()
            .filter(|(s, path)| variant == Variant::Scratch && *s == seed && !path.is_file())
            .map(|(_, path)| path);
        if start_file.is_none()
            && let Some(done) = self.finished(&name, seed)
        {
            return Ok((done.outcome, done.full, done.by_user));
        }
        // Seeded before the model is built: some parameters are drawn when built, others at
        // first use; all from the variant's stream, never from whatever state the variants
        // before this one (trained now, or reused by resume) left behind.
        device.seed(variant.seed(backbone, seed));
        let model = build(device)?;
        let started = Instant::now();
        let config = self.id_config(variant, seed);
        let train = match variant {
            Variant::ScratchOnSample | Variant::FlipIdOnSample => &self.rows.train_sample,
            _ => &self.rows.train,
        };
        let valid = if self.settings.id_valid_all_rows {
            &self.rows.full_valid
        } else {
            &self.rows.valid
        };
        let mut log = String::new();
        let fitted = fit(model, train, valid, &config, device, |r| {
            push_record(&mut log, r)
        });
        self.write_log(&name, seed, &log);
        let fitted = fitted.with_context(|| format!("{name}, seed {seed}"))?;
        if let Some(path) = &start_file {
            save_module(&fitted.model, path)?;
        }
        if variant == Variant::FlipId {
            if seed == 2012 {
                save_module(&fitted.model, &self.dir.join("models").join("flip-id.bpk"))?;
            }
            if self.settings.joint == JointProtocol::Staged {
                save_module(&fitted.model, &self.finetuned_path(&name, seed))?;
            }
        }
        let (scoring, batch) = (&self.devices[0], config.eval_batch_size);
        let metrics = self.test_metrics(
            &predict(&fitted.model, &self.rows.full_test, batch, scoring),
            |sample| evaluate(&fitted.model, sample, batch, scoring),
        );
        let done = metrics.finished(
            |test| SeedOutcome::of_fit(seed, test, &fitted.history, fitted.best_epoch),
            curve(&fitted.history),
            started.elapsed().as_secs_f64(),
        );
        Ok(self.finish(&name, seed, done))
    }

    /// A variant with the language model: built ([`Experiment::text_model`]) and finetuned on
    /// the sample unless resume finds it finished; scored on the test rows and the full test
    /// split, whole and by user.
    fn text_variant(&mut self, variant: Variant, seed: u64, replicas: &Replicas) -> Result<Scored> {
        let backbone = self.backbone();
        let name = variant.key(backbone);
        if let Some(done) = self.finished(&name, seed) {
            return Ok((done.outcome, done.full, done.by_user));
        }
        replicas.seed(variant.seed(backbone, seed));
        let started = Instant::now();
        let model = self.text_model(variant, seed, replicas.main())?;
        let staged = variant == Variant::Flip && self.settings.joint == JointProtocol::Staged;
        let ft = &self.settings.finetune;
        let config = FinetuneConfig {
            seed,
            keep_start: ft.keep_start || staged,
            learning_rate: if staged {
                ft.staged_learning_rate
            } else {
                ft.learning_rate
            },
            max_epochs: match ft.staged_max_epochs {
                Some(epochs) if staged => epochs,
                _ => ft.max_epochs,
            },
            ..ft.clone()
        };
        let mut log = String::new();
        let fitted = finetune(
            model,
            &self.rows.train_sample,
            if staged {
                self.rows.selecting_flip()
            } else {
                &self.rows.valid
            },
            self.pad_id,
            &config,
            replicas,
            |r| push_record(&mut log, r),
        );
        self.write_log(&name, seed, &log);
        let fitted = fitted.with_context(|| format!("{name}, seed {seed}"))?;
        if variant == Variant::Flip && seed == 2012 {
            save_module(&fitted.model, &self.dir.join("models").join("flip.bpk"))?;
        }
        if variant == Variant::FlipPlm && self.settings.joint == JointProtocol::Staged {
            save_module(&fitted.model, &self.finetuned_path(&name, seed))?;
        }
        if variant == Variant::Flip {
            tracing::info!(
                "FLIP ({} protocol), seed {seed}: α = {:.3}, epoch {} kept",
                self.settings.joint.name(),
                fitted.model.alpha(),
                fitted.best_epoch
            );
        }
        let (scoring, batch) = (&self.devices[0], config.eval_batch_size);
        let full = text_scores(
            &fitted.model,
            &self.rows.full_test,
            batch,
            self.pad_id,
            scoring,
        );
        let mixture = full.id_logits.as_ref().and_then(|id| {
            MixtureInHindsight::of(
                id,
                &full.plm_logits,
                &self.rows.full_test.labels,
                f64::from(fitted.model.alpha()),
            )
        });
        let metrics = self.test_metrics(&full.probs, |sample| {
            evaluate_text(&fitted.model, sample, batch, self.pad_id, scoring)
        });
        let mut done = metrics.finished(
            |test| {
                SeedOutcome::with_valid(
                    seed,
                    test,
                    fitted.best_valid,
                    &fitted.history,
                    fitted.best_epoch,
                )
            },
            curve(&fitted.history),
            started.elapsed().as_secs_f64(),
        );
        done.mixture = mixture;
        Ok(self.finish(&name, seed, done))
    }

    fn finished_path(&self, name: &str, seed: u64) -> PathBuf {
        self.dir
            .join("finished")
            .join(format!("{name}-seed{seed}.json"))
    }

    /// With resume, the record of a variant an earlier run finished (replayed into the curves
    /// and timings).
    fn finished(&mut self, name: &str, seed: u64) -> Option<Finished> {
        if !self.resume {
            return None;
        }
        let path = self.finished_path(name, seed);
        let text = std::fs::read_to_string(&path).ok()?;
        match serde_json::from_str::<Finished>(&text) {
            Ok(done) => {
                tracing::info!(
                    "{name}, seed {seed}: finished before, reusing {}",
                    path.display()
                );
                self.record(name, seed, &done);
                Some(done)
            }
            Err(e) => {
                tracing::warn!(
                    "{}: unreadable ({e}); training the variant again",
                    path.display()
                );
                None
            }
        }
    }

    /// A model's test metrics from its click probabilities on the full test split
    /// (`full_probs`, in split order) and `score_sample`, which scores the sampled test rows
    /// (called only when they are a sample; else they are the full split).
    fn test_metrics(
        &self,
        full_probs: &[f32],
        score_sample: impl FnOnce(&SplitData) -> Evaluation,
    ) -> TestMetrics {
        let rows = &self.rows;
        let full = Evaluation::of(&rows.full_test.labels, full_probs);
        let by_user = rows
            .test_users
            .as_ref()
            .map(|users| users.evaluate(&rows.full_test.labels, full_probs));
        if rows.full_test.len() == rows.test.len() {
            TestMetrics {
                sample: full,
                full: None,
                by_user,
            }
        } else {
            TestMetrics {
                sample: score_sample(&rows.test),
                full: Some(full),
                by_user,
            }
        }
    }

    /// Records a finished variant: on disk for resume, and in the curves and timings.
    /// Returns its outcomes on the test rows, the full test split and by user.
    fn finish(&mut self, name: &str, seed: u64, done: Finished) -> Scored {
        let path = self.finished_path(name, seed);
        if let Err(e) = write_json_atomically(&path, &done) {
            tracing::warn!(
                "{}: cannot record the finished variant: {e:#}",
                path.display()
            );
        }
        self.record(name, seed, &done);
        (done.outcome, done.full, done.by_user)
    }

    /// Writes a variant's epoch records as `<name>-seed<seed>.jsonl` (best effort: the log is
    /// for reading, the finished record for resuming).
    fn write_log(&self, name: &str, seed: u64, log: &str) {
        let path = self.dir.join(format!("{name}-seed{seed}.jsonl"));
        if let Err(e) = write_atomically(&path, log.as_bytes()) {
            tracing::warn!("{}: cannot write the log: {e:#}", path.display());
        }
    }

    fn record(&mut self, name: &str, seed: u64, done: &Finished) {
        if seed == 2012 {
            self.curves.push(Series {
                name: name.to_owned(),
                points: done.curve.clone(),
            });
        }
        self.timings
            .push((format!("{name} (seed {seed})"), done.seconds));
        if let Some(mixture) = done.mixture {
            self.mixtures.push((seed, mixture));
        }
    }

    /// The model a variant with the language model starts from, on `device`: the language
    /// model (plain or pretrained) with a fresh head; for FLIP, the official protocol adds the
    /// pretrained ID tower, the staged one starts from this seed's finetuned towers.
    fn text_model(&self, variant: Variant, seed: u64, device: &Device) -> Result<TextClassifier> {
        let towers = self.towers.as_ref().expect("pretrained");
        if variant == Variant::Flip && self.settings.joint == JointProtocol::Staged {
            return self.staged_start(seed, device);
        }
        let plm_dir = match variant {
            Variant::Plm => self.settings.pretraining.plm.clone(),
            _ => towers.plm_dir(),
        };
        let id = match variant {
            Variant::Flip => Some(towers.id_model_transferring(
                self.settings.id_transfer,
                &self.fresh_rows,
                self.shape,
                device,
            )?),
            _ => None,
        };
        let (plm, pooling) = self.plm(&plm_dir, device)?;
        Ok(
            TextClassifier::new(plm, id, self.settings.finetune.gated_alpha, device)
                .with_pooling(pooling),
        )
    }

    /// The language model in `dir` and how to pool it (the settings' pooling, else the
    /// folder's).
    fn plm(&self, dir: &Path, device: &Device) -> Result<(Plm, Pooling)> {
        let loaded = load(
            dir,
            LoadOptions {
                layers: self.settings.pretraining.plm_layers,
                pooling: self.settings.pretraining.pooling,
                ..LoadOptions::default()
            },
            device,
        )?;
        check_prompt_length(self.dataset.meta(), &loaded.config, dir, None)?;
        Ok((loaded.model, loaded.pooling))
    }

    /// Where the staged protocol keeps a seed's finetuned tower (`flip-id` or `flip-plm`).
    fn finetuned_path(&self, key: &str, seed: u64) -> PathBuf {
        self.dir
            .join("finetuned")
            .join(format!("{key}-seed{seed}.bpk"))
    }

    /// FLIP for the staged protocol: this seed's finetuned FLIP_PLM joined with its finetuned
    /// FLIP_ID, `α` the mixing weight under which they rank the validation rows best.
    fn staged_start(&self, seed: u64, device: &Device) -> Result<TextClassifier> {
        let backbone = self.backbone();
        let [id_path, plm_path] = [Variant::FlipId, Variant::FlipPlm]
            .map(|v| self.finetuned_path(&v.key(backbone), seed));
        for path in [&id_path, &plm_path] {
            if !path.is_file() {
                bail!(
                    "{} is missing: the staged protocol starts FLIP from this seed's FLIP_ID and \
                     FLIP_PLM, so finetune those first (a resumed run that lacks it: run again \
                     without --resume, or with a new --out)",
                    path.display()
                );
            }
        }
        let towers = self.towers.as_ref().expect("pretrained");
        let mut id = towers.backbone.init(self.shape, device);
        load_module(&mut id, &id_path)?;
        let (plm, pooling) = self.plm(&towers.plm_dir(), device)?;
        let mut text = TextClassifier::new(plm, None, self.settings.finetune.gated_alpha, device)
            .with_pooling(pooling);
        load_module(&mut text, &plm_path)?;
        let joined = text.joined(id);
        let rows = self.rows.selecting_flip();
        let (id_logits, plm_logits) = tower_logits(
            &joined.valid(),
            rows,
            self.settings.finetune.eval_batch_size,
            self.pad_id,
            &device.clone().inner(),
        );
        let id_logits = id_logits.expect("joined with the ID tower");
        let (alpha, mixed) = mixing_weight_by_auc(&id_logits, &plm_logits, &rows.labels)
            .context("the validation rows hold one class only: no AUC to choose α by")?;
        let alone = auc(&rows.labels, &id_logits).unwrap_or(f64::NAN);
        let plm_alone = auc(&rows.labels, &plm_logits).unwrap_or(f64::NAN);
        tracing::info!(
            "FLIP (staged), seed {seed}: α = {alpha:.2} chosen on {}: AUC {mixed:.4} \
             (FLIP_ID alone {alone:.4}, FLIP_PLM alone {plm_alone:.4})",
            flip_report::flip_selection_rows(
                self.rows.mixing.as_ref().map(SplitData::len),
                self.settings.id_valid_all_rows
            )
        );
        Ok(joined.with_alpha(alpha as f32))
    }
}

/// A variant's outcomes: on the test rows, on the full test split (when the test rows are a
/// sample) and on the full split's rows by user (when it holds seen and unseen users).
type Scored = (
    SeedOutcome,
    Option<SeedOutcome>,
    Option<ByUser<SeedOutcome>>,
);

/// A model's test metrics: see [`Experiment::test_metrics`].
struct TestMetrics {
    sample: Evaluation,
    full: Option<Evaluation>,
    by_user: Option<ByUser<Evaluation>>,
}

impl TestMetrics {
    /// The finished record, each metric made a seed's outcome by `outcome`.
    fn finished(
        self,
        outcome: impl Fn(Evaluation) -> SeedOutcome,
        curve: Vec<(f64, f64)>,
        seconds: f64,
    ) -> Finished {
        Finished {
            outcome: outcome(self.sample),
            full: self.full.map(&outcome),
            by_user: self.by_user.map(|b| b.map(&outcome)),
            curve,
            seconds,
            mixture: None,
        }
    }
}

fn push_record(log: &mut String, r: &EpochRecord) {
    log.push_str(&serde_json::to_string(r).expect("records serialize"));
    log.push('\n');
}
