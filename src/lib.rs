//! # mixwright
//!
//! An automatic mix engineer: stems in, a release-ready stereo mix out, with an editable
//! session of every decision.
//!
//! The data flows one way through the stages, each callable alone:
//! [`io`] (decode, resample, spool) → [`analysis`] (measure) → [`engineer`] (decide) →
//! [`session`] (plain data) → [`console`] (render) → files and [`report`].
//! [`mix`] runs the whole chain; [`render`] plays a saved session again.

pub mod analysis;
pub mod batch;
pub mod config;
pub mod console;
pub mod dsp;
pub mod engineer;
pub mod error;
pub mod io;
pub mod report;
pub mod session;

mod pipeline;
#[cfg(test)]
pub(crate) mod test_heap;

pub use batch::{BatchOptions, BatchReport, batch};
pub use error::Error;
pub use pipeline::{
    MixOptions, MixResult, Progress, Quiet, RenderResult, RepairResult, analyze_files, mix,
    relate_files, render, repair_file,
};
