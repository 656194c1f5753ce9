//! Throughput benchmarks on synthetic batches shaped like a real dataset: the ID models, the
//! language model, FLIP pretraining and the FLIP joint model, each with the peak memory it took.

use std::time::Instant;

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{PlmConfig, Pooling, pool};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::adamw::FusedAdamW;
use crate::ctr::bce_with_logits;
use crate::sparse::{GatheredRows, SparseAdam, TouchedRows};

/// burn's default AdamW weight decay, which the benchmarks have always used where no other is
/// named.
const BURN_DEFAULT_DECAY: f32 = 1e-4;

/// The field vocabulary sizes of MovieLens-1M as in the authors' preprocessing (16,939 ids):
/// user, gender, age, occupation, zip, movie, title, genre.
pub const ML1M_FIELDS: [usize; 8] = [6040, 2, 7, 21, 3439, 3706, 3706, 18];

/// One measured scenario.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Scenario name (`id_train`, `id_train_sparse`, `id_infer`).
    pub scenario: String,
    /// Model.
    pub model: String,
    /// Rows per step.
    pub batch: usize,
    /// Steps timed (after warm-up).
    pub steps: usize,
    /// Rows per second.
    pub samples_per_second: f64,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Peak resident memory of the process while the scenario ran, in MiB (Linux; host memory,
    /// so on a GPU it counts only what the host side holds). `None` where not measurable.
    pub peak_memory_mib: Option<f64>,
}

/// The process's peak resident memory, reset at the start of each scenario so that every
/// scenario reports its own peak.
pub mod memory {
    /// Resets the kernel's peak-RSS mark of this process (`/proc/self/clear_refs`, Linux 4.0+).
    /// Returns whether the reset worked.
    pub fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// The peak resident memory since the last reset, in MiB (`VmHWM`), where readable.
    pub fn peak_mib() -> Option<f64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

/// Times `steps` calls of `step` after `warmup` untimed ones, with the peak memory of all.
/// `step` takes the state (a model being trained) by value and returns it, so that optimizers
/// update parameters in place as in a real training loop.
fn timed<S>(
    scenario: &str,
    model: String,
    batch: usize,
    (warmup, steps): (usize, usize),
    device: &Device,
    mut state: S,
    mut step: impl FnMut(S, usize) -> S,
) -> BenchResult {
    let resettable = memory::reset_peak();
    let mut started = Instant::now();
    for i in 0..warmup + steps {
        if i == warmup {
            device.sync().expect("device sync");
            started = Instant::now();
        }
        state = step(state, i);
    }
    device.sync().expect("device sync");
    let seconds = started.elapsed().as_secs_f64();
    drop(state);
    BenchResult {
        scenario: scenario.into(),
        model,
        batch,
        steps,
        samples_per_second: (batch * steps) as f64 / seconds,
        ms_per_step: 1e3 * seconds / steps as f64,
        peak_memory_mib: if resettable { memory::peak_mib() } else { None },
    }
}

/// The first global id of each field when fields of `fields[f]` values share one id space.
fn field_offsets(fields: &[usize]) -> Vec<usize> {
    fields
        .iter()
        .scan(0, |acc, &n| {
            let o = *acc;
            *acc += n;
            Some(o)
        })
        .collect()
}

/// Random ids: field `f` draws uniformly among its `fields[f]` values, offset into one space.
pub fn synthetic_ids(fields: &[usize], rows: usize, seed: u64) -> Vec<i64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let offsets = field_offsets(fields);
    (0..rows)
        .flat_map(|_| {
            fields
                .iter()
                .zip(&offsets)
                .map(|(&n, &o)| (o + rng.random_range(0..n)) as i64)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Training steps per second of `model` (Adam, BCE) at `batch` rows, dense or row-sparse
/// embedding updates, on `device` (autodiff).
pub fn train_throughput(
    model: &ModelConfig,
    fields: &[usize],
    batch: usize,
    steps: usize,
    sparse: bool,
    device: &Device,
) -> BenchResult {
    let shape = InputShape {
        num_features: fields.iter().sum(),
        num_fields: fields.len(),
    };
    let net = model.init(shape, device);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut lazy = SparseAdam::new(net.embedding());
    let scenario = if sparse {
        "id_train_sparse"
    } else {
        "id_train"
    };
    timed(
        scenario,
        model.name().into(),
        batch,
        (3, steps),
        device,
        net,
        |net, step| {
            let ids = synthetic_ids(fields, batch, step as u64);
            let labels: Vec<f32> = ids
                .chunks(fields.len())
                .map(|r| (r[0] % 2) as f32)
                .collect();
            let labels = Tensor::<1>::from_data(TensorData::new(labels, [batch]), device);
            if sparse {
                let touched = TouchedRows::new(&ids);
                let rows = GatheredRows::gather(net.embedding(), &touched, net.reads());
                let out = net.forward_embedded(&rows.embedded(&touched, batch, fields.len()));
                let mut grads = bce_with_logits(out.logit, labels).backward();
                let row_grads = rows.take_grads(&mut grads);
                let params = GradientsParams::from_grads(grads, &net);
                let net = optim.step(1e-3, net, params);
                let emb = net.embedding().clone();
                net.with_embedding(lazy.step(1e-3, emb, &rows, row_grads))
            } else {
                let ids = Tensor::<2, Int>::from_data(
                    TensorData::new(ids, [batch, fields.len()]),
                    device,
                );
                let grads = GradientsParams::from_grads(
                    bce_with_logits(net.forward(ids).logit, labels).backward(),
                    &net,
                );
                optim.step(1e-3, net, grads)
            }
        },
    )
}

/// Scoring rows per second of `model` at `batch` rows on `device` (no autodiff).
pub fn infer_throughput(
    model: &ModelConfig,
    fields: &[usize],
    batch: usize,
    steps: usize,
    device: &Device,
) -> BenchResult {
    let shape = InputShape {
        num_features: fields.iter().sum(),
        num_fields: fields.len(),
    };
    let net = model.init(shape, device).valid();
    let mut checksum = 0.0f32;
    let result = timed(
        "id_infer",
        model.name().into(),
        batch,
        (2, steps),
        device,
        (),
        |(), step| {
            let ids = Tensor::<2, Int>::from_data(
                TensorData::new(
                    synthetic_ids(fields, batch, step as u64),
                    [batch, fields.len()],
                ),
                device,
            );
            checksum += net.forward(ids).logit.sum().into_scalar::<f32>();
        },
    );
    assert!(checksum.is_finite(), "scores are finite");
    result
}

/// Random token ids `[batch, len]` in `0..vocab` (special-token free), all attended.
fn random_tokens(
    vocab: usize,
    batch: usize,
    len: usize,
    seed: u64,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Bool>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let ids: Vec<i64> = (0..batch * len)
        .map(|_| rng.random_range(1000..vocab as i64))
        .collect();
    (
        Tensor::from_data(TensorData::new(ids, [batch, len]), device),
        Tensor::from_data(
            TensorData::new(vec![true; batch * len], [batch, len]),
            device,
        ),
    )
}

/// Sequences per second of a language model of shape `config` at `batch` x `len` tokens:
/// training steps (`[CLS]` head, BCE, AdamW) on `device` (autodiff) when `train`, else forward
/// passes on `device` (plain).
pub fn plm_throughput(
    config: &PlmConfig,
    batch: usize,
    len: usize,
    steps: usize,
    train: bool,
    device: &Device,
) -> BenchResult {
    let model = config.init(false, device);
    let head = LinearConfig::new(config.hidden_size, 1).init(device);
    let mut optim = FusedAdamW::new(1e-3).init(None);
    let mut head_optim = FusedAdamW::new(BURN_DEFAULT_DECAY).init(None);
    timed(
        if train { "plm_train" } else { "plm_infer" },
        format!("{}L-{}H len {len}", config.num_layers, config.hidden_size),
        batch,
        (2, steps),
        device,
        (model, head),
        |(model, head), step| {
            let (tokens, mask) = random_tokens(config.vocab_size, batch, len, step as u64, device);
            let cls = pool(
                model.forward(tokens, mask.clone(), None),
                mask,
                Pooling::Cls,
            );
            let logits = head.forward(cls).reshape([batch]);
            if train {
                let mut grads =
                    bce_with_logits(logits, alternating_labels(batch, device)).backward();
                let head_grads = GradientsParams::from_module(&mut grads, &head);
                let model_grads = GradientsParams::from_grads(grads, &model);
                (
                    optim.step(5e-5, model, model_grads),
                    head_optim.step(1e-3, head, head_grads),
                )
            } else {
                let _ = logits.sum().into_scalar::<f32>();
                (model, head)
            }
        },
    )
}

/// Labels `0, 1, 0, 1, …` `[batch]`.
fn alternating_labels(batch: usize, device: &Device) -> Tensor<1> {
    Tensor::from_data(
        TensorData::new(
            (0..batch).map(|i| (i % 2) as f32).collect::<Vec<_>>(),
            [batch],
        ),
        device,
    )
}

/// Samples per second of the FLIP joint model (DCNv2 over `fields` plus a language model of
/// shape `plm`, logits mixed by `α`): training steps with the three BCE terms and AdamW when
/// `train` (autodiff `device`), else scoring passes, at `batch` prompts of `len` tokens.
pub fn joint_throughput(
    plm: &PlmConfig,
    fields: &[usize],
    batch: usize,
    len: usize,
    steps: usize,
    train: bool,
    device: &Device,
) -> BenchResult {
    let shape = InputShape {
        num_features: fields.iter().sum(),
        num_fields: fields.len(),
    };
    let id_model = ModelConfig::from_name("dcnv2")
        .expect("in the zoo")
        .init(shape, device);
    let model = crate::finetune::TextClassifier::new(
        plm.init(false, device),
        Some(id_model),
        false,
        device,
    );
    let mut plm_optim = FusedAdamW::new(BURN_DEFAULT_DECAY).init(None);
    let mut rest_optim = FusedAdamW::new(BURN_DEFAULT_DECAY).init(None);
    timed(
        if train { "joint_train" } else { "joint_infer" },
        format!("dcnv2 + {}L-{}H len {len}", plm.num_layers, plm.hidden_size),
        batch,
        (2, steps),
        device,
        model,
        |mut model, step| {
            let ids = Tensor::<2, Int>::from_data(
                TensorData::new(
                    synthetic_ids(fields, batch, step as u64),
                    [batch, fields.len()],
                ),
                device,
            );
            let (tokens, mask) = random_tokens(plm.vocab_size, batch, len, step as u64, device);
            let logits = model.forward(ids, tokens, mask);
            if train {
                let mut grads = model
                    .loss(&logits, alternating_labels(batch, device))
                    .backward();
                let plm_grads = GradientsParams::from_module(&mut grads, &model.plm);
                let rest_grads = GradientsParams::from_grads(grads, &model);
                model = rest_optim.step(1e-3, model, rest_grads);
                model.plm = plm_optim.step(5e-5, model.plm.clone(), plm_grads);
            } else {
                let _ = logits.output.sum().into_scalar::<f32>();
            }
            model
        },
    )
}

/// A synthetic pretraining batch shaped like an ML-1M prompt batch: `len` tokens per row,
/// the middle of the prompt divided into one value span per field with a template word
/// between spans.
fn synthetic_pretrain_batch(
    fields: &[usize],
    batch: usize,
    len: usize,
    vocab: usize,
    seed: u64,
) -> flip_data::Batch {
    let m = fields.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let span = ((len - 2) / m).max(2);
    let token_fields: Vec<i64> = (0..len)
        .map(|l| {
            if l == 0 || l + 1 == len {
                return -1;
            }
            let (f, offset) = ((l - 1) / span, (l - 1) % span);
            if f < m && offset + 1 < span {
                f as i64
            } else {
                -1
            }
        })
        .collect();
    flip_data::Batch {
        size: batch,
        num_fields: m,
        seq_len: len,
        ids: synthetic_ids(fields, batch, seed),
        labels: vec![1.0; batch],
        tokens: (0..batch * len)
            .map(|_| rng.random_range(1000..vocab as i64))
            .collect(),
        attention_mask: vec![true; batch * len],
        token_fields: (0..batch)
            .flat_map(|_| token_fields.iter().copied())
            .collect(),
        rows: (0..batch).collect(),
    }
}

/// Samples per second of FLIP pretraining steps (all three losses, AdamW on both towers) with
/// a language model of shape `plm`, a DCNv2 over `fields`, `batch` prompts of `len` tokens;
/// `official` adds the official code's extra work (second clean pass, vocabulary projection
/// over every position).
pub fn pretrain_throughput(
    plm: &PlmConfig,
    fields: &[usize],
    batch: usize,
    len: usize,
    official: bool,
    steps: usize,
    device: &Device,
) -> BenchResult {
    use flip_align::{
        AlignConfig, FieldMasker, FlipPretrainer, MaskConfig, NoiseDistribution, PretrainBatch,
    };
    let v: usize = fields.iter().sum();
    let offsets = field_offsets(fields);
    let shape = InputShape {
        num_features: v,
        num_fields: fields.len(),
    };
    let id_model = ModelConfig::from_name("dcnv2")
        .expect("in the zoo")
        .init(shape, device);
    let noise = NoiseDistribution::new(&vec![1; v], |j| {
        offsets.iter().any(|&o| j >= o && j < o + 3)
    });
    let align = AlignConfig {
        official_compute: official,
        ..AlignConfig::default()
    };
    let model = FlipPretrainer::new(
        id_model,
        plm.init(false, device),
        plm.vocab_size,
        fields.len(),
        &noise,
        &align,
        device,
    );
    let masker = FieldMasker::new(
        MaskConfig::default(),
        offsets.iter().map(|&o| (o + 2) as i64).collect(),
        103,
    );
    let mut rest = FusedAdamW::new(BURN_DEFAULT_DECAY).init(None);
    let mut plm_optim = FusedAdamW::new(BURN_DEFAULT_DECAY).init(None);
    timed(
        if official {
            "pretrain_official"
        } else {
            "pretrain"
        },
        format!("dcnv2 + {}L-{}H len {len}", plm.num_layers, plm.hidden_size),
        batch,
        (1, steps),
        device,
        model,
        |mut model, step| {
            let b = synthetic_pretrain_batch(fields, batch, len, plm.vocab_size, step as u64);
            let masked = masker.mask(&b, step as u64);
            let inputs = PretrainBatch::new(
                &b,
                &masked,
                noise.draw(batch * masked.k * 25, 1, step as u64),
                device,
            );
            let mut grads = model.forward(&inputs, &align).loss.backward();
            let plm_grads = GradientsParams::from_module(&mut grads, &model.plm);
            let rest_grads = GradientsParams::from_grads(grads, &model);
            model = rest.step(1e-4, model, rest_grads);
            model.plm = plm_optim.step(1e-4, model.plm.clone(), plm_grads);
            model
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_ids_stay_in_their_fields() {
        let ids = synthetic_ids(&[3, 2, 5], 100, 1);
        for row in ids.chunks(3) {
            assert!(
                (0..3).contains(&row[0]) && (3..5).contains(&row[1]) && (5..10).contains(&row[2])
            );
        }
        assert_eq!(ids, synthetic_ids(&[3, 2, 5], 100, 1));
    }

    #[test]
    fn pretrain_throughput_runs_on_a_tiny_model() {
        let device = Device::flex().autodiff();
        let config = PlmConfig::minilm_l6_h384().with_layers(1);
        for official in [false, true] {
            let r = pretrain_throughput(&config, &[10, 4, 6], 2, 12, official, 1, &device);
            assert!(r.samples_per_second > 0.0);
        }
    }

    #[test]
    fn plm_throughput_runs_on_a_tiny_model() {
        let device = Device::flex();
        let config = PlmConfig::minilm_l6_h384().with_layers(1);
        let r = plm_throughput(&config, 2, 8, 1, true, &device.clone().autodiff());
        assert_eq!(r.scenario, "plm_train");
        assert!(plm_throughput(&config, 2, 8, 1, false, &device).samples_per_second > 0.0);
    }

    #[test]
    fn joint_throughput_runs_on_a_tiny_model() {
        let device = Device::flex();
        let config = PlmConfig::minilm_l6_h384().with_layers(1);
        let r = joint_throughput(
            &config,
            &[10, 4, 6],
            2,
            8,
            1,
            true,
            &device.clone().autodiff(),
        );
        assert_eq!(r.scenario, "joint_train");
        let r = joint_throughput(&config, &[10, 4, 6], 2, 8, 1, false, &device);
        assert_eq!(r.scenario, "joint_infer");
        assert!(r.samples_per_second > 0.0);
    }

    #[test]
    fn throughput_runs_on_a_tiny_model() {
        let device = Device::flex();
        let model = ModelConfig::from_name("dcnv2").unwrap();
        let r = train_throughput(&model, &[10, 4, 6], 16, 2, true, &device.clone().autodiff());
        assert!(r.samples_per_second > 0.0 && r.scenario == "id_train_sparse");
        let r = infer_throughput(&model, &[10, 4, 6], 16, 2, &device);
        assert!(r.samples_per_second > 0.0);
    }
}
