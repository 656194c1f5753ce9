//! Unseen-value dropout for ID-model training: a training row's value of a chosen field is
//! replaced, at random, by the field's OOV id, so that the model learns to score rows whose
//! value it never saw. On a temporal split most test users can be new (ML-100K: 86% of the
//! test rows); they all read the user field's OOV embedding row, which no training row reaches
//! otherwise (every training value is in the vocabulary), so that row keeps its initial draw
//! and the layers never see it. (Measured on MovieLens' temporal splits, hiding 10% of the
//! users costs the models on exactly those new users: docs/results.md.)

use rand::Rng;
use serde::{Deserialize, Serialize};

/// One field whose training values are hidden behind its OOV id at random (an experiment
/// builds the user field's with [`crate::experiment::UserField::dropout`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OovDropout {
    /// Column of the field in the rows' ids (`[rows, M]`), 0-based.
    pub field: usize,
    /// The field's global OOV id ([`flip_data::vocab::FieldVocab::oov_id`]).
    pub oov_id: u32,
    /// Probability that a training row's value is replaced, in `[0, 1)`.
    pub rate: f64,
}

/// Replaces in `ids` (`[B, M]` row-major global ids as a batch holds them, `M = num_fields`)
/// each row's value of each field of `dropouts` by that field's OOV id, with the field's rate;
/// one draw from `rng` per row and field, in row order.
///
/// # Panics
/// When a dropout's field is not below `num_fields` (checked by the trainer beforehand).
pub fn hide_values(
    ids: &mut [i64],
    num_fields: usize,
    dropouts: &[OovDropout],
    rng: &mut impl Rng,
) {
    if dropouts.is_empty() {
        return;
    }
    for row in ids.chunks_exact_mut(num_fields) {
        for d in dropouts {
            if rng.random::<f64>() < d.rate {
                row[d.field] = i64::from(d.oov_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn the_share_hidden_follows_the_rate_and_only_that_field_changes() {
        // 20,000 rows of three fields; field 1 hidden at 0.25 behind id 4.
        let rows = 20_000;
        let original: Vec<i64> = (0..rows).flat_map(|r| [10, 100 + r as i64, 7]).collect();
        let mut ids = original.clone();
        let dropouts = [OovDropout {
            field: 1,
            oov_id: 4,
            rate: 0.25,
        }];
        hide_values(&mut ids, 3, &dropouts, &mut ChaCha8Rng::seed_from_u64(1));
        let mut hidden = 0;
        for (new, old) in ids.chunks_exact(3).zip(original.chunks_exact(3)) {
            assert_eq!((new[0], new[2]), (old[0], old[2]), "other fields untouched");
            if new[1] == 4 {
                hidden += 1;
            } else {
                assert_eq!(new[1], old[1]);
            }
        }
        // Binomial(20,000, 0.25): sd 61; 5 sd either side.
        assert!((4_695..=5_305).contains(&hidden), "{hidden} hidden");
    }

    #[test]
    fn rate_zero_and_no_dropout_leave_the_ids_alone() {
        let original: Vec<i64> = (0..300).collect();
        let mut ids = original.clone();
        let zero = [OovDropout {
            field: 0,
            oov_id: 1,
            rate: 0.0,
        }];
        hide_values(&mut ids, 3, &zero, &mut ChaCha8Rng::seed_from_u64(1));
        hide_values(&mut ids, 3, &[], &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(ids, original);
    }
}
