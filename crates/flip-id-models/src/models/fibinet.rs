//! FiBiNET (Huang et al., 2019): a squeeze-excitation network reweights the fields, bilinear
//! interactions `(e_i W) ⊙ e_j` ("field-all": one `W`) are taken on the original and the
//! reweighted embeddings, and both feed a DNN, plus first-order weights.
//!
//! Representation: the DNN output `[B, 128]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::pairs::pair_fields;
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`FiBiNet`].
#[derive(Config, Debug)]
pub struct FiBiNetConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Squeeze-excitation reduction ratio. Default 3.
    #[config(default = 3)]
    pub reduction_ratio: usize,
    /// DNN layer widths. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub hidden: Vec<usize>,
    /// DNN dropout. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// Squeeze-excitation over fields.
#[derive(Module, Debug)]
pub struct SqueezeExcitation {
    squeeze: Linear,
    excite: Linear,
}

impl SqueezeExcitation {
    /// # Shapes
    /// - `fields`: `[B, M, d]`
    /// - output: `[B, M, d]`, each field scaled by its learned weight
    pub fn forward(&self, fields: Tensor<3>) -> Tensor<3> {
        let [b, m, _] = fields.dims();
        let z = fields.clone().mean_dim(2).reshape([b, m]);
        let a = relu(self.excite.forward(relu(self.squeeze.forward(z))));
        fields * a.reshape([b, m, 1])
    }
}

/// FiBiNET.
#[derive(Module, Debug)]
pub struct FiBiNet {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    senet: SqueezeExcitation,
    /// Bilinear weights `[d, d]` for the original and the reweighted embeddings.
    bilinear: Param<Tensor<2>>,
    bilinear_senet: Param<Tensor<2>>,
    dnn: Mlp,
    out: Linear,
    bias: Param<Tensor<1>>,
}

/// Bilinear interactions `(e_i W) ⊙ e_j` of all pairs, flattened.
///
/// # Shapes
/// - `fields`: `[B, M, d]`, `w`: `[d, d]`
/// - output: `[B, P·d]`
pub fn bilinear(fields: Tensor<3>, w: Tensor<2>) -> Tensor<2> {
    let (left, right) = pair_fields(fields);
    let [b, p, d] = left.dims();
    (left.matmul(w.unsqueeze_dim::<3>(0)) * right).reshape([b, p * d])
}

impl FiBiNetConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> FiBiNet {
        let (m, d) = (shape.num_fields, self.embedding_dim);
        let reduced = (m / self.reduction_ratio).max(1);
        let pairs = m * (m - 1) / 2;
        let dnn = MlpConfig::new(2 * pairs * d)
            .with_hidden(self.hidden.clone())
            .with_dropout(self.dropout);
        let xavier = || {
            let std = (2.0 / (2 * d) as f64).sqrt();
            Param::from_tensor(Tensor::random(
                [d, d],
                Distribution::Normal(0.0, std),
                device,
            ))
        };
        FiBiNet {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(d)
                .init(device),
            senet: SqueezeExcitation {
                squeeze: LinearConfig::new(m, reduced).with_bias(false).init(device),
                excite: LinearConfig::new(reduced, m).with_bias(false).init(device),
            },
            bilinear: xavier(),
            bilinear_senet: xavier(),
            out: LinearConfig::new(dnn.output(), 1)
                .with_bias(false)
                .init(device),
            dnn: dnn.init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl FiBiNet {
    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        let reweighted = self.senet.forward(x.fields.clone());
        let input = Tensor::cat(
            vec![
                bilinear(x.fields.clone(), self.bilinear.val()),
                bilinear(reweighted, self.bilinear_senet.val()),
            ],
            1,
        );
        self.dnn.forward(input)
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, 128]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let deep = self.represent(x);
        let [b, _] = deep.dims();
        CtrOutput {
            logit: x.linear_logit() + self.out.forward(deep.clone()).reshape([b]) + self.bias.val(),
            repr: deep,
        }
    }

    /// Width of the representation.
    pub fn repr_dim(&self) -> usize {
        self.out.weight.shape().dims::<2>()[0]
    }
}

crate::impl_with_embedding!(FiBiNet);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_all_params_learn, assert_close, device, ids, randomized, values};

    #[test]
    fn squeeze_excitation_and_bilinear_by_hand() {
        let device = device();
        let model = FiBiNetConfig::new()
            .with_embedding_dim(2)
            .with_reduction_ratio(2)
            .with_hidden(vec![4])
            .init(
                InputShape {
                    num_features: 9,
                    num_fields: 3,
                },
                &device,
            );
        let e = [[1.0f32, 2.0], [3.0, -1.0], [0.5, 0.5]];
        let x = Tensor::<2>::from_floats(e, &device).unsqueeze_dim::<3>(0);
        // Squeeze-excitation: z_i = mean(e_i); a = relu(W2ᵀ relu(W1ᵀ z)); out_i = a_i e_i.
        let (w1, w2) = (
            values(model.senet.squeeze.weight.val()),
            values(model.senet.excite.weight.val()),
        );
        let z: Vec<f32> = e.iter().map(|r| (r[0] + r[1]) / 2.0).collect();
        let hidden = (z[0] * w1[0] + z[1] * w1[1] + z[2] * w1[2]).max(0.0); // one reduced unit
        let a: Vec<f32> = (0..3).map(|i| (hidden * w2[i]).max(0.0)).collect();
        let expected: Vec<f32> = (0..3)
            .flat_map(|i| [a[i] * e[i][0], a[i] * e[i][1]])
            .collect();
        assert_close(&values(model.senet.forward(x.clone())), &expected, 1e-5);
        // Bilinear: (e_i W) ⊙ e_j for (0,1), (0,2), (1,2).
        let w = values(model.bilinear.val());
        let mut expected = Vec::new();
        for (i, j) in [(0, 1), (0, 2), (1, 2)] {
            for k in 0..2 {
                expected.push((e[i][0] * w[k] + e[i][1] * w[2 + k]) * e[j][k]);
            }
        }
        assert_close(&values(bilinear(x, model.bilinear.val())), &expected, 1e-5);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        // Six fields (two squeeze units) and eight rows, so that some ReLU units are active.
        let model = FiBiNetConfig::new().with_hidden(vec![8, 4]).init(
            InputShape {
                num_features: 24,
                num_fields: 6,
            },
            &device,
        );
        let model = randomized(model);
        let rows: Vec<i64> = (0..48).map(|i| (i % 6) * 4 + (i * 7 / 6) % 4).collect();
        let out = model.forward_embedded(
            &model
                .emb
                .forward(ids(&rows, 8, 6, &device), crate::Reads::BOTH),
        );
        assert_all_params_learn(&model, out.logit.sum());
    }
}
