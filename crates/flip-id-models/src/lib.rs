//! # flip-id-models
//!
//! ID-based click-through-rate models on burn tensors, behind one interface: given the global
//! feature ids of a batch `[B, M]`, every model returns its logit `[B]` and the representation
//! vector `[B, d]` that FLIP aligns with the language model, and reports `d`.
//!
//! Members: LR, FM, DeepFM, Wide&Deep, DCN, DCNv2 (mixture of low-rank experts), AutoInt,
//! AutoInt+, xDeepFM, PNN (inner product), AFM, AFN, FiBiNET and FinalMLP. Each file says which
//! vector is its representation and why. All share [`FeatureEmbedding`] (one table over all
//! fields, first-order weights beside it) and [`mlp::Mlp`].
//!
//! Models compute on [`Embedded`] inputs, so a trainer can look up only the rows a batch
//! touches (row-sparse updates of large tables) and call [`CtrNet::forward_embedded`];
//! [`CtrNet::reads`] says which tables to look up.
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use flip_id_models::{InputShape, ModelConfig};
//!
//! let device = Device::flex();
//! let config = ModelConfig::from_name("dcnv2").unwrap();
//! let model = config.init(InputShape { num_features: 1000, num_fields: 8 }, &device);
//! let ids = Tensor::<2, Int>::zeros([4, 8], &device);
//! let out = model.forward(ids);
//! assert_eq!(out.logit.dims(), [4]);
//! assert_eq!(out.repr.dims(), [4, model.repr_dim()]);
//! ```

#![warn(missing_docs)]

pub mod embedding;
pub mod mlp;
pub mod models;
mod pairs;
#[cfg(test)]
pub(crate) mod testing;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

pub use embedding::{Embedded, FeatureEmbedding, FeatureEmbeddingConfig, Reads};
use models::afm::{Afm, AfmConfig};
use models::afn::{Afn, AfnConfig};
use models::autoint::{AutoInt, AutoIntConfig};
use models::dcn::{Dcn, DcnConfig};
use models::dcnv2::{DcnV2, DcnV2Config};
use models::deepfm::{DeepFm, DeepFmConfig};
use models::fibinet::{FiBiNet, FiBiNetConfig};
use models::finalmlp::{FinalMlp, FinalMlpConfig};
use models::fm::{Fm, FmConfig};
use models::lr::{Lr, LrConfig};
use models::pnn::{Pnn, PnnConfig};
use models::wide_deep::{WideDeep, WideDeepConfig};
use models::xdeepfm::{XDeepFm, XDeepFmConfig};

/// The dataset dimensions a model is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    /// Number of global feature ids (V).
    pub num_features: usize,
    /// Fields per row (M).
    pub num_fields: usize,
}

/// What every model returns.
#[derive(Debug, Clone)]
pub struct CtrOutput {
    /// Click logit `[B]` (before the sigmoid).
    pub logit: Tensor<1>,
    /// Representation `[B, repr_dim]`.
    pub repr: Tensor<2>,
}

/// Any zoo member, chosen by name or by a serialized config (`{"model": "dcnv2", ...}`); keys
/// left out take the member's defaults, unknown keys are errors.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ModelConfig {
    /// Logistic regression.
    Lr(LrConfig),
    /// Factorization machine.
    Fm(FmConfig),
    /// DeepFM.
    Deepfm(DeepFmConfig),
    /// Wide & Deep.
    WideDeep(WideDeepConfig),
    /// Deep & Cross Network.
    Dcn(DcnConfig),
    /// DCNv2 with a mixture of low-rank experts.
    Dcnv2(DcnV2Config),
    /// AutoInt (no DNN).
    Autoint(AutoIntConfig),
    /// AutoInt+ (with a DNN).
    AutointPlus(AutoIntConfig),
    /// xDeepFM.
    Xdeepfm(XDeepFmConfig),
    /// Inner-product PNN.
    Pnn(PnnConfig),
    /// Attentional FM.
    Afm(AfmConfig),
    /// Adaptive factorization network.
    Afn(AfnConfig),
    /// FiBiNET.
    Fibinet(FiBiNetConfig),
    /// FinalMLP.
    Finalmlp(FinalMlpConfig),
}

/// The wire form, used after defaults are filled in.
#[derive(Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
enum Complete {
    Lr(LrConfig),
    Fm(FmConfig),
    Deepfm(DeepFmConfig),
    WideDeep(WideDeepConfig),
    Dcn(DcnConfig),
    Dcnv2(DcnV2Config),
    Autoint(AutoIntConfig),
    AutointPlus(AutoIntConfig),
    Xdeepfm(XDeepFmConfig),
    Pnn(PnnConfig),
    Afm(AfmConfig),
    Afn(AfnConfig),
    Fibinet(FiBiNetConfig),
    Finalmlp(FinalMlpConfig),
}

impl From<Complete> for ModelConfig {
    fn from(c: Complete) -> Self {
        match c {
            Complete::Lr(c) => ModelConfig::Lr(c),
            Complete::Fm(c) => ModelConfig::Fm(c),
            Complete::Deepfm(c) => ModelConfig::Deepfm(c),
            Complete::WideDeep(c) => ModelConfig::WideDeep(c),
            Complete::Dcn(c) => ModelConfig::Dcn(c),
            Complete::Dcnv2(c) => ModelConfig::Dcnv2(c),
            Complete::Autoint(c) => ModelConfig::Autoint(c),
            Complete::AutointPlus(c) => ModelConfig::AutointPlus(c),
            Complete::Xdeepfm(c) => ModelConfig::Xdeepfm(c),
            Complete::Pnn(c) => ModelConfig::Pnn(c),
            Complete::Afm(c) => ModelConfig::Afm(c),
            Complete::Afn(c) => ModelConfig::Afn(c),
            Complete::Fibinet(c) => ModelConfig::Fibinet(c),
            Complete::Finalmlp(c) => ModelConfig::Finalmlp(c),
        }
    }
}

impl<'de> Deserialize<'de> for ModelConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let given = serde_json::Value::deserialize(deserializer)?;
        let object = given
            .as_object()
            .ok_or_else(|| D::Error::custom("a model configuration is a map"))?;
        let name = object
            .get("model")
            .and_then(|m| m.as_str())
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "missing `model`; one of {}",
                    MODEL_NAMES.join(", ")
                ))
            })?;
        let defaults = ModelConfig::from_name(name).ok_or_else(|| {
            D::Error::custom(format!(
                "unknown model `{name}`; one of {}",
                MODEL_NAMES.join(", ")
            ))
        })?;
        let mut merged = serde_json::to_value(defaults).map_err(D::Error::custom)?;
        let slots = merged.as_object_mut().expect("configs serialize to maps");
        for (key, value) in object {
            if !slots.contains_key(key) {
                let known: Vec<&String> = slots.keys().filter(|k| *k != "model").collect();
                return Err(D::Error::custom(format!(
                    "unknown key `{key}` for model `{name}`; known: {known:?}"
                )));
            }
            slots.insert(key.clone(), value.clone());
        }
        serde_json::from_value::<Complete>(merged)
            .map(Into::into)
            .map_err(D::Error::custom)
    }
}

/// Names accepted by [`ModelConfig::from_name`], in zoo order.
pub const MODEL_NAMES: [&str; 14] = [
    "lr",
    "fm",
    "deepfm",
    "wide_deep",
    "dcn",
    "dcnv2",
    "autoint",
    "autoint_plus",
    "xdeepfm",
    "pnn",
    "afm",
    "afn",
    "fibinet",
    "finalmlp",
];

impl ModelConfig {
    /// The default configuration of a zoo member (`autoint+` and `widedeep` are accepted too).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().replace('-', "_").as_str() {
            "lr" => ModelConfig::Lr(LrConfig::new()),
            "fm" => ModelConfig::Fm(FmConfig::new()),
            "deepfm" => ModelConfig::Deepfm(DeepFmConfig::new()),
            "wide_deep" | "widedeep" => ModelConfig::WideDeep(WideDeepConfig::new()),
            "dcn" => ModelConfig::Dcn(DcnConfig::new()),
            "dcnv2" => ModelConfig::Dcnv2(DcnV2Config::new()),
            "autoint" => ModelConfig::Autoint(AutoIntConfig::new()),
            "autoint_plus" | "autoint+" => {
                ModelConfig::AutointPlus(AutoIntConfig::new().with_dnn(true))
            }
            "xdeepfm" => ModelConfig::Xdeepfm(XDeepFmConfig::new()),
            "pnn" | "ipnn" => ModelConfig::Pnn(PnnConfig::new()),
            "afm" => ModelConfig::Afm(AfmConfig::new()),
            "afn" => ModelConfig::Afn(AfnConfig::new()),
            "fibinet" => ModelConfig::Fibinet(FiBiNetConfig::new()),
            "finalmlp" => ModelConfig::Finalmlp(FinalMlpConfig::new()),
            _ => return None,
        })
    }

    /// The member's name, as in [`MODEL_NAMES`].
    pub fn name(&self) -> &'static str {
        match self {
            ModelConfig::Lr(_) => "lr",
            ModelConfig::Fm(_) => "fm",
            ModelConfig::Deepfm(_) => "deepfm",
            ModelConfig::WideDeep(_) => "wide_deep",
            ModelConfig::Dcn(_) => "dcn",
            ModelConfig::Dcnv2(_) => "dcnv2",
            ModelConfig::Autoint(_) => "autoint",
            ModelConfig::AutointPlus(_) => "autoint_plus",
            ModelConfig::Xdeepfm(_) => "xdeepfm",
            ModelConfig::Pnn(_) => "pnn",
            ModelConfig::Afm(_) => "afm",
            ModelConfig::Afn(_) => "afn",
            ModelConfig::Fibinet(_) => "fibinet",
            ModelConfig::Finalmlp(_) => "finalmlp",
        }
    }

    /// Builds the model on `device` (an autodiff device to train it).
    pub fn init(&self, shape: InputShape, device: &Device) -> CtrNet {
        match self {
            ModelConfig::Lr(c) => CtrNet::Lr(c.init(shape, device)),
            ModelConfig::Fm(c) => CtrNet::Fm(c.init(shape, device)),
            ModelConfig::Deepfm(c) => CtrNet::Deepfm(c.init(shape, device)),
            ModelConfig::WideDeep(c) => CtrNet::WideDeep(c.init(shape, device)),
            ModelConfig::Dcn(c) => CtrNet::Dcn(c.init(shape, device)),
            ModelConfig::Dcnv2(c) => CtrNet::Dcnv2(c.init(shape, device)),
            ModelConfig::Autoint(c) => {
                CtrNet::Autoint(c.clone().with_dnn(false).init(shape, device))
            }
            ModelConfig::AutointPlus(c) => {
                CtrNet::Autoint(c.clone().with_dnn(true).init(shape, device))
            }
            ModelConfig::Xdeepfm(c) => CtrNet::Xdeepfm(c.init(shape, device)),
            ModelConfig::Pnn(c) => CtrNet::Pnn(c.init(shape, device)),
            ModelConfig::Afm(c) => CtrNet::Afm(c.init(shape, device)),
            ModelConfig::Afn(c) => CtrNet::Afn(c.init(shape, device)),
            ModelConfig::Fibinet(c) => CtrNet::Fibinet(c.init(shape, device)),
            ModelConfig::Finalmlp(c) => CtrNet::Finalmlp(c.init(shape, device)),
        }
    }
}

/// A built zoo member.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum CtrNet {
    /// Logistic regression.
    Lr(Lr),
    /// Factorization machine.
    Fm(Fm),
    /// DeepFM.
    Deepfm(DeepFm),
    /// Wide & Deep.
    WideDeep(WideDeep),
    /// Deep & Cross Network.
    Dcn(Dcn),
    /// DCNv2.
    Dcnv2(DcnV2),
    /// AutoInt and AutoInt+.
    Autoint(AutoInt),
    /// xDeepFM.
    Xdeepfm(XDeepFm),
    /// Inner-product PNN.
    Pnn(Pnn),
    /// Attentional FM.
    Afm(Afm),
    /// Adaptive factorization network.
    Afn(Afn),
    /// FiBiNET.
    Fibinet(FiBiNet),
    /// FinalMLP.
    Finalmlp(FinalMlp),
}

/// Runs `$body` with `$m` bound to the inner model, whatever the variant.
macro_rules! each {
    ($net:expr, $m:ident => $body:expr) => {
        match $net {
            CtrNet::Lr($m) => $body,
            CtrNet::Fm($m) => $body,
            CtrNet::Deepfm($m) => $body,
            CtrNet::WideDeep($m) => $body,
            CtrNet::Dcn($m) => $body,
            CtrNet::Dcnv2($m) => $body,
            CtrNet::Autoint($m) => $body,
            CtrNet::Xdeepfm($m) => $body,
            CtrNet::Pnn($m) => $body,
            CtrNet::Afm($m) => $body,
            CtrNet::Afn($m) => $body,
            CtrNet::Fibinet($m) => $body,
            CtrNet::Finalmlp($m) => $body,
        }
    };
}

impl CtrNet {
    /// Scores a batch of global ids.
    ///
    /// # Shapes
    /// - `ids`: `[B, M]`
    /// - output: logit `[B]`, representation `[B, repr_dim]`
    pub fn forward(&self, ids: Tensor<2, Int>) -> CtrOutput {
        self.forward_embedded(&self.embed(ids))
    }

    /// Looks up the tables this model reads.
    ///
    /// # Shapes
    /// - `ids`: `[B, M]`
    /// - output: fields `[B, M, d]`, linear `[B, M]`
    pub fn embed(&self, ids: Tensor<2, Int>) -> Embedded {
        self.embedding().forward(ids, self.reads())
    }

    /// The tables the model reads: LR only the first-order weights; DCN, AutoInt(+), PNN, AFN
    /// and FinalMLP only the embeddings; the others both.
    pub fn reads(&self) -> Reads {
        match self {
            CtrNet::Lr(_) => Reads::LINEAR,
            CtrNet::Dcn(_)
            | CtrNet::Autoint(_)
            | CtrNet::Pnn(_)
            | CtrNet::Afn(_)
            | CtrNet::Finalmlp(_) => Reads::FIELDS,
            _ => Reads::BOTH,
        }
    }

    /// Scores already looked-up inputs (see [`Embedded::lookup`]).
    pub fn forward_embedded(&self, x: &Embedded) -> CtrOutput {
        each!(self, m => m.forward_embedded(x))
    }

    /// The representation alone, without computing the logit (pretraining reads only this;
    /// an unused logit would also leave dead branches on the parameters).
    ///
    /// # Shapes
    /// - `ids`: `[B, M]`
    /// - output: `[B, repr_dim]`
    pub fn represent(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let reads = match self {
            CtrNet::Lr(_) => Reads::LINEAR,
            _ => Reads::FIELDS,
        };
        self.represent_embedded(&self.embedding().forward(ids, reads))
    }

    /// [`CtrNet::represent`] on already looked-up inputs.
    pub fn represent_embedded(&self, x: &Embedded) -> Tensor<2> {
        each!(self, m => m.represent(x))
    }

    /// Width of the representation.
    pub fn repr_dim(&self) -> usize {
        each!(self, m => m.repr_dim())
    }

    /// The shared feature embedding.
    pub fn embedding(&self) -> &FeatureEmbedding {
        each!(self, m => &m.emb)
    }

    /// The same model with another feature embedding (same shapes).
    pub fn with_embedding(self, emb: FeatureEmbedding) -> Self {
        match self {
            CtrNet::Lr(m) => CtrNet::Lr(m.with_embedding(emb)),
            CtrNet::Fm(m) => CtrNet::Fm(m.with_embedding(emb)),
            CtrNet::Deepfm(m) => CtrNet::Deepfm(m.with_embedding(emb)),
            CtrNet::WideDeep(m) => CtrNet::WideDeep(m.with_embedding(emb)),
            CtrNet::Dcn(m) => CtrNet::Dcn(m.with_embedding(emb)),
            CtrNet::Dcnv2(m) => CtrNet::Dcnv2(m.with_embedding(emb)),
            CtrNet::Autoint(m) => CtrNet::Autoint(m.with_embedding(emb)),
            CtrNet::Xdeepfm(m) => CtrNet::Xdeepfm(m.with_embedding(emb)),
            CtrNet::Pnn(m) => CtrNet::Pnn(m.with_embedding(emb)),
            CtrNet::Afm(m) => CtrNet::Afm(m.with_embedding(emb)),
            CtrNet::Afn(m) => CtrNet::Afn(m.with_embedding(emb)),
            CtrNet::Fibinet(m) => CtrNet::Fibinet(m.with_embedding(emb)),
            CtrNet::Finalmlp(m) => CtrNet::Finalmlp(m.with_embedding(emb)),
        }
    }
}

/// Implements `with_embedding` for a zoo member (in its own module, where its fields are
/// visible).
#[macro_export]
#[doc(hidden)]
macro_rules! impl_with_embedding {
    ($model:ty) => {
        impl $model {
            /// The same model with another feature embedding (same shapes).
            pub fn with_embedding(self, emb: $crate::FeatureEmbedding) -> Self {
                Self { emb, ..self }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, ids};

    #[test]
    fn every_name_builds_and_scores() {
        let device = device();
        let shape = InputShape {
            num_features: 30,
            num_fields: 4,
        };
        for name in MODEL_NAMES {
            let config = ModelConfig::from_name(name).unwrap();
            assert_eq!(config.name(), name);
            let model = config.init(shape, &device);
            let out = model.forward(ids(&[0, 5, 12, 29, 3, 8, 20, 27], 2, 4, &device));
            assert_eq!(out.logit.dims(), [2], "{name}");
            assert_eq!(out.repr.dims(), [2, model.repr_dim()], "{name}");
        }
        assert!(ModelConfig::from_name("gbdt").is_none());
    }

    #[test]
    fn represent_is_the_forward_representation() {
        let device = device();
        let shape = InputShape {
            num_features: 30,
            num_fields: 4,
        };
        for name in MODEL_NAMES {
            let model = ModelConfig::from_name(name).unwrap().init(shape, &device);
            let batch = ids(&[0, 5, 12, 29, 3, 8, 20, 27], 2, 4, &device);
            let a = crate::testing::values(model.forward(batch.clone()).repr);
            let b = crate::testing::values(model.represent(batch));
            crate::testing::assert_close(&a, &b, 1e-6);
        }
    }

    #[test]
    fn configs_round_trip_through_json() {
        let config = ModelConfig::from_name("autoint+").unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.starts_with(r#"{"model":"autoint_plus""#), "{json}");
        let back: ModelConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.name(), "autoint_plus");
        let custom: ModelConfig = serde_json::from_str(r#"{"model":"dcnv2","embedding_dim":16,"cross_layers":2,"experts":2,"rank":8,"hidden":[64],"dropout":0.1}"#).unwrap();
        let model = custom.init(
            InputShape {
                num_features: 10,
                num_fields: 3,
            },
            &device(),
        );
        assert_eq!(model.repr_dim(), 3 * 16 + 64);
    }
}
