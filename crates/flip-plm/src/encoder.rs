//! The BERT/RoBERTa encoder: embeddings, post-LayerNorm transformer layers, pooling, and an
//! optional masked-language-model head whose decoder is tied to the word embeddings.
//!
//! Field names follow Hugging Face's (`embeddings.word_embeddings`, `encoder.layer.N.attention`
//! ...) so that checkpoints map onto them with a short list of renames (see `load`).

use burn::module::{Module, Param};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
    Linear, LinearConfig,
};
use burn::tensor::activation::{gelu_approximate, relu};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Int, Tensor};

use crate::config::{Activation, Architecture, PlmConfig};
use crate::dropout::dropout;
use crate::fused::{gelu, layer_norm as normalise, softmax_last};

/// Standard deviation of BERT's normal initialisation.
const INIT_STD: f64 = 0.02;

fn linear(input: usize, output: usize, device: &Device) -> Linear {
    LinearConfig::new(input, output)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        })
        .init(device)
}

fn layer_norm(config: &PlmConfig, device: &Device) -> LayerNorm {
    LayerNormConfig::new(config.hidden_size)
        .with_epsilon(config.layer_norm_eps)
        .init(device)
}

fn embedding(rows: usize, width: usize, device: &Device) -> Embedding {
    EmbeddingConfig::new(rows, width)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        })
        .init(device)
}

/// Token, position and token-type embeddings, summed and normalised.
#[derive(Module, Debug)]
pub struct Embeddings {
    /// `[V, H]`; also the MLM decoder.
    pub word_embeddings: Embedding,
    /// `[P, H]`.
    pub position_embeddings: Embedding,
    /// `[T, H]`.
    pub token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
    /// The LayerNorms' epsilon (burn's `LayerNorm` keeps its own private).
    norm_epsilon: f64,
    dropout: Dropout,
    /// 0 for BERT; RoBERTa numbers real tokens from `pad_token_id + 1` and gives padding
    /// `pad_token_id`.
    position_offset: usize,
}

impl Embeddings {
    /// # Shapes
    /// - `tokens`, `token_types`: `[B, L]`, `mask`: `[B, L]` (true on real tokens)
    /// - output: `[B, L, H]`
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        mask: Tensor<2, Bool>,
        token_types: Option<Tensor<2, Int>>,
    ) -> Tensor<3> {
        let [b, l] = tokens.dims();
        let device = tokens.device();
        let positions = if self.position_offset == 0 {
            Tensor::<1, Int>::arange(0..l as i64, &device)
                .reshape([1, l])
                .expand([b, l])
        } else {
            // Hugging Face's create_position_ids_from_input_ids: real tokens count up from
            // pad + 1, padding sits at pad.
            let real = mask.int();
            real.clone().cumsum(1) * real + (self.position_offset as i64 - 1)
        };
        let types = token_types.unwrap_or_else(|| Tensor::zeros([b, l], &device));
        let x = self.word_embeddings.forward(tokens)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(types);
        dropout(
            &self.dropout,
            normalise(&self.layer_norm, self.norm_epsilon, x),
        )
    }
}

/// Multi-head self-attention with its output projection, residual and LayerNorm.
#[derive(Module, Debug)]
pub struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    output_norm: LayerNorm,
    norm_epsilon: f64,
    probs_dropout: Dropout,
    dropout: Dropout,
    heads: usize,
}

impl Attention {
    /// Token states are kept token-major, `[B·L, H]`, so that every projection is one 2-D
    /// matrix product. (Given `[B, L, H]`, burn keeps a length that is a multiple of 32 as a
    /// batched product against the broadcast weight, and its backward then builds a `[B, H,
    /// H']` weight gradient before summing it: 1.6 times slower training at L = 64.)
    ///
    /// # Shapes
    /// - `x`: `[B·L, H]`, `bias`: `[B, 1, 1, L]` (0 on real tokens, a large negative number on
    ///   padding), `[b, l]`: the batch and length that `x` flattens
    /// - output: `[B·L, H]`
    pub fn forward(&self, x: Tensor<2>, bias: Tensor<4>, [b, l]: [usize; 2]) -> Tensor<2> {
        let [n, h] = x.dims();
        let d = h / self.heads;
        let split = |t: Tensor<2>| t.reshape([b, l, self.heads, d]).swap_dims(1, 2); // [B, heads, L, d]
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        let context = if x.device().is_autodiff() {
            // Training: spelled out, for the dropout on the attention probabilities.
            let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f64).sqrt()) + bias;
            let probs = dropout(&self.probs_dropout, softmax_last(scores));
            probs.matmul(v)
        } else {
            // Scoring: no dropout, so the backend's fused attention (scale 1/sqrt(d)).
            let bias = bias.expand([b, 1, l, l]);
            attention(q, k, v, None, Some(bias), AttentionModuleOptions::default())
        };
        let context = context.swap_dims(1, 2).reshape([n, h]);
        let x = x + dropout(&self.dropout, self.output.forward(context));
        normalise(&self.output_norm, self.norm_epsilon, x)
    }
}

/// One transformer layer (post-LayerNorm, as BERT).
#[derive(Module, Debug)]
pub struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    norm_epsilon: f64,
    dropout: Dropout,
    /// `gelu`, `gelu_tanh` or `relu`.
    activation: String,
}

impl Layer {
    /// # Shapes
    /// - `x`: `[B·L, H]` (token-major, see [`Attention::forward`]), `bias`: `[B, 1, 1, L]`
    /// - output: `[B·L, H]`
    pub fn forward(&self, x: Tensor<2>, bias: Tensor<4>, batch_length: [usize; 2]) -> Tensor<2> {
        let x = self.attention.forward(x, bias, batch_length);
        let inner = self.intermediate.forward(x.clone());
        let inner = match self.activation.as_str() {
            "gelu_tanh" => gelu_approximate(inner),
            "relu" => relu(inner),
            _ => gelu(inner),
        };
        let x = x + dropout(&self.dropout, self.output.forward(inner));
        normalise(&self.output_norm, self.norm_epsilon, x)
    }
}

/// The layer stack (`encoder.layer.N` in checkpoints).
#[derive(Module, Debug)]
pub struct Layers {
    /// The layers, in order.
    pub layer: Vec<Layer>,
}

/// The masked-language-model head: dense, GELU, LayerNorm, then scores against the word
/// embeddings (tied) plus a bias.
#[derive(Module, Debug)]
pub struct MlmHead {
    dense: Linear,
    layer_norm: LayerNorm,
    norm_epsilon: f64,
    bias: Param<Tensor<1>>,
}

/// A BERT or RoBERTa encoder, optionally with its MLM head.
#[derive(Module, Debug)]
pub struct Plm {
    /// Embeddings.
    pub embeddings: Embeddings,
    /// Transformer layers.
    pub encoder: Layers,
    /// The MLM head, when built or loaded.
    pub mlm: Option<MlmHead>,
    hidden_size: usize,
}

impl PlmConfig {
    /// Builds a randomly initialised encoder (BERT's N(0, 0.02)).
    pub fn init(&self, mlm_head: bool, device: &Device) -> Plm {
        let h = self.hidden_size;
        let layers = (0..self.num_layers)
            .map(|_| Layer {
                attention: Attention {
                    query: linear(h, h, device),
                    key: linear(h, h, device),
                    value: linear(h, h, device),
                    output: linear(h, h, device),
                    output_norm: layer_norm(self, device),
                    norm_epsilon: self.layer_norm_eps,
                    probs_dropout: DropoutConfig::new(self.attention_dropout).init(),
                    dropout: DropoutConfig::new(self.hidden_dropout).init(),
                    heads: self.num_heads,
                },
                intermediate: linear(h, self.intermediate_size, device),
                output: linear(self.intermediate_size, h, device),
                output_norm: layer_norm(self, device),
                norm_epsilon: self.layer_norm_eps,
                dropout: DropoutConfig::new(self.hidden_dropout).init(),
                activation: match self.activation {
                    Activation::Gelu => "gelu",
                    Activation::GeluTanh => "gelu_tanh",
                    Activation::Relu => "relu",
                }
                .to_owned(),
            })
            .collect();
        Plm {
            embeddings: Embeddings {
                word_embeddings: embedding(self.vocab_size, h, device),
                position_embeddings: embedding(self.max_position_embeddings, h, device),
                token_type_embeddings: embedding(self.type_vocab_size.max(1), h, device),
                layer_norm: layer_norm(self, device),
                norm_epsilon: self.layer_norm_eps,
                dropout: DropoutConfig::new(self.hidden_dropout).init(),
                position_offset: match self.architecture {
                    Architecture::Bert => 0,
                    Architecture::Roberta => self.position_offset(),
                },
            },
            encoder: Layers { layer: layers },
            mlm: mlm_head.then(|| MlmHead {
                dense: linear(h, h, device),
                layer_norm: layer_norm(self, device),
                norm_epsilon: self.layer_norm_eps,
                bias: Initializer::Zeros.init([self.vocab_size], device),
            }),
            hidden_size: h,
        }
    }
}

impl Plm {
    /// The same model with its word-embedding table `[V, H]` frozen: no gradient is computed
    /// for it and no optimiser updates it (for finetuning on a budget: with 2 of 6 MiniLM layers
    /// kept, the table holds most of the parameters). The MLM decoder, tied to the table, is
    /// frozen with it.
    pub fn with_frozen_word_embeddings(mut self) -> Self {
        let weight = self.embeddings.word_embeddings.weight;
        self.embeddings.word_embeddings.weight = weight.set_require_grad(false);
        self
    }

    /// All token states of the last layer.
    ///
    /// # Shapes
    /// - `tokens`: `[B, L]`, `mask`: `[B, L]` (true on real tokens), `token_types`: `[B, L]`
    /// - output: `[B, L, H]`
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        mask: Tensor<2, Bool>,
        token_types: Option<Tensor<2, Int>>,
    ) -> Tensor<3> {
        let [b, l] = tokens.dims();
        // 0 where attended, the most negative f32 where padded (as Hugging Face).
        let bias = mask
            .clone()
            .bool_not()
            .float()
            .mul_scalar(f32::MIN)
            .reshape([b, 1, 1, l]);
        let h = self.hidden_size;
        let mut x = self
            .embeddings
            .forward(tokens, mask, token_types)
            .reshape([b * l, h]);
        for layer in &self.encoder.layer {
            x = layer.forward(x, bias.clone(), [b, l]);
        }
        x.reshape([b, l, h])
    }

    /// Width of the token states (H).
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.layer.len()
    }

    /// Scores of every vocabulary token for the given token states, through the MLM head.
    /// Call it on the masked positions only: the vocabulary projection is the expensive part.
    ///
    /// # Shapes
    /// - `states`: `[N, H]`
    /// - output: `[N, V]`
    ///
    /// # Panics
    /// If the model was built without the head.
    pub fn mlm_logits(&self, states: Tensor<2>) -> Tensor<2> {
        let head = self
            .mlm
            .as_ref()
            .expect("the model has no MLM head; build or load it with one");
        let h = normalise(
            &head.layer_norm,
            head.norm_epsilon,
            gelu(head.dense.forward(states)),
        );
        let [v] = head.bias.shape().dims();
        h.matmul(self.embeddings.word_embeddings.weight.val().transpose())
            + head.bias.val().reshape([1, v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn training_and_scoring_attention_agree_at_a_length_that_is_a_multiple_of_32() {
        // Scoring runs the backend's fused attention, training spells it out (for dropout);
        // without dropout both must give the same states, padding included.
        let config = PlmConfig {
            hidden_dropout: 0.0,
            attention_dropout: 0.0,
            ..PlmConfig::minilm_l6_h384().with_layers(2)
        };
        let device = Device::flex();
        device.seed(5);
        let model = config.init(false, &device);
        let (b, l) = (2, 32);
        let ids: Vec<i64> = (0..b * l)
            .map(|i| 1_000 + (i as i64 * 37) % 5_000)
            .collect();
        let real: Vec<bool> = (0..b * l).map(|i| i < l || i % l < 20).collect();
        let inputs = |device: &Device| {
            (
                Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [b, l]), device),
                Tensor::<2, Bool>::from_data(TensorData::new(real.clone(), [b, l]), device),
            )
        };
        let (tokens, mask) = inputs(&device);
        let scored = model.clone().forward(tokens, mask, None);
        let training = Device::flex().autodiff();
        let (tokens, mask) = inputs(&training);
        let trained = model.fork(&training).forward(tokens, mask, None);
        let (scored, trained) = (
            scored.into_data().try_to_vec::<f32>().unwrap(),
            trained.into_data().try_to_vec::<f32>().unwrap(),
        );
        let worst = scored
            .iter()
            .zip(&trained)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "largest difference {worst}");
    }

    #[test]
    fn frozen_word_embeddings_get_no_gradient_and_the_rest_does() {
        let device = Device::flex().autodiff();
        let model = PlmConfig::minilm_l6_h384()
            .with_layers(1)
            .init(false, &device)
            .with_frozen_word_embeddings();
        let tokens =
            Tensor::<2, Int>::from_data(TensorData::new(vec![101i64, 2000, 102], [1, 3]), &device);
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(vec![true; 3], [1, 3]), &device);
        let grads = model.forward(tokens, mask, None).sum().backward();
        let grads = burn::optim::GradientsParams::from_grads(grads, &model);
        let embeddings = &model.embeddings;
        assert!(
            grads
                .get::<2>(embeddings.word_embeddings.weight.id)
                .is_none()
        );
        assert!(
            grads
                .get::<2>(embeddings.position_embeddings.weight.id)
                .is_some()
        );
    }

    #[test]
    fn known_configurations_build_and_run() {
        let device = Device::flex();
        let config = PlmConfig::minilm_l6_h384().with_layers(1);
        let model = config.init(true, &device);
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(vec![101i64, 2000, 102, 0], [1, 4]),
            &device,
        );
        let mask = Tensor::<2, Bool>::from_data(
            TensorData::new(vec![true, true, true, false], [1, 4]),
            &device,
        );
        let states = model.forward(tokens, mask, None);
        assert_eq!(states.dims(), [1, 4, 384]);
        let logits = model.mlm_logits(states.reshape([4, 384]));
        assert_eq!(logits.dims(), [4, 30_522]);
    }
}
