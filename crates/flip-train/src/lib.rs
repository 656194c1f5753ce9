//! # flip-train
//!
//! Training loops, metrics and reports of the FLIP project. So far: the CTR trainer for any
//! model of `flip-id-models` (dense or row-sparse embedding updates), AUC and LogLoss, result
//! tables, and the benchmarks behind `cargo xtask bench`.

pub mod bench;
pub mod ctr;
pub mod metrics;
pub mod report;
pub mod sparse;

pub use ctr::{CtrTrainConfig, EpochRecord, Evaluation, Fitted, evaluate, fit, predict};
