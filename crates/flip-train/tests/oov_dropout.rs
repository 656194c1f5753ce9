//! Unseen-value dropout in the CTR trainer: the field's OOV row, which no training row reaches
//! otherwise, is trained; a zero rate changes nothing; settings that cannot run are refused
//! with their key. One test: burn's device random streams are global to the process.

use burn::tensor::Device;
use flip_data::SplitData;
use flip_id_models::{CtrNet, InputShape};
use flip_train::divergence::TrainError;
use flip_train::oov_dropout::OovDropout;
use flip_train::{CtrTrainConfig, fit};

mod ctr_fixture;

/// Ids per field: PAD, OOV, MASK, then 10 values.
const PER_FIELD: u32 = 13;
const FIELDS: usize = 3;

fn oov(field: usize) -> u32 {
    field as u32 * PER_FIELD + 1
}

/// Rows of three fields whose values are never the OOV id; the label follows field 0's parity
/// (a "user" effect) with 20% noise.
fn synthetic(rows: usize, seed: u64) -> SplitData {
    ctr_fixture::synthetic(
        rows,
        FIELDS,
        seed,
        0.2,
        |f, x| f as u32 * PER_FIELD + 3 + x as u32,
        |v| v[0].is_multiple_of(2),
    )
}

fn small_dcn(device: &Device) -> CtrNet {
    device.seed(5);
    ctr_fixture::small("dcnv2").init(
        InputShape {
            num_features: FIELDS * PER_FIELD as usize,
            num_fields: FIELDS,
        },
        device,
    )
}

/// Row `id` of the embedding table.
fn table_row(model: &CtrNet, id: u32) -> Vec<f32> {
    let table = model
        .embedding()
        .table
        .val()
        .to_data()
        .try_to_vec::<f32>()
        .unwrap();
    let d = table.len() / (FIELDS * PER_FIELD as usize);
    table[id as usize * d..(id as usize + 1) * d].to_vec()
}

#[test]
fn dropout_trains_the_oov_row_and_refuses_what_cannot_run() {
    let (train, valid) = (synthetic(2_000, 1), synthetic(500, 2));
    let device = Device::flex().autodiff();
    let base = CtrTrainConfig {
        batch_size: 64,
        max_epochs: 2,
        patience: 2,
        ..CtrTrainConfig::default()
    };
    let user = |rate| OovDropout {
        field: 0,
        oov_id: oov(0),
        rate,
    };
    let start = small_dcn(&device);
    let before = table_row(&start, oov(0));
    let run = |config: &CtrTrainConfig| fit(start.clone(), &train, &valid, config, &device, |_| {});

    // No dropout: no training row reads the OOV row, so Adam never moves it.
    let plain = run(&base).unwrap();
    assert_eq!(table_row(&plain.model, oov(0)), before);

    // A zero rate draws but hides nothing: the same training to the last bit.
    let zero = run(&CtrTrainConfig {
        oov_dropout: vec![user(0.0)],
        ..base.clone()
    })
    .unwrap();
    assert_eq!(zero.history.len(), plain.history.len());
    for (a, b) in zero.history.iter().zip(&plain.history) {
        assert_eq!((a.train_loss, a.valid), (b.train_loss, b.valid));
    }

    // At 0.3 the user's OOV row is trained (dense and row-sparse updates alike), the other
    // fields' OOV rows are not, and the model differs.
    for sparse_embeddings in [false, true] {
        let config = CtrTrainConfig {
            oov_dropout: vec![user(0.3)],
            sparse_embeddings,
            ..base.clone()
        };
        let hidden = run(&config).unwrap();
        let moved = table_row(&hidden.model, oov(0));
        let shift: f32 = moved.iter().zip(&before).map(|(a, b)| (a - b).abs()).sum();
        assert!(
            shift > 1e-3,
            "sparse {sparse_embeddings}: OOV row moved by {shift}"
        );
        assert_eq!(
            table_row(&hidden.model, oov(1)),
            table_row(&start, oov(1)),
            "sparse {sparse_embeddings}: field 1 is not hidden"
        );
        assert_ne!(hidden.history[0].valid, plain.history[0].valid);
        // Drawn from the seed: the same run twice is the same.
        let again = run(&config).unwrap();
        assert_eq!(again.history[1].valid, hidden.history[1].valid);
    }

    // A field beyond the rows' and a rate of 1 are refused, each named by its key.
    let refused = |dropout: OovDropout| match run(&CtrTrainConfig {
        oov_dropout: vec![dropout],
        ..base.clone()
    }) {
        Err(TrainError::Invalid(e)) => e.to_string(),
        other => panic!("expected invalid settings, got {other:?}"),
    };
    let beyond = refused(OovDropout {
        field: 3,
        oov_id: 1,
        rate: 0.1,
    });
    assert!(
        beyond.contains("`oov_dropout.0.field`: is 3, but the rows have 3 fields"),
        "{beyond}"
    );
    let certain = refused(user(1.0));
    assert!(certain.contains("`oov_dropout.0.rate`: is 1"), "{certain}");
}
