//! Data-parallel finetuning. One test in its own process: burn's device random stream is
//! global, so another test seeding it meanwhile would change the initial weights.

mod common;

use std::path::Path;

use burn::tensor::Device;
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load};
use flip_train::finetune::{FinetuneConfig, TextClassifier, finetune, predict_text};
use flip_train::parallel::Replicas;

use common::text_signal_data;

/// FLIP finetuned data-parallel on two devices (two replicas on the CPU) follows the same path
/// as on one device with the same global batch: the same validation metrics every epoch and
/// the same final scores, up to the order of floating-point sums. Dropout off: each device
/// draws its own masks.
#[test]
fn two_devices_train_like_one() {
    let (train, valid) = (text_signal_data(120, 0), text_signal_data(40, 1));
    let config = FinetuneConfig {
        max_epochs: 2,
        patience: 2,
        batch_size: 15,
        plm_learning_rate: 1e-3,
        ..FinetuneConfig::default()
    };
    let run = |replicas: Replicas| {
        let device = replicas.main().clone();
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../flip-plm/tests/fixtures/tiny-bert");
        let plm = load(
            &fixture,
            LoadOptions {
                dropout: Some(0.0),
                ..LoadOptions::default()
            },
            &device,
        )
        .unwrap()
        .model;
        device.seed(5);
        let id = ModelConfig::from_name("dcnv2").unwrap().init(
            InputShape {
                num_features: 20,
                num_fields: 2,
            },
            &device,
        );
        let model = TextClassifier::new(plm, Some(id), false, &device);
        let fitted = finetune(model, &train, &valid, 0, &config, &replicas, |_| {}).unwrap();
        let scores = predict_text(&fitted.model, &valid, 64, 0, &Device::flex());
        (fitted.history, scores)
    };
    let ad = Device::flex().autodiff();
    let (one, one_scores) = run(Replicas::single(ad.clone()));
    let (two, two_scores) = run(Replicas::new(vec![ad.clone(), ad]));
    assert_eq!(one.len(), two.len());
    for (a, b) in one.iter().zip(&two) {
        assert!(
            (a.train_loss - b.train_loss).abs() < 1e-5,
            "{} vs {}",
            a.train_loss,
            b.train_loss
        );
        assert!((a.valid.logloss - b.valid.logloss).abs() < 1e-5);
        assert!((a.valid.auc - b.valid.auc).abs() < 1e-3);
    }
    for (a, b) in one_scores.iter().zip(&two_scores) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert!(one[1].train_loss < one[0].train_loss, "it trains: {one:?}");
}
