//! Logistic regression: the sum of the fields' first-order weights plus a bias.
//!
//! Representation: the `M` first-order weights of the row `[B, M]`, the only per-field quantity
//! the model has.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`Lr`].
#[derive(Config, Debug)]
pub struct LrConfig {
    /// Embedding width (unused by LR itself, kept for a shared table). Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
}

/// Logistic regression.
#[derive(Module, Debug)]
pub struct Lr {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    bias: Param<Tensor<1>>,
    num_fields: usize,
}

impl LrConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> Lr {
        Lr {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            bias: Initializer::Zeros.init([1], device),
            num_fields: shape.num_fields,
        }
    }
}

impl Lr {
    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        x.linear.clone()
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, M]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        CtrOutput {
            logit: x.linear_logit() + self.bias.val(),
            repr: self.represent(x),
        }
    }

    /// Width of the representation (M).
    pub fn repr_dim(&self) -> usize {
        self.num_fields
    }
}

crate::impl_with_embedding!(Lr);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_close, assert_params_learn_except, device, ids, randomized, values,
    };

    #[test]
    fn logit_is_the_sum_of_weights() {
        let device = device();
        let model = LrConfig::new().init(
            InputShape {
                num_features: 6,
                num_fields: 2,
            },
            &device,
        );
        let out = model.forward_embedded(
            &model
                .emb
                .forward(ids(&[1, 4, 0, 5], 2, 2, &device), crate::Reads::BOTH),
        );
        let w = values(model.emb.linear.val());
        let b = values(model.bias.val())[0];
        assert_close(
            &values(out.logit),
            &[w[1] + w[4] + b, w[0] + w[5] + b],
            1e-6,
        );
        assert_eq!(out.repr.dims(), [2, 2]);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = LrConfig::new().init(
            InputShape {
                num_features: 6,
                num_fields: 2,
            },
            &device,
        );
        let model = randomized(model);
        let out = model.forward_embedded(
            &model
                .emb
                .forward(ids(&[1, 4, 0, 5], 2, 2, &device), crate::Reads::BOTH),
        );
        // LR reads only the first-order weights; the shared table is there for alignment.
        assert_params_learn_except(&model, out.logit.sum(), &[model.emb.table.id]);
    }
}
