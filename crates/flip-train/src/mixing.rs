//! The weight that mixes two towers' logits, chosen on labelled rows: FLIP's staged protocol
//! starts its joint finetuning from the `α` under which the finetuned FLIP_ID and FLIP_PLM,
//! mixed as `α z_id + (1 − α) z_plm`, rank the validation rows best; and the mixture looked at
//! in hindsight on rows it was not chosen on.

use serde::{Deserialize, Serialize};

use crate::metrics::auc;

/// Steps of the grid over `α ∈ [0, 1]`.
const GRID: u32 = 100;

/// The mixing weight on the grid `0, 0.01, ..., 1` whose mixture `α a + (1 − α) b` (`a` the ID
/// tower's logits, `b` the language model's, one per row) has the highest AUC on `labels`,
/// with that AUC. A tie goes to the larger `α` (the ID tower alone at `α = 1`, so the mixture
/// never ranks worse than it on these rows). `None` when the rows hold one class only.
///
/// AUC, not the cross-entropy: with the ID tower finetuned on every row, the cross-entropy
/// optimum also rescales (calibrates) its logits through `α`, and then mixes in more of a
/// weaker language model than ranking gains from (measured on ML-100K: `α` 0.71 by
/// cross-entropy, validation AUC 0.6896 against FLIP_ID's 0.6915).
pub fn mixing_weight_by_auc(
    id_logits: &[f32],
    plm_logits: &[f32],
    labels: &[u8],
) -> Option<(f64, f64)> {
    Some(best_on(&auc_by_alpha(id_logits, plm_logits, labels)?))
}

/// The `(α, AUC)` of `curve` (ascending in `α`, not empty) with the highest AUC, a tie going
/// to the larger `α`.
fn best_on(curve: &[(f64, f64)]) -> (f64, f64) {
    curve
        .iter()
        .rev()
        .copied()
        .reduce(|best, point| if point.1 > best.1 { point } else { best })
        .expect("the grid has points")
}

/// The AUC on `labels` of the mixture `α a + (1 − α) b` at every `α` of the grid `0, 0.01,
/// ..., 1`, ascending; `None` when the rows hold one class only.
pub fn auc_by_alpha(
    id_logits: &[f32],
    plm_logits: &[f32],
    labels: &[u8],
) -> Option<Vec<(f64, f64)>> {
    assert_eq!(id_logits.len(), plm_logits.len(), "one logit per row");
    (0..=GRID)
        .map(|step| {
            let alpha = f64::from(step) / f64::from(GRID);
            auc(labels, &mixed(id_logits, plm_logits, alpha)).map(|value| (alpha, value))
        })
        .collect()
}

/// `α a + (1 − α) b` per row.
fn mixed(id_logits: &[f32], plm_logits: &[f32], alpha: f64) -> Vec<f32> {
    id_logits
        .iter()
        .zip(plm_logits)
        .map(|(&a, &b)| (alpha * f64::from(a) + (1.0 - alpha) * f64::from(b)) as f32)
        .collect()
}

/// FLIP's mixture on labelled rows it was not chosen on (the full test split): at the `α` it
/// was given, at the `α` that ranks these rows best in hindsight, and each tower alone. The
/// hindsight `α` is not a result (it is chosen with the labels it is scored on); it bounds what
/// any mixing weight of these two towers could have gained here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MixtureInHindsight {
    /// FLIP's `α`.
    pub alpha: f64,
    /// AUC of the mixture at `alpha`.
    pub auc: f64,
    /// The `α` of the grid `0, 0.01, ..., 1` whose mixture ranks the rows best (a tie goes to
    /// the larger `α`).
    pub best_alpha: f64,
    /// AUC of the mixture at `best_alpha`.
    pub best_auc: f64,
    /// AUC of the ID tower's logits alone (`α = 1`).
    pub id_alone: f64,
    /// AUC of the language model's logits alone (`α = 0`).
    pub plm_alone: f64,
}

impl MixtureInHindsight {
    /// The mixture of `id_logits` and `plm_logits` at `alpha` and in hindsight on `labels`;
    /// `None` when the rows hold one class only.
    pub fn of(id_logits: &[f32], plm_logits: &[f32], labels: &[u8], alpha: f64) -> Option<Self> {
        let curve = auc_by_alpha(id_logits, plm_logits, labels)?;
        let (best_alpha, best_auc) = best_on(&curve);
        // The grid's ends: the language model alone (α = 0) and the ID tower alone (α = 1).
        let (plm_alone, id_alone) = (curve[0].1, curve[GRID as usize].1);
        Some(MixtureInHindsight {
            alpha,
            auc: auc(labels, &mixed(id_logits, plm_logits, alpha))?,
            best_alpha,
            best_auc,
            id_alone,
            plm_alone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixture_ranks_better_than_either_tower() {
        // Each tower ranks 5 of the 9 positive-negative pairs right (AUC 5/9); every α from
        // 0.5 to 0.63 ranks 7 right (checked by hand over the grid), and the tie goes to the
        // largest of them.
        let a = [2.0, -1.0, 1.0, 0.5, -2.0, 0.2];
        let b = [-1.0, 2.0, -2.0, 0.5, 1.0, -0.6];
        let y = [1, 1, 0, 0, 0, 1];
        assert!((auc(&y, &a).unwrap() - 5.0 / 9.0).abs() < 1e-12);
        assert!((auc(&y, &b).unwrap() - 5.0 / 9.0).abs() < 1e-12);
        let (alpha, value) = mixing_weight_by_auc(&a, &b, &y).unwrap();
        assert!((value - 7.0 / 9.0).abs() < 1e-12, "{value}");
        assert!((0.62..=0.64).contains(&alpha), "{alpha}");
    }

    #[test]
    fn a_tower_that_ranks_perfectly_keeps_all_the_weight() {
        let a = [3.0, 2.0, -2.0, -3.0];
        let b = [-3.0, -2.0, 2.0, 3.0];
        assert_eq!(
            mixing_weight_by_auc(&a, &b, &[1, 1, 0, 0]),
            Some((1.0, 1.0))
        );
        // The ID tower ranking backwards: α b + (1 − α) a = (1 − 2α) a ranks perfectly for
        // every α below ½, and the tie goes to the largest of them.
        assert_eq!(
            mixing_weight_by_auc(&b, &a, &[1, 1, 0, 0]),
            Some((0.49, 1.0))
        );
    }

    #[test]
    fn one_class_has_no_auc() {
        assert_eq!(
            mixing_weight_by_auc(&[0.1, 0.2], &[0.0, 0.3], &[1, 1]),
            None
        );
    }

    #[test]
    fn the_mixture_in_hindsight_scores_the_given_alpha_and_the_best() {
        // The rows of the first test: α 0.5 to 0.63 rank 7 of 9 pairs right, each tower alone
        // 5 (checked by hand).
        let a = [2.0, -1.0, 1.0, 0.5, -2.0, 0.2];
        let b = [-1.0, 2.0, -2.0, 0.5, 1.0, -0.6];
        let y = [1, 1, 0, 0, 0, 1];
        let m = MixtureInHindsight::of(&a, &b, &y, 1.0).unwrap();
        assert_eq!(m.alpha, 1.0);
        assert!((m.auc - 5.0 / 9.0).abs() < 1e-12, "{m:?}");
        assert!((0.62..=0.64).contains(&m.best_alpha), "{m:?}");
        assert!((m.best_auc - 7.0 / 9.0).abs() < 1e-12, "{m:?}");
        assert!((m.id_alone - 5.0 / 9.0).abs() < 1e-12, "{m:?}");
        assert!((m.plm_alone - 5.0 / 9.0).abs() < 1e-12, "{m:?}");
        let at_half = MixtureInHindsight::of(&a, &b, &y, 0.5).unwrap();
        assert!((at_half.auc - 7.0 / 9.0).abs() < 1e-12, "{at_half:?}");
    }

    #[test]
    fn the_grid_has_every_hundredth_from_0_to_1() {
        let curve = auc_by_alpha(&[1.0, 0.0], &[0.0, 1.0], &[1, 0]).unwrap();
        assert_eq!(curve.len(), 101);
        assert_eq!(curve[0], (0.0, 0.0));
        assert_eq!(curve[100], (1.0, 1.0));
        // α a + (1 − α) b on the two rows: α against 1 − α, so the positive ranks first from
        // α 0.51 on and ties (AUC ½) at α = ½.
        assert_eq!(curve[50], (0.5, 0.5));
        assert_eq!(curve[51], (0.51, 1.0));
    }
}
