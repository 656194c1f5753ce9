//! The staged joint protocol end to end on the shipped example dataset with the tiny BERT
//! checkpoint: FLIP starts from the seed's finetuned FLIP_ID and FLIP_PLM, keeps the better of
//! its starting mixture and its finetuned epochs, is scored on the full test split like the
//! ID-only variants, and a resumed run reports the same numbers without training again.

use flip_train::experiment::{UserSegments, Variant};

mod example_fixture;

use example_fixture::{example_setup, example_setup_with_recipe, run_experiment};

#[test]
fn staged_flip_starts_from_both_finetuned_towers_and_resumes_to_the_same_report() {
    let (scratch, dataset, mut settings) = example_setup();
    let full_test = dataset.meta().splits.test.rows;
    // Fewer test rows than the split has, so that the full test split is scored apart.
    settings.eval_rows = Some(full_test - 2);
    let run = scratch.path().join("run");
    let report = run_experiment(&dataset, settings.clone(), &run, false);
    for key in ["flip-id", "flip-plm"] {
        let path = run.join("finetuned").join(format!("{key}-seed2012.bpk"));
        assert!(path.is_file(), "{} kept for FLIP", path.display());
    }
    let flip = Variant::Flip.label("dcnv2");
    let flip_full = Variant::Flip.full_test_label("dcnv2");
    let kept = &report.table.rows[&flip].seeds[0];
    assert_eq!(report.table.rows[&flip_full].seeds[0].test.rows, full_test);
    // The kept model is the best on validation among the starting mixture and the epochs.
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("finished/flip-seed2012.json")).unwrap(),
    )
    .unwrap();
    for point in record["curve"].as_array().unwrap() {
        let epoch_auc = point[1].as_f64().unwrap();
        assert!(
            kept.valid.auc >= epoch_auc || epoch_auc.is_nan(),
            "kept {} (epoch {}) below an epoch's {epoch_auc}",
            kept.valid.auc,
            kept.best_epoch
        );
    }
    // Every variant with the language model is scored on the full test split too.
    for v in [Variant::Plm, Variant::FlipPlm] {
        assert_eq!(
            report.table.rows[&v.full_test_label("dcnv2")].seeds[0]
                .test
                .rows,
            full_test
        );
    }
    let paired = |first: &str, second: &str| {
        report
            .paired
            .iter()
            .any(|p| p.first == first && p.second == second)
    };
    assert!(paired(
        &flip_full,
        &Variant::Scratch.full_test_label("dcnv2")
    ));
    assert!(paired(
        &flip_full,
        &Variant::FlipId.full_test_label("dcnv2")
    ));
    assert!(paired(
        &Variant::FlipPlm.full_test_label("dcnv2"),
        &Variant::Plm.full_test_label("dcnv2")
    ));
    assert!(report.markdown.contains("FLIP protocol: staged"));
    // The prior's LogLoss beside the table, on the test rows and the full test split.
    assert!(
        report
            .markdown
            .contains("The prior, every row scored at the training click rate")
    );
    let prior = &report.json["prior"];
    assert!(prior["test_logloss"].as_f64().unwrap() > 0.0);
    assert!(prior["full_test_logloss"].as_f64().is_some());
    // Ten of twelve validation rows select the towers' epochs: too few are left apart, so FLIP
    // is selected on the same rows, and the report says so.
    assert!(
        report
            .markdown
            .contains("the same validation rows as the towers' epochs")
    );

    let resumed = run_experiment(&dataset, settings, &run, true);
    for (name, row) in &report.table.rows {
        let other = &resumed.table.rows[name];
        assert_eq!(row.auc.mean, other.auc.mean, "{name}");
        assert_eq!(row.logloss.mean, other.logloss.mean, "{name}");
    }
}

#[test]
fn staged_flip_without_joint_epochs_is_the_mixture_chosen_on_other_validation_rows() {
    let (scratch, dataset, mut settings) = example_setup();
    let valid = dataset.meta().splits.valid.rows;
    // Half the validation rows select the towers' epochs, the other half FLIP's α.
    settings.eval_rows = Some(valid / 2);
    settings.finetune.staged_max_epochs = Some(0);
    let run = scratch.path().join("run");
    let report = run_experiment(&dataset, settings.clone(), &run, false);
    assert!(report.markdown.contains(&format!(
        "α and the epoch chosen on {} other validation rows, apart from those that selected \
         FLIP_PLM's epoch (FLIP_ID's was chosen on all of them)",
        valid / 2
    )));
    // The ID-only variants chose their epochs on every validation row (the preset's), the
    // language-model variants on the sample.
    assert!(settings.id_valid_all_rows);
    let rows_scored = |key: &str| -> Vec<u64> {
        std::fs::read_to_string(run.join(format!("{key}-seed2012.jsonl")))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["valid"]["rows"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    for key in ["dcnv2-scratch", "flip-id"] {
        let rows = rows_scored(key);
        assert!(
            !rows.is_empty() && rows.iter().all(|&n| n == valid as u64),
            "{key}: {rows:?}"
        );
    }
    let rows = rows_scored("plm");
    assert!(
        !rows.is_empty() && rows.iter().all(|&n| n == (valid / 2) as u64),
        "plm: {rows:?}"
    );
    assert!(
        report
            .markdown
            .contains(&format!("the epoch chosen on all {valid} validation rows"))
    );
    let flip = &report.table.rows[&Variant::Flip.label("dcnv2")].seeds[0];
    assert_eq!(flip.best_epoch, 0, "the starting mixture, no joint epoch");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("finished/flip-seed2012.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        record["curve"].as_array().map(Vec::len),
        Some(0),
        "no epoch ran"
    );
    assert_eq!(
        record["outcome"]["seconds_per_epoch"], 0.0,
        "no training time"
    );
    // With no joint epoch FLIP's towers are FLIP_ID and FLIP_PLM: its mixture in hindsight
    // scores them alone as those variants were scored (each through its own scorer), and the
    // mixture at FLIP's α as FLIP was.
    let full_test_auc = |v: Variant| {
        let rows = &report.table.rows;
        rows.get(&v.full_test_label("dcnv2"))
            .unwrap_or_else(|| &rows[&v.label("dcnv2")])
            .seeds[0]
            .test
            .auc
    };
    let mixtures = report.json["flip_mixture_in_hindsight"].as_array().unwrap();
    assert_eq!(mixtures.len(), 1, "{mixtures:?}");
    assert_eq!(mixtures[0]["seed"], 2012);
    let m = &mixtures[0]["mixture"];
    let value = |key: &str| m[key].as_f64().unwrap();
    assert!(
        (value("auc") - full_test_auc(Variant::Flip)).abs() < 1e-6,
        "{m}"
    );
    assert!(
        (value("id_alone") - full_test_auc(Variant::FlipId)).abs() < 1e-6,
        "{m}"
    );
    assert!(
        (value("plm_alone") - full_test_auc(Variant::FlipPlm)).abs() < 1e-6,
        "{m}"
    );
    for key in ["auc", "id_alone", "plm_alone"] {
        assert!(value("best_auc") >= value(key), "{m}");
    }
    assert!((0.0..=1.0).contains(&value("best_alpha")), "{m}");
    assert!(report.markdown.contains("## FLIP's mixture in hindsight"));
    assert!(report.markdown.contains(&format!(
        "| 2012 | {:.2} | {:.4} | {:.2} |",
        value("alpha"),
        value("auc"),
        value("best_alpha")
    )));
    // The record reads back: a resumed run reports FLIP without finetuning it again.
    let resumed = run_experiment(&dataset, settings, &run, true);
    let again = &resumed.table.rows[&Variant::Flip.label("dcnv2")].seeds[0];
    assert_eq!(again, flip);
    assert_eq!(
        resumed.json["flip_mixture_in_hindsight"],
        report.json["flip_mixture_in_hindsight"]
    );
}

#[test]
fn every_variant_is_scored_apart_on_test_users_seen_and_not_seen_in_training() {
    // Users seen fewer than six times in training share the OOV id: half the example's test
    // rows then have a user the models never saw.
    let (scratch, dataset, settings) = example_setup_with_recipe(|recipe| {
        let shipped = "min_count = 2              # users seen once in train share the OOV id";
        assert!(recipe.contains(shipped), "the example's user field");
        recipe.replace(shipped, "min_count = 6")
    });
    let full_test = dataset.meta().splits.test.rows;
    let test_split = dataset.load(flip_data::Split::Test).unwrap();
    let users = UserSegments::of_dataset(&dataset, &test_split)
        .unwrap()
        .expect("seen and unseen users in the test split");
    assert_eq!(users.seen.len() + users.unseen.len(), full_test);
    let run = scratch.path().join("run");
    let report = run_experiment(&dataset, settings, &run, false);
    for v in [
        Variant::Scratch,
        Variant::FlipId,
        Variant::Plm,
        Variant::FlipPlm,
        Variant::Flip,
    ] {
        let labels = v.user_labels("dcnv2");
        let rows = |label: &str| report.table.rows[label].seeds[0].test.rows;
        assert_eq!(rows(&labels.seen), users.seen.len(), "{}", labels.seen);
        assert_eq!(
            rows(&labels.unseen),
            users.unseen.len(),
            "{}",
            labels.unseen
        );
    }
    let paired = |first: &str, second: &str| {
        report
            .paired
            .iter()
            .any(|p| p.first == first && p.second == second)
    };
    for (first, second) in [
        (Variant::FlipId, Variant::Scratch),
        (Variant::FlipPlm, Variant::Plm),
        (Variant::Flip, Variant::Scratch),
    ] {
        let (a, b) = (first.user_labels("dcnv2"), second.user_labels("dcnv2"));
        assert!(paired(&a.seen, &b.seen), "{}", a.seen);
        assert!(paired(&a.unseen, &b.unseen), "{}", a.unseen);
    }
    assert!(
        report
            .markdown
            .contains(&format!("{} of its {full_test} rows", users.unseen.len()))
    );
}

#[test]
fn a_test_split_whose_users_were_all_seen_in_training_is_not_split_by_user() {
    let (_scratch, dataset, _) = example_setup();
    let test_split = dataset.load(flip_data::Split::Test).unwrap();
    assert_eq!(
        UserSegments::of_dataset(&dataset, &test_split).unwrap(),
        None,
        "every test user of the shipped example was seen at least twice in training"
    );
}
