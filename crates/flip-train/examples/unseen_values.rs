//! Diagnostic: how a FLIP run's ID models score test rows whose user is out of the training
//! vocabulary, with each OOV embedding row of a field none of whose training rows is OOV as
//! trained, filled with the training-count-weighted mean of the field's rows, and set to zero
//! (about what a row no training step reaches keeps: its N(0, 1e-4) draw). A run with
//! `unseen_user_rate` trains the user's OOV row; zeroing it tells that row's part from the
//! rest of the training.
//!
//! Scores the run's saved FLIP_ID of each seed (`finetuned/flip-id-seed<seed>.bpk`) and the
//! backbone from scratch trained again exactly as the run trained it (its seed stream, its
//! trainer settings, all validation rows), whose test AUC must equal the run's record.
//!
//! `cargo run --release -p flip-train --features flex --example unseen_values -- <run dir>
//! <seed>...`

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Device, Tensor, TensorData};
use flip_data::vocab::RESERVED;
use flip_data::{PreparedDataset, Split, SplitData};
use flip_id_models::CtrNet;
use flip_train::ctr::{CtrTrainConfig, Evaluation, fit, predict};
use flip_train::experiment::{
    Finished, FlipSettings, SavedRun, UserField, UserSegments, Variant, input_shape,
};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let run_dir = PathBuf::from(args.next().context("usage: <run dir> <seed>...")?);
    let seeds: Vec<u64> = args.map(|s| s.parse()).collect::<Result<_, _>>()?;
    let run: SavedRun = serde_json::from_str(&read(&run_dir.join("models/run.json"))?)?;
    let settings: FlipSettings = toml::from_str(&read(&run_dir.join("settings.toml"))?)?;
    if !settings.id_valid_all_rows {
        bail!(
            "the run chose the ID models' epochs on sampled validation rows: not reproduced here"
        );
    }
    let dataset = PreparedDataset::open(&run.dataset)?;
    let (train, valid, test) = (
        dataset.load(Split::Train)?,
        dataset.load(Split::Valid)?,
        dataset.load(Split::Test)?,
    );
    let segments = UserSegments::of_dataset(&dataset, &test)?.context("no user segments")?;
    let fills = never_trained_oov_rows(&dataset, &train)?;
    for f in &fills {
        println!(
            "{}: OOV id {} never in training; {} test rows of {} take it",
            f.field,
            f.oov_id,
            test.ids
                .iter()
                .skip(f.column)
                .step_by(test.num_fields)
                .filter(|&&id| id == f.oov_id)
                .count(),
            test.len()
        );
    }
    let device = Device::flex();
    let shape = input_shape(&dataset);
    let backbone = run.backbone.name();
    println!(
        "\n| model | seed | OOV rows | ‖OOV user row‖ / mean ‖user row‖ | test AUC | seen users | new users | new users LogLoss |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for &seed in &seeds {
        let mut flip_id = run.backbone.init(shape, &device);
        let path = run_dir.join(format!("finetuned/flip-id-seed{seed}.bpk"));
        flip_id
            .load_from(&mut BurnpackStore::from_file(&path))
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))?;
        let ad = device.clone().autodiff();
        ad.seed(Variant::Scratch.seed(backbone, seed));
        let model = run.backbone.init(shape, &ad);
        let mut config = CtrTrainConfig {
            seed,
            ..settings.id_training.clone()
        };
        if let Some(rate) = settings.unseen_user_rate {
            let user = UserField::of_dataset(&dataset)?.context("no user field")?;
            config.oov_dropout.push(user.dropout(rate));
        }
        let scratch = fit(model, &train, &valid, &config, &ad, |_| {})?.model;
        for (name, model, key) in [
            ("FLIP_ID", &flip_id, Variant::FlipId.key(backbone)),
            ("scratch", &scratch, Variant::Scratch.key(backbone)),
        ] {
            let recorded = run_dir.join(format!("finished/{key}-seed{seed}.json"));
            let finished: Finished = serde_json::from_str(&read(&recorded)?)?;
            // Without a test sample (`eval_rows` covering the split) the outcome is the full split's.
            let expected = finished.full.unwrap_or(finished.outcome).test.auc;
            for mode in [OovRows::AsTrained, OovRows::WeightedMean, OovRows::Zero] {
                let model = match mode {
                    OovRows::AsTrained => model.clone(),
                    OovRows::WeightedMean => fill_with_means(model.clone(), &fills, &device)?,
                    OovRows::Zero => zero_oov_rows(model.clone(), &fills, &device)?,
                };
                let probs = predict(&model, &test, 8192, &device);
                let all = Evaluation::of(&test.labels, &probs);
                if mode == OovRows::AsTrained && (all.auc - expected).abs() > 1e-9 {
                    bail!(
                        "{name}, seed {seed}: test AUC {} here, {expected} in {}",
                        all.auc,
                        recorded.display()
                    );
                }
                let by = segments.evaluate(&test.labels, &probs);
                println!(
                    "| {name} | {seed} | {} | {:.3} | {:.4} | {:.4} | {:.4} | {:.4} |",
                    match mode {
                        OovRows::AsTrained => "as trained",
                        OovRows::WeightedMean => "weighted mean",
                        OovRows::Zero => "zero",
                    },
                    norm_ratio(&model, &fills[0])?,
                    all.auc,
                    by.seen.auc,
                    by.unseen.auc,
                    by.unseen.logloss
                );
            }
        }
    }
    Ok(())
}

/// What the OOV rows of the [`Fill`] fields hold when the test split is scored.
#[derive(Clone, Copy, PartialEq)]
enum OovRows {
    AsTrained,
    WeightedMean,
    Zero,
}

/// A field whose OOV row no training row reads, and the training counts of its value rows.
struct Fill {
    field: String,
    column: usize,
    oov_id: u32,
    /// `(global id, training rows)` of each kept value.
    counts: Vec<(u32, u64)>,
}

fn never_trained_oov_rows(dataset: &PreparedDataset, train: &SplitData) -> Result<Vec<Fill>> {
    let vocab = dataset.vocab()?;
    let m = train.num_fields;
    let mut fills = Vec::new();
    for (column, field) in vocab.fields.iter().enumerate() {
        let mut counts = vec![0u64; field.size() as usize];
        for id in train.ids.iter().skip(column).step_by(m) {
            counts[(id - field.offset) as usize] += 1;
        }
        let oov = (field.oov_id() - field.offset) as usize;
        if counts[oov] == 0 {
            fills.push(Fill {
                field: field.name.clone(),
                column,
                oov_id: field.oov_id(),
                counts: (RESERVED..field.size())
                    .map(|local| (field.offset + local, counts[local as usize]))
                    .collect(),
            });
        }
    }
    if fills.first().is_none_or(|f| f.column != 0) {
        bail!("expected the user field first");
    }
    Ok(fills)
}

/// The values of a `[rows, d]` table, row-major, and `d`.
fn host_rows(table: Tensor<2>) -> Result<(Vec<f32>, usize)> {
    let [_, d] = table.dims();
    let values = table
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading a table to the host: {e:?}"))?;
    Ok((values, d))
}

fn norm_ratio(model: &CtrNet, fill: &Fill) -> Result<f64> {
    let (t, d) = host_rows(model.embedding().table.val())?;
    let norm = |id: u32| {
        t[id as usize * d..(id as usize + 1) * d]
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let mean = fill.counts.iter().map(|(id, _)| norm(*id)).sum::<f64>() / fill.counts.len() as f64;
    Ok(norm(fill.oov_id) / mean)
}

fn fill_with_means(model: CtrNet, fills: &[Fill], device: &Device) -> Result<CtrNet> {
    let (mut t, d) = host_rows(model.embedding().table.val())?;
    let (mut linear, _) = host_rows(model.embedding().linear.val())?;
    for f in fills {
        let total: u64 = f.counts.iter().map(|(_, c)| c).sum();
        let mut mean = vec![0f64; d];
        let mut lin = 0f64;
        for &(id, c) in &f.counts {
            let w = c as f64 / total as f64;
            for (k, m) in mean.iter_mut().enumerate() {
                *m += w * f64::from(t[id as usize * d + k]);
            }
            lin += w * f64::from(linear[id as usize]);
        }
        for (k, m) in mean.iter().enumerate() {
            t[f.oov_id as usize * d + k] = *m as f32;
        }
        linear[f.oov_id as usize] = lin as f32;
    }
    with_tables(model, t, linear, d, device)
}

fn zero_oov_rows(model: CtrNet, fills: &[Fill], device: &Device) -> Result<CtrNet> {
    let (mut t, d) = host_rows(model.embedding().table.val())?;
    let (mut linear, _) = host_rows(model.embedding().linear.val())?;
    for f in fills {
        t[f.oov_id as usize * d..(f.oov_id as usize + 1) * d].fill(0.0);
        linear[f.oov_id as usize] = 0.0;
    }
    with_tables(model, t, linear, d, device)
}

/// `model` with the embedding table `t` (`[rows, d]`, row-major) and first-order weights
/// `linear` (`[rows]`).
fn with_tables(
    model: CtrNet,
    t: Vec<f32>,
    linear: Vec<f32>,
    d: usize,
    device: &Device,
) -> Result<CtrNet> {
    let rows = t.len() / d;
    let emb = model.embedding().clone().with_tables(
        Tensor::from_data(TensorData::new(t, [rows, d]), device),
        Tensor::from_data(TensorData::new(linear, [rows, 1]), device),
    );
    Ok(model.with_embedding(emb))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
