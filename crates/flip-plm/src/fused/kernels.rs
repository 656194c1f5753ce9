//! The arithmetic of the fused operations on plain `f32` slices, each one pass over memory,
//! split into blocks that rayon runs on all cores. Loops are written without branches so that
//! the compiler vectorises them (`erf` and `exp` are polynomials here, not calls into libm).

use rayon::prelude::*;

/// Elements per parallel task for elementwise kernels (64 KiB of `f32`).
const ELEMENTS_PER_TASK: usize = 1 << 14;
/// Rows per parallel task for row kernels.
const ROWS_PER_TASK: usize = 32;

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2π)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// The error function, as a rational function of `x` clamped to `[-4, 4]` (outside, `erf`
/// rounds to ±1 in `f32`): odd numerator of degree 13 over even denominator of degree 8, the
/// monomial coefficients used by Eigen's vectorised `erf`. Within 4e-7 of the exact value
/// (tested against a series in `f64`).
#[inline(always)]
#[allow(clippy::excessive_precision)] // the coefficients as published
fn erf(x: f32) -> f32 {
    const ALPHA: [f32; 7] = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_600e-3,
        -1.609_603_3e-2,
    ];
    const BETA: [f32; 5] = [
        -1.456_607_2e-5,
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329e-3,
        -1.426_474e-2,
    ];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = ALPHA[1..]
        .iter()
        .fold(ALPHA[0], |acc, &coefficient| acc * x2 + coefficient);
    let q = BETA[1..]
        .iter()
        .fold(BETA[0], |acc, &coefficient| acc * x2 + coefficient);
    x * p / q
}

/// `e^x` for `x <= 0` (values below -87 give `e^-87`, about 1.6e-38, where the true value is
/// smaller still): `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-7 Taylor polynomial for
/// `e^r` (relative error under 1e-8), and `2^n` built from its exponent bits.
#[inline(always)]
fn exp_non_positive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN_2_HIGH: f32 = 0.693_145_75;
    const LN_2_LOW: f32 = 1.428_606_8e-6;
    /// Adding and subtracting 1.5 * 2^23 rounds an `f32` of magnitude below 2^22 to an integer.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let n = (x * LOG2_E + ROUNDER) - ROUNDER;
    let r = x - n * LN_2_HIGH - n * LN_2_LOW;
    let polynomial = [
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ]
    .iter()
    .fold(0.0f32, |acc, &coefficient| acc * r + coefficient);
    polynomial * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `gelu(x) = x Φ(x)`, with `Φ(x) = (1 + erf(x / √2)) / 2` (the exact, not the tanh, form).
pub fn gelu(x: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(ELEMENTS_PER_TASK)
        .zip(x.par_chunks(ELEMENTS_PER_TASK))
        .for_each(|(out, x)| {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2));
            }
        });
}

/// `grad · gelu'(x)`, with `gelu'(x) = Φ(x) + x φ(x)` and `φ(x) = e^(-x²/2) / √(2π)`,
/// written over `grad`.
pub fn gelu_backward(x: &[f32], grad: &mut [f32]) {
    grad.par_chunks_mut(ELEMENTS_PER_TASK)
        .zip(x.par_chunks(ELEMENTS_PER_TASK))
        .for_each(|(grad, x)| {
            for (g, &x) in grad.iter_mut().zip(x) {
                let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
                let pdf = FRAC_1_SQRT_2PI * exp_non_positive(-0.5 * x * x);
                *g *= cdf + x * pdf;
            }
        });
}

/// Gradients of LayerNorm `y = (x - mean) / sqrt(var + eps) · γ + β` over rows of `width`
/// values (biased variance, as in the forward pass), given the input `x`, `γ` and `∂L/∂y`:
/// writes `∂L/∂x` over `grad` and returns `(∂L/∂γ, ∂L/∂β)`.
///
/// With `x̂` the normalised row, `r = 1 / sqrt(var + eps)` and `g = ∂L/∂y · γ`:
/// `∂L/∂x = r (g - mean(g) - x̂ mean(g x̂))`, `∂L/∂γ = Σ_rows ∂L/∂y x̂`, `∂L/∂β = Σ_rows ∂L/∂y`.
///
/// # Shapes
/// - `x`, `grad`: `N · width`; `gamma`: `width`; returned: `width` each
pub fn layer_norm_backward(
    x: &[f32],
    gamma: &[f32],
    grad: &mut [f32],
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>) {
    let width = gamma.len();
    let chunk = ROWS_PER_TASK * width;
    let partial_sums = grad
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .map(|(grad, x)| {
            let mut grad_gamma = vec![0.0f32; width];
            let mut grad_beta = vec![0.0f32; width];
            let mut normalised = vec![0.0f32; width];
            let mut scaled_grad = vec![0.0f32; width];
            for (grad, x) in grad.chunks_exact_mut(width).zip(x.chunks_exact(width)) {
                let (mean, reciprocal_std) = moments(x, epsilon);
                let mut mean_g = 0.0f32;
                let mut mean_g_normalised = 0.0f32;
                for i in 0..width {
                    let n = (x[i] - mean) * reciprocal_std;
                    let g = grad[i] * gamma[i];
                    normalised[i] = n;
                    scaled_grad[i] = g;
                    mean_g += g;
                    mean_g_normalised += g * n;
                    grad_gamma[i] += grad[i] * n;
                    grad_beta[i] += grad[i];
                }
                mean_g /= width as f32;
                mean_g_normalised /= width as f32;
                for i in 0..width {
                    grad[i] = reciprocal_std
                        * (scaled_grad[i] - mean_g - normalised[i] * mean_g_normalised);
                }
            }
            (grad_gamma, grad_beta)
        })
        .collect::<Vec<_>>();
    let mut grad_gamma = vec![0.0f32; width];
    let mut grad_beta = vec![0.0f32; width];
    for (gamma_part, beta_part) in partial_sums {
        for i in 0..width {
            grad_gamma[i] += gamma_part[i];
            grad_beta[i] += beta_part[i];
        }
    }
    (grad_gamma, grad_beta)
}

/// A row's mean and `1 / sqrt(biased variance + eps)`, accumulated in `f64`.
fn moments(row: &[f32], epsilon: f32) -> (f32, f32) {
    let width = row.len() as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / width;
    let variance = row
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / width;
    (
        mean as f32,
        (1.0 / (variance + f64::from(epsilon)).sqrt()) as f32,
    )
}

/// Gradient of a softmax over rows of `width` values, from its output `y` and `∂L/∂y`:
/// `∂L/∂x = y (∂L/∂y - Σ_row ∂L/∂y · y)`, written over `grad`.
///
/// # Shapes
/// - `y`, `grad`: `N · width`
pub fn softmax_backward(y: &[f32], grad: &mut [f32], width: usize) {
    let chunk = ROWS_PER_TASK * width;
    grad.par_chunks_mut(chunk)
        .zip(y.par_chunks(chunk))
        .for_each(|(grad, y)| {
            for (grad, y) in grad.chunks_exact_mut(width).zip(y.chunks_exact(width)) {
                let dot: f32 = y.iter().zip(grad.iter()).map(|(y, g)| y * g).sum();
                for (g, &y) in grad.iter_mut().zip(y) {
                    *g = y * (*g - dot);
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `erf` in `f64` from its Maclaurin series (|x| <= 3) or its asymptotic continued
    /// fraction (|x| > 3), both far more precise than the `f32` polynomial.
    fn erf_reference(x: f64) -> f64 {
        if x.abs() > 3.0 {
            // erfc(x) = e^(-x²) / √π · 1 / (x + 1/2 / (x + 1 / (x + 3/2 / (x + ...))))
            let mut fraction = x;
            for k in (1..60).rev() {
                fraction = x + (k as f64 / 2.0) / fraction;
            }
            let erfc = (-x * x).exp() / std::f64::consts::PI.sqrt() / fraction;
            return x.signum() * (1.0 - erfc.abs());
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn grid() -> Vec<f32> {
        (-12_000..=12_000).map(|i| i as f32 / 1_000.0).collect()
    }

    #[test]
    fn erf_and_exp_match_double_precision_references() {
        for x in grid() {
            let exact = erf_reference(f64::from(x));
            assert!((f64::from(erf(x)) - exact).abs() < 4e-7, "erf({x})");
            let exact = (-f64::from(x).abs()).exp();
            let got = f64::from(exp_non_positive(-x.abs()));
            assert!((got - exact).abs() <= 4e-7 * exact, "exp({})", -x.abs());
        }
        assert_eq!(exp_non_positive(0.0), 1.0);
        assert!(exp_non_positive(-1_000.0) < 2e-38);
    }

    #[test]
    fn gelu_and_its_gradient_match_the_exact_formulas() {
        let x = grid();
        let grad: Vec<f32> = x.iter().map(|v| 1.0 + v.sin()).collect();
        let mut y = vec![0.0; x.len()];
        gelu(&x, &mut y);
        let mut dx = grad.clone();
        gelu_backward(&x, &mut dx);
        for i in 0..x.len() {
            let v = f64::from(x[i]);
            let cdf = 0.5 * (1.0 + erf_reference(v / 2f64.sqrt()));
            let pdf = (-v * v / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let tolerance = 1e-6 * (1.0 + v.abs());
            assert!((f64::from(y[i]) - v * cdf).abs() < tolerance, "gelu({v})");
            let expected = f64::from(grad[i]) * (cdf + v * pdf);
            assert!(
                (f64::from(dx[i]) - expected).abs() < tolerance,
                "gelu'({v})"
            );
        }
    }

    /// LayerNorm of one row in `f64`, for finite differences.
    fn layer_norm_row(x: &[f64], gamma: &[f64], beta: &[f64], epsilon: f64) -> Vec<f64> {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let variance = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        x.iter()
            .zip(gamma.iter().zip(beta))
            .map(|(v, (g, b))| (v - mean) / (variance + epsilon).sqrt() * g + b)
            .collect()
    }

    #[test]
    fn layer_norm_gradients_match_finite_differences() {
        // 70 rows of 5: more than one parallel task, so partial sums of ∂γ and ∂β are merged.
        let (rows, width, epsilon) = (70, 5, 1e-3);
        let x: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 4.0)
            .collect();
        let gamma = [0.5f32, -1.0, 2.0, 1.5, 0.25];
        let beta = [0.1f64, 0.2, -0.3, 0.0, 1.0];
        let grad: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 13 % 7) as f32 - 3.0) / 2.0)
            .collect();
        let mut grad_x = grad.clone();
        let (grad_gamma, grad_beta) = layer_norm_backward(&x, &gamma, &mut grad_x, epsilon as f32);

        // L = Σ grad · y, differentiated numerically in f64.
        let to_f64 = |v: &[f32]| v.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
        let (x64, gamma64, grad64) = (to_f64(&x), to_f64(&gamma), to_f64(&grad));
        let loss = |x: &[f64], gamma: &[f64], beta: &[f64]| -> f64 {
            x.chunks(width)
                .zip(grad64.chunks(width))
                .map(|(row, grad)| {
                    let y = layer_norm_row(row, gamma, beta, epsilon);
                    y.iter().zip(grad).map(|(y, g)| y * g).sum::<f64>()
                })
                .sum()
        };
        let h = 1e-6;
        let derivative = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
        for i in 0..rows * width {
            let expected = derivative(&|d| {
                let mut x = x64.clone();
                x[i] += d;
                loss(&x, &gamma64, &beta)
            });
            assert!((f64::from(grad_x[i]) - expected).abs() < 1e-4, "x[{i}]");
        }
        for j in 0..width {
            let expected = derivative(&|d| {
                let mut gamma = gamma64.clone();
                gamma[j] += d;
                loss(&x64, &gamma, &beta)
            });
            assert!(
                (f64::from(grad_gamma[j]) - expected).abs() < 1e-3,
                "gamma[{j}]"
            );
            let expected: f64 = grad64.iter().skip(j).step_by(width).sum();
            assert!(
                (f64::from(grad_beta[j]) - expected).abs() < 1e-4,
                "beta[{j}]"
            );
        }
    }

    #[test]
    fn softmax_gradient_matches_the_jacobian() {
        let width = 4;
        let logits = [0.5f64, -1.0, 2.0, 0.0, 1.0, 1.0, 1.0, -3.0];
        let y: Vec<f64> = logits
            .chunks(width)
            .flat_map(|row| {
                let total: f64 = row.iter().map(|v| v.exp()).sum();
                row.iter().map(move |v| v.exp() / total)
            })
            .collect();
        let grad = [1.0f64, -2.0, 0.5, 3.0, 0.0, 1.0, -1.0, 2.0];
        let as_f32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let mut grad_x = as_f32(&grad);
        softmax_backward(&as_f32(&y), &mut grad_x, width);
        for row in 0..2 {
            for i in 0..width {
                // ∂y_j/∂x_i = y_j (δ_ij - y_i)
                let expected: f64 = (0..width)
                    .map(|j| {
                        let (yi, yj) = (y[row * width + i], y[row * width + j]);
                        grad[row * width + j] * yj * (f64::from(u8::from(i == j)) - yi)
                    })
                    .sum();
                let got = f64::from(grad_x[row * width + i]);
                assert!((got - expected).abs() < 1e-6, "row {row}, x[{i}]");
            }
        }
    }
}
