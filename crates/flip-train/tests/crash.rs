//! A pretraining run killed with SIGKILL at several points (between steps, inside a checkpoint
//! write, between the two renames of a checkpoint swap) and resumed each time ends with the
//! weights of a run that was never interrupted.
//!
//! The runs that get killed are child processes: this test binary started again with only
//! [`crash_child`] selected and `FLIP_HANG_AT` naming the point to stop at
//! ([`flip_train::failpoint`]); when the child says it reached the point, the test kills it
//! with SIGKILL (`Child::kill`), so nothing of the child's clean-up runs.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use burn::store::{BurnpackStore, ModuleSnapshot};
use flip_train::failpoint::{HANG_AT, points};
use flip_train::pretrain::{PretrainConfig, PretrainState, Pretrained};

mod pretraining_fixture;

use pretraining_fixture::{Setup, max_difference, values_where};

/// The run folder a child process pretrains in (set only for children).
const CHILD_DIR: &str = "FLIP_CRASH_TEST_RUN_DIR";

fn config() -> PretrainConfig {
    PretrainConfig {
        epochs: 3,
        batch_size: 4,
        log_every: 5,
        learning_rate: 1e-3,
        plm_learning_rate: 1e-3,
        ..PretrainConfig::default()
    }
}

/// Pretrains [`config`] in `dir` (continuing its checkpoint if any) to the end.
fn pretrain(dir: &Path) -> Pretrained {
    let (setup, config) = (Setup::new(), config());
    setup
        .run(&config, dir)
        .run(setup.model(&config), true, &|_| false)
        .expect("pretraining runs")
}

/// The body of a child process: pretrain in the folder the parent named. Does nothing in a
/// normal test run.
#[test]
fn crash_child() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let done = pretrain(Path::new(&dir));
        assert!(done.state.finished);
    }
}

/// Runs a child pretraining in `dir`; with `hang_at`, waits until it reaches that point and
/// kills it with SIGKILL, else lets it finish.
fn child(dir: &Path, hang_at: Option<&str>) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DIR, dir)
        .env_remove(HANG_AT)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(point) = hang_at {
        command.env(HANG_AT, point);
    }
    let mut process = command.spawn().unwrap();
    let stderr = BufReader::new(process.stderr.take().unwrap());
    match hang_at {
        Some(point) => {
            let mut seen = Vec::new();
            for line in stderr.lines() {
                let line = line.unwrap();
                if line.contains(&format!("{HANG_AT} reached {point}")) {
                    process.kill().unwrap(); // SIGKILL
                    let status = process.wait().unwrap();
                    assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
                    return;
                }
                seen.push(line);
            }
            let status = process.wait().unwrap();
            panic!(
                "the child never reached {point} ({status}); its output:\n{}",
                seen.join("\n")
            );
        }
        None => {
            let output: Vec<String> = stderr.lines().map_while(Result::ok).collect();
            let status = process.wait().unwrap();
            assert!(status.success(), "{status}:\n{}", output.join("\n"));
        }
    }
}

/// The state of the checkpoint a resumed run would start from.
fn resumable_state(dir: &Path) -> PretrainState {
    let checkpoint = ["checkpoint", "checkpoint.previous"]
        .iter()
        .map(|name| dir.join(name).join("state.json"))
        .find(|path| path.is_file())
        .expect("a complete checkpoint is always left");
    serde_json::from_slice(&std::fs::read(checkpoint).unwrap()).unwrap()
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_result() {
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = pretrain(whole_dir.path());
    assert_eq!(whole.state.global_step, 15, "3 epochs of 5 steps");

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // (where to kill, the epochs done in the checkpoint left behind)
    let kills = [
        // Mid-epoch 2, between two steps: the end-of-epoch-1 checkpoint stays.
        (format!("{}:7", points::PRETRAIN_STEP), 1),
        // Writing the end-of-epoch-2 checkpoint: the model file written, not the rest.
        (format!("{}:1", points::CHECKPOINT_PARTIAL), 1),
        // Swapping in the end-of-epoch-2 checkpoint: epoch 1's moved aside, epoch 2's not
        // yet in place.
        (format!("{}:1", points::CHECKPOINT_SWAP), 1),
        // The same in the last swap (after epoch 3), epoch 2's checkpoint moved aside.
        (format!("{}:2", points::CHECKPOINT_SWAP), 2),
    ];
    for (point, epochs_done) in &kills {
        child(dir, Some(point));
        let state = resumable_state(dir);
        assert_eq!(state.epoch, *epochs_done, "after a kill at {point}");
        assert!(!state.finished, "after a kill at {point}");
    }
    assert!(
        !dir.join("checkpoint").exists() && dir.join("checkpoint.previous").is_dir(),
        "the last kill came between the two renames"
    );
    child(dir, None);
    let state = resumable_state(dir);
    assert!(state.finished);
    assert_eq!(state.global_step, 15);
    assert!(!dir.join("checkpoint.previous").exists());
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "unfinished writes left: {leftovers:?}"
    );

    // The final weights equal the uninterrupted run's.
    let mut resumed = Setup::new().model(&config());
    resumed
        .load_from(&mut BurnpackStore::from_file(
            dir.join("checkpoint").join("model.bpk"),
        ))
        .unwrap();
    let every = |_: &[String]| true;
    let (a, b) = (
        values_where(&whole.model, every),
        values_where(&resumed, every),
    );
    let worst = max_difference(&a, &b);
    assert!(worst < 1e-5, "resumed weights differ by {worst}");
    eprintln!(
        "crash test: {} kills, {} weights, largest difference {worst:e}",
        kills.len(),
        a.len()
    );
}
