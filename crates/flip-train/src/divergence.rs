//! Stopping a training loop whose loss is no longer a finite number, with an error that says
//! where: a diverged run must not go on to be scored, selected or saved.

/// A training loss that became NaN or infinite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{stage}: the training loss became {value} at epoch {epoch}, step {step}; training stopped \
     (nothing of this epoch was kept; try a lower learning rate or gradient clipping)"
)]
pub struct Diverged {
    /// The loop (`ID-model training`, `finetuning`, `pretraining`).
    pub stage: &'static str,
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    /// The loss value.
    pub value: f64,
}

/// Why a training loop returned no model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The settings cannot run (checked before any work).
    #[error(transparent)]
    Invalid(#[from] crate::validate::InvalidSettings),
    /// The loss stopped being a finite number.
    #[error(transparent)]
    Diverged(#[from] Diverged),
}

/// `Ok` when `loss` is finite, else the [`Diverged`] error naming `stage`, `epoch` (1-based)
/// and `step` (1-based, within the epoch).
pub fn check_loss(
    stage: &'static str,
    epoch: usize,
    step: usize,
    loss: f64,
) -> Result<(), Diverged> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(Diverged {
            stage,
            epoch,
            step,
            value: loss,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_losses_pass_and_others_name_where_they_stopped() {
        assert_eq!(check_loss("pretraining", 1, 3, 2.5), Ok(()));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let error = check_loss("finetuning", 2, 17, bad).unwrap_err();
            assert_eq!((error.epoch, error.step), (2, 17));
            let text = error.to_string();
            assert!(
                text.starts_with("finetuning: the training loss became")
                    && text.contains("epoch 2, step 17"),
                "{text}"
            );
        }
    }
}
