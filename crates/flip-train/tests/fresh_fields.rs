//! `id_fresh_fields`: FLIP_ID starts with the named fields' embeddings drawn fresh and every
//! other weight pretrained, which changes FLIP_ID (on all rows and on the sample) and nothing
//! else; a name the dataset lacks is refused before the run folder is claimed. Alone in its
//! process: burn's device random streams are global, and a test running beside it would draw
//! from them between its steps.

use burn::tensor::Device;
use flip_train::experiment::{Experiment, FlipSettings, Variant};

mod example_fixture;

use example_fixture::{first_seed, id_only_example_setup, run_experiment};

#[test]
fn fresh_fields_change_flip_id_only_and_a_missing_field_is_refused() {
    let (scratch, dataset, mut settings) = id_only_example_setup();
    let first_field = dataset.meta().fields[0].name.clone();
    let run = |settings, name: &str| {
        run_experiment(&dataset, settings, &scratch.path().join(name), false)
    };
    let same = run(settings.clone(), "same");
    let fresh = run(
        FlipSettings {
            id_fresh_fields: vec![first_field.clone()],
            ..settings.clone()
        },
        "fresh",
    );
    for v in [Variant::Scratch, Variant::ScratchOnSample] {
        let (a, b) = (first_seed(&same, v), first_seed(&fresh, v));
        assert_eq!((a.valid, a.test), (b.valid, b.test), "{v:?}");
    }
    for v in [Variant::FlipId, Variant::FlipIdOnSample] {
        let (a, b) = (first_seed(&same, v), first_seed(&fresh, v));
        assert_ne!(a.valid, b.valid, "{v:?} with {first_field} drawn fresh");
    }
    let named =
        format!("every pretrained weight, except the embeddings of {first_field} (drawn fresh)");
    assert!(fresh.markdown.contains(&named), "{}", fresh.markdown);
    assert!(!same.markdown.contains("(drawn fresh)"));

    settings.id_fresh_fields = vec![first_field, "no_such_field".into()];
    let dir = scratch.path().join("refused");
    let err = Experiment::new(dataset.clone(), settings, &dir, Device::flex())
        .err()
        .expect("a field the dataset lacks")
        .to_string();
    for part in [
        "id_fresh_fields",
        "\"no_such_field\"",
        &dataset.meta().fields[1].name,
    ] {
        assert!(err.contains(part), "{part} missing from: {err}");
    }
    assert!(!dir.exists(), "the refused run claimed its folder");
}
