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

/// Replaces the first occurrence of `from` by `to` in a fixture file (which must contain it).
fn replace_in(dir: &Path, file: &str, from: &str, to: &str) {
    edit(dir, file, |b| {
        let at = b
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap_or_else(|| panic!("{file} holds no {from:?}"));
        [&b[..at], to.as_bytes(), &b[at + from.len()..]].concat()
    });
}

fn recipe(name: &str) -> LoadedRecipe {
    LoadedRecipe::from_file(&datasets().join(name).join("recipe.toml")).unwrap()
}

/// Prepares the `name` dataset from its fixture folder after `change`; returns the error text.
fn fixture_fails(name: &str, folder: &str, change: impl FnOnce(&Path)) -> String {
    let raw = fixture(&format!("{name}/fixtures{folder}"));
    change(raw.path());
    prepare_fails(&recipe(name), raw.path())
}

/// Prepares the example-clicks recipe from a copy of its CSV after `change`.
fn clicks_fails(change: impl FnOnce(String) -> String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("clicks.csv");
    let text = std::fs::read_to_string(datasets().join("example-clicks/clicks.csv")).unwrap();
    std::fs::write(&csv, change(text)).unwrap();
    prepare_fails(&recipe("example-clicks"), &csv)
}

#[track_caller]
fn assert_names(err: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(err.contains(w), "error {err:?} does not name {w:?}");
    }
}

#[test]
fn movielens_ratings_off_the_star_scale() {
    let err = fixture_fails("ml-1m", "/original", |d| {
        replace_in(d, "ratings.dat", "2::2::3::", "2::2::6::")
    });
    assert_names(
        &err,
        &[
            "ratings.dat:2: rating 6 is not a MovieLens rating",
            "from 1 to 5",
        ],
    );
    let err = fixture_fails("ml-1m", "/original", |d| {
        replace_in(d, "ratings.dat", "2::2::3::", "2::2::3.5::")
    });
    assert_names(
        &err,
        &["ratings.dat:2: rating 3.5 is not a MovieLens rating"],
    );
    let err = fixture_fails("ml-100k", "/atomic", |d| {
        replace_in(d, "ml-100k.inter", "\t5\t", "\tNaN\t")
    });
    assert_names(&err, &["ml-100k.inter:2: rating \"NaN\" is not a number"]);
}

#[test]
fn movielens_ratings_file_without_rows() {
    let err = fixture_fails("ml-1m", "/original", |d| {
        std::fs::write(d.join("ratings.dat"), "\n\n").unwrap()
    });
    assert_names(&err, &["ratings.dat: no data rows"]);
    let err = fixture_fails("ml-100k", "/atomic", |d| {
        std::fs::write(
            d.join("ml-100k.inter"),
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n",
        )
        .unwrap()
    });
    assert_names(&err, &["ml-100k.inter: no data rows"]);
}

#[test]
fn movielens_duplicate_ids_and_unknown_references() {
    let err = fixture_fails("ml-1m", "/original", |d| {
        replace_in(d, "users.dat", "2::M::56::", "1::M::56::")
    });
    assert_names(&err, &["users.dat:2: duplicate id \"1\""]);
    let err = fixture_fails("ml-1m", "/original", |d| {
        replace_in(d, "ratings.dat", "2::2::3::", "2::999::3::")
    });
    assert_names(
        &err,
        &["ratings.dat:2: movie \"999\" is not in the movies file"],
    );
}

#[test]
fn movielens_file_mixing_utf8_and_latin1() {
    let err = fixture_fails("ml-1m", "/original", |d| {
        replace_in(d, "movies.dat", "Rust Story", "Rust Störy")
    });
    assert_names(
        &err,
        &["movies.dat:1: mixed encodings: this line holds UTF-8 ('ö') but line 2 is not UTF-8"],
    );
}

#[test]
fn atomic_header_with_a_repeated_or_missing_column() {
    let err = fixture_fails("ml-100k", "/atomic", |d| {
        replace_in(d, "ml-100k.inter", "timestamp:float", "rating:float")
    });
    assert_names(
        &err,
        &["ml-100k.inter:1: column `rating` appears twice in the header (columns 3 and 4)"],
    );
    let err = fixture_fails("ml-100k", "/atomic", |d| {
        replace_in(d, "ml-100k.inter", "timestamp:float", "time:float")
    });
    assert_names(
        &err,
        &["ml-100k.inter: missing column `timestamp` in header"],
    );
    let err = fixture_fails("ml-100k", "/atomic", |d| {
        std::fs::write(d.join("ml-100k.user"), "").unwrap()
    });
    assert_names(&err, &["ml-100k.user: empty file (no header line)"]);
}

#[test]
fn bookcrossing_header_scale_quotes_duplicates_and_empty_files() {
    let err = fixture_fails("bookcrossing", "", |d| {
        replace_in(
            d,
            "BX-Book-Ratings.csv",
            "\"User-ID\";\"ISBN\"",
            "\"ISBN\";\"User-ID\"",
        )
    });
    assert_names(
        &err,
        &[
            "BX-Book-Ratings.csv:1: unexpected header \"ISBN;User-ID;Book-Rating\"",
            "starts with \"User-ID;ISBN;Book-Rating\"",
        ],
    );
    let err = fixture_fails("bookcrossing", "", |d| {
        replace_in(
            d,
            "BX-Book-Ratings.csv",
            "\"034545104x\";\"8\"",
            "\"034545104x\";\"11\"",
        )
    });
    assert_names(
        &err,
        &["BX-Book-Ratings.csv:3: Book-Rating 11 is not a BookCrossing rating"],
    );
    let err = fixture_fails("bookcrossing", "", |d| {
        edit(d, "BX-Book-Ratings.csv", |mut b| {
            let last_quote = b.iter().rposition(|&c| c == b'"').unwrap();
            b.remove(last_quote);
            b
        })
    });
    assert_names(
        &err,
        &["BX-Book-Ratings.csv:22: a quoted field opened on this line is never closed"],
    );
    let err = fixture_fails("bookcrossing", "", |d| {
        replace_in(d, "BX-Users.csv", "\"2\";", "\"1\";")
    });
    assert_names(&err, &["BX-Users.csv:3: duplicate User-ID \"1\""]);
    let err = fixture_fails("bookcrossing", "", |d| {
        std::fs::write(
            d.join("BX-Book-Ratings.csv"),
            "\"User-ID\";\"ISBN\";\"Book-Rating\"\r\n",
        )
        .unwrap()
    });
    assert_names(&err, &["BX-Book-Ratings.csv: no data rows"]);
    let err = fixture_fails("bookcrossing", "", |d| {
        std::fs::write(d.join("BX-Books.csv"), "").unwrap()
    });
    assert_names(&err, &["BX-Books.csv: empty file (no header line)"]);
}

#[test]
fn goodreads_ratings_duplicates_and_broken_lines() {
    let interactions = "goodreads_interactions_dedup.json";
    let err = fixture_fails("goodreads", "", |d| {
        replace_in(d, interactions, "\"rating\": 4,", "\"rating\": \"NaN\",")
    });
    assert_names(
        &err,
        &[&format!("{interactions}:2: rating \"NaN\" is not a number")],
    );
    let err = fixture_fails("goodreads", "", |d| {
        replace_in(d, interactions, "\"rating\": 4,", "\"rating\": 7,")
    });
    assert_names(
        &err,
        &[&format!(
            "{interactions}:2: rating 7 is not a GoodReads rating"
        )],
    );
    let err = fixture_fails("goodreads", "", |d| {
        replace_in(d, interactions, "\"user_id\": \"u02\", ", "")
    });
    assert_names(&err, &[&format!("{interactions}:2: missing key `user_id`")]);
    let err = fixture_fails("goodreads", "", |d| {
        replace_in(
            d,
            interactions,
            "{\"user_id\": \"u02\"",
            "[\"user_id\": \"u02\"",
        )
    });
    assert_names(&err, &[&format!("{interactions}:2: not a JSON object")]);
    let err = fixture_fails("goodreads", "", |d| {
        let books = d.join("goodreads_books.json");
        let text = std::fs::read_to_string(&books).unwrap();
        let first = text.lines().next().unwrap().to_owned();
        std::fs::write(&books, format!("{text}{first}\n")).unwrap();
    });
    assert_names(
        &err,
        &[
            "goodreads_books.json:",
            "duplicate book_id",
            "(first on line 1)",
        ],
    );
}

#[test]
fn csv_quotes_headers_and_empty_files() {
    let err = clicks_fails(|t| t.replacen("u1,west", "\"u1,west", 1));
    assert_names(
        &err,
        &["clicks.csv:3: a quoted field opened on this line is never closed"],
    );
    // A stray quote closed by the next one merges lines 3 and 4 into one record.
    let err = clicks_fails(|t| {
        t.replacen("u1,west", "\"u1,west", 1)
            .replacen("u9,", "u9\",", 1)
    });
    assert_names(
        &err,
        &[
            "clicks.csv:3: the value of `user` holds a line break (the record runs over lines 3 to 4)",
        ],
    );
    let err = clicks_fails(|t| t.replacen(",hour,", ",user,", 1));
    assert_names(
        &err,
        &["clicks.csv:1: column `user` appears twice in the header (columns 1 and 5)"],
    );
    let err = clicks_fails(|t| t.lines().next().unwrap().to_owned() + "\n");
    assert_names(&err, &["clicks.csv: no data rows"]);
    let err = clicks_fails(|_| String::new());
    assert_names(&err, &["clicks.csv: empty file (no header line)"]);
    let err = clicks_fails(|t| t.replacen(",1,1700000650", ",inf,1700000650", 1));
    assert_names(&err, &["clicks.csv:2: clicked \"inf\" is not a number"]);
    let err = clicks_fails(|t| t.replacen(",1,1700000650", ",1,yesterday", 1));
    assert_names(&err, &["clicks.csv:2: time \"yesterday\" is not a time"]);
    let err = clicks_fails(|t| t.replacen(",1,1700000650", ",1", 1));
    assert_names(
        &err,
        &["clicks.csv:2: expected 7 fields as in the header, found 6"],
    );
}

/// Prepares the example-clicks recipe, read as Parquet, from a file with `columns`.
fn parquet_clicks_fails(columns: Vec<(&str, arrow::array::ArrayRef)>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clicks.parquet");
    let batch = arrow::array::RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let mut r = recipe("example-clicks").recipe;
    r.source.format = flip_data::recipe::SourceFormat::Parquet;
    r.source.delimiter = None;
    r.source.encoding = None;
    let recipe = LoadedRecipe::new(r, &datasets().join("example-clicks/recipe.toml")).unwrap();
    prepare_fails(&recipe, &path)
}

#[test]
fn parquet_sources_with_a_missing_column_or_a_target_that_is_not_a_number() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    let text = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
    let rows = 3;
    let common = || {
        vec![
            ("user", text(&["u1", "u2", "u3"])),
            ("region", text(&["west", "east", "west"])),
            ("ad_category", text(&["books", "travel", "books"])),
            ("hour", text(&["6", "7", "8"])),
            (
                "time",
                Arc::new(Int64Array::from(vec![1_700_000_000i64; rows])) as ArrayRef,
            ),
        ]
    };
    let mut without_device = common();
    without_device.push((
        "clicked",
        Arc::new(Float64Array::from(vec![1.0, 0.0, 1.0])) as ArrayRef,
    ));
    let err = parquet_clicks_fails(without_device);
    assert_names(
        &err,
        &["clicks.parquet: no column `device` (found: user, region"],
    );

    let mut nan_target = common();
    nan_target.push(("device", text(&["phone", "tablet", "phone"])));
    nan_target.push((
        "clicked",
        Arc::new(Float64Array::from(vec![1.0, f64::NAN, 1.0])) as ArrayRef,
    ));
    let err = parquet_clicks_fails(nan_target);
    assert_names(
        &err,
        &["clicks.parquet:2: clicked is missing or not a number"],
    );
}
