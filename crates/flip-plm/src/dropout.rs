//! Dropout for the encoder, with keep-masks drawn quickly where the tensors live in host memory.
//!
//! burn's `Dropout` draws its mask through the backend's random-tensor op; burn-flex (the CPU
//! backend) fills it one element at a time from a ChaCha generator under a lock, which took
//! about 12% of a MiniLM training step (docs/benchmarks.md). On the flex backend (with this
//! crate's `flex` feature) the mask is drawn here instead: a 60-bit seed taken from the
//! backend's seeded generator, then blocks of 65,536 elements, each from its own small fast
//! generator (Xoshiro256++, seeded from the seed and the block number), filled in parallel.
//! Runs stay reproducible under `Device::seed`. Other backends keep burn's dropout: moving a
//! host mask onto a GPU would cost more than drawing it there.

use burn::nn::Dropout;
use burn::tensor::{Device, Tensor};

/// Applies `layer` to `x` as burn's `Dropout::forward` does (identity unless the layer is
/// training, the device records gradients and the probability is positive; kept values are
/// scaled by `1 / (1 - p)`), drawing the mask on the host where the backend keeps its tensors
/// there.
///
/// # Shapes
/// - `x`: any; output: the same
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    if !host_memory(&device) {
        return layer.forward(x);
    }
    host::apply(x, 1.0 - layer.prob, &device)
}

/// Whether the device's tensors live in this process's memory, where a host-drawn mask costs
/// only a copy.
fn host_memory(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        crate::fused::host::is_flex(device)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

mod host {
    use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
    use rand::rngs::SmallRng;
    use rand::{RngCore, SeedableRng};
    use rayon::prelude::*;

    /// Elements drawn by one generator.
    const BLOCK: usize = 1 << 16;

    /// `x * mask`, the mask `1 / keep` with probability `keep` and 0 otherwise.
    pub(super) fn apply<const D: usize>(x: Tensor<D>, keep: f64, device: &Device) -> Tensor<D> {
        let shape = x.shape();
        let mask = keep_mask(shape.num_elements(), keep, seed(device));
        x * Tensor::from_data(TensorData::new(mask, shape), device)
    }

    /// A 60-bit seed from two draws of the backend's generator (its integers may be 32-bit),
    /// so that `Device::seed` fixes the masks.
    fn seed(device: &Device) -> u64 {
        let draws =
            Tensor::<1, Int>::random([2], Distribution::Uniform(0.0, 2f64.powi(30)), device);
        draws
            .into_data()
            .iter::<i64>()
            .fold(0u64, |seed, draw| (seed << 30) | draw as u64)
    }

    /// `len` mask values: `1 / keep` with probability `keep`, else 0.
    pub(super) fn keep_mask(len: usize, keep: f64, seed: u64) -> Vec<f32> {
        // P(next_u32 < threshold) = threshold / 2^32 = keep (to 2^-32).
        let threshold = (keep * 4_294_967_296.0).round() as u64;
        let scale = (1.0 / keep) as f32;
        let mut mask = vec![0.0f32; len];
        mask.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(block, values)| {
                let mut rng = SmallRng::seed_from_u64(
                    seed ^ (block as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                for value in values {
                    if u64::from(rng.next_u32()) < threshold {
                        *value = scale;
                    }
                }
            });
        mask
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn masks_keep_the_asked_share_scaled_and_depend_on_the_seed() {
            let len = 1_000_003;
            let mask = keep_mask(len, 0.9, 7);
            let kept = mask.iter().filter(|&&v| v != 0.0).count();
            // Binomial(1e6, 0.9) has standard deviation 300.
            assert!((kept as f64 - 0.9 * len as f64).abs() < 2_000.0, "{kept}");
            assert!(mask.iter().all(|&v| v == 0.0 || v == (1.0 / 0.9f64) as f32));
            assert_eq!(mask, keep_mask(len, 0.9, 7));
            let other = keep_mask(len, 0.9, 8);
            let same = mask.iter().zip(&other).filter(|(a, b)| a == b).count();
            // Independent masks agree where both keep or both drop: 0.81 + 0.01.
            assert!((same as f64 / len as f64 - 0.82).abs() < 0.01, "{same}");
            // Blocks are not copies of each other.
            assert_ne!(mask[..BLOCK], mask[BLOCK..2 * BLOCK]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::DropoutConfig;
    use burn::tensor::TensorData;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn scales_kept_values_passes_gradients_through_the_mask_and_is_seeded() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.25).init();
        let input = || {
            Tensor::<2>::from_data(TensorData::new(vec![2.0f32; 40_000], [200, 200]), &device)
                .require_grad()
        };
        device.seed(3);
        let x = input();
        let y = dropout(&layer, x.clone());
        let out = values(y.clone());
        let kept = out.iter().filter(|&&v| v != 0.0).count();
        assert!((kept as f64 / 40_000.0 - 0.75).abs() < 0.02, "{kept}");
        assert!(
            out.iter()
                .all(|&v| v == 0.0 || (v - 2.0 / 0.75).abs() < 1e-6)
        );
        // d(sum y)/dx is the mask: 1 / 0.75 where kept, 0 where dropped.
        let grads = y.sum().backward();
        let grad = values(x.grad(&grads).unwrap());
        for (g, o) in grad.iter().zip(&out) {
            assert!((g * 2.0 - o).abs() < 1e-6);
        }
        device.seed(3);
        assert_eq!(values(dropout(&layer, input())), out);
        assert_ne!(values(dropout(&layer, input())), out);
    }

    #[test]
    fn is_the_identity_when_scoring_or_frozen() {
        let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &Device::flex());
        let layer = DropoutConfig::new(0.5).init();
        assert_eq!(values(dropout(&layer, x.clone())), vec![1.0, 2.0, 3.0]);
        let device = Device::flex().autodiff();
        let frozen = layer.freeze();
        let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        assert_eq!(values(dropout(&frozen, x)), vec![1.0, 2.0, 3.0]);
    }
}
