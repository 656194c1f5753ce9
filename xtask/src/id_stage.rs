//! `cargo xtask train --stage id`: ID-model baselines, several seeds, a results table.

use anyhow::{Context, Result};
use burn::tensor::Device;
use flip_data::{FlipHome, PreparedDataset, Split};
use flip_id_models::InputShape;
use flip_train::report::{ModelResult, ResultsTable, SeedOutcome};
use flip_train::{evaluate, fit};

use crate::commands::TrainArgs;

/// Trains every requested model with every seed and updates the run's results table.
pub fn run(
    home: &FlipHome,
    dataset: &PreparedDataset,
    args: &TrainArgs,
    device: &Device,
) -> Result<()> {
    let meta = dataset.meta();
    let train = dataset.load(Split::Train)?;
    let valid = dataset.load(Split::Valid)?;
    let test = dataset.load(Split::Test)?;
    let shape = InputShape {
        num_features: meta.vocab_size as usize,
        num_fields: meta.fields.len(),
    };
    let base = args.train_config(meta.vocab_size)?;
    let dir = args.run_dir(home, dataset);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let title = format!(
        "{} ({} split, {} / {} / {} rows), Adam lr {}, batch {}, embedding L2 {}, {} embedding updates",
        meta.name,
        meta.recipe.split.protocol,
        train.len(),
        valid.len(),
        test.len(),
        base.learning_rate,
        base.batch_size,
        base.embedding_l2,
        if base.sparse_embeddings {
            "row-sparse"
        } else {
            "dense"
        }
    );
    let mut table = ResultsTable::load_or_new(&dir, &title);
    table.title = title;
    for model_config in args.models()? {
        let name = model_config.name();
        let mut outcomes = Vec::new();
        for seed in args.seed_list() {
            tracing::info!("{name}, seed {seed}");
            let config = flip_train::CtrTrainConfig {
                seed,
                ..base.clone()
            };
            device.seed(seed);
            let ad = device.clone().autodiff();
            let model = model_config.init(shape, &ad);
            let log_path = dir.join(format!("{name}-seed{seed}.jsonl"));
            let mut log = String::new();
            let fitted = fit(model, &train, &valid, &config, &ad, |record| {
                log.push_str(&serde_json::to_string(record).expect("records serialize"));
                log.push('\n');
            });
            flip_train::report::write_atomically(&log_path, log.as_bytes())?;
            let best = &fitted.history[fitted.best_epoch - 1];
            let outcome = SeedOutcome {
                seed,
                test: evaluate(&fitted.model, &test, config.eval_batch_size, device),
                valid: best.valid,
                best_epoch: fitted.best_epoch,
                epochs: fitted.history.len(),
                seconds_per_epoch: fitted.history.iter().map(|r| r.train_seconds).sum::<f64>()
                    / fitted.history.len() as f64,
            };
            tracing::info!(
                "{name}, seed {seed}: test AUC {:.4}, LogLoss {:.4}",
                outcome.test.auc,
                outcome.test.logloss
            );
            outcomes.push(outcome);
        }
        table
            .rows
            .insert(name.to_owned(), ModelResult::new(name, outcomes));
        table.save(&dir)?;
    }
    println!("{}", table.markdown());
    println!("written to {}", dir.display());
    Ok(())
}
