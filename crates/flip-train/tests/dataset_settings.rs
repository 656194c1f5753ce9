//! Settings a dataset ships for a preset (`datasets/<name>/<preset>.toml`): found beside the
//! recipe, shipped or given as a file, and for ML-100K's `cpu-quick` ones that parse, name the
//! recipe's fields and give the main job its language-model rows.

use std::path::{Path, PathBuf};

use flip_data::FlipHome;
use flip_train::experiment::{FlipSettings, IdTransfer, Sources, model_named, preset_named};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sources(home: &Path) -> Sources {
    Sources::new(FlipHome::at(home), root().join("datasets"))
}

#[test]
fn a_dataset_s_preset_settings_are_the_file_named_after_the_preset_beside_its_recipe() {
    let home = tempfile::tempdir().unwrap();
    let sources = sources(home.path());
    let shipped = sources.preset_settings("ml-100k", "cpu-quick").unwrap();
    assert_eq!(
        shipped,
        Some(root().join("datasets/ml-100k/cpu-quick.toml")),
        "ML-100K ships its cpu-quick settings"
    );
    assert_eq!(sources.preset_settings("ml-100k", "paper").unwrap(), None);
    assert_eq!(sources.preset_settings("ml-1m", "cpu-quick").unwrap(), None);
    // A recipe file given by path: the file beside it, when there is one.
    let folder = tempfile::tempdir().unwrap();
    let recipe = folder.path().join("recipe.toml");
    std::fs::copy(root().join("datasets/ml-100k/recipe.toml"), &recipe).unwrap();
    let dataset = recipe.display().to_string();
    assert_eq!(
        sources.preset_settings(&dataset, "cpu-quick").unwrap(),
        None
    );
    std::fs::write(folder.path().join("cpu-quick.toml"), "finetune_rows = 10\n").unwrap();
    assert_eq!(
        sources.preset_settings(&dataset, "cpu-quick").unwrap(),
        Some(folder.path().join("cpu-quick.toml"))
    );
    // An unknown dataset is an error that names it, not "no settings".
    let err = sources
        .preset_settings("no-such-dataset", "cpu-quick")
        .unwrap_err();
    assert!(err.to_string().contains("no-such-dataset"), "{err}");
}

#[test]
fn ml_100k_s_cpu_quick_settings_train_the_text_towers_on_every_row_and_name_recipe_fields() {
    let home = tempfile::tempdir().unwrap();
    let sources = sources(home.path());
    let preset = preset_named("cpu-quick").unwrap();
    let dcnv2 = || model_named("dcnv2").unwrap();
    let base = FlipSettings::from_preset(&preset, dcnv2(), "minilm".into());
    let settings = sources
        .flip_settings("ml-100k", &preset, dcnv2(), "minilm".into())
        .unwrap();
    let recipe = sources.recipe("ml-100k").unwrap();
    assert!(settings.finetune.group_prompts);
    assert_eq!(settings.finetune.staged_max_epochs, Some(0));
    assert_eq!(settings.id_transfer, IdTransfer::Embeddings);
    // Every training row: the split's 80% of ML-100K's 100,000 ratings.
    assert_eq!(settings.finetune_rows, Some(80_000));
    // The fresh fields are the recipe's user-side fields, and none of the prompt's.
    let fields = &recipe.recipe.fields;
    let unspelled = recipe.template.unused_fields(fields.len());
    assert!(!settings.id_fresh_fields.is_empty());
    for name in &settings.id_fresh_fields {
        let index = fields.iter().position(|f| &f.name == name);
        let index = index.unwrap_or_else(|| panic!("{name} is not a recipe field"));
        assert!(unspelled.contains(&index), "{name} is in the prompt");
    }
    // What the file leaves alone stays the preset's.
    assert_eq!(settings.eval_rows, base.eval_rows);
    assert_eq!(settings.pretraining.pretrain, base.pretraining.pretrain);
    // A dataset without such a file starts from the preset alone.
    let ml_1m = sources
        .flip_settings("ml-1m", &preset, dcnv2(), "minilm".into())
        .unwrap();
    assert_eq!(
        toml::to_string(&ml_1m).unwrap(),
        toml::to_string(&FlipSettings::from_preset(
            &preset,
            dcnv2(),
            "minilm".into()
        ))
        .unwrap()
    );
}
