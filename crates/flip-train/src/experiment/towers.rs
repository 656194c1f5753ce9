//! The pretraining stage: both towers trained on the alignment losses into a folder that holds
//! the pretrained ID model (`id-model.bpk`, `id-model.json`) and the language model (`plm/`, a
//! Hugging Face folder), resumable from its checkpoint.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use flip_align::{FieldMasker, FlipPretrainer, NoiseDistribution};
use flip_data::{Meta, PreparedDataset, Split};
use flip_id_models::{CtrNet, FeatureEmbeddingConfig, InputShape, ModelConfig};
use flip_plm::{LoadOptions, PlmConfig, load, save_pretrained};
use serde::{Deserialize, Serialize};

use super::interrupt::Interrupt;
use super::run_dir::{claim, release_if_unused};
use super::saved::{load_module, save_module};
use super::settings::PretrainSettings;
use crate::atomic::write_atomically;
use crate::ctr::{Evaluation, evaluate};
use crate::parallel::Replicas;
use crate::pretrain::{PretrainRun, StepRecord, training_rows};
use crate::validate::Check;

/// Where a finished pretraining records its wall time, for reports of runs that reuse it.
const SECONDS_FILE: &str = "wall-seconds.txt";

/// Where a pretraining whose ID tower started from a click model (`id_start`) records how
/// that tower ranks the validation clicks before and after ([`IdTowerClick`]).
const ID_TOWER_CLICK_FILE: &str = "id-tower-click.json";

/// Rows per forward pass when the ID tower is scored.
const ID_EVAL_BATCH: usize = 8192;

/// The pretrained towers saved in a pretraining folder.
#[derive(Debug, Clone)]
pub struct Towers {
    /// The folder.
    pub dir: PathBuf,
    /// The ID model's configuration.
    pub backbone: ModelConfig,
    /// Wall seconds of the pretraining, summed over the invocations of a resumed run (their
    /// training loops; the setup and scoring of the one that finished it); read back from the
    /// finished folder when reused. NaN when unknown: resumed from a checkpoint that did not
    /// record its loop's time, or a finished folder without its seconds file.
    pub seconds: f64,
    /// The first and last log windows and the chance levels, when this invocation trained.
    pub summary: Option<PretrainSummary>,
    /// How the ID tower ranked the validation clicks before and after pretraining, when it
    /// started from a click model (`id_start`).
    pub id_tower_click: Option<IdTowerClick>,
}

/// How a pretraining whose ID tower started from a trained click model (`id_start`) changed
/// that tower as a click model: its AUC and LogLoss on every validation row before pretraining
/// (the start file's model, with its own output layer) and after (the pretrained tower, the
/// output layer untouched by the alignment losses). The drop is how far aligning moved the
/// tower away from the click.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdTowerClick {
    /// The start file's model.
    pub before: Evaluation,
    /// The pretrained ID tower.
    pub after: Evaluation,
}

impl IdTowerClick {
    /// One line for logs and reports.
    pub fn describe(&self) -> String {
        format!(
            "pretraining's ID tower on {} validation rows: AUC {:.4} / LogLoss {:.4} before \
             (its start file), {:.4} / {:.4} after (AUC {:+.4})",
            self.before.rows,
            self.before.auc,
            self.before.logloss,
            self.after.auc,
            self.after.logloss,
            self.after.auc - self.before.auc
        )
    }

    /// The record in the pretraining folder `dir`, when there is one.
    fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(ID_TOWER_CLICK_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{}: unexpected content", path.display())
        })?))
    }
}

/// How the losses moved during a pretraining, against chance.
#[derive(Debug, Clone)]
pub struct PretrainSummary {
    /// The first log window.
    pub first: StepRecord,
    /// The last log window.
    pub last: StepRecord,
    /// Tokens of the language model's vocabulary (MLM chance is one over it).
    pub vocab_size: usize,
    /// Noise ids each MTM target is scored against.
    pub mtm_noise: usize,
    /// Rows per step (the contrastive loss's chance level is its logarithm).
    pub batch_size: usize,
}

impl PretrainSummary {
    /// A Markdown table of both windows and a line of chance levels.
    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "| | loss | ICL | ID cos | text cos | pair gap | τ | MLM | MLM acc | MTM | MTM acc | MTM chance |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (name, r) in [
            ("first log window", &self.first),
            ("last log window", &self.last),
        ] {
            md.push_str(&format!(
                "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                r.loss,
                r.icl,
                r.id_cosine,
                r.text_cosine,
                r.pair_gap,
                r.temperature,
                r.mlm,
                r.mlm_accuracy,
                r.mtm,
                r.mtm_accuracy,
                r.mtm_chance
            ));
        }
        md.push_str(&format!(
            "ID cos and text cos: the mean cosine between two rows' projections in a batch (near 1: the tower maps every row to \
             nearly one direction); pair gap: a row's own ID-text cosine minus that of other rows' pairs, as the contrastive loss \
             compares them (0: no alignment). Chance levels: ICL ln {} = {:.3} (every score equal); ",
            self.batch_size,
            (self.batch_size as f64).ln()
        ));
        md.push_str(&format!(
            "MLM accuracy 1/{} = {:.1e} (uniform over the vocabulary); MTM accuracy {:.3} in the last window (empirical: \
             the true id at or above its {} noise ids, ties to the target as the official code, for scores that know nothing; 1/{} = {:.3} were every noise id distinct)",
            self.vocab_size,
            1.0 / self.vocab_size as f64,
            self.last.mtm_chance,
            self.mtm_noise,
            self.mtm_noise + 1,
            1.0 / (self.mtm_noise + 1) as f64,
        ));
        md
    }
}

/// Which pretrained weights FLIP_ID starts from; the rest is drawn fresh, as for the backbone
/// from scratch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdTransfer {
    /// Every weight of the pretrained ID model (the official code's).
    #[default]
    All,
    /// The feature embeddings (field tables and first-order weights) only; the layers above
    /// them (cross network, DNN, output) start fresh.
    Embeddings,
    /// The layers above the embeddings only; the embeddings start fresh.
    Layers,
    /// Every pretrained weight, each embedding table scaled down to the root mean square of a
    /// fresh one (the backbone's initialisation, 1e-4): the pretrained directions at the scale
    /// the backbone from scratch starts at.
    AllAtInitScale,
}

impl IdTransfer {
    /// What FLIP_ID starts from, for reports.
    pub fn description(self) -> &'static str {
        match self {
            IdTransfer::All => "every pretrained weight",
            IdTransfer::Embeddings => {
                "the pretrained embeddings, the layers above them drawn fresh"
            }
            IdTransfer::Layers => "the pretrained layers, the embeddings drawn fresh",
            IdTransfer::AllAtInitScale => {
                "every pretrained weight, the embeddings scaled to the initialisation's size"
            }
        }
    }
}

impl Towers {
    /// The ID model with its pretrained weights, on `device`.
    pub fn id_model(&self, shape: InputShape, device: &Device) -> Result<CtrNet> {
        let mut model = self.backbone.init(shape, device);
        let path = self.dir.join("id-model.bpk");
        model
            .load_from(&mut BurnpackStore::from_file(&path))
            .with_context(|| format!("loading {}", path.display()))?;
        Ok(model)
    }

    /// The ID model with the pretrained weights `transfer` names and the others drawn as the
    /// backbone's initialisation draws them, on `device`; the embedding rows in `fresh_rows`
    /// (global ids, for example some fields' ranges) are drawn fresh too.
    pub fn id_model_transferring(
        &self,
        transfer: IdTransfer,
        fresh_rows: &[Range<usize>],
        shape: InputShape,
        device: &Device,
    ) -> Result<CtrNet> {
        let pretrained = self.id_model(shape, device)?;
        let model = match transfer {
            IdTransfer::All => pretrained,
            IdTransfer::Embeddings => self
                .backbone
                .init(shape, device)
                .with_embedding(pretrained.embedding().clone()),
            IdTransfer::Layers => {
                let fresh = self.backbone.init(shape, device);
                pretrained.with_embedding(fresh.embedding().clone())
            }
            IdTransfer::AllAtInitScale => {
                let fresh_rms = FeatureEmbeddingConfig::new(shape.num_features).init_std;
                let scaled = pretrained.embedding().clone().scaled_to_rms(fresh_rms);
                pretrained.with_embedding(scaled)
            }
        };
        if fresh_rows.is_empty() {
            return Ok(model);
        }
        let fresh = self.backbone.init(shape, device);
        let embedding = model
            .embedding()
            .clone()
            .with_rows_from(fresh.embedding(), fresh_rows);
        Ok(model.with_embedding(embedding))
    }

    /// The pretrained language model folder.
    pub fn plm_dir(&self) -> PathBuf {
        self.dir.join("plm")
    }
}

/// The input shape of the ID models on `dataset`.
pub fn input_shape(dataset: &PreparedDataset) -> InputShape {
    let meta = dataset.meta();
    InputShape {
        num_features: meta.vocab_size as usize,
        num_fields: meta.fields.len(),
    }
}

/// The global ids (embedding rows) of the fields named in `names`, reserved ids included, in
/// the order named; `key` is the settings key that names them, for the error that refuses a
/// name the dataset lacks.
pub fn field_rows(meta: &Meta, names: &[String], key: &str) -> Result<Vec<Range<usize>>> {
    names
        .iter()
        .map(|name| {
            let field = meta.fields.iter().find(|f| &f.name == name);
            let Some(field) = field else {
                let known: Vec<&str> = meta.fields.iter().map(|f| f.name.as_str()).collect();
                bail!(
                    "{key}: the dataset {} has no field {name:?} (its fields: {})",
                    meta.name,
                    known.join(", ")
                );
            };
            Ok(field.ids())
        })
        .collect()
}

/// Refuses a language model whose position table is shorter than the dataset's prompts, or
/// than `pad_to` (pretraining's fixed padding) when set.
pub(crate) fn check_prompt_length(
    meta: &Meta,
    config: &PlmConfig,
    plm_dir: &Path,
    pad_to: Option<usize>,
) -> Result<()> {
    let (longest, what) = match pad_to {
        Some(pad) if pad > meta.tokenizer.max_len => (pad, "pretraining's pad_to"),
        _ => (meta.tokenizer.max_len, "the recipe's max_len"),
    };
    if longest > config.max_tokens() {
        bail!(
            "{}: prompts of up to {longest} tokens ({what}), but the language model in {} has \
             positions for {} tokens (max_position_embeddings {}): lower it (and prepare again \
             for max_len)",
            meta.name,
            plm_dir.display(),
            config.max_tokens(),
            config.max_position_embeddings
        );
    }
    Ok(())
}

/// Pretrains into `dir` and returns the saved towers. A folder whose pretraining finished with
/// the same settings is reused; one with a checkpoint is continued when `resume` (refused
/// otherwise); one made with other settings is refused. `devices` share every batch (data
/// parallel); `interrupt` stops the loop after a step, with a checkpoint.
pub fn pretrain_towers(
    dataset: &PreparedDataset,
    settings: &PretrainSettings,
    dir: &Path,
    devices: &[Device],
    resume: bool,
    interrupt: &Interrupt,
) -> Result<Towers> {
    settings.check()?;
    let settings = &with_id_start_hash(settings)?;
    let created = !dir.exists();
    claim(dir, dataset, settings)?;
    pretrain_claimed(dataset, settings, dir, devices, resume, interrupt).inspect_err(|_| {
        if created && release_if_unused(dir) {
            tracing::info!("{}: removed (nothing was done in it)", dir.display());
        }
    })
}

/// `settings` with the sha256 of the ID tower's start file filled in
/// ([`crate::pretrain::PretrainConfig::id_start_sha256`]), so that the folder's settings name
/// the file's content; refused when a hash given in the settings does not match the file.
fn with_id_start_hash(settings: &PretrainSettings) -> Result<PretrainSettings> {
    let mut settings = settings.clone();
    let config = &mut settings.pretrain;
    if let Some(path) = &config.id_start {
        let (sha256, _) = flip_data::fetch::sha256_file(path)
            .with_context(|| format!("pretrain.id_start: reading {}", path.display()))?;
        match &config.id_start_sha256 {
            Some(given) if *given != sha256 => bail!(
                "pretrain.id_start: {} has sha256 {sha256}, but id_start_sha256 says {given}",
                path.display()
            ),
            _ => config.id_start_sha256 = Some(sha256),
        }
    }
    Ok(settings)
}

/// The ID tower pretraining starts from: the backbone's initialisation, its embeddings drawn
/// at `id_embedding_std` when set, or the weights of the `id_start` file when set.
fn initial_id_tower(
    backbone: &ModelConfig,
    shape: InputShape,
    config: &crate::pretrain::PretrainConfig,
    device: &Device,
) -> Result<CtrNet> {
    let mut id_model = backbone.init(shape, device);
    if let Some(std) = config.id_embedding_std {
        let embedding = id_model.embedding().redrawn(std, device);
        id_model = id_model.with_embedding(embedding);
    }
    if let Some(path) = &config.id_start {
        load_module(&mut id_model, path).context("pretrain.id_start")?;
    }
    Ok(id_model)
}

/// [`pretrain_towers`] in a folder already claimed.
fn pretrain_claimed(
    dataset: &PreparedDataset,
    settings: &PretrainSettings,
    dir: &Path,
    devices: &[Device],
    resume: bool,
    interrupt: &Interrupt,
) -> Result<Towers> {
    let config = &settings.pretrain;
    let backbone = settings.backbone.clone();
    let meta = dataset.meta();
    let started = Instant::now();
    if dir.join("plm").join("config.json").is_file() && dir.join("id-model.bpk").is_file() {
        tracing::info!(
            "{}: pretraining already done, reusing its towers",
            dir.display()
        );
        let seconds = std::fs::read_to_string(dir.join(SECONDS_FILE))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(f64::NAN);
        return Ok(Towers {
            dir: dir.to_owned(),
            backbone,
            seconds,
            summary: None,
            id_tower_click: IdTowerClick::read(dir)?,
        });
    }
    let device = devices
        .first()
        .context("pretraining needs at least one device")?
        .clone()
        .autodiff();
    device.seed(config.seed);
    // Several devices share every batch (data parallel).
    let replicas = Replicas::new(
        std::iter::once(device.clone())
            .chain(devices[1..].iter().map(|d| d.clone().autodiff()))
            .collect(),
    );
    let plm = load(
        &settings.plm,
        LoadOptions {
            layers: settings.plm_layers,
            pooling: settings.pooling,
            ..LoadOptions::default()
        },
        &device,
    )?;
    PreparedDataset::open_for_tokenizer(
        dataset.dir(),
        plm.tokenizer.hash(),
        plm.tokenizer.source(),
    )?;
    check_prompt_length(meta, &plm.config, &settings.plm, config.pad_to)?;
    let mask_token = plm
        .tokenizer
        .mask_id()
        .context("the tokenizer has no mask token, which MLM needs")?;
    let shape = input_shape(dataset);
    let id_model = initial_id_tower(&backbone, shape, config, &device)?;
    // A tower started from a click model is scored before and after, on every validation row.
    let score = |model: &CtrNet, valid: &flip_data::SplitData| {
        evaluate(
            &model.valid(),
            valid,
            ID_EVAL_BATCH,
            &device.clone().inner(),
        )
    };
    let scored_start = match config.id_start {
        Some(_) => {
            let valid = dataset.load(Split::Valid)?;
            let before = score(&id_model, &valid);
            Some((valid, before))
        }
        None => None,
    };
    let reserved: Vec<bool> = {
        let mut r = vec![false; meta.vocab_size as usize];
        for f in &meta.fields {
            for id in f.offset..f.offset + 3 {
                r[id as usize] = true;
            }
        }
        r
    };
    let noise = NoiseDistribution::new(&meta.feature_counts, |j| reserved[j]);
    let mask_ids: Vec<i64> = meta
        .fields
        .iter()
        .map(|f| i64::from(f.offset + 2))
        .collect();
    let masker = FieldMasker::new(config.mask.clone(), mask_ids, mask_token);
    let model = FlipPretrainer::new(
        id_model,
        plm.model,
        plm.config.vocab_size,
        meta.fields.len(),
        &noise,
        &config.align,
        &device,
    )
    .with_pooling(plm.pooling);

    let train = dataset.load(Split::Train)?;
    let data = training_rows(&train, config);
    tracing::info!(
        "pretraining {} + {} ({} layers, {} pooling) on {} of {} training rows, {} epochs, batch {}",
        backbone.name(),
        settings.plm.display(),
        plm.config.num_layers,
        plm.pooling.name(),
        data.len(),
        train.len(),
        config.epochs,
        config.batch_size
    );
    let run = PretrainRun {
        config,
        data: &data,
        masker: &masker,
        noise: &noise,
        pad_id: plm.tokenizer.pad_id(),
        replicas: &replicas,
        run_dir: dir,
    };
    if !resume && run.has_checkpoint() {
        bail!(
            "{} already holds a checkpoint: pass --resume to continue it, or --out for a new run",
            dir.display()
        );
    }
    let settings_json = serde_json::json!({
        "settings": toml::Value::try_from(settings)?,
        "plm_layers": plm.config.num_layers,
    });
    write_atomically(
        &dir.join("settings.json"),
        serde_json::to_string_pretty(&settings_json)?.as_bytes(),
    )?;
    let loop_started = Instant::now();
    let done =
        interrupt.while_checkpointing(|| run.run(model, resume, &|_| interrupt.requested()))?;
    let this_loop = loop_started.elapsed().as_secs_f64();
    if done.interrupted {
        bail!(
            "interrupted after step {}; continue with the same command and --resume",
            done.state.global_step
        );
    }
    // Written before the towers, whose files mark the folder finished.
    let id_tower_click = match scored_start {
        Some((valid, before)) => {
            let click = IdTowerClick {
                before,
                after: score(&done.model.id_model, &valid),
            };
            tracing::info!("{}", click.describe());
            write_atomically(
                &dir.join(ID_TOWER_CLICK_FILE),
                serde_json::to_string_pretty(&click)?.as_bytes(),
            )?;
            Some(click)
        }
        None => None,
    };
    save_module(&done.model.id_model, &dir.join("id-model.bpk"))?;
    write_atomically(
        &dir.join("id-model.json"),
        serde_json::to_string_pretty(&backbone)?.as_bytes(),
    )?;
    save_pretrained(
        &done.model.plm,
        &plm.config,
        plm.pooling,
        &settings.plm,
        &dir.join("plm"),
    )?;
    let summary = match (done.state.records.first(), done.state.records.last()) {
        (Some(first), Some(last)) => Some(PretrainSummary {
            first: first.clone(),
            last: last.clone(),
            vocab_size: plm.config.vocab_size,
            mtm_noise: config.align.mtm.noise,
            batch_size: config.batch_size,
        }),
        _ => None,
    };
    if let Some(s) = &summary {
        tracing::info!("pretraining in {}:\n{}", dir.display(), s.markdown());
    }
    // This invocation outside the loop, plus the loop of every invocation (a resumed run's
    // earlier ones included); unknown when the checkpoint resumed from did not record it.
    let seconds = done.state.seconds.map_or(f64::NAN, |all_loops| {
        started.elapsed().as_secs_f64() - this_loop + all_loops
    });
    write_atomically(
        &dir.join(SECONDS_FILE),
        format!("{seconds:.1}\n").as_bytes(),
    )?;
    Ok(Towers {
        dir: dir.to_owned(),
        backbone,
        seconds,
        summary,
        id_tower_click,
    })
}

#[cfg(test)]
mod tests {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::Tensor;
    use flip_id_models::FeatureEmbedding;
    use flip_id_models::models::dcnv2::DcnV2Config;
    use flip_id_models::models::deepfm::DeepFmConfig;

    use super::*;
    use crate::experiment::saved::save_module;

    /// A model's float parameters in visiting order: those under its feature embedding, and
    /// the others.
    #[derive(Default)]
    struct Split {
        depth_in_embedding: Option<usize>,
        depth: usize,
        embeddings: Vec<f32>,
        layers: Vec<f32>,
    }

    impl ModuleVisitor for Split {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.depth += 1;
            if name == "emb" && self.depth_in_embedding.is_none() {
                self.depth_in_embedding = Some(self.depth);
            }
        }

        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            if self.depth_in_embedding == Some(self.depth) {
                self.depth_in_embedding = None;
            }
            self.depth -= 1;
        }

        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().into_data().convert::<f32>();
            let out = if self.depth_in_embedding.is_some() {
                &mut self.embeddings
            } else {
                &mut self.layers
            };
            out.extend(values.iter::<f32>());
        }
    }

    fn split(model: &CtrNet) -> (Vec<f32>, Vec<f32>) {
        let mut s = Split::default();
        model.visit(&mut s);
        (s.embeddings, s.layers)
    }

    /// A DCNv2 small enough to check weight by weight, on 3 fields and 12 ids.
    fn small_dcnv2() -> (InputShape, ModelConfig) {
        let shape = InputShape {
            num_features: 12,
            num_fields: 3,
        };
        let backbone = ModelConfig::Dcnv2(
            DcnV2Config::new()
                .with_embedding_dim(4)
                .with_hidden(vec![8])
                .with_rank(2)
                .with_experts(2),
        );
        (shape, backbone)
    }

    /// A DeepFM of the same size as [`small_dcnv2`].
    fn small_deepfm() -> ModelConfig {
        ModelConfig::Deepfm(
            DeepFmConfig::new()
                .with_embedding_dim(4)
                .with_hidden(vec![8]),
        )
    }

    /// Towers whose saved ID model is `backbone` with its layers drawn from seed 1 and its
    /// embeddings set far from any fresh draw (fresh tables are N(0, 1e-4)): every field-table
    /// value 0.5, every first-order weight −0.25. Returns the towers, the folder that holds
    /// them, and the saved model's embedding and layer values.
    fn pretrained_towers(
        backbone: ModelConfig,
        shape: InputShape,
        device: &Device,
    ) -> (Towers, tempfile::TempDir, Vec<f32>, Vec<f32>) {
        device.seed(1);
        let pretrained = backbone
            .init(shape, device)
            .with_embedding(FeatureEmbedding {
                table: Param::from_tensor(Tensor::full([12, 4], 0.5, device)),
                linear: Param::from_tensor(Tensor::full([12, 1], -0.25, device)),
            });
        let (pre_emb, pre_layers) = split(&pretrained);
        assert_eq!(pre_emb.len(), 12 * 4 + 12);
        let dir = tempfile::tempdir().unwrap();
        save_module(&pretrained, &dir.path().join("id-model.bpk")).unwrap();
        let towers = Towers {
            dir: dir.path().to_owned(),
            backbone,
            seconds: 0.0,
            summary: None,
            id_tower_click: None,
        };
        (towers, dir, pre_emb, pre_layers)
    }

    /// Asserts that most of `layers` differ from `pretrained` (drawn fresh).
    fn assert_drawn_fresh(layers: &[f32], pretrained: &[f32]) {
        assert_eq!(layers.len(), pretrained.len());
        assert!(
            layers
                .iter()
                .zip(pretrained)
                .filter(|(a, b)| a != b)
                .count()
                > layers.len() / 2,
            "the layers were not drawn fresh"
        );
    }

    /// Asserts that the embedding values of [`pretrained_towers`] (12 ids of width 4, then
    /// their first-order weights) hold a fresh draw for the ids `is_fresh` names and the
    /// pretrained values for every other id.
    fn assert_fresh_rows(emb: &[f32], is_fresh: impl Fn(usize) -> bool) {
        let (table, linear) = emb.split_at(12 * 4);
        for (id, row) in table.chunks(4).enumerate() {
            let fresh = is_fresh(id);
            for &v in row {
                assert!(
                    if fresh { v.abs() < 1e-2 } else { v == 0.5 },
                    "id {id}: {row:?}"
                );
            }
        }
        for (id, &v) in linear.iter().enumerate() {
            let fresh = is_fresh(id);
            assert!(
                if fresh { v.abs() < 1e-2 } else { v == -0.25 },
                "id {id}: {v}"
            );
        }
    }

    #[test]
    fn transfer_keeps_the_named_pretrained_weights_and_draws_the_rest() {
        let device = Device::flex();
        let (shape, backbone) = small_dcnv2();
        let (towers, _dir, pre_emb, pre_layers) = pretrained_towers(backbone, shape, &device);
        device.seed(2);
        let load_with = |t, fresh: &[Range<usize>]| {
            split(
                &towers
                    .id_model_transferring(t, fresh, shape, &device)
                    .unwrap(),
            )
        };
        let load = |t| load_with(t, &[]);

        let (emb, layers) = load(IdTransfer::All);
        assert_eq!((&emb, &layers), (&pre_emb, &pre_layers));

        let (emb, layers) = load(IdTransfer::Embeddings);
        assert_eq!(emb, pre_emb);
        assert_drawn_fresh(&layers, &pre_layers);

        let (emb, layers) = load(IdTransfer::Layers);
        assert_eq!(layers, pre_layers);
        assert_eq!(emb.len(), pre_emb.len());
        assert!(
            emb.iter().all(|v| v.abs() < 1e-2),
            "fresh embeddings are N(0, 1e-4): {emb:?}"
        );

        // The pretrained tables are 0.5 (field table, 48 values) and -0.25 (first-order, 12):
        // each scaled to a root mean square of 1e-4, the layers untouched.
        let (emb, layers) = load(IdTransfer::AllAtInitScale);
        assert_eq!(layers, pre_layers);
        let (table, linear) = emb.split_at(12 * 4);
        assert!(table.iter().all(|v| (v - 1e-4).abs() < 1e-9), "{table:?}");
        assert!(linear.iter().all(|v| (v + 1e-4).abs() < 1e-9), "{linear:?}");

        // Ids 1 and 4..8 (two fields' ranges) drawn fresh in both tables, every other weight
        // pretrained.
        let (emb, layers) = load_with(IdTransfer::All, &[1..2, 4..8]);
        assert_eq!(layers, pre_layers);
        assert_fresh_rows(&emb, |id| id == 1 || (4..8).contains(&id));
    }

    /// DeepFM's start that beat DeepFM from scratch on ML-1M: the pretrained embeddings but
    /// some fields' (here ids 2 and 8..12), under a DNN drawn fresh.
    #[test]
    fn deepfm_from_the_embeddings_but_some_fields_draws_the_dnn_and_those_rows_fresh() {
        let device = Device::flex();
        let shape = InputShape {
            num_features: 12,
            num_fields: 3,
        };
        let (towers, _dir, _, pre_layers) = pretrained_towers(small_deepfm(), shape, &device);
        device.seed(2);
        let model = towers
            .id_model_transferring(IdTransfer::Embeddings, &[2..3, 8..12], shape, &device)
            .unwrap();
        assert!(matches!(model, CtrNet::Deepfm(_)));
        let (emb, layers) = split(&model);
        assert_drawn_fresh(&layers, &pre_layers);
        assert_fresh_rows(&emb, |id| id == 2 || (8..12).contains(&id));
    }

    #[test]
    fn pretraining_starts_the_id_tower_from_the_named_file_whose_hash_the_settings_record() {
        let device = Device::flex();
        let (shape, backbone) = small_dcnv2();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trained.bpk");
        let trained = backbone.init(shape, &device);
        save_module(&trained, &path).unwrap();
        let mut settings = PretrainSettings::from_preset(
            &crate::presets::Preset::cpu_quick(),
            backbone.clone(),
            dir.path().join("plm"),
        );

        // Without it, a fresh draw; with it, the file's weights.
        let fresh = initial_id_tower(&backbone, shape, &settings.pretrain, &device).unwrap();
        assert_ne!(split(&fresh), split(&trained));
        settings.pretrain.id_start = Some(path.clone());
        let started = initial_id_tower(&backbone, shape, &settings.pretrain, &device).unwrap();
        assert_eq!(split(&started), split(&trained));

        // The settings a run folder records carry the file's sha256 ...
        let resolved = with_id_start_hash(&settings).unwrap();
        let (sha256, _) = flip_data::fetch::sha256_file(&path).unwrap();
        assert_eq!(resolved.pretrain.id_start_sha256, Some(sha256.clone()));
        assert_eq!(
            with_id_start_hash(&resolved).unwrap().pretrain,
            resolved.pretrain
        );
        // ... so another file at the same path no longer matches them.
        save_module(&backbone.init(shape, &device), &path).unwrap();
        let err = with_id_start_hash(&resolved).unwrap_err().to_string();
        assert!(
            err.contains("trained.bpk") && err.contains(&sha256),
            "{err}"
        );
        assert_ne!(
            with_id_start_hash(&settings)
                .unwrap()
                .pretrain
                .id_start_sha256,
            Some(sha256)
        );
    }
}
