//! Evaluation metrics: ROC AUC (exact, ties counted half, as scikit-learn) and LogLoss
//! (probabilities clipped to `[ε, 1 − ε]` with `ε` = f64 machine epsilon, as scikit-learn).

/// Area under the ROC curve of `scores` against 0/1 `labels`: the probability that a random
/// positive scores above a random negative, ties counting one half (average ranks).
/// `None` when one class is absent or a score is not finite (a diverged model has no AUC: a
/// ranking of NaN scores would give a number that looks like one).
pub fn auc(labels: &[u8], scores: &[f32]) -> Option<f64> {
    assert_eq!(labels.len(), scores.len(), "one score per label");
    if scores.iter().any(|s| !s.is_finite()) {
        return None;
    }
    let positives = labels.iter().filter(|&&l| l == 1).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        let tied_positives = order[i..=j].iter().filter(|&&r| labels[r] == 1).count();
        rank_sum += average_rank * tied_positives as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean binary cross-entropy of probabilities `probs` against 0/1 `labels`.
pub fn log_loss(labels: &[u8], probs: &[f32]) -> f64 {
    assert_eq!(labels.len(), probs.len(), "one probability per label");
    let eps = f64::EPSILON;
    let total: f64 = labels
        .iter()
        .zip(probs)
        .map(|(&y, &p)| {
            let p = f64::from(p).clamp(eps, 1.0 - eps);
            if y == 1 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    total / labels.len() as f64
}

/// The prior's LogLoss: every row of `labels` scored at the click rate of `train_labels` (what a
/// model that learned the base rate and nothing else scores). Returns `(click rate, LogLoss)`.
pub fn prior_log_loss(train_labels: &[u8], labels: &[u8]) -> (f64, f64) {
    let rate = train_labels.iter().map(|&y| f64::from(y)).sum::<f64>() / train_labels.len() as f64;
    (rate, log_loss(labels, &vec![rate as f32; labels.len()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prior_scores_every_row_at_the_training_click_rate() {
        // p = 3/4: (−ln 0.75 − ln 0.25) / 2.
        let (rate, loss) = prior_log_loss(&[1, 1, 0, 1], &[1, 0]);
        assert_eq!(rate, 0.75);
        assert!((loss - 0.836_988_216_6).abs() < 1e-9, "{loss}");
        // Scoring at the rate of the rows themselves gives their entropy.
        let (_, entropy) = prior_log_loss(&[1, 0], &[1, 0]);
        assert!((entropy - std::f64::consts::LN_2).abs() < 1e-12);
    }

    // Reference values computed once with scikit-learn 1.x (roc_auc_score, log_loss).
    #[test]
    fn matches_scikit_learn() {
        let y = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0];
        let p = [0.9, 0.1, 0.8, 0.4, 0.4, 0.3, 0.65, 0.65, 0.2, 0.05];
        assert!((auc(&y, &p).unwrap() - 0.8).abs() < 1e-12);
        assert!((log_loss(&y, &p) - 0.535_899_212_962_152_3).abs() < 1e-6);
        let (y, p) = ([0, 1, 1, 0, 1], [0.5; 5]);
        assert_eq!(auc(&y, &p), Some(0.5));
        assert!((log_loss(&y, &p) - std::f64::consts::LN_2).abs() < 1e-12);
        let (y, p) = ([1, 0, 1, 0], [1.0, 0.0, 0.0, 1.0]);
        assert_eq!(auc(&y, &p), Some(0.5));
        assert!((log_loss(&y, &p) - 18.021_826_694_558_577).abs() < 1e-9);
    }

    #[test]
    fn perfect_reversed_and_degenerate() {
        assert_eq!(auc(&[0, 0, 1, 1], &[0.1, 0.2, 0.3, 0.4]), Some(1.0));
        assert_eq!(auc(&[1, 1, 0, 0], &[0.1, 0.2, 0.3, 0.4]), Some(0.0));
        assert_eq!(auc(&[1, 1], &[0.1, 0.2]), None);
    }

    #[test]
    fn non_finite_scores_have_no_auc() {
        let y = [0, 1, 0, 1];
        assert_eq!(auc(&y, &[f32::NAN; 4]), None);
        assert_eq!(auc(&y, &[0.1, f32::INFINITY, 0.2, 0.3]), None);
        assert_eq!(auc(&y, &[0.1, 0.9, f32::NEG_INFINITY, 0.3]), None);
    }

    #[test]
    fn auc_equals_pairwise_counting() {
        // Brute force over all positive/negative pairs on a tie-heavy input.
        let y: Vec<u8> = (0..200).map(|i| u8::from((i * 7919) % 13 < 6)).collect();
        let s: Vec<f32> = (0..200).map(|i| ((i * 31) % 17) as f32 / 4.0).collect();
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for i in 0..200 {
            for j in 0..200 {
                if y[i] == 1 && y[j] == 0 {
                    pairs += 1.0;
                    wins += if s[i] > s[j] {
                        1.0
                    } else if s[i] == s[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        assert!((auc(&y, &s).unwrap() - wins / pairs).abs() < 1e-12);
    }
}
