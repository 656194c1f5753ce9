//! A tiny pretraining setup shared by the pretraining tests: 20 rows, the tiny BERT fixture and
//! a small DCNv2.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use flip_align::{AlignConfig, FieldMasker, FlipPretrainer, MaskConfig, NoiseDistribution};
use flip_data::SplitData;
use flip_id_models::{InputShape, ModelConfig};
use flip_plm::{LoadOptions, load};
use flip_train::parallel::Replicas;
use flip_train::pretrain::{PretrainConfig, PretrainRun};

/// Noise over the 30 ids of [`data`]: ids 0..3 of each field block reserved, the others with
/// small made-up training counts.
pub fn noise() -> NoiseDistribution {
    let counts: Vec<u64> = (0..30)
        .map(|j| if j % 10 < 3 { 0 } else { 1 + j as u64 % 4 })
        .collect();
    NoiseDistribution::new(&counts, |j| j % 10 < 3)
}

/// The default masks over [`data`]'s three fields (MASK ids 2, 12, 22; the tiny BERT's [MASK] is 4).
pub fn masker() -> FieldMasker {
    FieldMasker::new(MaskConfig::default(), vec![2, 12, 22], 4)
}

/// 20 rows of 3 fields (ids 3..7, 13..17, 23..27) with 9-token prompts in the tiny BERT's
/// vocabulary.
pub fn data() -> SplitData {
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

/// Everything a pretraining run over [`data`] needs but its settings and folder, on one
/// autodiff CPU device.
pub struct Setup {
    pub device: Device,
    pub noise: NoiseDistribution,
    pub masker: FieldMasker,
    pub data: SplitData,
    pub replicas: Replicas,
}

impl Setup {
    pub fn new() -> Self {
        let device = Device::flex().autodiff();
        Setup {
            noise: noise(),
            masker: masker(),
            data: data(),
            replicas: Replicas::single(device.clone()),
            device,
        }
    }

    /// A run with `config` writing into `dir`.
    pub fn run<'a>(&'a self, config: &'a PretrainConfig, dir: &'a Path) -> PretrainRun<'a> {
        PretrainRun {
            config,
            data: &self.data,
            masker: &self.masker,
            noise: &self.noise,
            pad_id: 0,
            replicas: &self.replicas,
            run_dir: dir,
        }
    }

    /// The fixture's model, freshly initialised, with the heads of `config`.
    pub fn model(&self, config: &PretrainConfig) -> FlipPretrainer {
        model(
            &self.device,
            &self.noise,
            &config.align,
            LoadOptions::default(),
        )
    }
}

pub fn model(
    device: &Device,
    noise: &NoiseDistribution,
    config: &AlignConfig,
    options: LoadOptions,
) -> FlipPretrainer {
    device.seed(9);
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../flip-plm/tests/fixtures/tiny-bert");
    let plm = load(&fixture, options, device).unwrap();
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

/// Collects the values of the parameters whose module path (`["plm", "encoder", "layer", "0",
/// "attention", "key", "bias"]`) passes `keep`.
struct Values {
    keep: fn(&[String]) -> bool,
    path: Vec<String>,
    values: Vec<f32>,
}

impl ModuleVisitor for Values {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if (self.keep)(&self.path) {
            self.values
                .extend(param.val().into_data().convert::<f32>().iter::<f32>());
        }
    }
}

/// The values of the parameters whose module path passes `keep`, in module order.
pub fn values_where(m: &FlipPretrainer, keep: fn(&[String]) -> bool) -> Vec<f32> {
    let mut v = Values {
        keep,
        path: Vec::new(),
        values: Vec::new(),
    };
    m.visit(&mut v);
    v.values
}

/// The largest absolute difference between two equally long lists of values.
pub fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lists of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}
