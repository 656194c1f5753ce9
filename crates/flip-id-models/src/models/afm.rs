//! Attentional factorization machine (Xiao et al., 2017): pairwise element-wise products
//! weighted by an attention network, pooled and projected, plus first-order weights.
//!
//! Representation: the attention-pooled interaction vector `[B, d]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Tensor};

use crate::pairs::pair_fields;
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`Afm`].
#[derive(Config, Debug)]
pub struct AfmConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Width of the attention network (t). Default 8.
    #[config(default = 8)]
    pub attention_dim: usize,
    /// Dropout on the attention weights. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// AFM.
#[derive(Module, Debug)]
pub struct Afm {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    attention: Linear,
    attention_h: Linear,
    projection: Linear,
    dropout: Dropout,
    bias: Param<Tensor<1>>,
}

impl AfmConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> Afm {
        let d = self.embedding_dim;
        Afm {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(d)
                .init(device),
            attention: LinearConfig::new(d, self.attention_dim).init(device),
            attention_h: LinearConfig::new(self.attention_dim, 1)
                .with_bias(false)
                .init(device),
            projection: LinearConfig::new(d, 1).with_bias(false).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl Afm {
    /// The attention-pooled pairwise interactions.
    ///
    /// # Shapes
    /// - `fields`: `[B, M, d]`
    /// - output: `[B, d]`
    pub fn pooled(&self, fields: Tensor<3>) -> Tensor<2> {
        let (left, right) = pair_fields(fields);
        let products = left * right; // [B, P, d]
        let [b, _, d] = products.dims();
        let scores = self
            .attention_h
            .forward(relu(self.attention.forward(products.clone()))); // [B, P, 1]
        let weights = self.dropout.forward(softmax(scores, 1));
        (products * weights).sum_dim(1).reshape([b, d])
    }

    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        self.pooled(x.fields.clone())
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, d]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let pooled = self.represent(x);
        let [b, _] = pooled.dims();
        CtrOutput {
            logit: x.linear_logit()
                + self.projection.forward(pooled.clone()).reshape([b])
                + self.bias.val(),
            repr: pooled,
        }
    }

    /// Width of the representation (d).
    pub fn repr_dim(&self) -> usize {
        self.emb.dim()
    }
}

crate::impl_with_embedding!(Afm);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_all_params_learn, assert_close, batch_ids, device, randomized, values,
    };

    #[test]
    fn attention_pooling_by_hand() {
        let device = device();
        let model = AfmConfig::new()
            .with_embedding_dim(2)
            .with_attention_dim(3)
            .init(
                InputShape {
                    num_features: 6,
                    num_fields: 3,
                },
                &device,
            );
        let e = [[1.0f32, 2.0], [3.0, -1.0], [0.5, 0.5]];
        let fields = Tensor::<2>::from_floats(e, &device).unsqueeze_dim::<3>(0);
        let (w, bw) = (
            values(model.attention.weight.val()),
            values(model.attention.bias.as_ref().unwrap().val()),
        );
        let h = values(model.attention_h.weight.val());
        let products: Vec<[f32; 2]> = [(0, 1), (0, 2), (1, 2)]
            .iter()
            .map(|&(i, j)| [e[i][0] * e[j][0], e[i][1] * e[j][1]])
            .collect();
        let scores: Vec<f32> = products
            .iter()
            .map(|p| {
                (0..3)
                    .map(|t| (p[0] * w[t] + p[1] * w[3 + t] + bw[t]).max(0.0) * h[t])
                    .sum()
            })
            .collect();
        let z: f32 = scores.iter().map(|s| s.exp()).sum();
        let expected: Vec<f32> = (0..2)
            .map(|k| {
                products
                    .iter()
                    .zip(&scores)
                    .map(|(p, s)| s.exp() / z * p[k])
                    .sum()
            })
            .collect();
        assert_close(&values(model.pooled(fields)), &expected, 1e-5);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = AfmConfig::new().init(
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
        assert_eq!(out.repr.dims(), [8, 32]);
        assert_all_params_learn(&model, out.logit.sum());
    }
}
