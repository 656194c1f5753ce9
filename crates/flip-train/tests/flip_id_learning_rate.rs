//! FLIP_ID's own learning rate (`flip_id_learning_rate`), and its embedding tables' own
//! (`flip_id_embedding_learning_rate`), change FLIP_ID and nothing else: the backbone from
//! scratch and the "on the finetuning sample" pair end exactly where they end without them.
//! Alone in its process: burn's device random streams are global, and a test running beside it
//! would draw from them between its steps.

use flip_train::experiment::{FlipSettings, Variant};

mod example_fixture;

use example_fixture::{first_seed, id_only_example_setup, run_experiment};

#[test]
fn flip_id_at_its_own_learning_rate_leaves_every_other_variant_unchanged() {
    let (scratch, dataset, mut settings) = id_only_example_setup();
    let run = |settings, name: &str| {
        run_experiment(&dataset, settings, &scratch.path().join(name), false)
    };
    let same = run(settings.clone(), "same");
    let own_rate = settings.id_training.learning_rate / 10.0;
    let own_tables = run(
        FlipSettings {
            flip_id_embedding_learning_rate: Some(own_rate),
            ..settings.clone()
        },
        "own tables",
    );
    settings.flip_id_learning_rate = Some(own_rate);
    let own = run(settings, "own");
    for changed in [&own, &own_tables] {
        for v in [
            Variant::Scratch,
            Variant::ScratchOnSample,
            Variant::FlipIdOnSample,
        ] {
            let (a, b) = (first_seed(&same, v), first_seed(changed, v));
            assert_eq!((a.valid, a.test), (b.valid, b.test), "{v:?}");
        }
        let (a, b) = (
            first_seed(&same, Variant::FlipId),
            first_seed(changed, Variant::FlipId),
        );
        assert_ne!(a.valid, b.valid, "FLIP_ID trained at {own_rate}");
    }
    assert!(
        own_tables
            .markdown
            .contains(&format!("(FLIP_ID's embedding tables: {own_rate})")),
        "the report names the tables' rate:\n{}",
        own_tables.markdown
    );
    assert!(
        own.markdown.contains(&format!("(FLIP_ID: {own_rate})")),
        "the report names FLIP_ID's rate:\n{}",
        own.markdown
    );
    assert!(!same.markdown.contains("(FLIP_ID:"));
}
