//! The typed settings of each stage: one serde type per stage, written into its run folder as
//! `settings.toml` and read back from a file a user passes in. Each starts from a named preset
//! ([`Preset`]); a settings document is laid over it key by key ([`overlay`]), so a complete
//! document reproduces a run and a partial one changes only the keys it names.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flip_id_models::ModelConfig;
use flip_plm::Pooling;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::towers::IdTransfer;
use crate::ctr::CtrTrainConfig;
use crate::finetune::{FinetuneConfig, JointProtocol};
use crate::presets::Preset;
use crate::pretrain::PretrainConfig;

/// The name of a stage's settings file in its run folder.
pub const SETTINGS_FILE: &str = "settings.toml";

/// Pretraining of an ID model and a language model on the alignment losses
/// (`cargo xtask train --stage pretrain`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSettings {
    /// The preset these settings started from (`cpu-quick` or `paper`), for reports.
    pub preset: String,
    /// The ID tower: any zoo member, with its own settings.
    pub backbone: ModelConfig,
    /// The language model: a Hugging Face model folder.
    pub plm: PathBuf,
    /// Keep only the first k layers of the language model. Default: the preset's.
    pub plm_layers: Option<usize>,
    /// How the language model's token states become one vector (the contrastive head, and the
    /// click head of every variant with the language model): `cls` or `mean`. Default: the
    /// model folder's (its sentence-transformers pooling config, `cls` without one).
    #[serde(default)]
    pub pooling: Option<Pooling>,
    /// The pretraining loop.
    pub pretrain: PretrainConfig,
}

/// The whole FLIP experiment (`cargo xtask train`, `--stage flip`): pretraining, then every
/// variant and baseline for every seed, scored on the same rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlipSettings {
    /// Seeds of every finetuned variant (pretraining runs once, with its own seed).
    pub seeds: Vec<u64>,
    /// Training rows sampled for the variants with the language model. Default: all.
    pub finetune_rows: Option<usize>,
    /// Validation and test rows sampled for scoring every variant. Default: all.
    pub eval_rows: Option<usize>,
    /// Also pretrain without MLM, without MTM and contrastive only, and finetune FLIP_ID on
    /// each.
    pub ablations: bool,
    /// Only the ID-model variants (the backbone from scratch and FLIP_ID).
    pub id_only: bool,
    /// The ID-only variants (the backbone from scratch, FLIP_ID).
    pub id_training: CtrTrainConfig,
    /// FLIP_ID's Adam learning rate on all rows (also that of the ablations' FLIP_ID), where it
    /// differs from the backbone's from scratch (`id_training.learning_rate`). Default: the same.
    #[serde(default)]
    pub flip_id_learning_rate: Option<f64>,
    /// FLIP_ID's Adam rate for its pretrained embedding tables on all rows (also that of the
    /// ablations' FLIP_ID), where it differs from its rate for the rest. Default: the same.
    #[serde(default)]
    pub flip_id_embedding_learning_rate: Option<f64>,
    /// Share of training rows whose user is hidden behind the user field's OOV id in every
    /// ID-only variant (the backbone from scratch and FLIP_ID, on all rows and on the sample,
    /// and the ablations' FLIP_ID), drawn afresh every epoch, so that each model learns the
    /// row every new user reads on a temporal split ([`crate::oov_dropout`]). Needs a recipe
    /// field with `role = "user"`; in `[0, 1)`. Default: none (on ML-100K and ML-1M it costs
    /// both models on the new users: docs/results.md).
    #[serde(default)]
    pub unseen_user_rate: Option<f64>,
    /// Whether the ID-only variants stop early and choose their epoch on every validation row
    /// (cheap to score) rather than on the `eval_rows` sample the language-model variants use.
    /// True in the presets; false in settings documents that lack it (runs made before it).
    #[serde(default)]
    pub id_valid_all_rows: bool,
    /// The variants with the language model (the plain language model, FLIP_PLM, FLIP).
    pub finetune: FinetuneConfig,
    /// How FLIP's two towers are finetuned together. Default: the preset's.
    #[serde(default)]
    pub joint: JointProtocol,
    /// Which pretrained weights FLIP_ID (and FLIP's ID tower) starts from. Default: all.
    #[serde(default)]
    pub id_transfer: IdTransfer,
    /// Fields (recipe names) whose embedding rows and first-order weights FLIP_ID (and FLIP's
    /// ID tower) draws fresh, as the backbone from scratch draws them, instead of taking them
    /// from pretraining: for example the user-side fields on a temporal split, where the
    /// pretrained ones cost the users not seen in training (docs/results.md). Not with
    /// `id_transfer = "layers"`, which draws every embedding fresh. Default: none.
    #[serde(default)]
    pub id_fresh_fields: Vec<String>,
    /// Start pretraining's ID tower from this run's backbone trained from scratch on all rows
    /// with the pretraining's seed (that seed's "from scratch" variant, trained first and saved
    /// as `finetuned/<backbone>-scratch-seed<seed>.bpk`) instead of its initialisation, so that
    /// the language model is aligned with a click model. Not the paper's protocol (its two
    /// towers start untrained); FLIP_ID then continues a tower trained before. Default false.
    #[serde(default)]
    pub pretrain_from_trained_id: bool,
    /// The pretraining both towers start from.
    pub pretraining: PretrainSettings,
}

/// ID-model baselines trained from scratch (`cargo xtask train --stage id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdBaselineSettings {
    /// The models, each with its settings.
    pub models: Vec<ModelConfig>,
    /// Seeds per model.
    pub seeds: Vec<u64>,
    /// The trainer (its `seed` is replaced by each seed of `seeds`).
    pub training: CtrTrainConfig,
}

/// `n` seeds from 2012 on (2012, 2013, ...); at least one.
pub fn seed_list(n: u64) -> Vec<u64> {
    (0..n.max(1)).map(|i| 2012 + i).collect()
}

impl PretrainSettings {
    /// The settings of `preset` for `backbone` and the language model in `plm`.
    pub fn from_preset(preset: &Preset, backbone: ModelConfig, plm: PathBuf) -> Self {
        PretrainSettings {
            preset: preset.name.clone(),
            backbone,
            plm,
            plm_layers: preset.plm_layers,
            pooling: None,
            pretrain: preset.pretrain.clone(),
        }
    }

    /// The preset named by `self.preset`.
    pub fn preset(&self) -> Result<Preset> {
        preset_named(&self.preset)
    }
}

impl FlipSettings {
    /// The settings of `preset` for `backbone` and the language model in `plm`, seed 2012.
    pub fn from_preset(preset: &Preset, backbone: ModelConfig, plm: PathBuf) -> Self {
        FlipSettings {
            seeds: seed_list(1),
            finetune_rows: preset.finetune_rows,
            eval_rows: preset.eval_rows,
            ablations: false,
            id_only: false,
            id_training: CtrTrainConfig {
                max_epochs: preset.id_epochs,
                ..CtrTrainConfig::default()
            },
            flip_id_learning_rate: None,
            flip_id_embedding_learning_rate: None,
            unseen_user_rate: None,
            id_valid_all_rows: true,
            finetune: preset.finetune.clone(),
            joint: preset.joint,
            id_transfer: IdTransfer::All,
            id_fresh_fields: Vec::new(),
            pretrain_from_trained_id: false,
            pretraining: PretrainSettings::from_preset(preset, backbone, plm),
        }
    }
}

impl IdBaselineSettings {
    /// The trainer's defaults for `models`, seed 2012.
    pub fn new(models: Vec<ModelConfig>) -> Self {
        IdBaselineSettings {
            models,
            seeds: seed_list(1),
            training: CtrTrainConfig::default(),
        }
    }
}

/// The preset called `name`, or an error that lists the presets.
pub fn preset_named(name: &str) -> Result<Preset> {
    Preset::named(name).with_context(|| format!("unknown preset `{name}`; use cpu-quick or paper"))
}

/// Zoo members by name: one, several separated by commas, or `all`.
pub fn models_named(names: &str) -> Result<Vec<ModelConfig>> {
    let names: Vec<&str> = if names == "all" {
        flip_id_models::MODEL_NAMES.to_vec()
    } else {
        names.split(',').map(str::trim).collect()
    };
    names.iter().map(|n| model_named(n)).collect()
}

/// A zoo member by name, or an error that lists the members.
pub fn model_named(name: &str) -> Result<ModelConfig> {
    ModelConfig::from_name(name).with_context(|| {
        format!(
            "unknown model `{name}`; choose from {}",
            flip_id_models::MODEL_NAMES.join(", ")
        )
    })
}

/// `settings` as a TOML document (what `settings.toml` holds).
pub fn to_toml<T: Serialize>(settings: &T) -> Result<String> {
    toml::to_string(settings).context("the settings do not serialise to TOML")
}

/// `base` with the keys of the TOML document `text` replaced, tables merged key by key (keys
/// the document omits keep `base`'s values; unknown keys are errors that name them).
pub fn overlay<T: Serialize + DeserializeOwned>(base: &T, text: &str) -> Result<T> {
    overlay_table(base, text.parse::<toml::Table>()?)
}

fn overlay_table<T: Serialize + DeserializeOwned>(base: &T, document: toml::Table) -> Result<T> {
    let toml::Value::Table(mut table) = toml::Value::try_from(base)? else {
        bail!("the settings do not serialise to a TOML table");
    };
    merge(&mut table, document);
    Ok(toml::Value::Table(table).try_into()?)
}

/// [`overlay`] with the document in the file at `path` (errors name the file).
pub fn overlay_file<T: Serialize + DeserializeOwned>(base: &T, path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    overlay(base, &text).with_context(|| format!("{}: not a settings document", path.display()))
}

/// A settings document read from a file, to be laid over a preset's settings with
/// [`SettingsDocument::apply`]; its keys can be read and removed first (for example to find
/// the preset and backbone it names).
#[derive(Debug, Clone)]
pub struct SettingsDocument {
    path: PathBuf,
    table: toml::Table,
}

impl SettingsDocument {
    /// Reads the TOML document at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table = text
            .parse::<toml::Table>()
            .with_context(|| format!("{}: not a TOML document", path.display()))?;
        Ok(SettingsDocument {
            path: path.to_owned(),
            table,
        })
    }

    /// The string at the dotted key `key` (`pretraining.backbone.model`), if any.
    pub fn string(&self, key: &str) -> Option<&str> {
        let mut parts = key.split('.').peekable();
        let mut table = &self.table;
        while let Some(part) = parts.next() {
            let value = table.get(part)?;
            if parts.peek().is_none() {
                return value.as_str();
            }
            table = value.as_table()?;
        }
        None
    }

    /// Removes the dotted key `key` (a value or a whole table), if present.
    pub fn remove(&mut self, key: &str) {
        let (parent, last) = match key.rsplit_once('.') {
            Some((parent, last)) => (Some(parent), last),
            None => (None, key),
        };
        let mut table = &mut self.table;
        for part in parent.into_iter().flat_map(|p| p.split('.')) {
            match table.get_mut(part).and_then(toml::Value::as_table_mut) {
                Some(inner) => table = inner,
                None => return,
            }
        }
        table.remove(last);
    }

    /// `base` with this document's keys laid over it ([`overlay`]); errors name the file.
    pub fn apply<T: Serialize + DeserializeOwned>(&self, base: &T) -> Result<T> {
        overlay_table(base, self.table.clone())
            .with_context(|| format!("{}: not a settings document", self.path.display()))
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// One changed key: its dotted path, the value before and after (`None` where a side lacks it).
pub type Difference = (String, Option<String>, Option<String>);

/// The keys (dotted paths) whose values differ between two settings, with both values, in key
/// order.
pub fn differences<T: Serialize>(before: &T, after: &T) -> Result<Vec<Difference>> {
    let (a, b) = (
        toml::Value::try_from(before)?,
        toml::Value::try_from(after)?,
    );
    let mut out = Vec::new();
    diff("", Some(&a), Some(&b), &mut out);
    Ok(out)
}

fn diff(path: &str, a: Option<&toml::Value>, b: Option<&toml::Value>, out: &mut Vec<Difference>) {
    match (a, b) {
        (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(&sub, x.get(key), y.get(key), out);
            }
        }
        (x, y) if x != y => out.push((
            path.to_owned(),
            x.map(ToString::to_string),
            y.map(ToString::to_string),
        )),
        _ => {}
    }
}

/// One line per difference: `key: before -> after` (`unset` for a missing side).
pub fn describe_differences(differences: &[Difference]) -> String {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".to_owned());
    differences
        .iter()
        .map(|(key, a, b)| format!("{key}: {} -> {}", show(a), show(b)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flip(preset: &Preset) -> FlipSettings {
        FlipSettings::from_preset(
            preset,
            ModelConfig::from_name("dcnv2").unwrap(),
            PathBuf::from("/models/minilm"),
        )
    }

    #[test]
    fn a_settings_file_changes_only_its_own_keys() {
        let base = Preset::cpu_quick().pretrain;
        let config = overlay(&base, "learning_rate = 0.002\n[align]\ntemperature = 0.1\n").unwrap();
        assert_eq!(config.learning_rate, 0.002);
        assert_eq!(config.align.temperature, 0.1);
        assert_eq!(config.max_rows, base.max_rows);
        assert_eq!(config.batch_size, base.batch_size);
        assert_eq!(config.align.icl_weight, base.align.icl_weight);
        assert_eq!(config.mask, base.mask);
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let base = PretrainConfig::default();
        let error = overlay(&base, "learnig_rate = 0.1\n").unwrap_err();
        assert!(format!("{error:#}").contains("learnig_rate"), "{error:#}");
        let error = overlay(&flip(&Preset::cpu_quick()), "[finetune]\nbatch = 3\n").unwrap_err();
        assert!(format!("{error:#}").contains("batch"), "{error:#}");
    }

    #[test]
    fn every_stage_round_trips_through_its_toml_document() {
        for preset in [Preset::cpu_quick(), Preset::paper()] {
            let settings = flip(&preset);
            let text = to_toml(&settings).unwrap();
            // A complete document laid over another preset gives the same settings back.
            let back: FlipSettings = overlay(&flip(&Preset::paper()), &text).unwrap();
            assert!(differences(&settings, &back).unwrap().is_empty(), "{text}");
            let direct: FlipSettings = toml::from_str(&text).unwrap();
            assert!(differences(&settings, &direct).unwrap().is_empty());
        }
        let id = IdBaselineSettings::new(vec![
            ModelConfig::from_name("lr").unwrap(),
            ModelConfig::from_name("xdeepfm").unwrap(),
        ]);
        let back: IdBaselineSettings = toml::from_str(&to_toml(&id).unwrap()).unwrap();
        assert!(differences(&id, &back).unwrap().is_empty());
    }

    #[test]
    fn a_document_from_before_a_key_existed_keeps_that_runs_behaviour() {
        let mut doc: toml::Value =
            toml::from_str(&to_toml(&flip(&Preset::cpu_quick())).unwrap()).unwrap();
        let table = doc.as_table_mut().unwrap();
        assert_eq!(table.remove("id_valid_all_rows"), Some(true.into()));
        assert_eq!(table.remove("id_transfer"), Some("all".into()));
        let earlier: FlipSettings = toml::from_str(&toml::to_string(&doc).unwrap()).unwrap();
        // Earlier runs chose the ID-only variants' epochs on the sampled rows and transferred
        // every pretrained weight.
        assert!(!earlier.id_valid_all_rows);
        assert_eq!(earlier.id_transfer, IdTransfer::All);
    }

    #[test]
    fn differences_name_the_changed_keys_with_both_values() {
        let a = flip(&Preset::cpu_quick());
        let mut b = a.clone();
        b.eval_rows = Some(40);
        b.pretraining.pretrain.align.temperature = 0.5;
        let d = differences(&a, &b).unwrap();
        let keys: Vec<&str> = d.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["eval_rows", "pretraining.pretrain.align.temperature"]
        );
        assert_eq!(d[0].1.as_deref(), Some("2000"));
        assert_eq!(d[0].2.as_deref(), Some("40"));
        b.eval_rows = None;
        let text = describe_differences(&differences(&a, &b).unwrap());
        assert!(text.starts_with("eval_rows: 2000 -> unset\n"), "{text}");
    }

    #[test]
    fn a_document_names_its_keys_and_drops_the_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let cpu = flip(&Preset::cpu_quick());
        std::fs::write(&path, to_toml(&cpu).unwrap()).unwrap();
        let mut doc = SettingsDocument::read(&path).unwrap();
        assert_eq!(doc.string("pretraining.preset"), Some("cpu-quick"));
        assert_eq!(doc.string("pretraining.backbone.model"), Some("dcnv2"));
        assert_eq!(doc.string("pretraining.nothing.here"), None);
        doc.remove("pretraining.backbone");
        assert_eq!(doc.string("pretraining.backbone.model"), None);
        // Laid over the paper preset with a DeepFM backbone, the backbone stays DeepFM.
        let paper = FlipSettings::from_preset(
            &Preset::paper(),
            ModelConfig::from_name("deepfm").unwrap(),
            PathBuf::from("/models/minilm"),
        );
        let merged = doc.apply(&paper).unwrap();
        assert_eq!(merged.pretraining.backbone.name(), "deepfm");
        assert_eq!(merged.pretraining.pretrain, cpu.pretraining.pretrain);
        std::fs::write(&path, "[finetune]\nbatch = 3\n").unwrap();
        let error = SettingsDocument::read(&path)
            .unwrap()
            .apply(&paper)
            .unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("settings.toml") && text.contains("batch"),
            "{text}"
        );
    }

    #[test]
    fn seeds_start_at_2012() {
        assert_eq!(seed_list(3), [2012, 2013, 2014]);
        assert_eq!(seed_list(0), [2012]);
    }

    #[test]
    fn models_are_named_one_by_one_or_all_at_once() {
        let two = models_named("fm, dcnv2").unwrap();
        assert_eq!(
            two.iter().map(|m| m.name()).collect::<Vec<_>>(),
            ["fm", "dcnv2"]
        );
        assert_eq!(
            models_named("all").unwrap().len(),
            flip_id_models::MODEL_NAMES.len()
        );
        let error = models_named("fm,gbdt").unwrap_err().to_string();
        assert!(error.contains("unknown model `gbdt`"), "{error}");
    }
}
