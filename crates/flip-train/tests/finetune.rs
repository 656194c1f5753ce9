//! FLIP_PLM and FLIP finetuning on a tiny language model: the mixing formula, and learning a
//! label that only the text (or only the ids) reveals.

use std::path::Path;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use flip_data::SplitData;
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load};
use flip_train::finetune::{FinetuneConfig, TextClassifier, evaluate_text, finetune};

fn tiny_plm(device: &Device) -> flip_plm::LoadedPlm {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../flip-plm/tests/fixtures/tiny-bert");
    load(&fixture, LoadOptions::default(), device).unwrap()
}

/// Rows whose label is 1 when token 20 appears in the prompt (and the id of field 0 is 4).
fn data(rows: usize, seed: u64) -> SplitData {
    let mut d = SplitData {
        num_fields: 2,
        token_offsets: vec![0],
        ..SplitData::default()
    };
    for r in 0..rows {
        let positive = (r as u64 * 7 + seed) % 3 == 0;
        d.ids
            .extend([if positive { 4 } else { 3 }, 13 + (r % 3) as u32]);
        d.labels.push(u8::from(positive));
        d.tokens.extend([
            2,
            30 + (r % 5) as u32,
            if positive { 20 } else { 21 },
            40,
            3,
        ]);
        d.token_fields.extend([-1, 0, 1, -1, -1]);
        d.token_offsets.push(d.tokens.len());
        d.source_rows.push(r as u32);
    }
    d
}

#[test]
fn flip_mixes_the_two_logits_with_alpha() {
    let device = Device::flex();
    let plm = tiny_plm(&device);
    let id = ModelConfig::from_name("lr").unwrap().init(
        InputShape {
            num_features: 20,
            num_fields: 2,
        },
        &device,
    );
    let model = TextClassifier::new(plm.model, Some(id), false, &device);
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![4i64, 13], [1, 2]), &device);
    let tokens =
        Tensor::<2, Int>::from_data(TensorData::new(vec![2i64, 30, 20, 3], [1, 4]), &device);
    let mask = Tensor::<2, Bool>::from_data(TensorData::new(vec![true; 4], [1, 4]), &device);
    let out = model.forward(ids, tokens, mask);
    // α = 0 at the start: the prediction is the language model's logit.
    let (o, p) = (
        out.output.into_scalar::<f32>(),
        out.plm.into_scalar::<f32>(),
    );
    assert!((o - p).abs() < 1e-6);
    assert!(out.id.is_some());
}

#[test]
fn both_variants_learn_a_text_signal() {
    let device = Device::flex().autodiff();
    device.seed(3);
    let (train, valid, test) = (data(240, 0), data(60, 1), data(90, 2));
    let config = FinetuneConfig {
        max_epochs: 4,
        patience: 4,
        batch_size: 16,
        plm_learning_rate: 1e-3,
        ..FinetuneConfig::default()
    };
    for joint in [false, true] {
        let plm = tiny_plm(&device);
        let id = joint.then(|| {
            ModelConfig::from_name("lr").unwrap().init(
                InputShape {
                    num_features: 20,
                    num_fields: 2,
                },
                &device,
            )
        });
        let model = TextClassifier::new(plm.model, id, false, &device);
        let fitted = finetune(model, &train, &valid, 0, &config, &device, |_| {});
        let eval = evaluate_text(&fitted.model, &test, 64, 0, &Device::flex());
        assert!(eval.auc > 0.9, "joint {joint}: test AUC {}", eval.auc);
        if joint {
            assert_ne!(fitted.model.alpha(), 0.0, "α is learned");
        }
    }
}
