//! Bad settings and stale inputs get an error naming the key, file or what differs, before any
//! work, and leave no output behind: settings of every loop and experiment, settings documents,
//! checkpoints written with other settings, run folders and saved models whose dataset was
//! prepared again.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use flip_data::{FlipHome, PreparedDataset};
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load};
use flip_train::divergence::TrainError;
use flip_train::experiment::{
    Experiment, FlipSettings, IdBaselineSettings, PrepareRequest, SavedModels, Sources,
    model_named, overlay, preset_named, train_baselines,
};
use flip_train::finetune::{FinetuneConfig, TextClassifier, finetune};
use flip_train::parallel::Replicas;
use flip_train::pretrain::{PretrainConfig, PretrainError};
use flip_train::{CtrTrainConfig, fit};

/// A change to a settings document.
type SettingsChange = fn(&mut FlipSettings);
/// A change to the files of a model folder.
type FolderChange = fn(&Path);

mod common;
#[allow(dead_code)]
mod pretraining_fixture;

use pretraining_fixture::Setup;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tiny_bert() -> PathBuf {
    root().join("crates/flip-plm/tests/fixtures/tiny-bert")
}

#[track_caller]
fn assert_names(err: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(err.contains(w), "error {err:?} does not name {w:?}");
    }
}

/// The example-clicks dataset prepared from a copy of its CSV (`raw`, editable) into `out`.
fn prepare_clicks(home: &Path, raw: &Path, out: &Path) -> PreparedDataset {
    if !raw.exists() {
        std::fs::copy(root().join("datasets/example-clicks/clicks.csv"), raw).unwrap();
    }
    let sources = Sources::new(FlipHome::at(home), root().join("datasets"));
    let mut request = PrepareRequest::new("example-clicks", tiny_bert().display().to_string());
    request.source = Some(raw.to_owned());
    request.out = Some(out.to_owned());
    sources.prepare(&request).unwrap().dataset
}

/// Changes one click of the copied CSV (same size), so that preparing again gives another
/// dataset.
fn edit_one_click(raw: &Path) {
    let text = std::fs::read_to_string(raw).unwrap();
    let edited = text.replacen("tablet,travel,20,1,", "tablet,travel,20,0,", 1);
    assert_ne!(edited, text);
    std::fs::write(raw, edited).unwrap();
}

fn small_settings(plm: PathBuf) -> FlipSettings {
    let mut settings = FlipSettings::from_preset(
        &preset_named("cpu-quick").unwrap(),
        model_named("dcnv2").unwrap(),
        plm,
    );
    settings.pretraining.pretrain.max_rows = Some(64);
    settings.pretraining.plm_layers = Some(1);
    settings
}

#[test]
fn id_training_settings_that_cannot_run() {
    let device = Device::flex().autodiff();
    let data = common::text_signal_data(16, 0);
    let shape = InputShape {
        num_features: 20,
        num_fields: 2,
    };
    for (config, key) in [
        (
            CtrTrainConfig {
                batch_size: 0,
                ..CtrTrainConfig::default()
            },
            "`batch_size`: is 0, must be at least 1",
        ),
        (
            CtrTrainConfig {
                max_epochs: 0,
                ..CtrTrainConfig::default()
            },
            "`max_epochs`: is 0, must be at least 1",
        ),
        (
            CtrTrainConfig {
                learning_rate: -1e-3,
                ..CtrTrainConfig::default()
            },
            "`learning_rate`: is -0.001, must be a finite number above 0",
        ),
    ] {
        let model = ModelConfig::from_name("lr").unwrap().init(shape, &device);
        let Err(TrainError::Invalid(err)) = fit(model, &data, &data, &config, &device, |_| {})
        else {
            panic!("{key}: accepted");
        };
        assert_names(&err.to_string(), &[key]);
    }
}

#[test]
fn finetuning_settings_that_cannot_run() {
    let device = Device::flex().autodiff();
    let data = common::text_signal_data(16, 0);
    let config = FinetuneConfig {
        eval_batch_size: 0,
        ..FinetuneConfig::default()
    };
    let plm = load(&tiny_bert(), LoadOptions::default(), &device).unwrap();
    let model = TextClassifier::new(plm.model, None, false, &device);
    let replicas = Replicas::single(device.clone());
    let Err(TrainError::Invalid(err)) =
        finetune(model, &data, &data, 0, &config, &replicas, |_| {})
    else {
        panic!("a zero scoring batch was accepted");
    };
    assert_names(&err.to_string(), &["`eval_batch_size`: is 0"]);
}

#[test]
fn pretraining_settings_that_cannot_run_write_nothing() {
    let setup = Setup::new();
    let mut silent = PretrainConfig::default();
    silent.align.icl_weight = 0.0;
    silent.align.mlm_weight = 0.0;
    silent.align.mtm_weight = 0.0;
    for (config, wanted) in [
        (
            PretrainConfig {
                epochs: 0,
                ..PretrainConfig::default()
            },
            "`epochs`: is 0, must be at least 1",
        ),
        (
            silent,
            "`align.icl_weight`: icl_weight, mlm_weight and mtm_weight are all 0",
        ),
        (
            PretrainConfig {
                batch_size: 1,
                ..PretrainConfig::default()
            },
            "`batch_size`: is 1, must be at least 2",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let model = setup.model(&PretrainConfig::default());
        let Err(PretrainError::Invalid(err)) =
            setup.run(&config, dir.path()).run(model, false, &|_| false)
        else {
            panic!("{wanted}: accepted");
        };
        assert_names(&err.to_string(), &[wanted]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[test]
fn a_checkpoint_of_other_settings_is_not_resumed() {
    let setup = Setup::new();
    let dir = tempfile::tempdir().unwrap();
    let first = PretrainConfig {
        epochs: 2,
        batch_size: 4,
        ..PretrainConfig::default()
    };
    let edited = PretrainConfig {
        learning_rate: 2e-4,
        ..first.clone()
    };
    let interrupted = setup
        .run(&first, dir.path())
        .run(setup.model(&first), false, &|s| s == 5)
        .unwrap();
    assert!(interrupted.interrupted);
    let Err(err) = setup
        .run(&edited, dir.path())
        .run(setup.model(&first), true, &|_| false)
    else {
        panic!("a checkpoint of other settings was resumed");
    };
    assert_names(
        &err.to_string(),
        &[
            "checkpoint/config.json: this checkpoint was written with other settings",
            "learning_rate: 0.0001 -> 0.0002",
        ],
    );
}

#[test]
fn experiment_settings_that_cannot_run_leave_no_run_folder() {
    let scratch = tempfile::tempdir().unwrap();
    let dataset = prepare_clicks(
        scratch.path(),
        &scratch.path().join("clicks.csv"),
        &scratch.path().join("prepared"),
    );
    let cases: [(SettingsChange, &str); 3] = [
        (
            |s| s.seeds.clear(),
            "`seeds`: is empty: give at least one seed",
        ),
        (
            |s| s.finetune_rows = Some(0),
            "`finetune_rows`: is 0, must be at least 1",
        ),
        (
            |s| s.pretraining.pretrain.mask.text_ratio = 2.0,
            "`pretraining.pretrain.mask.text_ratio`: is 2, must be between 0 and 1",
        ),
    ];
    for (change, wanted) in cases {
        let mut settings = small_settings(tiny_bert());
        change(&mut settings);
        let run = scratch.path().join("run");
        let Err(err) = Experiment::new(dataset.clone(), settings, &run, Device::flex()) else {
            panic!("{wanted}: accepted");
        };
        assert_names(&err.to_string(), &[wanted]);
        assert!(!run.exists(), "{wanted}: a run folder was left");
    }
}

#[test]
fn settings_documents_with_unknown_or_mistyped_keys() {
    let base = small_settings(tiny_bert());
    let err = format!(
        "{:#}",
        overlay(&base, "[finetune]\nbatch = 3\n").err().unwrap()
    );
    assert_names(&err, &["unknown field `batch`"]);
    let err = format!(
        "{:#}",
        overlay(&base, "[finetune]\nbatch_size = \"32\"\n")
            .err()
            .unwrap()
    );
    assert_names(&err, &["invalid type: string \"32\"", "batch_size"]);
}

#[test]
fn a_run_folder_and_saved_models_refuse_a_dataset_prepared_again() {
    let scratch = tempfile::tempdir().unwrap();
    let (raw, prepared) = (
        scratch.path().join("clicks.csv"),
        scratch.path().join("prepared"),
    );
    let dataset = prepare_clicks(scratch.path(), &raw, &prepared);
    let run = scratch.path().join("run");
    let mut experiment =
        Experiment::new(dataset, small_settings(tiny_bert()), &run, Device::flex()).unwrap();
    experiment.pretrain().unwrap();
    assert!(SavedModels::open(&run).is_ok());

    edit_one_click(&raw);
    let again = prepare_clicks(scratch.path(), &raw, &prepared);
    let Err(err) = SavedModels::open(&run) else {
        panic!("saved models opened a dataset prepared again");
    };
    assert_names(
        &err.to_string(),
        &["prepared again since the run", "vocabulary ids may differ"],
    );
    let Err(err) = Experiment::new(again, small_settings(tiny_bert()), &run, Device::flex()) else {
        panic!("a run folder accepted a dataset prepared again");
    };
    assert_names(
        &err.to_string(),
        &[
            "belongs to a run with other settings",
            "dataset: example-clicks",
        ],
    );

    let err = SavedModels::open(scratch.path()).err().unwrap().to_string();
    assert_names(&err, &["models/run.json: not a training run folder"]);
}

#[test]
fn model_folders_that_do_not_load_leave_no_run_folder() {
    let scratch = tempfile::tempdir().unwrap();
    let dataset = prepare_clicks(
        scratch.path(),
        &scratch.path().join("clicks.csv"),
        &scratch.path().join("prepared"),
    );
    // (what is wrong with the copied tiny BERT, what the error names)
    let cases: [(&str, FolderChange, &str); 3] = [
        (
            "a wrongly typed key",
            |dir| edit_config(dir, "\"type_vocab_size\": 2", "\"type_vocab_size\": \"2\""),
            "config.json: `type_vocab_size`: \"2\" must be a non-negative integer",
        ),
        (
            "a tokenizer larger than the embedding table",
            |dir| {
                let vocab = std::fs::read_to_string(dir.join("vocab.txt")).unwrap();
                let extra = "extra1\nextra2\nextra3\n";
                std::fs::write(dir.join("vocab.txt"), format!("{vocab}{extra}")).unwrap();
                std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
            },
            "config.json: `vocab_size`: 118, but the folder's tokenizer has 121 tokens",
        ),
        (
            "a tokenizer without a padding token",
            |dir| {
                let vocab = std::fs::read_to_string(dir.join("vocab.txt")).unwrap();
                std::fs::write(dir.join("vocab.txt"), vocab.replace("[PAD]", "[NOPAD]")).unwrap();
                std::fs::remove_file(dir.join("tokenizer.json")).ok();
            },
            "no padding token",
        ),
    ];
    for (what, change, wanted) in cases {
        let plm = scratch.path().join("plm");
        let _ = std::fs::remove_dir_all(&plm);
        std::fs::create_dir_all(&plm).unwrap();
        for entry in std::fs::read_dir(tiny_bert()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, plm.join(path.file_name().unwrap())).unwrap();
        }
        change(&plm);
        let run = scratch.path().join("run");
        let err = Experiment::new(dataset.clone(), small_settings(plm), &run, Device::flex())
            .and_then(|mut e| e.pretrain().map(|_| ()))
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        assert_names(&format!("{err:#}"), &[wanted]);
        assert!(!run.exists(), "{what}: a run folder was left");
    }
}

#[test]
fn prompts_longer_than_the_position_table_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    // The example recipe with prompts of up to 100 tokens; the tiny BERT has 64 positions.
    let recipe = std::fs::read_to_string(root().join("datasets/example-clicks/recipe.toml"))
        .unwrap()
        .replace("max_len = 64", "max_len = 100")
        .replace("path = \"clicks.csv\"", "path = \"data.csv\"");
    std::fs::write(scratch.path().join("recipe.toml"), recipe).unwrap();
    std::fs::copy(
        root().join("datasets/example-clicks/clicks.csv"),
        scratch.path().join("data.csv"),
    )
    .unwrap();
    let sources = Sources::new(FlipHome::at(scratch.path()), root().join("datasets"));
    let request = PrepareRequest::new(
        scratch.path().join("recipe.toml").display().to_string(),
        tiny_bert().display().to_string(),
    );
    let dataset = sources.prepare(&request).unwrap().dataset;
    let run = scratch.path().join("run");
    let err = Experiment::new(dataset, small_settings(tiny_bert()), &run, Device::flex())
        .and_then(|mut e| e.pretrain().map(|_| ()))
        .expect_err("prompts longer than the positions were accepted");
    assert_names(
        &format!("{err:#}"),
        &[
            "prompts of up to 100 tokens (the recipe's max_len)",
            "has positions for 64 tokens",
        ],
    );
    assert!(!run.exists(), "a run folder was left");

    // Pretraining padded to more positions than the model has.
    let clicks = prepare_clicks(
        scratch.path(),
        &scratch.path().join("clicks.csv"),
        &scratch.path().join("prepared-64"),
    );
    let mut settings = small_settings(tiny_bert());
    settings.pretraining.pretrain.pad_to = Some(80);
    let err = Experiment::new(clicks, settings, &run, Device::flex())
        .and_then(|mut e| e.pretrain().map(|_| ()))
        .expect_err("padding beyond the positions was accepted");
    assert_names(
        &format!("{err:#}"),
        &["prompts of up to 80 tokens (pretraining's pad_to)"],
    );
    assert!(!run.exists(), "a run folder was left");
}

/// Replaces `from` by `to` in the `config.json` of the model folder `dir`.
fn edit_config(dir: &Path, from: &str, to: &str) {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "config.json holds no {from:?}: {text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn finished_baseline_seeds_are_not_reused_on_a_dataset_prepared_again() {
    let scratch = tempfile::tempdir().unwrap();
    let (raw, prepared) = (
        scratch.path().join("clicks.csv"),
        scratch.path().join("prepared"),
    );
    let dataset = prepare_clicks(scratch.path(), &raw, &prepared);
    let mut settings =
        IdBaselineSettings::new(vec![model_named("lr").unwrap(), model_named("fm").unwrap()]);
    settings.training.max_epochs = 1;
    let dir = scratch.path().join("baselines");
    let record = dir.join("finished").join("lr-seed2012.json");
    let hash_in_record = || -> String {
        let text = std::fs::read_to_string(&record).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["dataset_hash"].as_str().unwrap().to_owned()
    };
    let device = Device::flex();
    train_baselines(&dataset, &settings, &dir, &device, true).unwrap();
    assert_eq!(hash_in_record(), dataset.meta().hash);

    edit_one_click(&raw);
    let again = prepare_clicks(scratch.path(), &raw, &prepared);
    assert_ne!(again.meta().hash, dataset.meta().hash);
    settings.models.truncate(1);
    let table = train_baselines(&again, &settings, &dir, &device, true).unwrap();
    assert_eq!(
        hash_in_record(),
        again.meta().hash,
        "the seed was trained again on the new preparation"
    );
    let models: Vec<&String> = table.rows.keys().collect();
    assert_eq!(models, ["lr"], "FM's row came from the earlier preparation");
}
