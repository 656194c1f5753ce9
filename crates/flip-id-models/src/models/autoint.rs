//! AutoInt (Song et al., 2019): multi-head self-attention across fields ("interacting layers")
//! with residual projections; AutoInt+ adds a DNN in parallel.
//!
//! Attention scores are the unscaled dot products of the paper and the official code (an option
//! scales them by `1/√a`). Representation: the flattened output of the last interacting layer
//! `[M·H·a]` (AutoInt), concatenated with the DNN output `[128]` for AutoInt+ — the vector the
//! output layer reads.
//! Like FuxiCTR's version it has no first-order term, so the shared first-order table is unused.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Distribution, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`AutoInt`].
#[derive(Config, Debug)]
pub struct AutoIntConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Interacting layers. Default 3.
    #[config(default = 3)]
    pub layers: usize,
    /// Attention heads. Default 2.
    #[config(default = 2)]
    pub heads: usize,
    /// Width of each head (a). Default 16.
    #[config(default = 16)]
    pub head_dim: usize,
    /// Scale scores by `1/√a` (the paper does not). Default false.
    #[config(default = false)]
    pub scaled: bool,
    /// Add a DNN in parallel (AutoInt+). Default false.
    #[config(default = false)]
    pub dnn: bool,
    /// DNN layer widths (AutoInt+). Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub hidden: Vec<usize>,
    /// DNN dropout. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// One interacting layer: per-head attention across fields plus a residual projection, ReLU.
#[derive(Module, Debug)]
pub struct InteractingLayer {
    query: Param<Tensor<2>>,
    key: Param<Tensor<2>>,
    value: Param<Tensor<2>>,
    residual: Param<Tensor<2>>,
    heads: usize,
    scaled: bool,
}

impl InteractingLayer {
    fn new(input: usize, heads: usize, head_dim: usize, scaled: bool, device: &Device) -> Self {
        let w = || {
            Param::from_tensor(Tensor::random(
                [input, heads * head_dim],
                Distribution::Normal(0.0, 0.05),
                device,
            ))
        };
        InteractingLayer {
            query: w(),
            key: w(),
            value: w(),
            residual: w(),
            heads,
            scaled,
        }
    }

    /// # Shapes
    /// - `x`: `[B, M, input]`
    /// - output: `[B, M, H·a]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, m, _] = x.dims();
        let width = self.query.shape().dims::<2>()[1];
        let a = width / self.heads;
        let project = |w: &Param<Tensor<2>>| {
            x.clone()
                .matmul(w.val().unsqueeze_dim::<3>(0))
                .reshape([b, m, self.heads, a])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (
            project(&self.query),
            project(&self.key),
            project(&self.value),
        ); // [B, H, M, a]
        let mut scores = q.matmul(k.swap_dims(2, 3)); // [B, H, M, M]
        if self.scaled {
            scores = scores.div_scalar((a as f64).sqrt());
        }
        let attended = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, m, width]);
        relu(attended + x.matmul(self.residual.val().unsqueeze_dim::<3>(0)))
    }
}

/// AutoInt and AutoInt+.
#[derive(Module, Debug)]
pub struct AutoInt {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    layers: Vec<InteractingLayer>,
    dnn: Option<Mlp>,
    out: Linear,
    bias: Param<Tensor<1>>,
}

impl AutoIntConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> AutoInt {
        let width = self.heads * self.head_dim;
        let layers = (0..self.layers)
            .map(|l| {
                let input = if l == 0 { self.embedding_dim } else { width };
                InteractingLayer::new(input, self.heads, self.head_dim, self.scaled, device)
            })
            .collect();
        let dnn = self.dnn.then(|| {
            MlpConfig::new(shape.num_fields * self.embedding_dim)
                .with_hidden(self.hidden.clone())
                .with_dropout(self.dropout)
        });
        let repr = shape.num_fields * width + dnn.as_ref().map_or(0, MlpConfig::output);
        AutoInt {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            layers,
            dnn: dnn.map(|c| c.init(device)),
            out: LinearConfig::new(repr, 1).with_bias(false).init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl AutoInt {
    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        let mut h = x.fields.clone();
        for layer in &self.layers {
            h = layer.forward(h);
        }
        let [b, m, w] = h.dims();
        let repr = h.reshape([b, m * w]);
        match &self.dnn {
            Some(dnn) => Tensor::cat(vec![repr, dnn.forward(x.flat())], 1),
            None => repr,
        }
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, M·H·a (+ 128)]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let repr = self.represent(x);
        let [b, _] = repr.dims();
        CtrOutput {
            logit: self.out.forward(repr.clone()).reshape([b]) + self.bias.val(),
            repr,
        }
    }

    /// Width of the representation.
    pub fn repr_dim(&self) -> usize {
        self.out.weight.shape().dims::<2>()[0]
    }
}

crate::impl_with_embedding!(AutoInt);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_close, assert_params_learn_except, batch_ids, device, randomized, values,
    };

    /// One interacting layer with loops: `x` is `[M][n]`.
    fn reference(layer: &InteractingLayer, x: &[Vec<f32>]) -> Vec<f32> {
        let n = x[0].len();
        let width = layer.query.shape().dims::<2>()[1];
        let a = width / layer.heads;
        let w = |p: &Param<Tensor<2>>| values(p.val());
        let (wq, wk, wv, wr) = (
            w(&layer.query),
            w(&layer.key),
            w(&layer.value),
            w(&layer.residual),
        );
        let proj = |w: &[f32], row: &[f32]| -> Vec<f32> {
            (0..width)
                .map(|j| (0..n).map(|i| row[i] * w[i * width + j]).sum())
                .collect()
        };
        let (q, k, v): (Vec<_>, Vec<_>, Vec<_>) = (
            x.iter().map(|r| proj(&wq, r)).collect(),
            x.iter().map(|r| proj(&wk, r)).collect(),
            x.iter().map(|r| proj(&wv, r)).collect(),
        );
        let m = x.len();
        let mut out = vec![0.0f32; m * width];
        for h in 0..layer.heads {
            for i in 0..m {
                let s: Vec<f32> = (0..m)
                    .map(|j| (0..a).map(|t| q[i][h * a + t] * k[j][h * a + t]).sum())
                    .collect();
                let max = s.iter().cloned().fold(f32::MIN, f32::max);
                let z: f32 = s.iter().map(|v| (v - max).exp()).sum();
                for t in 0..a {
                    out[i * width + h * a + t] = (0..m)
                        .map(|j| (s[j] - max).exp() / z * v[j][h * a + t])
                        .sum();
                }
            }
        }
        for i in 0..m {
            let res = proj(&wr, &x[i]);
            for j in 0..width {
                out[i * width + j] = (out[i * width + j] + res[j]).max(0.0);
            }
        }
        out
    }

    #[test]
    fn one_attention_layer_by_hand() {
        let device = device();
        let layer = InteractingLayer::new(3, 2, 2, false, &device);
        let x = vec![
            vec![0.5f32, -1.0, 2.0],
            vec![1.5, 0.2, -0.7],
            vec![-0.4, 0.9, 0.3],
        ];
        let input = Tensor::<2>::from_floats(
            [[0.5, -1.0, 2.0], [1.5, 0.2, -0.7], [-0.4, 0.9, 0.3]],
            &device,
        )
        .unsqueeze_dim::<3>(0);
        assert_close(&values(layer.forward(input)), &reference(&layer, &x), 1e-5);
    }

    #[test]
    fn plus_adds_the_dnn_to_the_representation() {
        let device = device();
        let shape = InputShape {
            num_features: 9,
            num_fields: 3,
        };
        let plain = AutoIntConfig::new().init(shape, &device);
        let plus = AutoIntConfig::new()
            .with_dnn(true)
            .with_hidden(vec![8, 4])
            .init(shape, &device);
        assert_eq!((plain.repr_dim(), plus.repr_dim()), (96, 100));
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = AutoIntConfig::new()
            .with_dnn(true)
            .with_hidden(vec![8, 4])
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
        assert_eq!(out.repr.dims(), [8, 100]);
        // No first-order term: the shared first-order table is not read.
        assert_params_learn_except(&model, out.logit.sum(), &[model.emb.linear.id]);
    }
}
