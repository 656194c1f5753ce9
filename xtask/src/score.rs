//! `cargo xtask eval` and `cargo xtask predict`: the models a `train` run saved, on its test
//! split or on new rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, Float32Array, RecordBatch, UInt32Array};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use clap::Args;
use flip_data::{PreparedDataset, PromptTokenizer, Split, SplitData};
use flip_id_models::{CtrNet, InputShape};
use flip_plm::PlmConfig;
use flip_train::finetune::{TextClassifier, evaluate_text, predict_text};
use flip_train::{evaluate, predict};

use crate::flip_stage::SavedRun;

#[derive(Args)]
pub struct EvalArgs {
    /// A folder written by `cargo xtask train`.
    #[arg(long)]
    run: PathBuf,
}

#[derive(Args)]
pub struct PredictArgs {
    /// A folder written by `cargo xtask train`.
    #[arg(long)]
    run: PathBuf,
    /// Rows to score: `.csv` (with a header) or `.parquet`, with the dataset's columns.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the scores (Parquet: `row`, `score`).
    #[arg(long)]
    output: PathBuf,
    /// `flip-id` (the ID model alone, no language model at inference) or `flip`.
    #[arg(long, default_value = "flip-id")]
    variant: String,
}

/// A run's saved models and what they need.
struct Saved {
    run: SavedRun,
    dataset: PreparedDataset,
    tokenizer: PromptTokenizer,
    dir: PathBuf,
}

impl Saved {
    fn open(dir: &Path) -> Result<Self> {
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
        Ok(Saved {
            run,
            dataset,
            tokenizer,
            dir: dir.to_owned(),
        })
    }

    fn shape(&self) -> InputShape {
        let meta = self.dataset.meta();
        InputShape {
            num_features: meta.vocab_size as usize,
            num_fields: meta.fields.len(),
        }
    }

    fn flip_id(&self, device: &Device) -> Result<CtrNet> {
        let mut model = self.run.backbone.init(self.shape(), device);
        let path = self.dir.join("models").join("flip-id.bpk");
        model
            .load_from(&mut BurnpackStore::from_file(&path))
            .with_context(|| format!("loading {}", path.display()))?;
        Ok(model)
    }

    fn flip_path(&self) -> PathBuf {
        self.dir.join("models").join("flip.bpk")
    }

    /// Whether the run saved a FLIP model (not with `--id-only`).
    fn has_flip(&self) -> bool {
        self.flip_path().is_file()
    }

    fn flip(&self, device: &Device) -> Result<TextClassifier> {
        let mut config = PlmConfig::from_hf_file(&self.run.plm_dir.join("config.json"))?;
        if let Some(k) = self.run.plm_layers {
            config = config.with_layers(k);
        }
        let id = self.run.backbone.init(self.shape(), device);
        let mut model = TextClassifier::new(
            config.init(false, device),
            Some(id),
            self.run.gated_alpha,
            device,
        );
        let path = self.flip_path();
        if !path.is_file() {
            bail!(
                "{}: this run has no FLIP model (trained with --id-only); use --variant flip-id",
                path.display()
            );
        }
        model
            .load_from(&mut BurnpackStore::from_file(&path))
            .with_context(|| format!("loading {}", path.display()))?;
        Ok(model)
    }

    fn scores(&self, variant: &str, data: &SplitData, device: &Device) -> Result<Vec<f32>> {
        match variant {
            "flip-id" => Ok(predict(&self.flip_id(device)?, data, 8192, device)),
            "flip" => Ok(predict_text(
                &self.flip(device)?,
                data,
                128,
                self.tokenizer.pad_id(),
                device,
            )),
            other => bail!("unknown variant `{other}`; use flip-id or flip"),
        }
    }
}

pub fn eval(args: &EvalArgs, device: &Device) -> Result<()> {
    let saved = Saved::open(&args.run)?;
    let flip_id = saved.flip_id(device)?;
    // A run trained with --id-only has no FLIP model.
    let flip = if saved.has_flip() {
        Some(saved.flip(device)?)
    } else {
        None
    };
    println!("| variant | split | rows | AUC | LogLoss |\n|---|---|---:|---:|---:|");
    for split in [Split::Valid, Split::Test] {
        let data = saved.dataset.load(split)?;
        let id = evaluate(&flip_id, &data, 8192, device);
        println!(
            "| FLIP_ID | {} | {} | {:.4} | {:.4} |",
            split.name(),
            id.rows,
            id.auc,
            id.logloss
        );
        if let Some(flip) = &flip {
            let e = evaluate_text(flip, &data, 128, saved.tokenizer.pad_id(), device);
            println!(
                "| FLIP | {} | {} | {:.4} | {:.4} |",
                split.name(),
                e.rows,
                e.auc,
                e.logloss
            );
        }
    }
    Ok(())
}

pub fn predict_rows(args: &PredictArgs, device: &Device) -> Result<()> {
    let saved = Saved::open(&args.run)?;
    let data = flip_data::encode::encode_rows(&saved.dataset, &saved.tokenizer, &args.input)?;
    let scores = saved.scores(&args.variant, &data, device)?;
    let batch = RecordBatch::try_from_iter(vec![
        (
            "row",
            Arc::new(UInt32Array::from(data.source_rows.clone())) as ArrayRef,
        ),
        ("score", Arc::new(Float32Array::from(scores)) as ArrayRef),
    ])?;
    let tmp = args.output.with_extension("parquet.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close()?;
    std::fs::rename(&tmp, &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "{} rows scored with {} into {}",
        data.len(),
        args.variant,
        args.output.display()
    );
    Ok(())
}
