//! The models a FLIP run saved (`models/`): FLIP_ID (`flip-id.bpk`) and FLIP (`flip.bpk`),
//! with `run.json`, which says how to rebuild them; scored on the run's own splits or on new
//! rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, Float32Array, RecordBatch, UInt32Array};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use flip_data::{PreparedDataset, PromptTokenizer, Split, SplitData};
use flip_id_models::{CtrNet, ModelConfig};
use flip_plm::{PlmConfig, Pooling};
use serde::{Deserialize, Serialize};

use super::towers::input_shape;
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
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(folder)
        .with_context(|| format!("creating a temporary file in {}", folder.display()))?;
    model
        .save_into(&mut BurnpackStore::from_file(staging.path()).overwrite(true))
        .map_err(|e| anyhow::anyhow!("{}: cannot save the model: {e}", path.display()))?;
    std::fs::File::open(staging.path())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("flushing {}", staging.path().display()))?;
    staging.persist(path).map_err(|e| {
        anyhow::anyhow!("{}: cannot rename into place: {}", path.display(), e.error)
    })?;
    Ok(())
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
    /// run's vocabularies and tokenizer.
    pub fn encode(&self, input: &Path) -> Result<SplitData> {
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

    /// Scores the rows of `input` with `variant` into the Parquet file `output` (`row`: the
    /// input row, `score`); returns the number of rows.
    pub fn predict_file(
        &self,
        variant: SavedVariant,
        input: &Path,
        output: &Path,
        device: &Device,
    ) -> Result<usize> {
        let data = self.encode(input)?;
        let scores = self.scores(variant, &data, device)?;
        let batch = RecordBatch::try_from_iter(vec![
            (
                "row",
                Arc::new(UInt32Array::from(data.source_rows.clone())) as ArrayRef,
            ),
            ("score", Arc::new(Float32Array::from(scores)) as ArrayRef),
        ])?;
        let tmp = output.with_extension("parquet.tmp");
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
        writer.write(&batch)?;
        writer.close()?;
        std::fs::rename(&tmp, output).with_context(|| format!("writing {}", output.display()))?;
        Ok(data.len())
    }
}
