//! The embedding tables' own learning rate in the CTR trainer: at a vanishing rate both
//! tables stay where they started while the layers train, at the common rate the run is the
//! same as without it, dense and row-sparse updates alike. One test: burn's device random
//! streams are global to the process.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use flip_data::SplitData;
use flip_id_models::{CtrNet, InputShape};
use flip_train::divergence::TrainError;
use flip_train::{CtrTrainConfig, fit, predict};

mod ctr_fixture;

const FEATURES: usize = 3 * ctr_fixture::VALUES;

/// Rows of three fields with ten values each (global ids `f·10 + v`); the label follows
/// field 0's parity with 20% noise.
fn synthetic(rows: usize, seed: u64) -> SplitData {
    ctr_fixture::synthetic(
        rows,
        3,
        seed,
        0.2,
        |f, x| (f * ctr_fixture::VALUES + x) as u32,
        |v| v[0].is_multiple_of(2),
    )
}

/// A small DeepFM (it reads both tables: the field embeddings and the first-order weights).
fn small_deepfm(device: &Device) -> CtrNet {
    device.seed(5);
    ctr_fixture::small("deepfm").init(
        InputShape {
            num_features: FEATURES,
            num_fields: 3,
        },
        device,
    )
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn largest_change(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_tables_learn_at_their_own_rate_and_the_layers_at_the_common_one() {
    let (train, valid) = (synthetic(2_000, 1), synthetic(500, 2));
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let start = small_deepfm(&ad);
    let tables = |m: &CtrNet| {
        (
            values(m.embedding().table.val()),
            values(m.embedding().linear.val()),
        )
    };
    let (table0, linear0) = tables(&start);
    let scores0 = predict(&start.valid(), &valid, 512, &device);
    for sparse_embeddings in [false, true] {
        let base = CtrTrainConfig {
            batch_size: 64,
            max_epochs: 2,
            patience: 2,
            learning_rate: 3e-3,
            sparse_embeddings,
            ..CtrTrainConfig::default()
        };
        let run = |config: &CtrTrainConfig| {
            fit(start.clone(), &train, &valid, config, &ad, |_| {}).unwrap()
        };
        let common = run(&base);
        let (table, linear) = tables(&common.model);
        assert!(
            largest_change(&table, &table0) > 1e-3,
            "sparse {sparse_embeddings}"
        );
        assert!(
            largest_change(&linear, &linear0) > 1e-3,
            "sparse {sparse_embeddings}"
        );

        // The common rate given as the tables' own: the same run to the last bit.
        let same = run(&CtrTrainConfig {
            embedding_learning_rate: Some(base.learning_rate),
            ..base.clone()
        });
        for (a, b) in same.history.iter().zip(&common.history) {
            assert_eq!((a.train_loss, a.valid), (b.train_loss, b.valid));
        }

        // A vanishing rate: Adam moves each entry by about the rate a step, 64 steps.
        let still = run(&CtrTrainConfig {
            embedding_learning_rate: Some(1e-12),
            ..base.clone()
        });
        let (table, linear) = tables(&still.model);
        assert!(
            largest_change(&table, &table0) < 1e-9,
            "sparse {sparse_embeddings}"
        );
        assert!(
            largest_change(&linear, &linear0) < 1e-9,
            "sparse {sparse_embeddings}"
        );
        let scores = predict(&still.model, &valid, 512, &device);
        assert!(
            largest_change(&scores, &scores0) > 1e-3,
            "sparse {sparse_embeddings}: the layers train"
        );
    }

    let refused = fit(
        start.clone(),
        &train,
        &valid,
        &CtrTrainConfig {
            embedding_learning_rate: Some(-1.0),
            ..CtrTrainConfig::default()
        },
        &ad,
        |_| {},
    );
    match refused {
        Err(TrainError::Invalid(e)) => assert!(
            e.to_string().contains("`embedding_learning_rate`: is -1"),
            "{e}"
        ),
        other => panic!("expected invalid settings, got {other:?}"),
    }
}
