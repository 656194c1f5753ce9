//! `freeze_id_tower`: pretraining leaves every weight of the ID tower exactly as it started,
//! while the heads and the language model learn; without it the ID tower moves too. One test
//! in its own process (burn's device random stream is global).

use flip_align::AlignConfig;
use flip_train::pretrain::PretrainConfig;

// Shared with other test binaries, which use the helpers this one does not.
#[allow(dead_code)]
mod pretraining_fixture;

use pretraining_fixture::{Setup, max_difference, values_where};

fn id_tower(path: &[String]) -> bool {
    path.first().is_some_and(|p| p == "id_model")
}

fn language_model(path: &[String]) -> bool {
    path.first().is_some_and(|p| p == "plm")
}

fn heads(path: &[String]) -> bool {
    !id_tower(path) && !language_model(path)
}

#[test]
fn a_frozen_id_tower_keeps_its_weights_while_the_rest_learns() {
    let setup = Setup::new();
    let pretrain = |freeze_id_tower: bool| {
        let config = PretrainConfig {
            batch_size: 7,
            log_every: 1,
            learning_rate: 1e-3,
            plm_learning_rate: 1e-3,
            freeze_id_tower,
            align: AlignConfig {
                center: true,
                normalize: true,
                temperature: 0.1,
                learnable_temperature: true,
                ..AlignConfig::default()
            },
            ..PretrainConfig::default()
        };
        let start = setup.model(&config);
        let before: Vec<Vec<f32>> = [id_tower, language_model, heads]
            .map(|part| values_where(&start, part))
            .into();
        let dir = tempfile::tempdir().unwrap();
        let done = setup
            .run(&config, dir.path())
            .run(start, false, &|_| false)
            .unwrap();
        assert_eq!(done.state.global_step, 3, "3 steps of 7, 7 and 6 rows");
        let after: Vec<Vec<f32>> = [id_tower, language_model, heads]
            .map(|part| values_where(&done.model, part))
            .into();
        // How far each part moved: the ID tower, the language model, the heads.
        let moved: Vec<f32> = before
            .iter()
            .zip(&after)
            .map(|(b, a)| {
                assert!(!b.is_empty());
                max_difference(b, a)
            })
            .collect();
        moved
    };
    let frozen = pretrain(true);
    assert_eq!(frozen[0], 0.0, "the frozen ID tower moved: {frozen:?}");
    assert!(frozen[1] > 0.0 && frozen[2] > 0.0, "{frozen:?}");
    let learning = pretrain(false);
    assert!(learning.iter().all(|&m| m > 0.0), "{learning:?}");
}
