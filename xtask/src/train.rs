//! `cargo xtask train`: maps the flags onto the typed settings of the stage asked for and runs
//! it through `flip_train::experiment`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use flip_data::{PreparedDataset, Protocol};
use flip_train::experiment::{
    Experiment, IdBaselineSettings, Interrupt, MINILM, PrepareRequest, PretrainSettings,
    SettingsDocument, Sources, model_named, models_named, overlay_file, preset_named,
    pretrain_towers, seed_list, train_baselines,
};
use serde::{Serialize, de::DeserializeOwned};

/// What `train` runs.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// Fetch and prepare the data only.
    Data,
    /// Train ID-based CTR models from scratch (the baselines).
    Id,
    /// FLIP pretraining of an ID model and a language model on the alignment losses.
    Pretrain,
    /// The whole experiment: pretraining, then every variant and baseline, and the report.
    Flip,
}

#[derive(Args)]
pub struct TrainArgs {
    /// What to run.
    #[arg(long, value_enum, default_value = "flip")]
    stage: Stage,
    /// Dataset to train on.
    #[arg(long, default_value = "ml-100k")]
    dataset: String,
    /// Split protocol [default: the recipe's].
    #[arg(long)]
    protocol: Option<Protocol>,
    /// The stage's settings as TOML (a run folder's `settings.toml`, or part of one), laid
    /// over the preset's; the flags below override it.
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Zoo member(s) for `--stage id`: a name, several separated by commas, or `all`
    /// [default: dcnv2].
    #[arg(long)]
    model: Option<String>,
    /// Seeds per model (2012, 2013, ...) [default: 1].
    #[arg(long)]
    seeds: Option<u64>,
    /// ID-model training settings as TOML (keys of `CtrTrainConfig`), laid over the stage's.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Most epochs (of pretraining with `--stage pretrain`, else of the ID models).
    #[arg(long)]
    epochs: Option<usize>,
    /// Epochs without a better validation AUC before stopping (ID models).
    #[arg(long)]
    patience: Option<usize>,
    /// Row-sparse embedding updates: on, off, or auto (on above 100,000 feature ids)
    /// [default: auto, or the settings file's].
    #[arg(long)]
    sparse: Option<String>,
    /// Run folder [default: $FLIP_HOME/runs/STAGE-DATASET-...].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Pretraining: the ID backbone (any zoo member) [default: dcnv2].
    #[arg(long)]
    backbone: Option<String>,
    /// Pretraining: the language model, `minilm` or a Hugging Face model folder
    /// [default: minilm].
    #[arg(long)]
    plm: Option<String>,
    /// Pretraining: `cpu-quick` or `paper` [default: cpu-quick].
    #[arg(long)]
    preset: Option<String>,
    /// Pretraining settings as TOML (keys of `PretrainConfig`), applied over the preset.
    #[arg(long)]
    pretrain_config: Option<PathBuf>,
    /// Pretraining: use this many sampled training rows (overrides the preset).
    #[arg(long)]
    rows: Option<usize>,
    /// Pretraining: keep the first k layers of the language model (overrides the preset).
    #[arg(long)]
    plm_layers: Option<usize>,
    /// Continue an interrupted run: pretraining from its checkpoint; finetuning variants and
    /// ID-model seeds that finished before (with the same settings) are reused, not retrained.
    #[arg(long)]
    resume: bool,
    /// Training rows sampled for the variants with the language model (overrides the preset).
    #[arg(long)]
    finetune_rows: Option<usize>,
    /// Validation and test rows sampled for scoring (overrides the preset).
    #[arg(long)]
    eval_rows: Option<usize>,
    /// Also pretrain without MLM, without MTM and contrastive only, and finetune FLIP_ID on each.
    #[arg(long)]
    ablations: bool,
    /// Only the ID-model variants (the backbone from scratch and FLIP_ID): no language-model
    /// finetuning, no FLIP model saved.
    #[arg(long)]
    id_only: bool,
}

/// Runs the stage on `devices` (pretraining and the language-model finetuning share every
/// batch among several; the rest runs on the first).
pub fn train(
    sources: &Sources,
    args: &TrainArgs,
    devices: &[Device],
    interrupt: &Interrupt,
) -> Result<()> {
    if devices.len() > 1 && !matches!(args.stage, Stage::Flip | Stage::Pretrain) {
        bail!("several --devices serve pretraining and the language-model finetuning only");
    }
    // `base` with the `--settings` document laid over it, if one was given.
    fn overlaid<T: Serialize + DeserializeOwned>(
        d: &Option<SettingsDocument>,
        base: T,
    ) -> Result<T> {
        match d {
            Some(d) => d.apply(&base),
            None => Ok(base),
        }
    }
    let mut document = args
        .settings
        .as_deref()
        .map(SettingsDocument::read)
        .transpose()?;
    // Where a flip run's settings keep the pretraining's.
    let prefix = if args.stage == Stage::Flip {
        "pretraining."
    } else {
        ""
    };
    let from_document = |key: &str| {
        document
            .as_ref()
            .and_then(|d| d.string(&format!("{prefix}{key}")))
            .map(str::to_owned)
    };
    let plm_dir = match (&args.plm, from_document("plm")) {
        (Some(name), _) => sources.plm_folder(name)?,
        (None, Some(dir)) => PathBuf::from(dir),
        (None, None) => sources.plm_folder(MINILM)?,
    };
    let preset = preset_named(
        &args
            .preset
            .clone()
            .or_else(|| from_document("preset"))
            .unwrap_or_else(|| "cpu-quick".into()),
    )?;
    let backbone_name = match (&args.backbone, from_document("backbone.model")) {
        (Some(flag), Some(file)) if *flag != file => {
            // The flag's backbone with its own defaults, not the file's settings of another.
            if let Some(d) = document.as_mut() {
                d.remove(&format!("{prefix}backbone"));
            }
            flag.clone()
        }
        (Some(flag), _) => flag.clone(),
        (None, Some(file)) => file,
        (None, None) => "dcnv2".into(),
    };
    let backbone = model_named(&backbone_name)?;
    let prepared = sources.prepare(&PrepareRequest {
        protocol: args.protocol,
        ..PrepareRequest::new(&args.dataset, plm_dir.display().to_string())
    })?;
    let dataset = &prepared.dataset;
    let dir = args.out.clone().unwrap_or_else(|| {
        let stage = args.stage.to_possible_value().expect("no skipped variants");
        let pretrains = matches!(args.stage, Stage::Flip | Stage::Pretrain);
        let model = pretrains.then_some((backbone_name.as_str(), preset.name.as_str()));
        sources.run_folder(stage.get_name(), dataset.meta(), model)
    });
    match args.stage {
        Stage::Data => {
            println!(
                "\nThe data is ready in {}. `--stage id` trains the ID-model baselines, \
                 `--stage pretrain` runs FLIP pretraining alone, and `--stage flip` (the default) \
                 the whole experiment.",
                dataset.dir().display()
            );
        }
        Stage::Id => {
            let flagged = models_named(args.model.as_deref().unwrap_or("dcnv2"))?;
            let mut settings = overlaid(&document, IdBaselineSettings::new(flagged.clone()))?;
            if args.model.is_some() {
                settings.models = flagged;
            }
            settings.training = self::id_training(args, settings.training, dataset, &document)?;
            if let Some(n) = args.seeds {
                settings.seeds = seed_list(n);
            }
            let table = train_baselines(dataset, &settings, &dir, &devices[0], args.resume)?;
            println!("{}", table.markdown());
            println!("written to {}", dir.display());
        }
        Stage::Pretrain => {
            let base = PretrainSettings::from_preset(&preset, backbone, plm_dir);
            let mut settings = pretraining(args, overlaid(&document, base)?)?;
            if let Some(e) = args.epochs {
                settings.pretrain.epochs = e;
            }
            let towers =
                pretrain_towers(dataset, &settings, &dir, devices, args.resume, interrupt)?;
            if let Some(summary) = &towers.summary {
                println!("{}", summary.markdown());
            }
            if let Some(click) = &towers.id_tower_click {
                println!("{}", click.describe());
            }
            println!("pretrained towers, log and curves in {}", dir.display());
        }
        Stage::Flip => {
            let base = sources.flip_settings(&args.dataset, &preset, backbone, plm_dir)?;
            let mut settings = overlaid(&document, base)?;
            settings.pretraining = pretraining(args, settings.pretraining)?;
            settings.id_training =
                self::id_training(args, settings.id_training, dataset, &document)?;
            if let Some(n) = args.seeds {
                settings.seeds = seed_list(n);
            }
            if let Some(n) = args.finetune_rows {
                settings.finetune_rows = Some(n);
            }
            if let Some(n) = args.eval_rows {
                settings.eval_rows = Some(n);
            }
            settings.ablations |= args.ablations;
            settings.id_only |= args.id_only;
            let mut experiment =
                Experiment::new(dataset.clone(), settings, &dir, devices[0].clone())?
                    .on_devices(devices.to_vec())
                    .resuming(args.resume)
                    .with_interrupt(interrupt.clone());
            let report = experiment.run()?;
            println!("{}", report.markdown);
        }
    }
    Ok(())
}

/// The pretraining settings with `--pretrain-config` laid over them, then `--rows` and
/// `--plm-layers`.
fn pretraining(args: &TrainArgs, mut settings: PretrainSettings) -> Result<PretrainSettings> {
    if let Some(path) = &args.pretrain_config {
        settings.pretrain = overlay_file(&settings.pretrain, path)?;
    }
    if let Some(rows) = args.rows {
        settings.pretrain.max_rows = Some(rows);
    }
    if let Some(k) = args.plm_layers {
        settings.plm_layers = Some(k);
    }
    Ok(settings)
}

/// The ID-model trainer's settings with `--config` laid over them, then `--epochs`,
/// `--patience` and `--sparse` (`auto` unless a settings file says otherwise).
fn id_training(
    args: &TrainArgs,
    mut config: flip_train::CtrTrainConfig,
    dataset: &PreparedDataset,
    document: &Option<SettingsDocument>,
) -> Result<flip_train::CtrTrainConfig> {
    if let Some(path) = &args.config {
        config = overlay_file(&config, path)?;
    }
    if let Some(e) = args.epochs {
        config.max_epochs = e;
    }
    if let Some(p) = args.patience {
        config.patience = p;
    }
    let auto = dataset.meta().vocab_size > 100_000;
    match args.sparse.as_deref() {
        Some("on") => config.sparse_embeddings = true,
        Some("off") => config.sparse_embeddings = false,
        Some("auto") => config.sparse_embeddings = auto,
        None if document.is_none() => config.sparse_embeddings = auto,
        None => {}
        Some(other) => bail!("--sparse {other}: use on, off or auto"),
    }
    Ok(config)
}
