//! An interrupted pretraining run resumed from its checkpoint ends exactly where an
//! uninterrupted run ends (masks, noise, batch order and dropout all derive from the step).

use flip_train::pretrain::PretrainConfig;

mod pretraining_fixture;

use pretraining_fixture::{Setup, max_difference, values_where};

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let config = PretrainConfig {
        epochs: 2,
        batch_size: 4,
        log_every: 2,
        learning_rate: 1e-3,
        plm_learning_rate: 1e-3,
        ..PretrainConfig::default()
    };
    let setup = Setup::new();
    let never = |_: u64| false;

    let whole_dir = tempfile::tempdir().unwrap();
    let whole = setup
        .run(&config, whole_dir.path())
        .run(setup.model(&config), false, &never)
        .unwrap();
    assert!(!whole.interrupted && whole.state.finished);
    assert_eq!(whole.state.global_step, 10);

    let parts_dir = tempfile::tempdir().unwrap();
    let first = setup
        .run(&config, parts_dir.path())
        .run(setup.model(&config), false, &|step| step == 7)
        .unwrap();
    assert!(first.interrupted);
    assert_eq!((first.state.epoch, first.state.step_in_epoch), (1, 2));
    // A fresh process: new weights, then the checkpoint.
    let resumed = setup
        .run(&config, parts_dir.path())
        .run(setup.model(&config), true, &never)
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
