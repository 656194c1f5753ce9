//! Run folders: a stage claims its folder with its settings, so that work an earlier run left
//! there (checkpoints, pretrained towers, finished variants) is reused only for the same
//! settings on the same dataset.

use std::path::Path;

use anyhow::{Context, Result, bail};
use flip_data::PreparedDataset;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::settings::{SETTINGS_FILE, describe_differences, differences, to_toml};
use crate::atomic::write_atomically;

/// The dataset a run folder belongs to (name, split and preparation hash, which covers the raw
/// files, the recipe and the tokenizer), kept beside its settings.
const DATASET_FILE: &str = "dataset.txt";

/// The line `dataset.txt` holds: the dataset's name, split and preparation hash.
pub(crate) fn dataset_identity(dataset: &PreparedDataset) -> String {
    let meta = dataset.meta();
    format!(
        "{} ({} split), preparation {}\n",
        meta.name, meta.recipe.split.protocol, meta.hash
    )
}

/// Whether `dir` holds results of `dataset` as prepared now (its `dataset.txt` matches).
pub(crate) fn holds_dataset(dir: &Path, dataset: &PreparedDataset) -> bool {
    std::fs::read_to_string(dir.join(DATASET_FILE)).is_ok_and(|t| t == dataset_identity(dataset))
}

/// Records in `dir` that its results are of `dataset` as prepared now.
pub(crate) fn record_dataset(dir: &Path, dataset: &PreparedDataset) -> Result<()> {
    let path = dir.join(DATASET_FILE);
    write_atomically(&path, dataset_identity(dataset).as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Makes `dir` the folder of a run with `settings` on `dataset`: a folder that a run with other
/// settings or another dataset made is refused with the keys that differ; a new one gets
/// `settings.toml` (the settings, a document that can be passed back in) and `dataset.txt`.
pub fn claim<T: Serialize + DeserializeOwned>(
    dir: &Path,
    dataset: &PreparedDataset,
    settings: &T,
) -> Result<()> {
    let identity = dataset_identity(dataset);
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
            record_dataset(dir, dataset)?;
            write_atomically(&settings_path, to_toml(settings)?.as_bytes())
                .with_context(|| format!("writing {}", settings_path.display()))
        }
    }
}

/// Files written before any work: the claim's, and pretraining's record of its settings.
const BOOKKEEPING: [&str; 3] = [SETTINGS_FILE, DATASET_FILE, "settings.json"];

/// Removes `dir` when it holds no work, only the files written before any (its claim), here or
/// in its sub-folders: a run that failed before doing anything leaves nothing behind. Returns
/// whether it was removed.
pub fn release_if_unused(dir: &Path) -> bool {
    fn unused(dir: &Path) -> bool {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().all(|entry| {
                let path = entry.path();
                if path.is_dir() {
                    unused(&path)
                } else {
                    entry
                        .file_name()
                        .to_str()
                        .is_some_and(|name| BOOKKEEPING.contains(&name))
                }
            })
        })
    }
    unused(dir) && std::fs::remove_dir_all(dir).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_folder_without_work_is_released() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        std::fs::create_dir_all(dir.join("pretrain")).unwrap();
        for file in [SETTINGS_FILE, DATASET_FILE, "pretrain/settings.toml"] {
            std::fs::write(dir.join(file), "x").unwrap();
        }
        std::fs::write(dir.join("pretrain/pretrain.jsonl"), "{}").unwrap();
        assert!(!release_if_unused(&dir), "a pretraining log is work");
        std::fs::remove_file(dir.join("pretrain/pretrain.jsonl")).unwrap();
        assert!(release_if_unused(&dir));
        assert!(!dir.exists());
    }
}
