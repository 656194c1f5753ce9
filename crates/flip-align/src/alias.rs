//! Vose's alias method: O(1) draws from a fixed discrete distribution, used for the NCE noise
//! ids (the unigram distribution of training features).

use rand::Rng;

/// A discrete distribution prepared for constant-time sampling.
#[derive(Debug, Clone)]
pub struct AliasSampler {
    probability: Vec<f64>,
    alias: Vec<u32>,
}

impl AliasSampler {
    /// Builds the tables for weights `w` (non-negative, not all zero); index `i` is drawn with
    /// probability `w[i] / Σ w`.
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        assert!(
            n > 0 && total > 0.0,
            "the alias sampler needs a positive total weight"
        );
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut probability = vec![0.0; n];
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            probability[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            probability[i] = 1.0;
        }
        AliasSampler { probability, alias }
    }

    /// One draw.
    pub fn sample(&self, rng: &mut impl Rng) -> u32 {
        let column = rng.random_range(0..self.probability.len());
        if rng.random::<f64>() < self.probability[column] {
            column as u32
        } else {
            self.alias[column]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn frequencies_follow_the_weights() {
        let weights = [0.0, 1.0, 2.0, 7.0, 0.0, 10.0];
        let sampler = AliasSampler::new(&weights);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0usize; 6];
        let n = 200_000;
        for _ in 0..n {
            counts[sampler.sample(&mut rng) as usize] += 1;
        }
        for (c, w) in counts.iter().zip(weights) {
            let expected = w / 20.0;
            assert!(
                (*c as f64 / n as f64 - expected).abs() < 0.005,
                "{counts:?}"
            );
        }
        assert_eq!(
            (counts[0], counts[4]),
            (0, 0),
            "zero weights are never drawn"
        );
    }
}
