//! The report of a FLIP experiment: the results table (`report.md`), the same as JSON
//! (`results.json`), and the differences paired by seed that the paper's claims rest on.

use std::path::Path;

use anyhow::Result;
use flip_data::Meta;
use flip_plm::Pooling;
use serde::Serialize;

use super::settings::{FlipSettings, describe_differences, differences, to_toml};
use super::towers::IdTowerClick;
use super::user_segments::ByUser;
use super::variants::Variant;
use crate::finetune::JointProtocol;
use crate::mixing::MixtureInHindsight;
use crate::presets::Preset;
use crate::report::{MeanStd, ModelResult, ResultsTable, SeedOutcome};

/// A written report.
#[derive(Debug, Clone)]
pub struct Report {
    /// `report.md`.
    pub markdown: String,
    /// `results.json`: dataset, preset, settings, table, paired differences, timings.
    pub json: serde_json::Value,
    /// The results table.
    pub table: ResultsTable,
    /// The paired differences.
    pub paired: Vec<Paired>,
}

/// Row counts of the splits the variants used.
pub(crate) struct RowCounts {
    pub train: usize,
    pub train_sample: usize,
    pub valid: usize,
    pub test: usize,
    /// Validation rows apart from `valid` (the staged protocol selects FLIP on them).
    pub mixing: Option<usize>,
    /// Rows of the full test split whose user was seen in training, and the others (when the
    /// split holds both).
    pub test_users: Option<ByUser<usize>>,
}

/// The validation rows the staged protocol chose FLIP's `α` and epoch on: `mixing` other rows
/// when the split had them, else the towers' own; FLIP_ID chose its epoch on every row when
/// `id_valid_all_rows`.
pub(crate) fn flip_selection_rows(mixing: Option<usize>, id_valid_all_rows: bool) -> String {
    match mixing {
        Some(n) if id_valid_all_rows => format!(
            "{n} other validation rows, apart from those that selected FLIP_PLM's epoch \
             (FLIP_ID's was chosen on all of them)"
        ),
        Some(n) => {
            format!("{n} other validation rows, apart from those that selected the towers' epochs")
        }
        None => {
            "the same validation rows as the towers' epochs (the split has no others)".to_owned()
        }
    }
}

/// What a report is made of.
pub(crate) struct Inputs<'a> {
    pub meta: &'a Meta,
    pub settings: &'a FlipSettings,
    pub preset: &'a Preset,
    pub dir: &'a Path,
    /// Outcomes per row, in report order.
    pub rows: &'a [(String, Vec<SeedOutcome>)],
    pub timings: &'a [(String, f64)],
    /// Wall seconds of this invocation.
    pub seconds: f64,
    pub counts: RowCounts,
    /// How the language model was pooled.
    pub pooling: Pooling,
    pub prior: Prior,
    /// The ID tower as a click model before and after pretraining, when it started from one.
    pub id_tower_click: Option<IdTowerClick>,
    /// FLIP's mixture on the full test split in hindsight, per seed.
    pub mixtures: &'a [(u64, MixtureInHindsight)],
}

/// The prior: every row scored at the training rows' click rate.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Prior {
    pub click_rate: f64,
    /// LogLoss on the sampled test rows.
    pub test_logloss: f64,
    /// On the full test split, where the test rows are a sample.
    pub full_test_logloss: Option<f64>,
}

/// Test-AUC differences between two variants, matched by seed.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    /// The first variant's row.
    pub first: String,
    /// The second variant's row.
    pub second: String,
    /// (seed, first − second).
    pub per_seed: Vec<(u64, f64)>,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds (0 for one seed).
    pub std: f64,
}

pub(crate) fn build(input: &Inputs<'_>) -> Result<Report> {
    let (meta, settings) = (input.meta, input.settings);
    let backbone = settings.pretraining.backbone.name();
    let mut table = ResultsTable {
        title: String::new(),
        rows: Default::default(),
    };
    for (name, outcomes) in input.rows {
        table
            .rows
            .insert(name.clone(), ModelResult::new(name, outcomes.clone()));
    }
    let mut md = format!(
        "# FLIP on {} ({} split)\n\nTest AUC and LogLoss on {} sampled test rows (the same rows for every variant), mean ± standard deviation over seeds {:?}; \
         pretraining ran once (seed {}).\n\n| variant | test AUC | test LogLoss | best epoch | s / epoch | seeds |\n|---|---:|---:|---:|---:|---:|\n",
        meta.name,
        meta.recipe.split.protocol,
        input.counts.test,
        settings.seeds,
        settings.pretraining.pretrain.seed,
    );
    for (name, _) in input.rows {
        md.push_str(&table.rows[name].markdown_row());
    }
    let prior = input.prior;
    md.push_str(&format!(
        "\nThe prior, every row scored at the training click rate ({:.4}): test LogLoss {:.4}{}. A \
         variant whose LogLoss is near it has learned the base rate and little else.\n",
        prior.click_rate,
        prior.test_logloss,
        prior
            .full_test_logloss
            .map_or_else(String::new, |l| format!(", full test split {l:.4}")),
    ));
    if let Some(users) = input.counts.test_users {
        let all = users.seen + users.unseen;
        md.push_str(&format!(
            "\nThe full test split by user: {} of its {all} rows ({:.1}%) have a user out of the \
             training vocabulary (not seen in training, or seen fewer times than the recipe's \
             `min_count`), {} a user in it; the rows \"users seen in training\" and \"users not \
             seen in training\" score each part alone, with the same models.\n",
            users.unseen,
            100.0 * users.unseen as f64 / all as f64,
            users.seen,
        ));
    }
    let paired = paired_differences(input.rows, &comparisons(backbone, input.rows));
    if !paired.is_empty() {
        md.push_str(
            "\n## Paired by seed\n\nTest AUC of the first variant minus the second's, for the same seed \
             (the same data order and initialisation of the parts they share).\n\n\
             | comparison | per seed | mean ± sd | first better |\n|---|---|---:|---:|\n",
        );
        for p in &paired {
            md.push_str(&format!(
                "| {} − {} | {} | {:+.4} ± {:.4} | {}/{} |\n",
                p.first,
                p.second,
                p.per_seed
                    .iter()
                    .map(|(_, d)| format!("{d:+.4}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                p.mean,
                p.std,
                p.per_seed.iter().filter(|(_, d)| *d > 0.0).count(),
                p.per_seed.len()
            ));
        }
    }
    md.push_str(&mixtures_markdown(input.mixtures));
    let preset_settings = FlipSettings::from_preset(
        input.preset,
        settings.pretraining.backbone.clone(),
        settings.pretraining.plm.clone(),
    );
    let changed = differences(&preset_settings, settings)?;
    md.push_str("\n## Configuration\n\n");
    if !changed.is_empty() {
        md.push_str(&format!(
            "- settings over the preset (preset -> this run):\n```\n{}\n```\n",
            describe_differences(&changed)
        ));
    }
    let (id, ft) = (&settings.id_training, &settings.finetune);
    md.push_str(&format!(
        "- preset `{}`: {}\n- language model: {} ({} layers kept)\n- ID backbone: {}; FLIP_ID starts from {}\n- rows: {} train ({} sampled for the variants with the language model), {} validation and {} test sampled from {} and {}\n\
         - ID-only variants: Adam lr {}{}{}, batch {}, at most {} epochs, patience {}{}, the epoch chosen on {} (on the finetuning sample: the language-model variants' batch, epochs, patience and ID learning rate)\n- language-model variants: AdamW lr {} (language model) and {} (rest), weight decay {}, batch {}, at most {} epochs, patience {}; {} pooling{}\n\
         - FLIP protocol: {}\n",
        input.preset.name,
        input.preset.description,
        settings.pretraining.plm.display(),
        settings
            .pretraining
            .plm_layers
            .map_or_else(|| "all".to_owned(), |k| k.to_string()),
        backbone,
        if settings.pretrain_from_trained_id {
            format!(
                "{}; pretraining's ID tower started from {backbone} from scratch, seed {} \
                 (not the paper's protocol: the language model is aligned with a trained click \
                 model, and FLIP_ID continues a tower trained before)",
                id_start(settings),
                settings.pretraining.pretrain.seed
            )
        } else {
            id_start(settings)
        },
        input.counts.train,
        input.counts.train_sample,
        input.counts.valid,
        input.counts.test,
        meta.splits.valid.rows,
        meta.splits.test.rows,
        id.learning_rate,
        settings
            .flip_id_learning_rate
            .map_or_else(String::new, |lr| format!(" (FLIP_ID: {lr})")),
        settings
            .flip_id_embedding_learning_rate
            .map_or_else(String::new, |lr| format!(
                " (FLIP_ID's embedding tables: {lr})"
            )),
        id.batch_size,
        id.max_epochs,
        id.patience,
        settings.unseen_user_rate.map_or_else(String::new, |rate| format!(
            ", the user hidden behind its OOV id in {:.0}% of the training rows (drawn every epoch)",
            100.0 * rate
        )),
        if settings.id_valid_all_rows {
            format!("all {} validation rows", meta.splits.valid.rows)
        } else {
            format!("the {} sampled validation rows", input.counts.valid)
        },
        ft.plm_learning_rate,
        ft.learning_rate,
        ft.weight_decay,
        ft.batch_size,
        ft.max_epochs,
        ft.patience,
        input.pooling.name(),
        if ft.group_prompts {
            "; the plain language model and FLIP_PLM train on each distinct prompt of the \
             finetuning rows once an epoch, weighted by the rows that share it and labelled with \
             their click rate (batches and epochs count prompts)"
        } else {
            ""
        },
        match settings.joint {
            JointProtocol::Official => "official (both pretrained towers finetuned together on the finetuning sample, α from 0)".to_owned(),
            JointProtocol::Staged => format!(
                "staged (FLIP starts from this seed's FLIP_ID, finetuned on all rows, and FLIP_PLM; α chosen by validation AUC; then both towers finetuned together on the finetuning sample at the staged learning rate {} for at most {} epochs, the starting mixture kept when no epoch beats it; α and the epoch chosen on {})",
                ft.staged_learning_rate,
                ft.staged_max_epochs.unwrap_or(ft.max_epochs),
                flip_selection_rows(input.counts.mixing, settings.id_valid_all_rows)
            ),
        }
    ));
    if let Some(click) = &input.id_tower_click {
        md.push_str(&format!(
            "- {}: how far aligning moved it away from the click model it started as\n",
            click.describe()
        ));
    }
    md.push('\n');
    md.push_str("## Timings\n\n| phase | seconds |\n|---|---:|\n");
    for (phase, s) in input.timings {
        md.push_str(&format!("| {phase} | {} |\n", whole_seconds(*s)));
    }
    md.push_str(&format!(
        "| total of this invocation | {:.0} |\n\n",
        input.seconds
    ));
    md.push_str(&format!(
        "## Reproduce\n\n```\ncargo xtask train --dataset {} --protocol {} --settings {}\n```\n\n`settings.toml` holds every setting of this run (a document `--settings` takes back). Plots: `pretrain/pretrain-losses.png`, `pretrain/pretrain-accuracy.png`, `valid-auc.png`. Logs: one JSONL per variant and seed.\n",
        meta.name,
        meta.recipe.split.protocol,
        input.dir.join(super::settings::SETTINGS_FILE).display(),
    ));
    let json = serde_json::json!({
        "dataset": meta.name,
        "preset": input.preset,
        "settings": toml::from_str::<toml::Value>(&to_toml(settings)?)?,
        "table": table,
        "paired": paired,
        "prior": prior,
        "timings": input.timings,
        "seconds": input.seconds,
        "id_tower_click": input.id_tower_click,
        "flip_mixture_in_hindsight": input
            .mixtures
            .iter()
            .map(|(seed, m)| serde_json::json!({ "seed": seed, "mixture": m }))
            .collect::<Vec<_>>(),
    });
    Ok(Report {
        markdown: md,
        json,
        table,
        paired,
    })
}

/// What FLIP_ID starts from: the pretrained weights transferred and the fields drawn fresh.
fn id_start(settings: &FlipSettings) -> String {
    let transfer = settings.id_transfer.description();
    if settings.id_fresh_fields.is_empty() {
        transfer.to_owned()
    } else {
        format!(
            "{transfer}, except the embeddings of {} (drawn fresh)",
            settings.id_fresh_fields.join(", ")
        )
    }
}

/// A timing cell: whole seconds, or "unknown" for a time not recorded (NaN).
fn whole_seconds(seconds: f64) -> String {
    if seconds.is_finite() {
        format!("{seconds:.0}")
    } else {
        "unknown".to_owned()
    }
}

/// The section on FLIP's mixture in hindsight: per seed, the full test split's AUC at FLIP's
/// `α`, at the best `α` in hindsight and of each tower alone (empty without FLIP).
fn mixtures_markdown(mixtures: &[(u64, MixtureInHindsight)]) -> String {
    if mixtures.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## FLIP's mixture in hindsight\n\nFLIP's logit is `α z_id + (1 − α) z_plm`, its `α` chosen \
         on validation rows. Here its two towers are mixed at every `α` from 0 to 1 in steps of \
         0.01 on the full test split: the best `α` in hindsight is chosen with the labels it is \
         scored on, so it is not a result; it bounds what any mixing weight of these two towers \
         could gain on these rows.\n\n\
         | seed | FLIP's α | test AUC | best α in hindsight | its test AUC | ID tower alone (α = 1) | language model alone (α = 0) |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (seed, m) in mixtures {
        md.push_str(&format!(
            "| {seed} | {:.2} | {:.4} | {:.2} | {:.4} ({:+.4}) | {:.4} | {:.4} |\n",
            m.alpha,
            m.auc,
            m.best_alpha,
            m.best_auc,
            m.best_auc - m.id_alone,
            m.id_alone,
            m.plm_alone
        ));
    }
    md.push_str(
        "\n(In parentheses: the best mixture's gain over the ID tower alone. FLIP's ID tower is \
         FLIP_ID's when the staged protocol keeps the starting mixture.)\n",
    );
    md
}

/// The comparisons the paper's claims rest on, among the rows of `rows`: each FLIP_ID against
/// the backbone from scratch on the same rows, FLIP_PLM against the language model without
/// alignment, FLIP against the backbone from scratch and FLIP_ID on the full test split, and
/// FLIP against each tower finetuned on its rows.
fn comparisons(backbone: &str, rows: &[(String, Vec<SeedOutcome>)]) -> Vec<(String, String)> {
    let label = |v: Variant| v.label(backbone);
    let full = |v: Variant| v.full_test_label(backbone);
    let scratch = label(Variant::Scratch);
    let mut pairs = vec![
        (label(Variant::FlipId), scratch.clone()),
        (full(Variant::FlipId), full(Variant::Scratch)),
        (
            label(Variant::FlipIdOnSample),
            label(Variant::ScratchOnSample),
        ),
    ];
    let ablation = format!("{}, pretrained ", label(Variant::FlipId));
    pairs.extend(
        rows.iter()
            .filter(|(name, _)| name.starts_with(&ablation))
            .map(|(name, _)| (name.clone(), scratch.clone())),
    );
    pairs.push((label(Variant::FlipPlm), label(Variant::Plm)));
    pairs.push((full(Variant::FlipPlm), full(Variant::Plm)));
    pairs.push((full(Variant::Flip), full(Variant::Scratch)));
    pairs.push((full(Variant::Flip), full(Variant::FlipId)));
    let users = |v: Variant| v.user_labels(backbone);
    for (first, second) in [
        (Variant::FlipId, Variant::Scratch),
        (Variant::FlipPlm, Variant::Plm),
        (Variant::Flip, Variant::Scratch),
        (Variant::Flip, Variant::FlipId),
    ] {
        let (a, b) = (users(first), users(second));
        pairs.push((a.seen, b.seen));
        pairs.push((a.unseen, b.unseen));
    }
    pairs.push((label(Variant::Flip), label(Variant::FlipIdOnSample)));
    pairs.push((label(Variant::Flip), label(Variant::FlipPlm)));
    pairs
}

/// The comparisons of `pairs` whose two rows both ran, with the seeds they share.
fn paired_differences(
    rows: &[(String, Vec<SeedOutcome>)],
    pairs: &[(String, String)],
) -> Vec<Paired> {
    let outcomes = |name: &str| rows.iter().find(|(n, _)| n == name).map(|(_, o)| o);
    pairs
        .iter()
        .filter_map(|(first, second)| {
            let (a, b) = (outcomes(first)?, outcomes(second)?);
            let per_seed: Vec<(u64, f64)> = a
                .iter()
                .filter_map(|x| {
                    let y = b.iter().find(|y| y.seed == x.seed)?;
                    Some((x.seed, x.test.auc - y.test.auc))
                })
                .collect();
            if per_seed.is_empty() {
                return None;
            }
            let MeanStd { mean, std } =
                MeanStd::of(&per_seed.iter().map(|&(_, d)| d).collect::<Vec<_>>());
            Some(Paired {
                first: first.clone(),
                second: second.clone(),
                per_seed,
                mean,
                std,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::outcome;

    #[test]
    fn an_unrecorded_time_reads_unknown() {
        assert_eq!(whole_seconds(4667.4), "4667");
        assert_eq!(whole_seconds(f64::NAN), "unknown");
    }

    #[test]
    fn differences_are_matched_by_seed_and_missing_variants_skipped() {
        let rows = vec![
            (
                "FLIP_ID (fm)".to_owned(),
                vec![
                    outcome(2012, 0.75),
                    outcome(2013, 0.74),
                    outcome(2014, 0.70),
                ],
            ),
            (
                "fm from scratch".to_owned(),
                vec![outcome(2013, 0.73), outcome(2012, 0.76)],
            ),
        ];
        let paired = paired_differences(&rows, &comparisons("fm", &rows));
        assert_eq!(paired.len(), 1, "only FLIP_ID vs scratch ran");
        let p = &paired[0];
        assert_eq!(p.first, "FLIP_ID (fm)");
        assert_eq!(p.per_seed.len(), 2);
        assert!((p.per_seed[0].1 - -0.01).abs() < 1e-12 && (p.per_seed[1].1 - 0.01).abs() < 1e-12);
        assert!(p.mean.abs() < 1e-12);
        assert!((p.std - 0.02_f64.sqrt() * 0.1).abs() < 1e-12, "{}", p.std);
    }

    #[test]
    fn ablations_are_compared_with_the_backbone_from_scratch() {
        let rows = vec![
            (
                "FLIP_ID (fm), pretrained no-mlm".to_owned(),
                vec![outcome(2012, 0.70)],
            ),
            ("fm from scratch".to_owned(), vec![outcome(2012, 0.72)]),
        ];
        let paired = paired_differences(&rows, &comparisons("fm", &rows));
        assert_eq!(paired.len(), 1);
        assert_eq!(paired[0].second, "fm from scratch");
        assert!((paired[0].mean + 0.02).abs() < 1e-12);
    }
}
