//! FinalMLP (Mao et al., 2023): two MLP streams, each reading the embeddings through its own
//! learned feature-selection gate `2·σ(MLP(ctx))`, fused by a multi-head bilinear layer
//! `y = b + w₁ᵀo₁ + w₂ᵀo₂ + Σ_h o₁ₕᵀ W_h o₂ₕ`.
//!
//! The gate contexts are learned vectors (no conditioning fields), initialised N(0, 0.01) so
//! that the gate networks receive gradients from the first step.
//! Representation: `concat(o₁, o₂)` `[B, 256]`, the two stream outputs the fusion reads.
//! Like FuxiCTR's version it has no first-order term, so the shared first-order table is unused.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`FinalMlp`].
#[derive(Config, Debug)]
pub struct FinalMlpConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Widths of stream 1. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub stream1: Vec<usize>,
    /// Widths of stream 2. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub stream2: Vec<usize>,
    /// Hidden widths of each feature-selection gate. Default `[64]`.
    #[config(default = "vec![64]")]
    pub gate_hidden: Vec<usize>,
    /// Heads of the bilinear fusion (must divide both stream outputs). Default 1.
    #[config(default = 1)]
    pub heads: usize,
    /// Stream dropout. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A feature-selection gate: a learned context through an MLP, `2·σ(·)`, one weight per input.
#[derive(Module, Debug)]
pub struct FeatureGate {
    context: Param<Tensor<1>>,
    hidden: Mlp,
    out: Linear,
}

impl FeatureGate {
    /// The gate `[M·d]`, the same for every row.
    pub fn forward(&self) -> Tensor<1> {
        let [c] = self.context.shape().dims();
        let h = self.hidden.forward(self.context.val().reshape([1, c]));
        let g = sigmoid(self.out.forward(h)).mul_scalar(2.0);
        let [_, n] = g.dims();
        g.reshape([n])
    }
}

/// FinalMLP.
#[derive(Module, Debug)]
pub struct FinalMlp {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    gate1: FeatureGate,
    gate2: FeatureGate,
    stream1: Mlp,
    stream2: Mlp,
    w1: Linear,
    w2: Linear,
    /// Bilinear fusion `[H, a₁, a₂]`.
    fusion: Param<Tensor<3>>,
    bias: Param<Tensor<1>>,
}

impl FinalMlpConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> FinalMlp {
        let (d, n) = (self.embedding_dim, shape.num_fields * self.embedding_dim);
        let gate = || {
            let hidden = MlpConfig::new(d)
                .with_hidden(self.gate_hidden.clone())
                .with_weight_std(None);
            FeatureGate {
                context: Param::from_tensor(Tensor::random(
                    [d],
                    Distribution::Normal(0.0, 0.01),
                    device,
                )),
                out: LinearConfig::new(hidden.output(), n).init(device),
                hidden: hidden.init(device),
            }
        };
        let s1 = MlpConfig::new(n)
            .with_hidden(self.stream1.clone())
            .with_dropout(self.dropout);
        let s2 = MlpConfig::new(n)
            .with_hidden(self.stream2.clone())
            .with_dropout(self.dropout);
        let (o1, o2) = (s1.output(), s2.output());
        assert!(
            o1 % self.heads == 0 && o2 % self.heads == 0,
            "heads must divide both stream outputs"
        );
        let (a1, a2) = (o1 / self.heads, o2 / self.heads);
        let std = (2.0 / (a1 + a2) as f64).sqrt();
        FinalMlp {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(d)
                .init(device),
            gate1: gate(),
            gate2: gate(),
            stream1: s1.init(device),
            stream2: s2.init(device),
            w1: LinearConfig::new(o1, 1).with_bias(false).init(device),
            w2: LinearConfig::new(o2, 1).with_bias(false).init(device),
            fusion: Param::from_tensor(Tensor::random(
                [self.heads, a1, a2],
                Distribution::Normal(0.0, std),
                device,
            )),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl FinalMlp {
    /// The bilinear fusion of the stream outputs.
    ///
    /// # Shapes
    /// - `o1`: `[B, H·a₁]`, `o2`: `[B, H·a₂]`
    /// - output: `[B]`
    pub fn fuse(&self, o1: Tensor<2>, o2: Tensor<2>) -> Tensor<1> {
        let [b, _] = o1.dims();
        let [heads, a1, a2] = self.fusion.shape().dims();
        let first =
            self.w1.forward(o1.clone()).reshape([b]) + self.w2.forward(o2.clone()).reshape([b]);
        let left = o1.reshape([b, heads, a1]).swap_dims(0, 1); // [H, B, a1]
        let right = o2
            .reshape([b, heads, a2])
            .swap_dims(0, 1)
            .unsqueeze_dim::<4>(3); // [H, B, a2, 1]
        let projected = left.matmul(self.fusion.val()).unsqueeze_dim::<4>(2); // [H, B, 1, a2]
        let bilinear = projected.matmul(right).sum_dim(0).reshape([b]);
        first + bilinear + self.bias.val()
    }

    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        let flat = x.flat();
        let [_, n] = flat.dims();
        let o1 = self
            .stream1
            .forward(flat.clone() * self.gate1.forward().reshape([1, n]));
        let o2 = self
            .stream2
            .forward(flat * self.gate2.forward().reshape([1, n]));
        Tensor::cat(vec![o1, o2], 1)
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, o₁ + o₂]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let repr = self.represent(x);
        let [_, width] = repr.dims();
        let o1_width = self.w1.weight.shape().dims::<2>()[0];
        let o1 = repr.clone().narrow(1, 0, o1_width);
        let o2 = repr.clone().narrow(1, o1_width, width - o1_width);
        CtrOutput {
            logit: self.fuse(o1, o2),
            repr,
        }
    }

    /// Width of the representation.
    pub fn repr_dim(&self) -> usize {
        self.w1.weight.shape().dims::<2>()[0] + self.w2.weight.shape().dims::<2>()[0]
    }
}

crate::impl_with_embedding!(FinalMlp);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_close, assert_params_learn_except, batch_ids, device, randomized, values,
    };

    #[test]
    fn multi_head_bilinear_fusion_by_hand() {
        let device = device();
        let model = FinalMlpConfig::new()
            .with_embedding_dim(2)
            .with_stream1(vec![4])
            .with_stream2(vec![2])
            .with_heads(2)
            .init(
                InputShape {
                    num_features: 6,
                    num_fields: 2,
                },
                &device,
            );
        let o1 = [0.5f32, -1.0, 2.0, 0.25];
        let o2 = [1.5f32, -0.5];
        let (w1, w2, f) = (
            values(model.w1.weight.val()),
            values(model.w2.weight.val()),
            values(model.fusion.val()),
        );
        // Head h pairs o1[2h..2h+2] with o2[h..h+1]; fusion[h] is 2 x 1.
        let mut expected: f32 = o1.iter().zip(&w1).map(|(a, b)| a * b).sum::<f32>()
            + o2.iter().zip(&w2).map(|(a, b)| a * b).sum::<f32>();
        for h in 0..2 {
            expected += (0..2)
                .map(|i| o1[2 * h + i] * f[h * 2 + i] * o2[h])
                .sum::<f32>();
        }
        let got = model.fuse(
            Tensor::from_floats([o1], &device),
            Tensor::from_floats([o2], &device),
        );
        assert_close(&values(got), &[expected], 1e-5);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = FinalMlpConfig::new()
            .with_stream1(vec![8, 4])
            .with_stream2(vec![6, 4])
            .with_heads(2)
            .init(
                InputShape {
                    num_features: 9,
                    num_fields: 3,
                },
                &device,
            );
        let model = randomized(model);
        let out = model.forward_embedded(
            &model
                .emb
                .forward(batch_ids(9, 3, &device), crate::Reads::BOTH),
        );
        assert_eq!(out.repr.dims(), [8, 8]);
        // No first-order term: the shared first-order table is not read.
        assert_params_learn_except(&model, out.logit.sum(), &[model.emb.linear.id]);
    }
}
