//! The feature embedding shared by every zoo member: one table over all fields (global ids) and
//! the first-order ("linear", "wide") weights, both N(0, 1e-4) as in the official code.

use std::ops::Range;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::module::embedding;
use burn::tensor::{Device, Int, Tensor};

/// Configuration of [`FeatureEmbedding`].
#[derive(Config, Debug)]
pub struct FeatureEmbeddingConfig {
    /// Number of global feature ids (V), reserved ids included.
    pub num_features: usize,
    /// Width of each field embedding (d). Default 32.
    #[config(default = 32)]
    pub dim: usize,
    /// Standard deviation of the normal initialisation of both tables. Default 1e-4.
    #[config(default = 1e-4)]
    pub init_std: f64,
}

/// Field embeddings `[V, d]` and first-order weights `[V, 1]` indexed by global ids.
#[derive(Module, Debug)]
pub struct FeatureEmbedding {
    /// The embedding table `[V, d]`.
    pub table: Param<Tensor<2>>,
    /// The first-order weights `[V, 1]`.
    pub linear: Param<Tensor<2>>,
}

/// The looked-up inputs of a batch, what every zoo model computes on.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// Field embeddings `[B, M, d]`.
    pub fields: Tensor<3>,
    /// First-order weight of each field's value `[B, M]`.
    pub linear: Tensor<2>,
}

/// Which tables a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    /// The embedding table.
    pub fields: bool,
    /// The first-order table.
    pub linear: bool,
}

impl Reads {
    /// Both tables.
    pub const BOTH: Reads = Reads {
        fields: true,
        linear: true,
    };
    /// The embedding table only.
    pub const FIELDS: Reads = Reads {
        fields: true,
        linear: false,
    };
    /// The first-order table only.
    pub const LINEAR: Reads = Reads {
        fields: false,
        linear: true,
    };
}

impl Embedded {
    /// Looks `ids` (`[B, M]`) up in explicit tables: `table` `[N, d]` and `linear` `[N, 1]`.
    /// Used for row-sparse training, where the tables hold only the rows a batch touches and
    /// `ids` index those rows.
    ///
    /// A table the model does not read is not looked up: its part is a constant zero tensor.
    /// (A lookup whose result never reaches the loss stays attached to the table parameter in
    /// burn's autodiff graph and is never freed, which slows every later step.)
    pub fn lookup(table: Tensor<2>, linear: Tensor<2>, ids: Tensor<2, Int>, reads: Reads) -> Self {
        let [b, m] = ids.dims();
        let [_, d] = table.dims();
        let device = ids.device();
        Embedded {
            fields: if reads.fields {
                embedding(table, ids.clone())
            } else {
                Tensor::zeros([b, m, d], &device)
            },
            linear: if reads.linear {
                embedding(linear, ids).reshape([b, m])
            } else {
                Tensor::zeros([b, m], &device)
            },
        }
    }

    /// The embeddings concatenated per row `[B, M * d]`.
    pub fn flat(&self) -> Tensor<2> {
        let [b, m, d] = self.fields.dims();
        self.fields.clone().reshape([b, m * d])
    }

    /// The first-order logit `[B]`: the sum of the fields' weights.
    pub fn linear_logit(&self) -> Tensor<1> {
        let [b, _] = self.linear.dims();
        self.linear.clone().sum_dim(1).reshape([b])
    }
}

impl FeatureEmbeddingConfig {
    /// Builds the tables on `device`.
    pub fn init(&self, device: &Device) -> FeatureEmbedding {
        let init = Initializer::Normal {
            mean: 0.0,
            std: self.init_std,
        };
        FeatureEmbedding {
            table: init.init([self.num_features, self.dim], device),
            linear: init.init([self.num_features, 1], device),
        }
    }
}

impl FeatureEmbedding {
    /// Looks up global ids in the tables listed in `reads`.
    ///
    /// # Shapes
    /// - `ids`: `[B, M]`
    /// - output: fields `[B, M, d]`, linear `[B, M]`
    pub fn forward(&self, ids: Tensor<2, Int>, reads: Reads) -> Embedded {
        Embedded::lookup(self.table.val(), self.linear.val(), ids, reads)
    }

    /// Embedding width (d).
    pub fn dim(&self) -> usize {
        self.table.shape().dims::<2>()[1]
    }

    /// Number of global ids (V).
    pub fn num_features(&self) -> usize {
        self.table.shape().dims::<2>()[0]
    }

    /// Both tables drawn again from `N(0, std²)`, same shapes (for example a pretraining that
    /// starts the ID tower at a larger scale than the CTR default of 1e-4).
    pub fn redrawn(&self, std: f64, device: &Device) -> Self {
        FeatureEmbeddingConfig::new(self.num_features())
            .with_dim(self.dim())
            .with_init_std(std)
            .init(device)
    }

    /// Both tables multiplied by one factor each, so that each table's root mean square is
    /// `rms` (directions and relative sizes kept; a table of zeros stays zero); ids kept, and
    /// still learned.
    pub fn scaled_to_rms(self, rms: f64) -> Self {
        let scale = |param: Param<Tensor<2>>| {
            param
                .map(|t| {
                    let current = t.clone().square().mean().sqrt().into_scalar::<f64>();
                    let factor = if current > 0.0 { rms / current } else { 1.0 };
                    t.mul_scalar(factor).detach()
                })
                .set_require_grad(true)
        };
        FeatureEmbedding {
            table: scale(self.table),
            linear: scale(self.linear),
        }
    }

    /// The same module with the rows `rows` of both tables (global ids, for example the ids of
    /// some fields) taken from `source`, every other row kept; ids kept, and still learned.
    ///
    /// # Panics
    /// If `source` has another shape or a range ends beyond the tables.
    pub fn with_rows_from(self, source: &FeatureEmbedding, rows: &[Range<usize>]) -> Self {
        assert_eq!(
            (self.num_features(), self.dim()),
            (source.num_features(), source.dim()),
            "tables of another shape"
        );
        let take = |param: Param<Tensor<2>>, from: Tensor<2>| {
            param
                .map(|mut t| {
                    let width = t.dims()[1];
                    for r in rows {
                        let part = from.clone().slice([r.clone(), 0..width]);
                        t = t.slice_assign([r.clone(), 0..width], part);
                    }
                    t.detach()
                })
                .set_require_grad(true)
        };
        FeatureEmbedding {
            table: take(self.table, source.table.val()),
            linear: take(self.linear, source.linear.val()),
        }
    }

    /// The same module with new table values (ids kept, so optimizer state and checkpoints
    /// still match).
    pub fn with_tables(self, table: Tensor<2>, linear: Tensor<2>) -> Self {
        FeatureEmbedding {
            table: Param::initialized(self.table.id, table),
            linear: Param::initialized(self.linear.id, linear),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn lookup_and_linear_logit() {
        let device = Device::flex();
        let e = FeatureEmbeddingConfig::new(4).with_dim(2).init(&device);
        let e = e.with_tables(
            Tensor::from_data(
                TensorData::new(vec![0.0f32, 0.1, 1.0, 1.1, 2.0, 2.1, 3.0, 3.1], [4, 2]),
                &device,
            ),
            Tensor::from_data(
                TensorData::new(vec![0.5f32, -1.0, 2.0, 0.25], [4, 1]),
                &device,
            ),
        );
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 3, 0, 2], [2, 2]), &device);
        let x = e.forward(ids, Reads::BOTH);
        assert_eq!(
            x.fields.to_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, 1.1, 3.0, 3.1, 0.0, 0.1, 2.0, 2.1]
        );
        assert_eq!(
            x.linear_logit().to_data().try_to_vec::<f32>().unwrap(),
            vec![-0.75, 2.5]
        );
        assert_eq!(x.flat().dims(), [2, 4]);
    }

    #[test]
    fn init_is_small_normal() {
        let device = Device::flex();
        device.seed(1);
        let e = FeatureEmbeddingConfig::new(1000).init(&device);
        let values = e.table.val().to_data().try_to_vec::<f32>().unwrap();
        let std = (values.iter().map(|v| v * v).sum::<f32>() / values.len() as f32).sqrt();
        assert!((std - 1e-4).abs() < 5e-6, "{std}");
    }

    #[test]
    fn redrawn_tables_keep_their_shapes_at_the_new_scale() {
        let device = Device::flex();
        device.seed(3);
        let e = FeatureEmbeddingConfig::new(500)
            .with_dim(8)
            .init(&device)
            .redrawn(0.05, &device);
        assert_eq!((e.num_features(), e.dim()), (500, 8));
        assert_eq!(e.linear.shape().dims::<2>(), [500, 1]);
        for table in [&e.table, &e.linear] {
            let values = table.val().to_data().try_to_vec::<f32>().unwrap();
            let std = (values.iter().map(|v| v * v).sum::<f32>() / values.len() as f32).sqrt();
            assert!((std - 0.05).abs() < 0.006, "{std}");
        }
    }

    #[test]
    fn scaled_tables_keep_their_directions_at_the_new_size_and_still_learn() {
        let device = Device::flex().autodiff();
        let e = FeatureEmbeddingConfig::new(2).with_dim(2).init(&device);
        let e = e
            .with_tables(
                Tensor::from_data(
                    TensorData::new(vec![3.0f32, 0.0, 0.0, -4.0], [2, 2]),
                    &device,
                ),
                Tensor::from_data(TensorData::new(vec![0.0f32, 0.0], [2, 1]), &device),
            )
            .scaled_to_rms(1e-4);
        // rms of (3, 0, 0, -4) is 2.5: every value times 4e-5; a zero table stays zero.
        let table = e.table.val().to_data().try_to_vec::<f32>().unwrap();
        let expected = [1.2e-4f32, 0.0, 0.0, -1.6e-4];
        assert!(
            table
                .iter()
                .zip(expected)
                .all(|(a, b)| (a - b).abs() < 1e-10),
            "{table:?}"
        );
        assert_eq!(
            e.linear.val().to_data().try_to_vec::<f32>().unwrap(),
            vec![0.0, 0.0]
        );
        // Both tables still receive gradients (a value put in place of a parameter's would
        // not, unless marked so).
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1], [1, 2]), &device);
        let x = e.forward(ids, Reads::BOTH);
        let loss = x.fields.sum() + x.linear.sum();
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &e);
        assert_eq!(grads.len(), 2);
    }

    #[test]
    fn rows_taken_from_another_table_replace_only_those_rows_and_still_learn() {
        let device = Device::flex().autodiff();
        let tables = |t: f32, l: f32| {
            FeatureEmbeddingConfig::new(5)
                .with_dim(2)
                .init(&device)
                .with_tables(
                    Tensor::full([5, 2], t, &device),
                    Tensor::full([5, 1], l, &device),
                )
        };
        // Rows 1 and 3..5 from the source (values 7 and -7), rows 0 and 2 kept (1 and -1).
        let e = tables(1.0, -1.0).with_rows_from(&tables(7.0, -7.0), &[1..2, 3..5]);
        assert_eq!(
            e.table.val().to_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, 1.0, 7.0, 7.0, 1.0, 1.0, 7.0, 7.0, 7.0, 7.0]
        );
        assert_eq!(
            e.linear.val().to_data().try_to_vec::<f32>().unwrap(),
            vec![-1.0, -7.0, -1.0, -7.0, -7.0]
        );
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 3], [1, 2]), &device);
        let x = e.forward(ids, Reads::BOTH);
        let loss = x.fields.sum() + x.linear.sum();
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &e);
        assert_eq!(grads.len(), 2);
    }
}
