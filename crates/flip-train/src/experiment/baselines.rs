//! The ID-model baselines: zoo members trained from scratch on all training rows, several seeds
//! each, into one results table that grows across invocations (`results.json`,
//! `results.md`). Every finished seed is recorded with its settings, so that a resumed run
//! reuses exactly the seeds whose settings match.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use flip_data::{PreparedDataset, Split, SplitData};
use flip_id_models::{InputShape, ModelConfig};
use serde::{Deserialize, Serialize};

use super::run_dir::{holds_dataset, record_dataset};
use super::settings::{IdBaselineSettings, SETTINGS_FILE, to_toml};
use super::towers::input_shape;
use crate::atomic::{write_atomically, write_json_atomically};
use crate::ctr::{CtrTrainConfig, evaluate, fit};
use crate::report::{ModelResult, ResultsTable, SeedOutcome};
use crate::validate::Check;

/// Trains every model of `settings` with every seed into `dir` and returns the folder's
/// results table (rows of earlier invocations kept). With `resume`, seeds an earlier run
/// finished with the same settings are read back instead of trained. `settings.toml` holds
/// the settings of the latest invocation.
pub fn train_baselines(
    dataset: &PreparedDataset,
    settings: &IdBaselineSettings,
    dir: &Path,
    device: &Device,
    resume: bool,
) -> Result<ResultsTable> {
    settings.check()?;
    let meta = dataset.meta();
    let data = Splits {
        train: dataset.load(Split::Train)?,
        valid: dataset.load(Split::Valid)?,
        test: dataset.load(Split::Test)?,
        shape: input_shape(dataset),
    };
    let base = &settings.training;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_atomically(&dir.join(SETTINGS_FILE), to_toml(settings)?.as_bytes())
        .with_context(|| format!("writing {}", dir.join(SETTINGS_FILE).display()))?;
    let title = format!(
        "{} ({} split, {} / {} / {} rows), Adam lr {}, batch {}, embedding L2 {}, {} embedding updates",
        meta.name,
        meta.recipe.split.protocol,
        data.train.len(),
        data.valid.len(),
        data.test.len(),
        base.learning_rate,
        base.batch_size,
        base.embedding_l2,
        if base.sparse_embeddings {
            "row-sparse"
        } else {
            "dense"
        }
    );
    // Rows of earlier invocations are kept only when they were trained on this preparation.
    let mut table = if holds_dataset(dir, dataset) {
        ResultsTable::load_or_new(dir, &title)
    } else {
        if dir.join("results.json").is_file() {
            tracing::info!(
                "{}: results of another preparation of the dataset, starting a new table",
                dir.display()
            );
        }
        ResultsTable::new(&title)
    };
    record_dataset(dir, dataset)?;
    table.title = title;
    for model_config in &settings.models {
        let name = model_config.name();
        let mut outcomes = Vec::new();
        for &seed in &settings.seeds {
            let record = FinishedSeed {
                dataset_hash: meta.hash.clone(),
                model: serde_json::to_value(model_config)?,
                config: CtrTrainConfig {
                    seed,
                    ..base.clone()
                },
                outcome: None,
            };
            let finished_path = dir.join("finished").join(format!("{name}-seed{seed}.json"));
            if let Some(outcome) = resume.then(|| record.earlier(&finished_path)).flatten() {
                tracing::info!(
                    "{name}, seed {seed}: finished before with the same settings, reusing {}",
                    finished_path.display()
                );
                outcomes.push(outcome);
            } else {
                tracing::info!("{name}, seed {seed}");
                let outcome = train_one_seed(model_config, &record.config, &data, dir, device)?;
                FinishedSeed {
                    outcome: Some(outcome.clone()),
                    ..record
                }
                .write(&finished_path)?;
                outcomes.push(outcome);
            }
            // The table after every seed, so that an interrupted run keeps what it finished.
            table
                .rows
                .insert(name.to_owned(), ModelResult::new(name, outcomes.clone()));
            table.save(dir)?;
        }
    }
    Ok(table)
}

/// The three splits and the input shape they give the models.
struct Splits {
    train: SplitData,
    valid: SplitData,
    test: SplitData,
    shape: InputShape,
}

/// Trains one model with one seed, writes its epoch metrics to `<model>-seed<seed>.jsonl` and
/// scores the best epoch on the test split.
fn train_one_seed(
    model_config: &ModelConfig,
    config: &CtrTrainConfig,
    data: &Splits,
    dir: &Path,
    device: &Device,
) -> Result<SeedOutcome> {
    let (name, seed) = (model_config.name(), config.seed);
    device.seed(seed);
    let ad = device.clone().autodiff();
    let model = model_config.init(data.shape, &ad);
    let log_path = dir.join(format!("{name}-seed{seed}.jsonl"));
    let mut log = String::new();
    let fitted = fit(model, &data.train, &data.valid, config, &ad, |record| {
        log.push_str(&serde_json::to_string(record).expect("records serialize"));
        log.push('\n');
        // Rewritten after every epoch, so that a long run can be followed.
        if let Err(e) = write_atomically(&log_path, log.as_bytes()) {
            tracing::warn!("{}: {e}", log_path.display());
        }
    })
    .with_context(|| format!("{name}, seed {seed}"))?;
    let outcome = SeedOutcome::of_fit(
        seed,
        evaluate(&fitted.model, &data.test, config.eval_batch_size, device),
        &fitted.history,
        fitted.best_epoch,
    );
    tracing::info!(
        "{name}, seed {seed}: test AUC {:.4}, LogLoss {:.4}",
        outcome.test.auc,
        outcome.test.logloss
    );
    Ok(outcome)
}

/// What a finished seed leaves in `finished/<model>-seed<seed>.json`: the dataset's
/// preparation hash, the model and trainer settings it ran with and its outcome, so that a
/// resumed run reuses it only on the same data under the same settings.
#[derive(Serialize, Deserialize)]
struct FinishedSeed {
    /// The preparation hash of the dataset it was trained on (empty in records written before
    /// it was kept, which are never reused).
    #[serde(default)]
    dataset_hash: String,
    /// The model configuration, as serialized by [`ModelConfig`].
    model: serde_json::Value,
    config: CtrTrainConfig,
    outcome: Option<SeedOutcome>,
}

impl FinishedSeed {
    /// The outcome recorded at `path` by an earlier run with the same settings as `self`;
    /// `None` (with the reason logged) when there is none, it is unreadable, or the settings
    /// differ.
    fn earlier(&self, path: &Path) -> Option<SeedOutcome> {
        let text = std::fs::read_to_string(path).ok()?;
        let earlier: FinishedSeed = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("{}: unreadable ({e}); training again", path.display());
                return None;
            }
        };
        if earlier.dataset_hash != self.dataset_hash {
            tracing::info!(
                "{}: trained on another preparation of the dataset; training again",
                path.display()
            );
            return None;
        }
        if earlier.model != self.model || earlier.config != self.config {
            tracing::info!(
                "{}: made with other settings ({:?} vs now {:?}); training again",
                path.display(),
                earlier.config,
                self.config
            );
            return None;
        }
        earlier.outcome
    }

    fn write(&self, path: &Path) -> Result<()> {
        write_json_atomically(path, self).with_context(|| format!("writing {}", path.display()))
    }
}
