//! Field-level joint masking, drawn on the host from seeded random streams.
//!
//! Text: per row, `k = max(1, ⌊M · ratio⌋)` of the fields that have tokens in the row are
//! chosen and every token of their value spans becomes the tokenizer's mask token; the MLM
//! targets are the original ids there. Template words, punctuation and special tokens carry no
//! field and are never masked. A field whose value was truncated away has no tokens and cannot
//! be chosen; a row with no field tokens at all gets no text mask.
//!
//! Tabular: per row, `k` of the M fields are chosen and their ids replaced by the field's
//! reserved MASK id (`offset + 2`, never a real feature and never id 0, unlike the official
//! code); the positions and true ids are the MTM targets.
//!
//! The two choices are independent by default, each from its own stream; with `same_fields`
//! one draw of `k` fields serves both (text masks those of them that have tokens). Every batch
//! derives its streams from `(seed, step)`, so a resumed run draws exactly the same masks.

use flip_data::Batch;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

/// Masking settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskConfig {
    /// Share of fields masked in the text. Default 0.15.
    pub text_ratio: f64,
    /// Share of fields masked in the ids. Default 0.15.
    pub tabular_ratio: f64,
    /// Mask the same fields in both views. Default false.
    pub same_fields: bool,
    /// Seed of both streams. Default 2012.
    pub seed: u64,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            text_ratio: 0.15,
            tabular_ratio: 0.15,
            same_fields: false,
            seed: 2012,
        }
    }
}

/// A batch's masked views and targets, row-major host buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedBatch {
    /// Ids with the chosen fields replaced by their MASK id `[B, M]`.
    pub masked_ids: Vec<i64>,
    /// Fields masked in the ids, per row `[B, k]`.
    pub tabular_fields: Vec<i64>,
    /// Their true global ids `[B, k]`.
    pub tabular_targets: Vec<i64>,
    /// Fields masked per row (`k`).
    pub k: usize,
    /// Tokens with the chosen value spans replaced by the mask token `[B, L]`.
    pub masked_tokens: Vec<i64>,
    /// Flat positions `b · L + l` of the masked tokens `[N]`.
    pub mlm_positions: Vec<i64>,
    /// Their original token ids `[N]`.
    pub mlm_targets: Vec<i64>,
}

impl MaskedBatch {
    /// Rows `range` of the masks of a batch of `num_fields` fields and `seq_len` positions (a
    /// data-parallel share), with the MLM positions renumbered within the share.
    pub fn slice_rows(
        &self,
        range: std::ops::Range<usize>,
        num_fields: usize,
        seq_len: usize,
    ) -> MaskedBatch {
        let (m, l, k) = (num_fields, seq_len, self.k);
        let (first, end) = ((range.start * l) as i64, (range.end * l) as i64);
        let (mlm_positions, mlm_targets) = self
            .mlm_positions
            .iter()
            .zip(&self.mlm_targets)
            .filter(|&(&p, _)| (first..end).contains(&p))
            .map(|(&p, &t)| (p - first, t))
            .unzip();
        MaskedBatch {
            masked_ids: self.masked_ids[range.start * m..range.end * m].to_vec(),
            tabular_fields: self.tabular_fields[range.start * k..range.end * k].to_vec(),
            tabular_targets: self.tabular_targets[range.start * k..range.end * k].to_vec(),
            k,
            masked_tokens: self.masked_tokens[range.start * l..range.end * l].to_vec(),
            mlm_positions,
            mlm_targets,
        }
    }
}

/// Draws masks for batches of one dataset.
#[derive(Debug, Clone)]
pub struct FieldMasker {
    config: MaskConfig,
    /// MASK id of each field (`offset + 2`).
    mask_ids: Vec<i64>,
    mask_token: i64,
}

/// Fields masked per row for `num_fields` fields at `ratio`.
pub fn fields_per_row(num_fields: usize, ratio: f64) -> usize {
    ((num_fields as f64 * ratio).floor() as usize).clamp(1, num_fields)
}

/// SplitMix64, to derive independent stream seeds from (seed, stream, step).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl FieldMasker {
    /// A masker for fields whose MASK ids are `mask_ids` (one per field) and a tokenizer whose
    /// mask token is `mask_token`.
    pub fn new(config: MaskConfig, mask_ids: Vec<i64>, mask_token: u32) -> Self {
        FieldMasker {
            config,
            mask_ids,
            mask_token: i64::from(mask_token),
        }
    }

    fn stream(&self, stream: u64, step: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(mix(mix(self.config.seed ^ mix(stream)) ^ step))
    }

    /// Masks `batch`, the `step`-th batch of the run (any counter that never repeats).
    pub fn mask(&self, batch: &Batch, step: u64) -> MaskedBatch {
        let (b, m, l) = (batch.size, batch.num_fields, batch.seq_len);
        assert_eq!(self.mask_ids.len(), m, "one MASK id per field");
        let k = fields_per_row(m, self.config.tabular_ratio);
        let k_text = fields_per_row(m, self.config.text_ratio);
        let (mut text_rng, mut tab_rng) = (self.stream(1, step), self.stream(2, step));
        let mut out = MaskedBatch {
            masked_ids: batch.ids.clone(),
            tabular_fields: Vec::with_capacity(b * k),
            tabular_targets: Vec::with_capacity(b * k),
            k,
            masked_tokens: batch.tokens.clone(),
            mlm_positions: Vec::new(),
            mlm_targets: Vec::new(),
        };
        for row in 0..b {
            let fields_of_tokens = &batch.token_fields[row * l..(row + 1) * l];
            let tab_fields: Vec<usize> = sample(&mut tab_rng, m, k).into_vec();
            let text_fields: Vec<usize> = if self.config.same_fields {
                tab_fields.clone()
            } else {
                let mut present: Vec<usize> = fields_of_tokens
                    .iter()
                    .filter(|&&f| f >= 0)
                    .map(|&f| f as usize)
                    .collect();
                present.sort_unstable();
                present.dedup();
                let take = k_text.min(present.len());
                sample(&mut text_rng, present.len(), take)
                    .into_iter()
                    .map(|i| present[i])
                    .collect()
            };
            for &f in &tab_fields {
                let at = row * m + f;
                out.tabular_fields.push(f as i64);
                out.tabular_targets.push(batch.ids[at]);
                out.masked_ids[at] = self.mask_ids[f];
            }
            for (col, &f) in fields_of_tokens.iter().enumerate() {
                if f >= 0 && text_fields.contains(&(f as usize)) {
                    let at = row * l + col;
                    out.mlm_positions.push(at as i64);
                    out.mlm_targets.push(batch.tokens[at]);
                    out.masked_tokens[at] = self.mask_token;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rows of 4 fields (offsets 0, 10, 20, 30); 7 tokens each.
    fn batch() -> Batch {
        Batch {
            size: 2,
            num_fields: 4,
            seq_len: 7,
            ids: vec![3, 13, 23, 33, 4, 14, 24, 34],
            labels: vec![1.0, 0.0],
            // [CLS] a a . b . [SEP] / [CLS] c . d d [SEP] [PAD]
            tokens: vec![101, 5, 6, 7, 8, 7, 102, 101, 9, 7, 10, 11, 102, 0],
            attention_mask: vec![
                true, true, true, true, true, true, true, true, true, true, true, true, true, false,
            ],
            token_fields: vec![-1, 0, 0, -1, 1, -1, -1, -1, 2, -1, 3, 3, -1, -1],
            rows: vec![0, 1],
        }
    }

    fn masker(config: MaskConfig) -> FieldMasker {
        FieldMasker::new(config, vec![2, 12, 22, 32], 103)
    }

    #[test]
    fn masked_tokens_cover_exactly_the_chosen_spans() {
        let b = batch();
        for step in 0..50 {
            let m = masker(MaskConfig::default()).mask(&b, step);
            // k = max(1, floor(4 * 0.15)) = 1 field per row in each view.
            assert_eq!(m.k, 1);
            assert_eq!(m.tabular_fields.len(), 2);
            for row in 0..2 {
                let fields: Vec<i64> = m
                    .mlm_positions
                    .iter()
                    .filter(|&&p| p as usize / 7 == row)
                    .map(|&p| b.token_fields[p as usize])
                    .collect();
                assert!(
                    !fields.is_empty(),
                    "every row with field tokens gets a text mask"
                );
                assert!(fields.iter().all(|&f| f == fields[0]), "one field per row");
                // Every token of that field is masked, nothing else.
                for col in 0..7 {
                    let at = row * 7 + col;
                    let masked = m.masked_tokens[at] == 103;
                    assert_eq!(
                        masked,
                        b.token_fields[at] == fields[0],
                        "row {row} col {col}"
                    );
                }
            }
            for (p, t) in m.mlm_positions.iter().zip(&m.mlm_targets) {
                assert_eq!(b.tokens[*p as usize], *t);
            }
        }
    }

    #[test]
    fn a_share_of_rows_keeps_its_masks_with_positions_renumbered() {
        let b = batch();
        let m = masker(MaskConfig::default()).mask(&b, 4);
        let second = m.slice_rows(1..2, 4, 7);
        assert_eq!(second.masked_ids, m.masked_ids[4..8]);
        assert_eq!(second.tabular_fields, m.tabular_fields[1..2]);
        assert_eq!(second.tabular_targets, m.tabular_targets[1..2]);
        assert_eq!(second.masked_tokens, m.masked_tokens[7..14]);
        let (positions, targets): (Vec<i64>, Vec<i64>) = m
            .mlm_positions
            .iter()
            .zip(&m.mlm_targets)
            .filter(|&(&p, _)| p >= 7)
            .map(|(&p, &t)| (p - 7, t))
            .unzip();
        assert!(!positions.is_empty());
        let first = m.slice_rows(0..1, 4, 7);
        assert_eq!(
            first.mlm_positions.len() + positions.len(),
            m.mlm_positions.len()
        );
        assert_eq!(
            (second.mlm_positions, second.mlm_targets),
            (positions, targets)
        );
    }

    #[test]
    fn tabular_mask_uses_reserved_ids_and_keeps_targets() {
        let b = batch();
        let m = masker(MaskConfig::default()).mask(&b, 3);
        for row in 0..2 {
            let f = m.tabular_fields[row] as usize;
            assert_eq!(
                m.masked_ids[row * 4 + f],
                [2, 12, 22, 32][f],
                "the field's MASK id"
            );
            assert_eq!(m.tabular_targets[row], b.ids[row * 4 + f]);
            let real: Vec<i64> = b.ids.clone();
            assert!(
                !real.contains(&m.masked_ids[row * 4 + f]),
                "a MASK id is never a real id"
            );
            for g in (0..4).filter(|&g| g != f) {
                assert_eq!(m.masked_ids[row * 4 + g], b.ids[row * 4 + g]);
            }
        }
    }

    #[test]
    fn seeded_streams_are_deterministic_and_independent() {
        let b = batch();
        let a = masker(MaskConfig::default()).mask(&b, 7);
        assert_eq!(a, masker(MaskConfig::default()).mask(&b, 7));
        let other_step = (0..20).any(|s| masker(MaskConfig::default()).mask(&b, s) != a);
        assert!(other_step, "steps draw different masks");
        // The text draw does not depend on the tabular ratio (separate streams).
        let more_tab = masker(MaskConfig {
            tabular_ratio: 0.5,
            ..MaskConfig::default()
        })
        .mask(&b, 7);
        assert_eq!(more_tab.masked_tokens, a.masked_tokens);
        assert_eq!(more_tab.k, 2);
    }

    #[test]
    fn same_fields_option_and_truncated_fields() {
        let b = batch();
        for step in 0..30 {
            let m = masker(MaskConfig {
                same_fields: true,
                ..MaskConfig::default()
            })
            .mask(&b, step);
            for row in 0..2 {
                let f = m.tabular_fields[row];
                for p in m.mlm_positions.iter().filter(|&&p| p as usize / 7 == row) {
                    assert_eq!(
                        b.token_fields[*p as usize], f,
                        "the same field in both views"
                    );
                }
            }
        }
        // Row 0 has tokens of fields 0 and 1 only (2 and 3 truncated away): the independent
        // text draw only ever picks 0 or 1 there.
        for step in 0..30 {
            let m = masker(MaskConfig::default()).mask(&b, step);
            for p in m.mlm_positions.iter().filter(|&&p| p < 7) {
                assert!([0, 1].contains(&b.token_fields[*p as usize]));
            }
        }
    }
}
