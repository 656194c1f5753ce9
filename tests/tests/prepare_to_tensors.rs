//! End to end across the workspace: a recipe and synthetic MovieLens files become a prepared
//! dataset, whose batches land on the default burn device with the right shapes and values.

use std::path::Path;

use burn::tensor::{Device, Int, Tensor};
use flip_data::{Batcher, LoadedRecipe, Padding, PrepareOptions, PromptTokenizer, Split, prepare};

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn fixture_to_tensors_on_flex() {
    let raw = tempfile::tempdir().unwrap();
    flip_data::fixtures::materialize(
        &workspace().join("datasets/ml-1m/fixtures/original"),
        raw.path(),
    )
    .unwrap();
    let vocab = tempfile::tempdir().unwrap();
    let words = "[PAD] [UNK] [CLS] [SEP] [MASK] . user id is gender female male age title genre";
    std::fs::write(vocab.path().join("vocab.txt"), words.replace(' ', "\n")).unwrap();
    let tokenizer = PromptTokenizer::from_path(vocab.path()).unwrap();
    let recipe = LoadedRecipe::from_file(&workspace().join("datasets/ml-1m/recipe.toml")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let prepared = prepare(
        &recipe,
        &tokenizer,
        &PrepareOptions {
            source: raw.path().to_owned(),
            out_dir: out.path().join("ml-1m"),
            protocol: None,
            force: false,
        },
    )
    .unwrap();
    let train = prepared.dataset.load(Split::Train).unwrap();
    let batch = Batcher::new(&train, 8, Padding::Longest, tokenizer.pad_id())
        .shuffled(1)
        .next()
        .unwrap();

    let device = Device::flex();
    let t = batch.to_tensors(&device);
    assert_eq!(t.ids.dims(), [8, 8]);
    assert_eq!(t.tokens.dims(), [8, batch.seq_len]);
    assert_eq!(t.attention_mask.dims(), [8, batch.seq_len]);
    assert_eq!(t.labels.dims(), [8]);
    assert_eq!(
        t.ids.to_data_as::<i64>().try_to_vec::<i64>().unwrap(),
        batch.ids
    );
    assert_eq!(
        t.token_fields
            .to_data_as::<i64>()
            .try_to_vec::<i64>()
            .unwrap(),
        batch.token_fields
    );
    assert_eq!(
        t.labels.to_data().try_to_vec::<f32>().unwrap(),
        batch.labels
    );
    // Real tokens per row = attention mask sum; padding carries the pad id and no field.
    let real: Tensor<1, Int> = t.attention_mask.clone().int().sum_dim(1).squeeze_dim(1);
    let lengths: Vec<i64> = batch
        .rows
        .iter()
        .map(|&r| train.row_tokens(r).len() as i64)
        .collect();
    assert_eq!(
        real.to_data_as::<i64>().try_to_vec::<i64>().unwrap(),
        lengths
    );
    // Every id lies inside its field's range of the prepared vocabulary.
    let meta = prepared.dataset.meta();
    for row in batch.ids.chunks(8) {
        for (f, &id) in row.iter().enumerate() {
            let field = &meta.fields[f];
            assert!(id >= i64::from(field.offset) && id < i64::from(field.offset + field.size));
        }
    }
}
