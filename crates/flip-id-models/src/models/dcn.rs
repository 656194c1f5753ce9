//! Deep & Cross Network (Wang et al., 2017): vector-parameterised cross layers
//! `x_{l+1} = x_0 (x_l · w_l) + b_l + x_l` in parallel with a DNN.
//!
//! Representation: `concat(cross output [M·d], DNN output [128])`, the vector the model's final
//! layer reads.
//! Like FuxiCTR's version it has no first-order term, so the shared first-order table is unused.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`Dcn`].
#[derive(Config, Debug)]
pub struct DcnConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Cross layers. Default 2.
    #[config(default = 2)]
    pub cross_layers: usize,
    /// DNN layer widths. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub hidden: Vec<usize>,
    /// DNN dropout. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// Deep & Cross Network.
#[derive(Module, Debug)]
pub struct Dcn {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    /// Cross weights `[L, M·d]`.
    cross_w: Param<Tensor<2>>,
    /// Cross biases `[L, M·d]`.
    cross_b: Param<Tensor<2>>,
    dnn: Mlp,
    out: Linear,
    bias: Param<Tensor<1>>,
}

impl DcnConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> Dcn {
        let width = shape.num_fields * self.embedding_dim;
        let dnn = MlpConfig::new(width)
            .with_hidden(self.hidden.clone())
            .with_dropout(self.dropout);
        Dcn {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            cross_w: Initializer::XavierNormal { gain: 1.0 }.init_with(
                [self.cross_layers, width],
                Some(width),
                Some(1),
                device,
            ),
            cross_b: Initializer::Zeros.init([self.cross_layers, width], device),
            out: LinearConfig::new(width + dnn.output(), 1)
                .with_bias(false)
                .init(device),
            dnn: dnn.init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl Dcn {
    /// The cross network.
    ///
    /// # Shapes
    /// - `x0`: `[B, n]`
    /// - output: `[B, n]`
    pub fn cross(&self, x0: Tensor<2>) -> Tensor<2> {
        let [layers, n] = self.cross_w.shape().dims();
        let mut x = x0.clone();
        for l in 0..layers {
            let w = self.cross_w.val().narrow(0, l, 1).reshape([n, 1]);
            let b = self.cross_w_bias(l, n);
            x = x0.clone() * x.clone().matmul(w) + b + x;
        }
        x
    }

    fn cross_w_bias(&self, l: usize, n: usize) -> Tensor<2> {
        self.cross_b.val().narrow(0, l, 1).reshape([1, n])
    }

    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        let flat = x.flat();
        Tensor::cat(vec![self.cross(flat.clone()), self.dnn.forward(flat)], 1)
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, M·d + 128]`
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

crate::impl_with_embedding!(Dcn);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_close, assert_params_learn_except, batch_ids, device, randomized, values,
    };
    use burn::tensor::Distribution;

    #[test]
    fn one_cross_layer_by_hand() {
        let device = device();
        let mut model = DcnConfig::new()
            .with_embedding_dim(2)
            .with_cross_layers(1)
            .with_hidden(vec![3])
            .init(
                InputShape {
                    num_features: 6,
                    num_fields: 2,
                },
                &device,
            );
        model.cross_b = Param::from_tensor(Tensor::random(
            [1, 4],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        let x0 = Tensor::<2>::from_floats([[0.5, -1.0, 2.0, 0.25]], &device);
        let w = values(model.cross_w.val());
        let b = values(model.cross_b.val());
        let x = values(x0.clone());
        let dot: f32 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
        let expected: Vec<f32> = (0..4).map(|i| x[i] * dot + b[i] + x[i]).collect();
        assert_close(&values(model.cross(x0)), &expected, 1e-6);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = DcnConfig::new().with_hidden(vec![8, 4]).init(
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
        assert_eq!(out.repr.dims(), [8, 3 * 32 + 4]);
        // No first-order term: the shared first-order table is not read.
        assert_params_learn_except(&model, out.logit.sum(), &[model.emb.linear.id]);
    }
}
