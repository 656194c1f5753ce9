//! GELU, LayerNorm and softmax as single multi-threaded passes with hand-written backward
//! passes, where the tensors live on burn-flex (the CPU backend, with this crate's `flex`
//! feature); burn's own operations everywhere else.
//!
//! Why: burn's autodiff records LayerNorm as eight elementwise operations and softmax as five,
//! and burn-flex runs each of those, and both passes of GELU (a call into libm's `erff` per
//! element), on one thread. In a MiniLM training step these took about a quarter of the time
//! (docs/benchmarks.md). Here each is one pass over memory on all cores, with `erf` and `exp`
//! as polynomials the compiler vectorises; the backward passes write into the incoming
//! gradient's buffer. Results agree with burn's operations to rounding (tests below, and every
//! parity test of the encoder).

#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
pub mod host;
#[cfg(feature = "flex")]
mod kernels;

use burn::nn::LayerNorm;
use burn::tensor::Tensor;

/// GELU in its exact form, `x Φ(x)` with `Φ` the standard normal CDF.
///
/// # Shapes
/// - `x`: any; output: the same
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::gelu(&x) {
        return y;
    }
    burn::tensor::activation::gelu(x)
}

/// Softmax over the last dimension.
///
/// # Shapes
/// - `x`: any; output: the same, each row along the last dimension summing to 1
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::softmax_last(&x) {
        return y;
    }
    burn::tensor::activation::softmax(x, D - 1)
}

/// `norm.forward(x)`: LayerNorm over the last dimension with `norm`'s scale and shift, and the
/// `epsilon` it was built with (burn's `LayerNorm` does not expose it).
///
/// # Shapes
/// - `x`: `[..., H]`; output: the same
pub fn layer_norm<const D: usize>(norm: &LayerNorm, epsilon: f64, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(beta) = &norm.beta
        && let Some(y) = flex::layer_norm(&x, &norm.gamma.val(), &beta.val(), epsilon)
    {
        return y;
    }
    #[cfg(not(feature = "flex"))]
    let _ = epsilon;
    norm.forward(x)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::LayerNormConfig;
    use burn::tensor::{Device, Distribution, FloatDType, TensorData};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    /// Checks each of the named value lists of `fused` against `reference`.
    fn assert_all_close<const N: usize>(
        names: [&str; N],
        fused: [Vec<f32>; N],
        reference: [Vec<f32>; N],
        tolerance: f32,
    ) {
        for (name, (a, b)) in names.iter().zip(fused.iter().zip(&reference)) {
            let difference = max_difference(a, b);
            assert!(difference < tolerance, "{name}: {difference}");
        }
    }

    /// Runs `fused` and `reference` on the same random input, sums their outputs weighted by a
    /// fixed random tensor, and returns (output difference, input-gradient difference).
    fn compare<const D: usize>(
        shape: [usize; D],
        fused: impl Fn(Tensor<D>) -> Tensor<D>,
        reference: impl Fn(Tensor<D>) -> Tensor<D>,
    ) -> (f32, f32) {
        let device = Device::flex().autodiff();
        device.seed(5);
        let x = Tensor::<D>::random(shape, Distribution::Normal(0.0, 2.0), &device);
        let weights = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let run = |f: &dyn Fn(Tensor<D>) -> Tensor<D>| {
            let x = x.clone().detach().require_grad();
            let y = f(x.clone());
            let grads = (y.clone() * weights.clone()).sum().backward();
            (values(y), values(x.grad(&grads).unwrap()))
        };
        let (y, dx) = run(&fused);
        let (y_ref, dx_ref) = run(&reference);
        (max_difference(&y, &y_ref), max_difference(&dx, &dx_ref))
    }

    #[test]
    fn gelu_matches_burns_in_value_and_gradient() {
        let (dy, dx) = compare([300, 70], gelu, burn::tensor::activation::gelu);
        assert!(dy < 2e-6 && dx < 2e-6, "{dy} {dx}");
    }

    #[test]
    fn softmax_matches_burns_in_value_and_gradient() {
        // A transposed input: rows that are not contiguous in memory.
        let fused = |x: Tensor<3>| softmax_last(x.swap_dims(1, 2)).swap_dims(1, 2);
        let reference =
            |x: Tensor<3>| burn::tensor::activation::softmax(x.swap_dims(1, 2), 2).swap_dims(1, 2);
        let (dy, dx) = compare([4, 33, 17], fused, reference);
        assert!(dy < 1e-6 && dx < 1e-6, "{dy} {dx}");
    }

    #[test]
    fn layer_norm_matches_burns_for_the_input_and_both_parameters() {
        let device = Device::flex().autodiff();
        device.seed(9);
        let epsilon = 1e-12;
        let mut norm = LayerNormConfig::new(48).with_epsilon(epsilon).init(&device);
        // Parameters away from 1 and 0, so that their gradients are not trivial.
        let random = || Param::from_tensor(Tensor::random([48], Distribution::Default, &device));
        norm.gamma = random();
        norm.beta = Some(random());
        let x = Tensor::<3>::random([5, 40, 48], Distribution::Normal(1.0, 3.0), &device);
        let weights = Tensor::<3>::random([5, 40, 48], Distribution::Default, &device);
        let run = |fused: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fused {
                layer_norm(&norm, epsilon, x.clone())
            } else {
                norm.forward(x.clone())
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            let grad_gamma = norm.gamma.grad(&grads).unwrap();
            let grad_beta = norm.beta.as_ref().unwrap().grad(&grads).unwrap();
            [
                values(y),
                values(x.grad(&grads).unwrap()),
                values(grad_gamma),
                values(grad_beta),
            ]
        };
        let names = ["y", "dx", "dgamma", "dbeta"];
        assert_all_close(names, run(true), run(false), 5e-5);
    }

    #[test]
    fn scoring_without_autodiff_matches_burns() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data(
            TensorData::new(
                (0..600).map(|i| (i as f32 - 300.0) / 40.0).collect(),
                [20, 30],
            ),
            &device,
        );
        let y = values(gelu(x.clone()));
        let y_ref = values(burn::tensor::activation::gelu(x.clone()));
        assert!(max_difference(&y, &y_ref) < 2e-6);
        let y = values(softmax_last(x.clone()));
        let y_ref = values(burn::tensor::activation::softmax(x.clone(), 1));
        assert!(max_difference(&y, &y_ref) < 1e-7);
        let norm = LayerNormConfig::new(30).init(&device);
        let y = values(layer_norm(&norm, 1e-5, x.clone()));
        assert!(max_difference(&y, &values(norm.forward(x))) < 1e-6);
    }

    #[test]
    fn other_element_types_fall_back_to_burn() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([-1.0, 0.0, 2.0], &device).cast(FloatDType::F64);
        let y: Vec<f64> = gelu(x).into_data().try_to_vec::<f64>().unwrap();
        assert!((y[2] - 1.954_499_736).abs() < 1e-6 && y[1] == 0.0, "{y:?}");
    }
}
