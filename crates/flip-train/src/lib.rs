//! # flip-train
//!
//! Training loops, metrics and reports of the FLIP project: the CTR trainer for any model of
//! `flip-id-models` (dense or row-sparse embedding updates), FLIP pretraining of both towers on
//! the alignment losses, AUC and LogLoss, result tables, PNG plots, and the benchmarks behind
//! `cargo xtask bench`; and, in [`experiment`], the whole FLIP experiment (prepare, pretrain,
//! finetune every variant, report, score) as a library that runs from typed settings.

#![warn(missing_docs)]

pub mod adamw;
pub mod atomic;
pub mod bench;
pub mod bench_scenarios;
pub mod ctr;
pub mod devices;
pub mod divergence;
pub mod experiment;
pub mod failpoint;
pub mod finetune;
pub mod memory;
pub mod metrics;
pub mod mixing;
pub mod oov_dropout;
pub mod parallel;
pub mod plot;
pub mod presets;
pub mod pretrain;
pub mod pretrain_step;
pub mod progress;
pub mod report;
pub mod sparse;
pub mod validate;

pub use ctr::{CtrTrainConfig, EpochRecord, Evaluation, Fitted, evaluate, fit, predict};
pub use pretrain::{PretrainConfig, PretrainRun, PretrainState, Pretrained};
pub use validate::{Check, InvalidSettings};
