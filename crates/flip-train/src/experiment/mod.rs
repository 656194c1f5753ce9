//! The FLIP experiment as a library: every stage of `cargo xtask train` run from typed
//! settings, in run folders that can be resumed.
//!
//! - [`Sources`] resolves dataset recipes, tokenizers and language-model folders and prepares
//!   a dataset ([`PrepareRequest`] in, [`flip_data::Prepared`] out).
//! - [`train_baselines`] trains ID models from scratch ([`IdBaselineSettings`] in, a
//!   [`crate::report::ResultsTable`] out).
//! - [`pretrain_towers`] pretrains an ID model and a language model on the alignment losses
//!   ([`PretrainSettings`] in, [`Towers`] out).
//! - [`Experiment`] runs the whole FLIP experiment ([`FlipSettings`] in, a [`Report`] out):
//!   [`Experiment::pretrain`], [`Experiment::finetune`] for each [`Variant`] and seed,
//!   [`Experiment::report`], or all of it with [`Experiment::run`].
//! - [`SavedModels`] scores a finished run's saved FLIP_ID and FLIP models.
//!
//! Every stage's settings round-trip through TOML: the stage writes them into its run folder
//! as `settings.toml`, and [`overlay`] lays such a document (complete or partial) over a
//! preset's settings.

mod baselines;
mod flip;
mod flip_report;
mod interrupt;
mod run_dir;
mod saved;
mod settings;
mod sources;
mod towers;
mod user_segments;
mod variants;

pub use baselines::train_baselines;
pub use flip::Experiment;
pub use flip_report::{Paired, Report};
pub use interrupt::Interrupt;
pub use run_dir::claim;
pub use saved::{
    CarriedColumns, Prediction, SavedEvaluation, SavedModels, SavedRun, SavedVariant,
    evaluation_table,
};
pub use settings::{
    Difference, FlipSettings, IdBaselineSettings, PretrainSettings, SETTINGS_FILE,
    SettingsDocument, describe_differences, differences, model_named, models_named, overlay,
    overlay_file, preset_named, seed_list, to_toml,
};
pub use sources::{MINILM, PrepareRequest, Sources};
pub use towers::{
    IdTowerClick, IdTransfer, PretrainSummary, Towers, field_rows, input_shape, pretrain_towers,
};
pub use user_segments::{ByUser, UserField, UserSegments};
pub use variants::{Ablation, Finished, Variant, sample};
