//! The shipped example dataset prepared for the tiny BERT checkpoint, with cpu-quick settings
//! cut to its size: shared by the tests that run a whole experiment.

// Each test file is its own crate and uses a part of this module.
#![allow(dead_code)]

use std::path::Path;

use burn::tensor::Device;
use flip_data::{FlipHome, PreparedDataset};
use flip_train::experiment::{
    Experiment, FlipSettings, PrepareRequest, Report, Sources, Variant, model_named, preset_named,
};
use flip_train::finetune::JointProtocol;
use flip_train::report::SeedOutcome;

/// The example dataset prepared for the tiny BERT in a scratch `FLIP_HOME`, and cpu-quick
/// settings cut to its size.
pub fn example_setup() -> (tempfile::TempDir, flip_data::PreparedDataset, FlipSettings) {
    example_setup_with_recipe(|recipe| recipe)
}

/// [`example_setup`] with the example's recipe text changed by `edit` first (its data file
/// copied beside it).
pub fn example_setup_with_recipe(
    edit: impl FnOnce(String) -> String,
) -> (tempfile::TempDir, flip_data::PreparedDataset, FlipSettings) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tiny_bert = root.join("crates/flip-plm/tests/fixtures/tiny-bert");
    let scratch = tempfile::tempdir().unwrap();
    let shipped = root.join("datasets/example-clicks");
    let datasets = scratch.path().join("datasets");
    let copy = datasets.join("example-clicks");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(shipped.join("clicks.csv"), copy.join("clicks.csv")).unwrap();
    let recipe = std::fs::read_to_string(shipped.join("recipe.toml")).unwrap();
    std::fs::write(copy.join("recipe.toml"), edit(recipe)).unwrap();
    let sources = Sources::new(FlipHome::at(scratch.path()), datasets);
    let prepared = sources
        .prepare(&PrepareRequest::new(
            "example-clicks",
            tiny_bert.display().to_string(),
        ))
        .unwrap();
    let mut settings = FlipSettings::from_preset(
        &preset_named("cpu-quick").unwrap(),
        model_named("dcnv2").unwrap(),
        tiny_bert,
    );
    assert_eq!(
        settings.joint,
        JointProtocol::Staged,
        "the cpu-quick preset"
    );
    settings.pretraining.pretrain.max_rows = Some(64);
    settings.id_training.max_epochs = 2;
    settings.finetune.max_epochs = 2;
    settings.finetune.patience = 2;
    (scratch, prepared.dataset, settings)
}

/// [`example_setup`] for the ID-only variants, with the language model's finetuning sample cut
/// to half the training rows, so that the "on the finetuning sample" pair differs from the pair
/// on all rows and runs after it.
pub fn id_only_example_setup() -> (tempfile::TempDir, flip_data::PreparedDataset, FlipSettings) {
    let (scratch, dataset, mut settings) = example_setup();
    settings.id_only = true;
    settings.finetune_rows = Some(dataset.meta().splits.train.rows / 2);
    (scratch, dataset, settings)
}

/// The first seed's outcome of `variant`'s row (the DCNv2 backbone) in `report`.
pub fn first_seed(report: &Report, variant: Variant) -> SeedOutcome {
    report.table.rows[&variant.label("dcnv2")].seeds[0].clone()
}

/// Runs a whole experiment with `settings` in `dir` on the flex device (continuing what `dir`
/// holds when `resume`) and returns its report.
pub fn run_experiment(
    dataset: &PreparedDataset,
    settings: FlipSettings,
    dir: &Path,
    resume: bool,
) -> Report {
    Experiment::new(dataset.clone(), settings, dir, Device::flex())
        .unwrap()
        .resuming(resume)
        .run()
        .unwrap()
}
