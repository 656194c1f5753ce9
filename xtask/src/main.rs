//! `cargo xtask`: the FLIP command line.
//!
//! `fetch` obtains raw data and models, `prepare` turns a dataset into Parquet with prompts,
//! `train` runs the job (data, then the ID-model baselines with `--stage id`), `bench` measures
//! throughput, `test` runs the test suite with real data.

mod backends;
mod commands;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "FLIP: fetch, prepare, train and test",
    version
)]
struct Cli {
    /// Cache folder for downloads and prepared data [default: $FLIP_HOME or ~/.cache/flip].
    #[arg(long, global = true, env = "FLIP_HOME")]
    home: Option<PathBuf>,
    /// Where to compute: flex (CPU, default), wgpu, cuda:N, tch-cpu, tch-cuda:N.
    #[arg(long, global = true, default_value = "flex")]
    device: String,
    /// Several devices, comma-separated (`cuda:0,cuda:1`): pretraining and the language-model
    /// finetuning of `train` share every batch among them (data parallel); the rest runs on
    /// the first.
    #[arg(long, global = true, value_delimiter = ',', conflicts_with = "device")]
    devices: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Obtain raw data files or a model: ml-100k, ml-1m, bookcrossing, goodreads, minilm, or all.
    Fetch(commands::FetchArgs),
    /// Turn a dataset into Parquet splits with vocabularies, prompts and tokens.
    Prepare(commands::PrepareArgs),
    /// The main job: fetch and prepare the data (`--stage data`), then train (`--stage id`: the
    /// ID-model baselines).
    Train(train::TrainArgs),
    /// Fetch ML-100K and MiniLM, then run every crate's tests (optimised) against them.
    Test(commands::TestArgs),
    /// Score a finished run's saved FLIP_ID and FLIP models on its validation and test splits.
    Eval(commands::EvalArgs),
    /// Score new rows (CSV or Parquet) with a finished run's saved model.
    Predict(commands::PredictArgs),
    /// List the devices this build can use.
    Devices,
    /// Build the cross-backend test with other backends (wgpu, tch, cuda) and run it.
    CheckBackends(backends::CheckBackendsArgs),
    /// Throughput and peak memory: one JSON line per scenario, then a Markdown table.
    Bench(commands::BenchArgs),
}

fn main() -> ExitCode {
    flip_train::memory::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("FLIP_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let home = cli
        .home
        .map_or_else(flip_data::FlipHome::from_env, flip_data::FlipHome::at);
    let sources =
        flip_train::experiment::Sources::new(home, commands::workspace_root().join("datasets"));
    let specs = if cli.devices.is_empty() {
        vec![cli.device]
    } else {
        cli.devices
    };
    let result = specs
        .iter()
        .map(|spec| flip_train::devices::parse(spec))
        .collect::<anyhow::Result<Vec<_>>>()
        .and_then(|devices| run(cli.command, &sources, &devices));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A stop request that Ctrl-C makes: pretraining finishes its step, writes a checkpoint and
/// stops; at any other time (and on a second Ctrl-C) the process exits at once, since every
/// other phase restarts from its beginning with `--resume` and gives the same numbers.
fn interrupt_on_ctrl_c() -> flip_train::experiment::Interrupt {
    let interrupt = flip_train::experiment::Interrupt::new();
    let handle = interrupt.clone();
    let installed = ctrlc::set_handler(move || {
        if handle.request() {
            eprintln!("\ninterrupt: finishing the step and writing a checkpoint ...");
        } else {
            eprintln!("\ninterrupted; run the same command with --resume to continue");
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        tracing::warn!("Ctrl-C will not checkpoint: {e}");
    }
    interrupt
}

/// Runs `command` on `devices` (the first unless the command shares work among them).
fn run(
    command: Command,
    sources: &flip_train::experiment::Sources,
    devices: &[burn::tensor::Device],
) -> anyhow::Result<()> {
    let device = &devices[0];
    if devices.len() > 1 && !matches!(command, Command::Train(_)) {
        anyhow::bail!("--devices with several devices serves `train` only; use --device");
    }
    match command {
        Command::Fetch(args) => commands::fetch(sources, &args),
        Command::Prepare(args) => commands::prepare(sources, &args),
        Command::Train(args) => train::train(sources, &args, devices, &interrupt_on_ctrl_c()),
        Command::Test(args) => commands::test(sources, &args),
        Command::Bench(args) => commands::bench(&args, device),
        Command::Eval(args) => commands::eval(&args, device),
        Command::Predict(args) => commands::predict(&args, device),
        Command::CheckBackends(args) => {
            backends::check_backends(&commands::workspace_root(), &args)
        }
        Command::Devices => {
            println!(
                "devices this build can use: {}",
                flip_train::devices::available().join(", ")
            );
            Ok(())
        }
    }
}
