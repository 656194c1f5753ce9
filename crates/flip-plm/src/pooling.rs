//! How token states become one vector per sequence, and which way a model folder asks for.
//!
//! A sentence-transformers folder names its pooling in the config of its `Pooling` module
//! (found through `modules.json`, `1_Pooling/config.json` by convention); a plain Hugging Face
//! folder has none, and the first token's state (`[CLS]` / `<s>`) is used, as FLIP's official
//! code does. [`save_pooling`] writes the same files, so a saved folder keeps its pooling.

use std::path::{Path, PathBuf};

use burn::tensor::{Bool, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{PlmError, Result};

/// How token states become one vector per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The first token's state (`[CLS]` / `<s>`), as FLIP.
    Cls,
    /// The mean of the real tokens' states, as sentence-transformers.
    Mean,
}

impl Pooling {
    /// The name used in settings files: `cls` or `mean`.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Cls => "cls",
            Pooling::Mean => "mean",
        }
    }

    /// The pooling the model folder `dir` was trained with: its sentence-transformers pooling
    /// config when it has one, [`Pooling::Cls`] otherwise. A config that asks for a pooling
    /// this crate does not implement (max, weighted mean, last token, or several at once) is
    /// an error naming the file and the key.
    pub fn of_folder(dir: &Path) -> Result<Pooling> {
        match pooling_config_path(dir)? {
            Some(path) => read_pooling_config(&path),
            None => Ok(Pooling::Cls),
        }
    }
}

/// The key of each mode in a sentence-transformers pooling config.
const MODE_KEYS: [&str; 6] = [
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
];

const POOLING_MODULE: &str = "sentence_transformers.models.Pooling";

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| PlmError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| PlmError::Config {
        path: path.to_owned(),
        key: "(file)".into(),
        message: format!("not valid JSON: {e}"),
    })
}

/// The pooling config of `dir`: the path `modules.json` gives its `Pooling` module, else
/// `1_Pooling/config.json` when present.
fn pooling_config_path(dir: &Path) -> Result<Option<PathBuf>> {
    let modules = dir.join("modules.json");
    if modules.is_file() {
        let list = read_json(&modules)?;
        let entries = list.as_array().ok_or_else(|| PlmError::Config {
            path: modules.clone(),
            key: "(file)".into(),
            message: "expected a list of modules".into(),
        })?;
        let pooling = entries
            .iter()
            .find(|m| m.get("type").and_then(Value::as_str) == Some(POOLING_MODULE));
        return match pooling {
            None => Ok(None),
            Some(module) => {
                let folder =
                    module
                        .get("path")
                        .and_then(Value::as_str)
                        .ok_or_else(|| PlmError::Config {
                            path: modules.clone(),
                            key: "path".into(),
                            message: "the Pooling module has no path".into(),
                        })?;
                let path = dir.join(folder).join("config.json");
                if path.is_file() {
                    Ok(Some(path))
                } else {
                    Err(PlmError::Folder {
                        path: path.clone(),
                        message: format!(
                            "missing, but {} names a Pooling module there",
                            modules.display()
                        ),
                    })
                }
            }
        };
    }
    let conventional = dir.join("1_Pooling").join("config.json");
    Ok(conventional.is_file().then_some(conventional))
}

fn read_pooling_config(path: &Path) -> Result<Pooling> {
    let config = read_json(path)?;
    let mut on = Vec::new();
    for key in MODE_KEYS {
        match config.get(key) {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => on.push(key),
            Some(other) => {
                return Err(PlmError::Config {
                    path: path.to_owned(),
                    key: key.into(),
                    message: format!("expected true or false, found {other}"),
                });
            }
        }
    }
    match on.as_slice() {
        ["pooling_mode_cls_token"] => Ok(Pooling::Cls),
        ["pooling_mode_mean_tokens"] => Ok(Pooling::Mean),
        [] => Err(PlmError::Config {
            path: path.to_owned(),
            key: "pooling_mode_*".into(),
            message: "no pooling mode is switched on".into(),
        }),
        [one] => Err(PlmError::Config {
            path: path.to_owned(),
            key: (*one).into(),
            message: "only cls and mean pooling are implemented".into(),
        }),
        several => Err(PlmError::Config {
            path: path.to_owned(),
            key: several.join(", "),
            message: "several pooling modes at once (concatenated) are not implemented".into(),
        }),
    }
}

/// Writes `pooling` into the model folder `dir` as sentence-transformers does: `modules.json`
/// (the transformer, then the pooling module) and `1_Pooling/config.json`. `hidden_size` is the
/// width of the pooled vector.
pub fn save_pooling(dir: &Path, pooling: Pooling, hidden_size: usize) -> Result<()> {
    let folder = dir.join("1_Pooling");
    std::fs::create_dir_all(&folder).map_err(|e| PlmError::io(&folder, e))?;
    let mut config = serde_json::Map::new();
    config.insert("word_embedding_dimension".into(), json!(hidden_size));
    for key in MODE_KEYS {
        let on = matches!(
            (pooling, key),
            (Pooling::Cls, "pooling_mode_cls_token") | (Pooling::Mean, "pooling_mode_mean_tokens")
        );
        config.insert(key.into(), json!(on));
    }
    let modules = json!([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": POOLING_MODULE},
    ]);
    for (path, value) in [
        (folder.join("config.json"), Value::Object(config)),
        (dir.join("modules.json"), modules),
    ] {
        let text = serde_json::to_string_pretty(&value).expect("JSON serializes");
        std::fs::write(&path, text).map_err(|e| PlmError::io(&path, e))?;
    }
    Ok(())
}

/// Pools token states into one vector per sequence.
///
/// # Shapes
/// - `states`: `[B, L, H]`, `mask`: `[B, L]` (true on real tokens)
/// - output: `[B, H]`
pub fn pool(states: Tensor<3>, mask: Tensor<2, Bool>, pooling: Pooling) -> Tensor<2> {
    let [b, l, h] = states.dims();
    match pooling {
        Pooling::Cls => states.narrow(1, 0, 1).reshape([b, h]),
        Pooling::Mean => {
            let weights = mask.float().reshape([b, l, 1]);
            let count = weights.clone().sum_dim(1).reshape([b, 1]).clamp_min(1e-9);
            (states * weights).sum_dim(1).reshape([b, h]) / count
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn mean_pooling_ignores_padding() {
        let device = Device::flex();
        let states = Tensor::<3>::from_floats([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], &device);
        let mask =
            Tensor::<2, Bool>::from_data(TensorData::new(vec![true, true, false], [1, 3]), &device);
        let mean = pool(states.clone(), mask.clone(), Pooling::Mean)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(mean, vec![2.0, 3.0]);
        let cls = pool(states, mask, Pooling::Cls)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(cls, vec![1.0, 2.0]);
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_plain_folder_pools_the_first_token() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Pooling::of_folder(dir.path()).unwrap(), Pooling::Cls);
    }

    #[test]
    fn the_pooling_module_named_by_modules_json_decides() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("modules.json"),
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"pool","type":"sentence_transformers.models.Pooling"},
                {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        );
        write(
            &dir.path().join("pool/config.json"),
            r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
                "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
                "pooling_mode_mean_sqrt_len_tokens": false}"#,
        );
        // A conventional folder that modules.json does not name is not read.
        write(
            &dir.path().join("1_Pooling/config.json"),
            r#"{"pooling_mode_cls_token": true}"#,
        );
        assert_eq!(Pooling::of_folder(dir.path()).unwrap(), Pooling::Mean);
    }

    #[test]
    fn unsupported_or_malformed_configs_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("1_Pooling/config.json");
        let cases = [
            (
                r#"{"pooling_mode_max_tokens": true}"#,
                "pooling_mode_max_tokens",
            ),
            (r#"{"pooling_mode_cls_token": false}"#, "no pooling mode"),
            (
                r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#,
                "several pooling modes",
            ),
            (
                r#"{"pooling_mode_mean_tokens": "yes"}"#,
                "expected true or false",
            ),
            ("{", "not valid JSON"),
        ];
        for (text, expected) in cases {
            write(&config, text);
            let error = Pooling::of_folder(dir.path()).unwrap_err().to_string();
            assert!(error.contains("1_Pooling/config.json"), "{error}");
            assert!(error.contains(expected), "{text}: {error}");
        }
        write(
            &dir.path().join("modules.json"),
            r#"[{"path":"elsewhere","type":"sentence_transformers.models.Pooling"}]"#,
        );
        let error = Pooling::of_folder(dir.path()).unwrap_err().to_string();
        assert!(error.contains("elsewhere/config.json"), "{error}");
    }

    #[test]
    fn saved_pooling_reads_back() {
        for pooling in [Pooling::Cls, Pooling::Mean] {
            let dir = tempfile::tempdir().unwrap();
            save_pooling(dir.path(), pooling, 8).unwrap();
            assert_eq!(Pooling::of_folder(dir.path()).unwrap(), pooling);
        }
    }
}
