//! A resumed pretraining run's loop time: the sum over its invocations. In its own test binary
//! (a process of its own), since the backend's random seed is global to a process and the
//! bit-exact resume test beside it must not share it.

use flip_train::pretrain::PretrainConfig;

// Shared with other test binaries, which use the helpers this one does not.
#[allow(dead_code)]
mod pretraining_fixture;

use pretraining_fixture::Setup;

/// The loop's wall time adds up over the invocations of a resumed run, and a checkpoint that
/// did not record it (written before the field existed) leaves it unknown, not undercounted.
#[test]
fn resumed_run_sums_the_loop_seconds_of_every_invocation() {
    let config = PretrainConfig {
        epochs: 1,
        batch_size: 4,
        log_every: 2,
        ..PretrainConfig::default()
    };
    let setup = Setup::new();
    let never = |_: u64| false;
    let pause = std::time::Duration::from_millis(300);
    // Sleeps in the step callback are loop time: two steps, so the first leg lasts 0.6 s at least.
    let stop_after_pause = |step: u64| {
        std::thread::sleep(pause);
        step == 2
    };

    let dir = tempfile::tempdir().unwrap();
    let first = setup
        .run(&config, dir.path())
        .run(setup.model(&config), false, &stop_after_pause)
        .unwrap();
    assert!(first.interrupted);
    let first_seconds = first.state.seconds.unwrap();
    assert!(first_seconds >= 0.6, "{first_seconds}");
    let resumed = setup
        .run(&config, dir.path())
        .run(setup.model(&config), true, &|_| {
            std::thread::sleep(pause);
            false
        })
        .unwrap();
    assert!(resumed.state.finished);
    // Three more steps, each 0.3 s at least, on top of the first leg's.
    let total = resumed.state.seconds.unwrap();
    assert!(
        total >= first_seconds + 0.9,
        "{total} after {first_seconds}"
    );
    let saved: flip_train::pretrain::PretrainState = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("checkpoint/state.json")).unwrap(),
    )
    .unwrap();
    // serde_json's float parsing may differ from the written value in the last bit.
    let written = saved.seconds.unwrap();
    assert!(
        (written - total).abs() < 1e-9,
        "{written} written, {total} returned"
    );

    // A checkpoint without the field: the sum is unknown after resuming.
    let old_dir = tempfile::tempdir().unwrap();
    setup
        .run(&config, old_dir.path())
        .run(setup.model(&config), false, &|step| step == 2)
        .unwrap();
    let state_file = old_dir.path().join("checkpoint/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    state.as_object_mut().unwrap().remove("seconds").unwrap();
    std::fs::write(&state_file, state.to_string()).unwrap();
    let resumed = setup
        .run(&config, old_dir.path())
        .run(setup.model(&config), true, &never)
        .unwrap();
    assert!(resumed.state.finished);
    assert_eq!(resumed.state.seconds, None);
}
