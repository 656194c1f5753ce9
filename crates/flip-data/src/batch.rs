//! Batches for training and scoring: rows of a [`SplitData`] gathered into flat row-major
//! buffers, prompts right-padded to the longest prompt of the batch (or a fixed length).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::store::SplitData;

/// How prompts are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// To the longest prompt in the batch (less work for the language model).
    Longest,
    /// To a fixed length (the official code pads to 100); longer prompts are not cut, since
    /// preparation already limited them to `max_len`.
    Fixed(usize),
}

/// One batch, host side. `B` rows, `M` fields, `L` tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Rows (B).
    pub size: usize,
    /// Fields per row (M).
    pub num_fields: usize,
    /// Token positions per row after padding (L).
    pub seq_len: usize,
    /// Global feature ids `[B, M]`.
    pub ids: Vec<i64>,
    /// Labels `[B]`, 0.0 or 1.0.
    pub labels: Vec<f32>,
    /// Token ids `[B, L]`, padded with the tokenizer's pad id.
    pub tokens: Vec<i64>,
    /// `[B, L]`: true on real tokens, false on padding (Hugging Face convention).
    pub attention_mask: Vec<bool>,
    /// `[B, L]`: field of each token, -1 for template words, special tokens and padding.
    pub token_fields: Vec<i64>,
    /// Row index of each batch row in its split `[B]`.
    pub rows: Vec<usize>,
}

impl Batch {
    /// Rows `range` of the batch, with the same padded length (a data-parallel shard).
    ///
    /// # Panics
    /// When `range` reaches past the batch.
    pub fn slice_rows(&self, range: std::ops::Range<usize>) -> Batch {
        assert!(
            range.end <= self.size,
            "rows {range:?} of a batch of {}",
            self.size
        );
        let (m, l) = (self.num_fields, self.seq_len);
        Batch {
            size: range.len(),
            num_fields: m,
            seq_len: l,
            ids: self.ids[range.start * m..range.end * m].to_vec(),
            labels: self.labels[range.clone()].to_vec(),
            tokens: self.tokens[range.start * l..range.end * l].to_vec(),
            attention_mask: self.attention_mask[range.start * l..range.end * l].to_vec(),
            token_fields: self.token_fields[range.start * l..range.end * l].to_vec(),
            rows: self.rows[range].to_vec(),
        }
    }
}

/// Iterates over a split in batches.
pub struct Batcher<'a> {
    data: &'a SplitData,
    order: Vec<usize>,
    batch_size: usize,
    padding: Padding,
    pad_id: u32,
    next: usize,
}

impl<'a> Batcher<'a> {
    /// Batches of `batch_size` rows in split order (the last one may be smaller).
    pub fn new(data: &'a SplitData, batch_size: usize, padding: Padding, pad_id: u32) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        Batcher {
            data,
            order: (0..data.len()).collect(),
            batch_size,
            padding,
            pad_id,
            next: 0,
        }
    }

    /// Visits rows in a seeded random order instead.
    pub fn shuffled(mut self, seed: u64) -> Self {
        self.order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        self
    }

    /// Visits rows from the shortest prompt to the longest (ties in the current order), so
    /// that each batch pads little: for scoring, where the order does not matter. Each
    /// batch's [`Batch::rows`] says where its rows belong.
    pub fn by_length(mut self) -> Self {
        let data = self.data;
        self.order.sort_by_key(|&r| data.row_tokens(r).len());
        self
    }

    /// Groups rows of similar prompt length into the same batches while keeping the visit
    /// random (for training; call after [`Batcher::shuffled`]): the current order is cut into
    /// windows of `window_batches` batches, each window sorted by prompt length and cut into
    /// batches, and then the full batches are visited in a seeded random order (a short last
    /// batch stays last). With `window_batches` 1 the batches keep their rows and only their
    /// order changes.
    ///
    /// # Panics
    /// When `window_batches` is 0.
    pub fn bucketed(mut self, window_batches: usize, seed: u64) -> Self {
        assert!(window_batches > 0, "a window holds at least one batch");
        let data = self.data;
        let size = self.batch_size;
        for window in self.order.chunks_mut(size * window_batches) {
            window.sort_by_key(|&r| data.row_tokens(r).len());
        }
        let full = self.order.len() / size;
        let mut visit: Vec<usize> = (0..full).collect();
        visit.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mut order = Vec::with_capacity(self.order.len());
        for b in visit {
            order.extend_from_slice(&self.order[b * size..(b + 1) * size]);
        }
        order.extend_from_slice(&self.order[full * size..]);
        self.order = order;
        self
    }

    /// Number of batches.
    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Gathers the given rows into a batch.
    pub fn gather(&self, rows: &[usize]) -> Batch {
        let d = self.data;
        let m = d.num_fields;
        let longest = rows
            .iter()
            .map(|&r| d.row_tokens(r).len())
            .max()
            .unwrap_or(0);
        let seq_len = match self.padding {
            Padding::Longest => longest,
            Padding::Fixed(len) => len.max(longest),
        };
        let b = rows.len();
        let mut batch = Batch {
            size: b,
            num_fields: m,
            seq_len,
            ids: Vec::with_capacity(b * m),
            labels: Vec::with_capacity(b),
            tokens: vec![i64::from(self.pad_id); b * seq_len],
            attention_mask: vec![false; b * seq_len],
            token_fields: vec![-1; b * seq_len],
            rows: rows.to_vec(),
        };
        for (i, &r) in rows.iter().enumerate() {
            batch
                .ids
                .extend(d.row_ids(r).iter().map(|&id| i64::from(id)));
            batch.labels.push(f32::from(d.labels[r]));
            let start = i * seq_len;
            for (j, (&t, &f)) in d
                .row_tokens(r)
                .iter()
                .zip(d.row_token_fields(r))
                .enumerate()
            {
                batch.tokens[start + j] = i64::from(t);
                batch.attention_mask[start + j] = true;
                batch.token_fields[start + j] = i64::from(f);
            }
        }
        batch
    }
}

impl Iterator for Batcher<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let rows = self.order[self.next..end].to_vec();
        self.next = end;
        Some(self.gather(&rows))
    }
}

#[cfg(feature = "burn")]
mod tensors {
    use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

    use super::Batch;

    /// A batch on a burn device.
    #[derive(Debug, Clone)]
    pub struct TensorBatch {
        /// Global feature ids `[B, M]`.
        pub ids: Tensor<2, Int>,
        /// Labels `[B]`.
        pub labels: Tensor<1>,
        /// Token ids `[B, L]`.
        pub tokens: Tensor<2, Int>,
        /// `[B, L]`, true on real tokens.
        pub attention_mask: Tensor<2, Bool>,
        /// `[B, L]`, field of each token or -1.
        pub token_fields: Tensor<2, Int>,
    }

    impl Batch {
        /// Copies the batch to `device`.
        pub fn to_tensors(&self, device: &Device) -> TensorBatch {
            let (b, m, l) = (self.size, self.num_fields, self.seq_len);
            TensorBatch {
                ids: Tensor::from_data(TensorData::new(self.ids.clone(), [b, m]), device),
                labels: Tensor::from_data(TensorData::new(self.labels.clone(), [b]), device),
                tokens: Tensor::from_data(TensorData::new(self.tokens.clone(), [b, l]), device),
                attention_mask: Tensor::from_data(
                    TensorData::new(self.attention_mask.clone(), [b, l]),
                    device,
                ),
                token_fields: Tensor::from_data(
                    TensorData::new(self.token_fields.clone(), [b, l]),
                    device,
                ),
            }
        }
    }
}

#[cfg(feature = "burn")]
pub use tensors::TensorBatch;

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> SplitData {
        SplitData {
            num_fields: 2,
            ids: vec![3, 10, 4, 11, 5, 12],
            labels: vec![1, 0, 1],
            token_offsets: vec![0, 4, 7, 12],
            tokens: vec![2, 9, 9, 3, 2, 8, 3, 2, 7, 7, 7, 3],
            token_fields: vec![-1, 0, 1, -1, -1, 0, -1, -1, 0, 0, 1, -1],
            source_rows: vec![0, 1, 2],
        }
    }

    #[test]
    fn pads_to_longest_with_mask_and_fields() {
        let d = data();
        let batcher = Batcher::new(&d, 2, Padding::Longest, 0);
        assert_eq!(batcher.num_batches(), 2);
        let batches: Vec<Batch> = batcher.collect();
        assert_eq!(batches.len(), 2);
        let b = &batches[0];
        assert_eq!((b.size, b.num_fields, b.seq_len), (2, 2, 4));
        assert_eq!(b.ids, vec![3, 10, 4, 11]);
        assert_eq!(b.labels, vec![1.0, 0.0]);
        assert_eq!(b.tokens, vec![2, 9, 9, 3, 2, 8, 3, 0]);
        assert_eq!(
            b.attention_mask,
            vec![true, true, true, true, true, true, true, false]
        );
        assert_eq!(b.token_fields, vec![-1, 0, 1, -1, -1, 0, -1, -1]);
        assert_eq!(batches[1].seq_len, 5);
        assert_eq!(batches[1].rows, vec![2]);
    }

    #[test]
    fn row_slices_keep_the_padded_length() {
        let d = data();
        let b = Batcher::new(&d, 3, Padding::Longest, 0).next().unwrap();
        let tail = b.slice_rows(1..3);
        assert_eq!((tail.size, tail.num_fields, tail.seq_len), (2, 2, 5));
        assert_eq!(tail.ids, vec![4, 11, 5, 12]);
        assert_eq!(tail.labels, vec![0.0, 1.0]);
        assert_eq!(tail.tokens, vec![2, 8, 3, 0, 0, 2, 7, 7, 7, 3]);
        assert_eq!(tail.attention_mask[..5], [true, true, true, false, false]);
        assert_eq!(tail.token_fields[5..], [-1, 0, 0, 1, -1]);
        assert_eq!(tail.rows, vec![1, 2]);
        assert_eq!(b.slice_rows(0..0).size, 0);
    }

    /// Six rows of prompt lengths 5, 2, 6, 3, 4, 2.
    fn varied_lengths() -> SplitData {
        let lengths = [5usize, 2, 6, 3, 4, 2];
        let mut offsets = vec![0];
        for l in lengths {
            offsets.push(offsets.last().unwrap() + l);
        }
        let total = *offsets.last().unwrap();
        SplitData {
            num_fields: 1,
            ids: (0..6).collect(),
            labels: vec![0, 1, 0, 1, 0, 1],
            token_offsets: offsets,
            tokens: vec![7; total],
            token_fields: vec![0; total],
            source_rows: (0..6).collect(),
        }
    }

    #[test]
    fn scoring_by_length_pads_least_and_names_each_row() {
        let d = varied_lengths();
        let batches: Vec<Batch> = Batcher::new(&d, 2, Padding::Longest, 0)
            .by_length()
            .collect();
        let rows: Vec<Vec<usize>> = batches.iter().map(|b| b.rows.clone()).collect();
        // Lengths 2, 2 | 3, 4 | 5, 6: ties keep split order.
        assert_eq!(rows, vec![vec![1, 5], vec![3, 4], vec![0, 2]]);
        let lens: Vec<usize> = batches.iter().map(|b| b.seq_len).collect();
        assert_eq!(lens, vec![2, 4, 6]);
        // Padded positions: 0 + 1 + 1, against 3 + 3 + 2 in split order.
        let padding = |bs: &[Batch]| -> usize {
            bs.iter()
                .map(|b| b.attention_mask.iter().filter(|m| !**m).count())
                .sum()
        };
        let plain: Vec<Batch> = Batcher::new(&d, 2, Padding::Longest, 0).collect();
        assert_eq!((padding(&batches), padding(&plain)), (2, 8));
    }

    #[test]
    fn buckets_sort_each_window_and_shuffle_whole_batches() {
        let d = varied_lengths();
        let batches = |window: usize, seed: u64| -> Vec<Vec<usize>> {
            Batcher::new(&d, 2, Padding::Longest, 0)
                .bucketed(window, seed)
                .map(|b| b.rows)
                .collect()
        };
        // One window of all three batches: sorted 1, 5 | 3, 4 | 0, 2, then visited in a
        // seeded order; every row once.
        for seed in 0..8 {
            let mut got = batches(3, seed);
            assert_eq!(got, batches(3, seed), "seeded");
            got.sort();
            assert_eq!(got, vec![vec![0, 2], vec![1, 5], vec![3, 4]]);
        }
        // Windows of one batch keep the batches of the plain order (rows sorted inside).
        let mut got = batches(1, 5);
        got.sort();
        assert_eq!(got, vec![vec![1, 0], vec![3, 2], vec![5, 4]]);
        // Some seed visits the batches in another order than the sorted one.
        assert!((0..8).any(|seed| batches(3, seed)[0] != vec![1, 5]));
        // Seven rows in batches of 2: the short batch (the last window's longest row) stays last.
        let mut d7 = varied_lengths();
        d7.ids.push(6);
        d7.labels.push(0);
        d7.token_offsets.push(d7.token_offsets.last().unwrap() + 1);
        d7.tokens.push(7);
        d7.token_fields.push(0);
        d7.source_rows.push(6);
        let got: Vec<Vec<usize>> = Batcher::new(&d7, 2, Padding::Longest, 0)
            .bucketed(4, 1)
            .map(|b| b.rows)
            .collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], vec![2]);
    }

    #[test]
    fn fixed_padding_and_seeded_shuffle() {
        let d = data();
        let b = Batcher::new(&d, 3, Padding::Fixed(8), 1).next().unwrap();
        assert_eq!(b.seq_len, 8);
        assert_eq!(&b.tokens[4..8], &[1, 1, 1, 1]);
        let a: Vec<usize> = Batcher::new(&d, 1, Padding::Longest, 0)
            .shuffled(3)
            .flat_map(|b| b.rows)
            .collect();
        let again: Vec<usize> = Batcher::new(&d, 1, Padding::Longest, 0)
            .shuffled(3)
            .flat_map(|b| b.rows)
            .collect();
        assert_eq!(a, again);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2]);
    }
}
