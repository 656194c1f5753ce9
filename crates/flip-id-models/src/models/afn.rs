//! Adaptive factorization network (Cheng et al., 2020): a logarithmic transformation layer
//! learns arbitrary-order interactions `exp(Σ_i w_ji ln|e_i|) = Π_i |e_i|^{w_ji}`, followed by a
//! DNN; batch norm after the log and the exp (as FuxiCTR) and inside the DNN.
//!
//! Representation: the DNN output `[B, 128]`.
//! Like FuxiCTR's version it has no first-order term, so the shared first-order table is unused.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`Afn`].
#[derive(Config, Debug)]
pub struct AfnConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Neurons of the logarithmic layer. Default 256.
    #[config(default = 256)]
    pub log_neurons: usize,
    /// DNN layer widths. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub hidden: Vec<usize>,
    /// DNN dropout. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// AFN.
#[derive(Module, Debug)]
pub struct Afn {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    log_norm: BatchNorm,
    coefficients: Linear,
    exp_norm: BatchNorm,
    dnn: Mlp,
    out: Linear,
    bias: Param<Tensor<1>>,
}

/// Smallest magnitude the logarithm sees.
const LOG_FLOOR: f64 = 1e-5;

impl AfnConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> Afn {
        let dnn = MlpConfig::new(self.embedding_dim * self.log_neurons)
            .with_hidden(self.hidden.clone())
            .with_dropout(self.dropout)
            .with_batch_norm(true);
        Afn {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            log_norm: BatchNormConfig::new(shape.num_fields).init(device),
            // No bias: the batch norm after the exponential would cancel it (e^b only scales).
            coefficients: LinearConfig::new(shape.num_fields, self.log_neurons)
                .with_bias(false)
                .init(device),
            exp_norm: BatchNormConfig::new(self.log_neurons).init(device),
            out: LinearConfig::new(dnn.output(), 1)
                .with_bias(false)
                .init(device),
            dnn: dnn.init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl Afn {
    /// The logarithmic transformation layer.
    ///
    /// # Shapes
    /// - `fields`: `[B, M, d]`
    /// - output: `[B, N·d]` (N neurons)
    pub fn logarithmic(&self, fields: Tensor<3>) -> Tensor<2> {
        let [b, _, d] = fields.dims();
        let logs = self
            .log_norm
            .forward(fields.abs().clamp_min(LOG_FLOOR).log()); // [B, M, d]
        let neurons = self.coefficients.forward(logs.swap_dims(1, 2)).exp(); // [B, d, N]
        let [_, _, n] = neurons.dims();
        self.exp_norm
            .forward(neurons.swap_dims(1, 2))
            .reshape([b, n * d])
    }

    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        self.dnn.forward(self.logarithmic(x.fields.clone()))
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, 128]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let deep = self.represent(x);
        let [b, _] = deep.dims();
        CtrOutput {
            logit: self.out.forward(deep.clone()).reshape([b]) + self.bias.val(),
            repr: deep,
        }
    }

    /// Width of the representation.
    pub fn repr_dim(&self) -> usize {
        self.out.weight.shape().dims::<2>()[0]
    }
}

crate::impl_with_embedding!(Afn);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_close, assert_params_learn_except, batch_ids, device, randomized, values,
    };

    #[test]
    fn logarithmic_neurons_are_weighted_products() {
        // In inference the batch norms use their initial running statistics (mean 0, var 1),
        // so the layer computes Π_i |e_i|^{w_ji}, with the logarithms and the result scaled by
        // 1/√(1 + ε).
        let device = device();
        let model = AfnConfig::new()
            .with_embedding_dim(2)
            .with_log_neurons(3)
            .with_hidden(vec![4])
            .init(
                InputShape {
                    num_features: 6,
                    num_fields: 2,
                },
                &device,
            );
        let e = [[0.5f32, -2.0], [3.0, 0.25]];
        let x = Tensor::<2>::from_floats(e, &device).unsqueeze_dim::<3>(0);
        let w = values(model.coefficients.weight.val());
        let scale = 1.0 / (1.0f32 + 1e-5).sqrt();
        let expected: Vec<f32> = (0..3)
            .flat_map(|j| (0..2).map(move |k| (j, k)))
            .map(|(j, k)| {
                let s: f32 = (0..2)
                    .map(|i| e[i][k].abs().ln() * scale * w[i * 3 + j])
                    .sum::<f32>();
                s.exp() * scale
            })
            .collect();
        assert_close(&values(model.logarithmic(x)), &expected, 1e-4);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = AfnConfig::new()
            .with_log_neurons(4)
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
        assert_eq!(out.repr.dims(), [8, 4]);
        // No first-order term: the shared first-order table is not read.
        assert_params_learn_except(&model, out.logit.sum(), &[model.emb.linear.id]);
    }
}
