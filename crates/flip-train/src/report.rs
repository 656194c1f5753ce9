//! Run results: per-seed outcomes, their mean and standard deviation, Markdown and JSON tables,
//! written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomically;
use crate::ctr::{EpochRecord, Evaluation};

/// The outcome of one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedOutcome {
    /// Seed of weights and batch order.
    pub seed: u64,
    /// Test metrics of the restored best epoch.
    pub test: Evaluation,
    /// Validation metrics of that epoch.
    pub valid: Evaluation,
    /// The epoch kept (1-based; 0 for the starting model, kept when no epoch beat it).
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Mean wall seconds of a training epoch (0 when none ran: a kept starting model).
    pub seconds_per_epoch: f64,
}

impl SeedOutcome {
    /// The outcome of a fitted model: `test` measured on the restored best epoch
    /// (`best_epoch`, 1-based) of `history`.
    pub fn of_fit(seed: u64, test: Evaluation, history: &[EpochRecord], best_epoch: usize) -> Self {
        Self::with_valid(
            seed,
            test,
            history[best_epoch - 1].valid,
            history,
            best_epoch,
        )
    }

    /// The outcome of a fitted model whose kept state scored `valid` on validation (it may be
    /// the starting model, `best_epoch` 0, which `history` does not hold).
    pub fn with_valid(
        seed: u64,
        test: Evaluation,
        valid: Evaluation,
        history: &[EpochRecord],
        best_epoch: usize,
    ) -> Self {
        SeedOutcome {
            seed,
            test,
            valid,
            best_epoch,
            epochs: history.len(),
            // No epoch (a kept starting model) trained for 0 s; an empty f64 sum is −0.0.
            seconds_per_epoch: if history.is_empty() {
                0.0
            } else {
                history.iter().map(|r| r.train_seconds).sum::<f64>() / history.len() as f64
            },
        }
    }
}

/// Mean and sample standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
}

impl MeanStd {
    /// Summarises values.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        MeanStd { mean, std }
    }
}

/// One model's line in a results table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// Model name.
    pub model: String,
    /// Test AUC over seeds.
    pub auc: MeanStd,
    /// Test LogLoss over seeds.
    pub logloss: MeanStd,
    /// Best epoch over seeds.
    pub best_epoch: MeanStd,
    /// Seconds per training epoch over seeds.
    pub seconds_per_epoch: MeanStd,
    /// Every seed.
    pub seeds: Vec<SeedOutcome>,
}

impl ModelResult {
    /// Its row of a results table: `| model | AUC mean ± sd | LogLoss mean ± sd | best epoch |
    /// s / epoch | seeds |`, with a line break.
    pub fn markdown_row(&self) -> String {
        format!(
            "| {} | {:.4} ± {:.4} | {:.4} ± {:.4} | {:.1} | {:.1} | {} |\n",
            self.model,
            self.auc.mean,
            self.auc.std,
            self.logloss.mean,
            self.logloss.std,
            self.best_epoch.mean,
            self.seconds_per_epoch.mean,
            self.seeds.len()
        )
    }

    /// Summarises the seeds of one model.
    pub fn new(model: &str, seeds: Vec<SeedOutcome>) -> Self {
        let pick =
            |f: &dyn Fn(&SeedOutcome) -> f64| MeanStd::of(&seeds.iter().map(f).collect::<Vec<_>>());
        ModelResult {
            model: model.to_owned(),
            auc: pick(&|s| s.test.auc),
            logloss: pick(&|s| s.test.logloss),
            best_epoch: pick(&|s| s.best_epoch as f64),
            seconds_per_epoch: pick(&|s| s.seconds_per_epoch),
            seeds,
        }
    }
}

/// A results table (one row per model), kept as `results.json` and `results.md`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultsTable {
    /// What was run (dataset, protocol, settings).
    pub title: String,
    /// Rows by model name.
    pub rows: BTreeMap<String, ModelResult>,
}

impl ResultsTable {
    /// Reads `results.json` from `dir`, or an empty table.
    pub fn load_or_new(dir: &Path, title: &str) -> Self {
        std::fs::read_to_string(dir.join("results.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| Self::new(title))
    }

    /// An empty table.
    pub fn new(title: &str) -> Self {
        ResultsTable {
            title: title.to_owned(),
            rows: BTreeMap::new(),
        }
    }

    /// The table as Markdown, best AUC first.
    pub fn markdown(&self) -> String {
        let mut rows: Vec<&ModelResult> = self.rows.values().collect();
        rows.sort_by(|a, b| b.auc.mean.total_cmp(&a.auc.mean));
        let mut out = format!(
            "## {}\n\n| model | test AUC | test LogLoss | best epoch | s / epoch | seeds |\n|---|---:|---:|---:|---:|---:|\n",
            self.title
        );
        for r in rows {
            out.push_str(&r.markdown_row());
        }
        out
    }

    /// Writes `results.json` and `results.md` into `dir` (each through a temporary file).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_atomically(
            &dir.join("results.json"),
            serde_json::to_string_pretty(self)
                .map_err(std::io::Error::other)?
                .as_bytes(),
        )?;
        write_atomically(&dir.join("results.md"), self.markdown().as_bytes())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A seed's outcome with test and validation AUC `auc` (for tests of tables and pairings).
    pub(crate) fn outcome(seed: u64, auc: f64) -> SeedOutcome {
        let eval = Evaluation {
            auc,
            logloss: 0.5,
            rows: 10,
        };
        SeedOutcome {
            seed,
            test: eval,
            valid: eval,
            best_epoch: 2,
            epochs: 4,
            seconds_per_epoch: 3.0,
        }
    }

    #[test]
    fn seconds_per_epoch_average_the_epochs_and_are_zero_without_one() {
        let eval = Evaluation {
            auc: 0.7,
            logloss: 0.6,
            rows: 10,
        };
        let epoch = |epoch, train_seconds| EpochRecord {
            epoch,
            train_loss: 0.5,
            valid: eval,
            train_seconds,
            samples_per_second: 100.0,
        };
        let two = SeedOutcome::with_valid(1, eval, eval, &[epoch(1, 3.0), epoch(2, 5.0)], 2);
        assert_eq!((two.epochs, two.seconds_per_epoch), (2, 4.0));
        // The starting model kept with no epoch trained (FLIP with `staged_max_epochs = 0`):
        // a plain 0, not the −0.0 of an empty sum that a table prints as "-0.0".
        let none = SeedOutcome::with_valid(1, eval, eval, &[], 0);
        assert_eq!(none.epochs, 0);
        assert!(none.seconds_per_epoch == 0.0 && none.seconds_per_epoch.is_sign_positive());
        assert_eq!(format!("{:.1}", none.seconds_per_epoch), "0.0");
    }

    #[test]
    fn mean_and_sample_std() {
        let m = MeanStd::of(&[0.80, 0.81, 0.82]);
        assert!((m.mean - 0.81).abs() < 1e-12);
        assert!((m.std - 0.01).abs() < 1e-12);
        assert_eq!(MeanStd::of(&[0.7]).std, 0.0);
    }

    #[test]
    fn table_round_trips_and_sorts_by_auc() {
        let dir = tempfile::tempdir().unwrap();
        let mut table = ResultsTable::load_or_new(dir.path(), "ml-1m");
        table
            .rows
            .insert("lr".into(), ModelResult::new("lr", vec![outcome(1, 0.70)]));
        table.rows.insert(
            "dcnv2".into(),
            ModelResult::new("dcnv2", vec![outcome(1, 0.80), outcome(2, 0.82)]),
        );
        table.save(dir.path()).unwrap();
        let back = ResultsTable::load_or_new(dir.path(), "ignored");
        assert_eq!(back, table);
        let md = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
        let dcn = md.find("| dcnv2 | 0.8100 ± 0.0141").unwrap();
        assert!(dcn < md.find("| lr |").unwrap());
    }
}
