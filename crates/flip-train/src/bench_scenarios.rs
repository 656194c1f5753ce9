//! The scenario groups of `cargo xtask bench`, at the reference shapes: each scenario of
//! [`crate::bench`] run several times, the best run kept (shared machines are noisy).

use std::str::FromStr;

use burn::tensor::Device;
use flip_id_models::ModelConfig;
use flip_plm::PlmConfig;

use crate::bench::{
    BenchResult, ML1M_FIELDS, infer_throughput, joint_throughput, plm_throughput,
    pretrain_throughput, train_throughput,
};

/// A group of scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchGroup {
    /// ID-model training (dense and row-sparse) and scoring, batch 1024 / 8192.
    Id,
    /// The MiniLM-shaped encoder, training and scoring, at lengths 64, 100 and 56.
    Plm,
    /// One FLIP pretraining step: ours and the official extra work at 64, the official
    /// configuration at 100, ours at 56.
    Pretrain,
    /// The FLIP joint model, training and scoring.
    Joint,
    /// Every scenario once at the reference shapes (prompts of 64 tokens, batch 32).
    All,
}

impl FromStr for BenchGroup {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "id" => BenchGroup::Id,
            "plm" => BenchGroup::Plm,
            "pretrain" => BenchGroup::Pretrain,
            "joint" => BenchGroup::Joint,
            "all" => BenchGroup::All,
            other => {
                return Err(format!(
                    "unknown benchmark `{other}`; available: id, plm, pretrain, joint, all"
                ));
            }
        })
    }
}

/// How a group runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The zoo member of the ID scenarios.
    pub model: ModelConfig,
    /// Timed training steps per run of an ID scenario (the others time fewer).
    pub steps: usize,
    /// Runs per scenario; the best is reported.
    pub repeat: usize,
}

/// Runs `group` on `device`; `before_each` runs before every run (for example to hand freed
/// memory back, so that each scenario's peak is its own).
pub fn run_group(
    group: BenchGroup,
    options: &BenchOptions,
    device: &Device,
    before_each: &dyn Fn(),
) -> Vec<BenchResult> {
    let best = |run: &dyn Fn() -> BenchResult| best_of(options.repeat, before_each, run);
    let plm = PlmConfig::minilm_l6_h384();
    let ad = device.clone().autodiff();
    let plm_steps = options.steps.div_ceil(4).max(3);
    let pretrain_steps = options.steps.div_ceil(5).max(2);
    let id = || {
        device.seed(1);
        let (model, steps) = (&options.model, options.steps);
        vec![
            best(&|| train_throughput(model, &ML1M_FIELDS, 1024, steps, false, &ad)),
            best(&|| train_throughput(model, &ML1M_FIELDS, 1024, steps, true, &ad)),
            best(&|| infer_throughput(model, &ML1M_FIELDS, 8192, steps.div_ceil(3).max(3), device)),
        ]
    };
    let joint = || {
        device.seed(1);
        vec![
            best(&|| joint_throughput(&plm, &ML1M_FIELDS, 32, 64, plm_steps, true, &ad)),
            best(&|| joint_throughput(&plm, &ML1M_FIELDS, 32, 64, plm_steps, false, device)),
        ]
    };
    match group {
        BenchGroup::Id => id(),
        BenchGroup::Plm => {
            device.seed(1);
            let mut results = Vec::new();
            for len in [64, 100, 56] {
                results.push(best(&|| {
                    plm_throughput(&plm, 32, len, plm_steps, true, &ad)
                }));
                results.push(best(&|| {
                    plm_throughput(&plm, 32, len, plm_steps, false, device)
                }));
            }
            results
        }
        BenchGroup::Pretrain => {
            ad.seed(1);
            [(64, false), (64, true), (100, true), (56, false)]
                .into_iter()
                .map(|(len, official)| {
                    best(&|| {
                        pretrain_throughput(
                            &plm,
                            &ML1M_FIELDS,
                            32,
                            len,
                            official,
                            pretrain_steps,
                            &ad,
                        )
                    })
                })
                .collect()
        }
        BenchGroup::Joint => joint(),
        BenchGroup::All => {
            let mut results = id();
            results.push(best(&|| plm_throughput(&plm, 32, 64, plm_steps, true, &ad)));
            results.push(best(&|| {
                plm_throughput(&plm, 32, 64, plm_steps, false, device)
            }));
            results.push(best(&|| {
                pretrain_throughput(&plm, &ML1M_FIELDS, 32, 64, false, pretrain_steps, &ad)
            }));
            results.extend(joint());
            results
        }
    }
}

/// The results as a Markdown table.
pub fn markdown_table(results: &[BenchResult]) -> String {
    let mut md = String::from(
        "| scenario | model | batch | samples/s | ms/step | peak MiB |\n|---|---|---:|---:|---:|---:|\n",
    );
    for r in results {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {} |\n",
            r.scenario,
            r.model,
            r.batch,
            r.samples_per_second,
            r.ms_per_step,
            r.peak_memory_mib
                .map_or_else(|| "n/a".to_owned(), |m| format!("{m:.0}"))
        ));
    }
    md
}

/// The best (highest samples/s) of `repeat` runs.
fn best_of(repeat: usize, before_each: &dyn Fn(), run: &dyn Fn() -> BenchResult) -> BenchResult {
    (0..repeat.max(1))
        .map(|_| {
            before_each();
            run()
        })
        .max_by(|a, b| a.samples_per_second.total_cmp(&b.samples_per_second))
        .expect("at least one run")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_parse_and_unknown_ones_are_named() {
        assert_eq!("joint".parse::<BenchGroup>(), Ok(BenchGroup::Joint));
        let error = "gpu".parse::<BenchGroup>().unwrap_err();
        assert!(
            error.contains("`gpu`") && error.contains("joint"),
            "{error}"
        );
    }

    #[test]
    fn the_table_has_a_line_per_result() {
        let r = BenchResult {
            scenario: "id_train".into(),
            model: "dcnv2".into(),
            batch: 1024,
            steps: 3,
            samples_per_second: 1234.56,
            ms_per_step: 829.4,
            peak_memory_mib: None,
        };
        let md = markdown_table(&[r]);
        assert!(
            md.ends_with("| id_train | dcnv2 | 1024 | 1234.6 | 829.4 | n/a |\n"),
            "{md}"
        );
    }
}
