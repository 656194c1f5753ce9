//! One pretraining step through both towers: every parameter that alignment should train gets
//! a gradient, and switching a loss off removes its passes.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor};
use flip_align::{
    AlignConfig, FieldMasker, FlipPretrainer, MaskConfig, NoiseDistribution, PretrainBatch,
};
use flip_data::Batch;
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load};

/// Paths and ids of the trained parameters.
#[derive(Default)]
struct Params {
    path: Vec<String>,
    found: Vec<(String, ParamId, usize)>,
}

impl ModuleVisitor for Params {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.val().is_require_grad() {
            self.found.push((self.path.join("."), param.id, D));
        }
    }
}

fn batch(tokens: Vec<i64>, b: usize, l: usize) -> Batch {
    let token_fields: Vec<i64> = (0..b * l)
        .map(|i| {
            if i % l == 0 || i % l + 1 == l {
                -1
            } else {
                ((i % l) % 3) as i64
            }
        })
        .collect();
    Batch {
        size: b,
        num_fields: 3,
        seq_len: l,
        ids: (0..b * 3)
            .map(|i| (i % 3 * 10 + 3 + i % 4) as i64)
            .collect(),
        labels: vec![1.0; b],
        attention_mask: vec![true; b * l],
        tokens,
        token_fields,
        rows: (0..b).collect(),
    }
}

#[test]
fn gradients_reach_both_towers_and_every_head() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../flip-plm/tests/fixtures/tiny-bert");
    let options = LoadOptions {
        dropout: Some(0.0),
        ..LoadOptions::default()
    };
    let plm = load(&fixture, options, &device).unwrap();
    let vocab = plm.config.vocab_size;
    let id_config: ModelConfig =
        serde_json::from_str(r#"{"model":"dcnv2","embedding_dim":8,"rank":4,"hidden":[16,8]}"#)
            .unwrap();
    let id_model = id_config.init(
        InputShape {
            num_features: 30,
            num_fields: 3,
        },
        &device,
    );
    let counts: Vec<u64> = (0..30)
        .map(|j| if j % 10 < 3 { 0 } else { 1 + j as u64 % 5 })
        .collect();
    let noise = NoiseDistribution::new(&counts, |j| j % 10 < 3);
    let config = AlignConfig {
        projection_dropout: 0.0,
        mlm_dropout: 0.0,
        ..AlignConfig::default()
    };
    let model = FlipPretrainer::new(id_model, plm.model, vocab, 3, &noise, &config, &device);

    let (b, l) = (4, 9);
    let tokens: Vec<i64> = (0..b * l)
        .map(|i| {
            if i % l == 0 {
                2
            } else if i % l + 1 == l {
                3
            } else {
                10 + (i % 50) as i64
            }
        })
        .collect();
    let batch = batch(tokens, b, l);
    let masker = FieldMasker::new(MaskConfig::default(), vec![2, 12, 22], 4);
    let masked = masker.mask(&batch, 0);
    let inputs = PretrainBatch::new(
        &batch,
        &masked,
        noise.draw(b * masked.k * 25, 1, 0),
        &device,
    );
    let out = model.forward(&inputs, &config);
    assert!(out.icl.is_some() && out.mlm.is_some() && out.mtm.is_some());

    // The official code's extra work (a second clean pass, the vocabulary projection over every
    // position) computes the same losses.
    let official = model.forward(
        &inputs,
        &AlignConfig {
            official_compute: true,
            ..config.clone()
        },
    );
    let value = |t: &Tensor<1>| t.clone().into_scalar::<f32>();
    for (ours, theirs) in [
        (value(&out.loss), value(&official.loss)),
        (
            value(&out.mlm.as_ref().unwrap().loss),
            value(&official.mlm.as_ref().unwrap().loss),
        ),
    ] {
        assert!((ours - theirs).abs() < 1e-5, "{ours} vs {theirs}");
    }

    let mut params = Params::default();
    model.visit(&mut params);
    let grads = burn::optim::GradientsParams::from_grads(out.loss.backward(), &model);
    let mut untouched = Vec::new();
    for (path, id, rank) in &params.found {
        let got = match rank {
            1 => grads
                .get::<1>(*id)
                .map(|g| g.abs().sum().into_scalar::<f32>()),
            2 => grads
                .get::<2>(*id)
                .map(|g| g.abs().sum().into_scalar::<f32>()),
            3 => grads
                .get::<3>(*id)
                .map(|g| g.abs().sum().into_scalar::<f32>()),
            _ => grads
                .get::<4>(*id)
                .map(|g| g.abs().sum().into_scalar::<f32>()),
        };
        if !got.is_some_and(|g| g > 0.0) {
            untouched.push(path.clone());
        }
    }
    // Pretraining reads the ID model's representation, not its click logit: its output layer,
    // output bias and first-order table are the only parameters left alone.
    untouched.sort();
    assert_eq!(
        untouched,
        [
            "id_model.Dcnv2.bias",
            "id_model.Dcnv2.emb.linear",
            "id_model.Dcnv2.out.weight"
        ]
    );
    assert!(
        params
            .found
            .iter()
            .any(|(p, _, _)| p.contains("plm.encoder.layer")),
        "{:?}",
        params.found.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
}

#[test]
fn switched_off_losses_are_absent() {
    let device = Device::flex();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../flip-plm/tests/fixtures/tiny-bert");
    let plm = load(&fixture, LoadOptions::default(), &device).unwrap();
    let vocab = plm.config.vocab_size;
    let id_model = ModelConfig::from_name("fm").unwrap().init(
        InputShape {
            num_features: 30,
            num_fields: 3,
        },
        &device,
    );
    let noise = NoiseDistribution::new(&[1; 30], |j| j % 10 < 3);
    let config = AlignConfig {
        mlm_weight: 0.0,
        mtm_weight: 0.0,
        ..AlignConfig::default()
    };
    let model = FlipPretrainer::new(id_model, plm.model, vocab, 3, &noise, &config, &device);
    let (b, l) = (2, 5);
    let batch = batch((0..b * l).map(|i| 10 + i as i64).collect(), b, l);
    let masked = FieldMasker::new(MaskConfig::default(), vec![2, 12, 22], 4).mask(&batch, 0);
    let inputs = PretrainBatch::new(
        &batch,
        &masked,
        noise.draw(b * masked.k * 25, 1, 0),
        &device,
    );
    let out = model.forward(&inputs, &config);
    assert!(out.icl.is_some() && out.mlm.is_none() && out.mtm.is_none());
    let icl = out.icl.unwrap().into_scalar::<f32>();
    assert!(
        (out.loss.into_scalar::<f32>() - icl).abs() < 1e-6,
        "the total is the contrastive loss alone"
    );
    assert!((model.temperature() - 0.7).abs() < 1e-6);
}
