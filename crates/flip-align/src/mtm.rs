//! Masked tabular modelling with language context: the masked-ID representation asks the clean
//! text which value each masked field had.
//!
//! `q = LayerNorm(W_q h̃)` attends over the clean token states (padding masked out, scores
//! scaled by `1/√H`, or unscaled as the official code), giving `r`; `concat(h̃, r)` is projected
//! to `M × w` and the slice of each masked field scores candidate ids against an output table
//! over the whole feature vocabulary: `s_j = O_j · p_f + β_j − log V`, with `β` initialised to
//! `log q + log V` (`q` the noise distribution).
//!
//! Objectives: NCE with K noise ids drawn from `q` (`t_j = s_j − log q_j − log K`,
//! `ℓ = −log σ(t_target) − Σ log(1 − σ(t_noise))`, the official default), sampled softmax over
//! the target and the noise (`s_j − log(K q_j)`), or the full softmax over all ids.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, softmax, softplus};
use burn::tensor::module::embedding;
use burn::tensor::{Bool, Device, Distribution, Int, Tensor, TensorData};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::alias::AliasSampler;
use crate::mlm::HeadOutput;

/// How candidate ids are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MtmObjective {
    /// Noise-contrastive estimation against K noise ids (the official default).
    Nce,
    /// Softmax over the target and the K noise ids, corrected by `log(K q)`.
    SampledSoftmax,
    /// Softmax over the whole feature vocabulary.
    FullSoftmax,
}

/// Settings of the MTM head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MtmConfig {
    /// Width of each field's slice of the projection (w). Default 32.
    pub field_width: usize,
    /// Noise ids per masked field (K). Default 25.
    pub noise: usize,
    /// Objective. Default NCE.
    pub objective: MtmObjective,
    /// Scale attention scores by `1/√H`; false reproduces the official unscaled scores.
    /// Default true.
    pub scaled: bool,
}

impl Default for MtmConfig {
    fn default() -> Self {
        MtmConfig {
            field_width: 32,
            noise: 25,
            objective: MtmObjective::Nce,
            scaled: true,
        }
    }
}

/// The noise distribution over feature ids: training frequencies, reserved ids excluded.
#[derive(Debug, Clone)]
pub struct NoiseDistribution {
    /// `log q_j` for every id (reserved ids get `log 1e-10` after renormalisation).
    pub log_q: Vec<f32>,
    sampler: AliasSampler,
}

impl NoiseDistribution {
    /// `counts[j]`: training occurrences of id `j`; `reserved[j]`: id `j` is PAD/OOV/MASK.
    pub fn new(counts: &[u64], reserved: impl Fn(usize) -> bool) -> Self {
        let weights: Vec<f64> = counts
            .iter()
            .enumerate()
            .map(|(j, &c)| if reserved(j) { 0.0 } else { c as f64 })
            .collect();
        let total: f64 = weights.iter().sum();
        let q: Vec<f64> = weights.iter().map(|w| (w / total).max(1e-10)).collect();
        let z: f64 = q.iter().sum();
        NoiseDistribution {
            log_q: q.iter().map(|p| (p / z).ln() as f32).collect(),
            sampler: AliasSampler::new(&weights),
        }
    }

    /// `count` noise ids, drawn from the `step`-th stream of `seed`.
    pub fn draw(&self, count: usize, seed: u64, step: u64) -> Vec<i64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step.rotate_left(17) ^ 0x5EED,
        );
        (0..count)
            .map(|_| i64::from(self.sampler.sample(&mut rng)))
            .collect()
    }
}

/// What the MTM head predicts for one batch: the masked fields, their true ids and the
/// noise ids drawn against them.
#[derive(Debug, Clone)]
pub struct MtmTargets {
    /// Field index of each masked slot, `[B, k]`.
    pub fields: Tensor<2, Int>,
    /// True global id of each masked slot, `[B, k]`.
    pub targets: Tensor<2, Int>,
    /// Noise ids per masked slot, `[B, k, K]` (`K` may be 0 for the full softmax).
    pub noise: Tensor<3, Int>,
}

/// The MTM head.
#[derive(Module, Debug)]
pub struct MtmHead {
    query: Linear,
    query_norm: LayerNorm,
    fields: Linear,
    /// Output table `[V, w]`.
    out_table: Param<Tensor<2>>,
    /// Output bias `[V, 1]`.
    out_bias: Param<Tensor<2>>,
    /// `log q` `[V, 1]` (constant).
    log_q: Tensor<2>,
    num_fields: usize,
    field_width: usize,
    scaled: bool,
}

impl MtmHead {
    /// Builds the head for `num_fields` fields, ID representations of width `id_dim` and token
    /// states of width `text_dim`, over the vocabulary of `noise`.
    pub fn new(
        config: &MtmConfig,
        num_fields: usize,
        id_dim: usize,
        text_dim: usize,
        noise: &NoiseDistribution,
        device: &Device,
    ) -> Self {
        let v = noise.log_q.len();
        let w = config.field_width;
        let log_q = Tensor::<2>::from_data(TensorData::new(noise.log_q.clone(), [v, 1]), device);
        let bound = 1.0 / (w as f64).sqrt();
        MtmHead {
            query: LinearConfig::new(id_dim, text_dim).init(device),
            query_norm: LayerNormConfig::new(text_dim).init(device),
            fields: LinearConfig::new(id_dim + text_dim, num_fields * w).init(device),
            out_table: Param::from_tensor(Tensor::random(
                [v, w],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            out_bias: Param::from_tensor(log_q.clone().add_scalar((v as f64).ln())),
            log_q,
            num_fields,
            field_width: w,
            scaled: config.scaled,
        }
    }

    /// Attention of the masked-ID query over the clean token states.
    ///
    /// # Shapes
    /// - `masked_repr`: `[B, d_id]`, `states`: `[B, L, H]`, `mask`: `[B, L]` (true on real tokens)
    /// - output: context `[B, H]`
    pub fn attend(
        &self,
        masked_repr: Tensor<2>,
        states: Tensor<3>,
        mask: Tensor<2, Bool>,
    ) -> Tensor<2> {
        let [b, l, h] = states.dims();
        let query = self
            .query_norm
            .forward(self.query.forward(masked_repr))
            .reshape([b, h, 1]);
        let mut scores = states.clone().matmul(query).reshape([b, l]);
        if self.scaled {
            scores = scores.div_scalar((h as f64).sqrt());
        }
        let weights = softmax(scores.mask_fill(mask.bool_not(), f32::NEG_INFINITY), 1);
        weights.reshape([b, 1, l]).matmul(states).reshape([b, h])
    }

    /// Each masked field's query vector.
    ///
    /// # Shapes
    /// - `masked_repr`: `[B, d_id]`, `context`: `[B, H]`, `fields`: `[B, k]`
    /// - output: `[B, k, w]`
    pub fn field_vectors(
        &self,
        masked_repr: Tensor<2>,
        context: Tensor<2>,
        fields: Tensor<2, Int>,
    ) -> Tensor<3> {
        let [b, k] = fields.dims();
        let w = self.field_width;
        let all = self
            .fields
            .forward(Tensor::cat(vec![masked_repr, context], 1))
            .reshape([b, self.num_fields, w]);
        let index = fields.reshape([b, k, 1]).expand([b, k, w]);
        all.gather(1, index)
    }

    /// Model scores `s_j = O_j · p + β_j − log V` of candidate ids.
    ///
    /// # Shapes
    /// - `vectors`: `[B, k, w]`, `candidates`: `[B, k, C]`
    /// - output: `[B, k, C]`
    pub fn scores(&self, vectors: Tensor<3>, candidates: Tensor<3, Int>) -> Tensor<3> {
        let [b, k, c] = candidates.dims();
        let w = self.field_width;
        let flat = candidates.reshape([b, k * c]);
        let rows = embedding(self.out_table.val(), flat.clone()).reshape([b, k, c, w]);
        let bias = embedding(self.out_bias.val(), flat).reshape([b, k, c]);
        let v = self.out_table.shape().dims::<2>()[0] as f64;
        (rows * vectors.reshape([b, k, 1, w]))
            .sum_dim(3)
            .reshape([b, k, c])
            + bias.sub_scalar(v.ln())
    }

    /// `log q` of candidate ids.
    fn log_q(&self, candidates: Tensor<3, Int>) -> Tensor<3> {
        let [b, k, c] = candidates.dims();
        embedding(self.log_q.clone(), candidates.reshape([b, k * c])).reshape([b, k, c])
    }

    /// The MTM loss and the share of masked fields whose true id outscores every noise id
    /// (or, for the full softmax, every id).
    ///
    /// # Shapes
    /// - `masked_repr`: `[B, d_id]`, `states`: `[B, L, H]`, `mask`: `[B, L]`
    pub fn forward(
        &self,
        masked_repr: Tensor<2>,
        states: Tensor<3>,
        mask: Tensor<2, Bool>,
        masked: MtmTargets,
        objective: MtmObjective,
    ) -> HeadOutput {
        let MtmTargets {
            fields,
            targets,
            noise,
        } = masked;
        let [b, k] = targets.dims();
        let context = self.attend(masked_repr.clone(), states, mask);
        let vectors = self.field_vectors(masked_repr, context, fields);
        match objective {
            MtmObjective::FullSoftmax => {
                let v = self.out_table.shape().dims::<2>()[0];
                let bias = self
                    .out_bias
                    .val()
                    .reshape([1, 1, v])
                    .sub_scalar((v as f64).ln());
                let logits =
                    vectors.matmul(self.out_table.val().transpose().unsqueeze_dim::<3>(0)) + bias; // [B, k, V]
                let targets = targets.reshape([b, k, 1]);
                let loss = log_softmax(logits.clone(), 2)
                    .gather(2, targets.clone())
                    .mean()
                    .neg();
                let accuracy = logits.detach().argmax(2).equal(targets).float().mean();
                HeadOutput { loss, accuracy }
            }
            MtmObjective::Nce | MtmObjective::SampledSoftmax => {
                let [_, _, noise_count] = noise.dims();
                let candidates = Tensor::cat(vec![targets.reshape([b, k, 1]), noise], 2); // [B, k, 1 + K]
                let s = self.scores(vectors, candidates.clone());
                let corrected =
                    s.clone() - self.log_q(candidates).add_scalar((noise_count as f64).ln());
                let loss = if objective == MtmObjective::Nce {
                    let positive = softplus(corrected.clone().narrow(2, 0, 1).neg(), 1.0).mean();
                    let negative = softplus(corrected.narrow(2, 1, noise_count), 1.0)
                        .sum_dim(2)
                        .mean();
                    positive + negative
                } else {
                    log_softmax(corrected, 2).narrow(2, 0, 1).mean().neg()
                };
                HeadOutput {
                    loss,
                    accuracy: candidate_accuracy(s.detach()),
                }
            }
        }
    }
}

/// The share of masked fields whose true id scores at least as high as every noise id, the
/// official code's count (an argmax over the candidates with the target first, so a tie, as
/// when a frequent id draws itself as noise, goes to the target).
///
/// # Shapes
/// - `scores`: `[B, k, 1 + K]`, the target's score first; output `[1]`
pub fn candidate_accuracy(scores: Tensor<3>) -> Tensor<1> {
    let [_, _, candidates] = scores.dims();
    let best_noise = scores.clone().narrow(2, 1, candidates - 1).max_dim(2);
    scores
        .narrow(2, 0, 1)
        .greater_equal(best_noise)
        .float()
        .mean()
}

/// The accuracy [`candidate_accuracy`] gives to scores that know nothing (every id its own
/// random score): for each masked field the chance that its true id beats the `d` distinct
/// noise ids other than itself, `1 / (1 + d)`, averaged over the fields. `targets` holds the
/// true ids (`[N]`), `noise` the `K` noise ids of each (`[N · K]`, in the same order).
pub fn chance_accuracy(targets: &[i64], noise: &[i64], noise_per_target: usize) -> f64 {
    if targets.is_empty() || noise_per_target == 0 {
        return f64::NAN;
    }
    assert_eq!(
        noise.len(),
        targets.len() * noise_per_target,
        "K noise ids per target"
    );
    let mut distinct = Vec::with_capacity(noise_per_target);
    let total: f64 = targets
        .iter()
        .zip(noise.chunks(noise_per_target))
        .map(|(&target, drawn)| {
            distinct.clear();
            distinct.extend(drawn.iter().copied().filter(|&id| id != target));
            distinct.sort_unstable();
            distinct.dedup();
            1.0 / (1 + distinct.len()) as f64
        })
        .sum();
    total / targets.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tie_with_a_noise_id_counts_as_a_hit() {
        let device = Device::flex();
        // Three fields: the target above the noise, tied with one noise id, below one.
        let scores = Tensor::<3>::from_floats(
            [[[2.0, 1.0, 0.5], [1.0, 1.0, 0.0], [0.0, 0.5, -1.0]]],
            &device,
        );
        let accuracy = candidate_accuracy(scores).into_scalar::<f32>();
        assert!((accuracy - 2.0 / 3.0).abs() < 1e-6, "{accuracy}");
    }

    #[test]
    fn chance_counts_only_distinct_noise_ids_other_than_the_target() {
        // Target 7 with noise [7, 7, 3]: one rival, chance ½; target 1 with [2, 3, 2]: two
        // distinct rivals, ⅓; target 5 with [5, 5, 5]: no rival, 1.
        let chance = chance_accuracy(&[7, 1, 5], &[7, 7, 3, 2, 3, 2, 5, 5, 5], 3);
        assert!(
            (chance - (0.5 + 1.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12,
            "{chance}"
        );
        assert!(chance_accuracy(&[], &[], 3).is_nan());
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().iter::<f32>().collect()
    }

    #[test]
    fn attention_ignores_padding_and_scales() {
        let device = Device::flex();
        let noise = NoiseDistribution::new(&[0, 5, 5, 10], |j| j == 0);
        let head = MtmHead::new(
            &MtmConfig {
                field_width: 2,
                ..MtmConfig::default()
            },
            2,
            3,
            2,
            &noise,
            &device,
        );
        let repr = Tensor::<2>::from_floats([[0.3, -0.2, 0.9]], &device);
        let states = Tensor::<3>::from_floats([[[1.0, 0.0], [0.0, 1.0], [50.0, 50.0]]], &device);
        let mask =
            Tensor::<2, Bool>::from_data(TensorData::new(vec![true, true, false], [1, 3]), &device);
        let q = values(head.query_norm.forward(head.query.forward(repr.clone())));
        let s = [q[0] / 2f32.sqrt(), q[1] / 2f32.sqrt()]; // scores of the two real tokens
        let z = s[0].exp() + s[1].exp();
        let expected = [s[0].exp() / z, s[1].exp() / z];
        let got = values(head.attend(repr.clone(), states.clone(), mask.clone()));
        assert!(
            (got[0] - expected[0]).abs() < 1e-5 && (got[1] - expected[1]).abs() < 1e-5,
            "{got:?} vs {expected:?}"
        );
        // Unscaled, as the official code (padding still masked).
        let unscaled = MtmHead {
            scaled: false,
            ..head
        };
        let z = q[0].exp() + q[1].exp();
        let got = values(unscaled.attend(repr, states, mask));
        assert!((got[0] - q[0].exp() / z).abs() < 1e-5);
    }

    #[test]
    fn nce_logit_with_known_noise_probabilities() {
        let device = Device::flex();
        // Ids 0 (reserved), 1, 2, 3 with counts 5, 5, 10: q = (0, .25, .25, .5).
        let noise = NoiseDistribution::new(&[0, 5, 5, 10], |j| j == 0);
        assert!((noise.log_q[3] - 0.5f32.ln()).abs() < 1e-6);
        let head = MtmHead::new(
            &MtmConfig {
                field_width: 2,
                noise: 2,
                ..MtmConfig::default()
            },
            1,
            2,
            2,
            &noise,
            &device,
        );
        let p = Tensor::<3>::from_floats([[[0.4, -0.3]]], &device); // [B=1, k=1, w=2]
        let candidates =
            Tensor::<3, Int>::from_data(TensorData::new(vec![1i64, 3, 2], [1, 1, 3]), &device);
        let o = values(head.out_table.val());
        let beta = values(head.out_bias.val());
        let s: Vec<f32> = [1usize, 3, 2]
            .iter()
            .map(|&j| o[j * 2] * 0.4 - o[j * 2 + 1] * 0.3 + beta[j] - 4f32.ln())
            .collect();
        assert!(
            (beta[3] - (0.5f32.ln() + 4f32.ln())).abs() < 1e-6,
            "β starts at log q + log V"
        );
        let got = values(head.scores(p, candidates));
        for (g, e) in got.iter().zip(&s) {
            assert!((g - e).abs() < 1e-5);
        }
        // The NCE logit subtracts log q and log K: t = s − log q − log 2.
        let q = [0.25f32, 0.5, 0.25];
        let t: Vec<f32> = s
            .iter()
            .zip(q)
            .map(|(s, q)| s - q.ln() - 2f32.ln())
            .collect();
        let sp = |x: f32| (1.0 + x.exp()).ln();
        let expected = sp(-t[0]) + sp(t[1]) + sp(t[2]);
        // Through `forward` with the same candidates: fields [0], target 1, noise [3, 2].
        let repr = Tensor::<2>::from_floats([[0.1, 0.2]], &device);
        let states = Tensor::<3>::from_floats([[[1.0, 0.0]]], &device);
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(vec![true], [1, 1]), &device);
        let context = head.attend(repr.clone(), states.clone(), mask.clone());
        let fields = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64], [1, 1]), &device);
        let vectors = values(head.field_vectors(repr.clone(), context, fields.clone()));
        let s: Vec<f32> = [1usize, 3, 2]
            .iter()
            .map(|&j| o[j * 2] * vectors[0] + o[j * 2 + 1] * vectors[1] + beta[j] - 4f32.ln())
            .collect();
        let t: Vec<f32> = s
            .iter()
            .zip(q)
            .map(|(s, q)| s - q.ln() - 2f32.ln())
            .collect();
        let expected_forward = sp(-t[0]) + sp(t[1]) + sp(t[2]);
        let out = head.forward(
            repr,
            states,
            mask,
            MtmTargets {
                fields,
                targets: Tensor::from_data(TensorData::new(vec![1i64], [1, 1]), &device),
                noise: Tensor::from_data(TensorData::new(vec![3i64, 2], [1, 1, 2]), &device),
            },
            MtmObjective::Nce,
        );
        assert!((out.loss.into_scalar::<f32>() - expected_forward).abs() < 1e-5);
        assert!(expected.is_finite());
    }

    #[test]
    fn noise_never_draws_reserved_ids() {
        let noise = NoiseDistribution::new(&[100, 0, 5, 5, 10, 7], |j| j < 2);
        let draws = noise.draw(10_000, 3, 1);
        assert!(draws.iter().all(|&d| d >= 2));
        assert_eq!(draws, noise.draw(10_000, 3, 1));
        assert_ne!(draws, noise.draw(10_000, 3, 2));
    }
}
