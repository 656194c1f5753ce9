//! Pretraining data-parallel on two devices (two replicas on the CPU) follows the same path as
//! on one device with the same global batch: the same logged losses and the same final weights
//! (the attention key biases aside, see below), up to the order of floating-point sums. The
//! contrastive loss still sees the whole batch as negatives. Dropout off: each device draws its
//! own masks. One test in its own process (burn's device random stream is global).

use burn::tensor::Device;
use flip_align::AlignConfig;
use flip_plm::LoadOptions;
use flip_train::parallel::Replicas;
use flip_train::pretrain::{PretrainConfig, PretrainRun};

mod pretraining_fixture;

use pretraining_fixture::{data, masker, max_difference, model, noise, values_where};

/// Whether a parameter's module path names an attention key bias.
fn key_bias(path: &[String]) -> bool {
    path.ends_with(&["key".to_owned(), "bias".to_owned()])
}

#[test]
fn two_devices_pretrain_like_one() {
    let noise = noise();
    let config = PretrainConfig {
        epochs: 2,
        batch_size: 7,
        log_every: 1,
        learning_rate: 1e-3,
        plm_learning_rate: 1e-3,
        align: AlignConfig {
            projection_dropout: 0.0,
            mlm_dropout: 0.0,
            learnable_temperature: true,
            ..AlignConfig::default()
        },
        ..PretrainConfig::default()
    };
    let masker = masker();
    let data = data();
    let no_dropout = || LoadOptions {
        dropout: Some(0.0),
        ..LoadOptions::default()
    };
    let device = Device::flex().autodiff();
    let train = |replicas: &Replicas| {
        let dir = tempfile::tempdir().unwrap();
        PretrainRun {
            config: &config,
            data: &data,
            masker: &masker,
            noise: &noise,
            pad_id: 0,
            replicas,
            run_dir: dir.path(),
        }
        .run(
            model(&device, &noise, &config.align, no_dropout()),
            false,
            &|_| false,
        )
        .unwrap()
    };
    let one = train(&Replicas::single(device.clone()));
    let two = train(&Replicas::new(vec![device.clone(), device.clone()]));

    let (a, b) = (&one.state.records, &two.state.records);
    assert_eq!(a.len(), 6, "3 steps of 7, 7 and 6 rows per epoch, 2 epochs");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        for (name, u, v) in [
            ("loss", x.loss, y.loss),
            ("icl", x.icl, y.icl),
            ("mlm", x.mlm, y.mlm),
            ("mtm", x.mtm, y.mtm),
            ("mlm accuracy", x.mlm_accuracy, y.mlm_accuracy),
            ("mtm accuracy", x.mtm_accuracy, y.mtm_accuracy),
        ] {
            assert!((u - v).abs() < 1e-4, "step {}: {name} {u} vs {v}", x.step);
        }
    }
    // The attention key biases are compared apart: their exact gradient is zero (softmax
    // ignores a shift shared by all scores of a row), so they receive rounding noise, which
    // Adam turns into steps of up to the learning rate whose sign depends on the order of the
    // sums. Over 6 steps they may drift by 6 learning rates, not more.
    let (ka, kb) = (
        values_where(&one.model, key_bias),
        values_where(&two.model, key_bias),
    );
    assert_eq!(ka.len(), 2 * 32, "two layers of width 32");
    let drift = max_difference(&ka, &kb);
    assert!(drift <= 6.0 * 1e-3, "key biases differ by {drift}");
    let not_key_bias = |path: &[String]| !key_bias(path);
    let (wa, wb) = (
        values_where(&one.model, not_key_bias),
        values_where(&two.model, not_key_bias),
    );
    let worst = max_difference(&wa, &wb);
    assert!(worst < 1e-4, "weights differ by {worst}");
    assert!(
        (one.model.temperature() - 0.7).abs() > 1e-4,
        "the temperature learned (its gradient crossed the gather)"
    );
    assert!(a.last().unwrap().loss < a.first().unwrap().loss);
}
