//! Instance-level contrastive learning: a projection head per modality and the symmetric
//! InfoNCE loss over the batch.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, log_softmax};
use burn::tensor::{Device, Int, Tensor};

/// Configuration of [`ProjectionHead`].
#[derive(Config, Debug)]
pub struct ProjectionHeadConfig {
    /// Width of the input (the ID representation or the text vector).
    pub input: usize,
    /// Width of the projection. Default 128.
    #[config(default = 128)]
    pub output: usize,
    /// Dropout after the second layer. Default 0.2.
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// `p = W₁x`, `y = Dropout(W₂ GELU(p))`, output `LayerNorm(y + p)` (flip-spec §4).
#[derive(Module, Debug)]
pub struct ProjectionHead {
    first: Linear,
    second: Linear,
    dropout: Dropout,
    norm: LayerNorm,
}

impl ProjectionHeadConfig {
    /// Builds the head.
    pub fn init(&self, device: &Device) -> ProjectionHead {
        ProjectionHead {
            first: LinearConfig::new(self.input, self.output).init(device),
            second: LinearConfig::new(self.output, self.output).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            norm: LayerNormConfig::new(self.output).init(device),
        }
    }
}

impl ProjectionHead {
    /// # Shapes
    /// - `x`: `[B, input]`
    /// - output: `[B, output]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let p = self.first.forward(x);
        let y = self.dropout.forward(self.second.forward(gelu(p.clone())));
        self.norm.forward(y + p)
    }
}

/// Symmetric InfoNCE: row `i` of `a` should match row `i` of `b` among all rows of the batch,
/// and the other way round: `½ [CE(S, diag) + CE(Sᵀ, diag)]` with `S = a bᵀ / τ`.
/// With `normalize`, rows are L2-normalised first (cosine similarities).
///
/// # Shapes
/// - `a`, `b`: `[B, D]`; `temperature`: `[1]` (positive)
/// - output: `[1]`
pub fn info_nce(a: Tensor<2>, b: Tensor<2>, temperature: Tensor<1>, normalize: bool) -> Tensor<1> {
    let (a, b) = if normalize {
        (l2_normalize(a), l2_normalize(b))
    } else {
        (a, b)
    };
    let [n, _] = a.dims();
    let scores = a.matmul(b.transpose()) / temperature.reshape([1, 1]);
    let diagonal = Tensor::<1, Int>::arange(0..n as i64, &scores.device()).reshape([n, 1]);
    let rows = log_softmax(scores.clone(), 1)
        .gather(1, diagonal.clone())
        .mean();
    let cols = log_softmax(scores.transpose(), 1)
        .gather(1, diagonal)
        .mean();
    (rows + cols).mul_scalar(-0.5)
}

/// Rows minus their mean over the batch: what is common to every row of a batch is removed,
/// so a tower whose rows all project near one direction compares by what tells them apart.
///
/// # Shapes
/// - `x`: `[B, D]` → `[B, D]`
pub fn batch_centered(x: Tensor<2>) -> Tensor<2> {
    let mean = x.clone().mean_dim(0);
    x - mean
}

/// Rows scaled to unit length.
///
/// # Shapes
/// - `x`: `[B, D]` → `[B, D]`
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let [b, _] = x.dims();
    let norm = x
        .clone()
        .square()
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12)
        .reshape([b, 1]);
    x / norm
}

/// Where a batch's two sets of projections sit, as cosines (host values, for the logs): a
/// tower whose rows all project to nearly the same direction has a within-batch cosine near 1,
/// and the contrastive loss can then sit at `ln B` with every score equal.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProjectionGeometry {
    /// Mean cosine between the ID projections of two different rows.
    pub id_cosine: f64,
    /// Mean cosine between the text projections of two different rows.
    pub text_cosine: f64,
    /// Mean cosine of a row's ID projection with its own text projection, minus the mean with
    /// the other rows' (0: no alignment beyond chance; positive: matched pairs are closer).
    pub pair_gap: f64,
}

impl ProjectionGeometry {
    /// The geometry of one batch's projections (detached; copied to the host once), or `None`
    /// for a batch of one row (nothing to compare it with). The within-batch cosines are those
    /// of the rows as given; the pair gap is that of the rows the contrastive loss compares,
    /// batch-centred first when `center` (centred rows of similar norms always have a mean
    /// pairwise cosine near `−1/(B−1)`, so their own within-batch cosine says nothing). A zero
    /// row counts as orthogonal to everything.
    ///
    /// # Shapes
    /// - `z_id`, `z_text`: `[B, P]`
    pub fn of(z_id: &Tensor<2>, z_text: &Tensor<2>, center: bool) -> Option<Self> {
        let [b, p] = z_id.dims();
        assert_eq!(
            z_text.dims(),
            [b, p],
            "both projections have the same shape"
        );
        if b < 2 {
            return None;
        }
        let rows = |z: &Tensor<2>| -> Vec<Vec<f64>> {
            let data = z.clone().detach().into_data().convert::<f32>();
            let values = data.as_slice::<f32>().expect("f32 values");
            values
                .chunks(p)
                .map(|row| row.iter().map(|&x| f64::from(x)).collect())
                .collect()
        };
        let (id_rows, text_rows) = (rows(z_id), rows(z_text));
        let (a, t) = (unit(&id_rows), unit(&text_rows));
        let (ca, ct) = if center {
            (unit(&centered(&id_rows)), unit(&centered(&text_rows)))
        } else {
            (a.clone(), t.clone())
        };
        let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(u, v)| u * v).sum::<f64>();
        let (mut id, mut text, mut matched, mut unmatched) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..b {
            matched += dot(&ca[i], &ct[i]);
            for j in (0..b).filter(|&j| j != i) {
                id += dot(&a[i], &a[j]);
                text += dot(&t[i], &t[j]);
                unmatched += dot(&ca[i], &ct[j]);
            }
        }
        let pairs = (b * (b - 1)) as f64;
        Some(ProjectionGeometry {
            id_cosine: id / pairs,
            text_cosine: text / pairs,
            pair_gap: matched / b as f64 - unmatched / pairs,
        })
    }

    /// The sum of two geometries (for means over steps).
    pub fn plus(self, other: Self) -> Self {
        ProjectionGeometry {
            id_cosine: self.id_cosine + other.id_cosine,
            text_cosine: self.text_cosine + other.text_cosine,
            pair_gap: self.pair_gap + other.pair_gap,
        }
    }

    /// Every value divided by `n`.
    pub fn scaled(self, n: f64) -> Self {
        ProjectionGeometry {
            id_cosine: self.id_cosine / n,
            text_cosine: self.text_cosine / n,
            pair_gap: self.pair_gap / n,
        }
    }
}

/// Host rows scaled to unit length (a zero row stays zero).
fn unit(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|row| {
            let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
            let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            row.iter().map(|x| x * scale).collect()
        })
        .collect()
}

/// Host rows minus their column means (the host side of [`batch_centered`]).
fn centered(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = rows.len() as f64;
    let mut mean = vec![0.0; rows[0].len()];
    for row in rows {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x / n;
        }
    }
    rows.iter()
        .map(|row| row.iter().zip(&mean).map(|(x, m)| x - m).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    #[test]
    fn two_by_two_by_hand() {
        let device = Device::flex();
        let a = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0]], &device);
        let b = Tensor::<2>::from_floats([[0.5, 0.5], [1.0, -1.0]], &device);
        let tau = Tensor::<1>::from_floats([0.7], &device);
        // S = a bᵀ / 0.7 = [[0.5, 1], [1, -2]] / 0.7
        let s = [[0.5f32 / 0.7, 1.0 / 0.7], [1.0 / 0.7, -2.0 / 0.7]];
        let ce = |row: [f32; 2], target: usize| -(row[target] - (row[0].exp() + row[1].exp()).ln());
        let rows = (ce(s[0], 0) + ce(s[1], 1)) / 2.0;
        let cols = (ce([s[0][0], s[1][0]], 0) + ce([s[0][1], s[1][1]], 1)) / 2.0;
        let expected = 0.5 * (rows + cols);
        assert!(
            (scalar(info_nce(a.clone(), b.clone(), tau.clone(), false)) - expected).abs() < 1e-5
        );
        // Normalised: cosines.
        let (an, bn) = (
            [[1.0f32, 0.0], [0.0, 1.0]],
            [
                [0.5f32.sqrt(), 0.5f32.sqrt()],
                [0.5f32.sqrt(), -(0.5f32.sqrt())],
            ],
        );
        let dot = |x: [f32; 2], y: [f32; 2]| (x[0] * y[0] + x[1] * y[1]) / 0.7;
        let s = [
            [dot(an[0], bn[0]), dot(an[0], bn[1])],
            [dot(an[1], bn[0]), dot(an[1], bn[1])],
        ];
        let rows = (ce(s[0], 0) + ce(s[1], 1)) / 2.0;
        let cols = (ce([s[0][0], s[1][0]], 0) + ce([s[0][1], s[1][1]], 1)) / 2.0;
        assert!((scalar(info_nce(a, b, tau, true)) - 0.5 * (rows + cols)).abs() < 1e-5);
    }

    #[test]
    fn matching_pairs_give_a_low_loss() {
        let device = Device::flex();
        let a = Tensor::<2>::from_floats([[5.0, 0.0], [0.0, 5.0]], &device);
        let tau = Tensor::<1>::from_floats([0.7], &device);
        let matched = scalar(info_nce(a.clone(), a.clone(), tau.clone(), false));
        let crossed = scalar(info_nce(
            a.clone(),
            Tensor::from_floats([[0.0, 5.0], [5.0, 0.0]], &device),
            tau,
            false,
        ));
        assert!(matched < 1e-6 && crossed > 30.0, "{matched} {crossed}");
    }

    #[test]
    fn centering_removes_what_every_row_shares() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[1.0, 5.0], [3.0, 5.0], [2.0, 8.0]], &device);
        let centered = batch_centered(x).to_data().try_to_vec::<f32>().unwrap();
        assert_eq!(centered, vec![-1.0, -1.0, 1.0, -1.0, 0.0, 2.0]);
        // A shared offset changes no centred, normalised loss.
        let a = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [0.5, -1.0]], &device);
        let b = Tensor::<2>::from_floats([[0.9, 0.2], [-0.1, 1.0], [0.3, -0.8]], &device);
        let tau = Tensor::<1>::from_floats([0.1], &device);
        let loss = |a: Tensor<2>| {
            scalar(info_nce(
                batch_centered(a),
                batch_centered(b.clone()),
                tau.clone(),
                true,
            ))
        };
        let shifted = a.clone() + Tensor::<2>::from_floats([[40.0, -7.0]], &device);
        assert!((loss(a) - loss(shifted)).abs() < 1e-4);
    }

    #[test]
    fn projection_geometry_by_hand() {
        let device = Device::flex();
        // ID rows (1, 0), (0, 2), (1, 1): pairwise cosines 0, 1/√2, 1/√2.
        let z_id = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], &device);
        // Text rows all along (1, 0) (one scaled): every pairwise cosine 1.
        let z_text = Tensor::<2>::from_floats([[1.0, 0.0], [3.0, 0.0], [1.0, 0.0]], &device);
        let g = ProjectionGeometry::of(&z_id, &z_text, false).unwrap();
        let r = 0.5f64.sqrt();
        assert!((g.id_cosine - (2.0 * r) / 3.0).abs() < 1e-6, "{g:?}");
        assert!((g.text_cosine - 1.0).abs() < 1e-6, "{g:?}");
        // Matched cosines: 1, 0, 1/√2; unmatched: row i's ID with text j ≠ i is the ID row's
        // first coordinate over its norm: rows 0, 1, 2 give 1, 0, 1/√2, each twice.
        let matched = (1.0 + 0.0 + r) / 3.0;
        let unmatched = 2.0 * (1.0 + 0.0 + r) / 6.0;
        assert!((g.pair_gap - (matched - unmatched)).abs() < 1e-6, "{g:?}");
        // Identical towers with orthogonal rows: no within-batch similarity, a gap of 1.
        let eye = Tensor::<2>::from_floats([[2.0, 0.0], [0.0, 1.0]], &device);
        let g = ProjectionGeometry::of(&eye, &eye, false).unwrap();
        assert_eq!((g.id_cosine, g.text_cosine, g.pair_gap), (0.0, 0.0, 1.0));
        // The same rows shifted by (5, 5): their raw cosines are high; centred they are (1, −½)
        // and (−1, ½), so a row matches its own pair (cosine 1) and not the other (−1): gap 2.
        let shifted = Tensor::<2>::from_floats([[7.0, 5.0], [5.0, 6.0]], &device);
        let g = ProjectionGeometry::of(&shifted, &shifted, true).unwrap();
        let raw = (7.0 * 5.0 + 5.0 * 6.0) / (74.0f64.sqrt() * 61.0f64.sqrt());
        assert!((g.id_cosine - raw).abs() < 1e-6 && (g.text_cosine - raw).abs() < 1e-6);
        assert!((g.pair_gap - 2.0).abs() < 1e-6, "{g:?}");
        // One row: nothing to compare.
        let one = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
        assert_eq!(ProjectionGeometry::of(&one, &one, false), None);
    }
}
