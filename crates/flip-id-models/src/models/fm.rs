//! Factorization machine (Rendle, 2010): first-order weights plus all pairwise inner products
//! of field embeddings, computed as `½ Σ_k [(Σ_i e_ik)² − Σ_i e_ik²]`.
//!
//! Representation: the per-dimension pairwise interaction vector
//! `½ [(Σ_i e_i)² − Σ_i e_i²]` `[B, d]`, whose sum is the second-order term.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`Fm`].
#[derive(Config, Debug)]
pub struct FmConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
}

/// Factorization machine.
#[derive(Module, Debug)]
pub struct Fm {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    bias: Param<Tensor<1>>,
}

/// The FM interaction vector `½ [(Σ_i e_i)² − Σ_i e_i²]`.
///
/// # Shapes
/// - `fields`: `[B, M, d]`
/// - output: `[B, d]`
pub fn fm_interaction(fields: Tensor<3>) -> Tensor<2> {
    let [b, _, d] = fields.dims();
    let sum = fields.clone().sum_dim(1).reshape([b, d]);
    let sum_of_squares = fields.square().sum_dim(1).reshape([b, d]);
    (sum.square() - sum_of_squares).mul_scalar(0.5)
}

impl FmConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> Fm {
        Fm {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl Fm {
    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        fm_interaction(x.fields.clone())
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, d]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let inter = self.represent(x);
        let [b, _] = inter.dims();
        let second = inter.clone().sum_dim(1).reshape([b]);
        CtrOutput {
            logit: x.linear_logit() + second + self.bias.val(),
            repr: inter,
        }
    }

    /// Width of the representation (d).
    pub fn repr_dim(&self) -> usize {
        self.emb.dim()
    }
}

crate::impl_with_embedding!(Fm);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_all_params_learn, assert_close, batch_ids, device, ids, randomized, values,
    };

    #[test]
    fn pairwise_identity_holds() {
        let device = device();
        let mut model = FmConfig::new().with_embedding_dim(3).init(
            InputShape {
                num_features: 9,
                num_fields: 3,
            },
            &device,
        );
        model.emb = model.emb.with_tables(
            Tensor::random(
                [9, 3],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            ),
            Tensor::random(
                [9, 1],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            ),
        );
        let rows = [0i64, 4, 8, 1, 2, 7];
        let out = model.forward_embedded(
            &model
                .emb
                .forward(ids(&rows, 2, 3, &device), crate::Reads::BOTH),
        );
        let e = values(model.emb.table.val());
        let w = values(model.emb.linear.val());
        let dot = |i: usize, j: usize| (0..3).map(|k| e[i * 3 + k] * e[j * 3 + k]).sum::<f32>();
        let mut expected = Vec::new();
        for row in rows.chunks(3) {
            let r: Vec<usize> = row.iter().map(|&v| v as usize).collect();
            let pairs = dot(r[0], r[1]) + dot(r[0], r[2]) + dot(r[1], r[2]);
            expected.push(w[r[0]] + w[r[1]] + w[r[2]] + pairs);
        }
        assert_close(&values(out.logit), &expected, 1e-5);
        assert_eq!(out.repr.dims(), [2, 3]);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = FmConfig::new().init(
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
