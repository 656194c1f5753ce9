//! Instance-level contrastive learning: a projection head per modality and the symmetric
//! InfoNCE loss over the batch.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, log_softmax};
use burn::tensor::{Device, Int, Tensor};

/// Configuration of [`ProjectionHead`].
#[derive(Config, Debug)]
pub struct ProjectionHeadConfig {
    /// Width of the input (the ID representation or the text vector).
    pub input: usize,
    /// Width of the projection. Default 128.
    #[config(default = 128)]
    pub output: usize,
    /// Dropout after the second layer. Default 0.2.
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// `p = W₁x`, `y = Dropout(W₂ GELU(p))`, output `LayerNorm(y + p)` (flip-spec §4).
#[derive(Module, Debug)]
pub struct ProjectionHead {
    first: Linear,
    second: Linear,
    dropout: Dropout,
    norm: LayerNorm,
}

impl ProjectionHeadConfig {
    /// Builds the head.
    pub fn init(&self, device: &Device) -> ProjectionHead {
        ProjectionHead {
            first: LinearConfig::new(self.input, self.output).init(device),
            second: LinearConfig::new(self.output, self.output).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            norm: LayerNormConfig::new(self.output).init(device),
        }
    }
}

impl ProjectionHead {
    /// # Shapes
    /// - `x`: `[B, input]`
    /// - output: `[B, output]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let p = self.first.forward(x);
        let y = self.dropout.forward(self.second.forward(gelu(p.clone())));
        self.norm.forward(y + p)
    }
}

/// Symmetric InfoNCE: row `i` of `a` should match row `i` of `b` among all rows of the batch,
/// and the other way round: `½ [CE(S, diag) + CE(Sᵀ, diag)]` with `S = a bᵀ / τ`.
/// With `normalize`, rows are L2-normalised first (cosine similarities).
///
/// # Shapes
/// - `a`, `b`: `[B, D]`; `temperature`: `[1]` (positive)
/// - output: `[1]`
pub fn info_nce(a: Tensor<2>, b: Tensor<2>, temperature: Tensor<1>, normalize: bool) -> Tensor<1> {
    let (a, b) = if normalize {
        (l2_normalize(a), l2_normalize(b))
    } else {
        (a, b)
    };
    let [n, _] = a.dims();
    let scores = a.matmul(b.transpose()) / temperature.reshape([1, 1]);
    let diagonal = Tensor::<1, Int>::arange(0..n as i64, &scores.device()).reshape([n, 1]);
    let rows = log_softmax(scores.clone(), 1)
        .gather(1, diagonal.clone())
        .mean();
    let cols = log_softmax(scores.transpose(), 1)
        .gather(1, diagonal)
        .mean();
    (rows + cols).mul_scalar(-0.5)
}

/// Rows scaled to unit length.
///
/// # Shapes
/// - `x`: `[B, D]` → `[B, D]`
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let [b, _] = x.dims();
    let norm = x
        .clone()
        .square()
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12)
        .reshape([b, 1]);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    #[test]
    fn two_by_two_by_hand() {
        let device = Device::flex();
        let a = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0]], &device);
        let b = Tensor::<2>::from_floats([[0.5, 0.5], [1.0, -1.0]], &device);
        let tau = Tensor::<1>::from_floats([0.7], &device);
        // S = a bᵀ / 0.7 = [[0.5, 1], [1, -2]] / 0.7
        let s = [[0.5f32 / 0.7, 1.0 / 0.7], [1.0 / 0.7, -2.0 / 0.7]];
        let ce = |row: [f32; 2], target: usize| -(row[target] - (row[0].exp() + row[1].exp()).ln());
        let rows = (ce(s[0], 0) + ce(s[1], 1)) / 2.0;
        let cols = (ce([s[0][0], s[1][0]], 0) + ce([s[0][1], s[1][1]], 1)) / 2.0;
        let expected = 0.5 * (rows + cols);
        assert!(
            (scalar(info_nce(a.clone(), b.clone(), tau.clone(), false)) - expected).abs() < 1e-5
        );
        // Normalised: cosines.
        let (an, bn) = (
            [[1.0f32, 0.0], [0.0, 1.0]],
            [
                [0.5f32.sqrt(), 0.5f32.sqrt()],
                [0.5f32.sqrt(), -(0.5f32.sqrt())],
            ],
        );
        let dot = |x: [f32; 2], y: [f32; 2]| (x[0] * y[0] + x[1] * y[1]) / 0.7;
        let s = [
            [dot(an[0], bn[0]), dot(an[0], bn[1])],
            [dot(an[1], bn[0]), dot(an[1], bn[1])],
        ];
        let rows = (ce(s[0], 0) + ce(s[1], 1)) / 2.0;
        let cols = (ce([s[0][0], s[1][0]], 0) + ce([s[0][1], s[1][1]], 1)) / 2.0;
        assert!((scalar(info_nce(a, b, tau, true)) - 0.5 * (rows + cols)).abs() < 1e-5);
    }

    #[test]
    fn matching_pairs_give_a_low_loss() {
        let device = Device::flex();
        let a = Tensor::<2>::from_floats([[5.0, 0.0], [0.0, 5.0]], &device);
        let tau = Tensor::<1>::from_floats([0.7], &device);
        let matched = scalar(info_nce(a.clone(), a.clone(), tau.clone(), false));
        let crossed = scalar(info_nce(
            a.clone(),
            Tensor::from_floats([[0.0, 5.0], [5.0, 0.0]], &device),
            tau,
            false,
        ));
        assert!(matched < 1e-6 && crossed > 30.0, "{matched} {crossed}");
    }
}
