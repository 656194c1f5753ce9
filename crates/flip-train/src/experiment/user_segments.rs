//! The test rows split by whether their user was seen in training. On a temporal split most
//! test users can be new (ML-100K: 86% of the test rows, ML-1M: 19%), and a model's gain on
//! users it has seen says nothing about those it has not: pretraining that shapes the user
//! embeddings can only help the first.

use anyhow::{Context, Result};
use flip_data::recipe::Role;
use flip_data::{PreparedDataset, SplitData};
use serde::{Deserialize, Serialize};

use crate::ctr::Evaluation;
use crate::oov_dropout::OovDropout;

/// Rows of one split by whether their user id is in the training vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSegments {
    /// Rows whose user was seen in training, ascending.
    pub seen: Vec<usize>,
    /// Rows whose user id is out of the training vocabulary (never seen in training, or
    /// fewer times than the recipe's `min_count`), ascending.
    pub unseen: Vec<usize>,
}

/// Something measured on both segments of [`UserSegments`] (metrics, a seed's outcome).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ByUser<T> {
    /// On the rows whose user was seen in training.
    pub seen: T,
    /// On the rows whose user was not.
    pub unseen: T,
}

impl<T> ByUser<T> {
    /// Both segments' values through `f`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> ByUser<U> {
        ByUser {
            seen: f(self.seen),
            unseen: f(self.unseen),
        }
    }
}

impl UserSegments {
    /// `data`'s rows by the id in column `user_field` (`[rows, M]` ids): the user field's
    /// OOV id `oov_id` marks a user not seen in training.
    pub fn of(data: &SplitData, user_field: usize, oov_id: u32) -> Self {
        let m = data.num_fields;
        let (unseen, seen): (Vec<usize>, Vec<usize>) =
            (0..data.len()).partition(|&r| data.ids[r * m + user_field] == oov_id);
        UserSegments { seen, unseen }
    }

    /// The segments of `data` (a split of `dataset`): `None` when the recipe names no user
    /// field, or when every row falls in one segment (a random split, where every test user
    /// was seen in training).
    pub fn of_dataset(dataset: &PreparedDataset, data: &SplitData) -> Result<Option<Self>> {
        let Some(user) = UserField::of_dataset(dataset)? else {
            return Ok(None);
        };
        let segments = Self::of(data, user.column, user.oov_id);
        Ok((!segments.seen.is_empty() && !segments.unseen.is_empty()).then_some(segments))
    }

    /// Both segments' metrics of `probs` (click probabilities, one per row of the split the
    /// segments were drawn from, whose labels are `labels`).
    pub fn evaluate(&self, labels: &[u8], probs: &[f32]) -> ByUser<Evaluation> {
        let on = |rows: &[usize]| {
            let labels: Vec<u8> = rows.iter().map(|&r| labels[r]).collect();
            let probs: Vec<f32> = rows.iter().map(|&r| probs[r]).collect();
            Evaluation::of(&labels, &probs)
        };
        ByUser {
            seen: on(&self.seen),
            unseen: on(&self.unseen),
        }
    }
}

/// The recipe's user field (`role = "user"`) in a prepared dataset's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserField {
    /// Its column in the rows' ids (`[rows, M]`).
    pub column: usize,
    /// Its global OOV id: the id of every user not seen in training.
    pub oov_id: u32,
}

impl UserField {
    /// The user field of `dataset`, `None` when its recipe names none.
    pub fn of_dataset(dataset: &PreparedDataset) -> Result<Option<Self>> {
        let fields = &dataset.meta().recipe.fields;
        let Some(column) = fields.iter().position(|f| f.role == Some(Role::User)) else {
            return Ok(None);
        };
        let vocab = dataset.vocab()?;
        let oov_id = vocab
            .fields
            .get(column)
            .with_context(|| {
                format!(
                    "{}: the vocabulary has no field {column} ({}, the recipe's user field)",
                    dataset.dir().display(),
                    fields[column].name
                )
            })?
            .oov_id();
        Ok(Some(UserField { column, oov_id }))
    }

    /// Training rows' users hidden behind this field's OOV id at `rate`.
    pub fn dropout(self, rate: f64) -> OovDropout {
        OovDropout {
            field: self.column,
            oov_id: self.oov_id,
            rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(users: &[u32], labels: &[u8]) -> SplitData {
        // Two fields: the user, then an item that is the same for every row.
        let ids = users.iter().flat_map(|&u| [u, 100]).collect();
        SplitData {
            num_fields: 2,
            ids,
            labels: labels.to_vec(),
            token_offsets: vec![0; users.len() + 1],
            tokens: Vec::new(),
            token_fields: Vec::new(),
            source_rows: (0..users.len() as u32).collect(),
        }
    }

    #[test]
    fn rows_with_the_oov_user_are_the_unseen_segment() {
        let data = split(&[5, 1, 7, 1, 9], &[1, 0, 0, 1, 1]);
        let segments = UserSegments::of(&data, 0, 1);
        assert_eq!(segments.seen, vec![0, 2, 4]);
        assert_eq!(segments.unseen, vec![1, 3]);
    }

    #[test]
    fn each_segment_is_scored_on_its_own_rows() {
        let data = split(&[5, 1, 7, 1, 9, 1], &[1, 0, 0, 1, 1, 0]);
        let segments = UserSegments::of(&data, 0, 1);
        // Seen rows 0, 2, 4: labels 1, 0, 1, scores 0.9, 0.2, 0.4: both positives above the
        // negative, AUC 1. Unseen rows 1, 3, 5: labels 0, 1, 0, scores 0.6, 0.5, 0.3: the
        // positive is above one of the two negatives, AUC 0.5.
        let probs = [0.9, 0.6, 0.2, 0.5, 0.4, 0.3];
        let by_user = segments.evaluate(&data.labels, &probs);
        assert_eq!(by_user.seen.rows, 3);
        assert_eq!(by_user.unseen.rows, 3);
        assert!((by_user.seen.auc - 1.0).abs() < 1e-12);
        assert!((by_user.unseen.auc - 0.5).abs() < 1e-12);
        let seen_logloss = -((0.9f64).ln() + (0.8f64).ln() + (0.4f64).ln()) / 3.0;
        assert!((by_user.seen.logloss - seen_logloss).abs() < 1e-6);
        let unseen_logloss = -((0.4f64).ln() + (0.5f64).ln() + (0.7f64).ln()) / 3.0;
        assert!((by_user.unseen.logloss - unseen_logloss).abs() < 1e-6);
    }
}
