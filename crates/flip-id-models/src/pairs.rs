//! Field pairs `(i, j)`, `i < j`, for the models that interact every two fields.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// The `M (M − 1) / 2` pairs in row-major order `(0,1), (0,2), …, (M−2, M−1)`.
pub fn pair_indices(num_fields: usize) -> (Vec<i64>, Vec<i64>) {
    let mut left = Vec::new();
    let mut right = Vec::new();
    for i in 0..num_fields {
        for j in i + 1..num_fields {
            left.push(i as i64);
            right.push(j as i64);
        }
    }
    (left, right)
}

/// The left and right members of every pair.
///
/// # Shapes
/// - `fields`: `[B, M, d]`
/// - output: two tensors `[B, P, d]`, `P = M (M − 1) / 2`
pub fn pair_fields(fields: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
    let [_, m, _] = fields.dims();
    let device = fields.device();
    let (left, right) = pair_indices(m);
    let index = |v: Vec<i64>, device: &Device| {
        let n = v.len();
        Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device)
    };
    (
        fields.clone().select(1, index(left, &device)),
        fields.select(1, index(right, &device)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_in_order() {
        assert_eq!(
            pair_indices(4),
            (vec![0, 0, 0, 1, 1, 2], vec![1, 2, 3, 2, 3, 3])
        );
        assert_eq!(pair_indices(1).0.len(), 0);
    }
}
