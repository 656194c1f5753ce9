//! The fused operations on burn-flex tensors: forward passes, and backward steps registered
//! with burn's autodiff graph (`Autodiff<Flex>`) in place of the chains of elementwise ops it
//! would otherwise record.
//!
//! Each entry point returns `None` when it does not apply: another backend, an element type
//! other than `f32`, or autodiff with gradient checkpointing.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Tensor, TensorData};

use super::host::{is_flex, values, writable};
use super::kernels;

/// A float primitive of `Autodiff<Flex>`: a flex tensor and its node in the graph.
type Tracked = FloatTensor<Autodiff<Flex>>;

/// Where a tensor lives, as far as the fused operations care.
enum Primitive {
    /// On flex with gradients recorded.
    Tracked(Tracked),
    /// On flex, no gradients.
    Plain(FlexTensor),
}

/// The tensor's flex primitive (sharing its memory), or `None` when it is not an `f32` flex
/// tensor or is recorded with gradient checkpointing.
fn primitive<const D: usize>(x: &Tensor<D>) -> Option<Primitive> {
    let device = x.device();
    if x.dtype() != DType::F32 || !is_flex(&device) {
        return None;
    }
    if device.is_autodiff() {
        let tracked = x.clone().try_into_primitive::<Autodiff<Flex>>();
        tracked.ok().map(Primitive::Tracked)
    } else {
        x.clone()
            .try_into_primitive::<Flex>()
            .ok()
            .map(Primitive::Plain)
    }
}

/// Applies `kernel` to the tensor's values in place.
fn overwrite(t: FlexTensor, kernel: impl FnOnce(&mut [f32])) -> FlexTensor {
    let mut t = writable(t);
    kernel(t.storage_mut::<f32>());
    t
}

/// What a one-input operation keeps for its backward step.
#[derive(Clone, Copy)]
enum Keep {
    Input,
    Output,
}

/// Runs a one-input operation: `forward` on the primitive and, when gradients are recorded,
/// `step` registered with the kept input or output as its state.
fn unary_op<const D: usize, S>(
    x: &Tensor<D>,
    forward: impl Fn(FlexTensor) -> FlexTensor,
    step: S,
    keep: Keep,
) -> Option<Tensor<D>>
where
    S: Backward<Flex, 1, State = FlexTensor>,
{
    Some(match primitive(x)? {
        Primitive::Plain(x) => Tensor::from_primitive::<Flex>(forward(x)),
        Primitive::Tracked(x) => {
            let (x, node) = x.into_parts();
            let y = match step
                .prepare::<NoCheckpointing>([node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (state, y) = match keep {
                        Keep::Input => (x.clone(), forward(x)),
                        Keep::Output => {
                            let y = forward(x);
                            (y.clone(), y)
                        }
                    };
                    prep.finish(state, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(forward(x)),
            };
            Tensor::from_primitive::<Autodiff<Flex>>(y)
        }
    })
}

fn gelu_forward(x: FlexTensor) -> FlexTensor {
    let mut out = vec![0.0f32; x.layout().num_elements()];
    kernels::gelu(&values(&x), &mut out);
    FlexTensor::from_data(TensorData::new(out, x.layout().shape().clone()))
}

/// GELU (exact erf form).
pub(super) fn gelu<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
    #[derive(Debug)]
    struct GeluBackward;

    impl Backward<Flex, 1> for GeluBackward {
        /// The input.
        type State = FlexTensor;

        fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let x = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                overwrite(grad, |grad| kernels::gelu_backward(&values(&x), grad))
            });
        }
    }

    unary_op(x, gelu_forward, GeluBackward, Keep::Input)
}

/// Softmax over the last dimension.
pub(super) fn softmax_last<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
    #[derive(Debug)]
    struct SoftmaxBackward;

    impl Backward<Flex, 1> for SoftmaxBackward {
        /// The output.
        type State = FlexTensor;

        fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let y = ops.state;
            let width = *y
                .layout()
                .shape()
                .last()
                .expect("softmax of a tensor with a shape");
            unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                overwrite(grad, |grad| {
                    kernels::softmax_backward(&values(&y), grad, width)
                })
            });
        }
    }

    let forward = |x: FlexTensor| Flex::softmax(x, D - 1);
    unary_op(x, forward, SoftmaxBackward, Keep::Output)
}

/// LayerNorm over the last dimension, `(x - mean) / sqrt(var + epsilon) · gamma + beta`, with
/// gradients for all three.
pub(super) fn layer_norm<const D: usize>(
    x: &Tensor<D>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    epsilon: f64,
) -> Option<Tensor<D>> {
    #[derive(Debug)]
    struct LayerNormBackward;

    impl Backward<Flex, 3> for LayerNormBackward {
        /// The input, gamma and epsilon.
        type State = (FlexTensor, FlexTensor, f32);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (x, gamma, epsilon) = ops.state;
            let [x_node, gamma_node, beta_node] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            let mut grad_gamma_beta = None;
            let grad_x = overwrite(grad, |grad| {
                grad_gamma_beta = Some(kernels::layer_norm_backward(
                    &values(&x),
                    &values(&gamma),
                    grad,
                    epsilon,
                ));
            });
            let (grad_gamma, grad_beta) = grad_gamma_beta.expect("the kernel ran");
            let width = grad_gamma.len();
            if let Some(node) = x_node {
                grads.register::<Flex>(node.id, grad_x);
            }
            for (node, values) in [(gamma_node, grad_gamma), (beta_node, grad_beta)] {
                if let Some(node) = node {
                    let grad = FlexTensor::from_data(TensorData::new(values, [width]));
                    grads.register::<Flex>(node.id, grad);
                }
            }
        }
    }

    Some(match (primitive(x)?, primitive(gamma)?, primitive(beta)?) {
        (Primitive::Plain(x), Primitive::Plain(gamma), Primitive::Plain(beta)) => {
            Tensor::from_primitive::<Flex>(Flex::layer_norm(x, gamma, Some(beta), epsilon))
        }
        (Primitive::Tracked(x), Primitive::Tracked(gamma), Primitive::Tracked(beta)) => {
            let (x, x_node) = x.into_parts();
            let (gamma, gamma_node) = gamma.into_parts();
            let (beta, beta_node) = beta.into_parts();
            let y = Flex::layer_norm(x.clone(), gamma.clone(), Some(beta), epsilon);
            let y = match LayerNormBackward
                .prepare::<NoCheckpointing>([x_node, gamma_node, beta_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((x, gamma, epsilon as f32), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            Tensor::from_primitive::<Autodiff<Flex>>(y)
        }
        _ => return None,
    })
}
