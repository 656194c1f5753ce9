//! Rows that share a prompt, as one row each.
//!
//! A tower that reads only the prompt (the language model with a click head) gives every row
//! with the same tokens the same logit, so its loss over those rows is the row count times the
//! binary cross-entropy against their click rate. Training it on one row per distinct prompt,
//! weighted by the rows it stands for and labelled with their click rate, follows the same
//! gradient over an epoch at the cost of the distinct prompts: all of a split's rows for the
//! price of a few thousand where the template spells only the item.

use std::collections::HashMap;

use crate::store::SplitData;

/// One row per distinct token sequence of a split, with what the rows behind it say.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptGroups {
    /// The first row of each distinct prompt, in the order the prompts first occur; its ids
    /// and label are that row's (the ids of the others may differ, the tokens do not).
    pub data: SplitData,
    /// Rows of the split behind each group `[G]`.
    pub rows: Vec<f32>,
    /// Share of those rows that are clicks `[G]`, in `[0, 1]`.
    pub click_rate: Vec<f32>,
}

impl PromptGroups {
    /// Groups the rows of `split` by their exact token sequence.
    pub fn of(split: &SplitData) -> Self {
        let mut group_of: HashMap<&[u32], usize> = HashMap::new();
        let mut first_rows = Vec::new();
        let mut rows = Vec::new();
        let mut clicks = Vec::new();
        for r in 0..split.len() {
            let group = *group_of.entry(split.row_tokens(r)).or_insert_with(|| {
                first_rows.push(r);
                rows.push(0.0f32);
                clicks.push(0.0f32);
                first_rows.len() - 1
            });
            rows[group] += 1.0;
            clicks[group] += f32::from(split.labels[r]);
        }
        let click_rate = clicks.iter().zip(&rows).map(|(c, n)| c / n).collect();
        PromptGroups {
            data: split.subset(&first_rows),
            rows,
            click_rate,
        }
    }

    /// Number of groups (distinct prompts).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the split had no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Rows of the split the groups stand for.
    pub fn total_rows(&self) -> usize {
        self.rows.iter().map(|&n| n as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(prompts: &[&[u32]], labels: &[u8]) -> SplitData {
        let mut data = SplitData {
            num_fields: 1,
            token_offsets: vec![0],
            ..SplitData::default()
        };
        for (r, (tokens, &label)) in prompts.iter().zip(labels).enumerate() {
            data.ids.push(r as u32);
            data.labels.push(label);
            data.tokens.extend_from_slice(tokens);
            data.token_fields.extend(tokens.iter().map(|_| 0i8));
            data.token_offsets.push(data.tokens.len());
            data.source_rows.push(10 + r as u32);
        }
        data
    }

    #[test]
    fn rows_with_the_same_tokens_become_one_weighted_row_labelled_with_their_click_rate() {
        let a: &[u32] = &[101, 7, 8, 102];
        let b: &[u32] = &[101, 7, 102];
        // A prefix of another prompt is a prompt of its own.
        let c: &[u32] = &[101, 7, 8];
        let data = split(&[a, b, a, a, c, b, a], &[1, 0, 0, 1, 1, 0, 1]);
        let groups = PromptGroups::of(&data);
        assert_eq!(groups.len(), 3);
        assert_eq!(groups.total_rows(), 7);
        assert_eq!(groups.rows, vec![4.0, 2.0, 1.0]);
        assert_eq!(groups.click_rate, vec![0.75, 0.0, 1.0]);
        // Each group is its prompt's first row, in order of first occurrence.
        assert_eq!(groups.data.source_rows, vec![10, 11, 14]);
        assert_eq!(groups.data.ids, vec![0, 1, 4]);
        assert_eq!(groups.data.row_tokens(0), a);
        assert_eq!(groups.data.row_tokens(1), b);
        assert_eq!(groups.data.row_tokens(2), c);
    }

    #[test]
    fn distinct_prompts_stay_apart_and_an_empty_split_has_no_group() {
        let data = split(&[&[1, 2], &[2, 1], &[1, 2, 2]], &[0, 1, 1]);
        let groups = PromptGroups::of(&data);
        assert_eq!(groups.rows, vec![1.0; 3]);
        assert_eq!(groups.click_rate, vec![0.0, 1.0, 1.0]);
        assert_eq!(groups.data, data);
        let empty = PromptGroups::of(&split(&[], &[]));
        assert!(empty.is_empty());
        assert_eq!(empty.total_rows(), 0);
    }
}
