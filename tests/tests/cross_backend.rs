//! The same tiny FLIP model (the tiny BERT fixture joined with a DCNv2) on every backend this
//! build has: identical weights give the same logits, and the same losses over two AdamW
//! training steps, as on the default `flex` backend. Backends are cargo features of this crate
//! (`tch`, `wgpu`, `cuda`); one that is not built is skipped with a printed reason.
//!
//! Tolerance: 1e-4 absolute on logits and losses (f32; the backends order their sums
//! differently, which moves the fifth or sixth significant digit).

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load};
use flip_train::finetune::TextClassifier;

const TOLERANCE: f32 = 1e-4;
const FIELDS: [usize; 3] = [5, 3, 4];
const BATCH: usize = 4;
const LEN: usize = 10;

fn tiny_bert() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/flip-plm/tests/fixtures/tiny-bert"
    ))
}

/// The backends of this build besides flex, with the reason a missing one is skipped.
fn other_backends() -> Vec<(&'static str, Result<Device, &'static str>)> {
    vec![
        ("tch-cpu", libtorch_cpu()),
        ("wgpu", wgpu()),
        ("cuda", cuda()),
    ]
}

fn libtorch_cpu() -> Result<Device, &'static str> {
    #[cfg(feature = "tch")]
    #[allow(deprecated)]
    return Ok(Device::libtorch());
    #[cfg(not(feature = "tch"))]
    Err("built without the `tch` feature")
}

fn wgpu() -> Result<Device, &'static str> {
    #[cfg(feature = "wgpu")]
    return Ok(Device::wgpu(Default::default()));
    #[cfg(not(feature = "wgpu"))]
    Err("built without the `wgpu` feature")
}

/// The CUDA device numbered by `FLIP_CUDA_INDEX` (default 0).
fn cuda() -> Result<Device, &'static str> {
    #[cfg(feature = "cuda")]
    return Ok(Device::cuda(
        std::env::var("FLIP_CUDA_INDEX")
            .ok()
            .and_then(|i| i.parse::<usize>().ok())
            .unwrap_or(0),
    ));
    #[cfg(not(feature = "cuda"))]
    Err("built without the `cuda` feature")
}

/// The FLIP model on `device` (autodiff) with the weights of `weights`, or fresh seeded ones
/// written there when it does not exist yet.
fn model(device: &Device, weights: &Path) -> TextClassifier {
    let plm = load(
        tiny_bert(),
        LoadOptions {
            dropout: Some(0.0),
            ..LoadOptions::default()
        },
        device,
    )
    .expect("the tiny BERT fixture loads")
    .model;
    let shape = InputShape {
        num_features: FIELDS.iter().sum(),
        num_fields: FIELDS.len(),
    };
    let id_model = ModelConfig::from_name("dcnv2").unwrap().init(shape, device);
    let mut model = TextClassifier::new(plm, Some(id_model), false, device);
    if weights.exists() {
        model
            .load_from(&mut BurnpackStore::from_file(weights))
            .expect("the saved weights load");
    } else {
        model
            .save_into(&mut BurnpackStore::from_file(weights))
            .expect("the weights save");
    }
    model
}

struct Inputs {
    ids: Tensor<2, Int>,
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Bool>,
    labels: Tensor<1>,
}

fn inputs(device: &Device) -> Inputs {
    let ids: Vec<i64> = (0..BATCH)
        .flat_map(|r| [(r % 5) as i64, 5 + (r % 3) as i64, 8 + ((r * 3) % 4) as i64])
        .collect();
    let tokens: Vec<i64> = (0..BATCH * LEN)
        .map(|i| 5 + ((i * 37) % 110) as i64)
        .collect();
    let mask: Vec<bool> = (0..BATCH * LEN).map(|i| i % LEN < LEN - i / LEN).collect();
    Inputs {
        ids: Tensor::from_data(TensorData::new(ids, [BATCH, FIELDS.len()]), device),
        tokens: Tensor::from_data(TensorData::new(tokens, [BATCH, LEN]), device),
        mask: Tensor::from_data(TensorData::new(mask, [BATCH, LEN]), device),
        labels: Tensor::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [BATCH]),
            device,
        ),
    }
}

/// Logits before training, then the loss of each of three steps (two AdamW updates between).
fn run(device: &Device, weights: &Path) -> (Vec<f32>, Vec<f32>) {
    let ad = device.clone().autodiff();
    let mut model = model(&ad, weights);
    let x = inputs(&ad);
    let logits = model
        .valid()
        .forward(
            x.ids.clone().inner(),
            x.tokens.clone().inner(),
            x.mask.clone().inner(),
        )
        .output
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let mut plm_optim = AdamWConfig::new().with_epsilon(1e-8).init();
    let mut rest_optim = AdamWConfig::new().with_epsilon(1e-8).init();
    let mut losses = Vec::new();
    for step in 0..3 {
        let out = model.forward(x.ids.clone(), x.tokens.clone(), x.mask.clone());
        let loss = model.loss(&out, x.labels.clone());
        losses.push(loss.clone().into_scalar::<f32>());
        if step == 2 {
            break;
        }
        let mut grads = loss.backward();
        let plm_grads = GradientsParams::from_module(&mut grads, &model.plm);
        let rest_grads = GradientsParams::from_grads(grads, &model);
        model = rest_optim.step(1e-2, model, rest_grads);
        model.plm = plm_optim.step(1e-3, model.plm.clone(), plm_grads);
    }
    (logits, losses)
}

fn assert_close(what: &str, backend: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= TOLERANCE,
            "{backend}: {what}[{i}] = {g}, flex gives {w} (tolerance {TOLERANCE})"
        );
    }
}

#[test]
fn every_built_backend_matches_flex() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("tiny-flip.bpk");
    let (logits, losses) = run(&Device::flex(), &weights);
    assert!(
        losses[2] < losses[0],
        "training lowers the loss: {losses:?}"
    );
    // Same weights and data on flex again: bit-for-bit the same numbers.
    assert_eq!(
        run(&Device::flex(), &weights),
        (logits.clone(), losses.clone())
    );
    for (name, device) in other_backends() {
        match device {
            Err(reason) => eprintln!("{name}: skipped, {reason}"),
            Ok(device) => {
                let (l, s) = run(&device, &weights);
                assert_close("logit", name, &l, &logits);
                assert_close("loss", name, &s, &losses);
                eprintln!(
                    "{name}: logits and losses within {TOLERANCE} of flex: {s:?} vs {losses:?}"
                );
            }
        }
    }
}
