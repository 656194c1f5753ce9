//! Helpers for the zoo's tests: a device, reading tensors, and checking that every parameter
//! of a module receives a gradient.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The CPU device the tests run on.
pub fn device() -> Device {
    let device = Device::flex();
    device.seed(7);
    device
}

/// All values of a tensor.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// An id tensor `[b, m]`.
pub fn ids(data: &[i64], b: usize, m: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(data.to_vec(), [b, m]), device)
}

/// Eight rows of `m` ids in `0..num_features`, every id used.
pub fn batch_ids(num_features: usize, m: usize, device: &Device) -> Tensor<2, Int> {
    let data: Vec<i64> = (0..8 * m)
        .map(|i| ((i * 7 + i / m) % num_features) as i64)
        .collect();
    ids(&data, 8, m, device)
}

/// Redraws every trained parameter from its own generator, seeded by the parameter's position
/// in the module: the draws do not depend on which other tests run at the same time (the
/// device's generator is shared by the test threads).
struct Randomize {
    visited: u64,
}

impl ModuleMapper for Randomize {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let value = param.val();
        if !value.is_require_grad() {
            return param;
        }
        self.visited += 1;
        let mut rng = ChaCha8Rng::seed_from_u64(self.visited);
        let shape = value.shape();
        // Uniform on [-a, a] with a = 0.3·√3 has the standard deviation 0.3.
        let bound = 0.3 * 3f32.sqrt();
        let draws: Vec<f32> = (0..shape.num_elements())
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let random = Tensor::from_data(TensorData::new(draws, shape), &value.device());
        Param::initialized(param.id, random.require_grad())
    }
}

/// The module with every trained parameter redrawn with standard deviation 0.3, the same draws
/// on every run: gradient checks then test the wiring, not whether the tiny default
/// initialisation left some ReLU unit dead.
pub fn randomized<M: Module>(module: M) -> M {
    module.map(&mut Randomize { visited: 0 })
}

/// Asserts two slices are equal within `tol` (absolute, plus relative to the magnitude).
pub fn assert_close(got: &[f32], expected: &[f32], tol: f32) {
    assert_eq!(got.len(), expected.len(), "lengths differ");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= tol * (1.0 + e.abs()),
            "at {i}: {g} vs {e}\n got {got:?}\n expected {expected:?}"
        );
    }
}

struct ParamIds(Vec<(ParamId, Vec<usize>)>);

impl ModuleVisitor for ParamIds {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // Buffers such as batch-norm running statistics are visited too, but never trained.
        if param.val().is_require_grad() {
            self.0.push((param.id, param.shape().dims::<D>().to_vec()));
        }
    }
}

/// Runs backward from `loss` and asserts that every float parameter of `module` got a non-zero
/// gradient.
pub fn assert_all_params_learn<M: Module>(module: &M, loss: Tensor<1>) {
    assert_params_learn_except(module, loss, &[]);
}

/// Like [`assert_all_params_learn`], skipping the parameters in `unused`.
pub fn assert_params_learn_except<M: Module>(module: &M, loss: Tensor<1>, unused: &[ParamId]) {
    let mut visitor = ParamIds(Vec::new());
    module.visit(&mut visitor);
    visitor.0.retain(|(id, _)| !unused.contains(id));
    let grads = loss.backward();
    let grads = burn::optim::GradientsParams::from_grads(grads, module);
    for (id, shape) in visitor.0 {
        let norm = match shape.len() {
            1 => grads.get::<1>(id).map(|g| values(g.abs().sum())),
            2 => grads.get::<2>(id).map(|g| values(g.abs().sum())),
            3 => grads.get::<3>(id).map(|g| values(g.abs().sum())),
            4 => grads.get::<4>(id).map(|g| values(g.abs().sum())),
            _ => unreachable!("parameters have rank 1 to 4"),
        };
        let norm =
            norm.unwrap_or_else(|| panic!("parameter {id} of shape {shape:?} got no gradient"));
        assert!(
            norm[0] > 0.0,
            "parameter {id} of shape {shape:?} got a zero gradient"
        );
    }
}
