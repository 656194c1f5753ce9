//! `cargo xtask train --resume` after an interruption reports exactly the numbers of an
//! uninterrupted run: finished variants are read back, unfinished ones retrained to the same
//! values. Runs the real binary on the example dataset with the tiny BERT fixture (seconds).

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_owned()
}

fn train(home: &Path, run: &Path, resume: bool) -> (serde_json::Value, String) {
    let tiny = workspace().join("crates/flip-plm/tests/fixtures/tiny-bert");
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(["--home", home.to_str().unwrap(), "train"])
        .args([
            "--dataset",
            "example-clicks",
            "--seeds",
            "2",
            "--epochs",
            "2",
        ])
        .args([
            "--plm",
            tiny.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ])
        .env("FLIP_LOG", "info");
    let (results, log) = run_to_results(command, run, resume);
    (results["table"].clone(), log)
}

/// Runs `command` (with `--resume` when asked), which must succeed, and reads the run's
/// `results.json`; also returns the log.
fn run_to_results(mut command: Command, run: &Path, resume: bool) -> (serde_json::Value, String) {
    if resume {
        command.arg("--resume");
    }
    let output = command.output().expect("the xtask binary runs");
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "train failed:\n{log}");
    let results = std::fs::read_to_string(run.join("results.json")).expect("results.json");
    (serde_json::from_str(&results).unwrap(), log)
}

/// The measured numbers of a results table (timings differ between runs by nature).
fn numbers(table: &serde_json::Value) -> Vec<(String, u64, serde_json::Value, serde_json::Value)> {
    let mut out = Vec::new();
    for (name, row) in table["rows"].as_object().expect("rows") {
        for seed in row["seeds"].as_array().expect("seeds") {
            out.push((
                name.clone(),
                seed["seed"].as_u64().unwrap(),
                seed["test"].clone(),
                seed["valid"].clone(),
            ));
        }
    }
    out
}

#[test]
fn resuming_an_interrupted_run_gives_the_same_numbers() {
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    let (uninterrupted, _) = train(home.path(), &run, false);
    assert_eq!(numbers(&uninterrupted).len(), 10, "5 variants x 2 seeds");

    // As if interrupted during the second seed: its language-model variants never finished.
    for name in ["plm", "flip-plm", "flip"] {
        std::fs::remove_file(run.join("finished").join(format!("{name}-seed2013.json"))).unwrap();
    }
    std::fs::remove_file(run.join("results.json")).unwrap();
    let (resumed, log) = train(home.path(), &run, true);
    assert!(log.contains("flip-id, seed 2013: finished before"), "{log}");
    assert!(!log.contains("flip, seed 2013: finished before"), "{log}");
    assert_eq!(numbers(&resumed), numbers(&uninterrupted));
}

#[test]
fn a_run_folder_made_with_other_settings_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    let tiny = workspace().join("crates/flip-plm/tests/fixtures/tiny-bert");
    let attempt = |eval_rows: &str| {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["--home", home.path().to_str().unwrap(), "train"])
            .args(["--dataset", "example-clicks", "--id-only", "--epochs", "1"])
            .args(["--plm", tiny.to_str().unwrap(), "--rows", "64"])
            .args(["--eval-rows", eval_rows, "--out", run.to_str().unwrap()])
            .output()
            .expect("the xtask binary runs")
    };
    let first = attempt("50");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let settings = std::fs::read_to_string(run.join("settings.toml")).unwrap();
    assert!(settings.contains("eval_rows = 50"), "{settings}");

    let second = attempt("40");
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the folder was reused:\n{log}");
    assert!(
        log.contains("belongs to a run with other settings"),
        "{log}"
    );
    assert!(log.contains("eval_rows: 50 -> 40"), "{log}");
}

#[test]
fn id_baselines_resume_finished_seeds_and_retrain_changed_settings() {
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("id-run");
    let tiny = workspace().join("crates/flip-plm/tests/fixtures/tiny-bert");
    let train_id = |epochs: &str, resume: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(["--home", home.path().to_str().unwrap(), "train"])
            .args(["--stage", "id", "--dataset", "example-clicks"])
            .args(["--model", "lr,fm", "--seeds", "2", "--epochs", epochs])
            .args(["--plm", tiny.to_str().unwrap()])
            .args(["--out", run.to_str().unwrap()])
            .env("FLIP_LOG", "info");
        run_to_results(command, &run, resume)
    };
    let (uninterrupted, _) = train_id("2", false);
    assert_eq!(numbers(&uninterrupted).len(), 4, "2 models x 2 seeds");
    // Every seed leaves its epoch metrics and a record for --resume.
    for name in ["lr-seed2012", "fm-seed2013"] {
        assert!(run.join(format!("{name}.jsonl")).is_file());
        assert!(run.join("finished").join(format!("{name}.json")).is_file());
    }

    // As if interrupted during FM's second seed.
    std::fs::remove_file(run.join("finished/fm-seed2013.json")).unwrap();
    std::fs::remove_file(run.join("results.json")).unwrap();
    let (resumed, log) = train_id("2", true);
    assert!(log.contains("lr, seed 2013: finished before"), "{log}");
    assert!(log.contains("fm, seed 2012: finished before"), "{log}");
    assert!(!log.contains("fm, seed 2013: finished before"), "{log}");
    assert_eq!(numbers(&resumed), numbers(&uninterrupted));

    // Other settings: nothing is reused.
    let (_, log) = train_id("1", true);
    assert!(!log.contains("finished before"), "{log}");
    assert!(log.contains("made with other settings"), "{log}");
}

#[test]
fn a_run_folders_settings_file_reproduces_the_run() {
    let home = tempfile::tempdir().unwrap();
    let tiny = workspace().join("crates/flip-plm/tests/fixtures/tiny-bert");
    let (first, second) = (home.path().join("first"), home.path().join("second"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(["--home", home.path().to_str().unwrap(), "train"])
        .args(["--dataset", "example-clicks", "--id-only", "--epochs", "1"])
        .args(["--plm", tiny.to_str().unwrap(), "--rows", "64"])
        .args(["--eval-rows", "50", "--out", first.to_str().unwrap()]);
    let (original, _) = run_to_results(command, &first, false);
    let settings = first.join("settings.toml");

    // Only the settings file: no preset, language model or flags named again.
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(["--home", home.path().to_str().unwrap(), "train"])
        .args(["--dataset", "example-clicks"])
        .args(["--settings", settings.to_str().unwrap()])
        .args(["--out", second.to_str().unwrap()]);
    let (again, _) = run_to_results(command, &second, false);
    assert_eq!(numbers(&again["table"]), numbers(&original["table"]));
    assert_eq!(
        std::fs::read_to_string(second.join("settings.toml")).unwrap(),
        std::fs::read_to_string(&settings).unwrap()
    );
}
