//! xDeepFM (Lian et al., 2018): a compressed interaction network (CIN) building explicit
//! vector-wise interactions of growing order, a DNN, and first-order weights.
//!
//! CIN layer k: `Z = X^{k−1} ⊗ X^0` (every pair of a hidden map and a field, element-wise,
//! `[B, H_{k−1}·M, d]`), then `X^k = W_k Z + b_k` (a 1×1 convolution to `H_k` maps). With
//! `split_half`, every layer but the last sends half of its maps on and half to the output; the
//! outputs are sum-pooled over the embedding dimension.
//!
//! Representation: `concat(CIN output [Σ outputs], DNN output [128])`, what the output layer
//! reads.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`XDeepFm`].
#[derive(Config, Debug)]
pub struct XDeepFmConfig {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Feature maps per CIN layer. Default `[256, 128]`.
    #[config(default = "vec![256, 128]")]
    pub cin_layers: Vec<usize>,
    /// Send half of each non-final layer to the output. Default true.
    #[config(default = true)]
    pub split_half: bool,
    /// DNN layer widths. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub hidden: Vec<usize>,
    /// DNN dropout. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// One CIN layer.
#[derive(Module, Debug)]
pub struct CinLayer {
    /// `[H_{k−1}·M, H_k]`.
    weight: Param<Tensor<2>>,
    /// `[H_k]`.
    bias: Param<Tensor<1>>,
    /// Maps sent to the next layer (the rest go to the output).
    next: usize,
}

impl CinLayer {
    /// Maps are kept with the embedding dimension second, so that the whole layer is one
    /// `[B·d, H_{k−1}·M] × [H_{k−1}·M, H_k]` matrix product (one weight gradient, not one
    /// per row to be summed afterwards).
    ///
    /// # Shapes
    /// - `h`: `[B, d, H_{k−1}]`, `x0`: `[B, d, M]`
    /// - output: `[B, d, H_k]`
    pub fn forward(&self, h: Tensor<3>, x0: Tensor<3>) -> Tensor<3> {
        let [b, d, hk] = h.dims();
        let [_, _, m] = x0.dims();
        let z = (h.unsqueeze_dim::<4>(3) * x0.unsqueeze_dim::<4>(2)).reshape([b * d, hk * m]);
        let maps = self.weight.shape().dims::<2>()[1];
        let out = z.matmul(self.weight.val()) + self.bias.val().unsqueeze_dim(0);
        out.reshape([b, d, maps])
    }
}

/// xDeepFM.
#[derive(Module, Debug)]
pub struct XDeepFm {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    cin: Vec<CinLayer>,
    dnn: Mlp,
    out: Linear,
    bias: Param<Tensor<1>>,
}

impl XDeepFmConfig {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> XDeepFm {
        let m = shape.num_fields;
        let mut cin = Vec::new();
        let mut previous = m;
        let mut output = 0;
        for (k, &maps) in self.cin_layers.iter().enumerate() {
            let last = k + 1 == self.cin_layers.len();
            let next = if self.split_half && !last {
                maps / 2
            } else {
                maps
            };
            output += if self.split_half && !last {
                maps - next
            } else {
                maps
            };
            let bound = 1.0 / ((previous * m) as f64).sqrt();
            cin.push(CinLayer {
                weight: Param::from_tensor(Tensor::random(
                    [previous * m, maps],
                    Distribution::Uniform(-bound, bound),
                    device,
                )),
                bias: Param::from_tensor(Tensor::random(
                    [maps],
                    Distribution::Uniform(-bound, bound),
                    device,
                )),
                next,
            });
            previous = next;
        }
        let dnn = MlpConfig::new(m * self.embedding_dim)
            .with_hidden(self.hidden.clone())
            .with_dropout(self.dropout);
        XDeepFm {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            cin,
            out: LinearConfig::new(output + dnn.output(), 1)
                .with_bias(false)
                .init(device),
            dnn: dnn.init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl XDeepFm {
    /// The CIN output, sum-pooled over the embedding dimension.
    ///
    /// # Shapes
    /// - `x0`: `[B, M, d]`
    /// - output: `[B, Σ output maps]`
    pub fn cin(&self, x0: Tensor<3>) -> Tensor<2> {
        let [b, _, _] = x0.dims();
        let x0 = x0.swap_dims(1, 2); // [B, d, M]
        let mut h = x0.clone();
        let mut pooled = Vec::new();
        for (k, layer) in self.cin.iter().enumerate() {
            let out = layer.forward(h, x0.clone()); // [B, d, H_k]
            let [_, _, maps] = out.dims();
            let last = k + 1 == self.cin.len();
            let (next, to_output) = if last || layer.next == maps {
                (out.clone(), out)
            } else {
                (
                    out.clone().narrow(2, 0, layer.next),
                    out.narrow(2, layer.next, maps - layer.next),
                )
            };
            let [_, _, kept] = to_output.dims();
            pooled.push(to_output.sum_dim(1).reshape([b, kept]));
            h = next;
        }
        Tensor::cat(pooled, 1)
    }

    /// The representation alone (what alignment reads), without the logit.
    ///
    /// # Shapes
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, x: &Embedded) -> Tensor<2> {
        Tensor::cat(
            vec![self.cin(x.fields.clone()), self.dnn.forward(x.flat())],
            1,
        )
    }

    /// # Shapes
    /// - output: logit `[B]`, representation `[B, Σ CIN outputs + 128]`
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        let repr = self.represent(x);
        let [b, _] = repr.dims();
        CtrOutput {
            logit: x.linear_logit() + self.out.forward(repr.clone()).reshape([b]) + self.bias.val(),
            repr,
        }
    }

    /// Width of the representation.
    pub fn repr_dim(&self) -> usize {
        self.out.weight.shape().dims::<2>()[0]
    }
}

crate::impl_with_embedding!(XDeepFm);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_all_params_learn, assert_close, batch_ids, device, randomized, values,
    };

    #[test]
    fn one_cin_layer_by_hand() {
        let device = device();
        let model = XDeepFmConfig::new()
            .with_embedding_dim(2)
            .with_cin_layers(vec![3])
            .with_hidden(vec![4])
            .init(
                InputShape {
                    num_features: 6,
                    num_fields: 2,
                },
                &device,
            );
        let e = [[1.0f32, 2.0], [3.0, -1.0]];
        let x0 = Tensor::<2>::from_floats(e, &device).unsqueeze_dim::<3>(0);
        let layer = &model.cin[0];
        let (w, b) = (values(layer.weight.val()), values(layer.bias.val()));
        // z[(i, j)] = e_i ⊙ e_j, row i·M + j; map h = Σ_{(i,j)} W[(i,j), h] z + b_h; pooled over d.
        let expected: Vec<f32> = (0..3)
            .map(|h| {
                (0..2)
                    .map(|k| {
                        (0..2)
                            .flat_map(|i| (0..2).map(move |j| (i, j)))
                            .map(|(i, j)| w[(i * 2 + j) * 3 + h] * e[i][k] * e[j][k])
                            .sum::<f32>()
                            + b[h]
                    })
                    .sum()
            })
            .collect();
        assert_close(&values(model.cin(x0)), &expected, 1e-5);
    }

    #[test]
    fn two_cin_layers_with_split_half_by_hand() {
        let device = device();
        let model = XDeepFmConfig::new()
            .with_embedding_dim(2)
            .with_cin_layers(vec![4, 2])
            .with_hidden(vec![4])
            .init(
                InputShape {
                    num_features: 6,
                    num_fields: 2,
                },
                &device,
            );
        let e = [[0.5f32, 2.0], [-1.5, 1.0]];
        let x0 = Tensor::<2>::from_floats(e, &device).unsqueeze_dim::<3>(0);
        // One layer by hand: maps[h][k] = Σ_{(i,j)} W[(i,j), h] prev[i][k] e[j][k] + b_h.
        let layer = |prev: &[Vec<f32>], w: &[f32], b: &[f32], maps: usize| -> Vec<Vec<f32>> {
            (0..maps)
                .map(|h| {
                    (0..2)
                        .map(|k| {
                            let mut acc = b[h];
                            for (i, row) in prev.iter().enumerate() {
                                for (j, ej) in e.iter().enumerate() {
                                    acc += w[(i * 2 + j) * maps + h] * row[k] * ej[k];
                                }
                            }
                            acc
                        })
                        .collect()
                })
                .collect()
        };
        let params = |l: &CinLayer| (values(l.weight.val()), values(l.bias.val()));
        let (w1, b1) = params(&model.cin[0]);
        let (w2, b2) = params(&model.cin[1]);
        let x0_rows: Vec<Vec<f32>> = e.iter().map(|r| r.to_vec()).collect();
        let first = layer(&x0_rows, &w1, &b1, 4);
        // Maps 0 and 1 go on, maps 2 and 3 go to the output.
        let second = layer(&first[..2], &w2, &b2, 2);
        let pool = |m: &Vec<f32>| m.iter().sum::<f32>();
        let expected: Vec<f32> = first[2..].iter().chain(&second).map(pool).collect();
        assert_close(&values(model.cin(x0)), &expected, 1e-5);
    }

    #[test]
    fn split_half_sends_half_to_the_output() {
        let device = device();
        let model = XDeepFmConfig::new().with_hidden(vec![4]).init(
            InputShape {
                num_features: 9,
                num_fields: 3,
            },
            &device,
        );
        assert_eq!(model.repr_dim(), 128 + 128 + 4);
        assert_eq!(model.cin[1].weight.shape().dims::<2>(), [128 * 3, 128]);
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = XDeepFmConfig::new()
            .with_cin_layers(vec![4, 2])
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
        assert_eq!(out.repr.dims(), [8, 2 + 2 + 4]);
        assert_all_params_learn(&model, out.logit.sum());
    }
}
