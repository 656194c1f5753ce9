//! `prepare` end to end on the synthetic fixtures of every format.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::{datasets, fixture, tiny_tokenizer};
use flip_data::prompt::NO_FIELD;
use flip_data::store::read_prompts;
use flip_data::{LoadedRecipe, PrepareOptions, PreparedDataset, Protocol, Split, prepare};

fn recipe(name: &str) -> LoadedRecipe {
    LoadedRecipe::from_file(&datasets().join(name).join("recipe.toml")).unwrap()
}

fn options(source: &Path, out: &Path, protocol: Option<Protocol>) -> PrepareOptions {
    PrepareOptions {
        source: source.to_owned(),
        out_dir: out.to_owned(),
        protocol,
        force: false,
    }
}

#[test]
fn ml1m_fixture_end_to_end() {
    let raw = fixture("ml-1m/fixtures/original");
    let out = tempfile::tempdir().unwrap();
    let (_vocab, tk) = tiny_tokenizer();
    let prepared = prepare(
        &recipe("ml-1m"),
        &tk,
        &options(raw.path(), &out.path().join("p"), None),
    )
    .unwrap();
    assert!(!prepared.reused);
    let ds = &prepared.dataset;
    let meta = ds.meta();
    assert_eq!(meta.stats.rows, 30);
    assert_eq!((meta.stats.users, meta.stats.items), (Some(5), Some(6)));
    assert_eq!(
        (
            meta.splits.train.rows,
            meta.splits.valid.rows,
            meta.splits.test.rows
        ),
        (24, 3, 3)
    );
    assert!(
        meta.tokenizer.composed,
        "WordPiece prompts are assembled from pieces"
    );
    assert_eq!(meta.fields.len(), 8);
    assert_eq!(meta.feature_counts.len(), meta.vocab_size as usize);
    // Each field's train counts add up to the train rows.
    for f in &meta.fields {
        assert_eq!(
            meta.feature_counts[f.ids()].iter().sum::<u64>(),
            24,
            "{}",
            f.name
        );
    }

    let vocab = ds.vocab().unwrap();
    let train = ds.load(Split::Train).unwrap();
    let test = ds.load(Split::Test).unwrap();
    let prompts = read_prompts(&ds.dir().join("train.parquet")).unwrap();
    let mut train_ids: HashSet<u32> = HashSet::new();
    assert_eq!(prompts.len(), train.len());
    for (r, prompt) in prompts.iter().enumerate() {
        let tokens = train.row_tokens(r);
        assert_eq!(
            (tokens[0], *tokens.last().unwrap()),
            (2, 3),
            "[CLS] ... [SEP]"
        );
        // Stored tokens are the whole prompt's tokens.
        assert_eq!(
            &tokens[1..tokens.len() - 1],
            tk.encode_plain(prompt).unwrap().ids.as_slice()
        );
        // Every field of the template has tokens: all but user_id, zip and movie_id (numbers
        // the template leaves to the ID vector).
        let fields: HashSet<i8> = train
            .row_token_fields(r)
            .iter()
            .copied()
            .filter(|&f| f != NO_FIELD)
            .collect();
        assert_eq!(fields, [1, 2, 3, 6, 7].into_iter().collect());
        for (f, &id) in train.row_ids(r).iter().enumerate() {
            let fm = &meta.fields[f];
            assert!(
                id >= fm.offset + 3 && id < fm.offset + fm.size,
                "train ids are real values"
            );
            train_ids.insert(id);
        }
    }
    // Test rows reuse train ids or the field's OOV id: the vocabulary saw only train.
    for r in 0..test.len() {
        for (f, &id) in test.row_ids(r).iter().enumerate() {
            assert!(train_ids.contains(&id) || id == vocab.fields[f].oov_id());
        }
    }
    // Labels follow rating > 3 (checked against the stored ratings via the prompt's rows).
    assert_eq!(
        train.labels.iter().filter(|&&l| l == 1).count(),
        meta.splits.train.positives
    );
    // Text of a verbalized field.
    assert!(
        prompts[0].contains("gender is female") || prompts[0].contains("gender is male"),
        "{}",
        prompts[0]
    );
}

#[test]
fn an_edited_raw_file_is_prepared_again() {
    let raw = fixture("ml-1m/fixtures/atomic");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("p");
    let (_vocab, tk) = tiny_tokenizer();
    let first = prepare(&recipe("ml-1m"), &tk, &options(raw.path(), &dir, None)).unwrap();
    let inter = first
        .dataset
        .meta()
        .raw_files
        .iter()
        .find(|f| f.name == "ml-1m.inter")
        .expect("the raw files are recorded")
        .clone();
    assert_eq!(
        inter.sha256,
        flip_data::fetch::sha256_file(&raw.path().join("ml-1m.inter"))
            .unwrap()
            .0
    );
    // Same size, one rating changed: the old preparation must not be reused.
    let path = raw.path().join("ml-1m.inter");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\t5\t", "\t4\t", 1)).unwrap();
    let second = prepare(&recipe("ml-1m"), &tk, &options(raw.path(), &dir, None)).unwrap();
    assert!(!second.reused);
    assert_ne!(second.dataset.meta().hash, first.dataset.meta().hash);
    // The same files in another folder are the same preparation.
    let copy = tempfile::tempdir().unwrap();
    for f in ["ml-1m.inter", "ml-1m.user", "ml-1m.item"] {
        std::fs::copy(raw.path().join(f), copy.path().join(f)).unwrap();
    }
    let third = prepare(&recipe("ml-1m"), &tk, &options(copy.path(), &dir, None)).unwrap();
    assert!(third.reused);
}

#[test]
fn identical_request_is_reused_and_force_rebuilds() {
    let raw = fixture("ml-1m/fixtures/atomic");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("p");
    let (_vocab, tk) = tiny_tokenizer();
    let first = prepare(&recipe("ml-1m"), &tk, &options(raw.path(), &dir, None)).unwrap();
    let stamp = std::fs::metadata(dir.join("meta.json"))
        .unwrap()
        .modified()
        .unwrap();
    let second = prepare(&recipe("ml-1m"), &tk, &options(raw.path(), &dir, None)).unwrap();
    assert!(second.reused);
    assert_eq!(
        std::fs::metadata(dir.join("meta.json"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp
    );
    let mut force = options(raw.path(), &dir, None);
    force.force = true;
    let third = prepare(&recipe("ml-1m"), &tk, &force).unwrap();
    assert!(!third.reused);
    assert_eq!(third.dataset.meta().hash, first.dataset.meta().hash);
    let paper = prepare(
        &recipe("ml-1m"),
        &tk,
        &options(raw.path(), &dir, Some(Protocol::Paper)),
    )
    .unwrap();
    assert!(!paper.reused, "another protocol is another preparation");
    assert_ne!(paper.dataset.meta().hash, first.dataset.meta().hash);
    // No staging folders are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec!["p"]);
}

#[test]
fn paper_protocol_validates_on_test() {
    let raw = fixture("ml-100k/fixtures/original");
    let out = tempfile::tempdir().unwrap();
    let (_vocab, tk) = tiny_tokenizer();
    let p = prepare(
        &recipe("ml-100k"),
        &tk,
        &options(raw.path(), out.path(), Some(Protocol::Paper)),
    )
    .unwrap();
    let meta = p.dataset.meta();
    assert_eq!((meta.splits.train.rows, meta.splits.test.rows), (27, 3));
    assert_eq!(meta.splits.valid, meta.splits.test);
    assert_eq!(
        p.dataset.load(Split::Valid).unwrap(),
        p.dataset.load(Split::Test).unwrap()
    );
    // In time order: no training row is later than a test row.
    let (train, test) = (
        meta.splits.train.time_range.unwrap(),
        meta.splits.test.time_range.unwrap(),
    );
    assert!(train.1 <= test.0);
}

#[test]
fn every_format_prepares() {
    let (_vocab, tk) = tiny_tokenizer();
    for (name, fixture_dir, rows) in [
        ("ml-100k", "ml-100k/fixtures/atomic", 30),
        ("bookcrossing", "bookcrossing/fixtures", 14),
        ("goodreads", "goodreads/fixtures", 21),
    ] {
        let raw = fixture(fixture_dir);
        let out = tempfile::tempdir().unwrap();
        let p = prepare(&recipe(name), &tk, &options(raw.path(), out.path(), None)).unwrap();
        assert_eq!(p.dataset.meta().stats.rows, rows, "{name}");
        assert_eq!(p.dataset.num_fields(), recipe(name).recipe.fields.len());
    }
    let out = tempfile::tempdir().unwrap();
    let clicks = recipe("example-clicks");
    let source = flip_data::prepare::source_location(&clicks, &flip_data::FlipHome::at("unused"));
    let p = prepare(&clicks, &tk, &options(&source, out.path(), None)).unwrap();
    assert_eq!(p.dataset.meta().stats.rows, 120);
}

#[test]
fn rare_values_become_oov_in_train_too() {
    let (_vocab, tk) = tiny_tokenizer();
    let mut clicks = recipe("example-clicks");
    clicks.recipe.fields[0].min_count = 8;
    let clicks = LoadedRecipe::new(clicks.recipe, &clicks.path).unwrap();
    let source = flip_data::prepare::source_location(&clicks, &flip_data::FlipHome::at("unused"));
    let out = tempfile::tempdir().unwrap();
    let p = prepare(&clicks, &tk, &options(&source, out.path(), None)).unwrap();
    let meta = p.dataset.meta();
    let user = &meta.fields[0];
    let oov = user.offset + 1;
    let train = p.dataset.load(Split::Train).unwrap();
    let oov_rows = (0..train.len())
        .filter(|&r| train.row_ids(r)[0] == oov)
        .count();
    assert!(oov_rows > 0, "some users have fewer than 8 train rows");
    assert_eq!(meta.feature_counts[oov as usize], oov_rows as u64);
    // Each kept user has at least 8 train rows.
    for id in user.offset + 3..user.offset + user.size {
        assert!(meta.feature_counts[id as usize] >= 8);
    }
}

#[test]
fn bookcrossing_random_split_is_seeded() {
    let raw = fixture("bookcrossing/fixtures");
    let (_vocab, tk) = tiny_tokenizer();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pa = prepare(
        &recipe("bookcrossing"),
        &tk,
        &options(raw.path(), a.path(), None),
    )
    .unwrap();
    let pb = prepare(
        &recipe("bookcrossing"),
        &tk,
        &options(raw.path(), b.path(), None),
    )
    .unwrap();
    let (ta, tb) = (
        pa.dataset.load(Split::Train).unwrap(),
        pb.dataset.load(Split::Train).unwrap(),
    );
    assert_eq!(ta.source_rows, tb.source_rows);
    assert_eq!(
        pa.dataset.meta().stats.rows_dropped,
        6,
        "implicit ratings (0) are dropped"
    );
}

#[test]
fn prepared_folder_checks_its_tokenizer() {
    let raw = fixture("ml-1m/fixtures/original");
    let out = tempfile::tempdir().unwrap();
    let (_vocab, tk) = tiny_tokenizer();
    prepare(
        &recipe("ml-1m"),
        &tk,
        &options(raw.path(), out.path(), None),
    )
    .unwrap();
    assert!(PreparedDataset::open_for_tokenizer(out.path(), tk.hash(), tk.source()).is_ok());
    let err = PreparedDataset::open_for_tokenizer(
        out.path(),
        "0123456789abcdef",
        Path::new("other/tokenizer.json"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("meta.json: prepared with the tokenizer"),
        "{err}"
    );
    assert!(
        err.contains("but other/tokenizer.json (sha256 0123456789ab) was requested"),
        "{err}"
    );
}

#[test]
fn new_rows_are_encoded_like_training_rows() {
    let (_vocab, tk) = tiny_tokenizer();
    let clicks = recipe("example-clicks");
    let source = flip_data::prepare::source_location(&clicks, &flip_data::FlipHome::at("unused"));
    let out = tempfile::tempdir().unwrap();
    let p = prepare(&clicks, &tk, &options(&source, out.path(), None)).unwrap();
    let train = p.dataset.load(Split::Train).unwrap();
    // The first training row, written back as a CSV row, plus a row with an unseen user.
    let raw = std::fs::read_to_string(&source).unwrap();
    let lines: Vec<&str> = raw.lines().collect();
    let first = lines[train.source_rows[0] as usize + 1];
    let unseen = first.replacen(first.split(',').next().unwrap(), "u999", 1);
    let input = out.path().join("rows.csv");
    std::fs::write(&input, format!("{}\n{first}\n{unseen}\n", lines[0])).unwrap();
    let flip_data::encode::EncodedRows { data: encoded, oov } =
        flip_data::encode::encode_rows(&p.dataset, &tk, &input).unwrap();
    assert_eq!(encoded.len(), 2);
    assert_eq!(oov[0], ("user".to_owned(), 1), "the unseen user is counted");
    assert!(oov[1..].iter().all(|(_, n)| *n == 0), "{oov:?}");
    assert_eq!(encoded.row_ids(0), train.row_ids(0));
    assert_eq!(encoded.row_tokens(0), train.row_tokens(0));
    let user = &p.dataset.meta().fields[0];
    assert_eq!(
        encoded.row_ids(1)[0],
        user.offset + 1,
        "an unseen user takes the OOV id"
    );
    // A file without a field's column is refused by name.
    std::fs::write(&input, "user,region\nu1,north\n").unwrap();
    let err = flip_data::encode::encode_rows(&p.dataset, &tk, &input)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no column `device` in the header"), "{err}");
}
