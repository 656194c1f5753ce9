//! Where an experiment's inputs come from: dataset recipes (shipped under a `datasets/` folder,
//! or a recipe file), tokenizers and language-model folders (`minilm` is fetched into the cache
//! when needed), and the prepared dataset built from them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flip_data::fetch::{self, Fetcher};
use flip_data::{
    FlipHome, LoadedRecipe, Meta, PrepareOptions, Prepared, PromptTokenizer, Protocol,
};
use flip_id_models::ModelConfig;

use super::settings::{FlipSettings, SettingsDocument};
use crate::presets::Preset;

/// The name under which all-MiniLM-L6-v2 is fetched.
pub const MINILM: &str = "minilm";

/// The caches and the folder of shipped recipes an experiment resolves names against.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Downloads, prepared data and runs.
    pub home: FlipHome,
    /// Folder with one sub-folder per shipped dataset, each holding a `recipe.toml`.
    pub datasets_dir: PathBuf,
}

/// What to prepare.
#[derive(Debug, Clone)]
pub struct PrepareRequest {
    /// A dataset under [`Sources::datasets_dir`] (`ml-100k`, `ml-1m`, ...) or a recipe file.
    pub dataset: String,
    /// Split protocol. Default: the recipe's.
    pub protocol: Option<Protocol>,
    /// Tokenizer: `minilm`, or a model folder, `tokenizer.json` or `vocab.txt`.
    pub tokenizer: String,
    /// Where the raw files are. Default: the recipe's `path`, else the fetch cache (fetched
    /// when missing).
    pub source: Option<PathBuf>,
    /// Output folder. Default: `$FLIP_HOME/prepared/<dataset>-<protocol>`.
    pub out: Option<PathBuf>,
    /// Rebuild even if an identical preparation exists.
    pub force: bool,
}

impl PrepareRequest {
    /// `dataset` with its recipe's protocol, tokenized with `tokenizer`, in the default folder.
    pub fn new(dataset: impl Into<String>, tokenizer: impl Into<String>) -> Self {
        PrepareRequest {
            dataset: dataset.into(),
            protocol: None,
            tokenizer: tokenizer.into(),
            source: None,
            out: None,
            force: false,
        }
    }
}

impl Sources {
    /// `home`, with the shipped recipes in `datasets_dir`.
    pub fn new(home: FlipHome, datasets_dir: impl Into<PathBuf>) -> Self {
        Sources {
            home,
            datasets_dir: datasets_dir.into(),
        }
    }

    /// The default run folder of a stage on `meta`'s dataset:
    /// `<home>/runs/<stage>-<dataset>-<split protocol>`, with `-<backbone>-<preset>` for the
    /// stages that pretrain (`model`).
    pub fn run_folder(&self, stage: &str, meta: &Meta, model: Option<(&str, &str)>) -> PathBuf {
        let mut name = format!("{stage}-{}-{}", meta.name, meta.recipe.split.protocol);
        if let Some((backbone, preset)) = model {
            name.push_str(&format!("-{backbone}-{preset}"));
        }
        Path::new(self.home.root()).join("runs").join(name)
    }

    /// The FLIP settings a dataset ships for `preset`: the file `<preset>.toml` beside its
    /// recipe (`datasets/ml-100k/cpu-quick.toml`), to be laid over the preset's settings
    /// before a run's own (`--settings`); `None` when the dataset has none for that preset.
    pub fn preset_settings(&self, dataset: &str, preset: &str) -> Result<Option<PathBuf>> {
        let recipe = self.recipe(dataset)?;
        let path = recipe.path.with_file_name(format!("{preset}.toml"));
        Ok(path.is_file().then_some(path))
    }

    /// The FLIP settings a run on `dataset` starts from: `preset`'s with `backbone` and the
    /// language model in `plm`, and over them the dataset's settings for that preset
    /// ([`Sources::preset_settings`]) when it ships some. A run's own settings document goes
    /// over the result.
    pub fn flip_settings(
        &self,
        dataset: &str,
        preset: &Preset,
        backbone: ModelConfig,
        plm: PathBuf,
    ) -> Result<FlipSettings> {
        let base = FlipSettings::from_preset(preset, backbone, plm);
        let Some(path) = self.preset_settings(dataset, &preset.name)? else {
            return Ok(base);
        };
        tracing::info!(
            "{}: the dataset's settings for the {} preset, laid over it",
            path.display(),
            preset.name
        );
        SettingsDocument::read(&path)?.apply(&base)
    }

    /// The recipe of a shipped dataset, or of a recipe file.
    pub fn recipe(&self, dataset: &str) -> Result<LoadedRecipe> {
        let as_path = Path::new(dataset);
        let path = if as_path.is_file() {
            as_path.to_owned()
        } else {
            let shipped = self.datasets_dir.join(dataset).join("recipe.toml");
            if !shipped.is_file() {
                let mut known: Vec<String> = std::fs::read_dir(&self.datasets_dir)
                    .map(|d| {
                        d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                known.sort();
                bail!(
                    "no dataset `{dataset}`: give a recipe file or one of {}",
                    known.join(", ")
                );
            }
            shipped
        };
        Ok(LoadedRecipe::from_file(&path)?)
    }

    /// A language-model folder: `minilm` (fetched when needed) or a Hugging Face folder.
    pub fn plm_folder(&self, name: &str) -> Result<PathBuf> {
        if name == MINILM {
            let source = fetch::catalog::source(MINILM).expect("MiniLM is in the catalog");
            return Ok(Fetcher::new(self.home.clone()).fetch(source)?.dir);
        }
        let dir = PathBuf::from(name);
        if !dir.join("config.json").is_file() {
            bail!(
                "{}: not a Hugging Face model folder (no config.json)",
                dir.display()
            );
        }
        Ok(dir)
    }

    /// A tokenizer: `minilm` (fetched when needed), a model folder, `tokenizer.json` or
    /// `vocab.txt`.
    pub fn tokenizer(&self, name: &str) -> Result<PromptTokenizer> {
        let path = if name == MINILM {
            self.plm_folder(MINILM)?
        } else {
            PathBuf::from(name)
        };
        Ok(PromptTokenizer::from_path(&path)?)
    }

    /// Prepares a dataset (raw files fetched when the recipe names a fetchable source and the
    /// cache lacks them), or reuses an identical preparation.
    pub fn prepare(&self, request: &PrepareRequest) -> Result<Prepared> {
        let recipe = self.recipe(&request.dataset)?;
        let r = &recipe.recipe;
        let source = match &request.source {
            Some(s) => s.clone(),
            None => {
                if let (None, Some(name)) = (&r.source.path, &r.source.fetch) {
                    let spec = fetch::catalog::source(name).with_context(|| {
                        format!(
                            "{}: `source.fetch = \"{name}\"` is not a fetchable source",
                            recipe.path.display()
                        )
                    })?;
                    let fetcher = Fetcher::new(self.home.clone());
                    if fetcher.complete(spec).is_none() {
                        fetcher.fetch(spec)?;
                    }
                }
                flip_data::prepare::source_location(&recipe, &self.home)
            }
        };
        let tokenizer = self.tokenizer(&request.tokenizer)?;
        let protocol = request.protocol.unwrap_or(r.split.protocol);
        let out = request
            .out
            .clone()
            .unwrap_or_else(|| self.home.prepared(&r.name, &protocol.to_string()));
        Ok(flip_data::prepare(
            &recipe,
            &tokenizer,
            &PrepareOptions {
                source,
                out_dir: out,
                protocol: request.protocol,
                force: request.force,
            },
        )?)
    }
}
