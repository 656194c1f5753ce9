//! Synthetic click data and small zoo models shared by the CTR trainer's tests.

use flip_data::SplitData;
use flip_id_models::ModelConfig;
use rand::{Rng, SeedableRng};

/// Values per field.
pub const VALUES: usize = 10;

/// `rows` rows of `fields` fields with [`VALUES`] values each (value `x` of field `f` has the
/// global id `id(f, x)`); the label is `rule(values)`, flipped with probability `noise`.
pub fn synthetic(
    rows: usize,
    fields: usize,
    seed: u64,
    noise: f64,
    id: impl Fn(usize, usize) -> u32,
    rule: impl Fn(&[usize]) -> bool,
) -> SplitData {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut data = SplitData {
        num_fields: fields,
        token_offsets: vec![0],
        ..SplitData::default()
    };
    for r in 0..rows {
        let v: Vec<usize> = (0..fields).map(|_| rng.random_range(0..VALUES)).collect();
        let noisy = rng.random_bool(noise);
        data.labels.push(u8::from(rule(&v) != noisy));
        data.ids
            .extend(v.iter().enumerate().map(|(f, &x)| id(f, x)));
        data.token_offsets.push(0);
        data.source_rows.push(r as u32);
    }
    data
}

/// A small version of a zoo member (narrow embeddings and DNN) so a test runs in seconds.
pub fn small(name: &str) -> ModelConfig {
    let mut json = serde_json::to_value(ModelConfig::from_name(name).unwrap()).unwrap();
    let obj = json.as_object_mut().unwrap();
    for (key, value) in [
        ("embedding_dim", serde_json::json!(8)),
        ("hidden", serde_json::json!([32, 16])),
        ("stream1", serde_json::json!([32, 16])),
        ("stream2", serde_json::json!([32, 16])),
        ("cin_layers", serde_json::json!([16, 8])),
        ("log_neurons", serde_json::json!(16)),
        ("rank", serde_json::json!(8)),
        ("head_dim", serde_json::json!(4)),
    ] {
        if obj.contains_key(key) {
            obj.insert(key.into(), value);
        }
    }
    serde_json::from_value(json).unwrap()
}
