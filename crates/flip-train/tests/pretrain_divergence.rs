//! A pretraining step whose loss is not finite stops the run with an error that names the
//! epoch and step, and the last checkpoint stays as it was.

use flip_train::pretrain::{PretrainConfig, PretrainError, PretrainState};

// Shared with other test binaries, which use the helpers this one does not.
#[allow(dead_code)]
mod pretraining_fixture;

use pretraining_fixture::Setup;

#[test]
fn a_diverged_step_stops_pretraining_and_keeps_the_last_checkpoint() {
    let healthy = PretrainConfig {
        epochs: 2,
        batch_size: 4,
        log_every: 1,
        learning_rate: 1e-3,
        plm_learning_rate: 1e-3,
        ..PretrainConfig::default()
    };
    // The same run with learning rates beyond f32's range (valid settings: finite f64s): its
    // first step makes the weights infinite, so the loss of its second step is NaN.
    let diverging = PretrainConfig {
        learning_rate: 1e39,
        plm_learning_rate: 1e39,
        ..healthy.clone()
    };
    let setup = Setup::new();
    let dir = tempfile::tempdir().unwrap();
    let run = |config| setup.run(config, dir.path());
    let fresh = || setup.model(&healthy);
    // One healthy epoch of 5 steps, then stop: the checkpoint is at the end of epoch 1.
    let first = run(&healthy)
        .run(fresh(), false, &|step| step == 5)
        .unwrap();
    assert!(first.interrupted);
    let state_path = dir.path().join("checkpoint").join("state.json");
    let model_path = dir.path().join("checkpoint").join("model.bpk");
    let before = (
        std::fs::read(&state_path).unwrap(),
        std::fs::read(&model_path).unwrap(),
    );

    // A resumed run must have the checkpoint's settings; record the diverging rates as the
    // checkpoint's so that epoch 2 continues epoch 1 with them.
    std::fs::write(
        dir.path().join("checkpoint").join("config.json"),
        serde_json::to_string(&diverging).unwrap(),
    )
    .unwrap();
    let error = match run(&diverging).run(fresh(), true, &|_| false) {
        Err(PretrainError::Diverged(d)) => d,
        Err(other) => panic!("expected a divergence, got {other}"),
        Ok(_) => panic!("a NaN loss went unnoticed"),
    };
    assert_eq!(
        (error.stage, error.epoch, error.step),
        ("pretraining", 2, 2)
    );
    assert!(error.value.is_nan());
    // Resuming wrote the end of epoch 1 (the interrupted run had done all its steps), and
    // nothing after the diverged step.
    let state: PretrainState =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!((state.epoch, state.global_step), (1, 5));
    assert!(!state.finished);
    assert_ne!(
        before.0,
        std::fs::read(&state_path).unwrap(),
        "the epoch-end checkpoint replaced the interrupted one"
    );
    let weights = std::fs::read(&model_path).unwrap();
    assert_eq!(before.1, weights, "weights of the last healthy step");
}
