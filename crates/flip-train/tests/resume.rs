//! An interrupted pretraining run resumed from its checkpoint ends exactly where an
//! uninterrupted run ends (masks, noise, batch order and dropout all derive from the step).

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use flip_align::{AlignConfig, FieldMasker, FlipPretrainer, MaskConfig, NoiseDistribution};
use flip_data::SplitData;
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load};
use flip_train::pretrain::{PretrainConfig, PretrainRun};

/// 20 rows of 3 fields (ids 3..7, 13..17, 23..27) with 9-token prompts in the tiny BERT's
/// vocabulary.
fn data() -> SplitData {
    let mut d = SplitData {
        num_fields: 3,
        token_offsets: vec![0],
        ..SplitData::default()
    };
    for r in 0..20u32 {
        d.ids.extend([3 + r % 4, 13 + r % 3, 23 + r % 5]);
        d.labels.push((r % 2) as u8);
        let tokens = [2, 10 + r % 7, 11, 12 + r % 5, 13, 14, 15 + r % 3, 16, 3];
        d.tokens.extend(tokens);
        d.token_fields.extend([-1, 0, -1, 1, 1, -1, 2, -1, -1]);
        d.token_offsets.push(d.tokens.len());
        d.source_rows.push(r);
    }
    d
}

fn model(device: &Device, noise: &NoiseDistribution, config: &AlignConfig) -> FlipPretrainer {
    device.seed(9);
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../flip-plm/tests/fixtures/tiny-bert");
    let plm = load(&fixture, LoadOptions::default(), device).unwrap();
    let id: ModelConfig =
        serde_json::from_str(r#"{"model":"dcnv2","embedding_dim":8,"rank":4,"hidden":[16,8]}"#)
            .unwrap();
    let id = id.init(
        InputShape {
            num_features: 30,
            num_fields: 3,
        },
        device,
    );
    FlipPretrainer::new(
        id,
        plm.model,
        plm.config.vocab_size,
        3,
        noise,
        config,
        device,
    )
}

#[derive(Default)]
struct Values(Vec<f32>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .extend(param.val().into_data().convert::<f32>().iter::<f32>());
    }
}

fn values(m: &FlipPretrainer) -> Vec<f32> {
    let mut v = Values::default();
    m.visit(&mut v);
    v.0
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let device = Device::flex().autodiff();
    let counts: Vec<u64> = (0..30)
        .map(|j| if j % 10 < 3 { 0 } else { 1 + j as u64 % 4 })
        .collect();
    let noise = NoiseDistribution::new(&counts, |j| j % 10 < 3);
    let config = PretrainConfig {
        epochs: 2,
        batch_size: 4,
        log_every: 2,
        learning_rate: 1e-3,
        plm_learning_rate: 1e-3,
        ..PretrainConfig::default()
    };
    let masker = FieldMasker::new(MaskConfig::default(), vec![2, 12, 22], 4);
    let data = data();
    let never = |_: u64| false;

    let whole_dir = tempfile::tempdir().unwrap();
    fn run<'a>(
        config: &'a PretrainConfig,
        data: &'a SplitData,
        masker: &'a FieldMasker,
        noise: &'a NoiseDistribution,
        device: &'a Device,
        dir: &'a Path,
    ) -> PretrainRun<'a> {
        PretrainRun {
            config,
            data,
            masker,
            noise,
            pad_id: 0,
            device,
            run_dir: dir,
        }
    }
    let run = |dir| run(&config, &data, &masker, &noise, &device, dir);
    let whole = run(whole_dir.path())
        .run(model(&device, &noise, &config.align), false, &never)
        .unwrap();
    assert!(!whole.interrupted && whole.state.finished);
    assert_eq!(whole.state.global_step, 10);

    let parts_dir = tempfile::tempdir().unwrap();
    let first = run(parts_dir.path())
        .run(model(&device, &noise, &config.align), false, &|step| {
            step == 7
        })
        .unwrap();
    assert!(first.interrupted);
    assert_eq!((first.state.epoch, first.state.step_in_epoch), (1, 2));
    // A fresh process: new weights, then the checkpoint.
    let resumed = run(parts_dir.path())
        .run(model(&device, &noise, &config.align), true, &never)
        .unwrap();
    assert!(resumed.state.finished);
    assert_eq!(resumed.state.global_step, 10);

    let (a, b) = (values(&whole.model), values(&resumed.model));
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "resumed weights differ by {worst}");
    for file in [
        "pretrain.jsonl",
        "pretrain-losses.png",
        "pretrain-accuracy.png",
        "checkpoint/state.json",
    ] {
        assert!(parts_dir.path().join(file).is_file(), "{file}");
    }
    // The losses moved: training happened.
    let records = &whole.state.records;
    assert!(records.last().unwrap().loss < records.first().unwrap().loss);
}
