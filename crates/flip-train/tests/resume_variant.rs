//! A variant trained again on resume, after the variants before it in its seed were reused,
//! ends where its first run ended: every variant draws from its own stream, seeded before its
//! model is built. Alone in its process: burn's device random streams are global, and a test
//! running beside it would draw from them between its steps.

use flip_train::experiment::Variant;

mod example_fixture;

use example_fixture::{id_only_example_setup, run_experiment};

#[test]
fn a_variant_trained_again_on_resume_equals_its_first_run() {
    // The "on the finetuning sample" variants run after the two on all rows.
    let (scratch, dataset, settings) = id_only_example_setup();
    let run = scratch.path().join("run");
    let first = run_experiment(&dataset, settings.clone(), &run, false);
    // Resume with the variants on all rows finished and those on the sample not: these are
    // built and trained again after nothing else ran in the process.
    for key in ["dcnv2-scratch-sample", "flip-id-sample"] {
        std::fs::remove_file(run.join(format!("finished/{key}-seed2012.json"))).unwrap();
    }
    let again = run_experiment(&dataset, settings, &run, true);
    for v in [Variant::ScratchOnSample, Variant::FlipIdOnSample] {
        let name = v.label("dcnv2");
        let (a, b) = (
            &first.table.rows[&name].seeds[0],
            &again.table.rows[&name].seeds[0],
        );
        assert_eq!(a.test, b.test, "{name}");
        assert_eq!(a.valid, b.valid, "{name}");
    }
}
