//! Reading and overwriting the memory of burn-flex (CPU backend) tensors, for kernels written
//! over plain `f32` slices.

use std::borrow::Cow;

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Device, Tensor, TensorData};

/// Whether the device is burn-flex, with or without autodiff: its tensors live in this
/// process's memory.
pub fn is_flex(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// Whether the tensor is an `f32` tensor on flex without autodiff (an optimizer's view of a
/// parameter), so that [`plain_f32`] gives its primitive.
pub fn is_plain_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device() == Device::flex()
}

/// The flex primitive of a tensor without autodiff, sharing its memory, or `None` when it is
/// not [`is_plain_f32`]. Drop the tensor before overwriting the primitive's values in place,
/// or they are copied first.
pub fn plain_f32<const D: usize>(x: &Tensor<D>) -> Option<FlexTensor> {
    if !is_plain_f32(x) {
        return None;
    }
    x.clone().try_into_primitive::<Flex>().ok()
}

/// A flex tensor back as a tensor.
pub fn tensor<const D: usize>(x: FlexTensor) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(x)
}

/// The values of an `f32` flex tensor in row-major order (copied only when its layout is not
/// contiguous).
pub fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => values.into(),
        None => t
            .to_contiguous()
            .as_slice::<f32>()
            .expect("a contiguous f32 tensor has a slice")
            .to_vec()
            .into(),
    }
}

/// The tensor with storage that is exactly its values, contiguous, so that
/// `storage_mut::<f32>()` gives them (copying them first if the storage is shared).
pub fn writable(t: FlexTensor) -> FlexTensor {
    let len = t.layout().num_elements();
    if t.layout().contiguous_offsets() == Some((0, len)) && t.bytes().len() == 4 * len {
        t
    } else {
        FlexTensor::from_data(TensorData::new(
            values(&t).into_owned(),
            t.layout().shape().clone(),
        ))
    }
}
