//! DCNv2 (Wang et al., 2021) with the mixture of low-rank experts ("DCN-Mix"), exactly as the
//! official FLIP code: for layer `l` and expert `e`,
//! `v = tanh(V_leᵀ x_l)`, `v = tanh(C_le v)`, `u = U_le v`, `o_e = x_0 ⊙ (u + b_l)`, a gate
//! `g_e = w_leᵀ x_l`, and `x_{l+1} = Σ_e softmax(g)_e o_e + x_l`. A DNN runs in parallel.
//!
//! Representation: `concat(cross output [M·d], DNN output [128])` (384 wide for 8 fields of
//! 32), which the official code aligns with the language model and feeds to its output layer.
//! The logit adds the first-order weights, as the official DCNv2.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Distribution, Tensor};

use crate::mlp::{Mlp, MlpConfig};
use crate::{CtrOutput, Embedded, FeatureEmbedding, FeatureEmbeddingConfig, InputShape};

/// Configuration of [`DcnV2`].
#[derive(Config, Debug)]
pub struct DcnV2Config {
    /// Embedding width. Default 32.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Cross layers. Default 2.
    #[config(default = 2)]
    pub cross_layers: usize,
    /// Experts per layer. Default 4.
    #[config(default = 4)]
    pub experts: usize,
    /// Rank of each expert. Default 32.
    #[config(default = 32)]
    pub rank: usize,
    /// DNN layer widths. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub hidden: Vec<usize>,
    /// DNN dropout. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// DCNv2 with a mixture of low-rank experts.
#[derive(Module, Debug)]
pub struct DcnV2 {
    /// Shared feature embedding.
    pub emb: FeatureEmbedding,
    /// `[L, E, n, r]`.
    u: Param<Tensor<4>>,
    /// `[L, E, n, r]`.
    v: Param<Tensor<4>>,
    /// `[L, E, r, r]`.
    c: Param<Tensor<4>>,
    /// Gate weights `[L, E, n]`.
    gates: Param<Tensor<3>>,
    /// Layer biases `[L, n]`.
    cross_bias: Param<Tensor<2>>,
    dnn: Mlp,
    out: Linear,
    bias: Param<Tensor<1>>,
}

/// Xavier-normal with PyTorch's fan rule for a 3-D slice `(E, a, b)`: fan_in `a·b`,
/// fan_out `E·b`.
fn xavier_slices(shape: [usize; 4], device: &Device) -> Param<Tensor<4>> {
    let [_, e, a, b] = shape;
    let std = (2.0 / (a * b + e * b) as f64).sqrt();
    Param::from_tensor(Tensor::random(
        shape,
        Distribution::Normal(0.0, std),
        device,
    ))
}

/// `tanh(x) = 2σ(2x) − 1`. Exact in real arithmetic; in f32 the absolute error stays below
/// 2.4e-7. burn-flex evaluates `tanh` with scalar libm (30 ms per million values on the 2-core
/// machine) but `sigmoid` with SIMD (6 ms), and DCNv2 applies tanh twice per layer and expert.
pub fn fast_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    sigmoid(x.mul_scalar(2.0)).mul_scalar(2.0).sub_scalar(1.0)
}

impl DcnV2Config {
    /// Builds the model.
    pub fn init(&self, shape: InputShape, device: &Device) -> DcnV2 {
        let n = shape.num_fields * self.embedding_dim;
        let (l, e, r) = (self.cross_layers, self.experts, self.rank);
        let dnn = MlpConfig::new(n)
            .with_hidden(self.hidden.clone())
            .with_dropout(self.dropout);
        let bound = 1.0 / (n as f64).sqrt();
        DcnV2 {
            emb: FeatureEmbeddingConfig::new(shape.num_features)
                .with_dim(self.embedding_dim)
                .init(device),
            u: xavier_slices([l, e, n, r], device),
            v: xavier_slices([l, e, n, r], device),
            c: xavier_slices([l, e, r, r], device),
            gates: Param::from_tensor(Tensor::random(
                [l, e, n],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            cross_bias: Initializer::Zeros.init([l, n], device),
            out: LinearConfig::new(n + dnn.output(), 1)
                .with_bias(false)
                .init(device),
            dnn: dnn.init(device),
            bias: Initializer::Zeros.init([1], device),
        }
    }
}

impl DcnV2 {
    /// The cross network.
    ///
    /// Computed without materialising the `E` expert outputs: since the gate weights sum to one,
    /// `Σ_e w_e x0 ⊙ (U_e h_e + b) = x0 ⊙ ([w_1 h_1 … w_E h_E] [U_1 … U_E]ᵀ + b)`, so a layer is
    /// a matmul with all `V_e` side by side, a batched matmul with the `C_e`, and a matmul with
    /// all `U_e` stacked.
    ///
    /// # Shapes
    /// - `x0`: `[B, n]`
    /// - output: `[B, n]`
    pub fn cross(&self, x0: Tensor<2>) -> Tensor<2> {
        let [layers, experts, n, r] = self.u.shape().dims();
        let [b, _] = x0.dims();
        let mut x = x0.clone();
        for l in 0..layers {
            let slice = |p: &Param<Tensor<4>>, a: usize, c: usize| {
                p.val().narrow(0, l, 1).reshape([experts, a, c])
            };
            let (u, v, c) = (
                slice(&self.u, n, r),
                slice(&self.v, n, r),
                slice(&self.c, r, r),
            );
            // [n, E·r]: column block e is V_e.
            let v_all = v.swap_dims(0, 1).reshape([n, experts * r]);
            let h = fast_tanh(x.clone().matmul(v_all)); // [B, E·r]
            // h_e C_eᵀ for every expert: a batched matmul over [E, B, r].
            let h = h
                .reshape([b, experts, r])
                .swap_dims(0, 1)
                .matmul(c.swap_dims(1, 2));
            let h = fast_tanh(h.swap_dims(0, 1).reshape([b, experts * r])); // [B, E·r]
            let gates = self.gates.val().narrow(0, l, 1).reshape([experts, n]);
            let weights = softmax(x.clone().matmul(gates.transpose()), 1); // [B, E]
            let weighted = (h.reshape([b, experts, r]) * weights.reshape([b, experts, 1]))
                .reshape([b, experts * r]);
            // [E·r, n]: row block e is U_eᵀ.
            let u_all = u.swap_dims(1, 2).reshape([experts * r, n]);
            let layer_bias = self.cross_bias.val().narrow(0, l, 1);
            x = x0.clone() * (weighted.matmul(u_all) + layer_bias) + x;
        }
        x
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
            logit: x.linear_logit() + self.out.forward(repr.clone()).reshape([b]) + self.bias.val(),
            repr,
        }
    }

    /// Width of the representation.
    pub fn repr_dim(&self) -> usize {
        self.out.weight.shape().dims::<2>()[0]
    }
}

crate::impl_with_embedding!(DcnV2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        assert_all_params_learn, assert_close, batch_ids, device, randomized, values,
    };

    /// The official formulas with loops, one sample `x0` of width `n`.
    fn reference(model: &DcnV2, x0: &[f32]) -> Vec<f32> {
        let [layers, experts, n, r] = model.u.shape().dims();
        let (u, v, c) = (
            values(model.u.val()),
            values(model.v.val()),
            values(model.c.val()),
        );
        let (g, bias) = (values(model.gates.val()), values(model.cross_bias.val()));
        let at4 = |t: &[f32], l: usize, e: usize, i: usize, j: usize, d2: usize, d3: usize| {
            t[((l * experts + e) * d2 + i) * d3 + j]
        };
        let mut x = x0.to_vec();
        for l in 0..layers {
            let mut outs = vec![vec![0.0f32; n]; experts];
            let mut scores = vec![0.0f32; experts];
            for e in 0..experts {
                scores[e] = (0..n).map(|i| g[(l * experts + e) * n + i] * x[i]).sum();
                let h1: Vec<f32> = (0..r)
                    .map(|k| {
                        (0..n)
                            .map(|i| at4(&v, l, e, i, k, n, r) * x[i])
                            .sum::<f32>()
                            .tanh()
                    })
                    .collect();
                let h2: Vec<f32> = (0..r)
                    .map(|k| {
                        (0..r)
                            .map(|j| at4(&c, l, e, k, j, r, r) * h1[j])
                            .sum::<f32>()
                            .tanh()
                    })
                    .collect();
                for i in 0..n {
                    let ui: f32 = (0..r).map(|k| at4(&u, l, e, i, k, n, r) * h2[k]).sum();
                    outs[e][i] = x0[i] * (ui + bias[l * n + i]);
                }
            }
            let max = scores.iter().cloned().fold(f32::MIN, f32::max);
            let z: f32 = scores.iter().map(|s| (s - max).exp()).sum();
            x = (0..n)
                .map(|i| {
                    (0..experts)
                        .map(|e| (scores[e] - max).exp() / z * outs[e][i])
                        .sum::<f32>()
                        + x[i]
                })
                .collect();
        }
        x
    }

    #[test]
    fn cross_network_matches_the_official_formulas() {
        let device = device();
        let mut model = DcnV2Config::new()
            .with_embedding_dim(2)
            .with_experts(3)
            .with_rank(2)
            .with_hidden(vec![3])
            .init(
                InputShape {
                    num_features: 6,
                    num_fields: 2,
                },
                &device,
            );
        model.cross_bias = Param::from_tensor(Tensor::random(
            [2, 4],
            Distribution::Normal(0.0, 0.5),
            &device,
        ));
        let x0 = [[0.5f32, -1.0, 2.0, 0.25], [-0.3, 0.8, 0.1, -1.5]];
        let got = values(model.cross(Tensor::from_floats(x0, &device)));
        let expected: Vec<f32> = x0.iter().flat_map(|row| reference(&model, row)).collect();
        assert_close(&got, &expected, 1e-5);
    }

    #[test]
    fn fast_tanh_is_tanh() {
        let device = device();
        let xs: Vec<f32> = (-400..=400)
            .map(|i| i as f32 / 40.0)
            .chain([1e-6, -3e-5, 50.0, -80.0])
            .collect();
        let got = values(fast_tanh(Tensor::<1>::from_floats(xs.as_slice(), &device)));
        for (g, x) in got.iter().zip(&xs) {
            assert!(
                (g - x.tanh()).abs() <= 2.4e-7,
                "tanh({x}) = {} but got {g}",
                x.tanh()
            );
        }
    }

    #[test]
    fn shapes_of_the_official_configuration() {
        let device = device();
        let model = DcnV2Config::new().init(
            InputShape {
                num_features: 100,
                num_fields: 8,
            },
            &device,
        );
        assert_eq!(model.u.shape().dims::<4>(), [2, 4, 256, 32]);
        assert_eq!(model.c.shape().dims::<4>(), [2, 4, 32, 32]);
        assert_eq!(model.repr_dim(), 384);
        // Xavier-normal on (E, n, r) slices: std = sqrt(2 / (n·r + E·r)).
        let u = values(model.u.val());
        let std = (u.iter().map(|v| v * v).sum::<f32>() / u.len() as f32).sqrt();
        let expected = (2.0f32 / (256.0 * 32.0 + 4.0 * 32.0)).sqrt();
        assert!((std / expected - 1.0).abs() < 0.02, "{std} vs {expected}");
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let device = device().autodiff();
        let model = DcnV2Config::new()
            .with_rank(4)
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
        assert_eq!(out.repr.dims(), [8, 3 * 32 + 4]);
        assert_all_params_learn(&model, out.logit.sum());
    }
}
