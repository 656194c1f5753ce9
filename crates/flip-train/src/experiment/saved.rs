//! The models a FLIP run saved (`models/`): FLIP_ID (`flip-id.bpk`) and FLIP (`flip.bpk`),
//! with `run.json`, which says how to rebuild them; scored on the run's own splits or on new
//! rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, AsArray, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Float32Type, UInt32Type};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use flip_data::encode::EncodedRows;
use flip_data::{PreparedDataset, PromptTokenizer, Split, SplitData};
use flip_id_models::{CtrNet, ModelConfig};
use flip_plm::{PlmConfig, Pooling};
use serde::{Deserialize, Serialize};

use super::towers::input_shape;
use crate::atomic::persist_with;
use crate::ctr::{Evaluation, evaluate, predict};
use crate::finetune::{TextClassifier, evaluate_text, predict_text};

/// Rows per scoring step of the ID model.
const ID_BATCH: usize = 8192;
/// Rows per scoring step of FLIP.
const TEXT_BATCH: usize = 128;

/// What scoring needs to rebuild the saved models (`models/run.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedRun {
    /// The prepared dataset folder.
    pub dataset: PathBuf,
    /// Its preparation hash when the models were trained (`meta.json`'s `hash`): a folder
    /// prepared again from other raw files, recipe or tokenizer has other vocabulary ids, and
    /// is refused. Runs saved before this was recorded are not checked.
    #[serde(default)]
    pub dataset_hash: Option<String>,
    /// The pretrained language model folder (its config.json and tokenizer).
    pub plm_dir: PathBuf,
    /// Layers of it kept.
    pub plm_layers: Option<usize>,
    /// The ID backbone.
    pub backbone: ModelConfig,
    /// `α = σ(a)` in FLIP.
    pub gated_alpha: bool,
    /// How FLIP's language model is pooled (runs saved before this was recorded pooled the
    /// first token).
    #[serde(default = "first_token")]
    pub pooling: Pooling,
}

fn first_token() -> Pooling {
    Pooling::Cls
}

/// The first 12 characters of a hash, for messages.
fn short(hash: &str) -> &str {
    hash.char_indices()
        .nth(12)
        .map_or(hash, |(end, _)| &hash[..end])
}

/// Which input columns a scores file carries beside `row` and `score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CarriedColumns {
    /// The recipe's user and item columns (every field's column when no field has a role).
    #[default]
    Keys,
    /// Every column of the input.
    All,
}

/// What [`SavedModels::predict_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// Rows scored.
    pub rows: usize,
    /// Per field: its name and how many rows took its OOV id (values not seen in training).
    pub oov: Vec<(String, usize)>,
}

impl Prediction {
    /// One line per field with OOV rows (`user: 3 of 120 rows unseen in training`).
    pub fn oov_lines(&self) -> Vec<String> {
        self.oov
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(field, n)| {
                format!(
                    "{field}: {n} of {} rows not seen in training (scored with its OOV id)",
                    self.rows
                )
            })
            .collect()
    }
}

/// The file a scores table is written to, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScoresFormat {
    Csv,
    Parquet,
}

impl ScoresFormat {
    fn of(output: &Path) -> Result<Self> {
        match output.extension().and_then(|e| e.to_str()) {
            Some("csv") => Ok(ScoresFormat::Csv),
            Some("parquet") => Ok(ScoresFormat::Parquet),
            _ => bail!(
                "{}: name the output .csv or .parquet (the extension chooses the format)",
                output.display()
            ),
        }
    }

    /// Writes `batch` to the file `path`.
    fn write(self, batch: &RecordBatch, path: &Path) -> std::io::Result<()> {
        let file = std::fs::File::create(path)?;
        match self {
            ScoresFormat::Parquet => {
                let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
                    .map_err(std::io::Error::other)?;
                writer.write(batch).map_err(std::io::Error::other)?;
                writer.close().map_err(std::io::Error::other)?;
            }
            ScoresFormat::Csv => {
                let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
                let schema = batch.schema();
                writer.write_record(schema.fields().iter().map(|f| f.name().as_str()))?;
                let rows = batch.column(0).as_primitive::<UInt32Type>();
                let scores = batch
                    .column(batch.num_columns() - 1)
                    .as_primitive::<Float32Type>();
                let texts: Vec<&StringArray> = (1..batch.num_columns() - 1)
                    .map(|c| batch.column(c).as_string::<i32>())
                    .collect();
                for r in 0..batch.num_rows() {
                    let mut record = vec![rows.value(r).to_string()];
                    record.extend(texts.iter().map(|t| t.value(r).to_owned()));
                    record.push(scores.value(r).to_string());
                    writer.write_record(&record)?;
                }
                writer.flush()?;
            }
        }
        Ok(())
    }
}

/// Which saved model scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavedVariant {
    /// The ID model alone (no language model at inference).
    FlipId,
    /// Both towers.
    Flip,
}

impl std::str::FromStr for SavedVariant {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "flip-id" => Ok(SavedVariant::FlipId),
            "flip" => Ok(SavedVariant::Flip),
            other => bail!("unknown variant `{other}`; use flip-id or flip"),
        }
    }
}

/// One line of [`SavedModels::evaluate`].
#[derive(Debug, Clone)]
pub struct SavedEvaluation {
    /// `FLIP_ID` or `FLIP`.
    pub variant: &'static str,
    /// The split scored.
    pub split: Split,
    /// Its metrics.
    pub evaluation: Evaluation,
}

/// The lines of [`SavedModels::evaluate`] as a Markdown table.
pub fn evaluation_table(lines: &[SavedEvaluation]) -> String {
    let mut md =
        String::from("| variant | split | rows | AUC | LogLoss |\n|---|---|---:|---:|---:|\n");
    for line in lines {
        let e = line.evaluation;
        md.push_str(&format!(
            "| {} | {} | {} | {:.4} | {:.4} |\n",
            line.variant,
            line.split.name(),
            e.rows,
            e.auc,
            e.logloss
        ));
    }
    md
}

/// A run's saved models and what they need.
pub struct SavedModels {
    run: SavedRun,
    dataset: PreparedDataset,
    tokenizer: PromptTokenizer,
    dir: PathBuf,
}

/// Saves `model` to `path` (a burnpack file) whole or not at all: written under a temporary
/// name in the same folder, flushed to disk, then renamed over `path`.
pub(crate) fn save_module<M: burn::module::Module>(model: &M, path: &Path) -> Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    persist_with(path, |tmp| {
        model
            .save_into(&mut BurnpackStore::from_file(tmp).overwrite(true))
            .map_err(|e| std::io::Error::other(format!("cannot save the model: {e}")))
    })
    .with_context(|| format!("saving {}", path.display()))
}

/// Loads the burnpack file `path` into `model` (built with the same configuration).
pub(crate) fn load_module<M: burn::module::Module>(model: &mut M, path: &Path) -> Result<()> {
    model
        .load_from(&mut BurnpackStore::from_file(path))
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))
}

impl SavedModels {
    /// Opens the models of the run folder `dir` (written by a FLIP experiment).
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("models").join("run.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: not a training run folder (run `cargo xtask train` first)",
                path.display()
            )
        })?;
        let run: SavedRun = serde_json::from_str(&text)
            .with_context(|| format!("{}: unexpected content", path.display()))?;
        let tokenizer = PromptTokenizer::from_path(&run.plm_dir)?;
        let dataset = PreparedDataset::open_for_tokenizer(
            &run.dataset,
            tokenizer.hash(),
            tokenizer.source(),
        )?;
        match &run.dataset_hash {
            Some(hash) if *hash != dataset.meta().hash => bail!(
                "{}: prepared again since the run in {} was trained (preparation {} then, {} \
                 now): its vocabulary ids may differ from the models'; prepare it from the same \
                 raw files, recipe and tokenizer, or train again",
                run.dataset.display(),
                dir.display(),
                short(hash),
                short(&dataset.meta().hash)
            ),
            Some(_) => {}
            None => tracing::warn!(
                "{}: saved before runs recorded their dataset's hash; the dataset is not checked",
                path.display()
            ),
        }
        Ok(SavedModels {
            run,
            dataset,
            tokenizer,
            dir: dir.to_owned(),
        })
    }

    /// The dataset the models were trained on.
    pub fn dataset(&self) -> &PreparedDataset {
        &self.dataset
    }

    /// The saved FLIP_ID model.
    pub fn flip_id(&self, device: &Device) -> Result<CtrNet> {
        let mut model = self.run.backbone.init(input_shape(&self.dataset), device);
        load_module(&mut model, &self.dir.join("models").join("flip-id.bpk"))?;
        Ok(model)
    }

    fn flip_path(&self) -> PathBuf {
        self.dir.join("models").join("flip.bpk")
    }

    /// Whether the run saved a FLIP model (not with `id_only`).
    pub fn has_flip(&self) -> bool {
        self.flip_path().is_file()
    }

    /// The saved FLIP model.
    pub fn flip(&self, device: &Device) -> Result<TextClassifier> {
        let mut config = PlmConfig::from_hf_file(&self.run.plm_dir.join("config.json"))?;
        if let Some(k) = self.run.plm_layers {
            config = config.with_layers(k);
        }
        let id = self.run.backbone.init(input_shape(&self.dataset), device);
        let mut model = TextClassifier::new(
            config.init(false, device),
            Some(id),
            self.run.gated_alpha,
            device,
        )
        .with_pooling(self.run.pooling);
        let path = self.flip_path();
        if !path.is_file() {
            bail!(
                "{}: this run has no FLIP model (trained with --id-only); use --variant flip-id",
                path.display()
            );
        }
        load_module(&mut model, &path)?;
        Ok(model)
    }

    /// FLIP_ID, and FLIP when the run saved it, on the validation and test splits.
    pub fn evaluate(&self, device: &Device) -> Result<Vec<SavedEvaluation>> {
        let flip_id = self.flip_id(device)?;
        let flip = if self.has_flip() {
            Some(self.flip(device)?)
        } else {
            None
        };
        let mut out = Vec::new();
        for split in [Split::Valid, Split::Test] {
            let data = self.dataset.load(split)?;
            out.push(SavedEvaluation {
                variant: "FLIP_ID",
                split,
                evaluation: evaluate(&flip_id, &data, ID_BATCH, device),
            });
            if let Some(flip) = &flip {
                out.push(SavedEvaluation {
                    variant: "FLIP",
                    split,
                    evaluation: evaluate_text(
                        flip,
                        &data,
                        TEXT_BATCH,
                        self.tokenizer.pad_id(),
                        device,
                    ),
                });
            }
        }
        Ok(out)
    }

    /// The rows of the CSV or Parquet file `input` (the dataset's columns), encoded with the
    /// run's vocabularies and tokenizer, with the per-field count of values that took the OOV id.
    pub fn encode(&self, input: &Path) -> Result<EncodedRows> {
        Ok(flip_data::encode::encode_rows(
            &self.dataset,
            &self.tokenizer,
            input,
        )?)
    }

    /// Click probabilities of `data`'s rows by `variant`.
    pub fn scores(
        &self,
        variant: SavedVariant,
        data: &SplitData,
        device: &Device,
    ) -> Result<Vec<f32>> {
        Ok(match variant {
            SavedVariant::FlipId => predict(&self.flip_id(device)?, data, ID_BATCH, device),
            SavedVariant::Flip => predict_text(
                &self.flip(device)?,
                data,
                TEXT_BATCH,
                self.tokenizer.pad_id(),
                device,
            ),
        })
    }

    /// Scores the rows of `input` with `variant` into `output`, a CSV or Parquet file as its
    /// extension says, with the columns `row` (the input row, from 0), the input's `carried`
    /// columns (values as read: trimmed, integral floats as integers; an input column named
    /// `row` or `score` becomes `input_row` / `input_score`), and `score` (the click
    /// probability).
    pub fn predict_file(
        &self,
        variant: SavedVariant,
        input: &Path,
        output: &Path,
        carried: CarriedColumns,
        device: &Device,
    ) -> Result<Prediction> {
        let format = ScoresFormat::of(output)?;
        if output.exists() && std::fs::canonicalize(output)? == std::fs::canonicalize(input)? {
            bail!("{}: the output would overwrite the input", output.display());
        }
        let names = match carried {
            CarriedColumns::Keys => self.key_columns(),
            CarriedColumns::All => flip_data::encode::input_columns(&self.dataset, input)?,
        };
        let encoded = self.encode(input)?;
        let scores = self.scores(variant, &encoded.data, device)?;
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let table = flip_data::encode::read_input(&self.dataset, input, &name_refs)?;
        let mut columns: Vec<(&str, ArrayRef)> = vec![(
            "row",
            Arc::new(UInt32Array::from(encoded.data.source_rows.clone())),
        )];
        let carried_names: Vec<String> = table
            .columns
            .iter()
            .map(|(name, _)| match name.as_str() {
                // The output's own columns keep their names; input columns named alike are
                // renamed (scoring an earlier scores file, say).
                "row" | "score" => format!("input_{name}"),
                _ => name.clone(),
            })
            .collect();
        for ((_, column), name) in table.columns.iter().zip(&carried_names) {
            let values: Vec<&str> = (0..table.len()).map(|r| column.value(r)).collect();
            columns.push((name.as_str(), Arc::new(StringArray::from(values))));
        }
        columns.push(("score", Arc::new(Float32Array::from(scores))));
        let batch = RecordBatch::try_from_iter(columns)?;
        persist_with(output, |tmp| format.write(&batch, tmp))
            .with_context(|| format!("writing {}", output.display()))?;
        Ok(Prediction {
            rows: encoded.data.len(),
            oov: encoded.oov,
        })
    }

    /// The recipe's user and item columns; every field's column when no field has a role.
    fn key_columns(&self) -> Vec<String> {
        let fields = &self.dataset.meta().recipe.fields;
        let keys: Vec<String> = fields
            .iter()
            .filter(|f| f.role.is_some())
            .map(|f| f.column.clone())
            .collect();
        if keys.is_empty() {
            fields.iter().map(|f| f.column.clone()).collect()
        } else {
            keys
        }
    }
}
