//! Masked language modelling with tabular context: the masked text's token states, each joined
//! with the row's clean ID representation, predict the original tokens. The vocabulary
//! projection runs on the masked positions only (gathered first), never on all `B × L`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, tanh};
use burn::tensor::{Device, Int, Tensor};

/// Configuration of [`MlmHead`].
#[derive(Config, Debug)]
pub struct MlmHeadConfig {
    /// Width of the token states (H).
    pub text_dim: usize,
    /// Width of the ID representation.
    pub id_dim: usize,
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Dropout after the tanh. Default 0.2.
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// `Linear(H + d_id → H)`, tanh, dropout, `Linear(H → V)`.
#[derive(Module, Debug)]
pub struct MlmHead {
    dense: Linear,
    dropout: Dropout,
    decoder: Linear,
}

impl MlmHeadConfig {
    /// Builds the head.
    pub fn init(&self, device: &Device) -> MlmHead {
        MlmHead {
            dense: LinearConfig::new(self.text_dim + self.id_dim, self.text_dim).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            decoder: LinearConfig::new(self.text_dim, self.vocab_size).init(device),
        }
    }
}

/// Loss and accuracy of one head.
#[derive(Debug, Clone)]
pub struct HeadOutput {
    /// Mean loss over the predicted positions `[1]`.
    pub loss: Tensor<1>,
    /// Share of positions predicted right `[1]` (no gradient).
    pub accuracy: Tensor<1>,
}

impl MlmHead {
    /// Scores of every vocabulary token at the masked positions.
    ///
    /// # Shapes
    /// - `states`: `[B, L, H]` (masked text), `id_repr`: `[B, d_id]` (clean ids)
    /// - `positions`: `[N]` flat indices `b · L + l`
    /// - output: `[N, V]`
    pub fn logits(
        &self,
        states: Tensor<3>,
        id_repr: Tensor<2>,
        positions: Tensor<1, Int>,
    ) -> Tensor<2> {
        let [b, l, h] = states.dims();
        let picked = states.reshape([b * l, h]).select(0, positions.clone());
        let rows = id_repr.select(0, positions.div_scalar(l as i64));
        let hidden = self
            .dropout
            .forward(tanh(self.dense.forward(Tensor::cat(vec![picked, rows], 1))));
        self.decoder.forward(hidden)
    }

    /// Cross-entropy of the original tokens and the share predicted exactly.
    ///
    /// # Shapes
    /// - as [`MlmHead::logits`]; `targets`: `[N]`
    pub fn forward(
        &self,
        states: Tensor<3>,
        id_repr: Tensor<2>,
        positions: Tensor<1, Int>,
        targets: Tensor<1, Int>,
    ) -> HeadOutput {
        let logits = self.logits(states, id_repr, positions);
        let [n, _] = logits.dims();
        let targets = targets.reshape([n, 1]);
        let loss = log_softmax(logits.clone(), 1)
            .gather(1, targets.clone())
            .mean()
            .neg();
        let accuracy = logits.detach().argmax(1).equal(targets).float().mean();
        HeadOutput { loss, accuracy }
    }
}

impl MlmHead {
    /// The same loss computed the official way: the vocabulary projection over all `B × L`
    /// positions, then the masked ones picked (for cost comparisons; the result is identical).
    pub fn forward_all_positions(
        &self,
        states: Tensor<3>,
        id_repr: Tensor<2>,
        positions: Tensor<1, Int>,
        targets: Tensor<1, Int>,
    ) -> HeadOutput {
        let [b, l, h] = states.dims();
        let [_, d] = id_repr.dims();
        let rows = id_repr.reshape([b, 1, d]).expand([b, l, d]);
        // Token-major `[B·L, H + d]`, so that the projections are 2-D matrix products.
        let joined = Tensor::cat(vec![states, rows], 2).reshape([b * l, h + d]);
        let hidden = self.dropout.forward(tanh(self.dense.forward(joined)));
        let all = self.decoder.forward(hidden);
        let logits = all.select(0, positions);
        let [n, _] = logits.dims();
        let targets = targets.reshape([n, 1]);
        let loss = log_softmax(logits.clone(), 1)
            .gather(1, targets.clone())
            .mean()
            .neg();
        let accuracy = logits.detach().argmax(1).equal(targets).float().mean();
        HeadOutput { loss, accuracy }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().iter::<f32>().collect()
    }

    #[test]
    fn logits_at_masked_positions_by_hand() {
        let device = Device::flex();
        let head = MlmHeadConfig::new(2, 1, 3).with_dropout(0.0).init(&device);
        // B = 2, L = 2, H = 2; masked positions: (0, 1) and (1, 0).
        let states = Tensor::<3>::from_floats(
            [[[0.1, 0.2], [0.3, -0.4]], [[0.5, 0.6], [0.7, 0.8]]],
            &device,
        );
        let id_repr = Tensor::<2>::from_floats([[2.0], [-1.0]], &device);
        let positions = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 2], [2]), &device);
        let (w1, b1) = (
            values(head.dense.weight.val()),
            values(head.dense.bias.clone().unwrap().val()),
        );
        let (w2, b2) = (
            values(head.decoder.weight.val()),
            values(head.decoder.bias.clone().unwrap().val()),
        );
        let mut expected = Vec::new();
        for input in [[0.3f32, -0.4, 2.0], [0.5, 0.6, -1.0]] {
            let hidden: Vec<f32> = (0..2)
                .map(|j| ((0..3).map(|i| input[i] * w1[i * 2 + j]).sum::<f32>() + b1[j]).tanh())
                .collect();
            expected.extend(
                (0..3).map(|v| (0..2).map(|j| hidden[j] * w2[j * 3 + v]).sum::<f32>() + b2[v]),
            );
        }
        let got = values(head.logits(states.clone(), id_repr.clone(), positions.clone()));
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-5, "{got:?} vs {expected:?}");
        }
        // Projecting every position first (the official way) gives the same loss.
        let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0], [2]), &device);
        let a = head
            .forward(
                states.clone(),
                id_repr.clone(),
                positions.clone(),
                targets.clone(),
            )
            .loss
            .into_scalar::<f32>();
        let b = head
            .forward_all_positions(states, id_repr, positions, targets)
            .loss
            .into_scalar::<f32>();
        assert!((a - b).abs() < 1e-6);
    }
}
