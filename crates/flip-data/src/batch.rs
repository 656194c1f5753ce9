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
