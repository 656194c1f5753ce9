//! Leak-free train/validation/test splits.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{DataError, Result};
use crate::recipe::{Protocol, SplitRule};

/// Share of rows that the `paper` protocol puts in train.
pub const PAPER_TRAIN_SHARE: f64 = 0.9;

/// Row indices of each split, each list in the order rows are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRows {
    /// Training rows.
    pub train: Vec<u32>,
    /// Validation rows (empty under the `paper` protocol, where validation is the test split).
    pub valid: Vec<u32>,
    /// Test rows.
    pub test: Vec<u32>,
}

impl SplitRows {
    /// True when validation is the test split (the `paper` protocol).
    pub fn valid_is_test(&self) -> bool {
        self.valid.is_empty()
    }
}

/// Divides `n` rows. `timestamps` (one per row) are required by `temporal`; `paper` uses them
/// when present.
pub fn split_rows(n: usize, timestamps: Option<&[i64]>, rule: &SplitRule) -> Result<SplitRows> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    match rule.protocol {
        Protocol::Temporal => {
            let t = timestamps.ok_or_else(|| {
                DataError::Data(
                    "the temporal split needs timestamps and this source has none; \
                     use `--protocol random` (or `protocol = \"random\"` in the recipe)"
                        .into(),
                )
            })?;
            order.sort_by_key(|&r| t[r as usize]); // stable: ties keep file order
        }
        Protocol::Random => order.shuffle(&mut ChaCha8Rng::seed_from_u64(rule.seed)),
        Protocol::Paper => {
            if let Some(t) = timestamps {
                order.sort_by_key(|&r| t[r as usize]);
            }
        }
    }
    let (train_end, valid_end) = match rule.protocol {
        Protocol::Paper => {
            let cut = (n as f64 * PAPER_TRAIN_SHARE).round() as usize;
            (cut, cut)
        }
        _ => {
            let [a, b, _] = rule.ratios;
            (
                (n as f64 * a).round() as usize,
                (n as f64 * (a + b)).round() as usize,
            )
        }
    };
    let rows = SplitRows {
        test: order[valid_end..].to_vec(),
        valid: order[train_end..valid_end].to_vec(),
        train: order[..train_end].to_vec(),
    };
    let too_small = rows.train.is_empty()
        || rows.test.is_empty()
        || (rule.protocol != Protocol::Paper && rows.valid.is_empty());
    if too_small {
        return Err(DataError::Data(format!(
            "{n} rows are too few to split {} ({} train, {} valid, {} test)",
            rule.protocol,
            rows.train.len(),
            rows.valid.len(),
            rows.test.len()
        )));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: Protocol) -> SplitRule {
        SplitRule {
            protocol,
            ..SplitRule::default()
        }
    }

    #[test]
    fn temporal_sorts_stably_and_cuts_8_1_1() {
        let t: Vec<i64> = vec![5, 1, 5, 0, 9, 3, 3, 7, 8, 2];
        let s = split_rows(10, Some(&t), &rule(Protocol::Temporal)).unwrap();
        assert_eq!(s.train, vec![3, 1, 9, 5, 6, 0, 2, 7]);
        assert_eq!(s.valid, vec![8]);
        assert_eq!(s.test, vec![4]);
        // no training row is later than a test row
        let last_train = s.train.iter().map(|&r| t[r as usize]).max().unwrap();
        assert!(s.test.iter().all(|&r| t[r as usize] >= last_train));
    }

    #[test]
    fn random_is_seeded_and_a_partition() {
        let a = split_rows(100, None, &rule(Protocol::Random)).unwrap();
        let b = split_rows(100, None, &rule(Protocol::Random)).unwrap();
        assert_eq!(a, b);
        let mut other = rule(Protocol::Random);
        other.seed = 7;
        assert_ne!(a, split_rows(100, None, &other).unwrap());
        let mut all: Vec<u32> = a
            .train
            .iter()
            .chain(&a.valid)
            .chain(&a.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!((a.train.len(), a.valid.len(), a.test.len()), (80, 10, 10));
    }

    #[test]
    fn paper_is_first_90_last_10_with_valid_as_test() {
        let s = split_rows(20, None, &rule(Protocol::Paper)).unwrap();
        assert_eq!(s.train, (0..18).collect::<Vec<_>>());
        assert_eq!(s.test, vec![18, 19]);
        assert!(s.valid_is_test());
    }

    #[test]
    fn temporal_without_time_and_tiny_inputs_are_refused() {
        let err = split_rows(10, None, &rule(Protocol::Temporal))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs timestamps"), "{err}");
        let err = split_rows(3, Some(&[1, 2, 3]), &rule(Protocol::Temporal))
            .unwrap_err()
            .to_string();
        assert!(err.contains("too few"), "{err}");
    }
}
