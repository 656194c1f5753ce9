//! Checking settings before any work starts: every training loop and every experiment entry
//! point calls `check()` on its settings, so a zero batch size, a zero epoch count or a
//! negative learning rate is an error naming the TOML key, never a panic or an empty run.

use std::fmt;

use flip_align::{AlignConfig, MaskConfig};

use crate::ctr::CtrTrainConfig;
use crate::experiment::{FlipSettings, IdBaselineSettings, IdTransfer, PretrainSettings};
use crate::finetune::FinetuneConfig;
use crate::pretrain::PretrainConfig;

/// One setting that cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted TOML key (`pretrain.batch_size`).
    pub key: String,
    /// What is wrong, with the value found.
    pub message: String,
}

/// Settings with at least one problem; all of them are listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidSettings {
    /// The problems, in the order of the keys.
    pub problems: Vec<Problem>,
}

impl fmt::Display for InvalidSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid settings:")?;
        for p in &self.problems {
            write!(f, " `{}`: {};", p.key, p.message)?;
        }
        Ok(())
    }
}

/// Collects problems under a key prefix.
#[derive(Debug, Default)]
pub struct Checker {
    prefix: String,
    problems: Vec<Problem>,
}

impl Checker {
    /// A checker whose keys start with `prefix` (empty for top-level settings).
    pub fn new(prefix: &str) -> Self {
        Checker {
            prefix: prefix.to_owned(),
            problems: Vec::new(),
        }
    }

    fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Records a problem at `key` unless `ok`.
    pub fn require(&mut self, ok: bool, key: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(Problem {
                key: self.key(key),
                message: message(),
            });
        }
    }

    /// `value` must be at least `min`.
    pub fn at_least(&mut self, key: &str, value: usize, min: usize) {
        self.require(value >= min, key, || {
            format!("is {value}, must be at least {min}")
        });
    }

    /// `value` must be a finite number above 0.
    pub fn positive(&mut self, key: &str, value: f64) {
        self.require(value.is_finite() && value > 0.0, key, || {
            format!("is {value}, must be a finite number above 0")
        });
    }

    /// `value` must be a finite number, 0 or above.
    pub fn non_negative(&mut self, key: &str, value: f64) {
        self.require(value.is_finite() && value >= 0.0, key, || {
            format!("is {value}, must be a finite number, 0 or above")
        });
    }

    /// `value` must lie in `[0, 1]`.
    pub fn fraction(&mut self, key: &str, value: f64) {
        self.require((0.0..=1.0).contains(&value), key, || {
            format!("is {value}, must be between 0 and 1")
        });
    }

    /// `value`, when set, must be at least `min`.
    pub fn optional_at_least(&mut self, key: &str, value: Option<usize>, min: usize) {
        if let Some(v) = value {
            self.at_least(key, v, min);
        }
    }

    /// Checks a nested section under `key`.
    pub fn section(&mut self, key: &str, check: impl FnOnce(&mut Checker)) {
        let mut inner = Checker::new(&self.key(key));
        check(&mut inner);
        self.problems.extend(inner.problems);
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), InvalidSettings> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidSettings {
                problems: self.problems,
            })
        }
    }
}

/// Settings that can say whether they can run.
pub trait Check {
    /// Records every problem of `self` into `c`.
    fn check_into(&self, c: &mut Checker);

    /// `Ok`, or every problem with its key.
    fn check(&self) -> Result<(), InvalidSettings> {
        let mut c = Checker::new("");
        self.check_into(&mut c);
        c.finish()
    }
}

impl Check for CtrTrainConfig {
    fn check_into(&self, c: &mut Checker) {
        c.positive("learning_rate", self.learning_rate);
        if let Some(lr) = self.embedding_learning_rate {
            c.positive("embedding_learning_rate", lr);
        }
        c.at_least("batch_size", self.batch_size, 1);
        c.at_least("eval_batch_size", self.eval_batch_size, 1);
        c.at_least("max_epochs", self.max_epochs, 1);
        c.non_negative("embedding_l2", self.embedding_l2);
        for (i, d) in self.oov_dropout.iter().enumerate() {
            c.require(
                (0.0..1.0).contains(&d.rate),
                &format!("oov_dropout.{i}.rate"),
                || format!("is {}, must be at least 0 and below 1", d.rate),
            );
        }
    }
}

impl Check for FinetuneConfig {
    fn check_into(&self, c: &mut Checker) {
        c.positive("learning_rate", self.learning_rate);
        c.non_negative("plm_learning_rate", self.plm_learning_rate);
        c.positive("staged_learning_rate", self.staged_learning_rate);
        c.non_negative("weight_decay", self.weight_decay);
        c.at_least("batch_size", self.batch_size, 1);
        c.at_least("eval_batch_size", self.eval_batch_size, 1);
        c.at_least("max_epochs", self.max_epochs, usize::from(!self.keep_start));
    }
}

impl Check for MaskConfig {
    fn check_into(&self, c: &mut Checker) {
        c.fraction("text_ratio", self.text_ratio);
        c.fraction("tabular_ratio", self.tabular_ratio);
    }
}

impl Check for AlignConfig {
    fn check_into(&self, c: &mut Checker) {
        c.at_least("projection_dim", self.projection_dim, 1);
        c.require(
            (0.0..1.0).contains(&self.projection_dropout),
            "projection_dropout",
            || {
                format!(
                    "is {}, must be at least 0 and below 1",
                    self.projection_dropout
                )
            },
        );
        c.require(
            (0.0..1.0).contains(&self.mlm_dropout),
            "mlm_dropout",
            || format!("is {}, must be at least 0 and below 1", self.mlm_dropout),
        );
        c.positive("temperature", self.temperature);
        c.non_negative("icl_weight", self.icl_weight);
        c.non_negative("mlm_weight", self.mlm_weight);
        c.non_negative("mtm_weight", self.mtm_weight);
        c.require(
            self.icl_weight + self.mlm_weight + self.mtm_weight > 0.0,
            "icl_weight",
            || "icl_weight, mlm_weight and mtm_weight are all 0: nothing to pretrain".to_owned(),
        );
        c.section("mtm", |c| {
            c.at_least("field_width", self.mtm.field_width, 1);
            c.at_least("noise", self.mtm.noise, 1);
        });
    }
}

impl Check for PretrainConfig {
    fn check_into(&self, c: &mut Checker) {
        c.at_least("epochs", self.epochs, 1);
        // The contrastive loss compares each row with the others of its batch.
        let min_batch = if self.align.icl_weight > 0.0 { 2 } else { 1 };
        c.at_least("batch_size", self.batch_size, min_batch);
        c.optional_at_least("max_rows", self.max_rows, min_batch);
        c.non_negative("learning_rate", self.learning_rate);
        c.non_negative("plm_learning_rate", self.plm_learning_rate);
        c.require(
            self.learning_rate > 0.0 || self.plm_learning_rate > 0.0,
            "learning_rate",
            || "learning_rate and plm_learning_rate are both 0: nothing would train".to_owned(),
        );
        c.non_negative("weight_decay", self.weight_decay);
        if let Some(norm) = self.grad_clip_norm {
            c.positive("grad_clip_norm", norm);
        }
        if let Some(std) = self.id_embedding_std {
            c.positive("id_embedding_std", std);
        }
        c.require(
            self.id_start.is_none() || self.id_embedding_std.is_none(),
            "id_start",
            || {
                "id_start and id_embedding_std both set: the ID tower starts from one or the other"
                    .to_owned()
            },
        );
        c.require(
            self.id_start.is_some() || self.id_start_sha256.is_none(),
            "id_start_sha256",
            || "id_start_sha256 without id_start: the hash of which file?".to_owned(),
        );
        c.optional_at_least("pad_to", self.pad_to, 1);
        c.at_least("log_every", self.log_every, 1);
        c.section("mask", |c| self.mask.check_into(c));
        c.section("align", |c| self.align.check_into(c));
    }
}

impl Check for PretrainSettings {
    fn check_into(&self, c: &mut Checker) {
        c.optional_at_least("plm_layers", self.plm_layers, 1);
        c.section("pretrain", |c| self.pretrain.check_into(c));
    }
}

impl Check for FlipSettings {
    fn check_into(&self, c: &mut Checker) {
        c.require(!self.seeds.is_empty(), "seeds", || {
            "is empty: give at least one seed".to_owned()
        });
        c.optional_at_least("finetune_rows", self.finetune_rows, 1);
        c.optional_at_least("eval_rows", self.eval_rows, 1);
        c.section("id_training", |c| self.id_training.check_into(c));
        if let Some(lr) = self.flip_id_learning_rate {
            c.positive("flip_id_learning_rate", lr);
        }
        if let Some(lr) = self.flip_id_embedding_learning_rate {
            c.positive("flip_id_embedding_learning_rate", lr);
        }
        if let Some(rate) = self.unseen_user_rate {
            c.require((0.0..1.0).contains(&rate), "unseen_user_rate", || {
                format!("is {rate}, must be at least 0 and below 1")
            });
        }
        c.require(
            self.id_fresh_fields.is_empty() || self.id_transfer != IdTransfer::Layers,
            "id_fresh_fields",
            || {
                "is set while id_transfer = \"layers\" draws every embedding fresh already"
                    .to_owned()
            },
        );
        c.section("finetune", |c| self.finetune.check_into(c));
        c.section("pretraining", |c| self.pretraining.check_into(c));
        let start = &self.pretraining.pretrain;
        c.require(
            !self.pretrain_from_trained_id
                || (start.id_start.is_none() && start.id_embedding_std.is_none()),
            "pretrain_from_trained_id",
            || {
                "is true while pretraining.pretrain.id_start or id_embedding_std is set: the \
                 ID tower starts from one of them"
                    .to_owned()
            },
        );
    }
}

impl Check for IdBaselineSettings {
    fn check_into(&self, c: &mut Checker) {
        c.require(!self.models.is_empty(), "models", || {
            "is empty: name at least one model".to_owned()
        });
        c.require(!self.seeds.is_empty(), "seeds", || {
            "is empty: give at least one seed".to_owned()
        });
        c.section("training", |c| self.training.check_into(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of every problem of `settings`, which must have some.
    fn problem_keys(settings: &impl Check) -> Vec<String> {
        let problems = settings.check().unwrap_err().problems;
        problems.into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn defaults_pass() {
        assert_eq!(CtrTrainConfig::default().check(), Ok(()));
        assert_eq!(FinetuneConfig::default().check(), Ok(()));
        assert_eq!(PretrainConfig::default().check(), Ok(()));
        for preset in ["cpu-quick", "paper"] {
            let p = crate::experiment::preset_named(preset).unwrap();
            assert_eq!(p.pretrain.check(), Ok(()), "{preset}");
            assert_eq!(p.finetune.check(), Ok(()), "{preset}");
        }
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let config = PretrainConfig {
            epochs: 0,
            batch_size: 1,
            learning_rate: -1.0,
            align: AlignConfig {
                icl_weight: 0.0,
                mlm_weight: 0.0,
                mtm_weight: 0.0,
                temperature: f64::NAN,
                ..AlignConfig::default()
            },
            mask: MaskConfig {
                text_ratio: 1.5,
                ..MaskConfig::default()
            },
            ..PretrainConfig::default()
        };
        assert_eq!(
            problem_keys(&config),
            [
                "epochs",
                "learning_rate",
                "mask.text_ratio",
                "align.temperature",
                "align.icl_weight"
            ]
        );
        let err = CtrTrainConfig {
            batch_size: 0,
            ..CtrTrainConfig::default()
        }
        .check()
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "invalid settings: `batch_size`: is 0, must be at least 1;"
        );
    }

    #[test]
    fn the_contrastive_loss_needs_two_rows_a_batch() {
        let config = PretrainConfig {
            batch_size: 1,
            ..PretrainConfig::default()
        };
        let err = config.check().unwrap_err();
        assert_eq!(err.problems[0].key, "batch_size");
        let without_icl = PretrainConfig {
            batch_size: 1,
            align: AlignConfig {
                icl_weight: 0.0,
                ..AlignConfig::default()
            },
            ..PretrainConfig::default()
        };
        assert_eq!(without_icl.check(), Ok(()));
    }

    /// The cpu-quick run settings for DCNv2 (the language model's folder is never read).
    fn cpu_quick_dcnv2() -> crate::experiment::FlipSettings {
        crate::experiment::FlipSettings::from_preset(
            &crate::presets::Preset::cpu_quick(),
            flip_id_models::ModelConfig::from_name("dcnv2").unwrap(),
            "/models/minilm".into(),
        )
    }

    #[test]
    fn flip_ids_own_learning_rate_must_be_a_positive_number() {
        let mut settings = cpu_quick_dcnv2();
        assert_eq!(settings.check(), Ok(()));
        for bad in [0.0, -1e-3, f64::NAN] {
            settings.flip_id_learning_rate = Some(bad);
            let err = settings.check().unwrap_err();
            assert_eq!(err.problems[0].key, "flip_id_learning_rate", "{bad}");
        }
        settings.flip_id_learning_rate = Some(3e-4);
        assert_eq!(settings.check(), Ok(()));
    }

    #[test]
    fn fresh_fields_are_refused_where_every_embedding_is_fresh_already() {
        let mut settings = cpu_quick_dcnv2();
        settings.id_fresh_fields = vec!["user_id".into()];
        assert_eq!(settings.check(), Ok(()));
        settings.id_transfer = IdTransfer::Layers;
        assert_eq!(problem_keys(&settings), ["id_fresh_fields"]);
        settings.id_fresh_fields.clear();
        assert_eq!(settings.check(), Ok(()));
    }

    #[test]
    fn the_id_models_rates_and_dropouts_are_named_by_their_keys() {
        let mut settings = cpu_quick_dcnv2();
        settings.flip_id_embedding_learning_rate = Some(0.0);
        settings.unseen_user_rate = Some(1.0);
        settings.id_training.embedding_learning_rate = Some(f64::NAN);
        settings.id_training.oov_dropout = vec![crate::oov_dropout::OovDropout {
            field: 0,
            oov_id: 1,
            rate: -0.1,
        }];
        assert_eq!(
            problem_keys(&settings),
            [
                "id_training.embedding_learning_rate",
                "id_training.oov_dropout.0.rate",
                "flip_id_embedding_learning_rate",
                "unseen_user_rate"
            ]
        );
        settings.flip_id_embedding_learning_rate = Some(1e-4);
        settings.unseen_user_rate = Some(0.0);
        settings.id_training.embedding_learning_rate = None;
        settings.id_training.oov_dropout[0].rate = 0.5;
        assert_eq!(settings.check(), Ok(()));
    }

    #[test]
    fn the_id_towers_start_file_excludes_a_redrawn_start_and_its_hash_needs_it() {
        let both = PretrainConfig {
            id_start: Some("/runs/a/finetuned/flip-id-seed2012.bpk".into()),
            id_embedding_std: Some(0.05),
            ..PretrainConfig::default()
        };
        assert_eq!(both.check().unwrap_err().problems[0].key, "id_start");
        let hash_alone = PretrainConfig {
            id_start_sha256: Some("00".into()),
            ..PretrainConfig::default()
        };
        assert_eq!(
            hash_alone.check().unwrap_err().problems[0].key,
            "id_start_sha256"
        );
        let start = PretrainConfig {
            id_start: Some("/runs/a/finetuned/flip-id-seed2012.bpk".into()),
            ..PretrainConfig::default()
        };
        assert_eq!(start.check(), Ok(()));
    }

    #[test]
    fn the_trained_id_start_excludes_a_start_file_and_a_redrawn_start() {
        let mut settings = cpu_quick_dcnv2();
        settings.pretrain_from_trained_id = true;
        assert_eq!(settings.check(), Ok(()));
        let mut with_file = settings.clone();
        with_file.pretraining.pretrain.id_start = Some("/runs/a/model.bpk".into());
        let mut redrawn = settings.clone();
        redrawn.pretraining.pretrain.id_embedding_std = Some(0.05);
        for bad in [with_file, redrawn] {
            let err = bad.check().unwrap_err();
            assert_eq!(err.problems[0].key, "pretrain_from_trained_id");
            assert!(err.problems[0].message.contains("id_start"), "{err}");
        }
    }
}
