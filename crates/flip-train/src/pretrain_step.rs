//! One FLIP pretraining step's gradients, on one device or shared among several.
//!
//! On several devices each takes a share of the batch's rows (see [`crate::parallel`]) and
//! computes its projections and its masked-prediction losses. The contrastive loss needs every
//! row of the batch as negatives, so the projections are gathered (without their graphs) on
//! the main device, the loss and its gradient with respect to each projection computed there,
//! and each device then backpropagates `Σ z ⊙ ∂L/∂z` over its own rows together with its
//! share's weighted MLM and MTM losses. The summed gradients are those of the whole batch on
//! one device: the MLM loss is a mean over masked tokens (a share weighs by its tokens), the
//! MTM loss a mean over rows (a share weighs by its rows).

use std::ops::Range;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Gradients, Tensor};
use flip_align::{
    AlignConfig, FlipPretrainer, MaskedBatch, PretrainBatch, PretrainParts, ProjectionGeometry,
};
use flip_data::Batch;

use crate::parallel::{Replicas, sum_gradients};
use crate::pretrain::StepRecord;

/// A step's gradients: the language model's and everyone else's, on the main device.
pub struct StepGradients {
    /// The step's losses and accuracies (host values, for the logs).
    pub record: StepRecord,
    /// The cosines of the batch's projections (contrastive loss on, at least two rows).
    pub geometry: Option<ProjectionGeometry>,
    /// Gradients of the language model's parameters.
    pub plm: GradientsParams,
    /// Gradients of all other parameters.
    pub rest: GradientsParams,
}

fn scalar(t: &Tensor<1>) -> f64 {
    f64::from(t.clone().into_scalar::<f32>())
}

/// The gradients of one step over `batch` with its masks and `noise` ids (`B · k · K`);
/// none for the ID tower's parameters when `freeze_id_tower`.
pub fn step_gradients(
    model: &FlipPretrainer,
    batch: &Batch,
    masked: &MaskedBatch,
    noise: Vec<i64>,
    align: &AlignConfig,
    freeze_id_tower: bool,
    replicas: &Replicas,
) -> StepGradients {
    if replicas.len() == 1 {
        one_device(
            model,
            batch,
            masked,
            noise,
            align,
            freeze_id_tower,
            replicas,
        )
    } else {
        shared(
            model,
            batch,
            masked,
            &noise,
            align,
            freeze_id_tower,
            replicas,
        )
    }
}

/// The gradients of `model`'s parameters in `grads` other than the language model's (taken
/// out before), without the ID tower's when `freeze_id_tower`.
fn rest_gradients(
    mut grads: Gradients,
    model: &FlipPretrainer,
    freeze_id_tower: bool,
) -> GradientsParams {
    if freeze_id_tower {
        // Taken out of `grads` and dropped: the optimizer skips a parameter without one.
        let _ = GradientsParams::from_module(&mut grads, &model.id_model);
    }
    GradientsParams::from_grads(grads, model)
}

fn one_device(
    model: &FlipPretrainer,
    batch: &Batch,
    masked: &MaskedBatch,
    noise: Vec<i64>,
    align: &AlignConfig,
    freeze_id_tower: bool,
    replicas: &Replicas,
) -> StepGradients {
    let inputs = PretrainBatch::new(batch, masked, noise, replicas.main());
    let out = model.forward(&inputs, align);
    let geometry = out
        .projections
        .as_ref()
        .and_then(|(z_id, z_text)| ProjectionGeometry::of(z_id, z_text, align.center));
    let record = StepRecord {
        loss: scalar(&out.loss),
        icl: out.icl.as_ref().map_or(0.0, scalar),
        mlm: out.mlm.as_ref().map_or(0.0, |o| scalar(&o.loss)),
        mlm_accuracy: out.mlm.as_ref().map_or(0.0, |o| scalar(&o.accuracy)),
        mtm: out.mtm.as_ref().map_or(0.0, |o| scalar(&o.loss)),
        mtm_accuracy: out.mtm.as_ref().map_or(0.0, |o| scalar(&o.accuracy)),
        ..StepRecord::default()
    };
    let mut grads = out.loss.backward();
    let plm = GradientsParams::from_module(&mut grads, &model.plm);
    StepGradients {
        record,
        geometry,
        plm,
        rest: rest_gradients(grads, model, freeze_id_tower),
    }
}

/// One device's share between the two phases.
struct Share {
    replica: FlipPretrainer,
    rows: Range<usize>,
    /// Masked tokens in the share.
    tokens: usize,
    parts: PretrainParts,
}

fn shared(
    model: &FlipPretrainer,
    batch: &Batch,
    masked: &MaskedBatch,
    noise: &[i64],
    align: &AlignConfig,
    freeze_id_tower: bool,
    replicas: &Replicas,
) -> StepGradients {
    let main = replicas.main();
    let noise_per_row = noise.len() / batch.size;
    let shares: Vec<Share> = replicas.map(batch.size, |rows, device| {
        let replica = model.clone().fork(device);
        let share_batch = batch.slice_rows(rows.clone());
        let share_masks = masked.slice_rows(rows.clone(), batch.num_fields, batch.seq_len);
        let share_noise = noise[rows.start * noise_per_row..rows.end * noise_per_row].to_vec();
        let inputs = PretrainBatch::new(&share_batch, &share_masks, share_noise, device);
        let parts = replica.parts(&inputs, align);
        Share {
            replica,
            rows,
            tokens: share_masks.mlm_positions.len(),
            parts,
        }
    });

    // The contrastive loss over the whole batch, on the main device.
    let mut record = StepRecord::default();
    let mut geometry = None;
    let mut temperature_grads = None;
    let projection_grads = (align.icl_weight > 0.0).then(|| {
        let gather = |pick: fn(&PretrainParts) -> &Option<Tensor<2>>| {
            Tensor::cat(
                shares
                    .iter()
                    .map(|s| {
                        pick(&s.parts)
                            .clone()
                            .expect("contrastive loss on")
                            .detach()
                            .to_device(main)
                    })
                    .collect(),
                0,
            )
            .require_grad()
        };
        let (z_id, z_text) = (gather(|p| &p.z_id), gather(|p| &p.z_text));
        geometry = ProjectionGeometry::of(&z_id, &z_text, align.center);
        let icl = model.contrastive(z_id.clone(), z_text.clone(), align);
        record.icl = scalar(&icl);
        let mut grads = icl.mul_scalar(align.icl_weight).backward();
        let g_id = z_id.grad_remove(&mut grads).expect("a gradient");
        let g_text = z_text.grad_remove(&mut grads).expect("a gradient");
        temperature_grads = Some(GradientsParams::from_grads(grads, model));
        (g_id, g_text)
    });

    // Each device backpropagates its share.
    let (rows, tokens) = (batch.size as f64, masked.mlm_positions.len().max(1) as f64);
    for s in &shares {
        let (row_weight, token_weight) = (s.rows.len() as f64 / rows, s.tokens as f64 / tokens);
        if let Some(o) = &s.parts.mlm {
            record.mlm += token_weight * scalar(&o.loss);
            record.mlm_accuracy += token_weight * scalar(&o.accuracy);
        }
        if let Some(o) = &s.parts.mtm {
            record.mtm += row_weight * scalar(&o.loss);
            record.mtm_accuracy += row_weight * scalar(&o.accuracy);
        }
    }
    record.loss = align.icl_weight * record.icl
        + align.mlm_weight * record.mlm
        + align.mtm_weight * record.mtm;
    let grads = replicas.run_each(shares, |s, device| {
        let Share {
            replica,
            rows: share_rows,
            tokens: share_tokens,
            parts,
        } = s;
        let mut terms: Vec<Tensor<1>> = Vec::new();
        if let (Some((g_id, g_text)), Some(z_id), Some(z_text)) =
            (&projection_grads, parts.z_id, parts.z_text)
        {
            for (z, g) in [(z_id, g_id), (z_text, g_text)] {
                let g = g.clone().slice(share_rows.clone()).to_device(device);
                terms.push((z * g).sum());
            }
        }
        if let Some(o) = parts.mlm {
            let weight = align.mlm_weight * share_tokens as f64 / tokens;
            terms.push(o.loss.mul_scalar(weight));
        }
        if let Some(o) = parts.mtm {
            let weight = align.mtm_weight * share_rows.len() as f64 / rows;
            terms.push(o.loss.mul_scalar(weight));
        }
        let total = terms
            .into_iter()
            .reduce(|a, b| a + b)
            .expect("at least one loss term is on");
        let mut grads = total.backward();
        let plm =
            GradientsParams::from_module(&mut grads, &replica.plm).to_device(main, &replica.plm);
        let rest = rest_gradients(grads, &replica, freeze_id_tower).to_device(main, &replica);
        (plm, rest)
    });
    let (plm, rest): (Vec<_>, Vec<_>) = grads.into_iter().unzip();
    StepGradients {
        record,
        geometry,
        plm: sum_gradients(&model.plm, main, plm),
        rest: sum_gradients(model, main, rest.into_iter().chain(temperature_grads)),
    }
}
