//! An interrupted pretraining run resumed from its checkpoint ends exactly where an
//! uninterrupted run ends (masks, noise, batch order and dropout all derive from the step).

use std::path::Path;

use burn::tensor::Device;
use flip_align::{FieldMasker, NoiseDistribution};
use flip_data::SplitData;
use flip_plm::LoadOptions;
use flip_train::parallel::Replicas;
use flip_train::pretrain::{PretrainConfig, PretrainRun};

mod pretraining_fixture;

use pretraining_fixture::{data, masker, max_difference, model, noise, values_where};

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let device = Device::flex().autodiff();
    let noise = noise();
    let config = PretrainConfig {
        epochs: 2,
        batch_size: 4,
        log_every: 2,
        learning_rate: 1e-3,
        plm_learning_rate: 1e-3,
        ..PretrainConfig::default()
    };
    let masker = masker();
    let data = data();
    let never = |_: u64| false;

    let whole_dir = tempfile::tempdir().unwrap();
    fn run<'a>(
        config: &'a PretrainConfig,
        data: &'a SplitData,
        masker: &'a FieldMasker,
        noise: &'a NoiseDistribution,
        replicas: &'a Replicas,
        dir: &'a Path,
    ) -> PretrainRun<'a> {
        PretrainRun {
            config,
            data,
            masker,
            noise,
            pad_id: 0,
            replicas,
            run_dir: dir,
        }
    }
    let replicas = Replicas::single(device.clone());
    let run = |dir| run(&config, &data, &masker, &noise, &replicas, dir);
    let whole = run(whole_dir.path())
        .run(
            model(&device, &noise, &config.align, LoadOptions::default()),
            false,
            &never,
        )
        .unwrap();
    assert!(!whole.interrupted && whole.state.finished);
    assert_eq!(whole.state.global_step, 10);

    let parts_dir = tempfile::tempdir().unwrap();
    let first = run(parts_dir.path())
        .run(
            model(&device, &noise, &config.align, LoadOptions::default()),
            false,
            &|step| step == 7,
        )
        .unwrap();
    assert!(first.interrupted);
    assert_eq!((first.state.epoch, first.state.step_in_epoch), (1, 2));
    // A fresh process: new weights, then the checkpoint.
    let resumed = run(parts_dir.path())
        .run(
            model(&device, &noise, &config.align, LoadOptions::default()),
            true,
            &never,
        )
        .unwrap();
    assert!(resumed.state.finished);
    assert_eq!(resumed.state.global_step, 10);

    let every = |_: &[String]| true;
    let (a, b) = (
        values_where(&whole.model, every),
        values_where(&resumed.model, every),
    );
    assert_eq!(a.len(), b.len());
    let worst = max_difference(&a, &b);
    assert!(worst < 1e-5, "resumed weights differ by {worst}");
    for file in [
        "pretrain.jsonl",
        "pretrain-losses.png",
        "pretrain-accuracy.png",
        "checkpoint/state.json",
    ] {
        assert!(parts_dir.path().join(file).is_file(), "{file}");
    }
    // The losses moved: training happened.
    let records = &whole.state.records;
    assert!(records.last().unwrap().loss < records.first().unwrap().loss);
}
