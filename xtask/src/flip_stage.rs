//! `cargo xtask train` (`--stage flip`): the whole FLIP experiment on one dataset — pretraining
//! (and, with `--ablations`, the pretraining ablations), then, for every seed, the ID model from
//! scratch, FLIP_ID, the language model finetuned without alignment, FLIP_PLM and FLIP, each
//! scored on the same sampled test rows; a results table, `report.md`, `results.json` and plots.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use flip_data::{FlipHome, PreparedDataset, Split, SplitData};
use flip_id_models::InputShape;
use flip_plm::{LoadOptions, load};
use flip_train::finetune::{FinetuneConfig, TextClassifier, evaluate_text, finetune};
use flip_train::parallel::Replicas;
use flip_train::plot::{Series, line_chart};
use flip_train::presets::Preset;
use flip_train::report::{MeanStd, ModelResult, ResultsTable, SeedOutcome, write_atomically};
use flip_train::{CtrTrainConfig, EpochRecord, evaluate, fit};
use rand::SeedableRng;

use crate::commands::TrainArgs;
use crate::pretrain_stage::{Towers, pretrain};

/// A seeded sample of `n` rows of `data` (all rows when `n` is none or larger).
fn sample(data: &SplitData, n: Option<usize>, seed: u64) -> SplitData {
    match n {
        Some(n) if n < data.len() => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut rows = rand::seq::index::sample(&mut rng, data.len(), n).into_vec();
            rows.sort_unstable();
            data.subset(&rows)
        }
        _ => data.clone(),
    }
}

/// Pretraining ablations: name and (ICL, MLM, MTM) weights.
const ABLATIONS: [(&str, [f64; 3]); 3] = [
    ("no-mlm", [1.0, 0.0, 1.0]),
    ("no-mtm", [1.0, 1.0, 0.0]),
    ("icl-only", [1.0, 0.0, 0.0]),
];

struct Experiment<'a> {
    dataset: &'a PreparedDataset,
    shape: InputShape,
    train: SplitData,
    train_sample: SplitData,
    valid: SplitData,
    test: SplitData,
    full_test: SplitData,
    pad_id: u32,
    id_config: CtrTrainConfig,
    finetune: FinetuneConfig,
    plm_layers: Option<usize>,
    dir: &'a Path,
    curves: Vec<Series>,
    timings: Vec<(String, f64)>,
    /// Where scoring runs (the training device without autodiff).
    device: Device,
    /// Reuse the variants an interrupted run finished (`--resume`).
    resume: bool,
}

/// What a finished variant leaves in `finished/<name>-seed<seed>.json`, so that `--resume`
/// skips it and still reports exactly what it measured.
#[derive(serde::Serialize, serde::Deserialize)]
struct Finished {
    outcome: SeedOutcome,
    /// On the full test split, where the sampled test rows are fewer.
    full: Option<SeedOutcome>,
    /// Validation AUC per epoch.
    curve: Vec<(f64, f64)>,
    seconds: f64,
}

impl Experiment<'_> {
    fn id_variant(
        &mut self,
        name: &str,
        model: flip_id_models::CtrNet,
        train: &SplitData,
        seed: u64,
        device: &Device,
    ) -> (SeedOutcome, Option<SeedOutcome>) {
        if let Some(done) = self.finished(name, seed) {
            return (done.outcome, done.full);
        }
        // Parameters are drawn lazily, at first use: from here on, not from whatever state the
        // variants before this one (trained now, or reused by --resume) left behind.
        device.seed(variant_seed(seed, name));
        let started = Instant::now();
        let config = CtrTrainConfig {
            seed,
            ..self.id_config.clone()
        };
        let mut log = String::new();
        let fitted = fit(model, train, &self.valid, &config, device, |r| {
            push_record(&mut log, r)
        });
        let _ = write_atomically(
            &self.dir.join(format!("{name}-seed{seed}.jsonl")),
            log.as_bytes(),
        );
        if name == "flip-id" && seed == 2012 {
            save_module(&fitted.model, &self.dir.join("models").join("flip-id.bpk"));
        }
        let outcome = |test: &SplitData| {
            outcome(
                seed,
                evaluate(&fitted.model, test, config.eval_batch_size, &self.device),
                &fitted.history,
                fitted.best_epoch,
            )
        };
        let full = (self.full_test.len() != self.test.len()).then(|| outcome(&self.full_test));
        let done = Finished {
            outcome: outcome(&self.test),
            full,
            curve: curve(&fitted.history),
            seconds: started.elapsed().as_secs_f64(),
        };
        self.finish(name, seed, &done);
        (done.outcome, done.full)
    }

    fn text_variant(
        &mut self,
        name: &str,
        model: TextClassifier,
        seed: u64,
        replicas: &Replicas,
    ) -> SeedOutcome {
        if let Some(done) = self.finished(name, seed) {
            return done.outcome;
        }
        replicas.seed(variant_seed(seed, name));
        let started = Instant::now();
        let config = FinetuneConfig {
            seed,
            ..self.finetune.clone()
        };
        let mut log = String::new();
        let fitted = finetune(
            model,
            &self.train_sample,
            &self.valid,
            self.pad_id,
            &config,
            replicas,
            |r| push_record(&mut log, r),
        );
        let _ = write_atomically(
            &self.dir.join(format!("{name}-seed{seed}.jsonl")),
            log.as_bytes(),
        );
        if name == "flip" && seed == 2012 {
            save_module(&fitted.model, &self.dir.join("models").join("flip.bpk"));
        }
        let test = evaluate_text(
            &fitted.model,
            &self.test,
            config.eval_batch_size,
            self.pad_id,
            &self.device,
        );
        if name == "flip" {
            tracing::info!("FLIP, seed {seed}: α = {:.3}", fitted.model.alpha());
        }
        let done = Finished {
            outcome: outcome(seed, test, &fitted.history, fitted.best_epoch),
            full: None,
            curve: curve(&fitted.history),
            seconds: started.elapsed().as_secs_f64(),
        };
        self.finish(name, seed, &done);
        done.outcome
    }

    fn finished_path(&self, name: &str, seed: u64) -> std::path::PathBuf {
        self.dir
            .join("finished")
            .join(format!("{name}-seed{seed}.json"))
    }

    /// With `--resume`, the record of a variant an earlier run finished (replayed into the
    /// curves and timings).
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

    /// Records a finished variant: on disk for `--resume`, and in the curves and timings.
    fn finish(&mut self, name: &str, seed: u64, done: &Finished) {
        let path = self.finished_path(name, seed);
        if let Err(e) = flip_train::report::write_json_atomically(&path, done) {
            tracing::warn!(
                "{}: cannot record the finished variant: {e:#}",
                path.display()
            );
        }
        self.record(name, seed, done);
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
    }

    fn plm(&self, dir: &Path, device: &Device) -> Result<flip_plm::Plm> {
        Ok(load(
            dir,
            LoadOptions {
                layers: self.plm_layers,
                ..LoadOptions::default()
            },
            device,
        )?
        .model)
    }
}

/// Saves a trained model for `eval` and `predict` (a failure is logged, the run goes on).
fn save_module<M: burn::module::Module>(model: &M, path: &Path) {
    use burn::store::{BurnpackStore, ModuleSnapshot};
    let saved = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            model
                .save_into(&mut BurnpackStore::from_file(path).overwrite(true))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = saved {
        tracing::warn!("{}: cannot save the model: {e}", path.display());
    }
}

/// What `eval` and `predict` need to rebuild the saved models.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SavedRun {
    /// The prepared dataset folder.
    pub dataset: std::path::PathBuf,
    /// The pretrained language model folder (its config.json and tokenizer).
    pub plm_dir: std::path::PathBuf,
    /// Layers of it kept.
    pub plm_layers: Option<usize>,
    /// The ID backbone.
    pub backbone: flip_id_models::ModelConfig,
    /// `α = σ(a)` in FLIP.
    pub gated_alpha: bool,
}

/// Validation AUC per epoch.
fn curve(history: &[EpochRecord]) -> Vec<(f64, f64)> {
    history
        .iter()
        .map(|r| (r.epoch as f64, r.valid.auc))
        .collect()
}

fn push_record(log: &mut String, r: &EpochRecord) {
    log.push_str(&serde_json::to_string(r).expect("records serialize"));
    log.push('\n');
}

fn outcome(
    seed: u64,
    test: flip_train::Evaluation,
    history: &[EpochRecord],
    best_epoch: usize,
) -> SeedOutcome {
    SeedOutcome {
        seed,
        test,
        valid: history[best_epoch - 1].valid,
        best_epoch,
        epochs: history.len(),
        seconds_per_epoch: history.iter().map(|r| r.train_seconds).sum::<f64>()
            / history.len() as f64,
    }
}

/// Runs the experiment.
pub fn run(
    home: &FlipHome,
    dataset: &PreparedDataset,
    plm_dir: &Path,
    args: &TrainArgs,
    ablations: bool,
    devices: &[Device],
) -> Result<()> {
    let device = &devices[0];
    let started = Instant::now();
    let (preset, pretrain_config) = crate::pretrain_stage::pretrain_settings(args)?;
    let meta = dataset.meta();
    let dir = args.run_dir(home, dataset);
    args.claim_run_dir(&dir, dataset)?;
    let finetune_rows = args.finetune_rows.or(preset.finetune_rows);
    let eval_rows = args.eval_rows.or(preset.eval_rows);
    let plm_layers = args.plm_layers.or(preset.plm_layers);

    let towers = pretrain(
        dataset,
        plm_dir,
        args,
        &pretrain_config,
        &dir.join("pretrain"),
        devices,
    )?;
    let mut timings = vec![("pretraining".to_owned(), towers.seconds)];
    let mut ablated: Vec<(&str, Towers)> = Vec::new();
    if ablations {
        for (name, [icl, mlm, mtm]) in ABLATIONS {
            let mut config = pretrain_config.clone();
            (
                config.align.icl_weight,
                config.align.mlm_weight,
                config.align.mtm_weight,
            ) = (icl, mlm, mtm);
            ablated.push((
                name,
                pretrain(
                    dataset,
                    plm_dir,
                    args,
                    &config,
                    &dir.join(format!("pretrain-{name}")),
                    devices,
                )?,
            ));
            timings.push((
                format!("pretraining, {name}"),
                ablated.last().expect("just pushed").1.seconds,
            ));
        }
    }

    let train = dataset.load(Split::Train)?;
    let valid = dataset.load(Split::Valid)?;
    let full_test = dataset.load(Split::Test)?;
    let mut base_id = args.train_config(meta.vocab_size)?;
    base_id.max_epochs = args.epochs.unwrap_or(preset.id_epochs);
    let mut exp = Experiment {
        dataset,
        shape: InputShape {
            num_features: meta.vocab_size as usize,
            num_fields: meta.fields.len(),
        },
        train_sample: sample(&train, finetune_rows, 2012),
        valid: sample(&valid, eval_rows, 2013),
        test: sample(&full_test, eval_rows, 2014),
        full_test,
        train,
        pad_id: meta.tokenizer.pad_id,
        id_config: base_id,
        finetune: preset.finetune.clone(),
        plm_layers,
        dir: &dir,
        curves: Vec::new(),
        timings,
        device: device.clone(),
        resume: args.resume,
    };
    let backbone = &args.backbone;
    let saved = SavedRun {
        dataset: dataset.dir().to_owned(),
        plm_dir: towers.plm_dir(),
        plm_layers,
        backbone: towers.backbone.clone(),
        gated_alpha: exp.finetune.gated_alpha,
    };
    std::fs::create_dir_all(dir.join("models"))?;
    write_atomically(
        &dir.join("models").join("run.json"),
        serde_json::to_string_pretty(&saved)?.as_bytes(),
    )?;
    let mut rows: Vec<(String, Vec<SeedOutcome>)> = Vec::new();
    let add = |rows: &mut Vec<(String, Vec<SeedOutcome>)>, name: String, o: SeedOutcome| match rows
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some((_, v)) => v.push(o),
        None => rows.push((name, vec![o])),
    };
    for seed in args.seed_list() {
        let device = device.clone().autodiff();
        device.seed(seed);
        // The language-model variants share each batch among all devices.
        let replicas = Replicas::new(
            std::iter::once(device.clone())
                .chain(devices[1..].iter().map(|d| d.clone().autodiff()))
                .collect(),
        );
        let train = exp.train.clone();
        let scratch = towers.backbone.init(exp.shape, &device);
        let (o, full) = exp.id_variant(
            &format!("{backbone}-scratch"),
            scratch,
            &train,
            seed,
            &device,
        );
        add(&mut rows, format!("{backbone} from scratch"), o);
        if let Some(f) = full {
            add(
                &mut rows,
                format!("{backbone} from scratch, full test split"),
                f,
            );
        }
        let (o, full) = exp.id_variant(
            "flip-id",
            towers.id_model(exp.shape, &device)?,
            &train,
            seed,
            &device,
        );
        add(&mut rows, format!("FLIP_ID ({backbone})"), o);
        if let Some(f) = full {
            add(
                &mut rows,
                format!("FLIP_ID ({backbone}), full test split"),
                f,
            );
        }
        if exp.train_sample.len() < exp.train.len() {
            let sample = exp.train_sample.clone();
            let (o, _) = exp.id_variant(
                &format!("{backbone}-scratch-sample"),
                towers.backbone.init(exp.shape, &device),
                &sample,
                seed,
                &device,
            );
            add(
                &mut rows,
                format!("{backbone} from scratch, on the finetuning sample"),
                o,
            );
            let (o, _) = exp.id_variant(
                "flip-id-sample",
                towers.id_model(exp.shape, &device)?,
                &sample,
                seed,
                &device,
            );
            add(
                &mut rows,
                format!("FLIP_ID ({backbone}), on the finetuning sample"),
                o,
            );
        }
        for (name, t) in &ablated {
            let (o, _) = exp.id_variant(
                &format!("flip-id-{name}"),
                t.id_model(exp.shape, &device)?,
                &train,
                seed,
                &device,
            );
            add(
                &mut rows,
                format!("FLIP_ID ({backbone}), pretrained {name}"),
                o,
            );
        }
        if !args.id_only {
            let plain = TextClassifier::new(
                exp.plm(plm_dir, &device)?,
                None,
                exp.finetune.gated_alpha,
                &device,
            );
            let o = exp.text_variant("plm", plain, seed, &replicas);
            add(
                &mut rows,
                "language model finetuned, no alignment".into(),
                o,
            );
            let flip_plm = TextClassifier::new(
                exp.plm(&towers.plm_dir(), &device)?,
                None,
                exp.finetune.gated_alpha,
                &device,
            );
            let o = exp.text_variant("flip-plm", flip_plm, seed, &replicas);
            add(&mut rows, "FLIP_PLM".into(), o);
            let joint = TextClassifier::new(
                exp.plm(&towers.plm_dir(), &device)?,
                Some(towers.id_model(exp.shape, &device)?),
                exp.finetune.gated_alpha,
                &device,
            );
            let o = exp.text_variant("flip", joint, seed, &replicas);
            add(&mut rows, format!("FLIP ({backbone} + language model)"), o);
        }
        let mut table = ResultsTable {
            title: String::new(),
            rows: Default::default(),
        };
        for (name, outcomes) in &rows {
            table
                .rows
                .insert(name.clone(), ModelResult::new(name, outcomes.clone()));
        }
        write_report(
            &exp,
            &preset,
            args,
            &table,
            &rows,
            started.elapsed().as_secs_f64(),
            plm_dir,
        )?;
    }
    if !exp.curves.is_empty() {
        let _ = line_chart(
            &dir.join("valid-auc.png"),
            "Validation AUC per epoch (seed 2012)",
            "epoch",
            "AUC",
            &exp.curves,
        );
    }
    println!(
        "{}",
        std::fs::read_to_string(dir.join("report.md")).unwrap_or_default()
    );
    Ok(())
}

fn write_report(
    exp: &Experiment<'_>,
    preset: &Preset,
    args: &TrainArgs,
    table: &ResultsTable,
    order: &[(String, Vec<SeedOutcome>)],
    seconds: f64,
    plm_dir: &Path,
) -> Result<()> {
    let meta = exp.dataset.meta();
    let mut md = format!(
        "# FLIP on {} ({} split)\n\nTest AUC and LogLoss on {} sampled test rows (the same rows for every variant), mean ± standard deviation over seeds {:?}; \
         pretraining ran once (seed 2012).\n\n| variant | test AUC | test LogLoss | best epoch | s / epoch | seeds |\n|---|---:|---:|---:|---:|---:|\n",
        meta.name,
        meta.recipe.split.protocol,
        exp.test.len(),
        args.seed_list()
    );
    for (name, _) in order {
        let r = &table.rows[name];
        md.push_str(&format!(
            "| {name} | {:.4} ± {:.4} | {:.4} ± {:.4} | {:.1} | {:.1} | {} |\n",
            r.auc.mean,
            r.auc.std,
            r.logloss.mean,
            r.logloss.std,
            r.best_epoch.mean,
            r.seconds_per_epoch.mean,
            r.seeds.len()
        ));
    }
    let paired = paired_differences(order, &comparisons(&args.backbone, order));
    if !paired.is_empty() {
        md.push_str(
            "\n## Paired by seed\n\nTest AUC of the first variant minus the second's, for the same seed \
             (the same data order and initialisation of the parts they share).\n\n\
             | comparison | per seed | mean ± sd | first better |\n|---|---|---:|---:|\n",
        );
        for p in &paired {
            md.push_str(&format!(
                "| {} − {} | {} | {:+.4} ± {:.4} | {}/{} |\n",
                p.first,
                p.second,
                p.per_seed
                    .iter()
                    .map(|(_, d)| format!("{d:+.4}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                p.mean,
                p.std,
                p.per_seed.iter().filter(|(_, d)| *d > 0.0).count(),
                p.per_seed.len()
            ));
        }
    }
    let extra = args.extra_flags();
    if !extra.is_empty() {
        md.push_str(&format!(
            "\n## Configuration\n\n- flags over the preset:{extra}\n"
        ));
    } else {
        md.push_str("\n## Configuration\n\n");
    }
    md.push_str(&format!(
        "- preset `{}`: {}\n- language model: {} ({} layers kept)\n- ID backbone: {}\n- rows: {} train ({} sampled for the variants with the language model), {} validation and {} test sampled from {} and {}\n\
         - ID-only variants: Adam lr {}, batch {}, at most {} epochs, patience {}\n- language-model variants: AdamW lr {} (language model) and {} (rest), weight decay {}, batch {}, at most {} epochs, patience {}\n\n",
        preset.name,
        preset.description,
        plm_dir.display(),
        exp.plm_layers.map_or_else(|| "all".to_owned(), |k| k.to_string()),
        args.backbone,
        exp.train.len(),
        exp.train_sample.len(),
        exp.valid.len(),
        exp.test.len(),
        meta.splits.valid.rows,
        meta.splits.test.rows,
        exp.id_config.learning_rate,
        exp.id_config.batch_size,
        exp.id_config.max_epochs,
        exp.id_config.patience,
        exp.finetune.plm_learning_rate,
        exp.finetune.learning_rate,
        exp.finetune.weight_decay,
        exp.finetune.batch_size,
        exp.finetune.max_epochs,
        exp.finetune.patience
    ));
    md.push_str("## Timings\n\n| phase | seconds |\n|---|---:|\n");
    for (phase, s) in &exp.timings {
        md.push_str(&format!("| {phase} | {s:.0} |\n"));
    }
    md.push_str(&format!("| total of this invocation | {seconds:.0} |\n\n"));
    md.push_str(&format!(
        "## Reproduce\n\n```\ncargo xtask train --dataset {} --preset {} --backbone {} --seeds {}{}\n```\n\nPlots: `pretrain/pretrain-losses.png`, `pretrain/pretrain-accuracy.png`, `valid-auc.png`. Logs: one JSONL per variant and seed.\n",
        meta.name,
        preset.name,
        args.backbone,
        args.seeds,
        args.extra_flags()
    ));
    write_atomically(&exp.dir.join("report.md"), md.as_bytes())?;
    let json = serde_json::json!({ "dataset": meta.name, "preset": preset, "table": table, "paired": paired, "timings": exp.timings, "seconds": seconds });
    write_atomically(
        &exp.dir.join("results.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    Ok(())
}

/// The comparisons the paper's claims rest on, among the variants of `order`: each FLIP_ID
/// against the backbone from scratch on the same rows, FLIP_PLM against the language model
/// without alignment, and FLIP against each tower finetuned on its rows.
fn comparisons(backbone: &str, order: &[(String, Vec<SeedOutcome>)]) -> Vec<(String, String)> {
    let scratch = format!("{backbone} from scratch");
    let flip = format!("FLIP ({backbone} + language model)");
    let mut pairs = vec![
        (format!("FLIP_ID ({backbone})"), scratch.clone()),
        (
            format!("FLIP_ID ({backbone}), full test split"),
            format!("{scratch}, full test split"),
        ),
        (
            format!("FLIP_ID ({backbone}), on the finetuning sample"),
            format!("{scratch}, on the finetuning sample"),
        ),
    ];
    let ablation = format!("FLIP_ID ({backbone}), pretrained ");
    pairs.extend(
        order
            .iter()
            .filter(|(name, _)| name.starts_with(&ablation))
            .map(|(name, _)| (name.clone(), scratch.clone())),
    );
    pairs.push((
        "FLIP_PLM".into(),
        "language model finetuned, no alignment".into(),
    ));
    pairs.push((
        flip.clone(),
        format!("FLIP_ID ({backbone}), on the finetuning sample"),
    ));
    pairs.push((flip, "FLIP_PLM".into()));
    pairs
}

/// Test-AUC differences between two variants, matched by seed.
#[derive(Debug, serde::Serialize)]
struct Paired {
    first: String,
    second: String,
    /// (seed, first − second).
    per_seed: Vec<(u64, f64)>,
    mean: f64,
    /// Sample standard deviation over seeds (0 for one seed).
    std: f64,
}

/// The comparisons of `pairs` whose two variants both ran, with the seeds they share.
fn paired_differences(
    order: &[(String, Vec<SeedOutcome>)],
    pairs: &[(String, String)],
) -> Vec<Paired> {
    let outcomes = |name: &str| order.iter().find(|(n, _)| n == name).map(|(_, o)| o);
    pairs
        .iter()
        .filter_map(|(first, second)| {
            let (a, b) = (outcomes(first)?, outcomes(second)?);
            let per_seed: Vec<(u64, f64)> = a
                .iter()
                .filter_map(|x| {
                    let y = b.iter().find(|y| y.seed == x.seed)?;
                    Some((x.seed, x.test.auc - y.test.auc))
                })
                .collect();
            if per_seed.is_empty() {
                return None;
            }
            let MeanStd { mean, std } =
                MeanStd::of(&per_seed.iter().map(|&(_, d)| d).collect::<Vec<_>>());
            Some(Paired {
                first: first.clone(),
                second: second.clone(),
                per_seed,
                mean,
                std,
            })
        })
        .collect()
}

/// The random stream of variant `name` at `seed`, the same whatever ran before it in the
/// process (FNV-1a of the name, mixed with the seed).
fn variant_seed(seed: u64, name: &str) -> u64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    seed ^ hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use flip_train::Evaluation;

    fn outcome(seed: u64, auc: f64) -> SeedOutcome {
        let e = Evaluation {
            auc,
            logloss: 0.5,
            rows: 10,
        };
        SeedOutcome {
            seed,
            test: e,
            valid: e,
            best_epoch: 1,
            epochs: 1,
            seconds_per_epoch: 1.0,
        }
    }

    #[test]
    fn differences_are_matched_by_seed_and_missing_variants_skipped() {
        let order = vec![
            (
                "FLIP_ID (fm)".to_owned(),
                vec![
                    outcome(2012, 0.75),
                    outcome(2013, 0.74),
                    outcome(2014, 0.70),
                ],
            ),
            (
                "fm from scratch".to_owned(),
                vec![outcome(2013, 0.73), outcome(2012, 0.76)],
            ),
        ];
        let paired = paired_differences(&order, &comparisons("fm", &order));
        assert_eq!(paired.len(), 1, "only FLIP_ID vs scratch ran");
        let p = &paired[0];
        assert_eq!(p.first, "FLIP_ID (fm)");
        assert_eq!(p.per_seed.len(), 2);
        assert!((p.per_seed[0].1 - -0.01).abs() < 1e-12 && (p.per_seed[1].1 - 0.01).abs() < 1e-12);
        assert!(p.mean.abs() < 1e-12);
        assert!((p.std - 0.02_f64.sqrt() * 0.1).abs() < 1e-12, "{}", p.std);
    }
}
