//! # flip-align
//!
//! FLIP's fine-grained alignment of an ID-based CTR model with a pretrained language model:
//!
//! - [`masking`]: field-level joint masking on the host, seeded (text spans → `[MASK]`,
//!   ids → the field's reserved MASK id), with independent or shared field choices;
//! - [`icl`]: projection heads and the symmetric InfoNCE loss;
//! - [`mlm`]: masked language modelling with tabular context, vocabulary projection on the
//!   masked positions only;
//! - [`mtm`]: masked tabular modelling with language context, NCE against unigram noise (Vose
//!   alias sampler), sampled or full softmax;
//! - [`model`]: both towers with the heads and one step's weighted losses.

#![warn(missing_docs)]

pub mod alias;
pub mod icl;
pub mod masking;
pub mod mlm;
pub mod model;
pub mod mtm;

pub use icl::ProjectionGeometry;
pub use masking::{FieldMasker, MaskConfig, MaskedBatch};
pub use model::{AlignConfig, FlipPretrainer, PretrainBatch, PretrainOutput, PretrainParts};
pub use mtm::{
    MtmConfig, MtmObjective, MtmTargets, NoiseDistribution, candidate_accuracy, chance_accuracy,
};
