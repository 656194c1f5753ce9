//! Bad input gets a clear error naming the file and line or the key, and leaves no output.

mod common;

use std::path::Path;

use common::{datasets, fixture, tiny_tokenizer};
use flip_data::{LoadedRecipe, PrepareOptions, PreparedDataset, Split, prepare};

/// Prepares `recipe` from `raw` into a fresh folder; returns the error text after checking that
/// nothing was written.
fn prepare_fails(recipe: &LoadedRecipe, raw: &Path) -> String {
    let (_vocab, tk) = tiny_tokenizer();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("prepared");
    let err = prepare(
        recipe,
        &tk,
        &PrepareOptions {
            source: raw.to_owned(),
            out_dir: dir.clone(),
            protocol: None,
            force: false,
        },
    )
    .unwrap_err()
    .to_string();
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert!(left.is_empty(), "partial output left behind: {left:?}");
    err
}

fn ml1m() -> LoadedRecipe {
    LoadedRecipe::from_file(&datasets().join("ml-1m/recipe.toml")).unwrap()
}

fn edit(dir: &Path, file: &str, f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, f(bytes)).unwrap();
}

#[test]
fn missing_file() {
    let raw = fixture("ml-1m/fixtures/original");
    std::fs::remove_file(raw.path().join("users.dat")).unwrap();
    let err = prepare_fails(&ml1m(), raw.path());
    assert!(err.contains("no MovieLens files"), "{err}");
    assert!(err.contains("users.dat"), "{err}");
    assert!(err.contains("cargo xtask fetch ml-1m"), "{err}");
}

#[test]
fn line_with_too_few_columns() {
    let raw = fixture("ml-1m/fixtures/original");
    edit(raw.path(), "ratings.dat", |b| {
        let text = String::from_utf8(b).unwrap();
        text.replacen("2::", "2:", 1).into_bytes()
    });
    let err = prepare_fails(&ml1m(), raw.path());
    assert!(
        err.ends_with("ratings.dat:2: expected 4 fields separated by \"::\", found 3"),
        "{err}"
    );
}

#[test]
fn rating_that_is_not_a_number() {
    let raw = fixture("ml-1m/fixtures/atomic");
    edit(raw.path(), "ml-1m.inter", |b| {
        let text = String::from_utf8(b).unwrap();
        let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
        let mut cells: Vec<&str> = lines[3].split('\t').collect();
        cells[2] = "five";
        lines[3] = cells.join("\t");
        lines.join("\r\n").into_bytes()
    });
    let err = prepare_fails(&ml1m(), raw.path());
    assert!(
        err.ends_with("ml-1m.inter:4: rating \"five\" is not a number"),
        "{err}"
    );
}

#[test]
fn atomic_file_that_is_not_utf8() {
    let raw = fixture("ml-1m/fixtures/atomic");
    edit(raw.path(), "ml-1m.item", |mut b| {
        let at = b.windows(4).position(|w| w == b"Rust").unwrap();
        b[at] = 0xff;
        b
    });
    let err = prepare_fails(&ml1m(), raw.path());
    assert!(
        err.contains("ml-1m.item:2: not valid UTF-8 (byte 0xff)"),
        "{err}"
    );
}

#[test]
fn dat_file_that_is_not_latin1() {
    let raw = fixture("ml-1m/fixtures/original");
    edit(raw.path(), "movies.dat", |mut b| {
        b.extend_from_slice(b"7::Bin\x00ary\x01 (2000)::Drama\n\xe9");
        b
    });
    let err = prepare_fails(&ml1m(), raw.path());
    assert!(
        err.contains("movies.dat:7: byte 0x00 is a control character"),
        "{err}"
    );
}

#[test]
fn empty_dataset_after_filtering() {
    let raw = fixture("ml-1m/fixtures/original");
    let mut recipe = ml1m().recipe;
    recipe.label.drop = Some(">= 0".parse().unwrap());
    let recipe = LoadedRecipe::new(recipe, &datasets().join("ml-1m/recipe.toml")).unwrap();
    let err = prepare_fails(&recipe, raw.path());
    assert!(
        err.contains(
            "recipe.toml: empty dataset after filtering: all 30 rows match the drop rule `>= 0`"
        ),
        "{err}"
    );
}

#[test]
fn recipe_with_unknown_field_or_template_key_or_column() {
    let text = std::fs::read_to_string(datasets().join("ml-1m/recipe.toml")).unwrap();
    let path = Path::new("my/recipe.toml");
    let err = LoadedRecipe::from_toml(
        &text.replace("column = \"zip\"", "column = \"zip\"\nzipp = 1"),
        path,
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("my/recipe.toml:"), "{err}");
    assert!(err.contains("unknown field `zipp`"), "{err}");
    let err = LoadedRecipe::from_toml(&text.replace("{gender}", "{sex}"), path)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("my/recipe.toml: `template`: unknown field `sex`"),
        "{err}"
    );

    let raw = fixture("ml-1m/fixtures/original");
    let recipe = LoadedRecipe::from_toml(
        &text.replace("column = \"zip\"", "column = \"zipcode\""),
        path,
    )
    .unwrap();
    let err = prepare_fails(&recipe, raw.path());
    assert!(
        err.starts_with(
            "my/recipe.toml: `fields[4].column`: no column `zipcode` in a movielens-1m source"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "its columns are: user_id, gender, age, occupation, zip, movie_id, title, genres"
        ),
        "{err}"
    );
}

#[test]
fn value_without_words_when_words_are_required() {
    let raw = fixture("ml-1m/fixtures/original");
    edit(raw.path(), "users.dat", |b| {
        String::from_utf8(b)
            .unwrap()
            .replace("::F::", "::X::")
            .into_bytes()
    });
    let err = prepare_fails(&ml1m(), raw.path());
    assert!(
        err.contains("`fields[1].words`: field `gender`: value \"X\" has no entry in `words`"),
        "{err}"
    );
}

#[test]
fn truncated_parquet_split() {
    let raw = fixture("ml-1m/fixtures/original");
    let out = tempfile::tempdir().unwrap();
    let (_vocab, tk) = tiny_tokenizer();
    let p = prepare(
        &ml1m(),
        &tk,
        &PrepareOptions {
            source: raw.path().to_owned(),
            out_dir: out.path().to_owned(),
            protocol: None,
            force: false,
        },
    )
    .unwrap();
    let file = out.path().join("valid.parquet");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 100]).unwrap();
    let err = p.dataset.load(Split::Valid).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: not a readable Parquet split", file.display())),
        "{err}"
    );
    // Opening still works (the other splits are fine), and a missing split is named.
    std::fs::remove_file(&file).unwrap();
    let err = PreparedDataset::open(out.path()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{}: missing split file: prepare again", file.display())
    );
}
