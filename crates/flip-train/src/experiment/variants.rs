//! The models an experiment finetunes, their names on disk and in reports, and the record a
//! finished one leaves for resume.

use flip_data::SplitData;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::user_segments::ByUser;
use crate::ctr::EpochRecord;
use crate::mixing::MixtureInHindsight;
use crate::report::SeedOutcome;

/// A pretraining ablation: one or two alignment losses switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ablation {
    /// Contrastive and MTM, no MLM.
    NoMlm,
    /// Contrastive and MLM, no MTM.
    NoMtm,
    /// The contrastive loss alone.
    IclOnly,
}

impl Ablation {
    /// Every ablation, in report order.
    pub const ALL: [Ablation; 3] = [Ablation::NoMlm, Ablation::NoMtm, Ablation::IclOnly];

    /// `no-mlm`, `no-mtm` or `icl-only`.
    pub fn name(self) -> &'static str {
        match self {
            Ablation::NoMlm => "no-mlm",
            Ablation::NoMtm => "no-mtm",
            Ablation::IclOnly => "icl-only",
        }
    }

    /// The (contrastive, MLM, MTM) loss weights.
    pub fn weights(self) -> [f64; 3] {
        match self {
            Ablation::NoMlm => [1.0, 0.0, 1.0],
            Ablation::NoMtm => [1.0, 1.0, 0.0],
            Ablation::IclOnly => [1.0, 0.0, 0.0],
        }
    }
}

/// One model of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The ID backbone from scratch, on all training rows.
    Scratch,
    /// The pretrained ID tower finetuned alone, on all training rows.
    FlipId,
    /// The backbone from scratch on the rows the language-model variants see.
    ScratchOnSample,
    /// FLIP_ID on the rows the language-model variants see.
    FlipIdOnSample,
    /// FLIP_ID from an ablated pretraining, on all training rows.
    FlipIdAblated(Ablation),
    /// The language model with a click head, without alignment pretraining.
    Plm,
    /// The pretrained language model with a click head.
    FlipPlm,
    /// Both pretrained towers, logits mixed by a learned weight.
    Flip,
}

impl Variant {
    /// Whether the variant runs the language model (finetuned on the sampled rows).
    pub fn uses_language_model(self) -> bool {
        matches!(self, Variant::Plm | Variant::FlipPlm | Variant::Flip)
    }

    /// The name of its files (`finished/<key>-seed<seed>.json`, `<key>-seed<seed>.jsonl`).
    pub fn key(self, backbone: &str) -> String {
        match self {
            Variant::Scratch => format!("{backbone}-scratch"),
            Variant::FlipId => "flip-id".into(),
            Variant::ScratchOnSample => format!("{backbone}-scratch-sample"),
            Variant::FlipIdOnSample => "flip-id-sample".into(),
            Variant::FlipIdAblated(a) => format!("flip-id-{}", a.name()),
            Variant::Plm => "plm".into(),
            Variant::FlipPlm => "flip-plm".into(),
            Variant::Flip => "flip".into(),
        }
    }

    /// Its row in the report (on the sampled test rows).
    pub fn label(self, backbone: &str) -> String {
        match self {
            Variant::Scratch => format!("{backbone} from scratch"),
            Variant::FlipId => format!("FLIP_ID ({backbone})"),
            Variant::ScratchOnSample => {
                format!("{backbone} from scratch, on the finetuning sample")
            }
            Variant::FlipIdOnSample => format!("FLIP_ID ({backbone}), on the finetuning sample"),
            Variant::FlipIdAblated(a) => format!("FLIP_ID ({backbone}), pretrained {}", a.name()),
            Variant::Plm => "language model finetuned, no alignment".into(),
            Variant::FlipPlm => "FLIP_PLM".into(),
            Variant::Flip => format!("FLIP ({backbone} + language model)"),
        }
    }

    /// Its row scored on the full test split (when the test rows are sampled).
    pub fn full_test_label(self, backbone: &str) -> String {
        format!("{}, full test split", self.label(backbone))
    }

    /// Its rows scored on the full test split's rows whose user was seen in training, and on
    /// those whose user was not.
    pub fn user_labels(self, backbone: &str) -> ByUser<String> {
        let full = self.full_test_label(backbone);
        ByUser {
            seen: format!("{full}, users seen in training"),
            unseen: format!("{full}, users not seen in training"),
        }
    }

    /// The variant whose random stream this one draws from: each pretrained variant shares
    /// that of the model it is compared with (FLIP_ID the backbone's from scratch, FLIP_PLM the
    /// plain language model's), so that the parts both draw fresh (a click head, dropout
    /// masks) start alike and a paired difference is the pretraining's, not the draw's.
    pub fn stream(self) -> Variant {
        match self {
            Variant::FlipId | Variant::FlipIdAblated(_) => Variant::Scratch,
            Variant::FlipIdOnSample => Variant::ScratchOnSample,
            Variant::FlipPlm => Variant::Plm,
            other => other,
        }
    }

    /// The random stream of the variant at `seed`, the same whatever ran before it in the
    /// process (FNV-1a of its [`Variant::stream`]'s key, mixed with the seed).
    pub fn seed(self, backbone: &str, seed: u64) -> u64 {
        let hash = self
            .stream()
            .key(backbone)
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        seed ^ hash
    }
}

/// What a finished variant leaves in `finished/<key>-seed<seed>.json`, so that a resumed run
/// skips it and still reports exactly what it measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    /// On the (sampled) test rows.
    pub outcome: SeedOutcome,
    /// On the full test split, where the sampled test rows are fewer.
    pub full: Option<SeedOutcome>,
    /// On the full test split's rows whose user was seen in training and on the others, where
    /// the split holds both (absent from records written before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_user: Option<ByUser<SeedOutcome>>,
    /// Validation AUC per epoch.
    pub curve: Vec<(f64, f64)>,
    /// Wall seconds of the variant.
    pub seconds: f64,
    /// FLIP only: its mixture on the full test split at its `α` and in hindsight (absent from
    /// records written before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixture: Option<MixtureInHindsight>,
}

/// Validation AUC per epoch.
pub fn curve(history: &[EpochRecord]) -> Vec<(f64, f64)> {
    history
        .iter()
        .map(|r| (r.epoch as f64, r.valid.auc))
        .collect()
}

/// The rows of a seeded sample of `n` of `len` rows, ascending (every row when `n` is none or
/// not smaller).
fn sampled_rows(len: usize, n: Option<usize>, seed: u64) -> Vec<usize> {
    match n {
        Some(n) if n < len => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut rows = rand::seq::index::sample(&mut rng, len, n).into_vec();
            rows.sort_unstable();
            rows
        }
        _ => (0..len).collect(),
    }
}

/// A seeded sample of `n` rows of `data`, in their original order (all rows when `n` is none
/// or not smaller).
pub fn sample(data: &SplitData, n: Option<usize>, seed: u64) -> SplitData {
    if n.is_none_or(|n| n >= data.len()) {
        return data.clone();
    }
    data.subset(&sampled_rows(data.len(), n, seed))
}

/// `n` rows of `data` (all when `n` is none) that [`sample`]`(data, taken, taken_seed)` does
/// not hold, drawn with `seed`, in their original order; `None` when fewer than `n` (or no)
/// rows are left.
pub fn sample_apart(
    data: &SplitData,
    n: Option<usize>,
    taken: Option<usize>,
    taken_seed: u64,
    seed: u64,
) -> Option<SplitData> {
    let taken = sampled_rows(data.len(), taken, taken_seed);
    let mut is_taken = vec![false; data.len()];
    for r in taken {
        is_taken[r] = true;
    }
    let rest: Vec<usize> = (0..data.len()).filter(|&r| !is_taken[r]).collect();
    if rest.is_empty() || n.is_some_and(|n| rest.len() < n) {
        return None;
    }
    let picked = sampled_rows(rest.len(), n, seed);
    Some(data.subset(&picked.iter().map(|&i| rest[i]).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(rows: usize) -> SplitData {
        SplitData {
            num_fields: 1,
            ids: (0..rows as u32).collect(),
            labels: vec![0; rows],
            token_offsets: vec![0; rows + 1],
            source_rows: (0..rows as u32).collect(),
            ..SplitData::default()
        }
    }

    #[test]
    fn rows_sampled_apart_never_meet_the_first_sample() {
        let data = numbered(100);
        let first = sample(&data, Some(30), 7);
        let apart = sample_apart(&data, Some(30), Some(30), 7, 8).expect("70 rows remain");
        assert_eq!((first.len(), apart.len()), (30, 30));
        for r in &apart.source_rows {
            assert!(!first.source_rows.contains(r), "row {r} in both samples");
        }
        assert!(
            apart.source_rows.windows(2).all(|w| w[0] < w[1]),
            "split order"
        );
        // Every row left when asked for all, none when fewer are left than asked for.
        let rest = sample_apart(&data, None, Some(30), 7, 8).expect("rows remain");
        assert_eq!(rest.len(), 70);
        assert!(sample_apart(&data, Some(71), Some(30), 7, 8).is_none());
        // The first sample is the whole split: nothing apart.
        assert!(sample_apart(&data, Some(10), None, 7, 8).is_none());
        assert!(sample_apart(&data, Some(10), Some(100), 7, 8).is_none());
        // Seeded.
        let again = sample_apart(&data, Some(30), Some(30), 7, 8).unwrap();
        assert_eq!(again.source_rows, apart.source_rows);
    }

    #[test]
    fn a_finished_record_from_before_the_user_split_reads_back_without_it() {
        let outcome = crate::report::tests::outcome(2012, 0.7);
        let before = Finished {
            outcome: outcome.clone(),
            full: None,
            by_user: None,
            curve: vec![(1.0, 0.7)],
            seconds: 1.0,
            mixture: None,
        };
        let text = serde_json::to_string(&before).unwrap();
        assert!(!text.contains("by_user"), "{text}");
        assert!(!text.contains("mixture"), "{text}");
        let back: Finished = serde_json::from_str(&text).unwrap();
        assert!(back.by_user.is_none());
        assert!(back.mixture.is_none());
        let seen = crate::report::tests::outcome(2012, 0.75);
        let after = Finished {
            by_user: Some(ByUser {
                seen,
                unseen: outcome,
            }),
            ..before
        };
        let back: Finished = serde_json::from_str(&serde_json::to_string(&after).unwrap()).unwrap();
        let by_user = back.by_user.expect("kept");
        assert_eq!(
            (by_user.seen.test.auc, by_user.unseen.test.auc),
            (0.75, 0.7)
        );
    }

    #[test]
    fn keys_and_streams() {
        // Finished records and the random streams of the variants without a pretrained part are
        // those of runs made before the library existed.
        assert_eq!(Variant::Scratch.key("dcnv2"), "dcnv2-scratch");
        assert_eq!(
            Variant::FlipIdAblated(Ablation::IclOnly).key("dcnv2"),
            "flip-id-icl-only"
        );
        let fnv = |name: &str| {
            name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        };
        assert_eq!(Variant::Flip.seed("fm", 2013), 2013 ^ fnv("flip"));
        assert_eq!(Variant::Plm.seed("fm", 2013), 2013 ^ fnv("plm"));
        assert_eq!(Variant::Scratch.seed("fm", 2013), 2013 ^ fnv("fm-scratch"));
        // Each pretrained variant draws what it does not load as its comparison does.
        assert_eq!(
            Variant::FlipPlm.seed("fm", 2013),
            Variant::Plm.seed("fm", 2013)
        );
        assert_eq!(
            Variant::FlipId.seed("fm", 2013),
            Variant::Scratch.seed("fm", 2013)
        );
        assert_eq!(
            Variant::FlipIdOnSample.seed("fm", 2014),
            Variant::ScratchOnSample.seed("fm", 2014)
        );
        assert_eq!(
            Variant::FlipIdAblated(Ablation::NoMlm).seed("fm", 2014),
            Variant::Scratch.seed("fm", 2014)
        );
        // FNV-1a of the empty string is its offset basis; of "a", a published value.
        assert_eq!(fnv(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
