//! `unseen_user_rate`: every ID-only variant trains with the recipe's user field hidden behind
//! its OOV id on that share of the training rows, the report says so, and a recipe without a
//! user field is refused before the run folder is claimed. Alone in its process: burn's device
//! random streams are global, and a test running beside it would draw from them between its
//! steps.

use burn::tensor::Device;
use flip_train::experiment::{Experiment, Variant};

mod example_fixture;

use example_fixture::{
    example_setup_with_recipe, first_seed, id_only_example_setup, run_experiment,
};

#[test]
fn every_id_only_variant_hides_users_at_the_rate() {
    let (scratch, dataset, mut settings) = id_only_example_setup();
    let run = |settings, name: &str| {
        run_experiment(&dataset, settings, &scratch.path().join(name), false)
    };
    let plain = run(settings.clone(), "plain");
    settings.unseen_user_rate = Some(0.25);
    let hidden = run(settings, "hidden");
    for v in [
        Variant::Scratch,
        Variant::FlipId,
        Variant::ScratchOnSample,
        Variant::FlipIdOnSample,
    ] {
        let (a, b) = (first_seed(&plain, v), first_seed(&hidden, v));
        assert_ne!(a.valid, b.valid, "{v:?} trains with the users hidden");
    }
    assert!(
        hidden
            .markdown
            .contains("the user hidden behind its OOV id in 25% of the training rows"),
        "the report names the rate:\n{}",
        hidden.markdown
    );
    assert!(!plain.markdown.contains("hidden behind its OOV id"));
}

#[test]
fn a_recipe_without_a_user_field_is_refused() {
    let (scratch, dataset, mut settings) =
        example_setup_with_recipe(|recipe| recipe.replace("role = \"user\"\n", ""));
    settings.id_only = true;
    settings.unseen_user_rate = Some(0.1);
    let dir = scratch.path().join("run");
    let err = Experiment::new(dataset, settings, &dir, Device::flex())
        .err()
        .expect("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("unseen_user_rate is set, but the recipe")
            && message.contains("names no field with role = \"user\""),
        "{message}"
    );
    assert!(!dir.exists(), "no run folder claimed");
}
