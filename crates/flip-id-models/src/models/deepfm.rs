//! DeepFM (Guo et al., 2017): an FM and a DNN over the same embeddings, logits added.
//!
//! Representation: `concat(FM interaction vector [d], DNN output [128])`, i.e. the two vectors
//! the model's two heads read. (The official FLIP encoder concatenates the FM scalar instead,
//! which gives alignment a single number from the FM side.)

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::models::fm::fm_interaction;
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`DeepFm`].
#[derive(Config, Debug)]
pub struct DeepFmConfig {
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

/// DeepFM.
#[derive(Module, Debug)]
pub struct DeepFm {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    dnn: Mlp,
    dnn_out: Linear,
    bias: Param<Tensor<1>>,
}

impl DeepFmConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> DeepFm {
        let dnn = MlpConfig::new(shape.num_fields * self.embedding_dim)
            .with_hidden(self.hidden.clone())
            .with_dropout(self.dropout);
        DeepFm {
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

impl DeepFm {
    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        Tensor::cat(
            vec![fm_interaction(x.fields.clone()), self.dnn.forward(x.flat())],
            1,
        )
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, d + 128]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let repr = self.represent(x);
        let [b, width] = repr.dims();
        let d = self.emb.dim();
        let inter = repr.clone().narrow(1, 0, d);
        let deep = repr.clone().narrow(1, d, width - d);
        let logit = x.linear_logit()
            + inter.sum_dim(1).reshape([b])
            + self.dnn_out.forward(deep).reshape([b])
            + self.bias.val();
        CtrOutput { logit, repr }
    }

    /// Width of the representation (d + last DNN width).
    pub fn repr_dim(&self) -> usize {
        self.emb.dim() + self.dnn_out.weight.shape().dims::<2>()[0]
    }
}

crate::impl_with_embedding!(DeepFm);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fm::FmConfig;
    use crate::testing::{
        assert_all_params_learn, assert_close, batch_ids, device, ids, randomized, values,
    };

    #[test]
    fn logit_is_fm_plus_dnn() {
        let device = device();
        let shape = InputShape {
            num_features: 9,
            num_fields: 3,
        };
        let model = DeepFmConfig::new()
            .with_embedding_dim(4)
            .with_hidden(vec![5, 3])
            .init(shape, &device);
        let x = model
            .emb
            .forward(ids(&[0, 4, 8, 1, 2, 7], 2, 3, &device), crate::Reads::BOTH);
        let out = model.forward_embedded(&x);
        // FM part from the FM model on the same tables, DNN part from the block itself.
        let mut fm = FmConfig::new().with_embedding_dim(4).init(shape, &device);
        fm.emb = fm
            .emb
            .with_tables(model.emb.table.val(), model.emb.linear.val());
        let fm_logit = values(fm.forward_embedded(&x).logit);
        let deep = model.dnn.forward(x.flat());
        let w = values(model.dnn_out.weight.val());
        let deep = values(deep);
        let expected: Vec<f32> = (0..2)
            .map(|r| fm_logit[r] + (0..3).map(|k| deep[r * 3 + k] * w[k]).sum::<f32>())
            .collect();
        assert_close(&values(out.logit), &expected, 1e-5);
        assert_eq!(out.repr.dims(), [2, model.repr_dim()]);
        assert_eq!(model.repr_dim(), 4 + 3);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = DeepFmConfig::new().with_hidden(vec![8, 4]).init(
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
