//! Product-based neural network, inner-product variant (IPNN, Qu et al., 2016): the flat
//! embeddings and all pairwise inner products feed a DNN.
//!
//! Representation: the DNN output `[B, 128]`.
//! Like FuxiCTR's version it has no first-order term, so the shared first-order table is unused.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::pairs::pair_fields;
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`Pnn`].
#[derive(Config, Debug)]
pub struct PnnConfig {
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

/// IPNN.
#[derive(Module, Debug)]
pub struct Pnn {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    dnn: Mlp,
    out: Linear,
    bias: Param<Tensor<1>>,
}

/// Inner products of every field pair.
///
/// # Shapes
/// - `fields`: `[B, M, d]`
/// - output: `[B, M (M − 1) / 2]`
pub fn inner_products(fields: Tensor<3>) -> Tensor<2> {
    let (left, right) = pair_fields(fields);
    let [b, p, _] = left.dims();
    (left * right).sum_dim(2).reshape([b, p])
}

impl PnnConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> Pnn {
        let m = shape.num_fields;
        let dnn = MlpConfig::new(m * self.embedding_dim + m * (m - 1) / 2)
            .with_hidden(self.hidden.clone())
            .with_dropout(self.dropout);
        Pnn {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            out: LinearConfig::new(dnn.output(), 1)
                .with_bias(false)
                .init(device),
            dnn: dnn.init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl Pnn {
    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        self.dnn.forward(Tensor::cat(
            vec![x.flat(), inner_products(x.fields.clone())],
            1,
        ))
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

crate::impl_with_embedding!(Pnn);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_close, assert_params_learn_except, batch_ids, device, randomized, values,
    };

    #[test]
    fn inner_products_by_hand() {
        let device = device();
        let e = [[1.0f32, 2.0], [3.0, -1.0], [0.5, 0.5]];
        let fields = Tensor::<2>::from_floats(e, &device).unsqueeze_dim::<3>(0);
        // (0,1): 3 - 2 = 1; (0,2): 0.5 + 1 = 1.5; (1,2): 1.5 - 0.5 = 1
        assert_close(&values(inner_products(fields)), &[1.0, 1.5, 1.0], 1e-6);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = PnnConfig::new().with_hidden(vec![8, 4]).init(
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
