//! Run folders: a stage claims its folder with its settings, so that work an earlier run left
//! there (checkpoints, pretrained towers, finished variants) is reused only for the same
//! settings on the same dataset.

use std::path::Path;

use anyhow::{Context, Result, bail};
use flip_data::PreparedDataset;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::settings::{SETTINGS_FILE, describe_differences, differences, to_toml};
use crate::report::write_atomically;

/// The dataset a run folder belongs to, kept beside its settings.
const DATASET_FILE: &str = "dataset.txt";

/// Makes `dir` the folder of a run with `settings` on `dataset`: a folder that a run with other
/// settings or another dataset made is refused with the keys that differ; a new one gets
/// `settings.toml` (the settings, a document that can be passed back in) and `dataset.txt`.
pub fn claim<T: Serialize + DeserializeOwned>(
    dir: &Path,
    dataset: &PreparedDataset,
    settings: &T,
) -> Result<()> {
    let meta = dataset.meta();
    let identity = format!("{} ({} split)\n", meta.name, meta.recipe.split.protocol);
    let settings_path = dir.join(SETTINGS_FILE);
    let dataset_path = dir.join(DATASET_FILE);
    match std::fs::read_to_string(&settings_path) {
        Ok(before) => {
            let earlier: T = toml::from_str(&before)
                .with_context(|| format!("{}: unreadable settings", settings_path.display()))?;
            let mut changes = describe_differences(&differences(&earlier, settings)?);
            let before_dataset = std::fs::read_to_string(&dataset_path).unwrap_or_default();
            if before_dataset != identity {
                changes.push_str(&format!(
                    "{}dataset: {} -> {}",
                    if changes.is_empty() { "" } else { "\n" },
                    before_dataset.trim(),
                    identity.trim()
                ));
            }
            if !changes.is_empty() {
                bail!(
                    "{} belongs to a run with other settings (that run -> this run):\n{changes}\n\
                     pass --out with a new folder, or delete that one",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("reading {}", settings_path.display()))
        }
        Err(_) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_atomically(&dataset_path, identity.as_bytes())
                .with_context(|| format!("writing {}", dataset_path.display()))?;
            write_atomically(&settings_path, to_toml(settings)?.as_bytes())
                .with_context(|| format!("writing {}", settings_path.display()))
        }
    }
}
