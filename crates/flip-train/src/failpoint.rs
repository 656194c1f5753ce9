//! Named points in the training loops where a crash test can freeze the process to kill it.
//!
//! With `FLIP_HANG_AT=<name>:<n>` in the environment, the `n`-th arrival (1-based) at point
//! `name` prints `FLIP_HANG_AT reached <name>:<n>` on standard error and sleeps until the
//! process is killed: the crash test (`tests/crash.rs`) waits for that line, then sends SIGKILL,
//! so the kill lands exactly there (between two steps, or inside a checkpoint write). Without
//! the variable a point costs one check of a value read once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable naming the point to hang at.
pub const HANG_AT: &str = "FLIP_HANG_AT";

/// The points, in the order a pretraining run meets them.
pub mod points {
    /// After each pretraining step's update.
    pub const PRETRAIN_STEP: &str = "pretrain-step";
    /// Inside a checkpoint write: the model file written, the optimizer states not yet.
    pub const CHECKPOINT_PARTIAL: &str = "checkpoint-partial";
    /// Inside a checkpoint swap: the previous checkpoint moved aside, the new one not yet in
    /// its place.
    pub const CHECKPOINT_SWAP: &str = "checkpoint-swap";
}

fn target() -> Option<&'static (String, usize)> {
    static TARGET: OnceLock<Option<(String, usize)>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let value = std::env::var(HANG_AT).ok()?;
            let (name, n) = value.rsplit_once(':')?;
            Some((name.to_owned(), n.parse().ok()?))
        })
        .as_ref()
}

/// Marks point `name`; hangs there when `FLIP_HANG_AT` names this arrival.
pub fn point(name: &str) {
    static ARRIVALS: AtomicUsize = AtomicUsize::new(0);
    let Some((target, n)) = target() else {
        return;
    };
    if target == name && ARRIVALS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        eprintln!("{HANG_AT} reached {name}:{n}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
