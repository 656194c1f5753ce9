//! On a task whose label is a pairwise interaction (parity of two fields agrees), models that
//! learn interactions beat logistic regression clearly; LR stays near chance.

use burn::tensor::Device;
use flip_data::SplitData;
use flip_id_models::{InputShape, MODEL_NAMES};
use flip_train::divergence::TrainError;
use flip_train::{CtrTrainConfig, evaluate, fit};
use rand::{Rng, SeedableRng};

mod ctr_fixture;

use ctr_fixture::{VALUES, small};

/// Rows of 3 fields with 10 values each (global ids `f·10 + v`), label 1 when the values of
/// fields 0 and 1 have the same parity (with 5% label noise); field 2 is noise.
fn synthetic(rows: usize, seed: u64) -> SplitData {
    ctr_fixture::synthetic(
        rows,
        3,
        seed,
        0.05,
        |f, x| (f * VALUES + x) as u32,
        |v| v[0] % 2 == v[1] % 2,
    )
}

#[test]
fn interaction_models_beat_lr() {
    let (train, valid, test) = (
        synthetic(12_000, 1),
        synthetic(2_000, 2),
        synthetic(4_000, 3),
    );
    let config = CtrTrainConfig {
        batch_size: 128,
        max_epochs: 6,
        patience: 6,
        learning_rate: 3e-3,
        ..CtrTrainConfig::default()
    };
    let device = Device::flex();
    let shape = InputShape {
        num_features: 3 * VALUES,
        num_fields: 3,
    };
    let mut scores = Vec::new();
    for name in MODEL_NAMES {
        device.seed(11);
        let model = small(name).init(shape, &device.clone().autodiff());
        let fitted = fit(
            model,
            &train,
            &valid,
            &config,
            &device.clone().autodiff(),
            |_| {},
        )
        .unwrap();
        let auc = evaluate(&fitted.model, &test, 4096, &device).auc;
        scores.push((name, auc));
    }
    let lr = scores[0].1;
    println!("{scores:?}");
    assert!(
        (lr - 0.5).abs() < 0.05,
        "LR cannot see the interaction: {lr}"
    );
    // The label is a parity: the best possible AUC with 5% noise is about 0.95.
    for (name, auc) in &scores[1..] {
        assert!(
            *auc > lr + 0.2,
            "{name} should learn the interaction: AUC {auc} vs LR {lr}"
        );
    }
}

#[test]
fn row_sparse_updates_learn_the_same_task() {
    let (train, valid, test) = (
        synthetic(12_000, 1),
        synthetic(2_000, 2),
        synthetic(4_000, 3),
    );
    let config = CtrTrainConfig {
        batch_size: 128,
        max_epochs: 6,
        patience: 6,
        learning_rate: 3e-3,
        sparse_embeddings: true,
        ..CtrTrainConfig::default()
    };
    let device = Device::flex();
    let shape = InputShape {
        num_features: 3 * VALUES,
        num_fields: 3,
    };
    // DeepFM reads both tables; DCN has no first-order term, so its first-order rows get none.
    for name in ["deepfm", "dcn"] {
        device.seed(11);
        let model = small(name).init(shape, &device.clone().autodiff());
        let fitted = fit(
            model,
            &train,
            &valid,
            &config,
            &device.clone().autodiff(),
            |_| {},
        )
        .unwrap();
        let auc = evaluate(&fitted.model, &test, 4096, &device).auc;
        assert!(auc > 0.9, "{name} with row-sparse updates: AUC {auc}");
    }
}

/// The model `fit` returns is the best epoch's, batch-norm running statistics included: it
/// scores the validation split exactly as that epoch did, although training went on after it.
#[test]
fn the_best_epoch_is_restored_with_its_batch_norm_statistics() {
    // Training labels are coin flips: the validation AUC wanders from epoch to epoch, and
    // training stops one epoch after the first that does not improve.
    let mut train = synthetic(2_000, 4);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    for label in &mut train.labels {
        *label = u8::from(rng.random_bool(0.5));
    }
    let valid = synthetic(2_000, 5);
    let config = CtrTrainConfig {
        batch_size: 64,
        max_epochs: 6,
        patience: 1,
        learning_rate: 1e-2,
        ..CtrTrainConfig::default()
    };
    let device = Device::flex();
    let shape = InputShape {
        num_features: 3 * VALUES,
        num_fields: 3,
    };
    device.seed(11);
    let model = small("afn").init(shape, &device.clone().autodiff());
    let fitted = fit(
        model,
        &train,
        &valid,
        &config,
        &device.clone().autodiff(),
        |_| {},
    )
    .unwrap();
    let aucs: Vec<f64> = fitted.history.iter().map(|r| r.valid.auc).collect();
    assert!(
        fitted.best_epoch < fitted.history.len(),
        "the test needs epochs after the best one: {aucs:?}"
    );
    let again = evaluate(&fitted.model, &valid, 4096, &device);
    let recorded = fitted.history[fitted.best_epoch - 1].valid;
    assert!(
        (again.auc - recorded.auc).abs() < 1e-9 && (again.logloss - recorded.logloss).abs() < 1e-6,
        "restored {again:?} vs epoch {} {recorded:?} (all: {aucs:?})",
        fitted.best_epoch
    );
}

#[test]
fn a_diverged_loss_stops_training_with_its_epoch_and_step() {
    let (train, valid) = (synthetic(1_000, 4), synthetic(200, 5));
    // A learning rate beyond f32's range (valid settings, 1e39 is a finite f64) becomes an
    // infinite step: the first update makes the weights infinite, the second step's loss NaN.
    let config = CtrTrainConfig {
        batch_size: 100,
        learning_rate: 1e39,
        ..CtrTrainConfig::default()
    };
    let device = Device::flex().autodiff();
    let shape = InputShape {
        num_features: 3 * VALUES,
        num_fields: 3,
    };
    let model = small("dcnv2").init(shape, &device);
    let mut epochs_seen = 0;
    let Err(TrainError::Diverged(error)) = fit(model, &train, &valid, &config, &device, |_| {
        epochs_seen += 1
    }) else {
        panic!("a NaN loss went unnoticed");
    };
    assert_eq!(
        (error.stage, error.epoch, error.step),
        ("ID-model training", 1, 2)
    );
    assert!(error.value.is_nan());
    assert_eq!(epochs_seen, 0, "no epoch was recorded or scored");
}
