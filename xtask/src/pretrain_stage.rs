//! `cargo xtask train --stage pretrain`: FLIP pretraining on a prepared dataset.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use flip_align::{FieldMasker, FlipPretrainer, NoiseDistribution};
use flip_data::{FlipHome, PreparedDataset, Split};
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load, save_pretrained};
use flip_train::parallel::Replicas;
use flip_train::presets::Preset;
use flip_train::pretrain::{PretrainConfig, PretrainRun, training_rows};

use crate::commands::TrainArgs;

/// The pretraining settings of a run: the preset's, then the keys of `--pretrain-config` laid
/// over them (keys the file omits keep the preset's values), then `--rows`.
pub fn pretrain_settings(args: &TrainArgs) -> Result<(Preset, PretrainConfig)> {
    let preset = Preset::named(&args.preset)
        .with_context(|| format!("unknown preset `{}`; use cpu-quick or paper", args.preset))?;
    let mut config = preset.pretrain.clone();
    if let Some(path) = &args.pretrain_config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        config = overlay(&config, &text)
            .with_context(|| format!("{}: not a pretraining configuration", path.display()))?;
    }
    if let Some(rows) = args.rows {
        config.max_rows = Some(rows);
    }
    Ok((preset, config))
}

/// `base` with the keys of the TOML document `text` replaced, tables merged key by key.
fn overlay(base: &PretrainConfig, text: &str) -> Result<PretrainConfig> {
    fn merge(into: &mut toml::Table, from: toml::Table) {
        for (key, value) in from {
            match (into.get_mut(&key), value) {
                (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
                (_, value) => {
                    into.insert(key, value);
                }
            }
        }
    }
    let toml::Value::Table(mut table) = toml::Value::try_from(base)? else {
        anyhow::bail!("pretraining settings do not serialise to a TOML table");
    };
    merge(&mut table, text.parse::<toml::Table>()?);
    Ok(toml::Value::Table(table).try_into()?)
}

/// Settings of `--stage pretrain`: [`pretrain_settings`], and `--epochs` counts pretraining
/// epochs.
fn settings(args: &TrainArgs) -> Result<(Preset, PretrainConfig)> {
    let (preset, mut config) = pretrain_settings(args)?;
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    Ok((preset, config))
}

/// True while a pretraining loop runs (it checkpoints on Ctrl-C; elsewhere Ctrl-C exits).
static PRETRAINING: AtomicBool = AtomicBool::new(false);

/// The flag Ctrl-C sets. During pretraining the loop finishes its step, writes a checkpoint and
/// stops; at any other time (and on a second Ctrl-C) the process exits at once: every other
/// phase restarts from its beginning with `--resume` and gives the same numbers.
fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&flag);
        let _ = ctrlc::set_handler(move || {
            if !PRETRAINING.load(Ordering::SeqCst) || seen.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted; run the same command with --resume to continue");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing the step and writing a checkpoint ...");
        });
        flag
    })
    .clone()
}

/// `cargo xtask train --stage pretrain`.
pub fn run(
    home: &FlipHome,
    dataset: &PreparedDataset,
    plm_dir: &Path,
    args: &TrainArgs,
    devices: &[Device],
) -> Result<()> {
    let (_, config) = settings(args)?;
    let dir = args.run_dir(home, dataset);
    args.claim_run_dir(&dir, dataset)?;
    pretrain(dataset, plm_dir, args, &config, &dir, devices)?;
    println!("pretrained towers, log and curves in {}", dir.display());
    Ok(())
}

/// The pretrained towers saved in a pretraining folder.
pub struct Towers {
    /// The folder.
    pub dir: std::path::PathBuf,
    /// The ID model's configuration.
    pub backbone: ModelConfig,
    /// Wall seconds of the pretraining (of the invocation that finished it, when reused).
    pub seconds: f64,
}

/// Where a finished pretraining records its wall time, for reports of runs that reuse it.
const SECONDS_FILE: &str = "wall-seconds.txt";

impl Towers {
    /// The ID model with its pretrained weights, on `device`.
    pub fn id_model(&self, shape: InputShape, device: &Device) -> Result<flip_id_models::CtrNet> {
        let mut model = self.backbone.init(shape, device);
        let path = self.dir.join("id-model.bpk");
        model
            .load_from(&mut BurnpackStore::from_file(&path))
            .with_context(|| format!("loading {}", path.display()))?;
        Ok(model)
    }

    /// The pretrained language model folder.
    pub fn plm_dir(&self) -> std::path::PathBuf {
        self.dir.join("plm")
    }
}

/// Pretrains into `dir` (resuming, or reusing a finished run) and returns the saved towers:
/// `id-model.bpk` (+ `id-model.json`) and `plm/` (a Hugging Face folder).
pub fn pretrain(
    dataset: &PreparedDataset,
    plm_dir: &Path,
    args: &TrainArgs,
    config: &PretrainConfig,
    dir: &Path,
    devices: &[Device],
) -> Result<Towers> {
    let preset =
        Preset::named(&args.preset).with_context(|| format!("unknown preset `{}`", args.preset))?;
    let meta = dataset.meta();
    let backbone = ModelConfig::from_name(&args.backbone).with_context(|| {
        format!(
            "unknown backbone `{}`; choose from {}",
            args.backbone,
            flip_id_models::MODEL_NAMES.join(", ")
        )
    })?;
    let started = std::time::Instant::now();
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
        });
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let device = devices[0].clone().autodiff();
    device.seed(config.seed);
    // Several devices share every batch (data parallel).
    let replicas = Replicas::new(
        std::iter::once(device.clone())
            .chain(devices[1..].iter().map(|d| d.clone().autodiff()))
            .collect(),
    );
    let layers = args.plm_layers.or(preset.plm_layers);
    let plm = load(
        plm_dir,
        LoadOptions {
            layers,
            ..LoadOptions::default()
        },
        &device,
    )?;
    PreparedDataset::open_for_tokenizer(
        dataset.dir(),
        plm.tokenizer.hash(),
        plm.tokenizer.source(),
    )?;
    let mask_token = plm
        .tokenizer
        .mask_id()
        .context("the tokenizer has no mask token, which MLM needs")?;
    let shape = InputShape {
        num_features: meta.vocab_size as usize,
        num_fields: meta.fields.len(),
    };
    let id_model = backbone.init(shape, &device);
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
    );

    let train = dataset.load(Split::Train)?;
    let data = training_rows(&train, config);
    tracing::info!(
        "pretraining {} + {} ({} layers) on {} of {} training rows, {} epochs, batch {}",
        args.backbone,
        plm_dir.display(),
        plm.config.num_layers,
        data.len(),
        train.len(),
        config.epochs,
        config.batch_size
    );
    let stop = interrupt_flag();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let run = PretrainRun {
        config,
        data: &data,
        masker: &masker,
        noise: &noise,
        pad_id: plm.tokenizer.pad_id(),
        replicas: &replicas,
        run_dir: dir,
    };
    if !args.resume && run.has_checkpoint() {
        bail!(
            "{} already holds a checkpoint: pass --resume to continue it, or --out for a new run",
            dir.display()
        );
    }
    let settings_json = serde_json::json!({ "preset": preset, "config": config, "backbone": backbone, "plm": plm_dir, "plm_layers": plm.config.num_layers });
    flip_train::report::write_atomically(
        &dir.join("settings.json"),
        serde_json::to_string_pretty(&settings_json)?.as_bytes(),
    )?;
    PRETRAINING.store(true, Ordering::SeqCst);
    let done = run.run(model, args.resume, &|_| stop.load(Ordering::SeqCst));
    PRETRAINING.store(false, Ordering::SeqCst);
    let done = done?;
    if done.interrupted {
        bail!(
            "interrupted after step {}; continue with the same command and --resume",
            done.state.global_step
        );
    }
    let mut store = BurnpackStore::from_file(dir.join("id-model.bpk")).overwrite(true);
    done.model
        .id_model
        .save_into(&mut store)
        .context("saving the ID model")?;
    flip_train::report::write_atomically(
        &dir.join("id-model.json"),
        serde_json::to_string_pretty(&backbone)?.as_bytes(),
    )?;
    save_pretrained(&done.model.plm, &plm.config, plm_dir, &dir.join("plm"))?;
    let (first, last) = (done.state.records.first(), done.state.records.last());
    if let (Some(a), Some(b)) = (first, last) {
        println!(
            "| | loss | ICL | MLM | MLM acc | MTM | MTM acc |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for (name, r) in [("first log window", a), ("last log window", b)] {
            println!(
                "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                r.loss, r.icl, r.mlm, r.mlm_accuracy, r.mtm, r.mtm_accuracy
            );
        }
        println!(
            "chance levels: MLM accuracy 1/{} = {:.1e} (uniform over the vocabulary), MTM accuracy 1/{} = {:.3} (true id above {} noise ids)",
            plm.config.vocab_size,
            1.0 / plm.config.vocab_size as f64,
            config.align.mtm.noise + 1,
            1.0 / (config.align.mtm.noise + 1) as f64,
            config.align.mtm.noise
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    flip_train::report::write_atomically(
        &dir.join(SECONDS_FILE),
        format!("{seconds:.1}\n").as_bytes(),
    )?;
    Ok(Towers {
        dir: dir.to_owned(),
        backbone,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_file_changes_only_its_own_keys() {
        let base = Preset::cpu_quick().pretrain;
        let config = overlay(&base, "learning_rate = 0.002\n[align]\ntemperature = 0.1\n").unwrap();
        assert_eq!(config.learning_rate, 0.002);
        assert_eq!(config.align.temperature, 0.1);
        assert_eq!(config.max_rows, base.max_rows);
        assert_eq!(config.batch_size, base.batch_size);
        assert_eq!(config.align.icl_weight, base.align.icl_weight);
        assert_eq!(config.mask, base.mask);
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let base = PretrainConfig::default();
        let error = overlay(&base, "learnig_rate = 0.1\n").unwrap_err();
        assert!(format!("{error:#}").contains("learnig_rate"), "{error:#}");
    }
}
