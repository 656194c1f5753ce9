//! Tests on the real files fetched by `cargo xtask test` (ML-100K from recbole, MiniLM).
//! They are skipped when the cache is empty, and fail instead under `FLIP_REQUIRE_REAL_DATA=1`.

mod common;

use common::{datasets, real_home};
use flip_data::prompt::NO_FIELD;
use flip_data::readers::movielens;
use flip_data::store::read_prompts;
use flip_data::{LoadedRecipe, PrepareOptions, PromptTokenizer, Split, prepare};

#[test]
fn minilm_tokenizer_matches_the_reference_ids() {
    let Some(home) = real_home(&["minilm"]) else {
        return;
    };
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm-golden.json")).unwrap();
    let model = home.model("all-MiniLM-L6-v2");
    let from_json = PromptTokenizer::from_path(&model).unwrap();
    let from_vocab = PromptTokenizer::from_path(&model.join("vocab.txt")).unwrap();
    assert_eq!(
        (from_json.prefix(), from_json.suffix()),
        (&[101][..], &[102][..])
    );
    assert_eq!((from_json.pad_id(), from_json.mask_id()), (0, Some(103)));
    assert!(from_json.splits_at_boundaries());
    for (sentence, ids) in golden["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .zip(golden["token_ids"].as_array().unwrap())
    {
        let sentence = sentence.as_str().unwrap();
        let expected: Vec<u32> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        for tk in [&from_json, &from_vocab] {
            let mut got = tk.prefix().to_vec();
            got.extend(tk.encode_plain(sentence).unwrap().ids);
            got.extend_from_slice(tk.suffix());
            // The padding to 128 baked into tokenizer.json must not leak into our encodings.
            assert_eq!(got, expected, "{sentence}");
        }
    }
}

#[test]
fn ml100k_from_recbole_prepares_with_exact_tokens() {
    let Some(home) = real_home(&["ml-100k", "minilm"]) else {
        return;
    };
    let raw = movielens::read(&home.raw("ml-100k"), movielens::Release::HundredK).unwrap();
    assert_eq!(raw.len(), 100_000);
    let mut per_rating = [0usize; 5];
    for r in &raw.rating {
        per_rating[*r as usize - 1] += 1;
    }
    assert_eq!(per_rating, [6_110, 11_370, 27_145, 34_174, 21_201]);

    let recipe = LoadedRecipe::from_file(&datasets().join("ml-100k/recipe.toml")).unwrap();
    let tk = PromptTokenizer::from_path(&home.model("all-MiniLM-L6-v2")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = prepare(
        &recipe,
        &tk,
        &PrepareOptions {
            source: home.raw("ml-100k"),
            out_dir: out.path().to_owned(),
            protocol: None,
            force: false,
        },
    )
    .unwrap();
    let meta = p.dataset.meta();
    assert_eq!(
        (meta.stats.rows, meta.stats.users, meta.stats.items),
        (100_000, Some(943), Some(1_682))
    );
    let positives =
        meta.splits.train.positives + meta.splits.valid.positives + meta.splits.test.positives;
    assert_eq!(positives, 34_174 + 21_201, "rating > 3");
    assert!(meta.tokenizer.composed);
    assert_eq!(meta.stats.truncated_rows, 0);

    // Every stored prompt's tokens equal the tokenizer's encoding of the whole sentence, and the
    // tokens of each field spell exactly that field's value.
    for split in [Split::Train, Split::Valid, Split::Test] {
        let data = p.dataset.load(split).unwrap();
        let prompts =
            read_prompts(&p.dataset.dir().join(format!("{}.parquet", split.name()))).unwrap();
        for (r, prompt) in prompts.iter().enumerate() {
            let whole = tk.encode_plain(prompt).unwrap();
            let tokens = data.row_tokens(r);
            assert_eq!(
                &tokens[1..tokens.len() - 1],
                whole.ids.as_slice(),
                "{prompt}"
            );
            if r % 97 == 0 {
                let title_start = prompt.find("title is ").unwrap() + "title is ".len();
                let title_end = prompt[title_start..].find(". genre is").unwrap() + title_start;
                let title_tokens: Vec<u32> = tokens
                    .iter()
                    .zip(data.row_token_fields(r))
                    .filter(|(_, f)| **f == 6)
                    .map(|(t, _)| *t)
                    .collect();
                assert_eq!(
                    title_tokens,
                    tk.encode_plain(&prompt[title_start..title_end])
                        .unwrap()
                        .ids
                );
                assert!(data.row_token_fields(r)[0] == NO_FIELD);
            }
        }
    }
}
