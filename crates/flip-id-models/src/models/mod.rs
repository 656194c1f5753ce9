//! The zoo, one model per file.

pub mod afm;
pub mod afn;
pub mod autoint;
pub mod dcn;
pub mod dcnv2;
pub mod deepfm;
pub mod fibinet;
pub mod finalmlp;
pub mod fm;
pub mod lr;
pub mod pnn;
pub mod wide_deep;
pub mod xdeepfm;
