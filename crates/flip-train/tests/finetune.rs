//! FLIP_PLM and FLIP finetuning on a tiny language model: the mixing formula, and learning a
//! label that only the text (or only the ids) reveals.

mod common;

use std::path::Path;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use flip_data::SplitData;
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load};
use flip_train::divergence::TrainError;
use flip_train::finetune::{
    FinetuneConfig, TextClassifier, evaluate_text, finetune, predict_text, text_scores,
    tower_logits,
};

use common::text_signal_data;
use flip_train::parallel::Replicas;

fn tiny_plm(device: &Device) -> flip_plm::LoadedPlm {
    tiny_plm_with(LoadOptions::default(), device)
}

fn tiny_plm_with(options: LoadOptions, device: &Device) -> flip_plm::LoadedPlm {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../flip-plm/tests/fixtures/tiny-bert");
    load(&fixture, options, device).unwrap()
}

/// Logistic regression on 2 fields of 20 feature ids: the ID tower of these tests.
fn tiny_lr(device: &Device) -> flip_id_models::CtrNet {
    ModelConfig::from_name("lr").unwrap().init(
        InputShape {
            num_features: 20,
            num_fields: 2,
        },
        device,
    )
}

#[test]
fn flip_mixes_the_two_logits_with_alpha() {
    let device = Device::flex();
    let plm = tiny_plm(&device);
    let id = tiny_lr(&device);
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
    let (train, valid, test) = (
        text_signal_data(240, 0),
        text_signal_data(60, 1),
        text_signal_data(90, 2),
    );
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
        let replicas = Replicas::single(device.clone());
        let fitted = finetune(model, &train, &valid, 0, &config, &replicas, |_| {}).unwrap();
        let eval = evaluate_text(&fitted.model, &test, 64, 0, &Device::flex());
        assert!(eval.auc > 0.9, "joint {joint}: test AUC {}", eval.auc);
        if joint {
            assert_ne!(fitted.model.alpha(), 0.0, "α is learned");
        }
    }
}

#[test]
fn a_diverged_loss_stops_finetuning_with_its_epoch_and_step() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let (train, valid) = (text_signal_data(64, 0), text_signal_data(16, 1));
    let config = FinetuneConfig {
        batch_size: 16,
        // Beyond f32's range: the first update makes the weights infinite.
        plm_learning_rate: 1e39,
        ..FinetuneConfig::default()
    };
    let model = TextClassifier::new(tiny_plm(&device).model, None, false, &device);
    let replicas = Replicas::single(device.clone());
    let Err(TrainError::Diverged(error)) =
        finetune(model, &train, &valid, 0, &config, &replicas, |_| {})
    else {
        panic!("a NaN loss went unnoticed");
    };
    assert_eq!((error.stage, error.epoch, error.step), ("finetuning", 1, 2));
    assert!(error.to_string().contains("epoch 1, step 2"), "{error}");
}

/// `rows` rows whose prompts are 3 to 8 tokens long, in no order of length.
fn varied_length_data(rows: usize) -> SplitData {
    let mut d = SplitData {
        num_fields: 2,
        token_offsets: vec![0],
        ..SplitData::default()
    };
    for r in 0..rows {
        d.ids.extend([3 + (r % 2) as u32, 13 + (r % 3) as u32]);
        d.labels.push((r % 2) as u8);
        let extra = (r * 7) % 6;
        d.tokens.extend([2, 30 + (r % 5) as u32]);
        d.tokens
            .extend(std::iter::repeat_n(40 + (r % 4) as u32, extra));
        d.tokens.push(3);
        d.token_fields.extend([-1, 0]);
        d.token_fields.extend(std::iter::repeat_n(1, extra));
        d.token_fields.push(-1);
        d.token_offsets.push(d.tokens.len());
        d.source_rows.push(r as u32);
    }
    d
}

#[test]
fn scores_batched_by_length_come_back_in_split_order() {
    let device = Device::flex();
    device.seed(5);
    let plm = tiny_plm(&device);
    let id = tiny_lr(&device);
    let model = TextClassifier::new(plm.model, Some(id), false, &device).with_alpha(0.3);
    let data = varied_length_data(23);
    // Each row alone, unpadded, in split order.
    let mut alone = Vec::new();
    for r in 0..data.len() {
        let row_ids: Vec<i64> = data.row_ids(r).iter().map(|&i| i64::from(i)).collect();
        let tokens: Vec<i64> = data.row_tokens(r).iter().map(|&t| i64::from(t)).collect();
        let l = tokens.len();
        let out = model.forward(
            Tensor::from_data(TensorData::new(row_ids, [1, 2]), &device),
            Tensor::from_data(TensorData::new(tokens, [1, l]), &device),
            Tensor::from_data(TensorData::new(vec![true; l], [1, l]), &device),
        );
        alone.push((
            out.output.into_scalar::<f32>(),
            out.id.unwrap().into_scalar::<f32>(),
            out.plm.into_scalar::<f32>(),
        ));
    }
    let probs = predict_text(&model, &data, 8, 0, &device);
    let (id, plm) = tower_logits(&model, &data, 8, 0, &device);
    let id = id.expect("an ID tower");
    assert_eq!((probs.len(), id.len(), plm.len()), (23, 23, 23));
    // The pass that also returns the towers' logits gives the same probabilities.
    assert_eq!(text_scores(&model, &data, 8, 0, &device).probs, probs);
    for (r, &(output, id_alone, plm_alone)) in alone.iter().enumerate() {
        let sigmoid = 1.0 / (1.0 + (-output).exp());
        assert!(
            (probs[r] - sigmoid).abs() < 1e-5,
            "row {r}: {} vs {sigmoid}",
            probs[r]
        );
        assert!((id[r] - id_alone).abs() < 1e-5, "row {r}: ID logit");
        assert!(
            (plm[r] - plm_alone).abs() < 1e-4,
            "row {r}: {} vs {plm_alone}",
            plm[r]
        );
    }
    // Without an ID tower there are no ID logits.
    let text_only = TextClassifier::new(tiny_plm(&device).model, None, false, &device);
    assert!(tower_logits(&text_only, &data, 8, 0, &device).0.is_none());
}

/// `rows` rows over four prompts of different lengths (rows `r` and `r + 4` share one), the
/// labels such that the four prompts' click rates differ; the ids differ between rows that
/// share a prompt.
fn repeated_prompt_data(rows: usize) -> SplitData {
    let prompts: [&[u32]; 4] = [
        &[2, 30, 41, 3],
        &[2, 31, 3],
        &[2, 32, 42, 43, 44, 3],
        &[2, 33, 40, 3],
    ];
    let mut d = SplitData {
        num_fields: 2,
        token_offsets: vec![0],
        ..SplitData::default()
    };
    for r in 0..rows {
        let prompt = prompts[r % 4];
        d.ids.extend([3 + (r % 3) as u32, 13 + (r % 5) as u32]);
        d.labels.push(u8::from((r % 4) * 3 + r / 4 % 3 >= 4));
        d.tokens.extend_from_slice(prompt);
        d.token_fields.extend(prompt.iter().map(|_| 0i8));
        d.token_offsets.push(d.tokens.len());
        d.source_rows.push(r as u32);
    }
    d
}

#[test]
fn a_text_tower_trained_on_grouped_prompts_follows_the_same_loss_as_on_its_rows() {
    let device = Device::flex().autodiff();
    let data = repeated_prompt_data(24);
    let rates: Vec<f32> = (0..4)
        .map(|p| {
            (0..24)
                .filter(|r| r % 4 == p)
                .map(|r| f32::from(data.labels[r]))
                .sum::<f32>()
                / 6.0
        })
        .collect();
    assert!(rates.windows(2).any(|w| w[0] != w[1]), "{rates:?}");
    // One batch holds every row (or every prompt), so each epoch is one step on the mean loss
    // over the 24 rows; without dropout the two ways differ only by rounding. Each pair starts
    // from one model (cloned): the tests of this file draw from the device's generator at once.
    let build = |joint: bool| {
        let without_dropout = LoadOptions {
            dropout: Some(0.0),
            ..LoadOptions::default()
        };
        let plm = tiny_plm_with(without_dropout, &device);
        let id = joint.then(|| tiny_lr(&device));
        TextClassifier::new(plm.model, id, false, &device)
    };
    let train = |model: TextClassifier, group_prompts: bool| {
        let config = FinetuneConfig {
            max_epochs: 3,
            patience: 3,
            batch_size: 32,
            plm_learning_rate: 1e-3,
            group_prompts,
            ..FinetuneConfig::default()
        };
        let replicas = Replicas::single(device.clone());
        let fitted = finetune(model, &data, &data, 0, &config, &replicas, |_| {}).unwrap();
        let losses: Vec<f64> = fitted.history.iter().map(|e| e.train_loss).collect();
        let scores = predict_text(&fitted.model, &data, 64, 0, &Device::flex());
        (losses, scores)
    };
    let text_tower = build(false);
    let (row_losses, row_scores) = train(text_tower.clone(), false);
    let (group_losses, group_scores) = train(text_tower, true);
    assert_eq!(row_losses.len(), 3);
    for (a, b) in row_losses.iter().zip(&group_losses) {
        assert!((a - b).abs() < 1e-5, "{row_losses:?} vs {group_losses:?}");
    }
    assert!(row_losses[2] < row_losses[0], "it learns: {row_losses:?}");
    for (a, b) in row_scores.iter().zip(&group_scores) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    // Rows that share a prompt share a score, and the prompts are told apart.
    assert!((group_scores[0] - group_scores[4]).abs() < 1e-6);
    assert!((group_scores[0] - group_scores[1]).abs() > 1e-4);
    // FLIP's ID tower reads the ids, which differ between rows that share a prompt: it trains
    // row by row whatever the setting says.
    let flip = build(true);
    assert_eq!(train(flip.clone(), true), train(flip, false));
}
