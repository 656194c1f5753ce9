//! A small FLIP experiment from Rust: prepare a dataset, pretrain both towers for a few steps,
//! finetune FLIP_ID and print its test AUC. By default on the shipped example dataset with the
//! tiny BERT test checkpoint (seconds); `-- ml-100k minilm` runs it on MovieLens-100K with
//! all-MiniLM-L6-v2 (fetched into `$FLIP_HOME`).
//!
//! `cargo run --release -p flip-train --features flex --example flip_experiment`; the test
//! suite runs it too (`tests/example.rs`).

use std::path::Path;

use anyhow::Result;
use burn::tensor::Device;
use flip_data::FlipHome;
use flip_train::experiment::{
    Experiment, FlipSettings, PrepareRequest, Sources, Variant, model_named, preset_named,
};

/// Runs the experiment (public so that the test suite can call it).
pub fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tiny_bert = root.join("crates/flip-plm/tests/fixtures/tiny-bert");
    let mut args = std::env::args().skip(1);
    let dataset = args.next().unwrap_or_else(|| "example-clicks".into());
    let plm = args
        .next()
        .unwrap_or_else(|| tiny_bert.display().to_string());
    let scratch = tempfile::tempdir()?; // prepared data and the run folder
    let sources = Sources::new(FlipHome::at(scratch.path()), root.join("datasets"));
    let plm_dir = sources.plm_folder(&plm)?;

    let prepared = sources.prepare(&PrepareRequest::new(dataset, plm_dir.display().to_string()))?;
    let mut settings =
        FlipSettings::from_preset(&preset_named("cpu-quick")?, model_named("dcnv2")?, plm_dir);
    settings.pretraining.pretrain.max_rows = Some(256); // 8 pretraining steps of 32 rows
    settings.id_training.max_epochs = 2;
    let run = scratch.path().join("run");
    let mut experiment = Experiment::new(prepared.dataset, settings, &run, Device::flex())?;

    let towers = experiment.pretrain()?;
    println!("pretrained in {:.1} s", towers.seconds);
    let flip_id = experiment.finetune(Variant::FlipId, 2012)?;
    println!(
        "FLIP_ID: test AUC {:.4}, LogLoss {:.4} on {} rows",
        flip_id.test.auc, flip_id.test.logloss, flip_id.test.rows
    );
    Ok(())
}
