//! AdamW with burn's formulas and state, as one pass over each parameter where it lives on
//! burn-flex (the CPU backend, with this crate's `flex` feature).
//!
//! burn's `AdamW` spends about fourteen whole-tensor operations per parameter and step, each a
//! single-threaded pass that allocates its result; for MiniLM's 11.7-million-value word
//! embeddings alone that is most of a 130 ms optimizer step (docs/benchmarks.md). Here the
//! parameter and both moments are updated in place, in parallel blocks. Elsewhere (other
//! backends, other element types) the step is burn's own. The state is burn's `AdamWState`, so
//! optimizer checkpoints are interchangeable with burn's `AdamW`.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamW, AdamWConfig, AdamWState, LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};

/// AdamW: `m ← β₁m + (1-β₁)g`, `v ← β₂v + (1-β₂)g²`,
/// `θ ← θ(1 - lr·λ) - lr · m̂ / (√v̂ + ε)` with `m̂ = m / (1-β₁ᵗ)`, `v̂ = v / (1-β₂ᵗ)`.
#[derive(Clone)]
pub struct FusedAdamW {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    /// The same optimizer in burn's tensor operations, for tensors off flex.
    burn: AdamW,
}

impl FusedAdamW {
    /// β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (PyTorch's AdamW defaults) and
    /// the decoupled weight decay `weight_decay` (λ).
    pub fn new(weight_decay: f32) -> Self {
        let (beta_1, beta_2, epsilon) = (0.9, 0.999, 1e-8);
        let burn = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        FusedAdamW {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            burn,
        }
    }

    /// A module optimizer that first scales the gradients down to a global L2 norm of at most
    /// `clip_norm`, when given.
    pub fn init(self, clip_norm: Option<f32>) -> ModuleOptimizer {
        let optim = ModuleOptimizer::from(self);
        match clip_norm {
            Some(norm) => optim.with_grad_clipping(GradientClippingConfig::Norm(norm).init()),
            None => optim,
        }
    }

    /// One step's scalars, for kernels over host memory.
    #[cfg_attr(not(feature = "flex"), allow(dead_code))]
    fn scalars(&self, lr: LearningRate, time: usize) -> StepScalars {
        let time = time as i32;
        StepScalars {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            correction_1: 1.0 - self.beta_1.powi(time),
            correction_2: 1.0 - self.beta_2.powi(time),
            decay: (1.0 - lr * f64::from(self.weight_decay)) as f32,
            lr: lr as f32,
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamWState<D>>,
    ) -> (Tensor<D>, Option<AdamWState<D>>) {
        #[cfg(feature = "flex")]
        if host::applies(&tensor, &grad, state.as_ref()) {
            let (tensor, state) = host::step(self, lr, tensor, grad, state);
            return (tensor, Some(state));
        }
        self.burn.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: AdamWState<D>, device: &Device) -> AdamWState<D> {
        AdamW::to_device(state, device)
    }
}

/// The scalars of one step.
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
#[derive(Debug, Clone, Copy)]
struct StepScalars {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// `1 - β₁ᵗ`.
    correction_1: f32,
    /// `1 - β₂ᵗ`.
    correction_2: f32,
    /// `1 - lr·λ`.
    decay: f32,
    lr: f32,
}

#[cfg(feature = "flex")]
mod host {
    use burn::backend::flex::FlexTensor;
    use burn::optim::{AdamWState, AdaptiveMomentumState, LearningRate};
    use burn::tensor::{DType, Tensor};
    use flip_plm::fused::host::{is_plain_f32, plain_f32, tensor as from_flex, values, writable};
    use rayon::prelude::*;

    use super::{FusedAdamW, StepScalars};

    /// Values per parallel task.
    const BLOCK: usize = 1 << 14;

    /// Whether the parameter, its gradient and its moments are all `f32` tensors on flex.
    pub(super) fn applies<const D: usize>(
        tensor: &Tensor<D>,
        grad: &Tensor<D>,
        state: Option<&AdamWState<D>>,
    ) -> bool {
        is_plain_f32(tensor)
            && is_plain_f32(grad)
            && state.is_none_or(|state| {
                let momentum = &state.momentum;
                is_plain_f32(&momentum.moment_1)
                    && is_plain_f32(&momentum.moment_2)
                    && momentum.max_moment_2.is_none()
            })
    }

    /// The tensor's flex primitive, no longer shared with the tensor.
    fn primitive<const D: usize>(t: Tensor<D>) -> FlexTensor {
        plain_f32(&t).unwrap_or_else(|| unreachable!("checked by `applies`"))
    }

    /// The step, for tensors that [`applies`] accepted.
    pub(super) fn step<const D: usize>(
        optim: &FusedAdamW,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamWState<D>>,
    ) -> (Tensor<D>, AdamWState<D>) {
        let shape = tensor.shape();
        let mut parameter = writable(primitive(tensor));
        let grad = primitive(grad);
        let (time, mut moment_1, mut moment_2) = match state {
            Some(state) => (
                state.momentum.time + 1,
                writable(primitive(state.momentum.moment_1)),
                writable(primitive(state.momentum.moment_2)),
            ),
            None => (
                1,
                FlexTensor::zeros(shape.clone(), DType::F32),
                FlexTensor::zeros(shape, DType::F32),
            ),
        };
        update(
            parameter.storage_mut(),
            &values(&grad),
            moment_1.storage_mut(),
            moment_2.storage_mut(),
            optim.scalars(lr, time),
        );
        let momentum = AdaptiveMomentumState::new(time, from_flex(moment_1), from_flex(moment_2));
        (from_flex(parameter), AdamWState::new(momentum))
    }

    /// The update of every value, in the order of burn's operations (so results agree to
    /// rounding).
    ///
    /// # Shapes
    /// - all slices: the parameter's number of values
    pub(super) fn update(
        parameter: &mut [f32],
        grad: &[f32],
        moment_1: &mut [f32],
        moment_2: &mut [f32],
        s: StepScalars,
    ) {
        parameter
            .par_chunks_mut(BLOCK)
            .zip(grad.par_chunks(BLOCK))
            .zip(moment_1.par_chunks_mut(BLOCK))
            .zip(moment_2.par_chunks_mut(BLOCK))
            .for_each(|(((parameter, grad), moment_1), moment_2)| {
                for i in 0..parameter.len() {
                    let g = grad[i];
                    let m = moment_1[i] * s.beta_1 + g * (1.0 - s.beta_1);
                    let v = moment_2[i] * s.beta_2 + g * g * (1.0 - s.beta_2);
                    moment_1[i] = m;
                    moment_2[i] = v;
                    let step = (m / s.correction_1) / ((v / s.correction_2).sqrt() + s.epsilon);
                    parameter[i] = parameter[i] * s.decay - step * s.lr;
                }
            });
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::TensorData;

    /// Gradients of a fixed loss on inputs that depend on `step` only (not on the backend's
    /// generator, which tests running in parallel share).
    fn gradients(model: &Linear, device: &Device, step: u64) -> GradientsParams {
        let values = (0..16 * 40)
            .map(|i| ((i as u64 * 7919 + step * 104_729) % 1_000) as f32 / 500.0 - 1.0)
            .collect::<Vec<_>>();
        let x = Tensor::<2>::from_data(TensorData::new(values, [16, 40]), device);
        let loss = model.forward(x).powi_scalar(2).mean();
        GradientsParams::from_grads(loss.backward(), model)
    }

    fn weights(model: &Linear) -> Vec<f32> {
        let mut values = model.weight.val().into_data().try_to_vec::<f32>().unwrap();
        values.extend(
            model
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        values
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    /// Trains the same layer with `ours` and with burn's AdamW; returns the largest difference.
    fn difference_after_steps(mut ours: ModuleOptimizer, mut burns: ModuleOptimizer) -> f32 {
        let device = Device::flex().autodiff();
        device.seed(1);
        let start = LinearConfig::new(40, 30).init(&device);
        let (mut a, mut b) = (start.clone(), start);
        for step in 0..5 {
            let lr = 1e-2;
            a = ours.step(lr, a.clone(), gradients(&a, &device, step));
            b = burns.step(lr, b.clone(), gradients(&b, &device, step));
        }
        let (a, b) = (weights(&a), weights(&b));
        assert_ne!(a, weights(&LinearConfig::new(40, 30).init(&device)));
        max_difference(&a, &b)
    }

    #[test]
    fn steps_match_burns_adamw_with_and_without_clipping() {
        let burns = |clip: Option<f32>| {
            let config = AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(0.01)
                .with_grad_clipping(clip.map(GradientClippingConfig::Norm));
            config.init()
        };
        let ours = |clip| FusedAdamW::new(0.01).init(clip);
        let difference = difference_after_steps(ours(None), burns(None));
        assert!(difference < 1e-6, "{difference}");
        let difference = difference_after_steps(ours(Some(0.05)), burns(Some(0.05)));
        assert!(difference < 1e-6, "{difference}");
    }

    #[test]
    fn update_of_one_value_matches_the_formula() {
        // θ = 1, g = 0.5, m = 0.2, v = 0.1 at step t = 3, lr = 0.1, λ = 0.01.
        let optim = FusedAdamW::new(0.01);
        let (mut parameter, mut m, mut v) = (vec![1.0f32], vec![0.2f32], vec![0.1f32]);
        host::update(
            &mut parameter,
            &[0.5],
            &mut m,
            &mut v,
            optim.scalars(0.1, 3),
        );
        let m_new = 0.9 * 0.2 + 0.1 * 0.5;
        let v_new = 0.999 * 0.1 + 0.001 * 0.25;
        let m_hat = m_new / (1.0 - 0.9f64.powi(3));
        let v_hat = v_new / (1.0 - 0.999f64.powi(3));
        let expected = 1.0 * (1.0 - 0.1 * 0.01) - 0.1 * m_hat / (v_hat.sqrt() + 1e-8);
        assert!((f64::from(m[0]) - m_new).abs() < 1e-7);
        assert!((f64::from(v[0]) - v_new).abs() < 1e-7);
        assert!(
            (f64::from(parameter[0]) - expected).abs() < 1e-6,
            "{}",
            parameter[0]
        );
    }

    #[test]
    fn resumes_from_a_checkpoint_of_burns_adamw() {
        let device = Device::flex().autodiff();
        device.seed(2);
        let model = LinearConfig::new(40, 30).init(&device);
        let mut burns = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(0.01)
            .init();
        let model = burns.step(1e-2, model.clone(), gradients(&model, &device, 0));
        let mut ours = FusedAdamW::new(0.01)
            .init(None)
            .load_record(burns.to_record());
        let grads = gradients(&model, &device, 1);
        let a = weights(&ours.step(1e-2, model.clone(), grads));
        let b = weights(&burns.step(1e-2, model.clone(), gradients(&model, &device, 1)));
        let difference = max_difference(&a, &b);
        assert!(difference < 1e-6, "{difference}");
        let fresh = weights(&FusedAdamW::new(0.01).init(None).step(
            1e-2,
            model.clone(),
            gradients(&model, &device, 1),
        ));
        // A fresh optimizer (no moments) would step differently: the record was used.
        assert!(fresh.iter().zip(&a).any(|(f, a)| (f - a).abs() > 1e-4));
    }
}
