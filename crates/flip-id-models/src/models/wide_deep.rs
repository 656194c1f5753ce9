//! Wide & Deep (Cheng et al., 2016): first-order weights (the wide part) plus a DNN.
//!
//! Representation: the DNN output `[B, 128]`, the learned dense summary of the row.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`WideDeep`].
#[derive(Config, Debug)]
pub struct WideDeepConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// DNN layer widths. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub hidden: Vec<usize>,
    /// DNN dropout. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// Wide & Deep.
#[derive(Module, Debug)]
pub struct WideDeep {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    dnn: Mlp,
    dnn_out: Linear,
    bias: Param<Tensor<1>>,
}

impl WideDeepConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> WideDeep {
        let dnn = MlpConfig::new(shape.num_fields * self.embedding_dim)
            .with_hidden(self.hidden.clone())
            .with_dropout(self.dropout);
        WideDeep {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            dnn_out: LinearConfig::new(dnn.output(), 1)
                .with_bias(false)
                .init(device),
            dnn: dnn.init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl WideDeep {
    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        self.dnn.forward(x.flat())
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, 128]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let deep = self.represent(x);
        let [b, _] = deep.dims();
        CtrOutput {
            logit: x.linear_logit()
                + self.dnn_out.forward(deep.clone()).reshape([b])
                + self.bias.val(),
            repr: deep,
        }
    }

    /// Width of the representation (last DNN width).
    pub fn repr_dim(&self) -> usize {
        self.dnn_out.weight.shape().dims::<2>()[0]
    }
}

crate::impl_with_embedding!(WideDeep);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_all_params_learn, assert_close, batch_ids, device, ids, randomized, values,
    };

    #[test]
    fn logit_is_wide_plus_deep() {
        let device = device();
        let model = WideDeepConfig::new()
            .with_embedding_dim(4)
            .with_hidden(vec![5, 3])
            .init(
                InputShape {
                    num_features: 9,
                    num_fields: 3,
                },
                &device,
            );
        let x = model
            .emb
            .forward(ids(&[0, 4, 8, 1, 2, 7], 2, 3, &device), crate::Reads::BOTH);
        let out = model.forward_embedded(&x);
        let wide = values(x.linear_logit());
        let deep = values(model.dnn.forward(x.flat()));
        let w = values(model.dnn_out.weight.val());
        let expected: Vec<f32> = (0..2)
            .map(|r| wide[r] + (0..3).map(|k| deep[r * 3 + k] * w[k]).sum::<f32>())
            .collect();
        assert_close(&values(out.logit), &expected, 1e-5);
        assert_eq!(out.repr.dims(), [2, 3]);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = WideDeepConfig::new().with_hidden(vec![8, 4]).init(
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
        assert_all_params_learn(&model, out.logit.sum());
    }
}
