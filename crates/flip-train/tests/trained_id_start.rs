//! `pretrain_from_trained_id`: the run trains the backbone from scratch with the pretraining's
//! seed first, saves it, and pretraining starts its ID tower from that file (its settings name
//! the file and its sha256) and scores that tower as a click model before and after; that
//! seed's "from scratch" row is the same model as in a run without the setting, reported once;
//! a resumed run trains nothing again. Alone in its process: burn's device random streams are
//! global, and a test running beside it would draw from them between its steps.

use flip_train::experiment::{Report, Variant};

mod example_fixture;

use example_fixture::{example_setup, run_experiment};

#[test]
fn pretraining_starts_from_the_runs_own_backbone_from_scratch_trained_once() {
    let (scratch, dataset, mut settings) = example_setup();
    settings.id_only = true;
    let run = |settings, name: &str, resume| {
        run_experiment(&dataset, settings, &scratch.path().join(name), resume)
    };
    let row = |report: &Report, v: Variant| report.table.rows[&v.label("dcnv2")].seeds.clone();
    let plain = run(settings.clone(), "plain", false);
    settings.pretrain_from_trained_id = true;
    let trained = run(settings.clone(), "trained", false);

    // The same model from scratch as without the setting, reported once.
    let (a, b) = (
        row(&plain, Variant::Scratch),
        row(&trained, Variant::Scratch),
    );
    assert_eq!(b.len(), 1, "one row for seed 2012: {b:?}");
    assert_eq!((&a[0].valid, &a[0].test), (&b[0].valid, &b[0].test));

    // Pretraining started from its saved model, whose hash the pretraining's settings record.
    let dir = scratch.path().join("trained");
    let start = dir.join("finetuned").join("dcnv2-scratch-seed2012.bpk");
    let (sha256, _) = flip_data::fetch::sha256_file(&start).unwrap();
    let recorded = std::fs::read_to_string(dir.join("pretrain").join("settings.toml")).unwrap();
    assert!(
        recorded.contains(&format!("id_start = \"{}\"", start.display()))
            && recorded.contains(&format!("id_start_sha256 = \"{sha256}\"")),
        "{recorded}"
    );
    // The pretraining scored its ID tower before and after: before, it is the saved model from
    // scratch, which scored the same on every validation row when its epoch was chosen.
    let click = &trained.json["id_tower_click"];
    let before = click["before"]["auc"].as_f64().unwrap();
    assert!(
        (before - b[0].valid.auc).abs() < 1e-9,
        "{click} {:?}",
        b[0].valid
    );
    assert_eq!(
        click["before"]["rows"].as_u64(),
        Some(b[0].valid.rows as u64)
    );
    let after = click["after"]["auc"].as_f64().unwrap();
    assert!(after.is_finite() && after != before, "{click}");
    assert!(
        trained.markdown.contains(&format!(
            "pretraining's ID tower on {} validation rows: AUC {before:.4}",
            b[0].valid.rows
        )),
        "{}",
        trained.markdown
    );
    assert!(plain.json["id_tower_click"].is_null());
    let flip_id = row(&trained, Variant::FlipId);
    assert_ne!(row(&plain, Variant::FlipId)[0].valid, flip_id[0].valid);
    assert!(
        trained
            .markdown
            .contains("pretraining's ID tower started from dcnv2 from scratch, seed 2012"),
        "{}",
        trained.markdown
    );

    // Resumed: the saved model and the pretraining reused, every number the same.
    let again = run(settings, "trained", true);
    assert_eq!(row(&again, Variant::FlipId)[0].valid, flip_id[0].valid);
    assert_eq!(again.json["id_tower_click"], *click);
    assert_eq!(row(&again, Variant::Scratch)[0].valid, b[0].valid);
}
