//! The feed-forward block ("DNN") used by most zoo members: Linear, optional batch norm, ReLU
//! (after every layer, the last included, as in the official code) and dropout.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Configuration of [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Width of the input.
    pub input: usize,
    /// Widths of the layers. Default `[300, 300, 128]`.
    #[config(default = "vec![300, 300, 128]")]
    pub hidden: Vec<usize>,
    /// Dropout after each layer. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Batch norm before each ReLU (AFN uses it). Default false.
    #[config(default = false)]
    pub batch_norm: bool,
    /// Standard deviation of the normal initialisation of the weights (the official code uses
    /// 1e-4); `None` keeps PyTorch's default uniform. Biases always use the default.
    #[config(default = "Some(1e-4)")]
    pub weight_std: Option<f64>,
}

/// A stack of `Linear -> [BatchNorm] -> ReLU -> Dropout` layers.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    norms: Vec<BatchNorm>,
    dropout: Dropout,
}

impl MlpConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> Mlp {
        let mut layers = Vec::new();
        let mut norms = Vec::new();
        let mut input = self.input;
        for &width in &self.hidden {
            // A bias before batch norm is cancelled by it: leave it out.
            let mut linear = LinearConfig::new(input, width)
                .with_bias(!self.batch_norm)
                .init(device);
            if let Some(std) = self.weight_std {
                linear.weight = Initializer::Normal { mean: 0.0, std }.init([input, width], device);
            }
            layers.push(linear);
            if self.batch_norm {
                norms.push(BatchNormConfig::new(width).init(device));
            }
            input = width;
        }
        Mlp {
            layers,
            norms,
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }

    /// Width of the output.
    pub fn output(&self) -> usize {
        self.hidden.last().copied().unwrap_or(self.input)
    }
}

impl Mlp {
    /// # Shapes
    /// - `x`: `[B, input]`
    /// - output: `[B, hidden.last()]`
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if let Some(norm) = self.norms.get(i) {
                x = norm.forward(x);
            }
            x = self.dropout.forward(relu(x));
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, values};

    #[test]
    fn relu_after_every_layer_including_the_last() {
        let device = device();
        let mlp = MlpConfig::new(3)
            .with_hidden(vec![4, 2])
            .with_weight_std(None)
            .init(&device);
        let x = Tensor::<2>::from_floats([[0.5, -1.0, 2.0]], &device);
        // Reference: plain loops over the same weights.
        let mut h = values(x.clone());
        for layer in &mlp.layers {
            let w = values(layer.weight.val());
            let b = values(layer.bias.as_ref().unwrap().val());
            let (n_in, n_out) = (h.len(), b.len());
            h = (0..n_out)
                .map(|j| (0..n_in).map(|i| h[i] * w[i * n_out + j]).sum::<f32>() + b[j])
                .map(|v| v.max(0.0))
                .collect();
        }
        let got = values(mlp.forward(x));
        for (g, e) in got.iter().zip(&h) {
            assert!((g - e).abs() < 1e-6, "{got:?} vs {h:?}");
        }
    }
}
